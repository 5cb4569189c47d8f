"""The course runs: every notebook in ``notebooks/`` is executed headless with papermill and small parameters, and
what it produced is checked.

Conventions every notebook follows (so that this one file tests them all):

* a cell tagged ``parameters``; the small CI values are in ``tests/notebook_params/<notebook stem>.json`` (a
  notebook without that file fails here: it would otherwise go untested);
* a parameter ``out_dir``; the notebook ends by writing ``<out_dir>/summary.json`` with the real outputs it
  produced, and by ``assert`` cells of its own. Known keys of the summary are checked below: ``pareto_rows`` (>= 2),
  ``chart_points`` and ``evaluations`` (the live/static chart's data holds every evaluated point),
  ``reload_max_abs_diff`` (an exported model reloads with equal logits), ``onnx_max_abs_diff``, and any
  ``*_accuracy`` in [0, 1];
* committed without outputs (checked without running anything).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARAMS = Path(__file__).resolve().parent / "notebook_params"
TIMINGS = ROOT / "notebooks" / ".runtimes.json"  # gitignored record of the last runtimes (for the closing note)


def _ids(paths):
    return [p.stem for p in paths]


def test_the_course_is_there():
    stems = {p.stem.split("_", 1)[0] for p in NOTEBOOKS}
    assert {f"{i:02d}" for i in range(8)} <= stems, f"notebooks present: {_ids(NOTEBOOKS)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_has_parameters_cell(path):
    nb = json.loads(path.read_text())
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert "out_dir" in "".join(tagged[0]["source"]), f"{path.name}: the parameters cell must define out_dir"


def _check_summary(name: str, s: dict) -> None:
    assert s, f"{name}: empty summary"
    if "pareto_rows" in s:
        assert s["pareto_rows"] >= 2, f"{name}: Pareto table has {s['pareto_rows']} rows"
    if "chart_points" in s:
        assert s["chart_points"] == s["evaluations"] > 0, f"{name}: chart holds {s['chart_points']} of {s['evaluations']}"
    for key in ("reload_max_abs_diff", "onnx_max_abs_diff"):
        if key in s:
            assert 0 <= s[key] <= 1e-4, f"{name}: {key} = {s[key]}"
    for key, v in s.items():
        if key.endswith("_accuracy"):
            assert 0.0 <= v <= 1.0, f"{name}: {key} = {v}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, tmp_path):
    import papermill as pm

    params_file = PARAMS / f"{path.stem}.json"
    assert params_file.exists(), f"{path.name}: no CI parameters in {params_file.relative_to(ROOT)}"
    params = json.loads(params_file.read_text())
    declared = {p for p in pm.inspect_notebook(str(path))}
    unknown = set(params) - declared
    assert not unknown, f"{params_file.name}: {sorted(unknown)} are not parameters of {path.name} ({sorted(declared)})"
    out_dir = tmp_path / "out"
    params["out_dir"] = str(out_dir)
    t0 = time.perf_counter()
    pm.execute_notebook(str(path), str(tmp_path / path.name), parameters=params, cwd=str(path.parent),
                        kernel_name="python3", progress_bar=False, request_save_on_cell_execute=False)
    seconds = time.perf_counter() - t0
    summary_file = out_dir / "summary.json"
    assert summary_file.exists(), f"{path.name} did not write {summary_file}"
    _check_summary(path.name, json.loads(summary_file.read_text()))
    try:
        record = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
        record[path.stem] = {"seconds": round(seconds, 1), "cpus": os.cpu_count(), "when": time.strftime("%F %T")}
        TIMINGS.write_text(json.dumps(record, indent=1, sort_keys=True))
    except OSError:
        pass
