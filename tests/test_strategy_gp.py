"""The ``gp`` strategy (Optuna's GPSampler): registered and checked options, the anchors first, determinism by seed,
distinct unseen batch proposals (also when the space runs out), constraints steer proposals into the feasible set,
and a stopped search resumed from its log equals an uninterrupted one. Cheap callables on a 4-gene space; small
budgets (each ask after the startup fits GPs)."""

import hashlib

import numpy as np
import pytest

from subnet_kit import Arch
from subnet_kit.search import Callback, Search, search
from subnet_kit.space import ModelDims, SearchSpace
from subnet_kit.strategies import STRATEGIES, make_strategy

DIMS = ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2)
SPACE = SearchSpace.for_model(DIMS, "uniform")

pytestmark = pytest.mark.usefixtures("one_thread")


def capacity_gap(arch):
    wiggle = int.from_bytes(hashlib.sha1(arch.to_json().encode()).digest()[:4], "big") / 2**32
    return 1 / (1 + sum(arch.heads) / 12 + sum(arch.ffn) / 1536 + arch.hidden / 384) + 0.02 * wiggle


OBJ = ["params", capacity_gap]


def values(space, X):
    archs = [space.decode(x) for x in X]
    return [[space.params(a), capacity_gap(a)] for a in archs]


def test_registered_with_checked_options():
    import subnet_kit.strategies as strategies

    assert STRATEGIES["gp"] is strategies.GP and "GP" in strategies.__all__
    s = make_strategy("gp", SPACE, n_obj=2)
    assert s.options == {"n_startup": 10, "batch": 1, "anchors": True, "deterministic": False}
    assert s.config() == {"name": "gp", **s.options}
    assert "anchors" not in make_strategy("gp", SPACE, n_obj=2, anchors=False).config()  # compat_defaults
    for bad, match in [({"n_startup": 0}, "n_startup of strategy 'gp'.*int >= 1, got 0"),
                       ({"n_startup": 2.5}, "n_startup.*got 2.5"),
                       ({"batch": 0}, "batch of strategy 'gp'.*int >= 1, got 0"),
                       ({"anchors": "yes"}, "anchors of strategy 'gp' must be True or False, got 'yes'"),
                       ({"deterministic": 1}, "deterministic of strategy 'gp' must be True or False"),
                       ({"pop_size": 8}, "unknown option.*pop_size.*allowed: n_startup=10, batch=1, anchors=True")]:
        with pytest.raises(ValueError, match=match):
            make_strategy("gp", SPACE, n_obj=2, **bad)


def test_search_by_name_evaluates_the_largest_then_the_smallest_arch_first():
    r = search(None, SPACE, None, OBJ, strategy="gp", budget=4, seed=0)
    archs = [Arch.from_json(a) for a in r.history["arch"]]
    assert archs[0] == SPACE.largest() and archs[1] == SPACE.smallest() and len(set(archs)) == 4
    plain = search(None, SPACE, None, OBJ, strategy="gp", budget=4, seed=0, strategy_options={"anchors": False})
    assert not {SPACE.largest(), SPACE.smallest()} & {Arch.from_json(a) for a in plain.history["arch"]}


def drive(seed, asks, **options):
    s = make_strategy("gp", SPACE, n_obj=2, seed=seed, **options)
    out = []
    for _ in range(asks):
        X = s.ask()
        out.append(X)
        s.tell(values(SPACE, X))
    return s, np.vstack(out)


def test_same_seed_same_proposals_other_seed_other_proposals():
    a, b, c = (drive(seed, 7, n_startup=4)[1] for seed in (1, 1, 2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a[2:], c[2:])  # the two anchors are the same for every seed


def test_batches_are_distinct_unseen_archs_also_when_the_space_runs_out():
    s, X = drive(0, 5, n_startup=4, batch=3)
    archs = [SPACE.decode(x) for x in X]
    assert len(X) == 15 and len(set(archs)) == 15  # distinct within each batch and never told before
    assert archs[:2] == [SPACE.largest(), SPACE.smallest()]
    # 12 archs in all: the sampler soon repeats itself and random genes fill the batches, still without repeats
    tiny = SearchSpace.for_model(DIMS, "uniform", layers=(1, 3), heads=(11, 12), ffn=(1472, 1536, 64),
                                 hidden=384)
    assert tiny.size() == 12
    s = make_strategy("gp", tiny, n_obj=2, seed=0, n_startup=2, batch=4)
    seen = []
    for _ in range(3):
        X = s.ask()
        assert len(X) == 4
        seen += [tiny.decode(x) for x in X]
        s.tell(values(tiny, X))
    assert len(set(seen)) == 12 == len(seen)
    X = s.ask()  # the space is exhausted: one repeat, which the search answers from its cache
    assert len(X) == 1 and tiny.decode(X[0]) in set(seen)


def test_constraint_most_of_the_space_violates_gp_proposes_more_feasible_archs_than_random():
    kw = dict(budget=18, seed=0, constraints=["params <= 5e6"])
    feasible = np.mean([SPACE.params(a) <= 5e6 for a in SPACE.all_archs()])
    assert feasible < 0.3  # most of the space violates the constraint
    gp = search(None, SPACE, None, OBJ, strategy="gp", strategy_options={"n_startup": 6}, **kw)
    rnd = search(None, SPACE, None, OBJ, strategy="random", **kw)
    after = slice(6, None)  # the proposals after gp's startup trials
    assert gp.history["feasible"].iloc[after].mean() > rnd.history["feasible"].iloc[after].mean()
    assert gp.pareto()["feasible"].all()


def test_stopped_then_resumed_from_the_log_equals_uninterrupted(tmp_path):
    log = tmp_path / "gp.jsonl"
    kw = dict(strategy="gp", budget=10, seed=3, strategy_options={"n_startup": 4, "batch": 2})

    class StopAt(Callback):
        def __init__(self, s):
            self.s = s

        def on_evaluation(self, record):
            if record["eval"] == 4:
                self.s.stop()

    s = Search(None, SPACE, None, OBJ, log=log, **kw)
    s.callbacks.append(StopAt(s))
    assert len(s.run().history) == 5  # stopped in the middle of a batch of 2
    resumed = search(None, SPACE, None, OBJ, log=log, resume=True, **kw)
    whole = search(None, SPACE, None, OBJ, **kw)
    cols = ["arch", "params", "capacity_gap", "feasible"]
    assert resumed.meta["replayed"] == 5 and len(resumed.history) == 10
    assert resumed.history[cols].equals(whole.history[cols])
