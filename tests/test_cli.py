"""The README's main job, `subnet-kit quickstart`, end to end on the embedded defaults with small settings."""

import json

import pytest

from subnet_kit.cli import main

pytestmark = pytest.mark.minilm


def test_quickstart_runs_end_to_end(tmp_path, capsys):
    rc = main(["quickstart", "--steps", "4", "--archs", "3", "--eval-limit", "48", "--importance-batches", "2",
               "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "params_M" in out and "accuracy" in out and "loaded back" in out
    summary = json.loads((tmp_path / "quickstart.json").read_text())
    assert len(summary["rows"]) == 3 and summary["reload_max_abs_diff"] <= 1e-4
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in summary["rows"])
    assert (tmp_path / "subnetwork" / "model.safetensors").is_file()


def test_cli_bad_input_is_one_clear_line(capsys):
    assert main(["quickstart", "--task", "no-such-task-here", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("subnet-kit: error:") and "movie-snippets" in err
    assert main(["quickstart", "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["quickstart", "--space", "blocks"])
