"""The ``linas`` strategy (predictor-assisted evolution): determinism, anchors, fresh distinct batches, constraints,
resume from the log, and a hypervolume win over random search, all on cheap callables (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from subnet_kit import Arch
from subnet_kit.search import Callback, Search, search
from subnet_kit.space import ModelDims, SearchSpace
from subnet_kit.strategies import STRATEGIES, make_strategy
from subnet_kit.strategies.linas import LINAS

DIMS = ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2)
SPACE = SearchSpace.for_model(DIMS, "per-layer")
SMALL = {"n_init": 10, "batch": 8, "n_candidates": 300}


def gap(arch):
    """A smooth stand-in for the error of a trained sub-network: falls with heads, FFN units and hidden size."""
    return 1 / (1 + sum(arch.heads) / 12 + sum(arch.ffn) / 1536 + arch.hidden / 384)


OBJ = ["params", gap]


def run(budget=40, seed=0, strategy="linas", options=SMALL, **kw):
    return search(None, kw.pop("space", SPACE), None, kw.pop("objectives", OBJ), strategy=strategy, budget=budget,
                  seed=seed, strategy_options=options, **kw)


def same(a, b) -> bool:
    cols = ["arch", *a.objectives, "feasible", "violation"]
    return a.history[cols].equals(b.history[cols])


def test_registered_under_its_name():
    assert STRATEGIES["linas"] is LINAS
    s = make_strategy("linas", SPACE, n_obj=2)
    assert s.options == {"n_init": 10, "batch": 5, "n_candidates": 1000, "kappa": 0.5, "anchors": True}
    assert s.config() == {"name": "linas", **s.options}
    assert "anchors" not in make_strategy("linas", SPACE, n_obj=2, anchors=False).config()  # the compat rule


def test_same_seed_same_search_other_seed_other_search():
    a, b, c = run(seed=1), run(seed=1), run(seed=2)
    assert same(a, b) and not same(a, c)
    h = a.history
    assert len(h) == 40 and h["arch"].is_unique and a.meta["strategy"]["name"] == "linas"


@pytest.mark.parametrize("granularity", ["per-layer", "uniform"])
def test_anchors_are_evaluations_0_and_1(granularity):
    space = SearchSpace.for_model(DIMS, granularity)
    h = run(budget=12, space=space).history
    assert Arch.from_json(h["arch"][0]) == space.largest() and Arch.from_json(h["arch"][1]) == space.smallest()
    h = run(budget=12, space=space, options={**SMALL, "anchors": False}).history
    assert {Arch.from_json(h["arch"][0]), Arch.from_json(h["arch"][1])} != {space.largest(), space.smallest()}


@pytest.mark.parametrize("n_constr", [0, 1])
def test_every_ask_is_a_full_batch_of_distinct_archs_never_told_before(n_constr):
    s = make_strategy("linas", SPACE, n_obj=2, n_constr=n_constr, seed=3, **SMALL)
    told: set[Arch] = set()
    for k in range(6):
        archs = [SPACE.decode(x) for x in s.ask()]
        assert len(archs) == (SMALL["n_init"] if k == 0 else SMALL["batch"])
        assert len(set(archs)) == len(archs) and not set(archs) & told
        told |= set(archs)
        F = [[SPACE.params(a), gap(a)] for a in archs]
        s.tell(F, [[SPACE.params(a) / 8e6 - 1] for a in archs] if n_constr else None)
    assert len(s.X) == 10 + 5 * 8 == len(told)


def test_values_are_a_vectorised_decode():
    for granularity in ("per-layer", "uniform", "layer"):
        space = SearchSpace.for_model(DIMS, granularity)
        s = LINAS(space, 2, seed=0)
        X = s.random_genes(500)
        V, archs = s.values(X), [space.decode(x) for x in X]
        for v, a in zip(V, archs):
            assert (v[0], v[1]) == (a.layers, a.hidden)
            assert tuple(v[2:2 + a.layers]) == a.heads and tuple(v[8:8 + a.layers]) == a.ffn
            assert not v[2 + a.layers:8].any() and not v[8 + a.layers:].any()
        keys = {v.tobytes() for v in V}
        assert len(keys) == len(set(archs))  # equal rows exactly when equal archs


def test_a_small_space_is_exhausted_without_repeats():
    space = SearchSpace.for_model(DIMS, "layer")  # 6 archs
    r = run(budget=20, space=space, options={"n_init": 3, "batch": 2, "n_candidates": 50})
    assert len(r.history) == 6 and r.history["arch"].is_unique and r.meta["stop_reason"] == "space exhausted"


def test_constraints_are_respected_better_than_random():
    """params <= 5e6: about 15 % of the per-layer space. After the random first ask, the surrogate of the
    constraint steers linas into the feasible part; random search stays near 15 %."""
    cons = ["params <= 5e6"]
    for seed in (0, 1):
        lin = run(budget=50, seed=seed, constraints=cons).history
        rnd = run(budget=50, seed=seed, strategy="random", options={"batch": 10}, constraints=cons).history
        after = lin["feasible"].iloc[SMALL["n_init"]:].mean()
        assert after > rnd["feasible"].mean() + 0.3 and after > 0.6
        assert (lin["feasible"] == (lin["params"] <= 5e6)).all()


def test_stopped_then_resumed_equals_uninterrupted(tmp_path):
    log = tmp_path / "search.jsonl"
    calls = []

    def gap(arch):  # same name as the module's: the log's settings match
        calls.append(arch)
        return globals()["gap"](arch)

    class StopAt(Callback):
        def __init__(self, search):
            self.search = search

        def on_evaluation(self, record):
            if record["eval"] == 14:  # in the middle of the second batch
                self.search.stop()

    kw = dict(strategy="linas", budget=34, seed=4, strategy_options=SMALL, log=log, constraints=["params <= 10e6"])
    s = Search(None, SPACE, None, ["params", gap], **kw)
    s.callbacks.append(StopAt(s))
    assert len(s.run().history) == 15
    calls.clear()
    resumed = search(None, SPACE, None, ["params", gap], resume=True, **kw)
    assert resumed.meta["replayed"] == 15 and len(calls) == 34 - 15
    assert same(resumed, run(budget=34, seed=4, constraints=["params <= 10e6"]))
    with pytest.raises(ValueError, match="other settings|strategy"):  # other options: a clear error, no divergence
        search(None, SPACE, None, ["params", gap], resume=True, **{**kw, "strategy_options": {**SMALL, "kappa": 2.0}})


def test_hypervolume_beats_random_at_budget_80():
    """Default options (20 archs, then 3 generations of 20) against random search with its defaults, shared box.
    Measured: linas 0.791-0.800, random 0.766-0.774 on seeds 0-2 (margins 0.018-0.032)."""
    ref, ideal = [SPACE.params(SPACE.largest()) * 1.1, 1.0], [0.0, 0.0]
    for seed in range(3):
        lin = run(budget=80, seed=seed, options={}).hypervolume(ref, ideal)
        rnd = run(budget=80, seed=seed, strategy="random", options={}).hypervolume(ref, ideal)
        assert lin > rnd + 0.01, (seed, lin, rnd)


def test_one_objective_and_several_constraints_run():
    r = run(budget=30, objectives=[gap], constraints=["params <= 12e6", ("flops", "<=", 3e9)])
    assert len(r.history) == 30 and r.history["arch"].is_unique and r.best()["params"] <= 12e6


@pytest.mark.parametrize("option, value, match", [
    ("n_init", 0, "n_init .* int >= 1"), ("n_init", 2.5, "n_init"), ("batch", 0, "batch .* int >= 1"),
    ("n_candidates", 5, r"n_candidates .* >= batch \(8\)"), ("kappa", -1.0, "kappa .* >= 0"),
    ("kappa", float("nan"), "kappa"), ("anchors", "yes", "anchors .* True or False"),
])
def test_bad_options_are_one_clear_error(option, value, match):
    with pytest.raises(ValueError, match=match):
        make_strategy("linas", SPACE, n_obj=2, **{**SMALL, option: value})
    with pytest.raises(ValueError, match="allowed: n_init=10, batch=5"):
        make_strategy("linas", SPACE, n_obj=2, pop_size=10)
