"""The elastic BERT computation: layers that compute on leading slices of their shared weights, and the model built
from them.

Every elastic layer subclasses its torch counterpart and adds only ``set_sub_network(...)`` and
``reset_super_network()``; ``forward`` slices the weights (views, no copies) and caches nothing. A sub-network is
a *prefix* within each layer: the first ``hidden`` dimensions, the first ``heads`` heads, the first ``ffn`` units;
its ``layers`` layers are the ones `kept_layers` names for the model's layer rule (the first ones by default, or
evenly spread). Because of that, the same `ElasticBert` class built at smaller sizes is also the extracted model:
extraction copies the prefix of every weight of the kept layers into the small model (`extract_weights`).

The architecture mirrors Hugging Face's ``BertModel`` (same parameter names, so its state dict loads as is) with a
sequence-classification head on top: masked mean pooling over token states (default) or the BERT pooler on [CLS].
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .space import Arch, ModelDims

POOLINGS = ("mean", "cls")


# --------------------------------------------------------------------------------------------------------------
# Elastic layers
# --------------------------------------------------------------------------------------------------------------
class ElasticLinear(nn.Linear):
    """``nn.Linear`` that can run on its first ``in_features`` inputs and first ``out_features`` outputs."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.sub_in: int | None = None
        self.sub_out: int | None = None

    def set_sub_network(self, in_features: int | None = None, out_features: int | None = None) -> None:
        self.sub_in = None if in_features in (None, self.in_features) else in_features
        self.sub_out = None if out_features in (None, self.out_features) else out_features

    def reset_super_network(self) -> None:
        self.sub_in = self.sub_out = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight, self.bias
        if self.sub_out is not None:
            w = w[: self.sub_out]
            b = None if b is None else b[: self.sub_out]
        if self.sub_in is not None:
            w = w[:, : self.sub_in]
        return F.linear(x, w, b)


class ElasticLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the first ``dim`` features (statistics over those features only)."""

    def __init__(self, dim: int, eps: float = 1e-12) -> None:
        super().__init__(dim, eps=eps)
        self.sub_dim: int | None = None

    def set_sub_network(self, dim: int | None = None) -> None:
        self.sub_dim = None if dim in (None, self.normalized_shape[0]) else dim

    def reset_super_network(self) -> None:
        self.sub_dim = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sub_dim is None:
            return super().forward(x)
        n = self.sub_dim
        return F.layer_norm(x, (n,), self.weight[:n], self.bias[:n], self.eps)


class ElasticEmbedding(nn.Embedding):
    """``nn.Embedding`` that returns the first ``dim`` dimensions of each embedding."""

    def __init__(self, num: int, dim: int, padding_idx: int | None = None) -> None:
        super().__init__(num, dim, padding_idx=padding_idx)
        self.sub_dim: int | None = None

    def set_sub_network(self, dim: int | None = None) -> None:
        self.sub_dim = None if dim in (None, self.embedding_dim) else dim

    def reset_super_network(self) -> None:
        self.sub_dim = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        w = self.weight if self.sub_dim is None else self.weight[:, : self.sub_dim]
        return F.embedding(ids, w, self.padding_idx)


# --------------------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------------------
@dataclass
class BertShape:
    """Everything needed to build an `ElasticBert`: the super-network's dims, the arch it is built at, and the
    hyper-parameters that are not shapes. Saved as JSON next to the weights of an extracted sub-network."""

    dims: ModelDims  # shapes of the super-network it belongs (or belonged) to
    arch: Arch  # the shapes this model is built at (== dims.full_arch() for a super-network)
    layer_norm_eps: float = 1e-12  # LayerNorm epsilon
    hidden_act: str = "gelu"  # FFN activation (a transformers ACT2FN name)
    hidden_dropout: float = 0.1  # dropout on embeddings and residual branches
    attention_dropout: float = 0.1  # dropout on attention probabilities
    classifier_dropout: float = 0.1  # dropout before the classifier
    pad_token_id: int = 0  # padding token id (for the word embedding's padding_idx)
    layer_rule: str = "first"  # which layers a depth-k sub-network runs: kept_layers(k, layers, layer_rule)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form metadata (source model, task, ...)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["dims"], d["arch"] = self.dims.to_dict(), self.arch.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BertShape":
        d = dict(d)
        d["dims"], d["arch"] = ModelDims(**d["dims"]), Arch.from_dict(d["arch"])
        return cls(**d)


LAYER_RULES = ("first", "spread")  # the rules of kept_layers


def kept_layers(k: int, n: int, rule: str = "first") -> list[int]:
    """The indices of the ``k`` layers (of ``n``) that a depth-``k`` sub-network runs, in order.

    ``"first"``: the first ``k`` (``[0, 1, 2]`` for 3 of 6). ``"spread"``: evenly spread, ending with the last layer
    (``(i + 1) * n // k - 1``: ``[1, 3, 5]`` for 3 of 6, ``[5]`` for 1 of 6), as DynaBERT keeps every other layer;
    the top layer, the one the pooler and classifier were trained on, is always kept. Both keep all ``n`` at ``k = n``.
    """
    if rule not in LAYER_RULES:
        raise ValueError(f"unknown layer rule {rule!r}; allowed: {', '.join(LAYER_RULES)}")
    if not 0 <= k <= n:
        raise ValueError(f"a sub-network keeps 0..{n} layers, got {k}")
    if rule == "first":
        return list(range(k))
    return [(i + 1) * n // k - 1 for i in range(k)]


class Embeddings(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        h = s.arch.hidden
        self.word_embeddings = ElasticEmbedding(s.dims.vocab_size, h, padding_idx=s.pad_token_id)
        self.position_embeddings = ElasticEmbedding(s.dims.max_position, h)
        self.token_type_embeddings = ElasticEmbedding(s.dims.type_vocab_size, h)
        self.LayerNorm = ElasticLayerNorm(h, eps=s.layer_norm_eps)
        self.dropout = nn.Dropout(s.hidden_dropout)

    def set_sub_network(self, hidden: int) -> None:
        for m in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings, self.LayerNorm):
            m.set_sub_network(hidden)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)  # (B, T, h)
        x = x + self.position_embeddings(positions)  # broadcast (T, h) over B
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        inner = heads * head_dim
        self.head_dim = head_dim
        self.query = ElasticLinear(hidden, inner)
        self.key = ElasticLinear(hidden, inner)
        self.value = ElasticLinear(hidden, inner)
        self.dropout_p = dropout

    def set_sub_network(self, hidden: int, heads: int) -> None:
        for m in (self.query, self.key, self.value):
            m.set_sub_network(hidden, heads * self.head_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        # (B, T, a*d) -> (B, a, T, d): the number of heads follows from the (possibly sliced) projection width
        q = self.query(x).view(B, T, -1, self.head_dim).transpose(1, 2)
        k = self.key(x).view(B, T, -1, self.head_dim).transpose(1, 2)
        v = self.value(x).view(B, T, -1, self.head_dim).transpose(1, 2)
        p = self.dropout_p if self.training else 0.0
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, a, T, d)
        return ctx.transpose(1, 2).reshape(B, T, -1)  # (B, T, a*d)


class DenseNorm(nn.Module):
    """Projection back to the residual stream, dropout, residual add and LayerNorm (BERT's "output" blocks)."""

    def __init__(self, in_features: int, hidden: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.dense = ElasticLinear(in_features, hidden)
        self.LayerNorm = ElasticLayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def set_sub_network(self, in_features: int, hidden: int) -> None:
        self.dense.set_sub_network(in_features, hidden)
        self.LayerNorm.set_sub_network(hidden)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, s: BertShape, heads: int) -> None:
        super().__init__()
        h, d = s.arch.hidden, s.dims.head_dim
        self.self = SelfAttention(h, heads, d, s.attention_dropout)
        self.output = DenseNorm(heads * d, h, s.layer_norm_eps, s.hidden_dropout)

    def set_sub_network(self, hidden: int, heads: int) -> None:
        self.self.set_sub_network(hidden, heads)
        self.output.set_sub_network(heads * self.self.head_dim, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, hidden: int, ffn: int, act: str) -> None:
        super().__init__()
        from transformers.activations import ACT2FN

        self.dense = ElasticLinear(hidden, ffn)
        self.act = ACT2FN[act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class Layer(nn.Module):
    def __init__(self, s: BertShape, heads: int, ffn: int) -> None:
        super().__init__()
        h = s.arch.hidden
        self.attention = Attention(s, heads)
        self.intermediate = Intermediate(h, ffn, s.hidden_act)
        self.output = DenseNorm(ffn, h, s.layer_norm_eps, s.hidden_dropout)

    def set_sub_network(self, hidden: int, heads: int, ffn: int) -> None:
        self.attention.set_sub_network(hidden, heads)
        self.intermediate.dense.set_sub_network(hidden, ffn)
        self.output.set_sub_network(ffn, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(s, a, f) for a, f in zip(s.arch.heads, s.arch.ffn))


class Pooler(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.dense = ElasticLinear(hidden, hidden)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(first_token))


class ElasticBert(nn.Module):
    """A BERT sequence classifier whose forward runs only its active sub-network (by default: all of it).

    Parameter names follow Hugging Face's ``BertModel`` (``embeddings.*``, ``encoder.layer.N.*``, ``pooler.*``) plus
    ``classifier.*``. ``forward(input_ids, attention_mask=None, token_type_ids=None)`` returns logits ``(B, C)``.
    """

    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        if shape.dims.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {shape.dims.pooling!r}; allowed: {', '.join(POOLINGS)}")
        self.shape = shape
        h = shape.arch.hidden
        self.embeddings = Embeddings(shape)
        self.encoder = Encoder(shape)
        self.pooler = Pooler(h) if shape.dims.pooling == "cls" else None
        self.dropout = nn.Dropout(shape.classifier_dropout)
        self.classifier = ElasticLinear(h, shape.dims.num_labels)
        self.active_layers = shape.arch.layers
        self._layer_ids = kept_layers(shape.arch.layers, len(self.encoder.layer), shape.layer_rule)
        # the elastic layers, found once: resetting then costs a loop over them, not a walk of the module tree
        self._elastic = [m for m in self.modules() if isinstance(m, (ElasticLinear, ElasticLayerNorm, ElasticEmbedding))]

    # ---- sub-network selection ----------------------------------------------------------------------------
    def set_sub_network(self, arch: Arch) -> None:
        """Run only ``arch`` from now on (the caller validates ``arch`` against the built shapes)."""
        h = arch.hidden
        self.embeddings.set_sub_network(h)
        ids = kept_layers(arch.layers, len(self.encoder.layer), self.shape.layer_rule)
        for i, a, f in zip(ids, arch.heads, arch.ffn):
            self.encoder.layer[i].set_sub_network(h, a, f)
        if self.pooler is not None:
            self.pooler.dense.set_sub_network(h, h)
        self.classifier.set_sub_network(h, None)
        self.active_layers, self._layer_ids = arch.layers, ids

    def reset_super_network(self) -> None:
        """Run the whole model again."""
        for m in self._elastic:
            m.reset_super_network()
        self.active_layers = len(self.encoder.layer)
        self._layer_ids = list(range(self.active_layers))

    # ---- forward --------------------------------------------------------------------------------------------
    def features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The pooled sentence representation ``(B, h)`` that the classifier reads."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)  # (B, T, h)
        mask = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T): True = attend
        for i in self._layer_ids:
            x = self.encoder.layer[i](x, mask)
        if self.pooler is not None:
            return self.pooler(x[:, 0])  # (B, h)
        m = attention_mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        return (x * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, h)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **unknown: Any,
    ) -> torch.Tensor:
        """Logits ``(B, C)``. ``labels`` is accepted so that ``model(**batch)`` runs on a batch of `data.batches`,
        and not used (the loss is the caller's); any other keyword is a ValueError, not silently dropped."""
        if unknown:
            raise ValueError(
                f"unexpected input(s) {', '.join(sorted(unknown))}; the model takes input_ids, attention_mask, "
                f"token_type_ids (and ignores labels)"
            )
        return self.classifier(self.dropout(self.features(input_ids, attention_mask, token_type_ids)))


def extract_weights(source: ElasticBert, target: ElasticBert) -> None:
    """Copy into ``target`` the leading slice of each of ``source``'s weights that fits ``target``'s shape.

    Within a layer, sub-networks are prefixes (first heads, units, hidden dimensions), so for every parameter the
    slice is ``[:n0, :n1, ...]`` with ``target``'s sizes: one rule for embeddings, linears and norms alike. Target
    layer ``i`` comes from source layer ``kept_layers(k, n, source's layer rule)[i]``.
    """
    src = source.state_dict()
    ids = kept_layers(len(target.encoder.layer), len(source.encoder.layer), source.shape.layer_rule)
    with torch.no_grad():
        for name, t in target.state_dict().items():
            m = re.match(r"encoder\.layer\.(\d+)\.(.*)", name)
            s = src[f"encoder.layer.{ids[int(m[1])]}.{m[2]}" if m else name]
            t.copy_(s[tuple(slice(0, n) for n in t.shape)])
