"""Objectives (built-in and user callables), constraints, latency and memory measured without side effects, and the
latency predictor, on the tiny random BERT."""

import math

import numpy as np
import pytest
import torch

from subnet_kit import Arch, SearchSpace
from subnet_kit.objectives import (
    Constraint, Context, Error, Flops, FunctionObjective, Latency, LatencyPredictor, Memory, Objective, Params,
    _PeakTensorMemory, as_objective, get_objective, measure_latency, measure_memory, spearman,
)
from subnet_kit.space import ModelDims
from subnet_kit.train import evaluate

MINILM_DIMS = ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2)


pytestmark = pytest.mark.usefixtures("one_thread")


# ---- constraints ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, name, op, bound, unit", [
    ("latency <= 15", "latency", "<=", 15.0, ""),
    ("latency<=15ms", "latency", "<=", 15.0, "ms"),
    ("latency <= 15 ms", "latency", "<=", 15.0, "ms"),
    ("params < 10e6", "params", "<=", 10e6, ""),
    ("error >= .05", "error", ">=", 0.05, ""),
])
def test_constraints_parse(text, name, op, bound, unit):
    c = Constraint.parse(text)
    assert (c.name, c.op, c.bound, c.unit) == (name, op, bound, unit)
    assert Constraint.parse(c) is c and Constraint.parse(str(c)) == c


def test_constraint_values_are_relative_violations():
    c = Constraint.parse(("params", "<=", 10e6))
    assert c.g(12e6) == pytest.approx(0.2) and c.g(5e6) == pytest.approx(-0.5) and c.satisfied(10e6)
    assert Constraint.parse("error >= 0.5").g(0.25) == pytest.approx(0.5)
    assert Constraint("x", "<=", 0.0).g(2.0) == 2.0  # a zero bound is not divided by


@pytest.mark.parametrize("bad", ["latency == 15", "latency <= fast", "<= 15", ("params", "<="), 15])
def test_unreadable_constraints_say_how_to_write_one(bad):
    with pytest.raises(ValueError, match="NAME <= NUMBER"):
        Constraint.parse(bad)


# ---- objective objects ---------------------------------------------------------------------------------------
def test_unknown_objective_names_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown objective 'accuracy'.*minimising 'error'.*error, params, flops, latency, memory"):
        get_objective("accuracy")
    with pytest.raises(ValueError, match="unknown objective"):
        as_objective(3.5)


def test_user_callables_are_objectives_with_checked_values():
    def depth(arch):
        return arch.layers

    o = as_objective(depth)
    assert isinstance(o, FunctionObjective) and o.name == "depth" and o.direction == "minimize"
    assert o(Arch.uniform(2, 4, 64, 64), Context()) == (2.0, {})
    with pytest.raises(ValueError, match="name the lambda"):
        as_objective(lambda a: 1.0)
    with pytest.raises(ValueError, match="must be finite"):
        FunctionObjective(lambda a: math.nan, name="nan")(Arch.uniform(2, 4, 64, 64), Context())
    with pytest.raises(ValueError, match="must return a number"):
        FunctionObjective(lambda a: "small", name="text")(Arch.uniform(2, 4, 64, 64), Context())

    class Accuracy(Objective):
        name, direction = "accuracy", "maximize"

    with pytest.raises(ValueError, match="objectives are minimised"):
        as_objective(Accuracy())


def test_objectives_say_what_context_they_need():
    with pytest.raises(ValueError, match="needs supernet and task"):
        Error()(Arch.uniform(1, 1, 64, 64), Context())
    with pytest.raises(ValueError, match="needs dims"):
        Params()(Arch.uniform(1, 1, 64, 64), Context())


def test_params_and_flops_are_the_space_counts():
    space = SearchSpace.for_model(MINILM_DIMS, "per-layer")
    ctx = Context(space=space)
    for arch in space.sample_many(5, rng=0):
        assert Params()(arch, ctx)[0] == space.params(arch)
        assert Params("encoder")(arch, ctx)[0] == space.params(arch, "encoder")
        assert Flops(seq_len=32, batch_size=4)(arch, ctx)[0] == space.flops(arch, seq_len=32, batch_size=4)


def test_error_is_one_minus_validation_accuracy_on_the_fixed_subset(tiny_with_tokenizer, tiny_task):
    sn = tiny_with_tokenizer
    arch = Arch.uniform(2, 3, 64, 48)
    value, extras = Error(limit=24)(arch, Context(supernet=sn, task=tiny_task))
    expected = evaluate(sn, tiny_task, "validation", arch=arch, limit=24)
    assert value == pytest.approx(1 - expected["accuracy"]) and extras["n"] == 24
    with pytest.raises(ValueError, match="limit"):
        Error(limit=0)


