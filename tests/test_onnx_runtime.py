"""The ONNX Runtime path (`subnet_kit.onnx_runtime`): sessions that do not spin, latency timed with the kit's one
timing loop and noise rule, graph optimisation that falls back with a reason, INT8 only when asked, accuracy of an
exported model, the export cache, and latency mode ``"onnx"`` in objectives, search, predictor, CLI and picker."""

from __future__ import annotations

import gc
import itertools
import weakref
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from conftest import tiny_supernet
from subnet_kit import SearchSpace, search
from subnet_kit import onnx_runtime as ort_kit
from subnet_kit.export import export_onnx, read_metadata
from subnet_kit.objectives import (
    Context, Latency, LatencyPredictor, MeasureSettings, Memory, measure_latency, probe_inputs, resolve_objectives,
)
from subnet_kit.space import Arch
from subnet_kit.train import evaluate

HET = Arch(2, (4, 2), (128, 64), 64)  # a heterogeneous sub-network of the tiny BERT


@pytest.fixture(autouse=True)
def shared_cache(tmp_path_factory, monkeypatch):
    """One kit cache for this module: the tiny BERT's exports are made once and reused across tests."""
    root = tmp_path_factory.getbasetemp() / "onnx-kit-cache"
    monkeypatch.setenv("SUBNET_KIT_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def het_onnx(tmp_path_factory) -> Path:
    """The plain (unoptimised) export of HET."""
    return export_onnx(tiny_supernet().extract(HET), tmp_path_factory.mktemp("onnx") / "het.onnx")


def test_sessions_do_not_spin_and_use_the_threads_asked_for(het_onnx):
    s = ort_kit.ort_session(het_onnx, threads=2)
    opts = s.get_session_options()
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert s.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="threads must be an int >= 1 or None"):
        ort_kit.ort_session(het_onnx, threads=0)
    with pytest.raises(ValueError, match="no ONNX file at"):
        ort_kit.ort_session(het_onnx.with_name("missing.onnx"))


def test_the_export_carries_the_kits_metadata(het_onnx, tmp_path):
    meta = read_metadata(het_onnx)
    assert meta["arch"] == HET.to_dict() and meta["dims"]["vocab_size"] == 120
    assert ort_kit.onnx_dims(het_onnx).hidden == 64
    bare = onnx.load(str(het_onnx))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ValueError, match="no subnet_kit metadata .* pass dims="):
        ort_kit.measure_onnx_latency(tmp_path / "bare.onnx")


def test_onnx_latency_has_the_torch_fields_and_one_session_released(het_onnx, monkeypatch):
    torch_m = measure_latency(tiny_supernet(), HET, repeats=10, warmup=1, seq_len=16, threads=1)
    made = []

    class Tracked:
        def __init__(self, session):
            self.session = session

        def __getattr__(self, name):
            return getattr(self.session, name)

    real = ort_kit.ort_session

    def tracked(path, threads=None):
        t = Tracked(real(path, threads))
        made.append(weakref.ref(t))
        return t

    monkeypatch.setattr(ort_kit, "ort_session", tracked)
    m = ort_kit.measure_onnx_latency(het_onnx, repeats=10, warmup=1, seq_len=16, threads=1)
    gc.collect()
    assert len(made) == 1 and made[0]() is None  # one session, and it is gone when the measurement returns
    assert set(torch_m) <= set(m) and m["mode"] == "onnx" and m["threads"] == 1 and len(m["times_ms"]) == 10
    assert 0 < m["q1_ms"] <= m["median_ms"] <= m["q3_ms"] and m["runtime"].startswith("onnxruntime")


def test_onnx_latency_uses_the_kits_noise_rule(het_onnx, monkeypatch):
    # the clock of objectives.time_forward: every other run 10x slower, so every attempt is noisy
    from test_latency import fake_timing

    fake_timing(monkeypatch, itertools.cycle([1.0, 10.0]))
    m = ort_kit.measure_onnx_latency(het_onnx, repeats=10, warmup=1, seq_len=8, threads=1, max_attempts=2)
    assert m["noisy"] is True and m["attempts"] == 2 and m["rel_spread"] > 0.2
    with pytest.raises(ValueError, match="repeats must be >= 10"):
        ort_kit.measure_onnx_latency(het_onnx, repeats=3)


