"""Does a sub-network's FLOPs reduction become a real latency reduction? Benchmark of the core of subnet-kit.

For the embedded MiniLM-L6 super-network and each granularity ("layer", "uniform", "per-layer") and encoder-FLOPs
target (25 %, 50 %, 75 % of the full model), one sub-network is chosen deterministically (the one whose encoder
FLOPs fraction is closest to the target). For batch sizes 1 and 32 at sequence length 64 it then times, interleaved
round-robin within every repeat so that machine noise hits all three alike:

* ``full``      – the whole super-network's forward;
* ``active``    – ``supernet(...)`` inside ``with supernet.activate(arch):`` (entering and leaving the context is
                  outside the timed region: a search activates a sub-network once and then evaluates many batches;
                  its cost is reported on its own as ``activate`` ms);
* ``extracted`` – ``supernet.extract(arch).eval()`` forward (extraction itself is not timed).

and reports medians and IQRs, and the speed-up per FLOPs reduction:

    flops_ratio                 = full encoder FLOPs / sub-network encoder FLOPs
    active_speedup_per_flops    = (full median / active median) / flops_ratio       goal >= 0.8
    extracted_speedup_per_flops = (full median / extracted median) / flops_ratio    goal >= 0.9

A value of 1.0 means wall-clock time shrinks exactly as fast as the (encoder) FLOPs. Embeddings, pooling, the
classifier and per-call Python/dispatcher overheads are not counted in the FLOPs but are in the time, so values
below 1 are expected for small sub-networks and small batches.

Usage::

    .venv/bin/python benchmarks/bench_core.py                 # full run, writes benchmarks/results/core.json
    .venv/bin/python benchmarks/bench_core.py --quick --out /tmp/core-quick.json   # smoke test (~1 min)
    .venv/bin/python benchmarks/bench_core.py --device cuda

Prints the result JSON to stdout (progress goes to stderr) and writes the same JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import torch

from subnet_kit.space import Arch, SearchSpace
from subnet_kit.supernet import SuperNet

GRANULARITIES = ("layer", "uniform", "per-layer")
TARGETS = (0.25, 0.50, 0.75)
BATCH_SIZES = (1, 32)
SEQ_LEN = 64
GOALS = {"active_speedup_per_flops": 0.8, "extracted_speedup_per_flops": 0.9}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "core.json"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Choosing the sub-networks
# ---------------------------------------------------------------------------------------------------------------
def encoder_flops(space: SearchSpace, arch: Arch) -> int:
    return space.flops(arch, seq_len=SEQ_LEN, batch_size=1, part="encoder")


def choose_arch(space: SearchSpace, target: float, n_samples: int) -> tuple[Arch, Fraction]:
    """The arch of ``space`` whose encoder-FLOPs fraction is closest to ``target`` (exact arithmetic).

    "layer": every depth is a candidate. Otherwise: ``space.sample_many(n_samples, rng=0)``; for "per-layer" only
    heterogeneous archs (heads or FFN differ between layers) are candidates when there are any. Ties go to the
    larger fraction, then to the earlier candidate.
    """
    full = encoder_flops(space, space.dims.full_arch())
    if space.granularity == "layer":
        candidates = list(space.all_archs())
    else:
        candidates = space.sample_many(n_samples, rng=0)
        if space.granularity == "per-layer":
            candidates = [a for a in candidates if not a.is_uniform] or candidates
    t = Fraction(target).limit_denominator(1000)
    best = min(
        enumerate(candidates),
        key=lambda ia: (abs(Fraction(encoder_flops(space, ia[1]), full) - t), -encoder_flops(space, ia[1]), ia[0]),
    )[1]
    return best, Fraction(encoder_flops(space, best), full)


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------
def quantiles(xs: list[float]) -> dict[str, float]:
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return {"median": statistics.median(xs), "q1": q1, "q3": q3, "iqr": q3 - q1}


def time_interleaved(
    fns: dict[str, tuple[Callable[[], Any], Callable[[], Any]]], warmup: int, repeats: int, sync: Callable[[], None]
) -> dict[str, list[float]]:
    """Seconds per call of each of ``fns`` (name -> (context factory, function)), measured round-robin: every
    repeat runs each function once, inside its context, and only the function call is timed.

    The starting function rotates from repeat to repeat so that no function always runs first (or right after the
    same neighbour). ``sync`` is called before every clock read (CUDA synchronisation; a no-op on CPU).
    """
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            with fns[n][0]():
                fns[n][1]()
    sync()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            ctx, fn = fns[n]
            with ctx():
                sync()
                t0 = time.perf_counter()
                fn()
                sync()
                times[n].append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device, threads: int) -> dict[str, Any]:
    env: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": threads,
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        env["cuda_device"] = torch.cuda.get_device_name(device)
        env["cuda_version"] = torch.version.cuda
    return env


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    warmup, repeats = args.warmup, args.repeats
    log(f"bench_core: device={device} threads={threads} warmup={warmup} repeats={repeats} quick={args.quick}")

    if args.model == "minilm-l6":
        supernet = SuperNet.from_pretrained("minilm-l6", num_labels=2).eval().to(device)
    else:  # same shapes, random weights: for machines without the embedded model package (timings don't care)
        from transformers import BertConfig

        cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                         intermediate_size=1536, max_position_embeddings=512)
        supernet = SuperNet.from_config(cfg, num_labels=2).eval().to(device)
    full_arch = supernet.dims.full_arch()

    gen = torch.Generator().manual_seed(0)
    inputs = {}
    for bs in BATCH_SIZES:
        ids = torch.randint(1000, 30000, (bs, SEQ_LEN), generator=gen)
        inputs[bs] = {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}

    # choose one sub-network per (granularity, target)
    choices = []
    for g in GRANULARITIES:
        space = SearchSpace.for_model(supernet, g)
        for target in TARGETS:
            arch, frac = choose_arch(space, target, args.samples)
            ratio = Fraction(encoder_flops(space, full_arch), encoder_flops(space, arch))
            choices.append((g, target, arch, frac, ratio))
            log(f"  {g:9s} target {target:.2f}: {arch.short()}  (encoder FLOPs fraction {float(frac):.4f})")

    rows = []
    load_before = loadavg()
    t_start = time.perf_counter()
    with torch.inference_mode():
        for g, target, arch, frac, ratio in choices:
            sub = supernet.extract(arch).eval()
            for bs in BATCH_SIZES:
                batch = inputs[bs]
                with supernet.activate(arch):  # the invariant, checked once: active == extracted
                    max_diff = (supernet(**batch) - sub(**batch)).abs().max().item()

                def full() -> Any:
                    return supernet(**batch)

                def extracted() -> Any:
                    return sub(**batch)

                def activate_only() -> None:
                    with supernet.activate(arch):
                        pass

                none = contextlib.nullcontext
                row_load_before = loadavg()
                times = time_interleaved(
                    {
                        "full": (none, full),
                        "active": (lambda: supernet.activate(arch), full),  # same call, sub-network active
                        "extracted": (none, extracted),
                        "activate": (none, activate_only),  # entering + leaving activate(), reported apart
                    },
                    warmup, repeats, sync,
                )
                stats = {k: quantiles([t * 1e3 for t in v]) for k, v in times.items()}  # ms
                fr = float(ratio)
                row = {
                    "granularity": g,
                    "target": target,
                    "arch": arch.to_dict(),
                    "arch_short": arch.short(),
                    "flops_fraction": float(frac),
                    "flops_ratio": fr,
                    "batch_size": bs,
                    "seq_len": SEQ_LEN,
                    "repeats": repeats,
                    "ms": {k: {q: round(x, 4) for q, x in s.items()} for k, s in stats.items()},
                    "iqr_over_median": {k: round(s["iqr"] / s["median"], 4) for k, s in stats.items()},
                    "active_speedup": stats["full"]["median"] / stats["active"]["median"],
                    "extracted_speedup": stats["full"]["median"] / stats["extracted"]["median"],
                    "active_speedup_per_flops": stats["full"]["median"] / stats["active"]["median"] / fr,
                    "extracted_speedup_per_flops": stats["full"]["median"] / stats["extracted"]["median"] / fr,
                    "max_abs_logit_diff_active_vs_extracted": max_diff,
                    "loadavg_before_after": [row_load_before, loadavg()],
                }
                rows.append(row)
                log(
                    f"  {g:9s} {target:.2f} bs={bs:2d}: full {stats['full']['median']:8.2f} ms  "
                    f"active {stats['active']['median']:8.2f} ms  extracted {stats['extracted']['median']:8.2f} ms  "
                    f"| flops x{fr:.2f}  active/flops {row['active_speedup_per_flops']:.3f}  "
                    f"extracted/flops {row['extracted_speedup_per_flops']:.3f}"
                )
            del sub
    elapsed = time.perf_counter() - t_start

    noisy = [
        f"{r['granularity']} {r['target']} bs={r['batch_size']} {k} (IQR {v:.0%} of median)"
        for r in rows
        for k, v in r["iqr_over_median"].items()
        if v > 0.20
    ]
    summary: dict[str, Any] = {}
    for key, goal in GOALS.items():
        worst = min(rows, key=lambda r: r[key])
        summary[key] = {
            "min": worst[key],
            "min_row": f"{worst['granularity']} target={worst['target']} batch={worst['batch_size']}",
            "goal": goal,
            "goal_met": worst[key] >= goal,
            "rows_below_goal": [
                f"{r['granularity']} target={r['target']} batch={r['batch_size']}: {r[key]:.3f}" for r in rows if r[key] < goal
            ],
        }
    summary["noisy_measurements"] = noisy
    summary["max_abs_logit_diff_active_vs_extracted"] = max(r["max_abs_logit_diff_active_vs_extracted"] for r in rows)

    return {
        "benchmark": "bench_core",
        "mode": "quick" if args.quick else "full",
        "model": "minilm-l6 (SuperNet.from_pretrained('minilm-l6', num_labels=2).eval())" if args.model == "minilm-l6"
        else "random-minilm (MiniLM-L6-H384 shapes, random weights: SuperNet.from_config)",
        "settings": {
            "seq_len": SEQ_LEN,
            "batch_sizes": list(BATCH_SIZES),
            "targets": list(TARGETS),
            "granularities": list(GRANULARITIES),
            "warmup": warmup,
            "repeats": repeats,
            "arch_samples": args.samples,
            "token_ids": "uniform in 1000..29999 from torch.Generator().manual_seed(0); full attention mask",
            "timing": "time.perf_counter around one forward under torch.inference_mode(); full / active / extracted "
            "round-robin within each repeat (rotating start); CUDA synchronised before each clock read; "
            "'active' times the forward inside supernet.activate(arch); entering + leaving it is timed apart as "
            "'activate'",
            "flops": "space.flops(arch, seq_len=64, batch_size=1, part='encoder') (matmul FLOPs of the encoder)",
        },
        "environment": {**environment(device, threads), "loadavg_before": load_before, "loadavg_after": loadavg()},
        "elapsed_s": round(elapsed, 1),
        "summary": summary,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm-l6", choices=["minilm-l6", "random-minilm"],
                   help="the embedded MiniLM, or the same shapes with random weights (no model package needed)")
    p.add_argument("--quick", action="store_true", help="smoke mode: 1 warm-up, 3 repeats (same archs as a full run)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results file (default {DEFAULT_OUT})")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device to time on (default cpu)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up rounds per measurement (default 5; quick 1)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 41; quick 3)")
    p.add_argument("--samples", type=int, default=None, help="archs sampled per space to pick from (default 3000)")
    args = p.parse_args(argv)
    if args.warmup is None:
        args.warmup = 1 if args.quick else 5
    if args.repeats is None:
        args.repeats = 3 if args.quick else 41
    if args.samples is None:
        args.samples = 3000
    if args.repeats < 2:
        p.error("--repeats must be >= 2 (an IQR needs two points)")

    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    log(f"bench_core: wrote {args.out} ({result['elapsed_s']} s of timing)")


if __name__ == "__main__":
    main()
