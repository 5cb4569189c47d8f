"""search(..., workers=N) on Ray actors: the same archs and values as the serial run, a killed actor loses nothing,
a SIGKILLed driver resumes with another worker count, both latency placements, and bad input.

One local Ray (2 CPUs, no dashboard) is started for the module and shut down after it; the tests that need it are
skipped, saying why, when ray is not installed (``pip install "subnet-kit[ray]"``)."""

from __future__ import annotations

import json
import sys

import pytest

from subnet_kit.executor import RAY_MISSING, LocalExecutor, RayExecutor, make_executor
from subnet_kit.objectives import Latency
from subnet_kit.search import Callback, Search, search
from subnet_kit.space import Arch, SearchSpace

from conftest import sigkill_after_evaluations

try:
    import ray
except ImportError:  # pragma: no cover - CI installs the dev extra, which has ray
    ray = None


def tiny_setup(tiny_with_tokenizer):
    return tiny_with_tokenizer, SearchSpace.for_model(tiny_with_tokenizer, "per-layer")


def values(result, names=("error", "params")):
    return {a: tuple(r[n] for n in names) for a, r in zip(result.history["arch"], result.history.to_dict("records"))}


# ---- the same search, in parallel ----------------------------------------------------------------------------
def test_two_workers_evaluate_the_same_archs_to_the_same_values_as_the_serial_run(local_ray, tiny_with_tokenizer,
                                                                                    tiny_task, tmp_path):
    sn, space = tiny_setup(tiny_with_tokenizer)
    kw = dict(strategy="random", budget=10, seed=1, eval_limit=40, strategy_options={"batch": 4})
    serial = search(sn, space, tiny_task, ["error", "params"], **kw)
    seen = []

    class Seen(Callback):
        def on_evaluation(self, record):
            seen.append(record["arch"])

    log = tmp_path / "search.jsonl"
    parallel = search(sn, space, tiny_task, ["error", "params"], workers=2, log=log, callbacks=[Seen()], **kw)
    assert len(parallel.history) == 10 and parallel.history["arch"].is_unique
    assert values(parallel) == values(serial)  # same distinct archs, same error and params
    assert seen == list(parallel.history["arch"])  # callbacks fire per arrival, in history order
    logged = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    assert [x["arch"] for x in logged] == list(parallel.history["arch"])  # the driver logged each arrival
    assert [x["eval"] for x in logged] == list(range(10))
    assert set(serial.history["error"]) != {0.0}  # the error was really measured


def test_a_killed_actor_loses_nothing(local_ray, tiny_with_tokenizer, tiny_task):
    sn, space = tiny_setup(tiny_with_tokenizer)
    kw = dict(strategy="random", budget=8, seed=2, eval_limit=40, strategy_options={"batch": 4})
    holder = {}

    class Killer(Callback):
        def on_evaluation(self, record):
            ex = holder["search"].executor
            if record["eval"] == 0:
                victims = ex.busy_actors() or ex.actors
                ray.kill(victims[0])

    s = Search(sn, space, tiny_task, ["error", "params"], workers=2, callbacks=[Killer()], **kw)
    holder["search"] = s
    executor = s.executor
    r = s.run()
    assert executor.restarts >= 1  # the dead actor was replaced and its arch evaluated again
    assert len(r.history) == 8 and r.history["arch"].is_unique
    assert values(r) == values(search(sn, space, tiny_task, ["error", "params"], **kw))


KILLED = '''
import sys, time
from subnet_kit.space import ModelDims, SearchSpace
from subnet_kit.search import search

SPACE = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "per-layer")

def slow_gap(arch):
    time.sleep(0.2)
    return 1 / (1 + sum(arch.heads) / 12 + sum(arch.ffn) / 1536)

search(None, SPACE, None, ["params", slow_gap], strategy="random", budget=40, seed=3, log=sys.argv[1],
       strategy_options={"batch": 6}, workers=2, ray_address=sys.argv[2])
'''