def _logits(path: Path, dims, batch: int = 2, seq: int = 12) -> np.ndarray:
    ids, mask = (t.numpy() for t in probe_inputs(dims, batch, seq))
    mask[1, seq // 2:] = 0
    return ort_kit.run_logits(ort_kit.ort_session(path, 1), ids, mask)


def test_optimized_graph_is_fused_and_matches_torch(het_onnx, tmp_path):
    report = ort_kit.optimize_onnx(het_onnx, tmp_path / "fused.onnx")
    assert report["optimized"] is True and report["reason"] is None
    assert report["fused"].get("SkipLayerNormalization", 0) >= 2 and report["max_abs_diff"] <= 1e-4
    ops = {n.op_type for n in onnx.load(str(tmp_path / "fused.onnx")).graph.node}
    assert "SkipLayerNormalization" in ops
    sub = tiny_supernet().extract(HET)
    ids, mask = probe_inputs(sub.dims, 2, 12)
    mask[1, 6:] = 0
    with torch.inference_mode():
        ref = sub(ids, mask).numpy()
    assert np.abs(_logits(tmp_path / "fused.onnx", sub.dims) - ref).max() <= 1e-4


def test_optimization_falls_back_to_the_plain_graph_with_a_reason(het_onnx, tmp_path, monkeypatch):
    monkeypatch.setattr(ort_kit, "_graphs_max_diff", lambda a, b, dims: 0.5)
    report = ort_kit.optimize_onnx(het_onnx, tmp_path / "a.onnx")
    assert report["optimized"] is False and "differ by 0.5 > atol" in report["reason"]
    assert (tmp_path / "a.onnx").read_bytes() == het_onnx.read_bytes()

    import onnxruntime.transformers.optimizer as optimizer

    def broken(*args, **kwargs):
        raise RuntimeError("no pattern")

    monkeypatch.setattr(optimizer, "optimize_model", broken)
    report = ort_kit.optimize_onnx(het_onnx, tmp_path / "b.onnx")
    assert report["optimized"] is False and "optimizer failed: RuntimeError: no pattern" in report["reason"]
    assert (tmp_path / "b.onnx").read_bytes() == het_onnx.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx"]  # no temporary file left


def test_int8_is_quantized_matmuls_and_close_to_fp32(het_onnx, tmp_path):
    q = ort_kit.quantize_int8(het_onnx, tmp_path / "int8.onnx")
    ops = {n.op_type for n in onnx.load(str(q)).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLinear"}
    assert read_metadata(q)["precision"] == "int8" and "precision" not in read_metadata(het_onnx)
    dims = ort_kit.onnx_dims(het_onnx)
    fp32, int8 = _logits(het_onnx, dims), _logits(q, dims)
    assert not np.array_equal(fp32, int8) and np.abs(fp32 - int8).max() < 0.1 * np.abs(fp32).max() + 0.05
    with pytest.raises(ValueError, match="no ONNX file at"):
        ort_kit.quantize_int8(tmp_path / "none.onnx", tmp_path / "x.onnx")


def test_onnx_evaluate_equals_torch_evaluate(tiny_with_tokenizer, tiny_task, tmp_path):
    sub = tiny_with_tokenizer.extract(HET)
    path = export_onnx(sub, tmp_path / "m.onnx")
    ref = evaluate(sub, tiny_task, "test", batch_size=16)
    got = ort_kit.onnx_evaluate(path, tiny_task, sub.tokenizer, "test", batch_size=16, threads=1)
    assert got["n"] == ref["n"] == len(tiny_task["test"]) and got["accuracy"] == ref["accuracy"]
    assert got["loss"] == pytest.approx(ref["loss"], abs=1e-4) and got["error"] == pytest.approx(1 - got["accuracy"])
    assert ort_kit.onnx_evaluate(path, tiny_task, sub.tokenizer, "test", limit=7, threads=1)["n"] == 7


def test_the_export_cache_never_exports_an_arch_twice(monkeypatch, shared_cache):
    calls = []
    real = ort_kit.export_onnx
    monkeypatch.setattr(ort_kit, "export_onnx", lambda *a, **k: calls.append(1) or real(*a, **k))
    net = tiny_supernet()
    kw = dict(repeats=10, warmup=1, seq_len=16, threads=1, mode="onnx")
    first = measure_latency(net, HET, **kw)
    n_first = len(calls)
    again = measure_latency(net, HET, **kw)
    assert len(calls) == n_first and again["exported"] is False and again["onnx_path"] == first["onnx_path"]
    assert Path(first["onnx_path"]).is_relative_to(shared_cache / "onnx")
    info = (Path(first["onnx_path"]).parent / "export.json").read_text()
    assert '"optimization"' in info and '"weights"' in info
    with torch.no_grad():  # new weights: a new entry
        net.classifier.bias.add_(1.0)
    changed = measure_latency(net, HET, **kw)
    assert changed["exported"] is True and changed["onnx_path"] != first["onnx_path"] and len(calls) == n_first + 1


def test_onnx_mode_through_objective_settings_cli_and_picker():
    lat = MeasureSettings(seq_len=16, latency_mode="onnx", threads=1).objective("latency")
    assert isinstance(lat, Latency) and lat.mode == "onnx"
    assert MeasureSettings(latency_mode="onnx").objective("memory").mode == "extracted"  # memory stays in torch
    with pytest.raises(ValueError, match="unknown mode 'onnx'; allowed: active, extracted"):
        Memory(mode="onnx")
    with pytest.raises(ValueError, match="allowed: active, extracted, onnx"):
        MeasureSettings(latency_mode="tensorrt")
    space = SearchSpace.for_model(tiny_supernet(), "per-layer")
    value, extras = lat(HET, Context(supernet=tiny_supernet(), space=space))
    assert value > 0 and {"noisy", "rel_spread", "attempts", "threads"} <= set(extras)

    from subnet_kit.cli import build_parser

    args = build_parser().parse_args(["search", "--latency-mode", "onnx"])
    assert args.latency_mode == "onnx"

    from subnet_kit_widgets import ObjectivePicker

    picker = ObjectivePicker(objectives=("error", "latency"), latency_mode="onnx", threads=1)
    assert picker.measure_settings().latency_mode == "onnx" and "onnx" in picker._mode.options


def test_a_search_and_the_predictor_in_onnx_mode(tiny_task, tiny_tokenizer, tmp_path):
    net = tiny_supernet(num_labels=2)
    net.tokenizer = tiny_tokenizer
    space = SearchSpace.for_model(net, "layer")
    settings = MeasureSettings(eval_limit=20, seq_len=16, latency_mode="onnx", threads=1)
    objectives, _ = resolve_objectives(["error", "latency"], settings=settings)
    result = search(net, space, tiny_task, objectives, strategy="random", budget=3, log=tmp_path / "run.jsonl")
    h = result.history
    assert len(h) == 3 and {"latency_noisy", "latency_rel_spread", "latency_attempts"} <= set(h.columns)
    assert (h["latency"] > 0).all() and h["latency_noisy"].map(type).eq(bool).all()
    latency = Latency(seq_len=16, threads=1, repeats=10, warmup=1, mode="onnx")
    p = LatencyPredictor.fit(net, SearchSpace.for_model(net, "per-layer"), n=4, latency=latency, holdout=0.0)
    assert len(p.coef) == 3 and p.latency["mode"] == "onnx" and p.report["n_train"] == 4


def test_the_export_cache_is_pruned_least_recently_used_first(tmp_path):
    import os

    for i, name in enumerate(["old", "mid", "new"]):
        d = tmp_path / name
        d.mkdir()
        (d / "model.onnx").write_bytes(b"x" * 100)
        os.utime(d, (1000 + i, 1000 + i))
    assert ort_kit.prune_exports(tmp_path, max_bytes=250, keep=tmp_path / "old") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]
    assert ort_kit.prune_exports(tmp_path, max_bytes=1000) == 0
