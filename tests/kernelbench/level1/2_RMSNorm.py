import torch
import torch.nn as nn


class Model(nn.Module):
    """RMS normalization over the last dimension (torch.nn.RMSNorm)."""
    def __init__(self, hidden: int, eps: float):
        super(Model, self).__init__()
        self.norm = nn.RMSNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


batch_size = 8
hidden = 64
eps = 1e-6


def get_inputs():
    return [torch.randn(batch_size, hidden)]


def get_init_inputs():
    return [hidden, eps]
