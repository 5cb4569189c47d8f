"""Is the deployment runtime faster, and does it keep the FLOPs savings? torch eager vs ONNX Runtime fp32 and INT8.

For the trained default super-network (`subnet_kit.recipes.trained_supernet("minilm-l6", "movie-snippets",
"per-layer")` with its default settings, so it is the one the quickstart and the search CLI train and cache), take
the full model and three sub-networks: the uniform ones closest to 50 % and 25 % of the full encoder FLOPs and the
heterogeneous per-layer one closest to 15 % (as `bench_core.choose_arch` picks them). Each is deployed three ways:

* ``torch``     - the extracted `SubNetwork` (saved with safetensors, loaded back) in torch eager;
* ``onnx-fp32`` - its ONNX export with ONNX Runtime's transformer fusions (`subnet_kit.onnx_runtime.exported_onnx`);
* ``onnx-int8`` - that graph with dynamic INT8 quantisation (`subnet_kit.onnx_runtime.quantize_int8`).

Timing: every model x runtime is timed ALONE in a fresh interpreter (a subprocess that loads only that model, same
``--threads``; ONNX Runtime sessions with spinning off), at batch 1 and 32 x 64 tokens, with the kit's timing loop
(`measure_latency` / `measure_onnx_latency`: warm-up, ``--repeats`` timed forwards, noisy attempts re-measured).
``--rounds`` rounds run every subprocess once each, in a rotating order, so a disturbance of the machine hits all
configurations alike; a configuration's median and IQR are over the timed forwards of all its rounds.

Reported per row (model x batch): medians and IQRs per runtime, ``ort_over_torch`` (torch median / ORT fp32
median), ``int8_speedup`` (fp32 / INT8), and per sub-network row ``speedup_per_flops`` per runtime: (full model's
median / this model's median, in the same runtime) / (full encoder FLOPs / this model's encoder FLOPs). Per model:
test-split accuracy of torch, ONNX fp32 and ONNX INT8 (both ONNX ones measured with `onnx_evaluate`) and the INT8
change in points. Goals (booleans in ``summary``): ORT fp32 >= torch on every row; ORT speed-up / FLOPs >= 0.8 on
every sub-network row; INT8 within 0.5 points of fp32 on every model, with a measured speed-up (INT8 faster than
fp32 on every row).

Every measurement and accuracy is cached (``<kit cache>/bench_deploy``, keyed by the model file's hash, the
setting, the round and the versions), so a re-run only recomputes what changed; ``--no-cache`` measures afresh.

Usage::

    .venv/bin/python benchmarks/bench_deploy.py                     # -> benchmarks/results/deploy.json
    .venv/bin/python benchmarks/bench_deploy.py --quick             # smoke test -> /tmp/deploy-quick.json

Progress goes to stderr; the result JSON is printed and written to ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import choose_arch, environment, loadavg, log  # noqa: E402  (the same arch choice and environment)

RUNTIMES = ("torch", "onnx-fp32", "onnx-int8")
TARGETS = (("uniform", 0.50), ("uniform", 0.25), ("per-layer", 0.15))  # (space the arch is chosen from, FLOPs share)
BATCH_SIZES = (1, 32)
SEQ_LEN = 64
QUANTIZATION = {"per_channel": True, "reduce_range": False}  # quantize_int8's settings (its defaults)
GOALS = {"ort_over_torch": 1.0, "ort_speedup_per_flops": 0.8, "int8_accuracy_points": 0.5}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "deploy.json"
QUICK_OUT = Path("/tmp/deploy-quick.json")


# ---------------------------------------------------------------------------------------------------------------
# The child: one model in one runtime, alone in this interpreter
# ---------------------------------------------------------------------------------------------------------------
def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Time ``spec["path"]`` in ``spec["runtime"]`` at each batch size; the kept attempt's times per batch size."""
    import torch

    torch.set_num_threads(spec["threads"])
    timing = dict(seq_len=SEQ_LEN, threads=spec["threads"], warmup=spec["warmup"], repeats=spec["repeats"],
                  max_attempts=spec["max_attempts"])
    out = {}
    if spec["runtime"] == "torch":
        from subnet_kit import load_subnet
        from subnet_kit.objectives import measure_latency

        model = load_subnet(spec["path"]).eval()
        for b in spec["batch_sizes"]:
            out[str(b)] = measure_latency(model, batch_size=b, **timing)
    else:
        from subnet_kit.onnx_runtime import measure_onnx_latency

        for b in spec["batch_sizes"]:
            out[str(b)] = measure_onnx_latency(spec["path"], batch_size=b, **timing)
    keep = ("times_ms", "median_ms", "noisy", "attempts", "rel_spread", "threads")
    return {b: {k: m[k] for k in keep} for b, m in out.items()}


