"""bench_search — at equal budgets, how close does each search strategy get to the best known Pareto front, and do
ours keep up with Optuna's samplers on exactly the same problem?

* One trained super-network: `subnet_kit.recipes.trained_supernet` (the ``two-stage+reorder`` recipe with the settings
  of ``bench_supernet.py``; loaded from the kit's cache when that benchmark or the search CLI
  trained it before). ``--train-steps 0`` searches the untrained one.
* One function: every arch is evaluated once (error on the first ``--eval-limit`` validation sentences, latency or
  any other objective of ``--objectives``), and its values go to a JSONL cache that every strategy, seed and later
  run of this script reads, so all of them optimise exactly the same function (noise in latency included).
* Our strategies (`search(...)` with callables that read the cache) and the peers — Optuna's ``NSGAIISampler`` and
  ``TPESampler`` driven by ask/tell over the same integer genes — run side by side with ``--seeds`` seeds each, up
  to the largest budget. For every run the budget counts *distinct* archs, the same rule for all: a proposal seen
  before is answered from the cache and does not count.
* Reference front: non-dominated points of the union of every run plus ``--reference-samples`` random archs.
  Hypervolumes are normalised with one box for everything (ideal = best, reference point = worst value of each
  objective over all evaluated archs); ``hv_ratio`` = HV of a run's first N evaluations / HV of the reference front.

Prints the result as JSON and writes it to ``--out`` (default ``benchmarks/results/search.json``). Keys:
``hv_ratio_at_100`` (median over seeds, per strategy), ``beats_peers_at_100`` (our best median >= every peer's),
``goal_met`` (also >= 0.97). ``--quick`` runs a small smoke test (its numbers are not meant to be reported).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from subnet_kit import Arch
from subnet_kit._paths import cache_dir
from subnet_kit.objectives import Context, Error, FunctionObjective, Latency, Memory, get_objective
from subnet_kit.pareto import hypervolume, pareto_mask
from subnet_kit.recipes import TRAIN_LR, TRAIN_STEPS, trained_supernet
from subnet_kit.search import search

OURS = ("random", "local", "nsga2", "morea", "tpe")
PEERS = ("optuna-nsga2", "optuna-tpe")
RESULTS = Path(__file__).resolve().parent / "results"


def log(msg: str) -> None:
    print(f"[bench_search {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The one function every run sees: cached per arch, on disk
# ---------------------------------------------------------------------------------------------------------------
class CachedFunction:
    """``f(arch) -> {objective: value}``, measured once per arch and appended to a JSONL file."""

    def __init__(self, measures: list, ctx: Context, path: Path) -> None:
        self.measures, self.ctx, self.path = measures, ctx, path
        self.values: dict[str, dict[str, float]] = {}
        self.evaluated_now = 0
        self.seconds = 0.0
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a torn last line: that arch is measured again
                    continue
                self.values[entry["arch"]] = entry["values"]

    def __call__(self, arch: Arch) -> dict[str, float]:
        key = arch.to_json()
        if key not in self.values:
            t0 = time.perf_counter()
            self.values[key] = {o.name: o(arch, self.ctx)[0] for o in self.measures}
            self.seconds += time.perf_counter() - t0
            self.evaluated_now += 1
            with open(self.path, "a") as f:
                f.write(json.dumps({"arch": key, "values": self.values[key]}) + "\n")
        return self.values[key]

    def objective(self, name: str, unit: str) -> FunctionObjective:
        def read(arch: Arch) -> float:
            return self(arch)[name]

        return FunctionObjective(read, name=name, unit=unit)


# ---------------------------------------------------------------------------------------------------------------
# Runs: each returns the objective vectors of its distinct archs, in evaluation order
# ---------------------------------------------------------------------------------------------------------------
def run_ours(strategy: str, f: CachedFunction, space, names: list[str], units: dict, budget: int, seed: int) -> np.ndarray:
    r = search(None, space, None, [f.objective(n, units[n]) for n in names], strategy=strategy, budget=budget,
               seed=seed)
    return r.history[names].to_numpy(dtype=float)


def run_optuna(peer: str, f: CachedFunction, space, names: list[str], budget: int, seed: int,
               max_repeats: int = 200) -> np.ndarray:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.NSGAIISampler(seed=seed, population_size=20) if peer == "optuna-nsga2"
               else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(directions=["minimize"] * len(names), sampler=sampler)
    seen: set[Arch] = set()
    points: list[list[float]] = []
    repeats = 0
    while len(points) < budget and repeats <= max_repeats:  # the same stopping rule as search()
        trial = study.ask()
        arch = space.decode([trial.suggest_int(n, 0, int(u)) for n, u in zip(space.variable_names, space.xu)])
        values = [f(arch)[n] for n in names]
        study.tell(trial, values)
        if arch in seen:
            repeats += 1
            continue
        repeats = 0
        seen.add(arch)
        points.append(values)
    return np.asarray(points, dtype=float)


# ---------------------------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------------------------
def spread(xs: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(xs, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(min(xs)), "max": float(max(xs)),
            "n": len(xs)}


def environment(threads: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.lower().startswith("model name")), cpu)
    except OSError:
        pass
    return {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
            "python": platform.python_version(), "cpu_model": cpu, "cpu_count": os.cpu_count(),
            "torch_num_threads": threads, "loadavg": [round(x, 2) for x in os.getloadavg()]}


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    supernet, space, task, trained = trained_supernet(args.model, args.task, args.space, train_steps=args.train_steps,
                                                      lr=args.train_lr, seed=0, progress=not args.no_progress)
    log(f"super-network: {'untrained' if trained is None else ('cached ' + str(trained.from_cache)) if trained.from_cache else f'trained {trained.steps} steps'}")
    measures = []
    for name in args.objectives.split(","):
        if name == "error":
            measures.append(Error(limit=args.eval_limit))
        elif name == "latency":
            measures.append(Latency(batch_size=1, seq_len=args.seq_len, repeats=args.repeats, threads=threads))
        elif name == "memory":
            measures.append(Memory(batch_size=1, seq_len=args.seq_len))
        else:
            measures.append(get_objective(name))
    names, units = [o.name for o in measures], {o.name: o.unit for o in measures}
    key = {"model": args.model, "task": args.task, "space": space.to_dict(), "train_steps": args.train_steps,
           "train_lr": args.train_lr, "trained_from": getattr(trained, "from_cache", None) and Path(trained.from_cache).name,
           "objectives": [o.config() for o in measures]}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    cache_path = Path(args.cache_file) if args.cache_file else (
        Path(tempfile.mkdtemp(prefix="bench-search-")) if args.quick else cache_dir("bench-search")) / f"values-{digest}.jsonl"
    f = CachedFunction(measures, Context(supernet=supernet, space=space, task=task), cache_path)
    log(f"objective values cached in {cache_path} ({len(f.values)} archs there already)")

    budgets = sorted(args.budgets)
    top = budgets[-1]
    runs: dict[str, list[np.ndarray]] = {}
    wall: dict[str, float] = {}
    for name in [*args.strategies, *args.peers]:
        runs[name] = []
        t0, eval_s0 = time.perf_counter(), f.seconds
        for seed in range(args.seeds):
            pts = run_ours(name, f, space, names, units, top, seed) if name in OURS else \
                run_optuna(name, f, space, names, top, seed)
            runs[name].append(pts)
            log(f"{name} seed {seed}: {len(pts)} distinct archs; {len(f.values)} in the cache")
        wall[name] = time.perf_counter() - t0 - (f.seconds - eval_s0)  # the strategy's own time, not the objectives'
    rng = np.random.default_rng(12345)
    sample = space.sample_many(min(args.reference_samples, space.size()), rng=rng)
    ref_points = np.array([[f(a)[n] for n in names] for a in sample], dtype=float).reshape(-1, len(names))
    log(f"reference sample: {len(sample)} random archs")

    everything = np.vstack([ref_points, *[p for ps in runs.values() for p in ps]])
    ideal, nadir = everything.min(0), everything.max(0)
    ref = nadir + 1e-9 * np.maximum(1.0, np.abs(nadir))  # every evaluated point lies inside the box
    front = everything[pareto_mask(everything)]
    hv_ref = hypervolume(front, ref, ideal)
    key_budget = 100 if 100 in budgets else max(b for b in budgets if b <= 100) if min(budgets) <= 100 else top

    table: dict[str, Any] = {}
    for name, ps in runs.items():
        per_budget = {}
        for b in budgets:
            ratios = []
            for p in ps:
                q = p[:b]
                ratios.append(hypervolume(q, ref, ideal) / hv_ref if np.any(np.all(q < ref, axis=1)) else 0.0)
            per_budget[str(b)] = spread(ratios)
        table[name] = {"hv_ratio": per_budget, "distinct_archs": [len(p) for p in ps],
                       "strategy_time_s_per_seed": wall[name] / args.seeds, "ours": name in OURS}
    at = {n: table[n]["hv_ratio"][str(key_budget)]["median"] for n in table}
    ours = {n: v for n, v in at.items() if n in OURS}
    peers = {n: v for n, v in at.items() if n in PEERS}
    best = max(ours, key=ours.get) if ours else None
    beats = bool(best is not None and all(ours[best] >= v for v in peers.values()))
    summary = {
        f"hv_ratio_at_{key_budget}": at,
        f"beats_peers_at_{key_budget}": beats,
        "best_of_ours": best,
        "goal": f"our best median hv_ratio at {key_budget} >= 0.97 and >= every peer's",
        "goal_met": bool(beats and best is not None and ours[best] >= 0.97),
    }
    return {
        "summary": summary,
        "strategies": table,
        "reference": {"front_size": int(len(front)), "hv": hv_ref, "ideal": ideal.tolist(), "ref_point": ref.tolist(),
                      "random_samples": len(sample), "distinct_archs_evaluated": len(f.values)},
        "settings": {"quick": args.quick, "model": args.model, "task": args.task, "space": args.space,
                     "objectives": [o.config() for o in measures], "units": units, "eval_limit": args.eval_limit,
                     "budgets": budgets, "seeds": args.seeds, "train_steps": args.train_steps,
                     "train_lr": args.train_lr, "supernet_from_cache": getattr(trained, "from_cache", None),
                     "peers": {"optuna-nsga2": "NSGAIISampler(seed, population_size=20)",
                               "optuna-tpe": "TPESampler(seed)"},
                     "value_cache": str(cache_path)},
        "environment": environment(threads),
        "time": {"wall_s": time.perf_counter() - t_start, "objective_evaluations_now": f.evaluated_now,
                 "objective_s_now": f.seconds},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke test: budgets 5/10/20, 2 seeds, 20 reference samples, "
                                                        "32 sentences, untrained super-network, own temporary cache")
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--task", default="movie-snippets")
    p.add_argument("--space", default="per-layer")
    p.add_argument("--objectives", default="error,latency")
    p.add_argument("--strategies", default=",".join(OURS), help="ours, comma-separated")
    p.add_argument("--peers", default=",".join(PEERS), help="Optuna samplers, comma-separated ('' for none)")
    p.add_argument("--budgets", default=None, help="comma-separated (default 25,50,100,200)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per strategy (default 5)")
    p.add_argument("--reference-samples", type=int, default=None, help="random archs added to the reference (default 1000)")
    p.add_argument("--eval-limit", type=int, default=None, help="validation sentences of the error (default 200)")
    p.add_argument("--seq-len", type=int, default=64, help="latency / memory input length (batch 1)")
    p.add_argument("--repeats", type=int, default=15, help="timed repeats per latency measurement")
    p.add_argument("--train-steps", type=int, default=None, help=f"default {TRAIN_STEPS} (quick: 0)")
    p.add_argument("--train-lr", type=float, default=TRAIN_LR)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cache-file", default=None, help="JSONL of objective values (default: in the kit's cache dir)")
    p.add_argument("--out", default=None)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    q = args.quick
    args.budgets = [int(b) for b in (args.budgets or ("5,10,20" if q else "25,50,100,200")).split(",")]
    args.seeds = args.seeds or (2 if q else 5)
    args.reference_samples = args.reference_samples if args.reference_samples is not None else (20 if q else 1000)
    args.eval_limit = args.eval_limit or (32 if q else 200)
    args.train_steps = args.train_steps if args.train_steps is not None else (0 if q else TRAIN_STEPS)
    args.strategies = [s for s in args.strategies.split(",") if s]
    args.peers = [s for s in args.peers.split(",") if s]
    for s in args.strategies:
        if s not in OURS:
            p.error(f"unknown strategy {s!r}; allowed: {', '.join(OURS)}")
    for s in args.peers:
        if s not in PEERS:
            p.error(f"unknown peer {s!r}; allowed: {', '.join(PEERS)}")
    out = Path(args.out) if args.out else (Path(tempfile.gettempdir()) / "search-quick.json" if q else RESULTS / "search.json")
    result = run(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
