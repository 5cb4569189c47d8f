"""The README's main job, `subnet-kit quickstart`, end to end on the embedded defaults with small settings: the
weight-sharing super-network (cached), a search (the default strategy, or ``--strategy``) of error against latency,
the Pareto table with the full model as a reference row, the chart, the best sub-network within a latency budget
deployed to ONNX, the torch / ONNX Runtime latency table and the test accuracies, the summary; a second run replays
the search from its log."""

import json

import pytest

from subnet_kit import Arch
from subnet_kit.cli import main
from subnet_kit.strategies import DEFAULT_STRATEGY


@pytest.mark.minilm
def test_quickstart_runs_end_to_end_and_a_second_run_replays_the_search(tmp_path, capsys):
    args = ["quickstart", "--train-steps", "2", "--budget", "6", "--eval-limit", "32", "--test-limit", "64",
            "--threads", "1", "--out", str(tmp_path), "--no-progress"]
    rc = main([*args, "--latency-budget", "80%"])
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err
    out = captured.out
    assert "full model (reference)" in out and "chosen" in out and "hypervolume" in out
    assert "onnx_vs_torch" in out and "speedup_onnx" in out and "test accuracy (64 sentences)" in out
    assert "s in all" in out  # the CLI prints its own wall time
    summary = json.loads((tmp_path / "quickstart.json").read_text())
    assert {"reference", "latency_budget_ms", "chosen", "deploy", "evaluations", "pareto_rows", "hypervolume",
            "wall_time_s", "ok", "training", "train_steps"} <= set(summary)
    assert summary["ok"] is True and summary["evaluations"] == 6 and summary["train_steps"] == 2
    assert summary["strategy"] == DEFAULT_STRATEGY and f"2. {DEFAULT_STRATEGY} search" in out
    ref, chosen, dep = summary["reference"], summary["chosen"], summary["deploy"]
    assert summary["latency_budget_ms"] == pytest.approx(0.8 * ref["latency"])
    assert chosen["latency"] <= summary["latency_budget_ms"]
    assert Arch.from_dict(chosen["arch"]) != Arch.from_dict(ref["arch"])
    assert dep["onnx_accuracy_ok"] is True and dep["eval_n"] == 64 and dep["reload_max_abs_diff"] <= 1e-4
    assert [r["model"] for r in dep["latency_rows"]] == ["full", "sub-network"]
    assert all(r["torch_ms"] > 0 and r["onnx_ms"] > 0 for r in dep["latency_rows"])
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert all((tmp_path / "subnetwork" / f).is_file() for f in ("model.safetensors", "model.onnx", "deploy.json"))
    assert len(list(tmp_path.glob("search-*.jsonl"))) == 1

    # the same settings again: the log does not block it, the search is replayed; an impossible budget says so,
    # exits 1 and keeps every file (the earlier deployment included)
    assert main([*args, "--latency-budget", "0.001"]) == 1
    captured = capsys.readouterr()
    assert "6 evaluations replayed from the log" in captured.out
    assert "no evaluated sub-network is within the latency budget of 0.00 ms" in captured.err
    assert json.loads((tmp_path / "quickstart.json").read_text())["chosen"] is None
    assert (tmp_path / "subnetwork" / "model.onnx").is_file() and (tmp_path / "pareto.png").is_file()

    # another strategy in the same folder: a search of its own, in a log of its own (the first one is kept)
    assert main([*args, "--strategy", "random", "--latency-budget", "80%"]) == 0
    captured = capsys.readouterr()
    assert "2. random search" in captured.out and "replayed" not in captured.out
    assert json.loads((tmp_path / "quickstart.json").read_text())["strategy"] == "random"
    assert len(list(tmp_path.glob("search-*.jsonl"))) == 2


def test_cli_bad_input_is_one_clear_line(capsys, tmp_path):
    assert main(["quickstart", "--task", "no-such-task-here", "--train-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("subnet-kit: error:") and "movie-snippets" in err
    assert main(["quickstart", "--budget", "0"]) == 2
    assert "--budget must be >= 1" in capsys.readouterr().err
    for budget in ("fast", "150%", "-3", "0%"):
        assert main(["quickstart", "--latency-budget", budget, "--out", "/nonexistent/never-written"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("subnet-kit: error: --latency-budget takes a share") and repr(budget) in err
    (tmp_path / "taken").write_text("the user's file")
    assert main(["quickstart", "--out", str(tmp_path / "taken")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "the user's file"
    with pytest.raises(SystemExit):
        main(["quickstart", "--space", "blocks"])
    with pytest.raises(SystemExit):
        main(["quickstart", "--latency-mode", "tflite"])
    with pytest.raises(SystemExit):
        main(["quickstart", "--strategy", "cmaes"])
