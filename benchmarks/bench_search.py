"""bench_search — does the search beat random search and the strongest peers, measured on held-out (test) values?

The problem: the ``uniform`` space of the default trained super-network of movie-snippets (17,280 sub-networks),
tabulated by ``search_table.py``: every arch's error on the whole validation split (1,004 sentences) and on the whole
test split (1,004 others). Because the table holds every arch, the benchmark is exact and cheap to repeat, as
NAS-Bench-201 / HW-NAS-Bench are:

* **Search on validation, score on test.** Every strategy minimises the *validation* error and a cost; the front it
  reports after ``b`` distinct archs (its validation-non-dominated evaluations) is re-evaluated on the *test* split,
  and the hypervolume is computed on those test values. A lucky validation draw does not help on test.
* **Reference front**: the test-non-dominated set of the union of every run's reported front and of the front a
  search evaluating *all* 17,280 archs would report (the longest possible run). ``hv_ratio`` = a run's test
  hypervolume / the reference's, in one box for everything: ideal = the best test error and cost of the table,
  reference point = the reference front's worst values plus 10 % of their range (`pareto.default_bounds`).
  ``oracle`` = the ratio of that exhaustive run alone.
* **Two objective pairs**: error x latency and error x parameters. Latency comes from a `LatencyPredictor` fitted on
  archs measured here (``--latency-samples``; its Spearman rho and MAPE on held-out archs are reported), so timing
  noise does not decide rankings; the fronts' latencies are measured for real and reported beside.
* **Strategies**: ours (`search(...)` by name: every one of `subnet_kit.strategies` that the run names) and the
  peers through their own public APIs over the same integer genes: Optuna's ``NSGAIISampler``, ``TPESampler`` and
  ``GPSampler`` (multi-objective logEHVI), each seeded, with its defaults; random search is the floor. The budget
  counts *distinct* archs for all (a repeated proposal is answered from the table and not counted).
* **Noise**: median and IQR over ``--seeds`` seeds at each budget; two strategies whose IQRs overlap are reported
  as within noise of each other.

Every run (strategy, objective pair, seed) is cached in the kit's cache, keyed by the table, the settings and the
source of the strategy, so a re-run only computes what changed. Writes ``benchmarks/results/search.json``.
``--quick``: a smoke test (its numbers are not meant to be reported).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import inspect
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from subnet_kit import Arch
from subnet_kit._paths import cache_dir
from subnet_kit.objectives import FunctionObjective
from subnet_kit.pareto import default_bounds, hypervolume, pareto_mask
from subnet_kit.search import search
from subnet_kit.space import SearchSpace, count_params
from subnet_kit.strategies import DEFAULT_STRATEGY, STRATEGIES

OURS = ("random", "nsga2", "morea", "local", "tpe", "gp", "linas")
PEERS = ("optuna-nsga2", "optuna-tpe", "optuna-gp", "synetune-morea", "synetune-ehvi")
# run by default; synetune-ehvi (syne-tune 0.16.0's EHVI) fails with botorch 0.18.1 ("expected scalar type Double but
# found Float" in botorch's fused log-EHVI kernel): name it with --peers to try it on another stack
DEFAULT_PEERS = PEERS[:4]
SYNETUNE = Path(__file__).resolve().parent / "peer_synetune.py"
PAIRS = ("latency", "params")
UNITS = {"error": "fraction", "latency": "ms", "params": "parameters"}
RESULTS = Path(__file__).resolve().parent / "results"
TABLE = "search-table/minilm-l6-movie-snippets-uniform-seed0"


def log(msg: str) -> None:
    print(f"[bench_search {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The tabulated problem
# ---------------------------------------------------------------------------------------------------------------
class Table:
    """The table of ``search_table.py``: per arch, validation and test error; plus params and predicted latency."""

    def __init__(self, folder: Path) -> None:
        file = folder / "table.json"
        if not file.is_file():
            raise SystemExit(f"no table at {folder}: build it with `python benchmarks/search_table.py` (every arch of "
                             f"the uniform space, ~1 s per arch and split on one CPU core, ~6 min on one GPU)")
        raw = json.loads(file.read_text())
        self.settings = raw["settings"]
        self.space = SearchSpace.from_dict(self.settings["space_dict"])
        self.archs = [Arch.from_json(a) for a in raw["archs"]]
        self.index = {a: i for i, a in enumerate(self.archs)}
        self.error = {"validation": np.array(raw["error_validation"]), "test": np.array(raw["error_test"])}
        self.params = np.array([count_params(self.space.dims, a) for a in self.archs], dtype=float)
        self.latency: np.ndarray | None = None  # predicted, set by set_latency
        self.digest = hashlib.sha1(file.read_bytes()).hexdigest()[:12]
        self.full = self.index[self.space.decode(self.space.xu)]
        shape = self.space.xu - self.space.xl + 1
        if np.any(self.space.xl != 0) or len(self.archs) != int(np.prod(shape)) or any(
                self.space.decode(np.unravel_index(i, shape)) != self.archs[i] for i in (0, len(self.archs) // 3, len(self.archs) - 1)):
            raise SystemExit(f"{file}: the archs are not in the order of the space's genes; rebuild the table")

    def set_latency(self, predictor: Any) -> None:
        self.latency = np.asarray(predictor.predict(self.archs), dtype=float)

    def cost(self, pair: str) -> np.ndarray:
        return self.latency if pair == "latency" else self.params

    def i(self, arch: Arch) -> int:
        return self.index[arch]


# ---------------------------------------------------------------------------------------------------------------
# Latency: a predictor fitted on archs measured here (cached), and the fronts measured for real
# ---------------------------------------------------------------------------------------------------------------
def latency_setup(table: Table, args: argparse.Namespace, folder: Path) -> tuple[Any, Any]:
    """``(predictor, measure)``: the fitted `LatencyPredictor` (cached with its measurements) and a function
    ``archs -> measured ms`` (None under ``--quick`` without a super-network)."""
    import torch

    from subnet_kit.objectives import Context, Latency, LatencyPredictor
    from subnet_kit.recipes import trained_supernet

    torch.set_num_threads(args.threads)
    lat = Latency(batch_size=1, seq_len=args.seq_len, repeats=args.repeats, threads=args.threads)
    cache = folder / f"latency-{hashlib.sha1(json.dumps([lat.config(), platform.node()]).encode()).hexdigest()[:10]}.json"
    measured: dict[str, float] = json.loads(cache.read_text()) if cache.is_file() else {}
    state: dict[str, Any] = {}

    def measure(archs: list[Arch]) -> list[float]:
        todo = [a for a in archs if a.to_json() not in measured]
        if todo:
            if "ctx" not in state:
                sn, _, _, trained = trained_supernet(table.settings["model"], table.settings["task"], "per-layer",
                                                     seed=table.settings["seed"], progress=False)
                if trained is not None and Path(trained.from_cache or "").name != table.settings.get("supernet"):
                    log(f"warning: the cached super-network {trained.from_cache} is not the table's "
                        f"{table.settings.get('supernet')} (latency does not depend on the weights)")
                state["ctx"] = Context(supernet=sn, space=SearchSpace.for_model(sn, table.settings["space"]))
            for a in todo:
                measured[a.to_json()] = lat(a, state["ctx"])[0]
            cache.write_text(json.dumps(measured))
        return [measured[a.to_json()] for a in archs]

    rng = np.random.default_rng(0)
    sample = [table.archs[0], table.archs[table.full],
              *[table.archs[i] for i in rng.choice(len(table.archs), args.latency_samples - 2, replace=False)]]
    ms = measure(sample)
    predictor = LatencyPredictor.from_measurements(sample, ms, table.space.dims, seq_len=args.seq_len, holdout=1 / 3,
                                                   seed=0, latency=lat.config())
    return predictor, measure


# ---------------------------------------------------------------------------------------------------------------
# Runs: each returns the table indices of its distinct archs, in evaluation order (cached)
# ---------------------------------------------------------------------------------------------------------------
def run_ours(name: str, table: Table, pair: str, budget: int, seed: int) -> list[int]:
    val, cost = table.error["validation"], table.cost(pair)
    objectives = [FunctionObjective(lambda a: val[table.i(a)], name="error", unit=UNITS["error"]),
                  FunctionObjective(lambda a: cost[table.i(a)], name=pair, unit=UNITS[pair])]
    r = search(None, table.space, None, objectives, strategy=name, budget=budget, seed=seed)
    return [table.i(Arch.from_json(a) if isinstance(a, str) else a) for a in r.history["arch"]]


def run_optuna(name: str, table: Table, pair: str, budget: int, seed: int, max_repeats: int = 200) -> list[int]:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    sampler = {"optuna-nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
               "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed),
               "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed)}[name]()
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    val, cost, space = table.error["validation"], table.cost(pair), table.space
    order: list[int] = []
    seen: set[int] = set()
    repeats = 0
    while len(order) < budget and repeats <= max_repeats:  # the same stopping rule as search()
        trial = study.ask()
        i = table.i(space.decode([trial.suggest_int(n, 0, int(u)) for n, u in zip(space.variable_names, space.xu)]))
        study.tell(trial, [float(val[i]), float(cost[i])])
        if i in seen:
            repeats += 1
            continue
        repeats = 0
        seen.add(i)
        order.append(i)
    return order


def run_synetune(name: str, table: Table, pair: str, budget: int, seed: int, python: str) -> list[int]:
    """A syne-tune searcher, run by ``peer_synetune.py`` with the Python of an environment that has syne-tune."""
    import subprocess

    job = {"searcher": name.split("-", 1)[1], "seed": seed, "budget": budget, "xu": table.space.xu.tolist(),
           "values": np.column_stack([table.error["validation"], table.cost(pair)]).tolist()}
    out = subprocess.run([python, str(SYNETUNE)], input=json.dumps(job), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed ({python} {SYNETUNE}): {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)["order"]


_WORKER: dict[str, Any] = {}


def _worker_init(folder: str, synetune_python: str | None, latency: np.ndarray | None) -> None:
    import torch

    torch.set_num_threads(1)
    table = Table(Path(folder))
    table.latency = latency
    _WORKER.update(table=table, synetune_python=synetune_python)


def _worker_run(name: str, pair: str, budget: int, seed: int, runs_dir: str) -> tuple[list[int], float]:
    return cached_run(name, _WORKER["table"], pair, budget, seed, Path(runs_dir), _WORKER["synetune_python"])


_DIGESTS: dict[str, str] = {}


def source_digest(name: str) -> str:
    """The code a run depends on: the strategy's module (ours) or the Optuna version (peers). Read once per process,
    at the first run, so that a file edited while a long benchmark runs cannot label runs of the old code."""
    if name not in _DIGESTS:
        _DIGESTS[name] = _source_digest(name)
    return _DIGESTS[name]


def _source_digest(name: str) -> str:
    if name in STRATEGIES:
        import subnet_kit.strategies.base as base

        text = inspect.getsource(inspect.getmodule(STRATEGIES[name])) + inspect.getsource(base)
        return hashlib.sha1(text.encode()).hexdigest()[:12]
    if name.startswith("synetune"):
        return hashlib.sha1(SYNETUNE.read_bytes()).hexdigest()[:12]
    import optuna

    return f"optuna-{optuna.__version__}"


def cached_run(name: str, table: Table, pair: str, budget: int, seed: int, folder: Path,
               synetune_python: str | None = None) -> tuple[list[int], float]:
    key = {"name": name, "pair": pair, "budget": budget, "seed": seed, "table": table.digest,
           "latency": None if pair != "latency" else hashlib.sha1(table.latency.tobytes()).hexdigest()[:12],
           "code": source_digest(name)}
    file = folder / f"{name}-{pair}-s{seed}-{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]}.json"
    if file.is_file():
        d = json.loads(file.read_text())
        return d["order"], d["seconds"]
    t0 = time.perf_counter()
    if name in STRATEGIES:
        order = run_ours(name, table, pair, budget, seed)
    elif name.startswith("synetune"):
        order = run_synetune(name, table, pair, budget, seed, synetune_python)
    else:
        order = run_optuna(name, table, pair, budget, seed)
    seconds = time.perf_counter() - t0
    file.write_text(json.dumps({"key": key, "order": order, "seconds": seconds}))
    return order, seconds


# ---------------------------------------------------------------------------------------------------------------
# Scoring on test values
# ---------------------------------------------------------------------------------------------------------------
def reported_front(table: Table, pair: str, idx: Any) -> np.ndarray:
    """Indices of the validation-non-dominated archs among ``idx`` (what a search reports)."""
    idx = np.asarray(idx, dtype=int)
    F = np.column_stack([table.error["validation"][idx], table.cost(pair)[idx]])
    return idx[pareto_mask(F)]


def test_points(table: Table, pair: str, idx: Any) -> np.ndarray:
    idx = np.asarray(idx, dtype=int)
    return np.column_stack([table.error["test"][idx], table.cost(pair)[idx]])


def spread(xs: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(xs, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(min(xs)), "max": float(max(xs)),
            "n": len(xs)}


def environment(threads: int) -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.lower().startswith("model name")), cpu)
    except OSError:
        pass
    return {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
            "python": platform.python_version(), "cpu_model": cpu, "cpu_count": os.cpu_count(),
            "torch_num_threads": threads, "loadavg": [round(x, 2) for x in os.getloadavg()]}


def spearman(a: Any, b: Any) -> float:
    from subnet_kit.objectives import spearman as _s

    return float(_s(np.asarray(a, dtype=float), np.asarray(b, dtype=float)))


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    folder = Path(args.table) if args.table else cache_dir("") / TABLE
    table = Table(folder)
    runs_dir = Path(tempfile.mkdtemp(prefix="bench-search-")) if args.quick else cache_dir("bench-search") / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    predictor, measure = latency_setup(table, args, folder) if "latency" in args.pairs else (None, None)
    if predictor is not None:
        table.set_latency(predictor)
        log(f"latency predictor: rho {predictor.report['spearman']:.3f}, MAPE {predictor.report['mape']:.3f} on "
            f"{predictor.report['n_test']} held-out archs")
    names = [*args.strategies, *args.peers]
    for n in names:  # the code of every run, read now (see source_digest)
        source_digest(n)
    top = max(args.budgets)
    orders: dict[str, dict[str, list[list[int]]]] = {p: {} for p in args.pairs}
    seconds: dict[str, dict[str, float]] = {p: {} for p in args.pairs}
    jobs = [(p, n, s) for p in args.pairs for n in names for s in range(args.seeds)]
    done = {}
    if args.jobs > 1:  # runs in parallel processes (each a cached file; the GP ones take minutes)
        import concurrent.futures as cf
        import multiprocessing as mp

        with cf.ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                    initargs=(str(folder), args.synetune_python, table.latency)) as pool:
            futures = {pool.submit(_worker_run, name, pair, top, seed, str(runs_dir)): (pair, name, seed)
                       for pair, name, seed in jobs}
            for f in tqdm(cf.as_completed(futures), total=len(futures), desc="runs", disable=args.no_progress):
                done[futures[f]] = f.result()
    for pair, name, seed in tqdm(jobs, desc="runs", disable=args.no_progress or args.jobs > 1):
        order, sec = done.get((pair, name, seed)) or cached_run(name, table, pair, top, seed, runs_dir,
                                                                  args.synetune_python)
        orders[pair].setdefault(name, []).append(order)
        seconds[pair][name] = seconds[pair].get(name, 0.0) + sec

    out: dict[str, Any] = {"pairs": {}}
    summary: dict[str, Any] = {}
    ref_fronts: dict[str, np.ndarray] = {}
    for pair in args.pairs:
        cost = table.cost(pair)
        oracle = reported_front(table, pair, np.arange(len(table.archs)))
        fronts = {n: [[reported_front(table, pair, o[:b]) for b in args.budgets] for o in orders[pair][n]] for n in names}
        union = np.unique(np.concatenate([oracle, *[f for fs in fronts.values() for ff in fs for f in ff]]))
        ref_front = union[pareto_mask(test_points(table, pair, union))]
        ref_fronts[pair] = ref_front
        ideal = np.array([table.error["test"].min(), cost.min()])
        ref = default_bounds(test_points(table, pair, ref_front))[1]
        hv_ref = hypervolume(test_points(table, pair, ref_front), ref, ideal)

        def ratio(front: np.ndarray) -> float:
            P = test_points(table, pair, front)
            return hypervolume(P, ref, ideal) / hv_ref if np.any(np.all(P < ref, axis=1)) else 0.0

        rows: dict[str, Any] = {}
        for n in names:
            per_b = {str(b): spread([ratio(ff[k]) for ff in fronts[n]]) for k, b in enumerate(args.budgets)}
            rows[n] = {"hv_ratio": per_b, "ours": n in STRATEGIES, "distinct_archs": [len(o) for o in orders[pair][n]],
                       "strategy_s_per_run": seconds[pair][n] / args.seeds,
                       "full_model_evaluated": [table.full in o[:min(args.budgets)] for o in orders[pair][n]]}
        # sample efficiency: evaluations each strategy needs to reach random search's median at the top budget
        target = rows["random"]["hv_ratio"][str(top)]["median"] if "random" in rows else None
        for n in names:
            if target is None:
                break
            needs = []
            for o in orders[pair][n]:
                hit = next((b for b in range(1, len(o) + 1) if ratio(reported_front(table, pair, o[:b])) >= target), None)
                needs.append(hit)
            rows[n]["evals_to_random_at_top"] = {"per_seed": needs, "median": float(np.median(
                [h if h is not None else np.inf for h in needs]))}
        out["pairs"][pair] = {
            "strategies": rows,
            "reference": {"front_size": int(len(ref_front)), "hv": hv_ref, "ideal": ideal.tolist(), "ref_point": ref.tolist(),
                          "from_runs": int(len(set(ref_front.tolist()) - set(oracle.tolist()))),
                          "archs": [table.archs[i].short() for i in ref_front]},
            "oracle": {"hv_ratio": ratio(oracle), "front_size": int(len(oracle)),
                       "what": "the validation front of all 17,280 archs, test-evaluated"},
        }
        summary[pair] = {f"hv_ratio_at_{b}": {n: rows[n]["hv_ratio"][str(b)]["median"] for n in names} for b in args.budgets}

    # our best: the strategy of ours with the best mean of medians over pairs and budgets >= 50
    scored = [b for b in args.budgets if b >= 50] or args.budgets
    ours = [n for n in names if n in STRATEGIES and n != "random"]
    mean_med = {n: float(np.mean([summary[p][f"hv_ratio_at_{b}"][n] for p in args.pairs for b in scored])) for n in ours}
    best = max(mean_med, key=mean_med.get) if mean_med else None
    peers = [n for n in names if n not in STRATEGIES] + (["random"] if "random" in names else [])
    checks: dict[str, Any] = {}
    for p in args.pairs:
        rows = out["pairs"][p]["strategies"]
        c = {}
        for b in args.budgets:
            mine = rows[best]["hv_ratio"][str(b)] if best else None
            c[str(b)] = {
                "best_median": mine and mine["median"],
                "beats_every_peer": bool(mine and all(mine["median"] >= rows[q]["hv_ratio"][str(b)]["median"] for q in peers)),
                "within_noise_of": [q for q in names if q != best and mine and
                                    not (mine["q1"] > rows[q]["hv_ratio"][str(b)]["q3"] or
                                         mine["q3"] < rows[q]["hv_ratio"][str(b)]["q1"])],
            }
        checks[p] = c
    goal_budgets = [b for b in (50, 100, 200) if b in args.budgets]
    beats = bool(best) and all(checks[p][str(b)]["beats_every_peer"] for p in args.pairs for b in goal_budgets)
    goal_hv = bool(best) and all((100 not in args.budgets or checks[p]["100"]["best_median"] >= 0.97) and
                                 (50 not in args.budgets or checks[p]["50"]["best_median"] >= 0.95) for p in args.pairs)
    default = DEFAULT_STRATEGY if DEFAULT_STRATEGY in names else None
    default_check = None
    if default and best:  # the library's default beside the measured best: within noise at each budget >= 50?
        default_check = {"name": default, "mean_of_medians": mean_med.get(default), "is_best": default == best,
                         "within_noise_of_best": {p: {str(b): default == best or default in checks[p][str(b)]["within_noise_of"]
                                                      for b in scored} for p in args.pairs}}
    result_summary = {
        **{f"hv_ratio_at_{b}": {p: summary[p][f"hv_ratio_at_{b}"] for p in args.pairs} for b in args.budgets},
        "best_of_ours": best, "best_by": f"mean of the medians over both pairs at budgets {scored}",
        "mean_of_medians": mean_med, "checks": checks,
        "beats_peers": beats,
        "goal": "our best: median test hv_ratio >= 0.97 at 100 and >= 0.95 at 50, and >= every peer's (random "
                "included) median at 50, 100 and 200, for both objective pairs",
        "goal_met": bool(beats and goal_hv),
        "default_strategy": default_check,
        "evals_to_random_at_top": {p: {n: out["pairs"][p]["strategies"][n].get("evals_to_random_at_top", {}).get("median")
                                       for n in names} for p in args.pairs},
    }

    # the fronts' latencies measured for real, beside the predictions
    if predictor is not None and measure is not None and not args.no_measure:
        check = {}
        ref_idx = ref_fronts["latency"].tolist()
        best_idx = list(reported_front(table, "latency", orders["latency"][best][0][:100])) if best else []
        for what, idx in (("reference front", ref_idx), (f"{best} seed 0, front at 100", best_idx))[: 2 if best else 1]:
            ms = measure([table.archs[i] for i in idx])
            pred = table.latency[np.asarray(idx, dtype=int)]
            check[what] = {"n": len(idx), "spearman": spearman(pred, ms) if len(idx) > 2 else None,
                           "mape": float(np.mean(np.abs(pred - np.asarray(ms)) / np.asarray(ms))),
                           "archs": [{"arch": table.archs[i].short(), "predicted_ms": float(p), "measured_ms": float(m)}
                                     for i, p, m in zip(idx, pred, ms)]}
        out["latency_remeasured"] = check

    full = table.full
    return {
        "summary": result_summary,
        **out,
        "full_model": {"arch": table.archs[full].short(), "error_validation": float(table.error["validation"][full]),
                       "error_test": float(table.error["test"][full]), "params": float(table.params[full]),
                       "latency_predicted_ms": None if table.latency is None else float(table.latency[full]),
                       "note": "every strategy of ours evaluates it first (anchors); the reference row of the tables"},
        "latency_predictor": None if predictor is None else predictor.to_dict(),
        "settings": {"quick": args.quick, "table": str(folder), "table_settings": table.settings,
                     "table_digest": table.digest, "archs": len(table.archs), "budgets": args.budgets,
                     "seeds": args.seeds, "pairs": args.pairs, "strategies": args.strategies, "peers": args.peers,
                     "peer_settings": {"optuna-nsga2": "NSGAIISampler(seed=seed)", "optuna-tpe": "TPESampler(seed=seed)",
                                       "optuna-gp": "GPSampler(seed=seed)",
                                       "synetune-ehvi": "syne-tune EHVI(random_seed=seed) (BoTorch qLogEHVI)",
                                       "synetune-morea": "syne-tune MultiObjectiveRegularizedEvolution(random_seed=seed)"},
                     "latency": {"seq_len": args.seq_len, "repeats": args.repeats, "threads": args.threads,
                                 "samples": args.latency_samples},
                     "runs_cache": str(runs_dir)},
        "environment": environment(args.threads),
        "time": {"wall_s": time.perf_counter() - t_start,
                 "strategy_s": {p: seconds[p] for p in args.pairs}},
    }


def markdown(result: dict[str, Any]) -> str:
    """The summary tables (median [IQR] of the test hv_ratio) as markdown."""
    lines = []
    budgets = result["settings"]["budgets"]
    for pair, d in result["pairs"].items():
        lines += [f"\nerror x {pair} (test hypervolume / reference; median [q1-q3] of {result['settings']['seeds']} seeds)\n",
                  "| strategy | " + " | ".join(str(b) for b in budgets) + " | evals to random@" + str(max(budgets)) + " |",
                  "| --- |" + " --- |" * (len(budgets) + 1)]
        for n, row in d["strategies"].items():
            cells = [f"{row['hv_ratio'][str(b)]['median']:.3f} [{row['hv_ratio'][str(b)]['q1']:.3f}-"
                     f"{row['hv_ratio'][str(b)]['q3']:.3f}]" for b in budgets]
            e = row.get("evals_to_random_at_top", {}).get("median")
            lines.append(f"| {n}{'' if row['ours'] else ' (peer)'} | " + " | ".join(cells) +
                         f" | {'-' if e is None else ('>' + str(max(budgets)) if e == float('inf') else int(e))} |")
        lines.append(f"| oracle (all {result['settings']['archs']} archs) | " +
                     " | ".join(f"{d['oracle']['hv_ratio']:.3f}" for _ in budgets) + " | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke test: budgets 10,20, 2 seeds, random/nsga2/linas and "
                                                        "optuna-tpe, error x params only, own temporary run cache")
    p.add_argument("--table", default=None, help="folder of search_table.py's table (default: the kit's cache)")
    p.add_argument("--strategies", default=None, help=f"ours, comma-separated (default {','.join(OURS)})")
    p.add_argument("--peers", default=None, help=f"comma-separated, '' for none (default {','.join(DEFAULT_PEERS)}; also synetune-ehvi)")
    p.add_argument("--pairs", default=None, help="objective pairs: error x latency, error x params (default both)")
    p.add_argument("--budgets", default=None, help="comma-separated distinct archs (default 25,50,100,200)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per strategy (default 5)")
    p.add_argument("--latency-samples", type=int, default=90, help="archs measured to fit the latency predictor "
                                                                   "(a third held out to check it)")
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-measure", action="store_true", help="do not re-measure the fronts' latencies")
    p.add_argument("--synetune-python", default=None, help="Python of an environment with syne-tune (see "
                                                             "peer_synetune.py); without it the syne-tune peers are skipped")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (each on one thread)")
    p.add_argument("--out", default=None)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    q = args.quick
    defaults = ("random,nsga2,linas", "optuna-tpe", "params") if q else (",".join(OURS), ",".join(DEFAULT_PEERS), ",".join(PAIRS))
    for name, default in zip(("strategies", "peers", "pairs"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.budgets = sorted(int(b) for b in (args.budgets or ("10,20" if q else "25,50,100,200")).split(","))
    args.seeds = args.seeds or (2 if q else 5)
    args.strategies = [s for s in args.strategies.split(",") if s]
    args.peers = [s for s in args.peers.split(",") if s]
    args.pairs = [s for s in args.pairs.split(",") if s]
    for s in args.strategies:
        if s not in STRATEGIES:
            p.error(f"unknown strategy {s!r}; allowed: {', '.join(sorted(STRATEGIES))}")
    for s in args.peers:
        if s not in PEERS:
            p.error(f"unknown peer {s!r}; allowed: {', '.join(PEERS)}")
    if any(s.startswith("synetune") for s in args.peers) and not args.synetune_python:
        log("syne-tune peers skipped: pass --synetune-python (the Python of an environment with syne-tune)")
        args.peers = [s for s in args.peers if not s.startswith("synetune")]
    for s in args.pairs:
        if s not in PAIRS:
            p.error(f"unknown objective pair {s!r}; allowed: {', '.join(PAIRS)}")
    out = Path(args.out) if args.out else (Path(tempfile.gettempdir()) / "search-quick.json" if q else RESULTS / "search.json")
    result = run(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
