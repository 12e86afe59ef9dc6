# Triton's interpreter must be on before any @triton.jit function is defined: set it before anything imports a kernel.
import os
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("AUTOKERNEL_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "autokernel"))
