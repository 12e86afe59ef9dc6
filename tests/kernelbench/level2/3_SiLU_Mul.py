import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    """The gated activation of a SwiGLU MLP: silu(gate) * up."""
    def __init__(self):
        super(Model, self).__init__()

    def forward(self, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        return F.silu(gate) * up


batch_size = 8
dim = 64


def get_inputs():
    return [torch.randn(batch_size, dim), torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
