"""search(): every strategy seeded and deterministic, no arch evaluated twice, constraints honoured, callbacks and
stop, the log and resume (after stop(), a torn line, and a SIGKILL of a real process), Result, bad input, the tiny
BERT end to end, and the CLI on the embedded MiniLM."""

import doctest
import functools
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from subnet_kit import Arch, SearchSpace
from subnet_kit.objectives import Latency
from subnet_kit.search import Callback, InfeasibleWarning, Result, Search, search
from subnet_kit.strategies import DEFAULT_STRATEGY, STRATEGIES, Strategy

from conftest import sigkill_after_evaluations

# Cheap synthetic objectives on a MiniLM-shaped per-layer space (no model): "capacity_gap" falls with heads and FFN
# units (like the error of a trained sub-network) with a deterministic arch-specific wiggle; "params" rises with them.
SYNTHETIC = '''
import hashlib
from subnet_kit.space import ModelDims, SearchSpace

SPACE = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "per-layer")

def capacity_gap(arch):
    wiggle = int.from_bytes(hashlib.sha1(arch.to_json().encode()).digest()[:4], "big") / 2**32
    return 1 / (1 + sum(arch.heads) / 12 + sum(arch.ffn) / 1536 + arch.hidden / 384) + 0.02 * wiggle
'''
SYN: dict = {}
exec(SYNTHETIC, SYN)
SPACE, capacity_gap = SYN["SPACE"], SYN["capacity_gap"]
OBJ = ["params", capacity_gap]
SMALL = {"random": {"batch": 5}, "local": {"n_init": 6}, "nsga2": {"pop_size": 8}, "morea": {"pop_size": 8, "sample_size": 4},
         "tpe": {"n_startup": 6}}


pytestmark = pytest.mark.usefixtures("one_thread")


def run(strategy, budget=30, seed=0, **kw):
    return search(None, SPACE, None, kw.pop("objectives", OBJ), strategy=strategy, budget=budget, seed=seed,
                  strategy_options=kw.pop("strategy_options", SMALL[strategy]), **kw)


def same(a: Result, b: Result) -> bool:
    cols = ["arch", *a.objectives, "feasible", "violation"]
    return a.history[cols].equals(b.history[cols])


# ---- strategies ----------------------------------------------------------------------------------------------
def test_all_strategies_are_registered_and_exported():
    import subnet_kit
    import subnet_kit.strategies as strategies

    assert set(STRATEGIES) == {"random", "local", "nsga2", "morea", "tpe", "gp", "linas"}
    exported = [getattr(strategies, n) for n in strategies.__all__]
    assert all(cls in exported for cls in STRATEGIES.values())  # every registered class importable from the package
    for name in ("search", "Search", "Result", "Callback", "Latency", "Constraint", "LatencyPredictor"):
        assert name in subnet_kit.__all__ and hasattr(subnet_kit, name)


def test_the_default_strategy_is_the_measured_best():
    """`DEFAULT_STRATEGY` (search(), Search, the CLI, the dashboard) follows ``benchmarks/results/search.json``: the
    best of ours by the benchmark's own summary, and the record names it as the default it measured beside."""
    record = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "search.json"
    summary = json.loads(record.read_text())["summary"]
    assert DEFAULT_STRATEGY == summary["best_of_ours"] and DEFAULT_STRATEGY in STRATEGIES
    assert summary["default_strategy"]["name"] == DEFAULT_STRATEGY and summary["default_strategy"]["is_best"]
    import inspect

    assert inspect.signature(search).parameters["strategy"].default == DEFAULT_STRATEGY
    assert inspect.signature(Search).parameters["strategy"].default == DEFAULT_STRATEGY


