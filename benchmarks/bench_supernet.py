"""Does weight-sharing training keep sub-networks accurate? Benchmark of subnet-kit's training strategies.

For the embedded MiniLM-L6 super-network on ``movie-snippets``, every strategy gets the same training budget
(the same number of batches of training data, from the same pretrained weights) and is then evaluated on the
**test** split:

* ``standard``                 – fine-tune the full model only (the baseline; shared by both spaces);
* ``random``                   – one random sub-network per step;
* ``sandwich``                 – largest + smallest + 2 random sub-networks per step;
* ``sandwich+kd``              – the same with in-place distillation from the largest;
* ``two-stage``                – half the budget ``standard``, then the other half ``sandwich+kd`` (a competent
                                 teacher from the first distillation step on, as DynaBERT does);
* ``two-stage+reorder``        – the same with Taylor importance reordering of heads / FFN units / hidden
                                 dimensions between the stages (measures whether reordering helps).

Per space (``per-layer`` and ``uniform``) a fixed set of random sub-networks with at most 50 % of the encoder
parameters is drawn once (seeded) and evaluated for every strategy:

* ``kept_at_50`` / ``kept_at_25``: best accuracy among those with <= 50 % / <= 25 % of the encoder parameters,
  divided by that strategy's full-model accuracy (goals for the best strategy: >= 0.98 and >= 0.95);
* ``hv``: hypervolume of (test error, encoder-parameter fraction) over the set, reference point (0.5, 0.5)
  (chance error, the set's size bound), so 0.25 would be a perfect, free classifier;
* training cost relative to one ``standard`` fine-tuning (goal <= 3x): seconds per step of each strategy timed
  back to back on fresh copies (``cost`` in the JSON; ``--cost-only`` re-measures it), because the cached
  training runs may have shared the CPU with other work; their own wall times are reported too.

Trained super-networks are cached (`subnet_kit.recipes.train_supernet`), so a re-run only re-evaluates.

Usage::

    .venv/bin/python benchmarks/bench_supernet.py                       # full run -> benchmarks/results/supernet.json
    .venv/bin/python benchmarks/bench_supernet.py --quick --out /tmp/supernet-quick.json   # smoke test
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from subnet_kit import SearchSpace, SuperNet, evaluate, fine_tune, load_task
from subnet_kit.recipes import RECIPES, TRAIN_BATCH_SIZE, TRAIN_LR, TRAIN_STEPS, train_supernet

DEFAULT_OUT = Path(__file__).parent / "results" / "supernet.json"
SPACES = ("per-layer", "uniform")
GOALS = {"kept_at_50": 0.98, "kept_at_25": 0.95, "train_cost_vs_standard": 3.0}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fixed_archs(space: SearchSpace, n: int, bound: float, seed: int = 0) -> list:
    """The first ``n`` distinct random archs (seeded) with at most ``bound`` of the full encoder parameters."""
    full = space.params(space.dims.full_arch(), "encoder")
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    while len(out) < n:
        a = space.sample(rng)
        if a not in seen and space.params(a, "encoder") <= bound * full:
            seen.add(a)
            out.append(a)
    return out


def hypervolume_2d(points: np.ndarray, ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` (minimise both) and bounded by ``ref``."""
    from pymoo.indicators.hv import HV

    inside = points[(points[:, 0] < ref[0]) & (points[:, 1] < ref[1])]
    return float(HV(ref_point=np.array(ref))(inside)) if len(inside) else 0.0


