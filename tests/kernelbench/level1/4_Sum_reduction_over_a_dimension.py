import torch
import torch.nn as nn


class Model(nn.Module):
    """Sum over the last dimension."""
    def __init__(self, dim: int):
        super(Model, self).__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sum(x, dim=self.dim)


batch_size = 8
features = 128
reduce_dim = -1


def get_inputs():
    return [torch.randn(batch_size, features)]


def get_init_inputs():
    return [reduce_dim]