@pytest.mark.parametrize("module", ["subnet_kit.search", "subnet_kit.objectives", "subnet_kit.pareto",
                                    "subnet_kit._log", "subnet_kit.strategies.base"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("strategy", sorted(SMALL))
def test_same_seed_same_search_other_seed_other_search(strategy):
    a, b, c = run(strategy, seed=1), run(strategy, seed=1), run(strategy, seed=2)
    assert same(a, b)
    assert not same(a, c)
    h = a.history
    assert len(h) == 30 and h["arch"].is_unique and h["eval"].tolist() == list(range(30))
    assert a.meta["stop_reason"] == "budget" and a.meta["strategy"]["name"] == strategy


@functools.lru_cache
def median_hv(strategy, budget=80, seeds=3, anchors=True):
    ref, ideal = [SPACE.params(SPACE.largest()) * 1.1, 1.0], [0.0, 0.0]
    options = {**SMALL[strategy], "anchors": anchors}
    return np.median([run(strategy, budget=budget, seed=k, strategy_options=options).hypervolume(ref, ideal)
                      for k in range(seeds)])


# anchors=False: the comparison as it was before the anchors option (the same proposals, so the same numbers).
# anchors=True (the default) on both sides: the anchors give random search both ends of the front too; morea then
# does not beat it here (median of seeds 0-2: 0.7485 against 0.7600; over seeds 0-4 anchored morea averaged 0.7575
# and morea without anchors 0.7559, so on this problem morea is about as good as random either way).
@pytest.mark.parametrize("anchors", [False, True])
@pytest.mark.parametrize("strategy", ["local", "nsga2", "morea", "tpe"])
def test_guided_strategies_beat_random_on_the_synthetic_problem(strategy, anchors, request):
    if strategy == "morea" and anchors:
        request.applymarker(pytest.mark.xfail(strict=True, reason="anchored morea ~ anchored random on this problem"))
    assert median_hv(strategy, anchors=anchors) > median_hv("random", anchors=anchors)


def test_duplicate_proposals_are_answered_from_the_cache_and_cost_nothing():
    calls = []

    def counted(arch):
        calls.append(arch)
        return capacity_gap(arch)

    space = SearchSpace.for_model(SPACE.dims, "layer")  # 6 archs only
    r = search(None, space, None, ["params", counted], strategy="random", budget=20, seed=0)
    assert len(calls) == len(set(calls)) == 6 and len(r.history) == 6
    assert r.meta["stop_reason"] == "space exhausted"
    r = search(None, space, None, ["params", counted], strategy="nsga2", budget=6, seed=0,
               strategy_options={"pop_size": 10})  # 10 proposals for 6 archs: the rest come from the cache
    assert len(r.history) == 6 and r.history["arch"].is_unique


def test_search_ends_when_the_strategy_proposes_nothing_new():
    class Stuck(Strategy):
        name = ""  # not registered

        def _ask(self):
            return np.zeros((1, self.space.n_var))

    r = search(None, SPACE, None, OBJ, strategy=Stuck, budget=10, max_repeats=20)
    assert len(r.history) == 1 and r.meta["stop_reason"].startswith("no new arch")


# ---- constraints ---------------------------------------------------------------------------------------------
def test_constraints_reach_the_strategy_and_decide_feasibility():
    s = Search(None, SPACE, None, OBJ, strategy="nsga2", budget=48, seed=0, constraints=["params <= 12e6"],
               strategy_options={"pop_size": 8})
    assert s.strategy.problem.n_ieq_constr == 1  # a real pymoo constraint, G <= 0
    r = s.run()
    h = r.history
    assert (h["feasible"] == (h["params"] <= 12e6)).all()
    assert np.allclose(h["violation"], np.maximum(0, (h["params"] - 12e6) / 12e6))
    assert len(r.pareto()) and r.pareto()["feasible"].all()
    assert h["feasible"].iloc[24:].mean() > h["feasible"].iloc[:8].mean()  # evolution moves into the feasible set
    assert r.constraints == ["params <= 1.2e+07"]


@pytest.mark.parametrize("strategy", sorted(SMALL))
def test_every_strategy_prefers_feasible_archs(strategy):
    r = run(strategy, budget=40, constraints=["params <= 10e6"])
    assert r.pareto()["feasible"].all() and r.best()["params"] <= 10e6


def test_constraint_on_a_metric_that_is_not_an_objective_measures_it():
    r = run("random", budget=10, constraints=[("flops", "<=", 1.5e9)])
    assert "flops" in r.history and (r.history["feasible"] == (r.history["flops"] <= 1.5e9)).all()
    assert r.objectives == ["params", "capacity_gap"] and r.units["flops"] == "FLOPs"


def test_constraint_units_must_match():
    with pytest.raises(ValueError, match="is in 'M' but params is measured in 'parameters'"):
        run("random", constraints=["params <= 10 M"])


# ---- callbacks, step and stop --------------------------------------------------------------------------------
def test_callbacks_see_every_evaluation_and_generation():
    seen, generations, sizes = [], [], []
    holder = {}

    class Watch(Callback):
        def on_evaluation(self, record):
            seen.append(record)
            sizes.append(len(holder["search"].result().history))  # the result already holds this evaluation

        def on_generation(self, result):
            generations.append(len(result.history))

    s = Search(None, SPACE, None, OBJ, strategy="nsga2", budget=24, seed=0, strategy_options=SMALL["nsga2"],
               callbacks=[Watch()])
    holder["search"] = s
    r = s.run()
    assert [x["eval"] for x in seen] == list(range(24)) and seen[-1]["arch"] == r.history["arch"].iloc[-1]
    assert sizes == list(range(1, 25))
    assert generations[0] == 8 and generations == sorted(generations) and len(generations) >= 3


def test_step_and_stop_from_a_callback_then_continue():
    s = Search(None, SPACE, None, OBJ, strategy="morea", budget=20, seed=0, strategy_options=SMALL["morea"])
    first = s.step()
    assert first["eval"] == 0 and len(s.records) == 1

    class StopAt(Callback):
        def on_evaluation(self, record):
            if record["eval"] == 9:
                s.stop()

    s.callbacks.append(StopAt())
    r = s.run()
    assert len(r.history) == 10 and r.meta["stop_reason"] == "stopped" and s.step() is None
    r = s.run()  # run again: continues after the stop
    assert len(r.history) == 20 and r.meta["stop_reason"] == "budget"
    assert same(r, run("morea", budget=20))


def test_live_hypervolume_only_grows_and_equals_the_result_curve_in_its_box():
    s = Search(None, SPACE, None, OBJ, strategy="nsga2", budget=40, seed=0, strategy_options=SMALL["nsga2"])
    lengths, bars = [], []
    while s.step() is not None:
        lengths.append(len(s.hv_curve))
        bars.append(s._progress_info()["hv"])
    assert lengths[:9] == [0] * 9 and lengths[9:] == list(range(10, 41))  # box fixed after 10 feasible: back-filled
    assert bars[:9] == ["-"] * 9 and bars[-1] == f"{s.hv_curve[-1]:.3f}"  # the progress bar shows the live value
    assert s.hv_curve == sorted(s.hv_curve) and 0 < s.hv_curve[-1] < 1
    ideal, ref = s.hv_box()
    assert np.all(ideal == 0)
    assert s.hv_curve == pytest.approx(s.result().hypervolume_curve(ref, ideal).tolist(), abs=1e-12)
    given = Search(None, SPACE, None, OBJ, budget=5, ref=[30e6, 1.0], constraints=["params <= 10e6"])
    given.run()
    assert given.hv_box()[1].tolist() == [30e6, 1.0]  # a given ref fixes the box at the first feasible point
    assert len(given.hv_curve) == 5 and given.hv_curve == pytest.approx(
        given.result().hypervolume_curve(*given.hv_box()[::-1]).tolist())
    with pytest.raises(ValueError, match="ref needs one value per objective"):
        Search(None, SPACE, None, OBJ, ref=[1.0])


def test_extend_continues_a_finished_search_as_if_the_budget_had_been_larger(tmp_path):
    s = Search(None, SPACE, None, OBJ, strategy="nsga2", budget=12, seed=2, strategy_options=SMALL["nsga2"],
               log=tmp_path / "s.jsonl")
    assert len(s.run().history) == 12 and s.step() is None
    s.extend(8)
    assert s.budget == 20 and s.stop_reason is None
    r = s.run()
    assert len(r.history) == 20 and r.meta["stop_reason"] == "budget" and len(s.hv_curve) == 20
    assert same(r, run("nsga2", budget=20, seed=2))  # the strategy went on from its state: same as one long run
    assert len(log_lines(tmp_path / "s.jsonl")) == 21  # header + 20, nothing twice
    s.stop()
    s.extend(1)  # also after stop(): step continues
    assert s.step()["eval"] == 20
    for n in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"n \(more distinct archs to evaluate\) must be an int > 0"):
            s.extend(n)
    assert s.budget == 21  # a refused extend changes nothing


@pytest.mark.parametrize("strategy, options", [("tpe", SMALL["tpe"]), ("nsga2", SMALL["nsga2"])])
def test_replay_strategy_false_takes_a_finished_log_as_it_is_and_replays_it_only_to_go_on(strategy, options,
                                                                                          tmp_path):
    log = tmp_path / "s.jsonl"
    kw = dict(strategy=strategy, seed=3, strategy_options=options)
    first_search = Search(None, SPACE, None, OBJ, budget=10, log=log, **kw)
    first = first_search.run()
    asks = []

    def resumed(budget):
        s = Search(None, SPACE, None, OBJ, budget=budget, log=log, resume=True, replay_strategy=False, **kw)
        ask = s.strategy.ask
        s.strategy.ask = lambda: (asks.append(1), ask())[1]
        return s

    s = resumed(7)  # a smaller budget: the first 7 logged records
    r = s.run()
    assert not asks and len(s.strategy.X) == 0  # the strategy was neither asked nor told
    assert r.history[["arch", "params"]].equals(first.history[["arch", "params"]].head(7))
    assert r.meta["stop_reason"] == "budget" and r.meta["replayed"] == 7

    s = resumed(10)
    assert same(s.run(), first) and not asks
    assert len(s.hv_curve) == 10 and s.hv_curve == first_search.hv_curve  # the live hypervolume from the log too
    s.extend(4)  # going on: the log is replayed through the strategy first, then 4 new evaluations
    r = s.run()
    one = Search(None, SPACE, None, OBJ, budget=14, **kw)  # the same search without a pause
    assert same(r, one.run()) and asks and len(s.strategy.X) == len(one.strategy.X) > 0
    assert len(s.hv_curve) == 14 and s.hv_curve == sorted(s.hv_curve)
    assert len(log_lines(log)) == 15  # header + 14: nothing evaluated or logged twice

    asks.clear()
    s = resumed(16)  # the log holds fewer than the budget: the usual replay, through the strategy
    assert len(s.run().history) == 16 and asks and len(s.strategy.X) > 0
    with pytest.raises(ValueError, match="replay_strategy must be True or False, got 'no'"):
        Search(None, SPACE, None, OBJ, budget=5, replay_strategy="no")


# ---- a search in which nothing is feasible -----------------------------------------------------------------------
def test_infeasible_search_ends_with_a_clear_report(tmp_path):
    with pytest.warns(InfeasibleWarning, match=r"no feasible architecture among 10 evaluated; the closest violates "
                                               r"params <= 10 by [0-9.e+]+ parameters \(params = "):
        r = run("random", budget=10, constraints=["params <= 10"], log=tmp_path / "s.jsonl")
    closest = r.history.loc[r.history["violation"].idxmin()]
    assert f"by {closest['params'] - 10:.3g} parameters" in r.infeasible_message
    assert f"at eval {closest['eval']})" in r.infeasible_message
    assert len(r.history) == 10 and not r.history["feasible"].any() and len(r.pareto()) == 0
    saved = json.loads(r.to_json(tmp_path / "result.json").read_text())
    assert saved["infeasible_message"] == r.infeasible_message  # result.json carries the report
    assert Result.from_json(tmp_path / "result.json").infeasible_message == r.infeasible_message
    assert len(log_lines(tmp_path / "s.jsonl")) == 11  # the run and its log are kept
    assert r.chart().to_dict()["layer"]  # the chart still draws (all points infeasible)
    with pytest.warns(InfeasibleWarning):
        two = run("random", budget=4, constraints=["params <= 10", "flops <= 1e12"])
    assert "params <= 10 by" in two.infeasible_message and "flops" not in two.infeasible_message  # only the broken one
    assert run("random", budget=4, constraints=["params <= 30e6"]).infeasible_message is None
    assert run("random", budget=4).infeasible_message is None


def test_cli_prints_the_infeasible_report_and_exits_1(capsys):
    from subnet_kit.cli import _print_result

    with pytest.warns(InfeasibleWarning):
        r = run("random", budget=6, constraints=["params <= 10"])
    assert _print_result(r, r.pareto()) == 1
    out, err = capsys.readouterr()
    assert "6 evaluations (stopped: budget), none feasible" in out and "hypervolume" not in out
    assert err.startswith("subnet-kit: no feasible architecture among 6 evaluated; the closest violates params <= 10")
    assert "--resume and a larger --budget" in err
    ok = run("random", budget=6, constraints=["params <= 30e6"])
    assert _print_result(ok, ok.pareto()) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and f"{len(ok.pareto())} on the Pareto front:" in out and "hypervolume" in lines[-1]
    assert lines[2].split() == ["arch", "params", "capacity_gap"] and set(lines[3]) <= {" ", "-"}
    assert len(lines) == 4 + len(ok.pareto()) + 1  # blank, title, header, rule, one row per front arch, hypervolume


# ---- log and resume ------------------------------------------------------------------------------------------
def log_lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.mark.parametrize("strategy", sorted(SMALL))
def test_stopped_then_resumed_equals_uninterrupted_and_evaluates_nothing_twice(strategy, tmp_path):
    log = tmp_path / "search.jsonl"
    calls = []

    def capacity_gap(arch):  # same name as the module's: the log's settings match
        calls.append(arch)
        return SYN["capacity_gap"](arch)

    class StopAt(Callback):
        def __init__(self, search):
            self.search = search

        def on_evaluation(self, record):
            if record["eval"] == 12:
                self.search.stop()

    kw = dict(strategy=strategy, budget=30, seed=4, strategy_options=SMALL[strategy], log=log)
    s = Search(None, SPACE, None, ["params", capacity_gap], **kw)
    s.callbacks.append(StopAt(s))
    assert len(s.run().history) == 13
    lines = log_lines(log)
    assert lines[0]["kind"] == "header" and len(lines) == 14
    with open(log, "a") as f:  # a write torn by a kill: half a line
        f.write('{"kind": "eval", "eval": 13, "arch": "{\\"lay')
    calls.clear()
    resumed = search(None, SPACE, None, ["params", capacity_gap], resume=True, **kw)
    assert len(calls) == 30 - 13 and not set(calls) & {Arch.from_json(x["arch"]) for x in lines[1:]}
    assert same(resumed, run(strategy, budget=30, seed=4))
    assert resumed.meta["replayed"] == 13
    lines = log_lines(log)  # the torn line is gone, nothing is logged twice
    assert len(lines) == 31 and len({x["arch"] for x in lines[1:]}) == 30
    assert [x["eval"] for x in lines[1:]] == list(range(30))
    assert Result.from_log(log).history["arch"].tolist() == resumed.history["arch"].tolist()


def test_log_errors_are_clear(tmp_path):
    log = tmp_path / "s.jsonl"
    with pytest.raises(ValueError, match="resume=True needs the log"):
        Search(None, SPACE, None, OBJ, resume=True)
    run("random", budget=5, log=log)
    with pytest.raises(ValueError, match="already exists; pass resume=True"):
        run("random", budget=5, log=log)
    with pytest.raises(ValueError, match="other settings.*seed: log has 0, this search 1"):
        run("random", budget=5, seed=1, log=log, resume=True)
    more = run("random", budget=8, log=log, resume=True)  # a larger budget continues the search
    assert len(more.history) == 8 and more.history["arch"].iloc[:5].tolist() == [x["arch"] for x in log_lines(log)[1:6]]


KILLED = SYNTHETIC + '''
import sys, time
from subnet_kit.search import search

def slow_gap(arch):
    time.sleep(0.03)
    return capacity_gap(arch)

search(None, SPACE, None, ["params", slow_gap], strategy="nsga2", budget=int(sys.argv[2]), seed=3,
       strategy_options={"pop_size": 8}, log=sys.argv[1])
'''


def test_sigkill_then_resume_loses_only_the_evaluation_in_flight(tmp_path):
    log = tmp_path / "search.jsonl"
    killed = sigkill_after_evaluations(KILLED, log, 10, "60")
    assert 10 <= len(killed) < 60

    calls = []

    def slow_gap(arch):
        calls.append(arch)
        return capacity_gap(arch)

    r = search(None, SPACE, None, ["params", slow_gap], strategy="nsga2", budget=60, seed=3,
               strategy_options={"pop_size": 8}, log=log, resume=True)
    assert len(calls) == 60 - len(killed)  # only what the killed run had not logged
    assert not set(calls) & {Arch.from_json(x["arch"]) for x in killed}
    assert r.history.iloc[: len(killed)][["arch", "params", "slow_gap"]].to_dict("records") == [
        {k: x[k] for k in ("arch", "params", "slow_gap")} for x in killed]
    assert len(r.history) == 60 and r.history["arch"].is_unique
    uninterrupted = search(None, SPACE, None, ["params", slow_gap], strategy="nsga2", budget=60, seed=3,
                           strategy_options={"pop_size": 8})
    assert r.history[["arch", "params", "slow_gap"]].equals(uninterrupted.history[["arch", "params", "slow_gap"]])


# ---- Result --------------------------------------------------------------------------------------------------
def test_result_front_hypervolume_best_and_round_trips(tmp_path):
    r = run("nsga2", budget=40, constraints=["params <= 15e6"])
    front = r.pareto()
    F = front[r.objectives].to_numpy()
    assert len(front) and np.all(np.diff(F[:, 0]) >= 0) and np.all(np.diff(F[:, 1]) <= 0)  # a front of 2 objectives
    ref, ideal = [20e6, 1.0], [0.0, 0.0]
    curve = r.hypervolume_curve(ref, ideal)
    assert len(curve) == 40 and curve.index[0] == 1 and curve.is_monotonic_increasing
    assert curve.iloc[-1] == pytest.approx(r.hypervolume(ref, ideal)) and 0 < curve.iloc[-1] < 1
    assert 0 < r.hypervolume() < 1
    best = r.best(by="capacity_gap", params=8e6)
    assert best["params"] <= 8e6 and best["capacity_gap"] == r.history.query("feasible and params <= 8e6")["capacity_gap"].min()
    assert r.best()["params"] == r.history.query("feasible")["params"].min()  # default: the first objective
    assert isinstance(Arch.from_json(best["arch"]), Arch) and r.archs()[0] == Arch.from_json(front["arch"].iloc[0])
    with pytest.raises(ValueError, match="no feasible evaluated sub-network satisfies params <= 1"):
        r.best(params=1)
    with pytest.raises(ValueError, match="unknown column 'speed'"):
        r.best(speed=3)
    again = Result.from_json(r.to_json(tmp_path / "r.json"))
    assert same(again, r) and again.meta == json.loads(json.dumps(r.meta)) and again.constraints == r.constraints
    csv = pd.read_csv(r.to_csv(tmp_path / "h.csv"))
    assert csv["arch"].tolist() == r.history["arch"].tolist()
    assert "evaluations" in repr(r) and r.chart().to_dict()["layer"]


# ---- bad input: one clear ValueError each ----------------------------------------------------------------------
def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown strategy 'cmaes'; allowed: gp, linas, local, morea, nsga2, random, tpe"):
        search(None, SPACE, None, OBJ, strategy="cmaes")
    with pytest.raises(ValueError, match="unknown option.*pop_sz for strategy 'nsga2'; allowed: pop_size=20"):
        search(None, SPACE, None, OBJ, strategy="nsga2", strategy_options={"pop_sz": 4})


def test_unknown_objective():
    with pytest.raises(ValueError, match="unknown objective 'speed'; allowed: error, params, flops, latency, memory"):
        search(None, SPACE, None, ["params", "speed"])


@pytest.mark.parametrize("budget", [0, -3, 2.5, True])
def test_budget_must_be_a_positive_int(budget):
    with pytest.raises(ValueError, match="budget .* must be an int > 0"):
        search(None, SPACE, None, OBJ, budget=budget)


def test_no_objectives():
    with pytest.raises(ValueError, match="no objectives given; pass one or more of error, params"):
        search(None, SPACE, None, [])


def test_constraint_on_an_unknown_objective():
    with pytest.raises(ValueError, match="constraint 'speed <= 3' is on 'speed', which is neither an objective"):
        search(None, SPACE, None, OBJ, constraints=["speed <= 3"])


def test_reference_point_not_dominated_by_the_front():
    r = run("random", budget=10)
    with pytest.raises(ValueError, match="not dominated by the front"):
        r.hypervolume(ref=[1e6, 0.01], ideal=[0, 0])


def test_objectives_that_need_a_model_say_so():
    with pytest.raises(ValueError, match="objective 'error' needs supernet and task"):
        search(None, SPACE, None, ["error", "params"])


# ---- on a real (tiny) super-network ----------------------------------------------------------------------------
def test_tiny_bert_error_latency_memory_without_side_effects(tiny_with_tokenizer, tiny_task, tmp_path):
    sn = tiny_with_tokenizer
    space = SearchSpace.for_model(sn, "per-layer")
    sn.train()
    r = search(sn, space, tiny_task, ["error", "params", Latency(seq_len=16, repeats=10, warmup=1)],
               strategy="random", budget=6, eval_limit=24, constraints=["memory <= 1e6"],
               strategy_options={"batch": 3}, log=tmp_path / "s.jsonl")
    h = r.history
    assert set(h.columns) >= {"error", "params", "latency", "latency_iqr_ms", "latency_threads", "memory",
                              "error_n", "feasible", "time_s", "elapsed_s"}
    assert h["error"].between(0, 1).all() and (h["error_n"] == 24).all() and (h["latency"] > 0).all()
    assert (h["latency_threads"] == 1).all() and r.units["latency"] == "ms" and r.units["memory"] == "bytes"
    assert sn.training and sn.active_arch == space.largest()  # the caller's model as it was
    assert r.meta["device"] == "cpu"


def test_predicted_latency_is_searched_then_the_front_measured(tiny_with_tokenizer, tiny_task, tmp_path):
    sn = tiny_with_tokenizer
    space = SearchSpace.for_model(sn, "per-layer")
    lat = Latency(seq_len=16, repeats=10, warmup=1)
    log = tmp_path / "s.jsonl"
    kw = dict(strategy="nsga2", eval_limit=16, latency="predicted", predictor_samples=10,
              strategy_options={"pop_size": 4}, log=log)
    r = search(sn, space, tiny_task, ["error", lat], budget=6, **kw)
    front = r.pareto_mask()
    assert r.history["latency_measured"][front].notna().all() and r.history["latency_measured"][~front].isna().all()
    header = log_lines(log)[0]
    assert header["predictor"]["coef"] == r.meta["predictor"]["coef"] and r.meta["predictor"]["report"]["n_test"] == 2
    more = search(sn, space, tiny_task, ["error", lat], budget=8, resume=True, **kw)  # the logged predictor is reused
    assert more.meta["predictor"]["coef"] == header["predictor"]["coef"] and len(more.history) == 8
    with pytest.raises(ValueError, match="latency='predicted' needs 'latency'"):
        search(sn, space, tiny_task, ["error"], latency="predicted")
    with pytest.raises(ValueError, match="unknown latency mode 'guessed'"):
        search(sn, space, tiny_task, ["error"], latency="guessed")


# ---- the CLI ------------------------------------------------------------------------------------------------------
def test_cli_search_bad_input_is_one_clear_line_before_any_work(capsys):
    from subnet_kit.cli import main

    fast = ["search", "--train-steps", "0", "--out", "/nonexistent/never-written"]  # all fail before any model work
    for argv, message in [
        (["--budget", "0"], "--budget must be >= 1"),
        (["--objectives", "error,accuracy"], "unknown objective 'accuracy'"),
        (["--strategy-option", "pop_size"], "KEY=VALUE"),
        (["--strategy", "nsga2", "--strategy-option", "popsize=4"],
         "unknown option(s) popsize for strategy 'nsga2'; allowed: pop_size=20"),
        (["--strategy-option", "popsize=4"], f"unknown option(s) popsize for strategy '{DEFAULT_STRATEGY}'"),
        (["--constraint", "speed <= 3"], "constraint 'speed <= 3' is on 'speed', which is neither an objective"),
        (["--constraint", "latency == 3"], "NAME <= NUMBER"),
    ]:
        t0 = time.perf_counter()
        assert main([*fast, *argv]) == 2
        assert message in capsys.readouterr().err and time.perf_counter() - t0 < 2
    with pytest.raises(SystemExit):
        main(["search", "--strategy", "cmaes"])


@pytest.mark.minilm
def test_cli_search_writes_everything_and_resumes(tmp_path, capsys):
    from subnet_kit.cli import main

    args = ["search", "--train-steps", "2", "--eval-limit", "32", "--threads", "1", "--out", str(tmp_path),
            "--no-progress", "--strategy", "nsga2", "--strategy-option", "pop_size=4", "--latency-seq-len", "32"]
    assert main([*args, "--budget", "5"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "Pareto front" in out and "hypervolume" in out
    history, front = pd.read_csv(tmp_path / "history.csv"), pd.read_csv(tmp_path / "pareto.csv")
    assert len(history) == 5 and {"error", "latency"} <= set(history.columns) and 1 <= len(front) <= 5
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "pareto.svg").read_text()[:500]
    subnets = sorted((tmp_path / "subnetworks").iterdir())
    assert len(subnets) == len(front) and all((d / "model.safetensors").is_file() for d in subnets)
    assert Result.from_json(tmp_path / "result.json").history["arch"].tolist() == history["arch"].tolist()

    assert main([*args, "--budget", "5"]) == 2  # the log exists: say how to continue
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--budget", "6", "--resume", "--extract-max", "0"]) == 0
    out = capsys.readouterr().out
    assert "loaded from the cache" in out and "5 evaluations came from the log" in out
    assert pd.read_csv(tmp_path / "history.csv")["arch"].iloc[:5].tolist() == history["arch"].tolist()
