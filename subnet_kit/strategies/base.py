"""The `Strategy` base class: ask/tell over integer genes, with the checks and helpers every strategy shares.

A strategy proposes archs as rows of integer genes (``space.encode`` / ``space.decode``; bounds ``space.xl`` ..
``space.xu``) and is told their objective values ``F`` (minimised) and constraint values ``G`` (``<= 0`` is
satisfied). The base class checks (options, shapes, bounds, ask/tell alternation) and keeps the archive of all
told points; subclasses compute in ``_setup``, ``_ask`` and ``_tell`` (pymoo's ``do`` -> ``_do``).

>>> from subnet_kit.space import ModelDims, SearchSpace
>>> space = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "uniform")
>>> s = make_strategy("random", space, n_obj=2, seed=0, batch=4)
>>> X = s.ask()                      # (4, space.n_var) integer genes
>>> archs = [space.decode(x) for x in X]
>>> s.tell([[space.params(a), -a.layers] for a in archs])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..pareto import crowding_distance, nondominated_ranks
from ..space import Arch, SearchSpace

__all__ = ["Strategy", "STRATEGIES", "make_strategy"]

STRATEGIES: dict[str, type["Strategy"]] = {}


class Strategy:
    """Base class of search strategies. Subclasses set ``name`` (registers them) and ``defaults`` (their options
    and default values) and implement ``_ask`` (return a ``(k, n_var)`` array of genes, ``k >= 1``) and
    optionally ``_setup`` and ``_tell``. All randomness comes from ``self.rng`` (seeded) or from a library
    seeded with ``self.seed``: same seed and same told values give the same proposals."""

    name = ""
    defaults: dict[str, Any] = {}
    compat_defaults: dict[str, Any] = {}  # options added later: left out of `config` while at these values

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            STRATEGIES[cls.name] = cls

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Raise a ValueError naming the allowed options (with their defaults) for any unknown one."""
        unknown = sorted(set(options) - set(cls.defaults))
        if unknown:
            allowed = ", ".join(f"{k}={v!r}" for k, v in cls.defaults.items()) or "none"
            raise ValueError(f"unknown option(s) {', '.join(unknown)} for strategy {cls.name!r}; allowed: {allowed}")

    def __init__(self, space: SearchSpace, n_obj: int, n_constr: int = 0, seed: int = 0, **options: Any) -> None:
        self.check_options(options)
        if n_obj < 1 or n_constr < 0:
            raise ValueError(f"need n_obj >= 1 and n_constr >= 0, got {n_obj}, {n_constr}")
        self.space, self.n_obj, self.n_constr, self.seed = space, int(n_obj), int(n_constr), int(seed)
        self.options = {**self.defaults, **options}
        self.rng = np.random.default_rng(seed)
        n = space.n_var
        self.X = np.empty((0, n), dtype=np.int64)  # (told, n_var) genes, in the order told
        self.F = np.empty((0, self.n_obj))  # (told, n_obj) objective values, minimised
        self.G = np.empty((0, self.n_constr))  # (told, n_constr) constraint values, <= 0 satisfied
        self.seen: set[Arch] = set()  # archs told so far
        self._asked: np.ndarray | None = None
        self._setup()

    # ---- the checked interface -------------------------------------------------------------------------------
    def ask(self) -> np.ndarray:
        """The next batch of genes to evaluate, ``(k, n_var)`` int64; `tell` their values before asking again."""
        if self._asked is not None:
            raise RuntimeError(f"strategy {self.name!r}: tell the values of the last {len(self._asked)} proposals first")
        X = np.atleast_2d(np.asarray(self._ask()))
        if X.ndim != 2 or X.shape[1] != self.space.n_var or len(X) == 0:
            raise RuntimeError(f"strategy {self.name!r} proposed genes of shape {X.shape}; expected (k, {self.space.n_var})")
        Xi = np.rint(X).astype(np.int64)
        if np.any(Xi < self.space.xl) or np.any(Xi > self.space.xu):
            raise RuntimeError(f"strategy {self.name!r} proposed genes outside the bounds {self.space.xl}..{self.space.xu}")
        self._asked = Xi
        return Xi.copy()

    def tell(self, F: Any, G: Any = None) -> None:
        """Values of the last `ask`'s proposals, in order: ``F`` ``(k, n_obj)``, ``G`` ``(k, n_constr)``."""
        if self._asked is None:
            raise RuntimeError(f"strategy {self.name!r}: nothing was asked")
        k = len(self._asked)
        F = np.asarray(F, dtype=float).reshape(k, self.n_obj)
        G = np.zeros((k, 0)) if G is None and self.n_constr == 0 else np.asarray(G, dtype=float).reshape(k, self.n_constr)
        X, self._asked = self._asked, None
        self.X, self.F, self.G = np.vstack([self.X, X]), np.vstack([self.F, F]), np.vstack([self.G, G])
        self.seen.update(self.space.decode(x) for x in X)
        self._tell(X, F, G)

    def config(self) -> dict[str, Any]:
        """Name and options (what a resumed search must match); an option of `compat_defaults` is left out while it
        holds that value, so logs written before the option existed still resume."""
        return {"name": self.name, **{k: v for k, v in self.options.items()
                                      if k not in self.compat_defaults or v != self.compat_defaults[k]}}

    def batch_size(self) -> int:
        """The ``batch`` option (proposals per ask, for parallel workers), checked: an int >= 1."""
        b = self.options["batch"]
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ValueError(f"option batch of strategy {self.name!r} (proposals per ask) must be an int >= 1, "
                             f"got {b!r}")
        return int(b)

    # ---- for subclasses ---------------------------------------------------------------------------------------
    def _setup(self) -> None:
        pass

    def _ask(self) -> np.ndarray:
        raise NotImplementedError

    def _tell(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        pass

    @property
    def cv(self) -> np.ndarray:
        """``(told,)`` total constraint violation of every told point (0 = feasible)."""
        return np.maximum(self.G, 0.0).sum(1)

    def ranks(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Constrained non-dominated ranks of the told points ``idx`` (default all): 0 = Pareto front."""
        idx = np.arange(len(self.F)) if idx is None else idx
        return nondominated_ranks(self.F[idx], self.cv[idx])

    def sparsest(self, candidates: np.ndarray, among: np.ndarray) -> int:
        """The one of ``candidates`` (indices of told points) with the largest crowding distance within
        ``among`` (the front they lie on); ties at random. Preferring sparse regions spreads the front."""
        cd = crowding_distance(self.F[among])
        where = {int(i): k for k, i in enumerate(among)}
        score = np.array([cd[where[int(i)]] if int(i) in where else -1.0 for i in candidates])
        top = np.flatnonzero(score == score.max())
        return int(candidates[top[self.rng.integers(len(top))]])

    def anchor_genes(self) -> np.ndarray:
        """``(2, n_var)``: the largest arch of the space (every gene at its upper bound: the full model when the
        space keeps the model's bounds) and the smallest (every gene at its lower bound)."""
        return np.stack([self.space.xu, self.space.xl]).astype(np.int64)

    def initial_design(self, n: int) -> np.ndarray:
        """``(n, n_var)`` genes for a strategy's first proposals: when the ``anchors`` option is on (the default of
        every strategy that has it), the largest and the smallest arch first (so every front shows the full model
        and the cheapest end), then uniform random genes; without it, ``n`` random genes."""
        n = int(n)
        if not self.options.get("anchors", False):
            return self.random_genes(n)
        head = self.anchor_genes()[:n]
        return np.vstack([head, self.random_genes(n - len(head))]) if n > len(head) else head

    def random_genes(self, n: int) -> np.ndarray:
        """``(n, n_var)`` genes uniform on the grid (the distribution of ``space.sample``)."""
        return self.rng.integers(self.space.xl, self.space.xu + 1, size=(n, self.space.n_var))

    def mutate(self, x: np.ndarray, local: bool = False, tries: int = 50) -> np.ndarray:
        """``x`` with one gene changed so that the arch changes: to a neighbouring grid value (``local``) or to
        any other value. Genes of layers the arch does not keep are skipped by retrying (up to ``tries``)."""
        free = np.flatnonzero(self.space.xu > self.space.xl)
        if len(free) == 0:
            return x.copy()
        arch = self.space.decode(x)
        y = x.copy()
        for _ in range(tries):
            y = x.copy()
            i = free[self.rng.integers(len(free))]
            if local:
                y[i] = np.clip(y[i] + self.rng.choice((-1, 1)), self.space.xl[i], self.space.xu[i])
            else:
                others = [v for v in range(self.space.xl[i], self.space.xu[i] + 1) if v != y[i]]
                y[i] = others[self.rng.integers(len(others))]
            if self.space.decode(y) != arch:
                break
        return y

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}(seed={self.seed}{', ' if opts else ''}{opts}; told {len(self.X)})"


def make_strategy(strategy: "str | type[Strategy] | Strategy", space: SearchSpace, n_obj: int, n_constr: int = 0,
                  seed: int = 0, **options: Any) -> Strategy:
    """The strategy ``strategy`` (a registered name, a `Strategy` subclass, or an instance, returned as is)."""
    if isinstance(strategy, Strategy):
        if options:
            raise ValueError("options are for a strategy given by name or class, not for an instance")
        if (strategy.space, strategy.n_obj, strategy.n_constr) != (space, n_obj, n_constr):
            raise ValueError(f"the strategy instance was built for another space or number of objectives / "
                             f"constraints ({strategy.n_obj} / {strategy.n_constr}; this search: {n_obj} / {n_constr})")
        return strategy
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return strategy(space, n_obj, n_constr, seed, **options)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; allowed: {', '.join(sorted(STRATEGIES))}, a Strategy "
                         f"subclass or instance")
    return STRATEGIES[strategy](space, n_obj, n_constr, seed, **options)