def test_driver_sigkill_then_resume_with_another_worker_count(local_ray, tmp_path):
    log = tmp_path / "search.jsonl"
    killed = sigkill_after_evaluations(KILLED, log, 8, ray.get_runtime_context().gcs_address)
    assert 8 <= len(killed) < 40

    calls = []

    def slow_gap(arch):  # the same name as the script's: the log's settings match
        calls.append(arch)
        return 1 / (1 + sum(arch.heads) / 12 + sum(arch.ffn) / 1536)

    space = SearchSpace.for_model(__import__("subnet_kit.space", fromlist=["ModelDims"]).ModelDims(
        6, 12, 32, 1536, 384, 30522, 512, 2, 2), "per-layer")
    kw = dict(strategy="random", seed=3, strategy_options={"batch": 6})
    n = len(killed) + 5
    r = search(None, space, None, ["params", slow_gap], log=log, resume=True, workers=1, budget=n, **kw)  # 1 worker
    logged = {Arch.from_json(x["arch"]) for x in killed}
    assert len(calls) == 5 and not set(calls) & logged  # nothing logged was evaluated again
    assert r.history.iloc[: len(killed)][["arch", "params", "slow_gap"]].to_dict("records") == [
        {k: x[k] for k in ("arch", "params", "slow_gap")} for x in killed]  # the logged records, in arrival order
    assert len(r.history) == n and r.history["arch"].is_unique

    r = search(None, space, None, ["params", slow_gap], log=log, resume=True, workers=3, budget=40, **kw)  # 3 workers
    lines = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    assert len(lines) == 40 and len({x["arch"] for x in lines}) == 40  # each arch evaluated and logged once
    assert r.meta["replayed"] == n and len(r.history) == 40 and r.history["arch"].is_unique
    kw["budget"] = 40
    uninterrupted = search(None, space, None, ["params", slow_gap], **kw)
    assert values(r, ("params", "slow_gap")) == values(uninterrupted, ("params", "slow_gap"))


# ---- latency placements --------------------------------------------------------------------------------------
@pytest.mark.parametrize("placement", ["dedicated", "per-worker"])
def test_latency_is_timed_alone_or_records_where_it_was_timed(local_ray, tiny_with_tokenizer, placement):
    sn, space = tiny_setup(tiny_with_tokenizer)
    lat = Latency(seq_len=16, repeats=10, warmup=1)
    r = search(sn, space, None, ["params", lat], strategy="random", budget=4, seed=0, workers=2,
               worker_options={"latency": placement, "threads": 1}, strategy_options={"batch": 4})
    h = r.history
    assert len(h) == 4 and (h["latency"] > 0).all()
    if placement == "per-worker":
        assert set(h["latency_device"]) == {"cpu"} and h["latency_host"].notna().all()
    else:
        assert "latency_host" not in h.columns  # timed by the driver, alone


def broken(arch):
    raise ValueError(f"cannot measure {arch.short()}")


def test_an_objective_error_on_a_worker_is_the_same_error_as_in_process(local_ray):
    space = SearchSpace.for_model(__import__("subnet_kit.space", fromlist=["ModelDims"]).ModelDims(
        6, 12, 32, 1536, 384, 30522, 512, 2, 2), "uniform")
    cloudpickle = pytest.importorskip("ray.cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    try:
        with pytest.raises(ValueError, match="^cannot measure L"):
            search(None, space, None, ["params", broken], strategy="random", budget=4, workers=2)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


# ---- bad input -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True])
def test_workers_must_be_a_positive_int(workers):
    space = SearchSpace.for_model(__import__("subnet_kit.space", fromlist=["ModelDims"]).ModelDims(
        6, 12, 32, 1536, 384, 30522, 512, 2, 2), "uniform")
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        Search(None, space, None, ["params"], workers=workers)


def test_workers_1_is_in_process_and_ray_missing_names_the_extra(monkeypatch):
    assert isinstance(make_executor(1), LocalExecutor)
    with pytest.raises(ValueError, match="worker_options .* are for workers > 1"):
        make_executor(1, None, {"threads": 1})
    with pytest.raises(ValueError, match="unknown latency placement 'shared'; allowed: dedicated, per-worker"):
        make_executor(2, None, {"latency": "shared"})
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    with pytest.raises(ImportError, match=r'pip install "subnet-kit\[ray\]"') as e:
        RayExecutor(2)
    assert str(e.value) == RAY_MISSING


def test_cli_workers_bad_input_is_one_clear_line(capsys, monkeypatch):
    from subnet_kit.cli import main

    assert main(["search", "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["search", "--workers", "2", "--objectives", "params", "--budget", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "subnet-kit[ray]"' in err
