"""bench_scale — how much faster is the same search on Ray workers, and where does the driver become the bottleneck?

* One super-network: the embedded default, `subnet_kit.recipes.trained_supernet("minilm-l6", "movie-snippets",
  "per-layer")` (loaded from the kit's cache when the search CLI or ``bench_supernet.py`` trained it before;
  ``--quick`` uses the untrained one).
* One search: strategy ``random``, seed 0, objective ``error`` only (on the first ``--eval-limit`` validation
  sentences), ``--budget`` distinct archs. It runs in process (``workers=1``, torch at 1 thread) and on Ray with 2
  workers of 1 thread each (``workers=2``); the two runs must evaluate the same archs with the same errors (checked,
  ``same_archs`` / ``same_values``), so evaluations per second compare like with like. Rates are over the
  evaluations after the first result: starting the actors and shipping the model to them is reported apart
  (``ray_startup_s``), once per search. Speed-up = (evaluations/s
  with 2 workers) / (evaluations/s in process); goal >= 1.7 on 2 cores.
* Driver overhead per evaluation: the same search with a trivial objective (``params``, analytic, microseconds)
  through the Ray path with the same workers, against in process; (wall on Ray - wall in process) / evaluations
  is what the driver and the transport add per evaluation (ask, submit, wait, log with fsync, tell).
* Projection on paper (Amdahl): with ``t_eval`` the in-process time of one evaluation and ``t_driver`` that
  overhead, the driver's serial share is ``s = t_driver / (t_eval + t_driver)``; N workers give at most
  ``S(N) = 1 / (s + (1 - s) / N)`` and never more than ``1 / t_driver`` evaluations per second. The driver becomes
  the bottleneck once N workers finish evaluations faster than it can hand them out:
  ``N* = (t_eval + t_driver) / t_driver``. This is arithmetic on the measured figures, not a measurement of N
  workers (this machine has 2 cores).

Prints the result as JSON and writes it to ``--out`` (default ``benchmarks/results/scale.json``; ``--quick``: a
temporary file; its numbers are a smoke test, not to be reported).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from subnet_kit import Arch
from subnet_kit.recipes import TRAIN_STEPS, trained_supernet
from subnet_kit.search import Search

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import cpu_model  # noqa: E402  (one way to name the CPU, as bench_deploy)

RESULTS = Path(__file__).resolve().parent / "results"
PROJECT_N = (1, 2, 4, 8, 16, 32, 64, 128)


def log(msg: str) -> None:
    print(f"[bench_scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def environment() -> dict[str, Any]:
    import ray

    return {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
            "ray": ray.__version__, "python": platform.python_version(), "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def timed_search(supernet, space, task, objectives: list[str], budget: int, eval_limit: int, workers: int,
                 ray_address: str | None) -> tuple[float, float, Any]:
    """One random search (seed 0; ``workers=1`` is the in-process path): the seconds to its first result (for
    workers: starting the actors and shipping the model to them), the seconds of the other ``budget - 1``
    evaluations (the steady state that the rates compare), and its `Result`."""
    kwargs: dict[str, Any] = {}
    if workers > 1:
        kwargs.update(workers=workers, ray_address=ray_address, worker_options={"num_cpus": 1, "threads": 1})
    s = Search(supernet, space, task, objectives, strategy="random", budget=budget, seed=0, eval_limit=eval_limit,
               **kwargs)
    try:
        t0 = time.perf_counter()
        s.step()
        t1 = time.perf_counter()
        result = s.run()
        t2 = time.perf_counter()
    finally:
        s.close()
    return t1 - t0, t2 - t1, result


def values(result: Any, name: str) -> dict[str, float]:
    return {Arch.from_json(a).slug(): float(v) for a, v in zip(result.history["arch"], result.history[name])}


def amdahl(t_eval: float, t_driver: float) -> dict[str, Any]:
    """The projection on paper from the two measured times (seconds per evaluation)."""
    t_driver = max(t_driver, 1e-9)
    s = t_driver / (t_eval + t_driver)
    n_star = (t_eval + t_driver) / t_driver
    return {
        "serial_fraction": s,
        "speedup": {str(n): 1.0 / (s + (1.0 - s) / n) for n in PROJECT_N},
        "max_speedup": 1.0 / s,
        "max_evals_per_s": 1.0 / t_driver,
        "driver_bound_from_n": math.ceil(n_star),
        "formula": "S(N) = 1 / (s + (1 - s) / N), s = t_driver / (t_eval + t_driver); the driver is the bottleneck "
                   "from N* = (t_eval + t_driver) / t_driver workers (on paper, from the measured t_eval and "
                   "t_driver; not measured with N workers)",
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    t_start = time.perf_counter()
    torch.set_num_threads(1)  # the in-process baseline: one thread, like each worker
    supernet, space, task, trained = trained_supernet("minilm-l6", "movie-snippets", "per-layer",
                                                      train_steps=args.train_steps, seed=0,
                                                      progress=not args.no_progress)
    log(f"super-network: {'untrained' if trained is None else 'from ' + str(trained.from_cache or 'training')}")
    if args.ray_address is None and not ray.is_initialized():
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    try:
        runs: dict[str, Any] = {}
        for label, objectives, budget in (("error", ["error"], args.budget),
                                          ("trivial", ["params"], args.overhead_budget)):
            start1, serial_s, serial = timed_search(supernet, space, task, objectives, budget, args.eval_limit, 1,
                                                    None)
            log(f"{label}: in process {budget - 1} evaluations after the first in {serial_s:.2f} s")
            start2, ray_s, par = timed_search(supernet, space, task, objectives, budget, args.eval_limit,
                                              args.workers, args.ray_address)
            log(f"{label}: {args.workers} Ray workers {budget - 1} evaluations after the first in {ray_s:.2f} s "
                f"(start-up and first result {start2:.2f} s)")
            name = objectives[0]
            a, b = values(serial, name), values(par, name)
            runs[label] = {"objective": name, "evaluations": budget, "timed_evaluations": budget - 1,
                           "in_process_s": serial_s, "ray_s": ray_s, "in_process_first_s": start1,
                           "ray_startup_and_first_s": start2,
                           "same_archs": set(a) == set(b) and len(a) == budget, "same_values": a == b}
    finally:
        if args.ray_address is None:
            ray.shutdown()

    e, t = runs["error"], runs["trivial"]
    n_e, n_t = e["timed_evaluations"], t["timed_evaluations"]
    eps1, epsn = n_e / e["in_process_s"], n_e / e["ray_s"]
    speedup = epsn / eps1
    t_eval = e["in_process_s"] / n_e
    t_driver = max(0.0, (t["ray_s"] - t["in_process_s"]) / n_t)
    summary = {
        "evals_per_s_1_worker": eps1,
        f"evals_per_s_{args.workers}_workers": epsn,
        "speedup": speedup,
        "same_archs_and_errors": bool(e["same_archs"] and e["same_values"]),
        "t_eval_s": t_eval,
        "driver_overhead_s_per_eval": t_driver,
        "ray_startup_s": e["ray_startup_and_first_s"],
        "goal": f"speed-up >= 1.7 with {args.workers} workers on {os.cpu_count()} cores, same archs and errors",
        "goal_met": bool(speedup >= 1.7 and e["same_archs"] and e["same_values"]),
    }
    return {
        "summary": summary,
        "runs": runs,
        "projection": amdahl(t_eval, t_driver),
        "settings": {"quick": args.quick, "model": "minilm-l6", "task": "movie-snippets", "space": "per-layer",
                     "strategy": "random", "seed": 0, "budget": args.budget, "overhead_budget": args.overhead_budget,
                     "eval_limit": args.eval_limit, "workers": args.workers, "threads_per_worker": 1,
                     "in_process_threads": 1, "train_steps": args.train_steps,
                     "supernet_from_cache": getattr(trained, "from_cache", None),
                     "ray_address": args.ray_address},
        "environment": environment(),
        "time": {"wall_s": time.perf_counter() - t_start},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke test: budget 6, 16 sentences, untrained super-network, "
                                                        "written to a temporary file")
    p.add_argument("--budget", type=int, default=None, help="distinct archs of the error search (default 60)")
    p.add_argument("--overhead-budget", type=int, default=None,
                   help="distinct archs of the trivial-objective search that measures the driver (default 200)")
    p.add_argument("--eval-limit", type=int, default=None, help="validation sentences of the error (default 200)")
    p.add_argument("--workers", type=int, default=2, help="Ray workers of the parallel run (1 thread each)")
    p.add_argument("--train-steps", type=int, default=None, help=f"default {TRAIN_STEPS} (quick: 0)")
    p.add_argument("--ray-address", default=None, help="join this Ray cluster ('auto' or host:port) instead of "
                                                       "starting a local one with --workers CPUs")
    p.add_argument("--out", default=None)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    q = args.quick
    args.budget = args.budget or (6 if q else 60)
    args.overhead_budget = args.overhead_budget or (20 if q else 200)
    args.eval_limit = args.eval_limit or (16 if q else 200)
    args.train_steps = args.train_steps if args.train_steps is not None else (0 if q else TRAIN_STEPS)
    if args.workers < 2:
        p.error(f"--workers must be >= 2 (the parallel run), got {args.workers}")
    out = Path(args.out) if args.out else (Path(tempfile.gettempdir()) / "scale-quick.json" if q else RESULTS / "scale.json")
    result = run(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
