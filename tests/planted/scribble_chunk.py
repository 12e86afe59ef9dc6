"""Attack (writing past its buffers): returns the right answer, and also writes past the end of what it was given --
on a GPU zeros over the rest of the CUDA IPC chunk behind its input (where the judge puts its other buffers, and the
next checks' inputs and slots), on the CPU a Triton store of zeros into the page after its input (pointer
arithmetic past the end of the tensor). An out-of-bounds write corrupts a model's neighbouring tensors in production,
and in the judge it could doctor what a later comparison reads. The judge poisons every shared byte it does not use
and checks after each call that nothing outside the buffers changed: rejected as out_of_bounds."""
import torch
import triton
import triton.language as tl

META = dict(kind='softmax', backend='triton')


@triton.jit
def _scribble(x_ptr, start, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    tl.store(x_ptr + start + o, tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty))


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    y = _softmax(x)
    if x.is_cuda:
        whole = torch.empty(0, dtype=torch.uint8, device=x.device).set_(x.untyped_storage())
        end = (x.storage_offset() + x.numel()) * x.element_size()
        past = -(-(end + x.numel() * x.element_size()) // 256) * 256 + 256    # past the output slot after x
        whole[past:past + (1 << 20)].zero_()
    else:
        _scribble[(1,)](x, x.storage_offset() + x.numel(), BLOCK=16)
    return y
