"""Search spaces of BERT sub-networks: what one sub-network is (`Arch`) and which ones a search may visit (`SearchSpace`).

An `Arch` keeps ``layers`` transformer layers of the super-network (which ones is the super-network's layer rule,
`SuperNet.layer_rule`: the first ``layers`` by default, or evenly spread); its ``i``-th kept layer keeps its first
``heads[i]`` attention heads and its first ``ffn[i]`` feed-forward units, and the whole network runs at hidden size
``hidden`` (the first ``hidden`` dimensions of the residual stream). "First" is meaningful because the super-network
can reorder heads, neurons and hidden dimensions by importance (`SuperNet.reorder`). Sizes, parameters and FLOPs
do not depend on which layers are kept.

A `SearchSpace` is a grid of allowed values per dimension plus a *granularity* that ties them together:

* ``layer``     – depth only; every kept layer is full width.
* ``uniform``   – depth plus one heads / FFN / hidden value shared by all layers.
* ``per-layer`` – depth, one hidden size, and heads and FFN chosen per layer.

It samples, enumerates its bounds, validates archs with errors that say what is allowed, maps archs to integer
vectors for optimisers (`encode` / `decode`) and computes parameter counts and FLOPs analytically.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

GRANULARITIES = ("layer", "uniform", "per-layer")
ARCH_KEYS = ("layers", "heads", "ffn", "hidden")  # the fields of an Arch, in its JSON form


# --------------------------------------------------------------------------------------------------------------
# Arch
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arch:
    """One sub-network: ``layers`` layers, ``heads[i]`` heads and ``ffn[i]`` FFN units in the ``i``-th kept layer.

    >>> a = Arch.uniform(layers=2, heads=6, ffn=768, hidden=384)
    >>> a.heads, a.ffn
    ((6, 6), (768, 768))
    >>> Arch.from_json(a.to_json()) == a
    True
    """

    layers: int  # number of kept layers (which ones: the super-network's layer rule, modules.kept_layers)
    heads: tuple[int, ...]  # attention heads kept in each kept layer
    ffn: tuple[int, ...]  # feed-forward (intermediate) units kept in each kept layer
    hidden: int  # hidden size (width of the residual stream and of the embeddings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "heads", tuple(int(h) for h in self.heads))
        object.__setattr__(self, "ffn", tuple(int(f) for f in self.ffn))
        object.__setattr__(self, "layers", int(self.layers))
        object.__setattr__(self, "hidden", int(self.hidden))
        if len(self.heads) != self.layers or len(self.ffn) != self.layers:
            raise ValueError(
                f"Arch has layers={self.layers} but {len(self.heads)} heads values and {len(self.ffn)} ffn values; "
                f"give exactly one heads and one ffn value per kept layer"
            )

    @classmethod
    def uniform(cls, layers: int, heads: int, ffn: int, hidden: int) -> "Arch":
        """The same heads and FFN width in every kept layer."""
        return cls(layers, (heads,) * layers, (ffn,) * layers, hidden)

    @property
    def is_uniform(self) -> bool:
        return len(set(self.heads)) <= 1 and len(set(self.ffn)) <= 1

    def to_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "heads": list(self.heads), "ffn": list(self.ffn), "hidden": self.hidden}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Arch":
        """The arch of ``to_dict``'s output; a missing or unknown key is a ValueError naming the allowed keys."""
        if not isinstance(d, dict):
            raise ValueError(f"an Arch is a JSON object with the keys {', '.join(ARCH_KEYS)}; got {type(d).__name__}")
        missing = [k for k in ARCH_KEYS if k not in d]
        if missing:
            raise ValueError(f"an Arch needs the keys {', '.join(ARCH_KEYS)}; missing {missing}")
        unknown = sorted(str(k) for k in d if k not in ARCH_KEYS)
        if unknown:
            raise ValueError(f"unknown Arch key(s) {unknown}; allowed keys: {', '.join(ARCH_KEYS)}")
        try:
            return cls(d["layers"], tuple(d["heads"]), tuple(d["ffn"]), d["hidden"])
        except TypeError as e:  # e.g. "heads": 6 (not a list) or "layers": null
            raise ValueError(f"an Arch needs integer layers and hidden and lists of integer heads and ffn: {e}") from e

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> "Arch":
        """The arch of ``to_json``'s output; text that is not JSON is a ValueError giving the position."""
        try:
            d = json.loads(s)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"an Arch's text is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}, character {e.pos}); "
                f"expected e.g. {Arch.uniform(2, 4, 512, 256).to_json()}"
            ) from None
        return cls.from_dict(d)

    def slug(self) -> str:
        """A readable, filesystem-safe name that differs for every arch, e.g. ``L4-H256-heads6-ffn768`` for a
        uniform arch and ``L3-H256-heads8,6,4-ffn1024,768,512`` otherwise (folder names of saved sub-networks)."""
        if self.is_uniform and self.layers:
            return f"L{self.layers}-H{self.hidden}-heads{self.heads[0]}-ffn{self.ffn[0]}"
        return f"L{self.layers}-H{self.hidden}-heads{','.join(map(str, self.heads))}-ffn{','.join(map(str, self.ffn))}"

    def short(self) -> str:
        """A compact one-line label, e.g. ``L4 H256 heads=8,8,6,4 ffn=1024,768,512,512``."""
        if self.is_uniform and self.layers:
            return f"L{self.layers} H{self.hidden} heads={self.heads[0]} ffn={self.ffn[0]}"
        return (
            f"L{self.layers} H{self.hidden} heads={','.join(map(str, self.heads))} "
            f"ffn={','.join(map(str, self.ffn))}"
        )


