"""A LLaMA-style decoder (HF `LlamaForCausalLM`), random weights, built from its config: nothing is downloaded.

`build()`: hidden 768, 12 layers, 12 heads with 4 key/value heads (grouped-query attention), SwiGLU FFN 2048,
vocab 32000, RMSNorm, rotary embeddings, on a batch of 8 x 1024 tokens. `build_tiny()` is the same architecture shrunk
so that profiling it on a CPU takes a second or two. Labels are passed so the forward includes the LM loss.
Attention runs through `torch.nn.functional.scaled_dot_product_attention` (`attn_implementation='sdpa'`).
"""
import torch
from transformers import LlamaConfig, LlamaForCausalLM


def _make(cfg: dict, batch: int, seq: int, seed: int = 0):
    torch.manual_seed(seed)
    config = LlamaConfig(**cfg, hidden_act='silu', rms_norm_eps=1e-5, tie_word_embeddings=False, use_cache=False, attn_implementation='sdpa')
    model = LlamaForCausalLM(config)
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, config.vocab_size, (batch, seq), generator=g)
    return model, {'input_ids': ids, 'labels': ids.clone()}


def build():
    "LLaMA-style 12 x 768 (12 heads, 4 KV heads, FFN 2048, vocab 32000) on 8 x 1024 tokens, with labels."
    return _make({'hidden_size': 768, 'num_hidden_layers': 12, 'num_attention_heads': 12, 'num_key_value_heads': 4,
                      'intermediate_size': 2048, 'vocab_size': 32000, 'max_position_embeddings': 2048}, batch=8, seq=1024)


def build_tiny():
    "The same architecture, tiny: 2 layers, hidden 64, 4 heads (2 KV heads), FFN 128, vocab 512, on 2 x 32 tokens."
    return _make({'hidden_size': 64, 'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 2,
                      'intermediate_size': 128, 'vocab_size': 512, 'max_position_embeddings': 64}, batch=2, seq=32)
