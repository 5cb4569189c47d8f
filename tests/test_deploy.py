"""subnet_kit.deploy on a tiny random BERT: extract -> save -> reload -> compare (-> ONNX) -> time, one folder per arch
written atomically; bad input fails before anything is written."""

from __future__ import annotations

import json

import pytest
import torch

from subnet_kit import Arch, load_subnet
from subnet_kit.deploy import DeployReport, Timing, deploy

pytestmark = pytest.mark.usefixtures("one_thread")

ARCH = Arch(2, (4, 2), (128, 16), 32)
FAST = Timing(repeats=10, warmup=1, seq_len=16)


def test_deploy_writes_a_reloadable_folder_and_reports_what_it_measured(tiny, tmp_path):
    tiny.train()
    state = torch.random.get_rng_state()
    report = deploy(tiny, ARCH, tmp_path / "out", timing=FAST)
    assert isinstance(report, DeployReport) and report.ok
    assert report.path.parent == tmp_path / "out" and report.path.is_dir()
    assert load_subnet(report.path).arch == ARCH
    assert 0 <= report.reload_max_abs_diff <= 1e-5 and 0 <= report.active_max_abs_diff <= 1e-4
    assert report.params == load_subnet(report.path).num_parameters() < report.full_params
    assert min(report.latency_ms, report.active_latency_ms, report.full_latency_ms) > 0
    assert report.speedup == pytest.approx(report.full_latency_ms / report.latency_ms)
    assert report.timing["batch_size"] == 1 and report.timing["seq_len"] == 16 and report.timing["threads"] == 1
    assert {"threads", "device", "batch_size", "seq_len"} <= set(report.to_dict())  # flat, as ExportPanel.info was
    saved = json.loads((report.path / "deploy.json").read_text())
    assert saved["arch"] == ARCH.to_dict() and saved["ok"] is True and saved["onnx_path"] is None
    # the caller's super-network and random state are as they were
    assert tiny.training and tiny.active_arch == tiny.dims.full_arch()
    assert torch.equal(state, torch.random.get_rng_state())