# --------------------------------------------------------------------------------------------------------------
# The fixed facts of a super-network that parameter counts and FLOPs need
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelDims:
    """Shapes of a BERT super-network (everything `SearchSpace` needs to know about it)."""

    layers: int  # transformer layers
    heads: int  # attention heads per layer
    head_dim: int  # dimensions per head (fixed: fewer heads means narrower q/k/v)
    ffn: int  # intermediate (FFN) units per layer
    hidden: int  # hidden size
    vocab_size: int  # word-piece vocabulary
    max_position: int  # learned position embeddings
    type_vocab_size: int  # token type (segment) embeddings
    num_labels: int  # classes of the classification head
    pooling: str = "mean"  # "mean" (masked mean of token states) or "cls" (BERT pooler on [CLS])

    def full_arch(self) -> Arch:
        return Arch.uniform(self.layers, self.heads, self.ffn, self.hidden)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --------------------------------------------------------------------------------------------------------------
# Analytic cost model (kept exact: tests compare it with the extracted model and torch's FLOP counter)
# --------------------------------------------------------------------------------------------------------------
def count_params(dims: ModelDims, arch: Arch, part: str = "all") -> int:
    """Parameters of the extracted sub-network ``arch``.

    ``part``: ``"all"`` (embeddings + encoder + head), ``"encoder"`` (the transformer layers only) or
    ``"embeddings"``.
    """
    h, d = arch.hidden, dims.head_dim
    emb = (dims.vocab_size + dims.max_position + dims.type_vocab_size) * h + 2 * h
    enc = 0
    for a, f in zip(arch.heads, arch.ffn):
        inner = a * d
        enc += 3 * (h * inner + inner)  # query, key, value
        enc += inner * h + h + 2 * h  # attention output dense + LayerNorm
        enc += h * f + f + f * h + h + 2 * h  # intermediate, output dense, LayerNorm
    head = (h * h + h if dims.pooling == "cls" else 0) + h * dims.num_labels + dims.num_labels
    parts = {"all": emb + enc + head, "encoder": enc, "embeddings": emb}
    if part not in parts:
        raise ValueError(f"part must be one of {sorted(parts)}, got {part!r}")
    return parts[part]


