"""The main job, `subnet-kit quickstart`, per search strategy: how long it takes with the super-network cached, and
what it picks.

For each strategy (``--strategies``, default the library's default ``gp`` and the cheaper ``linas``) the quickstart
runs ``--repeats`` times in a new output folder each (a new search each time), the strategies alternated so that
the machine's drift hits them alike; then once more in the folder of its last run, where the search replays its log
(what a user's second run does). A first, untimed run trains the super-network if it is not cached yet and warms
the file cache. Each run is its own process (``python -m subnet_kit.cli``), so import time is in the wall time.

Writes ``results/quickstart.json``: per run the process wall time, the quickstart's own ``wall_time_s``, the
chosen sub-network, its torch and ONNX Runtime latencies and speed-ups against the full model, and the test
accuracies. The search's picks differ from run to run because latency is measured (two runs see slightly different
values), so one run's pick is an example, not a property of the strategy: ``bench_search.py`` compares strategies.
About 6 minutes on an idle 2-core machine with the super-network cached (``--repeats 2``).

    .venv/bin/python benchmarks/bench_quickstart.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_quickstart(strategy: str, out: Path, extra: list[str]) -> dict:
    """One ``subnet-kit quickstart`` in its own process; the measured row (raises with its output on failure)."""
    cmd = [sys.executable, "-m", "subnet_kit.cli", "quickstart", "--strategy", strategy, "--out", str(out),
           "--no-progress", *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    q = json.loads((out / "quickstart.json").read_text())
    d, c = q.get("deploy") or {}, q.get("chosen") or {}
    rows = {r["model"]: r for r in d.get("latency_rows", [])}
    replayed = next((int(line.split()[0]) for line in p.stdout.splitlines() if "evaluations replayed" in line), 0)
    return {
        "strategy": strategy, "process_wall_s": round(wall, 2), "quickstart_wall_s": round(q["wall_time_s"], 2),
        "replayed": replayed, "evaluations": q["evaluations"], "chosen_eval": c.get("eval"),
        "chosen_arch": c.get("arch"),
        "chosen_params_M": None if not c else round(c["params"] / 1e6, 2),
        "full_torch_ms": rows.get("full", {}).get("torch_ms"),
        "sub_torch_ms": rows.get("sub-network", {}).get("torch_ms"),
        "full_onnx_ms": rows.get("full", {}).get("onnx_ms"), "sub_onnx_ms": rows.get("sub-network", {}).get("onnx_ms"),
        "speedup_torch": d.get("speedup"), "speedup_onnx": d.get("onnx_speedup"),
        "full_test_accuracy": d.get("full_accuracy"), "sub_test_accuracy": d.get("accuracy"),
        "sub_onnx_test_accuracy": d.get("onnx_accuracy"), "ok": q.get("ok"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--strategies", default="gp,linas", help="comma-separated registered strategy names")
    p.add_argument("--repeats", type=int, default=2, help="new-folder runs per strategy (alternated)")
    p.add_argument("--out", default=str(HERE / "results" / "quickstart.json"))
    p.add_argument("--quickstart-args", default="", help="extra quickstart options, e.g. '--budget 10' (smoke test)")
    args = p.parse_args(argv)
    from subnet_kit.strategies import DEFAULT_STRATEGY, STRATEGIES

    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unknown = [n for n in names if n not in STRATEGIES]
    if not names or unknown:
        p.error(f"--strategies: unknown {unknown or 'none given'}; allowed: {', '.join(sorted(STRATEGIES))}")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    extra = args.quickstart_args.split()
    work = Path(tempfile.mkdtemp(prefix="bench-quickstart-"))
    try:
        t0 = time.perf_counter()
        run_quickstart(names[0], work / "warmup", extra)  # trains the super-network if needed; not reported
        print(f"[bench_quickstart] warm-up run (trains the super-network if not cached): "
              f"{time.perf_counter() - t0:.0f} s",
              flush=True)
        runs, last = [], {}
        for rep in range(args.repeats):
            for name in names:
                last[name] = work / f"{name}-{rep}"
                row = {**run_quickstart(name, last[name], extra), "kind": "new search", "repeat": rep}
                runs.append(row)
                print(f"[bench_quickstart] {name} new search {rep}: {row['quickstart_wall_s']:.1f} s", flush=True)
        for name in names:  # a user's second run: the same folder, the search replays its log
            row = {**run_quickstart(name, last[name], extra), "kind": "second run (log replayed)", "repeat": None}
            runs.append(row)
            print(f"[bench_quickstart] {name} second run: {row['quickstart_wall_s']:.1f} s "
                  f"({row['replayed']} replayed)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {}
    for name in names:
        new = sorted(r["quickstart_wall_s"] for r in runs if r["strategy"] == name and r["kind"] == "new search")
        again = [r["quickstart_wall_s"] for r in runs if r["strategy"] == name and r["kind"] != "new search"]
        summary[name] = {"new_search_wall_s": new, "second_run_wall_s": again}
    record = {
        "benchmark": "quickstart", "default_strategy": DEFAULT_STRATEGY,
        "settings": {"strategies": names, "repeats": args.repeats, "quickstart_args": extra,
                     "supernet": "cached (a warm-up run before the timed ones)"},
        "summary": summary, "runs": runs,
        "environment": {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "python": platform.python_version(),
                        "cpu_count": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    for name, s in summary.items():
        print(f"{name}: new search {s['new_search_wall_s']} s; second run {s['second_run_wall_s']} s")
    print(f"[bench_quickstart] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
