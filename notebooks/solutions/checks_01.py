"""Checks for the exercises of lesson 01 (BERT and the super-network): expected answers computed with the library."""

from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from subnet_kit import Arch
from subnet_kit_widgets.checks import check, check_true


def check_layer_params(your_count, space, hidden: int, heads: int, ffn: int) -> bool:
    """Your formula for the parameters of one layer vs `space.params` of a 1-layer arch (encoder part)."""
    expected = space.params(Arch(layers=1, heads=(heads,), ffn=(ffn,), hidden=hidden), "encoder")
    return check(your_count, expected, what=f"parameters of one layer (hidden {hidden}, {heads} heads, {ffn} FFN)")


def check_embedding_columns(your_n, supernet, hidden: int = 192) -> bool:
    """How many columns (the first ones) of the embedding table a ``hidden``-wide sub-network reads."""
    d = supernet.dims
    with supernet.activate(Arch.uniform(d.layers, d.heads, d.ffn, hidden)):
        expected = supernet.embeddings.word_embeddings.sub_dim
    return check(your_n, expected, what=f"embedding columns a hidden={hidden} sub-network reads")


def attention_score_share(supernet, space, seq_len: int) -> float:
    """Share of the full model's FLOPs in attention's QKᵀ and PV products (torch's counter, math SDPA kernel)."""
    full = supernet.extract(space.largest()).eval()
    probe = torch.randint(1, supernet.dims.vocab_size, (1, seq_len), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        full(probe)
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    return by_op.get("aten.bmm", 0) / counter.get_total_flops()


def check_attention_share(your_share, supernet, space, seq_len: int = 512) -> bool:
    return check(your_share, attention_score_share(supernet, space, seq_len),
                 what=f"attention-score share of FLOPs at {seq_len} tokens", tol=0.01)


__all__ = ["check_layer_params", "check_embedding_columns", "check_attention_share", "check_true"]