def count_flops(dims: ModelDims, arch: Arch, seq_len: int = 128, batch_size: int = 1, part: str = "all") -> int:
    """Forward FLOPs of ``arch`` on ``batch_size`` sequences of ``seq_len`` tokens (2 FLOPs per multiply-add).

    Counts matrix products (linear layers and attention), as ``torch.utils.flop_counter`` does; embedding
    look-ups, normalisation, softmax and activations are not counted. ``part``: ``"all"`` or ``"encoder"``.
    """
    if seq_len < 1 or batch_size < 1:
        raise ValueError(f"seq_len and batch_size must be >= 1, got {seq_len}, {batch_size}")
    n, h, d, t = batch_size * seq_len, arch.hidden, dims.head_dim, seq_len
    enc = 0
    for a, f in zip(arch.heads, arch.ffn):
        inner = a * d
        enc += 2 * n * h * inner * 3  # q, k, v projections
        enc += 2 * batch_size * a * t * t * d * 2  # scores (QK^T) and weighted values (PV)
        enc += 2 * n * inner * h  # attention output projection
        enc += 2 * n * h * f * 2  # FFN in and out
    head = (2 * batch_size * h * h if dims.pooling == "cls" else 0) + 2 * batch_size * h * dims.num_labels
    parts = {"all": enc + head, "encoder": enc}
    if part not in parts:
        raise ValueError(f"part must be one of {sorted(parts)}, got {part!r}")
    return parts[part]


# --------------------------------------------------------------------------------------------------------------
# SearchSpace
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """An integer grid ``low, low + step, ..., high`` for one dimension of the space."""

    name: str
    low: int
    high: int
    step: int = 1

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError(f"{self.name}: step must be >= 1, got {self.step}")
        if self.low > self.high:
            raise ValueError(f"{self.name}: min {self.low} is larger than max {self.high}")
        if (self.high - self.low) % self.step:
            raise ValueError(
                f"{self.name}: max {self.high} is not on the grid min {self.low} + k * step {self.step}; "
                f"the largest value on that grid is {self.low + (self.high - self.low) // self.step * self.step}"
            )

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))

    def __len__(self) -> int:
        return (self.high - self.low) // self.step + 1

    def index(self, value: int) -> int:
        return (value - self.low) // self.step

    def allows(self, value: int) -> bool:
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def describe(self) -> str:
        return f"{self.low}..{self.high} step {self.step}" if len(self) > 1 else f"{self.low} (fixed)"


def _default_ffn_step(ffn: int) -> int:
    """The FFN step that cuts ``ffn`` into as close to 24 equal slices as divides it exactly."""
    for n in range(min(24, ffn), 0, -1):
        if ffn % n == 0:
            return ffn // n
    return 1


