"""BERT-base (HF `BertModel`), random weights, built from its config: nothing is downloaded.

`build()`: 12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522, on a batch of 8 x 512 tokens with an attention mask
(every token attended to, as for packed sequences). `build_tiny()` is the same architecture shrunk so that profiling it
on a CPU takes a second or two. The encoder has no loss: its forward is embeddings, 12 blocks and the pooler.
Attention runs through `torch.nn.functional.scaled_dot_product_attention` (`attn_implementation='sdpa'`).
"""
import torch
from transformers import BertConfig, BertModel


def _make(cfg: dict, batch: int, seq: int, seed: int = 0):
    torch.manual_seed(seed)
    config = BertConfig(**cfg, use_cache=False, attn_implementation='sdpa')
    model = BertModel(config)
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, config.vocab_size, (batch, seq), generator=g)
    return model, {'input_ids': ids, 'attention_mask': torch.ones_like(ids), 'token_type_ids': torch.zeros_like(ids)}


def build():
    "BERT-base (12 x 768, 12 heads, FFN 3072, vocab 30522) on 8 x 512 tokens."
    return _make({'hidden_size': 768, 'num_hidden_layers': 12, 'num_attention_heads': 12, 'intermediate_size': 3072,
                      'vocab_size': 30522, 'max_position_embeddings': 512}, batch=8, seq=512)


def build_tiny():
    "The same architecture, tiny: 2 layers, hidden 64, 4 heads, FFN 256, vocab 512, on 2 x 32 tokens."
    return _make({'hidden_size': 64, 'num_hidden_layers': 2, 'num_attention_heads': 4, 'intermediate_size': 256,
                      'vocab_size': 512, 'max_position_embeddings': 64}, batch=2, seq=32)
