"""GPT-2 124M (HF `GPT2LMHeadModel`), random weights, built from its config: nothing is downloaded.

`build()` is the real size (12 layers, hidden 768, 12 heads, vocab 50257) on a batch of 8 x 1024 tokens;
`build_tiny()` is the same architecture shrunk so that profiling it on a CPU takes a second or two.
Labels are passed so the forward includes the LM loss (a cross-entropy over the vocabulary).
Attention runs through `torch.nn.functional.scaled_dot_product_attention` (`attn_implementation='sdpa'`).
"""
import torch
from transformers import GPT2Config, GPT2LMHeadModel


def _make(cfg: dict, batch: int, seq: int, seed: int = 0):
    torch.manual_seed(seed)
    last = cfg['vocab_size'] - 1
    config = GPT2Config(**cfg, bos_token_id=last, eos_token_id=last, use_cache=False, attn_implementation='sdpa')
    model = GPT2LMHeadModel(config)
    model.loss_type = 'ForCausalLM'  # HF infers the loss from the class name, which GPT2LMHeadModel does not match
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, config.vocab_size, (batch, seq), generator=g)
    return model, {'input_ids': ids, 'labels': ids.clone()}


def build():
    "GPT-2 124M on 8 x 1024 tokens, with labels (the forward computes the loss)."
    return _make({'n_embd': 768, 'n_layer': 12, 'n_head': 12, 'n_positions': 1024, 'vocab_size': 50257}, batch=8, seq=1024)


def build_tiny():
    "The same architecture, tiny: 2 layers, hidden 64, 4 heads, vocab 512, on 2 x 32 tokens."
    return _make({'n_embd': 64, 'n_layer': 2, 'n_head': 4, 'n_positions': 64, 'vocab_size': 512}, batch=2, seq=32)