# ---- latency and memory ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["active", "extracted"])
def test_latency_measures_without_side_effects(tiny, mode):
    space = SearchSpace.for_model(tiny, "per-layer")
    outer, timed = space.largest(), space.smallest()
    tiny.train()
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    rng_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    with tiny.activate(outer):
        m = measure_latency(tiny, timed, repeats=10, warmup=1, mode=mode, threads=2, seq_len=16)
        assert tiny.active_arch == outer  # the caller's sub-network is active again
    assert tiny.training and torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items())
    assert m["threads"] == 2 and m["mode"] == mode and m["device"] == "cpu" and len(m["times_ms"]) == 10
    assert 0 < m["q1_ms"] <= m["median_ms"] <= m["q3_ms"] and m["iqr_ms"] >= 0


def test_latency_objective_settings_are_checked_and_recorded(tiny):
    with pytest.raises(ValueError, match="repeats must be >= 10"):
        Latency(repeats=5)
    with pytest.raises(ValueError, match="unknown mode 'tflite'; allowed: active, extracted, onnx"):
        Latency(mode="tflite")
    space = SearchSpace.for_model(tiny, "uniform")
    value, extras = Latency(seq_len=8, repeats=10, warmup=1)(space.smallest(), Context(supernet=tiny, space=space))
    assert value > 0 and set(extras) == {"iqr_ms", "threads", "noisy", "rel_spread", "attempts"}
    assert Latency(threads=1).config()["threads"] == 1


def test_peak_tensor_tracker_counts_live_tensors_only():
    with torch.inference_mode(), _PeakTensorMemory([]) as t:
        a = torch.ones(1000, 1000)  # 4 MB
        b = a * 2  # 4 MB more: 8 MB live
        del a
        c = b + 1  # a freed first: still 8 MB
        del b, c
    assert t.peak == 8_000_000 and t.current == 0


def test_memory_is_parameters_plus_peak_activations(tiny):
    space = SearchSpace.for_model(tiny, "per-layer")
    small, large = space.smallest(), space.largest()
    m_small = measure_memory(tiny, small, seq_len=32)
    m_large = measure_memory(tiny, large, seq_len=32)
    m_batch = measure_memory(tiny, large, seq_len=32, batch_size=8)
    for m, arch in ((m_small, small), (m_large, large)):
        assert m["param_bytes"] == space.params(arch) * 4
        assert m["peak_bytes"] == m["param_bytes"] + m["activation_bytes"] and m["activation_bytes"] > 0
    assert m_large["peak_bytes"] > m_small["peak_bytes"]
    assert m_batch["activation_bytes"] > 2 * m_large["activation_bytes"]
    extracted = measure_memory(tiny, large, seq_len=32, mode="extracted")
    assert extracted["param_bytes"] == m_large["param_bytes"] and extracted["activation_bytes"] > 0
    assert Memory(seq_len=32)(small, Context(supernet=tiny))[0] == m_small["peak_bytes"]


# ---- latency predictor -----------------------------------------------------------------------------------------
def test_predictor_recovers_a_linear_latency_and_reports_held_out_quality():
    space = SearchSpace.for_model(MINILM_DIMS, "per-layer")
    archs = space.sample_many(40, rng=1)
    rng = np.random.default_rng(0)
    true = np.array([0.4 + 0.3 * a.layers + 5.0 * space.flops(a, seq_len=64) / 1e9 for a in archs])
    noisy = true * (1 + 0.03 * rng.standard_normal(len(true)))
    p = LatencyPredictor.from_measurements(archs, noisy, space.dims, seq_len=64, holdout=0.25)
    assert p.report["n_test"] == 10 and p.report["n_train"] == 30
    assert p.report["spearman"] > 0.9 and p.report["mape"] < 0.1
    assert p.coef[2] == pytest.approx(5.0, rel=0.2)
    again = LatencyPredictor.from_dict(p.to_dict())
    assert again.predict(archs[0]) == p.predict(archs[0]) and np.allclose(again.predict(archs), p.predict(archs))
    with pytest.raises(ValueError, match="too few"):
        LatencyPredictor.from_measurements(archs[:5], noisy[:5], space.dims)
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)


def test_predictor_fit_on_measured_archs(tiny):
    space = SearchSpace.for_model(tiny, "per-layer")
    p = LatencyPredictor.fit(tiny, space, n=12, latency=Latency(seq_len=16, repeats=10, warmup=1), seed=0)
    assert p.report["n_train"] + p.report["n_test"] == 12 and np.isfinite(p.report["mape"])
    assert p.latency["seq_len"] == 16 and p.seq_len == 16
    assert p.predict(space.largest()) > 0
    assert "held-out" in repr(p)