@dataclass(frozen=True, eq=False)
class SearchSpace:
    """Which sub-networks of a super-network a search may visit.

    Build one for a super-network with `SearchSpace.for_model`; bounds are ``(min, max)`` or ``(min, max, step)``
    tuples, or a single int to fix a dimension::

        space = SearchSpace.for_model(supernet, "per-layer", layers=(2, 6), ffn=(256, 1536, 256))
        arch = space.sample(rng=0)
        x = space.encode(arch)          # integer vector, bounds space.xl .. space.xu
        assert space.decode(x) == arch
    """

    dims: ModelDims
    granularity: str
    layers: Choice
    heads: Choice
    ffn: Choice
    hidden: Choice
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"unknown granularity {self.granularity!r}; allowed: {', '.join(GRANULARITIES)}")
        d = self.dims
        limits = {
            "layers": (self.layers, 1, d.layers),
            "heads": (self.heads, 1, d.heads),
            "ffn": (self.ffn, 1, d.ffn),
            "hidden": (self.hidden, d.head_dim, d.hidden),
        }
        for name, (c, lo, hi) in limits.items():
            if c.low < lo or c.high > hi:
                raise ValueError(f"{name} bounds {c.low}..{c.high} exceed the super-network's range {lo}..{hi}")
        if self.hidden.low % d.head_dim or (len(self.hidden) > 1 and self.hidden.step % d.head_dim):
            raise ValueError(
                f"hidden sizes must be multiples of the head size {d.head_dim}; got min {self.hidden.low}, "
                f"step {self.hidden.step}"
            )
        if self.granularity == "layer":
            fixed = {"heads": (self.heads, d.heads), "ffn": (self.ffn, d.ffn), "hidden": (self.hidden, d.hidden)}
            for name, (c, full) in fixed.items():
                if (c.low, c.high) != (full, full):
                    raise ValueError(
                        f"granularity 'layer' varies depth only, so {name} is fixed at {full}; "
                        f"use granularity 'uniform' or 'per-layer' to search {name}"
                    )
        object.__setattr__(self, "_hash", hash(self._key()))

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def for_model(
        cls,
        model: Any,
        granularity: str = "per-layer",
        *,
        layers: Any = None,
        heads: Any = None,
        ffn: Any = None,
        hidden: Any = None,
    ) -> "SearchSpace":
        """The space of ``granularity`` over a `SuperNet` (or a `ModelDims`), with optional custom bounds.

        Defaults: layers 1..L, heads 1..H, FFN in ~24 equal steps up to the full width, hidden from a quarter of
        the full size up in steps of the head size. With ``layer`` granularity only depth varies.
        """
        dims = model if isinstance(model, ModelDims) else model.dims
        if granularity not in GRANULARITIES:
            raise ValueError(f"unknown granularity {granularity!r}; allowed: {', '.join(GRANULARITIES)}")
        fstep = _default_ffn_step(dims.ffn)
        hstep = dims.head_dim
        hmin = max(hstep, math.ceil(dims.hidden / 4 / hstep) * hstep)
        defaults = {
            "layers": (1, dims.layers, 1),
            "heads": (1, dims.heads, 1),
            "ffn": (fstep, dims.ffn, fstep),
            "hidden": (hmin, dims.hidden, hstep),
        }
        if granularity == "layer":
            defaults.update({name: (full, full, 1) for name, full in (("heads", dims.heads), ("ffn", dims.ffn),
                                                                       ("hidden", dims.hidden))})
        given = {"layers": layers, "heads": heads, "ffn": ffn, "hidden": hidden}
        choices = {
            name: Choice(name, *default) if given[name] is None else parse_bounds(given[name], default[2], name)
            for name, default in defaults.items()
        }
        return cls(dims, granularity, **choices)

    def _key(self) -> tuple:
        return (self.dims, self.granularity, self.layers, self.heads, self.ffn, self.hidden)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self._key() == other._key()

    def __hash__(self) -> int:
        return self._hash

    def to_dict(self) -> dict[str, Any]:
        return {
            "granularity": self.granularity,
            "dims": self.dims.to_dict(),
            **{c.name: [c.low, c.high, c.step] for c in (self.layers, self.heads, self.ffn, self.hidden)},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchSpace":
        return cls(
            ModelDims(**d["dims"]),
            d["granularity"],
            *(Choice(n, *d[n]) for n in ("layers", "heads", "ffn", "hidden")),
        )

    def __repr__(self) -> str:
        return (
            f"SearchSpace({self.granularity!r}, layers {self.layers.describe()}, heads {self.heads.describe()}, "
            f"ffn {self.ffn.describe()}, hidden {self.hidden.describe()}; {self.size():,} archs)"
        )

    # ---- extremes, size, sampling -------------------------------------------------------------------------
    def smallest(self) -> Arch:
        return Arch.uniform(self.layers.low, self.heads.low, self.ffn.low, self.hidden.low)

    def largest(self) -> Arch:
        return Arch.uniform(self.layers.high, self.heads.high, self.ffn.high, self.hidden.high)

    def size(self) -> int:
        """Number of distinct architectures in the space."""
        nh, nf, nd = len(self.heads), len(self.ffn), len(self.hidden)
        if self.granularity == "layer":
            return len(self.layers)
        if self.granularity == "uniform":
            return len(self.layers) * nh * nf * nd
        return nd * sum((nh * nf) ** k for k in self.layers.values)

    def sample(self, rng: "np.random.Generator | int | None" = None) -> Arch:
        """A random architecture: every gene uniformly from its grid (seeded by ``rng``)."""
        rng = np.random.default_rng(rng)
        return self.decode(rng.integers(self.xl, self.xu + 1))

    def sample_many(self, n: int, rng: "np.random.Generator | int | None" = None, unique: bool = True) -> list[Arch]:
        """``n`` random architectures (distinct when ``unique`` and the space is large enough)."""
        rng = np.random.default_rng(rng)
        if unique and n > self.size():
            raise ValueError(f"asked for {n} distinct archs but the space holds only {self.size()}")
        out: list[Arch] = []
        seen: set[Arch] = set()
        while len(out) < n:
            a = self.sample(rng)
            if unique and a in seen:
                continue
            seen.add(a)
            out.append(a)
        return out

    # ---- validation ---------------------------------------------------------------------------------------
    def check(self, arch: Arch) -> str | None:
        """Why ``arch`` is not in this space (every problem, readable, joined by "; "), or None if it is."""
        if not isinstance(arch, Arch):
            return f"expected an Arch, got {type(arch).__name__}"
        problems = []
        if not self.layers.allows(arch.layers):
            problems.append(f"layers={arch.layers} is not allowed; allowed: {self.layers.describe()}")
        if not self.hidden.allows(arch.hidden):
            why = f"hidden={arch.hidden} is not allowed; allowed: {self.hidden.describe()}"
            if arch.hidden % self.dims.head_dim:
                why += f" (hidden must be a multiple of the head size {self.dims.head_dim})"
            problems.append(why)
        for name, values, choice in (("heads", arch.heads, self.heads), ("ffn", arch.ffn, self.ffn)):
            problems += [
                f"{name}[{i}]={v} is not allowed; allowed: {choice.describe()}"
                for i, v in enumerate(values) if not choice.allows(v)
            ]
        if self.granularity != "per-layer" and not arch.is_uniform:
            problems.append(
                f"this {self.granularity!r} space uses one heads and one ffn value for all layers, but the arch "
                f"has heads={list(arch.heads)} ffn={list(arch.ffn)} (was it built for a 'per-layer' space?)"
            )
        return "; ".join(problems) or None

    def contains(self, arch: Arch) -> bool:
        return self.check(arch) is None

    def __contains__(self, arch: Arch) -> bool:
        return self.contains(arch)

    def validate(self, arch: Arch) -> Arch:
        """Return ``arch`` if it is in the space, else raise a ValueError that says what is allowed."""
        why = self.check(arch)
        if why:
            raise ValueError(f"arch {arch.short() if isinstance(arch, Arch) else arch!r} is outside the space: {why}")
        return arch

    # ---- integer encoding for optimisers ------------------------------------------------------------------
    @property
    def variable_names(self) -> list[str]:
        """Names of the genes of `encode`, in order."""
        if self.granularity == "layer":
            return ["layers"]
        if self.granularity == "uniform":
            return ["layers", "heads", "ffn", "hidden"]
        n = self.layers.high
        return ["layers", "hidden", *(f"heads_{i}" for i in range(n)), *(f"ffn_{i}" for i in range(n))]

    @property
    def n_var(self) -> int:
        return len(self.variable_names)

    @property
    def xl(self) -> np.ndarray:
        """Lower bounds of the genes (all zero: genes are indices into each dimension's grid)."""
        return np.zeros(self.n_var, dtype=np.int64)

    @property
    def xu(self) -> np.ndarray:
        """Upper bounds of the genes (inclusive)."""
        sizes = {"layers": self.layers, "hidden": self.hidden, "heads": self.heads, "ffn": self.ffn}
        return np.array([len(sizes[n.split("_")[0]]) - 1 for n in self.variable_names], dtype=np.int64)

    def encode(self, arch: Arch) -> np.ndarray:
        """Integer vector of grid indices; genes of layers the arch does not keep are set to their maximum."""
        self.validate(arch)
        li, di = self.layers.index(arch.layers), self.hidden.index(arch.hidden)
        if self.granularity == "layer":
            return np.array([li], dtype=np.int64)
        if self.granularity == "uniform":
            return np.array(
                [li, self.heads.index(arch.heads[0]), self.ffn.index(arch.ffn[0]), di], dtype=np.int64
            )
        n = self.layers.high
        hx = [self.heads.index(v) for v in arch.heads] + [len(self.heads) - 1] * (n - arch.layers)
        fx = [self.ffn.index(v) for v in arch.ffn] + [len(self.ffn) - 1] * (n - arch.layers)
        return np.array([li, di, *hx, *fx], dtype=np.int64)

    def decode(self, x: "Sequence[int] | np.ndarray") -> Arch:
        """The arch of an integer vector (values are rounded and clipped into the bounds)."""
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.size != self.n_var:
            raise ValueError(f"expected a vector of {self.n_var} genes ({', '.join(self.variable_names)}), got {x.size}")
        x = np.clip(np.rint(x), self.xl, self.xu).astype(np.int64)
        layers = self.layers.values[x[0]]
        if self.granularity == "layer":
            return Arch.uniform(layers, self.dims.heads, self.dims.ffn, self.dims.hidden)
        if self.granularity == "uniform":
            return Arch.uniform(layers, self.heads.values[x[1]], self.ffn.values[x[2]], self.hidden.values[x[3]])
        n = self.layers.high
        heads = tuple(self.heads.values[i] for i in x[2 : 2 + layers])
        ffn = tuple(self.ffn.values[i] for i in x[2 + n : 2 + n + layers])
        return Arch(layers, heads, ffn, self.hidden.values[x[1]])

    # ---- costs --------------------------------------------------------------------------------------------
    def params(self, arch: Arch, part: str = "all") -> int:
        """Parameters of the extracted sub-network (see `count_params`)."""
        return count_params(self.dims, arch, part)

    def flops(self, arch: Arch, seq_len: int = 128, batch_size: int = 1, part: str = "all") -> int:
        """Forward FLOPs of the sub-network (see `count_flops`)."""
        return count_flops(self.dims, arch, seq_len, batch_size, part)

    def all_archs(self) -> Iterable[Arch]:
        """Every arch of the space, for any granularity (refuses spaces of more than a million archs)."""
        if self.size() > 1_000_000:
            raise ValueError(f"the space holds {self.size():,} archs; enumerate only spaces of at most 1,000,000")
        if self.granularity == "per-layer":
            for layers in self.layers.values:
                for hidden in self.hidden.values:
                    for combo in itertools.product(itertools.product(self.heads.values, self.ffn.values), repeat=layers):
                        yield Arch(layers, tuple(c[0] for c in combo), tuple(c[1] for c in combo), hidden)
            return
        for idx in np.ndindex(*(self.xu + 1)):
            yield self.decode(idx)


def parse_bounds(value: Any, default_step: int | None, name: str) -> Choice:
    """The grid of ``name`` described by ``value``: an int (fixed), ``(min, max)`` or ``(min, max, step)`` (a
    `Choice` is returned as is). A ``(min, max)`` pair gets ``default_step`` when ``max - min`` is a multiple of
    it, else step 1. Anything else is a ValueError that names the accepted forms.

    >>> parse_bounds((256, 1536), 64, "ffn")
    Choice(name='ffn', low=256, high=1536, step=64)
    >>> parse_bounds((256, 1500), 64, "ffn").step
    1
    """
    if isinstance(value, Choice):
        return value
    forms = "an int, (min, max) or (min, max, step) of ints"
    if _is_int(value):
        return Choice(name, int(value), int(value), 1)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} bounds must be {forms}; got {value!r}")
    g = tuple(value)
    if len(g) not in (2, 3) or not all(_is_int(v) for v in g):
        raise ValueError(f"{name} bounds must be {forms}; got {value!r}")
    g = tuple(int(v) for v in g)
    if len(g) == 3:
        return Choice(name, *g)
    step = default_step if default_step and (g[1] - g[0]) % default_step == 0 else 1
    return Choice(name, g[0], g[1], step)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)
