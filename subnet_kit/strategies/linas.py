"""``linas``: predictor-assisted evolution (LINAS): surrogates screen many offspring, only the most promising are
evaluated."""

from __future__ import annotations

import contextlib
import math
from typing import Any, ContextManager

import numpy as np

from ..pareto import crowding_distance, nondominated_ranks
from .base import Strategy

_LAMBDAS = 10.0 ** np.arange(-4, 3)  # ridge penalties tried by generalised cross-validation (standardised features)


def _one_blas_thread() -> ContextManager[Any]:
    """BLAS on one thread for the tiny dense algebra of the surrogates: threads only contend at these sizes (on a
    busy 2-core machine, three 80-evaluation searches took 40 s with OpenBLAS's threads, 1 s with one). A no-op
    where threadpoolctl (installed with scikit-learn, not a dependency of the kit) is missing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _is_int(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, np.integer))


class _RidgeEnsemble:
    """Bootstrapped ridge regressions on standardised features, one penalty per target chosen by generalised
    cross-validation on all points; predictions are the members' mean and standard deviation."""

    def __init__(self, members: int = 8, weights: np.ndarray | None = None) -> None:
        self.members, self.weights = members, weights  # scales of the standardised columns: smaller, shrunk more

    def fit(self, Phi: np.ndarray, Y: np.ndarray, rng: np.random.Generator) -> "_RidgeEnsemble":
        n, p = Phi.shape
        self.mu, sd = Phi.mean(0), Phi.std(0)
        self.sd = np.where(sd > 1e-12, sd, 1.0)
        if self.weights is not None:
            self.sd = self.sd / self.weights
        Z = (Phi - self.mu) / self.sd
        self.ym, ys = Y.mean(0), Y.std(0)
        self.ys = np.where(ys > 1e-12, ys, 1.0)
        T = (Y - self.ym) / self.ys
        U, s, _ = np.linalg.svd(Z, full_matrices=False)
        UT = U.T @ T  # (r, k)
        lams = []
        for k in range(T.shape[1]):
            best = (math.inf, _LAMBDAS[-1])
            for lam in _LAMBDAS:
                h = s**2 / (s**2 + lam * n)
                resid = T[:, k] - U @ (h * UT[:, k])
                dof = max(n - h.sum(), 1e-9)
                gcv = n * float(resid @ resid) / dof**2
                best = min(best, (gcv, lam))
            lams.append(best[1])
        self.W = np.empty((self.members, p + 1, T.shape[1]))  # last row: intercept
        for m in range(self.members):
            idx = rng.integers(n, size=n)
            Zb, Tb = Z[idx], T[idx]
            zm, tm = Zb.mean(0), Tb.mean(0)
            Zc = Zb - zm
            e, V = np.linalg.eigh(Zc.T @ Zc)  # one decomposition serves every target and penalty
            B = V.T @ (Zc.T @ (Tb - tm))  # (p, k)
            for k, lam in enumerate(lams):
                w = V @ (B[:, k] / (np.maximum(e, 0.0) + lam * n))
                self.W[m, :p, k], self.W[m, p, k] = w, tm[k] - zm @ w
        return self

    def predict(self, Phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = (Phi - self.mu) / self.sd
        P = np.einsum("np,mpk->mnk", Z, self.W[:, :-1]) + self.W[:, -1][:, None, :]  # (members, n, k)
        P = P * self.ys + self.ym
        return P.mean(0), P.std(0)


class LINAS(Strategy):
    """Predictor-assisted evolution, after LINAS (Cummings et al. 2022, "Accelerating neural architecture exploration
    across modalities using genetic algorithms", the search of Intel's DyNAS-T): a cheap surrogate of every objective
    and constraint, fitted on all archs evaluated so far, screens many candidate offspring per generation, and only
    the most promising ``batch`` of them are evaluated.

    Algorithm. The first ask is ``self.initial_design(n_init)``: the largest and the smallest arch (option
    ``anchors``), then random ones. Every later ask is one generation:

    1. *Surrogates*: for each objective and each constraint, an ensemble of 8 bootstrapped ridge regressions on
       features of the decoded arch — layers, hidden size, per-layer heads and FFN units (0 for a layer the arch
       does not keep), their means, all scaled to [0, 1], plus all pairwise products and squares, standardised,
       the products scaled by 0.3 so that the ridge penalty shrinks them more (a model between linear and
       quadratic) — with the penalty chosen by generalised cross-validation. Prediction = mean and spread (std)
       of the members. Measured held-out Spearman rho of the mean (MiniLM-shaped per-layer space, 30 / 100 random
       archs to fit, 500 others to test, mean of 3 draws): parameters 0.994 / 1.000; the synthetic capacity gap of
       the tests (smooth, plus 2 % hash noise) 0.933 / 0.968, where plain quadratic ridge gets 0.904 / 0.935 and
       linear ridge 0.970 / 0.946; a latency-like function 0.980 / 0.998 (linear ridge 0.970 / 0.976).
    2. *Candidates*: ``n_candidates`` genes, 80 % NSGA-II-style offspring of the current population (the best
       ``max(n_init, batch)`` evaluated archs by constrained non-dominated rank, then crowding distance): binary
       tournaments on (rank, crowding), uniform crossover, then one or two one-gene mutations (vectorised; only
       genes that matter to the arch, not those of layers it does not keep; to a neighbouring grid value or to any
       other value, at random); 20 % uniform random genes. Archs already evaluated and duplicates are dropped.
    3. *Screening*: every candidate gets optimistic objectives ``mean - kappa * std`` and a predicted constraint
       violation (from the mean of the constraint surrogates). Candidates are ranked together with the evaluated
       archs (their measured values) by constrained non-dominated sorting (predicted-feasible first); the ``batch``
       picked are the candidates of the best fronts, the last front thinned by repeatedly dropping the candidate
       of smallest crowding distance (computed with the evaluated archs of that front, so the picks fill gaps of
       the known front). The optimism bonus sends some picks to regions the surrogates are unsure of.

    All archs of one ask are distinct and never evaluated before (fewer only when the space runs out of new archs).

    Options: ``n_init`` (archs of the first ask, default 10), ``batch`` (archs per later ask, default 5),
    ``n_candidates`` (candidates screened per ask, default 1000, at least ``batch``), ``kappa`` (optimism: standard
    deviations subtracted from the predicted objectives, >= 0, default 0.5), ``anchors`` (default True).
    The defaults were chosen on ``benchmarks/bench_search.py``'s tabulated problem (held-out seeds 5-9, see
    ``benchmarks/README.md``): small batches use what was learnt sooner (``n_init=20, batch=20, kappa=1.0``, the
    first defaults, reached lower test hypervolumes at 50 and 100 evaluations in 3 of 4 cases); for many parallel
    workers raise ``batch`` to the number of workers.

    Cost per ask: a ridge fit of 8 members per objective and constraint (one ``p x p`` eigendecomposition per
    member, ``p`` = 152 features on a 6-layer per-layer space), then ``n_candidates`` offspring generated, decoded,
    predicted (all vectorised) and sorted with the evaluated archs. Measured with 200 evaluated archs, 2 objectives
    and 1 constraint, 1000 candidates, on a shared 2-core machine: fit 52-72 ms, whole ask 77-92 ms — nothing next
    to evaluating one sub-network.

    References: D. Cummings, S. Nittur Sridhar, A. Sarah, M. Szankin (2022), "Accelerating neural architecture
    exploration across modalities using genetic algorithms", GECCO '22 Companion, doi:10.1145/3520304.3528786,
    arXiv:2202.12934 (LINAS: Lightweight Iterative NAS); K. Deb et al. (2002), NSGA-II (non-dominated sorting,
    crowding distance, constraint domination).
    """

    name = "linas"
    defaults = {"n_init": 10, "batch": 5, "n_candidates": 1000, "kappa": 0.5, "anchors": True}
    compat_defaults = {"anchors": False}

    MEMBERS = 8  # ridge regressions per ensemble
    RANDOM_FRACTION = 0.2  # of the candidates: uniform random genes
    PRODUCT_WEIGHT = 0.3  # scale of the standardised product features: shrunk more than the base features

    def _setup(self) -> None:
        o = self.options
        self.batch = self.batch_size()
        if not _is_int(o["n_init"]) or o["n_init"] < 1:
            raise ValueError(f"option n_init of strategy 'linas' (archs of the first ask) must be an int >= 1, "
                             f"got {o['n_init']!r}")
        if not _is_int(o["n_candidates"]) or o["n_candidates"] < self.batch:
            raise ValueError(f"option n_candidates of strategy 'linas' (candidates screened per ask) must be an int "
                             f">= batch ({self.batch}), got {o['n_candidates']!r}")
        k = o["kappa"]
        if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or not (
                math.isfinite(k) and k >= 0):
            raise ValueError(f"option kappa of strategy 'linas' (optimism, in standard deviations) must be a finite "
                             f"number >= 0, got {k!r}")
        if not isinstance(o["anchors"], (bool, np.bool_)):
            raise ValueError(f"option anchors of strategy 'linas' must be True or False, got {o['anchors']!r}")
        s = self.space
        self._L = s.layers.high  # per-layer columns of the features: the most layers an arch can keep
        self._vals = {k: np.asarray(c.values) for k, c in
                      (("layers", s.layers), ("hidden", s.hidden), ("heads", s.heads), ("ffn", s.ffn))}
        self._scale = np.array([max(v.max(), 1) for v in self._vals.values()], dtype=float)
        self._iu = np.triu_indices(4 + 2 * self._L)

    # ---- features and surrogates ------------------------------------------------------------------------------
    def values(self, X: np.ndarray) -> np.ndarray:
        """``(n, 2 + 2 * max layers)`` int: layers, hidden, then heads and FFN units of every layer (0 for a layer
        the arch does not keep) of the archs of genes ``X`` (vectorised `SearchSpace.decode`: equal rows, equal
        archs)."""
        s, L, v = self.space, self._L, self._vals
        X = np.asarray(X, dtype=np.int64).reshape(-1, s.n_var)
        n = len(X)
        layers = v["layers"][X[:, 0]]
        if s.granularity == "per-layer":
            hidden, heads, ffn = v["hidden"][X[:, 1]], v["heads"][X[:, 2:2 + L]], v["ffn"][X[:, 2 + L:2 + 2 * L]]
        elif s.granularity == "uniform":
            hidden = v["hidden"][X[:, 3]]
            heads, ffn = np.repeat(v["heads"][X[:, 1:2]], L, 1), np.repeat(v["ffn"][X[:, 2:3]], L, 1)
        else:  # "layer": only the depth varies (decode keeps the model's heads, FFN and hidden size)
            hidden = np.full(n, s.dims.hidden)
            heads, ffn = np.full((n, L), s.dims.heads), np.full((n, L), s.dims.ffn)
        kept = np.arange(L)[None, :] < layers[:, None]
        return np.hstack([layers[:, None], hidden[:, None], heads * kept, ffn * kept]).astype(np.int64)

    def features(self, V: np.ndarray) -> np.ndarray:
        """``(n, n_features)`` surrogate inputs from `values` rows: layers, hidden, per-layer heads and FFN units
        and their totals, each scaled to [0, 1], then all pairwise products and squares of those."""
        L = self._L
        sl, sd, sh, sf = self._scale
        heads, ffn = V[:, 2:2 + L] / sh, V[:, 2 + L:] / sf
        base = np.hstack([V[:, :1] / sl, V[:, 1:2] / sd, heads, ffn, heads.mean(1, keepdims=True),
                          ffn.mean(1, keepdims=True)])
        return np.hstack([base, base[:, self._iu[0]] * base[:, self._iu[1]]])

    def surrogate(self) -> _RidgeEnsemble:
        """The ensemble fitted on every told arch; targets: the objectives, then the constraints."""
        Phi = self.features(self.values(self.X))
        weights = np.ones(Phi.shape[1])
        weights[4 + 2 * self._L:] = self.PRODUCT_WEIGHT
        return _RidgeEnsemble(self.MEMBERS, weights).fit(Phi, np.hstack([self.F, self.G]), self.rng)

    # ---- one generation ---------------------------------------------------------------------------------------
    def _ask(self) -> np.ndarray:
        if len(self.X) == 0:
            return self.initial_design(self.options["n_init"])
        genes, V = self._candidates()
        if len(genes) == 0:  # no new arch found: the search ends on its repeat limit
            return self.X[-1:]
        with _one_blas_thread():
            mean, std = self.surrogate().predict(self.features(V))
        F = mean[:, :self.n_obj] - float(self.options["kappa"]) * std[:, :self.n_obj]
        cv = np.maximum(mean[:, self.n_obj:], 0.0).sum(1)
        return genes[self._select(F, cv)]

    def _population(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of the told archs that form the population, with their ranks and crowding distances."""
        ranks = self.ranks()
        crowd = np.zeros(len(ranks))
        for r in np.unique(ranks):
            idx = np.flatnonzero(ranks == r)
            crowd[idx] = crowding_distance(self.F[idx])
        order = np.lexsort((-crowd, ranks))[:max(self.options["n_init"], self.batch)]
        return order, ranks[order], crowd[order]

    def _mutate(self, X: np.ndarray) -> np.ndarray:
        """Vectorised one-gene mutation of every row of ``X``: one gene that matters to the arch (not a gene of a
        layer it does not keep), to a neighbouring grid value (half of the rows) or to any other value."""
        s, L = self.space, self._L
        n = len(X)
        active = np.broadcast_to(s.xu > s.xl, X.shape).copy()
        if s.granularity == "per-layer":
            gone = np.arange(L)[None, :] >= self._vals["layers"][X[:, 0]][:, None]
            active[:, 2:2 + L] &= ~gone
            active[:, 2 + L:2 + 2 * L] &= ~gone
        if not active.any():
            return X.copy()
        i = np.argmax(self.rng.random(X.shape) * active, axis=1)  # a random active gene of each row
        rows = np.arange(n)
        x, size = X[rows, i], (s.xu - s.xl + 1)[i]
        step = self.rng.choice((-1, 1), size=n)
        local = np.where((x + step < 0) | (x + step >= size), x - step, x + step)
        other = (x + self.rng.integers(1, np.maximum(size, 2))) % size
        Y = X.copy()
        Y[rows, i] = np.where(self.rng.random(n) < 0.5, local, other)
        return np.clip(Y, s.xl, s.xu)

    def _candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct candidate genes whose archs were never told, and their `values` rows."""
        n = self.options["n_candidates"]
        n_rand = int(round(n * self.RANDOM_FRACTION))
        pop, rank, crowd = self._population()
        P = self.X[pop]

        def tournament(size: int) -> np.ndarray:
            a, b = self.rng.integers(len(pop), size=(2, size))
            a_wins = (rank[a] < rank[b]) | ((rank[a] == rank[b]) & (crowd[a] >= crowd[b]))
            return np.where(a_wins, a, b)

        p1, p2 = tournament(n - n_rand), tournament(n - n_rand)
        kids = np.where(self.rng.random((n - n_rand, self.space.n_var)) < 0.5, P[p1], P[p2])
        kids = self._mutate(kids)
        twice = self.rng.random(len(kids)) < 0.5
        kids[twice] = self._mutate(kids[twice])
        genes = np.vstack([kids, self.random_genes(n_rand)])
        for _ in range(20):  # small spaces: more random genes until a batch of new archs is possible
            keep = self._new(genes)
            if len(keep) >= self.batch:
                break
            genes = np.vstack([genes, self.random_genes(n)])
        return genes[keep], self.values(genes[keep])

    def _new(self, genes: np.ndarray) -> np.ndarray:
        """Indices of the rows of ``genes`` whose archs were never told and are not repeated (first one kept)."""
        told = {r.tobytes() for r in self.values(self.X)}
        keep, seen = [], set(told)
        for k, r in enumerate(self.values(genes)):
            key = r.tobytes()
            if key not in seen:
                seen.add(key)
                keep.append(k)
        return np.array(keep, dtype=np.int64)

    def _select(self, F: np.ndarray, cv: np.ndarray) -> np.ndarray:
        """Indices of at most ``batch`` candidates: best constrained fronts of candidates and told archs together,
        the last front thinned by crowding distance."""
        n_told = len(self.F)
        allF = np.vstack([self.F, F])
        allcv = np.concatenate([self.cv, cv])
        ranks = nondominated_ranks(allF, allcv)
        cand_ranks = ranks[n_told:]
        chosen: list[int] = []
        for r in np.unique(cand_ranks):
            members = np.flatnonzero(cand_ranks == r)
            need = self.batch - len(chosen)
            if len(members) <= need:
                chosen += members.tolist()
            else:
                told = np.flatnonzero(ranks[:n_told] == r)
                left = list(members)
                while len(left) > need:
                    front = np.vstack([self.F[told], F[left]])
                    cd = crowding_distance(front)[len(told):]
                    worst = np.flatnonzero(cd == cd.min())
                    del left[int(worst[self.rng.integers(len(worst))])]
                chosen += left
            if len(chosen) >= self.batch:
                break
        return np.array(chosen, dtype=np.int64)
