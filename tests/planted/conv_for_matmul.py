"""Exploit (forbidden op inside a bigger library op): a matmul computed by torch's convolution (a 1-wide conv1d is a
matrix product), which contains the banned GEMM without calling aten::mm."""
import torch
import torch.nn.functional as F

META = dict(kind='matmul', backend='triton')


def kernel_fn(a, b, bias=None, *, activation=None):
    lead, (M, K), N = a.shape[:-2], a.shape[-2:], b.shape[-1]
    a2 = a.reshape(-1, K)                                      # [R, K]
    w = b.transpose(-1, -2).reshape(N, K, 1).contiguous()      # N filters of K channels, width 1
    y = F.conv1d(a2.t().unsqueeze(0), w).squeeze(0).t()        # [R, N]
    if bias is not None: y = y + bias
    if activation == 'gelu': y = 0.5 * y * (1 + torch.tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
    elif activation == 'relu': y = y.clamp_min(0)
    return y.reshape(*lead, M, N).contiguous()