def train(name: str, space: SearchSpace | None, task, args) -> tuple[SuperNet, dict]:
    """A super-network trained by recipe ``name`` within the common budget (cached; `train_supernet`)."""
    sn = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels, seed=args.seed)
    records = train_supernet(sn, task, space, recipe=name, steps=args.steps, lr=args.lr, batch_size=TRAIN_BATCH_SIZE,
                             seed=args.seed, cache=True, progress=not args.no_progress)
    info = {
        "steps": sum(r.steps for r in records),
        "train_time_s": sum(r.train_time_s for r in records),
        "sentence_forwards_per_s": sum(r.sentences_per_s * r.train_time_s for r in records) / max(1e-9, sum(r.train_time_s for r in records)),
        "data_sentences_per_s": sum(r.steps for r in records) * TRAIN_BATCH_SIZE / max(1e-9, sum(r.train_time_s for r in records)),
        "from_cache": [r.from_cache is not None for r in records],
        "last_losses": records[-1].history[-1] if records[-1].history else None,
    }
    return sn.eval(), info


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(os.cpu_count() or 1)
    task = load_task("movie-snippets", seed=args.seed)
    probe = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels)
    spaces = {g: SearchSpace.for_model(probe, g) for g in SPACES}
    sets = {g: fixed_archs(s, args.archs, 0.5, seed=args.seed) for g, s in spaces.items()}
    full_enc = spaces["uniform"].params(probe.dims.full_arch(), "encoder")
    del probe
    strategies = list(RECIPES)
    if args.only:
        strategies = [s for s in strategies if s in args.only.split(",")]
    eval_kw = dict(batch_size=128, limit=args.test_limit)
    results: dict[str, dict[str, Any]] = {g: {} for g in SPACES}
    standard_done: dict[str, Any] | None = None
    t0 = time.perf_counter()
    for name in strategies:
        for g in SPACES:
            if name == "standard" and standard_done is not None:  # space-independent: train and time once
                sn, info, full = standard_done["sn"], standard_done["info"], standard_done["full"]
            else:
                log(f"[{time.perf_counter() - t0:7.0f} s] training {name} ({g}) ...")
                sn, info = train(name, spaces[g] if name != "standard" else None, task, args)
                full = evaluate(sn, task, "test", **eval_kw)["accuracy"]
                if name == "standard":
                    standard_done = {"sn": sn, "info": info, "full": full}
            log(f"[{time.perf_counter() - t0:7.0f} s] evaluating {len(sets[g])} sub-networks of {name} ({g}); full {full:.4f}")
            rows = []
            for a in sets[g]:
                acc = evaluate(sn, task, "test", arch=a, **eval_kw)["accuracy"]
                rows.append((a, acc, spaces[g].params(a, "encoder") / full_enc))
            acc50 = max(acc for _, acc, f in rows)
            in25 = [acc for _, acc, f in rows if f <= 0.25]
            acc25 = max(in25) if in25 else float("nan")
            pts = np.array([[1 - acc, f] for _, acc, f in rows])
            best50 = max(rows, key=lambda r: r[1])
            results[g][name] = {
                "full_accuracy": full,
                "best_accuracy_at_50": acc50,
                "best_accuracy_at_25": acc25,
                "kept_at_50": acc50 / full,
                "kept_at_25": acc25 / full,
                "n_at_50": len(rows),
                "n_at_25": len(in25),
                "best_arch_at_50": best50[0].to_dict(),
                "hv": hypervolume_2d(pts, (0.5, 0.5)),
                "mean_accuracy_of_set": float(np.mean([r[1] for r in rows])),
                **info,
            }
            log(f"    kept_at_50 {acc50 / full:.3f}  kept_at_25 {acc25 / full:.3f}  hv {results[g][name]['hv']:.4f}  "
                f"train {info['train_time_s']:.0f} s")
            if name != "standard":
                del sn
    std_time = results[SPACES[0]]["standard"]["train_time_s"] if "standard" in strategies else float("nan")
    summary: dict[str, Any] = {}
    for g in SPACES:
        for name, r in results[g].items():
            r["train_cost_vs_standard"] = r["train_time_s"] / std_time if std_time == std_time else None
        best = max(results[g], key=lambda n: (results[g][n]["hv"]))
        b = results[g][best]
        std_full = results[g]["standard"]["full_accuracy"] if "standard" in results[g] else float("nan")
        summary[g] = {
            "best_strategy_by_hv": best,
            "kept_at_50": b["kept_at_50"], "kept_at_25": b["kept_at_25"],
            "full_accuracy": b["full_accuracy"], "standard_full_accuracy": std_full,
            "train_cost_vs_standard": b["train_cost_vs_standard"],
            "goals": {
                "kept_at_50>=0.98": b["kept_at_50"] >= GOALS["kept_at_50"],
                "kept_at_25>=0.95": b["kept_at_25"] >= GOALS["kept_at_25"],
                "full>=standard-0.5pt": b["full_accuracy"] >= std_full - 0.005,
                "cost<=3x": (b["train_cost_vs_standard"] or 99) <= GOALS["train_cost_vs_standard"],
            },
        }
    return {
        "benchmark": "bench_supernet",
        "mode": "quick" if args.quick else "full",
        "settings": {
            "model": "minilm-l6", "task": "movie-snippets", "split": "test", "test_limit": args.test_limit,
            "steps_per_strategy": args.steps, "batch_size": TRAIN_BATCH_SIZE, "lr": args.lr, "seed": args.seed,
            "archs_per_space": args.archs, "arch_bound": "<= 50% of the full encoder parameters",
            "sandwich_k": 2, "kd": "temperature 1, alpha 1 (students learn from the largest only)",
            "hv": "(test error, encoder params / full encoder params), reference (0.5, 0.5)",
        },
        "environment": {
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
            "machine": platform.machine(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "summary": summary,
        "results": results,
    }


def _apply_costs(result: dict[str, Any]) -> None:
    """Use the back-to-back cost measurements for the cost goal (the training runs' own wall times stay reported)."""
    ratio = result["cost"]["cost_vs_standard"]
    for g, per in result["results"].items():
        for name, r in per.items():
            r["train_cost_vs_standard_measured"] = ratio.get(name)
        s = result["summary"][g]
        s["train_cost_vs_standard"] = ratio.get(s["best_strategy_by_hv"])
        s["goals"]["cost<=3x"] = (s["train_cost_vs_standard"] or 99) <= GOALS["train_cost_vs_standard"]


def measure_costs(args: argparse.Namespace) -> dict[str, Any]:
    """Training cost per step of each strategy, measured back to back on fresh copies (no cache), so the ratios
    see the same machine conditions; the wall times of the cached training runs may have shared the CPU."""
    task = load_task("movie-snippets", seed=args.seed)
    steps = args.cost_steps
    per_step: dict[str, float] = {}
    for name in ("standard", "random", "sandwich", "sandwich+kd"):
        sn = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels, seed=args.seed)
        (stage,) = RECIPES[name].stages
        r = fine_tune(sn, task, stage.strategy, space=SearchSpace.for_model(sn, "per-layer"), kd=stage.kd,
                      lr=args.lr, batch_size=TRAIN_BATCH_SIZE, seed=args.seed, eval_split=None, progress=False,
                      max_steps=steps)
        per_step[name] = r.train_time_s / r.steps
        log(f"  cost: {name} {per_step[name]:.3f} s/step ({r.sentences_per_s:.0f} sub-network sentences/s)")
    per_step["two-stage"] = per_step["two-stage+reorder"] = (per_step["standard"] + per_step["sandwich+kd"]) / 2
    return {
        "steps_timed_per_strategy": steps,
        "space": "per-layer",
        "seconds_per_step": per_step,
        "cost_vs_standard": {k: v / per_step["standard"] for k, v in per_step.items()},
        "data_sentences_per_s": {k: TRAIN_BATCH_SIZE / v for k, v in per_step.items()},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke mode: few steps, few archs, small test subset")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--steps", type=int, default=None, help=f"training steps per strategy (default {TRAIN_STEPS} = 1 epoch)")
    p.add_argument("--archs", type=int, default=None, help="fixed random sub-networks per space (default 100)")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test sentences (default all)")
    p.add_argument("--lr", type=float, default=TRAIN_LR)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default="", help=f"comma-separated subset of the recipes ({', '.join(RECIPES)})")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--cost-steps", type=int, default=40, help="steps timed per strategy in the cost phase")
    p.add_argument("--cost-only", action="store_true",
                   help="only (re-)measure the training cost per strategy and merge it into --out")
    args = p.parse_args(argv)
    unknown = sorted(set(filter(None, args.only.split(","))) - set(RECIPES))
    if unknown:
        p.error(f"--only: unknown recipe(s) {', '.join(unknown)}; allowed: {', '.join(RECIPES)}")
    if args.cost_only:
        result = json.loads(args.out.read_text())
        result["cost"] = measure_costs(args)
        _apply_costs(result)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result["cost"], indent=1))
        return
    if args.quick:
        args.steps, args.archs, args.test_limit = args.steps or 6, args.archs or 8, args.test_limit or 64
        if "SUBNET_KIT_CACHE" not in os.environ:  # keep smoke-test models out of the real cache
            import tempfile

            os.environ["SUBNET_KIT_CACHE"] = tempfile.mkdtemp(prefix="subnet-kit-quick-")
    else:
        args.steps, args.archs = args.steps or TRAIN_STEPS, args.archs or 100
    result = run(args)
    result["cost"] = measure_costs(args)
    _apply_costs(result)
    text = json.dumps(result, indent=1)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    log(f"bench_supernet: wrote {args.out}")


if __name__ == "__main__":
    main()
