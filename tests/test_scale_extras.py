"""Scaling out (issue 11), the parts around the executor: TPE proposing batches (constant liar), the dashboard with
Ray workers on the tiny BERT, and the arithmetic of ``benchmarks/bench_scale.py``.

The Ray tests start their own local Ray (2 CPUs, no dashboard) once for the module and shut it down after; they are
skipped, saying why, where ``ray`` is not installed or `Search` has no ``workers`` option."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from subnet_kit import SearchSpace
from subnet_kit.search import Callback, Search, search
from subnet_kit.space import ModelDims
from subnet_kit.strategies import make_strategy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def space():
    return SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "per-layer")


# ---- TPE in batches ----------------------------------------------------------------------------------------------
def _proposals(space, name: str, seed: int, asks: int = 5, **options) -> list[list[str]]:
    """The slugs of each ask's proposals, told (params, -total heads) after each ask."""
    s = make_strategy(name, space, 2, 0, seed, **options)
    out = []
    for _ in range(asks):
        archs = [space.decode(x) for x in s.ask()]
        out.append([a.slug() for a in archs])
        s.tell([[space.params(a), -sum(a.heads)] for a in archs])
    return out


def _tpe_proposals(space, seed: int, batch: int, asks: int = 6) -> list[list[str]]:
    return _proposals(space, "tpe", seed, asks, batch=batch, n_startup=4)


def test_tpe_batch_proposes_distinct_archs_deterministically(space):
    a = _tpe_proposals(space, seed=3, batch=3)
    assert all(len(batch) == 3 and len(set(batch)) == 3 for batch in a), a
    assert len({s for batch in a for s in batch}) == 18  # nor an arch told before (the model-based asks included)
    assert _tpe_proposals(space, seed=3, batch=3) == a  # same seed, same proposals
    assert _tpe_proposals(space, seed=4, batch=3) != a


def test_tpe_batch_one_is_the_sequential_sampler(space):
    s = make_strategy("tpe", space, 2)
    assert len(s.ask()) == 1
    assert s.config() == {"name": "tpe", "n_startup": 10, "n_ei_candidates": 24, "anchors": True}
    old = make_strategy("tpe", space, 2, anchors=False)  # logs written before batch and anchors existed still resume
    assert old.config() == {"name": "tpe", "n_startup": 10, "n_ei_candidates": 24}
    assert make_strategy("tpe", space, 2, batch=2).config()["batch"] == 2
    assert make_strategy("tpe", space, 2, batch=2).study.sampler._constant_liar is True


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_tpe_batch_rejects_bad_values(space, bad):
    with pytest.raises(ValueError, match=r"option batch of strategy 'tpe'.*int >= 1"):
        make_strategy("tpe", space, 2, batch=bad)


def test_tpe_batch_in_a_search_counts_distinct_archs(space):
    result = search(None, space, None, ["params", "flops"], strategy="tpe", budget=14, seed=0,
                    strategy_options={"batch": 4, "n_startup": 4})
    assert len(result.history) == 14 and result.history["arch"].nunique() == 14
    assert result.meta["strategy"]["batch"] == 4


# ---- MO-REA and local search in batches ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, init", [("morea", {"pop_size": 6, "sample_size": 3}), ("local", {"n_init": 6})])
def test_morea_and_local_batch_propose_several_children_deterministically(space, name, init):
    a = _proposals(space, name, seed=3, batch=3, **init)
    assert len(a[0]) == 6 and all(len(batch) == 3 for batch in a[1:]), a  # the random start, then 3 per ask
    if name == "local":  # neighbours of one batch are distinct (the space is large enough for the tries)
        assert all(len(set(batch)) == 3 for batch in a[1:]), a
    assert _proposals(space, name, seed=3, batch=3, **init) == a
    assert _proposals(space, name, seed=4, batch=3, **init) != a


@pytest.mark.parametrize("name", ["morea", "local"])
def test_morea_and_local_batch_one_is_unchanged(space, name):
    s = make_strategy(name, space, 2)
    assert "batch" not in s.config()  # logs written before the option still resume
    s.tell([[space.params(a), -sum(a.heads)] for a in map(space.decode, s.ask())])
    assert len(s.ask()) == 1
    with pytest.raises(ValueError, match=rf"option batch of strategy '{name}'.*int >= 1"):
        make_strategy(name, space, 2, batch=0)


