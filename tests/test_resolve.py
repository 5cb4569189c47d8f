"""objectives.resolve_objectives and MeasureSettings: names -> configured objectives, a constraint on a quantity that
is not an objective becomes a measured metric, the latency predictor swap, and one clear error per bad input."""

import pytest

from subnet_kit.objectives import (
    OBJECTIVES, Error, Flops, Latency, LatencyPredictor, Memory, MeasureSettings, Params, PredictedLatency,
    predict_latency, resolve_objectives,
)
from subnet_kit.space import ModelDims, SearchSpace

SPACE = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "uniform")
SETTINGS = MeasureSettings(eval_limit=40, batch_size=2, seq_len=32, latency_mode="extracted", threads=1)


def capacity(arch):
    return -sum(arch.heads)


def test_names_become_built_ins_measured_with_the_settings():
    objs, mets = resolve_objectives(["error", "latency", "memory", "flops", "params"], settings=SETTINGS)
    error, latency, memory, flops, params = objs
    assert mets == [] and [o.name for o in objs] == ["error", "latency", "memory", "flops", "params"]
    assert isinstance(error, Error) and error.limit == 40
    assert isinstance(latency, Latency) and (latency.batch_size, latency.seq_len, latency.mode, latency.threads) == (
        2, 32, "extracted", 1)
    assert isinstance(memory, Memory) and (memory.batch_size, memory.seq_len, memory.mode) == (2, 32, "extracted")
    assert isinstance(flops, Flops) and (flops.batch_size, flops.seq_len) == (2, 32)
    assert isinstance(params, Params)
    default = resolve_objectives(["error", "latency"])[0]  # default settings = the objectives' own defaults
    assert default[0].config() == Error().config() and default[1].config() == Latency().config()


def test_instances_stay_and_callables_are_wrapped():
    mine = Latency(seq_len=16, repeats=10)
    objs, _ = resolve_objectives([mine, capacity], settings=SETTINGS)
    assert objs[0] is mine and objs[1].name == "capacity" and objs[1](SPACE.largest(), None)[0] == -12 * 6
    assert [o.name for o in resolve_objectives("params")[0]] == ["params"]  # one name alone is a list of one


def test_a_constraint_on_a_quantity_that_is_not_an_objective_becomes_a_measured_metric():
    objs, mets = resolve_objectives(["error", "params"], ["latency <= 15", "params <= 10e6", "memory <= 1e9"],
                                    settings=SETTINGS)
    assert [o.name for o in objs] == ["error", "params"]  # params is constrained but already an objective
    assert [m.name for m in mets] == ["latency", "memory"]
    assert mets[0].seq_len == 32 and mets[0].mode == "extracted"  # measured with the settings, like an objective
    _, mets = resolve_objectives(["error"], ["latency <= 15", ("latency", "<=", 20)], ["flops"])
    assert [m.name for m in mets] == ["flops", "latency"]  # given metrics first, one metric per quantity


def test_predict_latency_swaps_latency_wherever_it_is_and_keeps_the_measured_one():
    p = LatencyPredictor(SPACE.dims, coef=[1.0, 0.5, 2.0])
    objs, mets = resolve_objectives(["error", "params"], ["latency <= 15"], settings=SETTINGS)
    new_objs, new_mets = predict_latency(objs, mets, p)
    assert new_objs == objs and new_objs is not objs and mets[0].name == "latency"  # inputs untouched
    assert isinstance(new_mets[0], PredictedLatency) and new_mets[0].measured is mets[0]
    with pytest.raises(ValueError, match="latency='predicted' needs 'latency' among the objectives or constraints"):
        predict_latency(objs, [], p)


# ---- bad input: one clear ValueError each ------------------------------------------------------------------------
def test_unknown_name_lists_the_allowed_names():
    allowed = ", ".join(OBJECTIVES)
    with pytest.raises(ValueError, match=f"unknown objective 'speed'; allowed: {allowed}, an Objective"):
        resolve_objectives(["error", "speed"])
    with pytest.raises(ValueError, match="unknown objective 'accuracy' \\(maximising accuracy is minimising 'error'\\)"):
        resolve_objectives(["params"], metrics=["accuracy"])


def test_constraint_on_an_unknown_quantity_names_the_objectives_and_the_built_ins():
    with pytest.raises(ValueError, match="constraint 'speed <= 3' is on 'speed', which is neither an objective of "
                                         "this search \\(capacity, params\\) nor a built-in one \\(error, params"):
        resolve_objectives(["params", capacity], ["speed <= 3"])
    assert resolve_objectives([capacity], ["capacity <= 3"])[1] == []  # a constraint on a custom objective is fine


@pytest.mark.parametrize("objectives, metrics, message", [
    ([], (), "no objectives given; pass one or more of error, params, flops, latency, memory"),
    (["params", "params"], (), "objective names must be distinct, got \\['params', 'params'\\]"),
    (["params"], ["params"], "metric names must be distinct and differ from the objectives' \\(params\\)"),
    (["params"], ["flops", "flops"], "metric names must be distinct"),
])
def test_repeated_or_missing_names(objectives, metrics, message):
    with pytest.raises(ValueError, match=message):
        resolve_objectives(objectives, metrics=metrics)


def test_constraint_in_another_unit():
    with pytest.raises(ValueError, match="constraint 'latency <= 15 s' is in 's' but latency is measured in 'ms'"):
        resolve_objectives(["error"], ["latency <= 15 s"])


@pytest.mark.parametrize("kwargs, message", [
    ({"eval_limit": 0}, "limit \\(evaluation examples\\) must be >= 1 or None"),
    ({"latency_mode": "fast"}, "unknown mode 'fast'; allowed: active, extracted"),
    ({"batch_size": 0}, "batch_size"),
    ({"threads": 0}, "threads must be >= 1 or None"),
])
def test_bad_settings_fail_when_made(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MeasureSettings(**kwargs)