# ---------------------------------------------------------------------------------------------------------------
# Caching: results keyed by what they depend on
# ---------------------------------------------------------------------------------------------------------------
def file_hash(path: Path) -> str:
    """SHA-1 of a file, or of a folder's files (names and bytes) in sorted order."""
    h = hashlib.sha1()
    for f in sorted([path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


class ResultCache:
    """JSON results under ``root``, one file per key (a dict hashed); disabled: always misses, never writes."""

    def __init__(self, root: Path, enabled: bool) -> None:
        self.root, self.enabled = root, enabled

    def _file(self, key: dict[str, Any]) -> Path:
        return self.root / (hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20] + ".json")

    def get(self, key: dict[str, Any]) -> Any:
        f = self._file(key)
        return json.loads(f.read_text())["value"] if self.enabled and f.is_file() else None

    def put(self, key: dict[str, Any], value: Any) -> Any:
        from subnet_kit._io import atomic_write_text

        if self.enabled:
            atomic_write_text(self._file(key), json.dumps({"key": key, "value": value}))
        return value


# ---------------------------------------------------------------------------------------------------------------
# Preparing the models
# ---------------------------------------------------------------------------------------------------------------
def choose(supernet: Any, n_samples: int) -> list[tuple[str, Any, float]]:
    """``(name, arch, encoder-FLOPs fraction)`` of the full model and the three targets."""
    from subnet_kit import SearchSpace

    full = supernet.dims.full_arch()
    chosen = [("full", full, 1.0)]
    for granularity, target in TARGETS:
        arch, frac = choose_arch(SearchSpace.for_model(supernet, granularity), target, n_samples)
        kind = "heterogeneous" if not arch.is_uniform else "uniform"
        chosen.append((f"{round(100 * target)}% {kind}", arch, float(frac)))
    return chosen


def prepare(supernet: Any, name: str, arch: Any, frac: float) -> dict[str, Any]:
    """The three deployments of ``arch`` (cached: saved torch copy, optimised fp32 ONNX, INT8 ONNX)."""
    from subnet_kit._io import atomic_dir
    from subnet_kit._paths import cache_dir
    from subnet_kit.onnx_runtime import exported_onnx, quantize_int8, weights_fingerprint

    fp32, _ = exported_onnx(supernet, arch)
    setting = hashlib.sha1(json.dumps([str(fp32), QUANTIZATION], sort_keys=True).encode()).hexdigest()[:8]
    folder = cache_dir("bench_deploy", "models") / f"{weights_fingerprint(supernet)[:12]}-{arch.slug()}-{setting}"
    if not (folder / "int8.onnx").is_file():
        with atomic_dir(folder) as tmp:
            supernet.extract(arch).save(tmp / "torch")
            quantize_int8(fp32, tmp / "int8.onnx", **QUANTIZATION)
    info = json.loads((fp32.parent / "export.json").read_text())["optimization"]
    return {"name": name, "arch": arch, "short": arch.short(), "encoder_flops_fraction": frac,
            "quantization": QUANTIZATION,
            "paths": {"torch": folder / "torch", "onnx-fp32": fp32, "onnx-int8": folder / "int8.onnx"},
            "optimization": info}


# ---------------------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------------------
def run_child(spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout_s, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if proc.returncode != 0:
        raise RuntimeError(f"timing {spec['runtime']} {spec['path']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_all(models: list[dict], args: argparse.Namespace, cache: ResultCache) -> dict[tuple, list[dict]]:
    """``{(model name, runtime, batch): [round results]}``: every model x runtime in its own subprocess, once per
    round, the order rotating from round to round."""
    import onnxruntime
    import torch

    jobs = [(m, rt) for m in models for rt in RUNTIMES]
    hashes = {(m["name"], rt): file_hash(Path(m["paths"][rt])) for m, rt in jobs}
    found: dict[tuple, list[dict]] = {}
    for r in range(args.rounds):
        k = (r * 5) % len(jobs)  # rotate by a step coprime with the 3 runtimes, so neighbours change too
        for m, rt in jobs[k:] + jobs[:k]:
            spec = {"runtime": rt, "path": str(m["paths"][rt]), "threads": args.threads, "warmup": args.warmup,
                    "repeats": args.repeats, "max_attempts": args.max_attempts, "batch_sizes": list(BATCH_SIZES)}
            key = {**spec, "path": None, "file": hashes[(m["name"], rt)], "round": r, "torch": torch.__version__,
                   "onnxruntime": onnxruntime.__version__, "seq_len": SEQ_LEN, "host": environment_key()}
            got = cache.get(key)
            if got is None:
                t0 = time.time()
                got = cache.put(key, run_child(spec, args.child_timeout))
                log(f"round {r + 1}/{args.rounds} {m['name']:>20} {rt:>9}: "
                    + ", ".join(f"b{b} {got[str(b)]['median_ms']:.2f} ms" for b in BATCH_SIZES)
                    + f" ({time.time() - t0:.0f} s)")
            for b in BATCH_SIZES:
                found.setdefault((m["name"], rt, b), []).append(got[str(b)])
    return found


def environment_key() -> str:
    from bench_core import cpu_model

    return f"{cpu_model()} x{os.cpu_count()}"


def accuracies(models: list[dict], supernet: Any, task: Any, args: argparse.Namespace,
               cache: ResultCache) -> dict[str, dict[str, float]]:
    """Test-split accuracy of each model in torch, ONNX fp32 and ONNX INT8 (the latter two by `onnx_evaluate`)."""
    from subnet_kit import evaluate, load_subnet
    from subnet_kit.onnx_runtime import onnx_evaluate

    out = {}
    for m in models:
        acc = {}
        for rt in RUNTIMES:
            path = Path(m["paths"][rt])
            key = {"accuracy": rt, "file": file_hash(path), "split": "test", "limit": args.test_limit,
                   "task": task.name, "n_test": len(task["test"])}
            value = cache.get(key)
            if value is None:
                if rt == "torch":
                    value = evaluate(load_subnet(path), task, "test", limit=args.test_limit)["accuracy"]
                else:
                    value = onnx_evaluate(path, task, supernet.tokenizer, "test", limit=args.test_limit,
                                          threads=args.threads)["accuracy"]
                cache.put(key, value)
            acc[rt] = value
        acc["int8_change_points"] = 100 * (acc["onnx-int8"] - acc["onnx-fp32"])
        log(f"accuracy {m['name']:>20}: " + ", ".join(f"{k} {v:.4f}" for k, v in acc.items()))
        out[m["name"]] = acc
    return out


# ---------------------------------------------------------------------------------------------------------------
# Summarising
# ---------------------------------------------------------------------------------------------------------------
def pooled(rounds: list[dict]) -> dict[str, Any]:
    times = [t for r in rounds for t in r["times_ms"]]
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return {"median_ms": statistics.median(times), "iqr_ms": q3 - q1, "n": len(times),
            "round_medians_ms": [r["median_ms"] for r in rounds], "noisy_rounds": sum(bool(r["noisy"]) for r in rounds)}


def rows_of(models: list[dict], measured: dict[tuple, list[dict]]) -> list[dict]:
    rows = []
    for b in BATCH_SIZES:
        full = {rt: pooled(measured[("full", rt, b)])["median_ms"] for rt in RUNTIMES}
        for m in models:
            t = {rt: pooled(measured[(m["name"], rt, b)]) for rt in RUNTIMES}
            row = {"model": m["name"], "arch": m["short"], "batch_size": b, "seq_len": SEQ_LEN,
                   "encoder_flops_fraction": m["encoder_flops_fraction"], **{rt: t[rt] for rt in RUNTIMES},
                   "ort_over_torch": t["torch"]["median_ms"] / t["onnx-fp32"]["median_ms"],
                   "int8_speedup": t["onnx-fp32"]["median_ms"] / t["onnx-int8"]["median_ms"]}
            if m["name"] != "full":
                row["speedup_per_flops"] = {rt: (full[rt] / t[rt]["median_ms"]) * m["encoder_flops_fraction"]
                                            for rt in RUNTIMES}
            rows.append(row)
    return rows


def summary(rows: list[dict], acc: dict[str, dict[str, float]]) -> dict[str, Any]:
    subs = [r for r in rows if "speedup_per_flops" in r]
    min_ratio = min(r["ort_over_torch"] for r in rows)
    min_spf = min(r["speedup_per_flops"]["onnx-fp32"] for r in subs)
    worst_int8 = max(abs(a["int8_change_points"]) for a in acc.values())
    min_int8_speedup = min(r["int8_speedup"] for r in rows)
    return {
        "min_ort_over_torch": min_ratio, "goal_ort_at_least_torch": min_ratio >= GOALS["ort_over_torch"],
        "min_ort_speedup_per_flops": min_spf,
        "min_torch_speedup_per_flops": min(r["speedup_per_flops"]["torch"] for r in subs),
        "goal_ort_speedup_per_flops": min_spf >= GOALS["ort_speedup_per_flops"],
        "max_int8_accuracy_change_points": worst_int8, "min_int8_speedup": min_int8_speedup,
        "goal_int8": worst_int8 <= GOALS["int8_accuracy_points"] and min_int8_speedup > 1.0,
        "rows_below_goals": [f"{r['model']} b{r['batch_size']}" for r in rows
                             if r["ort_over_torch"] < 1.0 or r.get("speedup_per_flops", {}).get("onnx-fp32", 1) < 0.8],
        "noisy_rounds": sum(r[rt]["noisy_rounds"] for r in rows for rt in RUNTIMES),
    }


# ---------------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads of every runtime")
    p.add_argument("--rounds", type=int, default=3, help="subprocess per model x runtime, this many times each")
    p.add_argument("--repeats", type=int, default=15, help="timed forwards per subprocess and batch size (>= 10)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--max-attempts", type=int, default=3, help="re-measurements of a noisy attempt (kit rule)")
    p.add_argument("--samples", type=int, default=3000, help="archs sampled per space when choosing")
    p.add_argument("--test-limit", type=int, default=None, help="test examples for the accuracies (default all)")
    p.add_argument("--child-timeout", type=float, default=900.0)
    p.add_argument("--no-cache", action="store_true", help="measure everything afresh (results are still cached)")
    p.add_argument("--quick", action="store_true", help="smoke test: untrained head, 1 round, 10 repeats, 200 test "
                                                        "examples; numbers not for reporting")
    p.add_argument("--out", type=Path, default=None, help=f"results file (default {DEFAULT_OUT})")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.repeats, args.warmup, args.samples = 1, 10, 1, 500
        args.test_limit = args.test_limit or 200
    args.out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    if args.repeats < 10 or args.rounds < 1 or args.threads < 1:
        p.error("--repeats must be >= 10, --rounds and --threads >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(json.loads(args.child))))
        return
    import torch

    from subnet_kit._paths import cache_dir
    from subnet_kit.recipes import trained_supernet

    t0, load_before = time.time(), loadavg()
    torch.set_num_threads(args.threads)
    supernet, _, task, trained = trained_supernet("minilm-l6", "movie-snippets", "per-layer",
                                                  **({"train_steps": 0} if args.quick else {}))
    models = [prepare(supernet, *c) for c in choose(supernet, args.samples)]
    cache = ResultCache(cache_dir("bench_deploy", "results"), enabled=not args.no_cache)
    measured = measure_all(models, args, cache)
    acc = accuracies(models, supernet, task, args, cache)
    rows = rows_of(models, measured)
    out = {
        "benchmark": "bench_deploy", "quick": args.quick,
        "super_network": {"model": "minilm-l6", "task": "movie-snippets", "space": "per-layer",
                          "last_stage": None if trained is None else {k: getattr(trained, k) for k in (
                              "strategy", "steps", "from_cache")}},
        "setting": {k: getattr(args, k) for k in ("threads", "rounds", "repeats", "warmup", "max_attempts",
                                                  "test_limit")} | {"batch_sizes": list(BATCH_SIZES),
                                                                     "seq_len": SEQ_LEN},
        "models": [{k: (v.to_dict() if k == "arch" else {n: str(p) for n, p in v.items()} if k == "paths" else v)
                    for k, v in m.items()} for m in models],
        "rows": rows, "accuracy": acc, "goals": GOALS, "summary": summary(rows, acc),
        "environment": {**environment(torch.device("cpu"), args.threads), "loadavg_before": load_before,
                        "loadavg_after": loadavg()},
        "wall_s": round(time.time() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    log(f"bench_deploy took {out['wall_s']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