# ---- bench_scale's projection ------------------------------------------------------------------------------------
def _bench_scale():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_bench_scale_amdahl_projection():
    p = _bench_scale().amdahl(t_eval=0.099, t_driver=0.001)
    assert p["serial_fraction"] == pytest.approx(0.01)
    assert p["speedup"]["1"] == pytest.approx(1.0)
    assert p["speedup"]["2"] == pytest.approx(1 / (0.01 + 0.99 / 2))
    assert p["max_speedup"] == pytest.approx(100.0) and p["max_evals_per_s"] == pytest.approx(1000.0)
    assert p["driver_bound_from_n"] == 100
    assert all(a < b for a, b in zip(list(p["speedup"].values()), list(p["speedup"].values())[1:]))


# ---- the dashboard on Ray workers ----------------------------------------------------------------------------------
class Arrivals(Callback):
    def __init__(self):
        self.records = []

    def on_evaluation(self, record):
        self.records.append(record)


def test_dashboard_with_two_workers_on_the_tiny_bert(local_ray, tiny_with_tokenizer, tiny_task, one_thread):
    from subnet_kit_widgets import SearchDashboard

    space = SearchSpace.for_model(tiny_with_tokenizer, "per-layer")
    budget = 8
    kw = dict(objectives=["error", "params"], strategy="random", budget=budget, seed=0, eval_limit=24,
              min_interval_s=0.0)
    serial = SearchDashboard(tiny_with_tokenizer, space, tiny_task, **kw).run()

    arrivals = Arrivals()
    dash = SearchDashboard(tiny_with_tokenizer, space, tiny_task, workers=2, callbacks=[arrivals], **kw)
    updates = []
    live_update = dash._pareto.update
    dash._pareto.update = lambda rows: (updates.append(len(rows)), live_update(rows))[1]
    result = dash.run()

    assert dash.model.state == "done" and dash.message == ""
    assert len(result.history) == budget and result.history["arch"].nunique() == budget
    assert len(dash.chart_data()) == budget  # the chart holds every evaluated point
    assert len(arrivals.records) == budget  # callbacks fire per arrival from the workers ...
    assert updates == list(range(1, budget + 1))  # ... and the live chart is redrawn after each one
    assert dash.search.executor.workers == 2
    # the same archs with the same values as in process (deterministic objectives, random strategy)
    by_arch = lambda r: {a: (e, p) for a, e, p in zip(r.history["arch"], r.history["error"], r.history["params"])}
    assert by_arch(result) == by_arch(serial)


def test_dashboard_workers_option_is_checked(tiny):
    from subnet_kit_widgets import SearchDashboard

    space = SearchSpace.for_model(tiny, "per-layer")
    with pytest.raises(ValueError, match="workers"):
        SearchDashboard(tiny, space, None, objectives=["params"], workers=0)


# ---- workers beyond the strategy's proposals per ask ---------------------------------------------------------------
@pytest.mark.parametrize("name, options, option, per_ask", [
    ("gp", {}, "batch", 1),                      # the default strategy proposes one arch per ask
    ("nsga2", {"pop_size": 2}, "pop_size", 2),
    ("morea", {}, "batch", 1),                   # morea's proposals per ask are its batch, not its pop_size
])
def test_workers_beyond_the_batch_warn_and_name_the_option(space, name, options, option, per_ask):
    pytest.importorskip("ray")
    from subnet_kit.search import ParallelismWarning

    with pytest.warns(ParallelismWarning, match=rf"workers=4, but strategy '{name}' proposes {per_ask} arch\(s\) "
                                                rf"per ask \(option {option}\).*strategy_options=\{{'{option}': 4\}}"):
        s = Search(None, space, None, ["params", "flops"], strategy=name, budget=5, workers=4, strategy_options=options)
    assert not s._started  # warned at construction: no Ray started, nothing evaluated


def test_workers_within_the_batch_do_not_warn(space, recwarn):
    pytest.importorskip("ray")
    Search(None, space, None, ["params", "flops"], strategy="gp", budget=5, workers=2, strategy_options={"batch": 2})
    Search(None, space, None, ["params", "flops"], strategy="random", budget=5, workers=4)  # batch 10
    Search(None, space, None, ["params", "flops"], strategy="gp", budget=5)  # one worker
    assert not [w for w in recwarn if "proposes" in str(w.message)]


def test_cli_search_warns_of_idle_workers_before_any_training(capsys, tmp_path):
    pytest.importorskip("ray")
    from subnet_kit.cli import main

    # the task name fails in _load_task, after the warning and before any model work
    fast = ["search", "--strategy", "gp", "--task", "no-such-task-here"]
    assert main([*fast, "--workers", "4", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "subnet-kit: warning: workers=4, but strategy 'gp' proposes 1 arch(s) per ask" in err
    assert "--strategy-option batch=4" in err and "strategy_options" not in err
    assert main([*fast, "--workers", "2", "--strategy-option", "batch=2", "--out", str(tmp_path / "y")]) == 2
    assert "warning" not in capsys.readouterr().err