def test_deploy_without_timing_and_with_a_name_keeps_the_other_folders(tiny, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    first = deploy(tiny, ARCH, out, name="small", timing=None)
    assert first.path == out / "small" and first.latency_ms is None and first.speedup is None
    other = deploy(tiny, Arch.uniform(1, 1, 16, 16), out, timing=None)
    assert other.path.parent == out and other.path.name != "small"
    assert (out / "notes.txt").read_text() == "the user's own file" and (out / "small").is_dir()


def test_deploy_slugs_differ_per_arch_and_are_plain_names(tiny, tmp_path):
    a, b = deploy(tiny, ARCH, tmp_path, timing=None), deploy(tiny, Arch(2, (4, 2), (128, 32), 32), tmp_path, timing=None)
    assert a.path != b.path and "/" not in a.path.name and a.path.name not in (".", "..")


def test_deploy_onnx_matches(tiny, tmp_path):
    report = deploy(tiny, ARCH, tmp_path, timing=None, onnx=True)
    assert report.onnx_path == report.path / "model.onnx" and report.onnx_path.is_file()
    assert 0 <= report.onnx_max_abs_diff <= 1e-4 and report.ok


def test_a_failed_deploy_leaves_the_earlier_folder_as_it_was(tiny, tmp_path, monkeypatch):
    first = deploy(tiny, ARCH, tmp_path, timing=None)
    before = (first.path / "model.safetensors").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("subnet_kit.export.export_onnx", broken)
    with pytest.raises(OSError, match="disk full"):
        deploy(tiny, ARCH, tmp_path, timing=None, onnx=True)
    assert (first.path / "model.safetensors").read_bytes() == before and not (first.path / "model.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]  # no temporary folder left


@pytest.mark.parametrize("kwargs, match", [
    ({"arch": "L2"}, "arch must be an Arch"),
    ({"arch": Arch.uniform(9, 4, 128, 64)}, "does not fit this super-network"),
    ({"name": "../escape"}, "plain folder name"),
    ({"name": ".."}, "plain folder name"),
    ({"atol": -1.0}, "atol must be a number >= 0"),
    ({"timing": {"repeats": 3}}, "timing must be a deploy.Timing"),
    ({"timing": Timing(seq_len=65)}, "exceeds the model's 64 positions"),
])
def test_deploy_rejects_bad_input_before_writing(tiny, tmp_path, kwargs, match):
    args = {"arch": ARCH, **kwargs}
    with pytest.raises(ValueError, match=match):
        deploy(tiny, args.pop("arch"), tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_deploy_rejects_a_file_as_out_dir_and_a_non_supernet(tiny, tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        deploy(tiny, ARCH, tmp_path / "taken", timing=None)
    assert (tmp_path / "taken").read_text() == "x"
    with pytest.raises(ValueError, match="needs a SuperNet"):
        deploy(torch.nn.Linear(2, 2), ARCH, tmp_path / "out")


def test_timing_rejects_bad_settings():
    for kw, match in (({"repeats": 3}, "repeats must be an int >= 10"), ({"batch_size": 0}, "batch_size"),
                      ({"threads": 0}, "threads must be an int >= 1 or None"), ({"seq_len": True}, "seq_len")):
        with pytest.raises(ValueError, match=match):
            Timing(**kw)


def test_deploy_report_round_trips_through_its_json(tiny, tmp_path):
    report = deploy(tiny, ARCH, tmp_path, timing=FAST)
    saved = json.loads((report.path / "deploy.json").read_text())
    assert saved == json.loads(json.dumps(report.to_dict())) and isinstance(saved["noisy"], bool)


def test_deploy_onnx_int8_timing_and_accuracy(tiny_with_tokenizer, tiny_task, tmp_path, monkeypatch):
    monkeypatch.setenv("SUBNET_KIT_CACHE", str(tmp_path / "cache"))  # the full model's export goes to the kit's cache
    arch = Arch(2, (4, 2), (128, 16), 32)
    report = deploy(tiny_with_tokenizer, arch, tmp_path / "out", timing=FAST, onnx=True, int8=True, task=tiny_task)
    assert report.ok and report.onnx_accuracy_ok
    assert report.onnx_path.is_file() and report.int8_path == report.path / "model.int8.onnx"
    assert report.int8_path.is_file() and not (report.path / "model.plain.onnx").exists()
    assert set(report.onnx_optimization) >= {"optimized", "fused", "reason"}
    assert report.onnx_optimization["optimized"] or report.onnx_optimization["reason"]  # applied, or says why not
    for field in ("onnx_latency_ms", "full_onnx_latency_ms", "int8_latency_ms", "full_latency_iqr_ms"):
        assert getattr(report, field) > 0, field
    assert report.onnx_speedup == pytest.approx(report.full_onnx_latency_ms / report.onnx_latency_ms)
    # accuracies on the test split: torch and ONNX Runtime agree on the same weights; INT8 is measured, not judged
    assert report.eval_split == "test" and report.eval_n == len(tiny_task["test"])
    assert 0 <= report.full_accuracy <= 1 and 0 <= report.int8_accuracy <= 1
    assert abs(report.onnx_accuracy - report.accuracy) * report.eval_n <= 1
    rows = {r["model"]: r for r in report.latency_rows()}
    assert list(rows) == ["full", "sub-network", "sub-network int8"]
    assert rows["full"]["torch_ms"] == report.full_latency_ms and rows["full"]["speedup_torch"] == pytest.approx(1.0)
    assert rows["sub-network"]["onnx_vs_torch"] == pytest.approx(report.latency_ms / report.onnx_latency_ms)
    assert rows["sub-network int8"]["torch_ms"] is None and rows["sub-network int8"]["onnx_ms"] > 0
    saved = json.loads((report.path / "deploy.json").read_text())
    assert saved["int8_accuracy"] == report.int8_accuracy and len(saved["latency_rows"]) == 3


def test_deploy_onnx_accuracy_mismatch_fails_the_check(tiny, tmp_path):
    report = deploy(tiny, ARCH, tmp_path, timing=None)
    assert report.latency_rows() == [] and report.onnx_accuracy_ok is None and report.ok
    report.eval_n, report.accuracy, report.onnx_accuracy = 400, 0.80, 0.79  # 4 examples flipped: more than rounding
    assert report.onnx_accuracy_ok is False and not report.ok
    report.onnx_accuracy = 0.7975  # one example
    assert report.onnx_accuracy_ok and report.ok


@pytest.mark.parametrize("kwargs, match", [
    ({"int8": True}, "int8=True quantises the ONNX file: pass onnx=True"),
    ({"task": "movie-snippets"}, "task must be a Task"),
    ({"eval_limit": 0}, "eval_limit must be an int >= 1 or None"),
    ({"onnx": "yes"}, "onnx must be True or False"),
])
def test_deploy_rejects_bad_onnx_and_accuracy_options_before_writing(tiny, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        deploy(tiny, ARCH, tmp_path / "out", timing=None, **kwargs)
    assert not (tmp_path / "out").exists()
