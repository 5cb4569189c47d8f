"""Importance of attention heads, FFN units and hidden dimensions, and the permutations that put the most important
first (so that a prefix sub-network keeps them).

Which axis of which weight belongs to a head, a unit or a hidden dimension is written down once, in `_UNIT_AXES`;
scoring sums a saliency over those axes and permuting indexes along them, so the two can never disagree.
A permutation of heads, FFN units or of the residual stream's dimensions leaves the full model's function unchanged:
attention and FFN sum over their units, and LayerNorm and mean pooling treat hidden dimensions symmetrically.
"""

from __future__ import annotations

from typing import Iterable, Union

import torch
import torch.nn.functional as F

from .modules import ElasticBert

Batches = Iterable[dict[str, torch.Tensor]]  # dicts with input_ids, attention_mask, labels (a data.batches stream)
# "heads" / "ffn": one (H,) / (F,) tensor per layer; "hidden": one (D,) tensor; a None entry: that kind untouched
PerUnit = dict[str, Union[list[torch.Tensor], torch.Tensor, None]]

# For each parameter (by its name inside one layer, or in the whole model for "hidden"), the axis that indexes
# heads / FFN units / hidden dimensions.
_HEAD_AXES = {  # inside encoder.layer.N
    "attention.self.query.weight": 0, "attention.self.query.bias": 0,
    "attention.self.key.weight": 0, "attention.self.key.bias": 0,
    "attention.self.value.weight": 0, "attention.self.value.bias": 0,
    "attention.output.dense.weight": 1,
}
_FFN_AXES = {  # inside encoder.layer.N
    "intermediate.dense.weight": 0, "intermediate.dense.bias": 0,
    "output.dense.weight": 1,
}
_HIDDEN_AXES = {  # inside encoder.layer.N (plus the model-level ones below)
    "attention.self.query.weight": (1,), "attention.self.key.weight": (1,), "attention.self.value.weight": (1,),
    "attention.output.dense.weight": (0,), "attention.output.dense.bias": (0,),
    "attention.output.LayerNorm.weight": (0,), "attention.output.LayerNorm.bias": (0,),
    "intermediate.dense.weight": (1,),
    "output.dense.weight": (0,), "output.dense.bias": (0,),
    "output.LayerNorm.weight": (0,), "output.LayerNorm.bias": (0,),
}
_MODEL_HIDDEN_AXES = {
    "embeddings.word_embeddings.weight": (1,), "embeddings.position_embeddings.weight": (1,),
    "embeddings.token_type_embeddings.weight": (1,),
    "embeddings.LayerNorm.weight": (0,), "embeddings.LayerNorm.bias": (0,),
    "pooler.dense.weight": (0, 1), "pooler.dense.bias": (0,),
    "classifier.weight": (1,),
}


def _hidden_axes(model: ElasticBert) -> dict[str, tuple[int, ...]]:
    params = dict(model.named_parameters())
    axes = {k: v for k, v in _MODEL_HIDDEN_AXES.items() if k in params}
    for i in range(len(model.encoder.layer)):
        axes.update({f"encoder.layer.{i}.{k}": v for k, v in _HIDDEN_AXES.items()})
    return axes


def _unit_sum(sal: torch.Tensor, axis: int, group: int) -> torch.Tensor:
    """Sum ``sal`` over every axis but ``axis``, then over consecutive groups of ``group`` entries along it."""
    s = sal.movedim(axis, 0).reshape(sal.shape[axis], -1).sum(1)
    return s.view(-1, group).sum(1)


def _saliency(model: ElasticBert, batches: Batches | None, method: str) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    if method == "magnitude":
        return {k: p.detach().abs() for k, p in params.items()}
    acc = {k: torch.zeros_like(p) for k, p in params.items()}
    was_training = model.training
    model.eval()  # no dropout: importance is a property of the function, not of a noise draw
    n = 0
    try:
        for batch in batches or ():
            model.zero_grad(set_to_none=True)
            logits = model(**batch)
            F.cross_entropy(logits, batch["labels"].to(logits.device)).backward()
            for k, p in params.items():
                if p.grad is not None:
                    acc[k] += (p.detach() * p.grad).abs()
            n += 1
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if n == 0:
        raise ValueError("importance needs at least one batch; the batches given were empty")
    return acc


def importance_scores(model: ElasticBert, batches: Batches | None, method: str) -> PerUnit:
    """``{"heads": [per-layer (H,)], "ffn": [per-layer (F,)], "hidden": (D,)}`` importance scores."""
    sal = _saliency(model, batches, method)
    d = model.shape.dims
    heads, ffn = [], []
    for i in range(len(model.encoder.layer)):
        pre = f"encoder.layer.{i}."
        heads.append(sum(_unit_sum(sal[pre + k], ax, d.head_dim) for k, ax in _HEAD_AXES.items()))
        ffn.append(sum(_unit_sum(sal[pre + k], ax, 1) for k, ax in _FFN_AXES.items()))
    hidden = sum(_unit_sum(sal[k], ax, 1) for k, axes in _hidden_axes(model).items() for ax in axes)
    return {"heads": heads, "ffn": ffn, "hidden": hidden}


def apply_permutations(model: ElasticBert, perms: PerUnit) -> None:
    """Reorder the model's weights in place: ``perms["heads"][i]`` (H,), ``perms["ffn"][i]`` (F,), ``perms["hidden"]``
    (D,); a None entry leaves that kind of unit in place."""
    params = dict(model.named_parameters())
    d = model.shape.dims
    with torch.no_grad():
        for i in range(len(model.encoder.layer)):
            pre = f"encoder.layer.{i}."
            if perms.get("heads") is not None:
                p = perms["heads"][i]
                idx = (p[:, None] * d.head_dim + torch.arange(d.head_dim)).reshape(-1)  # head order -> row order
                for k, ax in _HEAD_AXES.items():
                    _permute(params[pre + k], ax, idx)
            if perms.get("ffn") is not None:
                for k, ax in _FFN_AXES.items():
                    _permute(params[pre + k], ax, perms["ffn"][i])
        if perms.get("hidden") is not None:
            for k, axes in _hidden_axes(model).items():
                for ax in axes:
                    _permute(params[k], ax, perms["hidden"])


def _permute(p: torch.Tensor, axis: int, index: torch.Tensor) -> None:
    p.copy_(p.index_select(axis, index.to(p.device)))
