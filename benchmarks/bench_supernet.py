"""Do the super-network's sub-networks keep the fine-tuned model's accuracy? Benchmark of subnet-kit's training recipes.

For the embedded MiniLM-L6 on each embedded task (``movie-snippets``, ``bbc-news``):

* **reference** (`subnet_kit.recipes.fine_tune_reference`): the full model fine-tuned the standard way until
  validation accuracy stops improving (at most 3 epochs, best epoch kept), test accuracy. What a user already has
  without any super-network; every kept ratio below is divided by it.
* **the recipe** (default: the kit's default, ``TRAIN_RECIPE``) trained over the ``per-layer`` space (which holds
  the ``uniform`` space's sub-networks too); then, per space (``per-layer`` and ``uniform``), a fixed set of
  sub-networks (seeded, the same for every recipe and seed: 100 random ones of the space with at most 50 % of the
  encoder parameters, plus 20 uniform ones with 45-50 % and 20 with 22.5-25 %, `boundary_archs`) is evaluated on
  the **validation** split; the best by validation among those with <= 50 % / <= 25 % of the encoder
  parameters is then evaluated on the **test** split (so the pick is not a lucky test draw):
  ``kept_at_50`` / ``kept_at_25`` = that test accuracy / the reference's, ``full_accuracy`` = the full sub-network's.
* **seeds**: reference and recipe are trained with 3 seeds; the summary gives the medians, and each kept ratio
  carries its standard error (binomial, test-set size, propagated through the ratio).
* **cost_vs_reference**: training time of the recipe (its reference stage included, when it starts from one) over
  the reference's, from seconds per step of each kind of step timed back to back in one phase (``cost``) times
  the steps each run took, so the ratio does not depend on what else shared the CPU while the cached runs
  trained; the runs' own wall times are reported too.
* **ablations** (``--ablations``; one task, seed 0): other recipes evaluated the same way, one row each.
* **stand-alone control** (``--control``): 4 fixed archs (two at <= 50 %, two at <= 25 %) extracted from the
  *pretrained* model and fine-tuned alone with the reference's protocol, against the same archs in the recipe's
  super-network (goal: within 1 point).

Goals (per task and space): full >= reference - 0.3 points, kept_at_50 >= 0.99, kept_at_25 >= 0.95, cost <= 3x.

Trained weights are cached (keyed by recipe version, `subnet_kit.recipes`), and so are evaluations (per cache
entry, arch and split, in ``<kit cache>/bench_supernet/``), so a re-run only computes what changed.

Usage::

    .venv/bin/python benchmarks/bench_supernet.py                        # full run -> benchmarks/results/supernet.json
    .venv/bin/python benchmarks/bench_supernet.py --tasks movie-snippets --seeds 0 --ablations two-stage+reorder
    .venv/bin/python benchmarks/bench_supernet.py --quick --out /tmp/supernet-quick.json   # smoke test
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from subnet_kit import Arch, SearchSpace, SuperNet, evaluate, fine_tune, load_task
from subnet_kit._paths import cache_dir
from subnet_kit.recipes import (
    RECIPES, TRAIN_BATCH_SIZE, TRAIN_LR, TRAIN_RECIPE, fine_tune_reference, get_recipe, train_steps_for,
    train_supernet,
)

DEFAULT_OUT = Path(__file__).parent / "results" / "supernet.json"
TASKS = ("movie-snippets", "bbc-news")
SPACES = ("per-layer", "uniform")
SEEDS = (0, 1, 2)
GOALS = {"full_minus_reference_points": -0.3, "kept_at_50": 0.99, "kept_at_25": 0.95, "cost_vs_reference": 3.0}
# the stand-alone control's archs (uniform, so each is also in the uniform space): encoder fraction in the comment
CONTROL_ARCHS = (
    Arch.uniform(layers=3, heads=12, ffn=1536, hidden=384),  # 50.0 %: half the depth
    Arch.uniform(layers=6, heads=6, ffn=704, hidden=384),  # 47.3 %: about half the width
    Arch.uniform(layers=3, heads=6, ffn=704, hidden=384),  # 23.6 %: half the depth and about half the width
    Arch.uniform(layers=6, heads=4, ffn=384, hidden=256),  # 18.6 %: narrow and thin
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fixed_archs(space: SearchSpace, n: int, bound: float, seed: int = 0) -> list[Arch]:
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


def boundary_archs(space: SearchSpace, n: int, bound: float, seed: int = 0) -> list[Arch]:
    """``n`` uniform archs (seeded draw) with 90-100 % of ``bound`` x the full encoder parameters: the largest
    sub-networks that fit the bound, in varied shapes (deep and narrow to shallow and wide), the natural candidates
    for "the best sub-network within the bound" that a random set rarely holds."""
    full = space.params(space.dims.full_arch(), "encoder")
    near = [Arch.uniform(layers, heads, ffn, hidden)
            for layers in space.layers.values for heads in space.heads.values
            for ffn in space.ffn.values for hidden in space.hidden.values
            if 0.9 * bound * full <= space.params(Arch.uniform(layers, heads, ffn, hidden), "encoder") <= bound * full]
    rng = np.random.default_rng(seed)
    return [near[i] for i in sorted(rng.choice(len(near), size=min(n, len(near)), replace=False))]


class EvalCache:
    """Accuracies of (trained weights, arch, split), kept in a JSON file per trained model in the kit's cache."""

    def __init__(self, model_id: str, limit: int | None) -> None:
        h = hashlib.sha1(f"{model_id}|{limit}".encode()).hexdigest()[:16]
        self.path = cache_dir("bench_supernet") / f"{h}.json"
        self.values: dict[str, float] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.limit = limit

    def accuracy(self, model: Any, task: Any, split: str, arch: Arch | None) -> float:
        key = f"{split}|{arch.slug() if arch is not None else 'full'}"
        if key not in self.values:
            self.values[key] = evaluate(model, task, split, arch=arch, batch_size=128, limit=self.limit)["accuracy"]
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.values))
            tmp.replace(self.path)
        return self.values[key]


def standard_error(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))


def ratio_se(a: float, se_a: float, b: float, se_b: float) -> float:
    """Standard error of a / b for independent a and b (first order)."""
    return (a / b) * math.sqrt((se_a / a) ** 2 + (se_b / b) ** 2)


def _model_id(results: list) -> str:
    """What identifies trained weights: the cache folders they were stored in (or their training histories)."""
    ids = [r.from_cache or json.dumps(r.history[-3:]) for r in results]
    return "|".join(ids)


def train_reference(task: Any, seed: int, args: argparse.Namespace) -> tuple[SuperNet, Any]:
    sn = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels, seed=seed)
    kw = dict(lr=args.lr, seed=seed, train_limit=args.train_limit, cache=True)
    r = fine_tune_reference(sn, task, progress=not args.no_progress, **kw)
    if r.from_cache is None:  # just trained: load it back so the eval cache is keyed by the stored entry
        sn = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels, seed=seed)
        r = fine_tune_reference(sn, task, progress=False, **kw)
    return sn.eval(), r


def train_recipe(name: str, task: Any, seed: int, args: argparse.Namespace) -> tuple[SuperNet, list]:
    sn = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels, seed=seed)
    space = SearchSpace.for_model(sn, "per-layer")
    steps = train_steps_for(task, args.steps).steps
    kw = dict(recipe=name, steps=steps, lr=args.lr, seed=seed, train_limit=args.train_limit, cache=True)
    rs = train_supernet(sn, task, space, progress=not args.no_progress, **kw)
    if any(r.from_cache is None for r in rs):  # just trained: load it back so the eval cache is keyed by the entry
        sn = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels, seed=seed)
        rs = train_supernet(sn, task, space, progress=False, **kw)
    return sn.eval(), rs


def evaluate_spaces(sn: SuperNet, task: Any, sets: dict[str, list[Arch]], full_enc: int,
                    cache: EvalCache) -> dict[str, Any]:
    """Per space: validation accuracy of every arch of the set, the best by validation at <= 50 % / <= 25 % of the
    encoder evaluated on test, and the full sub-network on test."""
    out: dict[str, Any] = {"full_test": cache.accuracy(sn, task, "test", None)}
    for g, archs in sets.items():
        space = SearchSpace.for_model(sn, g)
        rows = [(a, cache.accuracy(sn, task, "validation", a), space.params(a, "encoder") / full_enc) for a in archs]
        per: dict[str, Any] = {}
        for bound in (50, 25):
            inside = [r for r in rows if r[2] <= bound / 100 + 1e-9]
            if not inside:
                per[f"at_{bound}"] = None
                continue
            best = max(inside, key=lambda r: (r[1], -r[2]))
            per[f"at_{bound}"] = {"arch": best[0].to_dict(), "encoder_fraction": best[2], "validation": best[1],
                                  "test": cache.accuracy(sn, task, "test", best[0]), "candidates": len(inside)}
        per["mean_validation_of_set"] = float(np.mean([r[1] for r in rows]))
        out[g] = per
    return out


def control(task: Any, seed: int, rule: str, sn_shared: SuperNet, cache_shared: EvalCache,
            args: argparse.Namespace) -> list[dict[str, Any]]:
    """The stand-alone twins of CONTROL_ARCHS: extracted from the pretrained model (with the recipe's layer rule),
    fine-tuned alone with the reference's protocol; beside the same arch in the trained super-network."""
    rows = []
    for arch in CONTROL_ARCHS:
        pre = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels, seed=seed)
        pre.layer_rule = rule
        sub = pre.extract(arch)
        del pre
        r = fine_tune_reference(sub, task, lr=args.lr, seed=seed, train_limit=args.train_limit, cache=True,
                                progress=not args.no_progress)
        alone = EvalCache(f"control|{r.from_cache or _model_id([r])}", args.test_limit).accuracy(sub, task, "test", None)
        shared = cache_shared.accuracy(sn_shared, task, "test", arch)
        space = SearchSpace.for_model(sn_shared, "uniform")
        rows.append({"arch": arch.to_dict(), "encoder_fraction": space.params(arch, "encoder") / space.params(
            space.largest(), "encoder"), "weight_shared_test": shared, "stand_alone_test": alone,
            "difference_points": 100 * (shared - alone), "within_1_point": shared >= alone - 0.01,
            "stand_alone_epochs_run": r.eval["epochs_run"], "stand_alone_train_time_s": r.train_time_s})
        log(f"    control {arch.short()}: shared {shared:.4f} alone {alone:.4f}")
    return rows


def measure_costs(args: argparse.Namespace, recipes: list[str]) -> dict[str, Any]:
    """Seconds per step of each kind of step the recipes use, timed back to back on fresh copies (no cache)."""
    task = load_task("movie-snippets", seed=0)
    per_step: dict[str, float] = {}
    kinds = {"standard": ("standard", {}, False, False)}
    for name in recipes:
        for st in get_recipe(name).stages:
            key = f"{st.strategy}{'+kd' if st.kd else ''}{'+teacher' if st.frozen_teacher else ''}{dict(st.options) or ''}"
            kinds[key] = (st.strategy, dict(st.options), st.kd, st.frozen_teacher)
    for key, (strategy, options, kd, frozen) in kinds.items():
        sn = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels, seed=0)
        space = SearchSpace.for_model(sn, "per-layer")
        from subnet_kit.train import make_training_strategy

        teacher = None
        if frozen:
            import copy

            teacher = copy.deepcopy(sn).eval().requires_grad_(False)
        r = fine_tune(sn, task, make_training_strategy(strategy, space, **options), space=space, kd=kd,
                      teacher=teacher, lr=args.lr, batch_size=TRAIN_BATCH_SIZE, seed=0, eval_split=None,
                      progress=False, max_steps=args.cost_steps)
        per_step[key] = r.train_time_s / r.steps
        log(f"  cost: {key} {per_step[key]:.3f} s/step")
    return {"steps_timed": args.cost_steps, "task": "movie-snippets", "seconds_per_step": per_step,
            "vs_standard": {k: v / per_step["standard"] for k, v in per_step.items()}}


def recipe_cost(name: str, results: list, reference: Any, costs: dict[str, Any]) -> float:
    """(steps x seconds per step) of the recipe's runs over the reference's, with ``costs``' per-step timings."""
    s = costs["seconds_per_step"]
    rec = get_recipe(name)
    total = 0.0
    rs = list(results)
    if rec.from_reference:
        total += rs.pop(0).steps * s["standard"]
    for st, r in zip(rec.stages, rs):
        total += r.steps * s[f"{st.strategy}{'+kd' if st.kd else ''}{'+teacher' if st.frozen_teacher else ''}{dict(st.options) or ''}"]
    return total / (reference.steps * s["standard"])


def row(name: str, task: Any, seed: int, args: argparse.Namespace, sets: dict, full_enc: int) -> dict[str, Any]:
    """Train (cached) and evaluate one recipe for one task and seed."""
    sn, rs = train_recipe(name, task, seed, args)
    ev = evaluate_spaces(sn, task, sets, full_enc, EvalCache(_model_id(rs), args.test_limit))
    return {"recipe": name, "seed": seed, "eval": ev, "steps": [r.steps for r in rs],
            "train_time_s": [r.train_time_s for r in rs], "layer_rule": get_recipe(name).layer_rule,
            "_results": rs, "_sn": sn}


def summarise(rows: list[dict], refs: list[dict], n_test: int, costs: dict | None) -> dict[str, Any]:
    """Medians over seeds, kept ratios against the median reference, their standard errors and the goals."""
    ref_acc = float(np.median([r["test"] for r in refs]))
    se_ref = standard_error(ref_acc, n_test)
    full = float(np.median([r["eval"]["full_test"] for r in rows]))
    out: dict[str, Any] = {"reference_accuracy": ref_acc, "reference_accuracy_se": se_ref,
                           "reference_seeds": [r["test"] for r in refs], "full_accuracy": full,
                           "full_accuracy_seeds": [r["eval"]["full_test"] for r in rows], "seeds": len(rows)}
    for g in SPACES:
        s: dict[str, Any] = {}
        for bound in (50, 25):
            vals = [r["eval"][g][f"at_{bound}"]["test"] for r in rows if r["eval"][g][f"at_{bound}"]]
            if not vals:
                s[f"kept_at_{bound}"] = None
                continue
            acc = float(np.median(vals))
            s[f"best_accuracy_at_{bound}"] = acc
            s[f"best_accuracy_at_{bound}_seeds"] = vals
            s[f"kept_at_{bound}"] = acc / ref_acc
            s[f"kept_at_{bound}_se"] = ratio_se(acc, standard_error(acc, n_test), ref_acc, se_ref)
            s[f"best_arch_at_{bound}_seed0"] = rows[0]["eval"][g][f"at_{bound}"]["arch"]
        out[g] = s
    if costs is not None:
        out["cost_vs_reference"] = float(np.median([recipe_cost(r["recipe"], r["_results"], ref["_result"], costs)
                                                    for r, ref in zip(rows, refs)]))
    out["wall_time_vs_reference"] = float(np.median([sum(r["train_time_s"]) / ref["train_time_s"]
                                                     for r, ref in zip(rows, refs)]))
    return out


def goals(s: dict[str, Any], g: str) -> dict[str, bool]:
    k50, k25 = s[g].get("kept_at_50"), s[g].get("kept_at_25")
    return {
        "full>=reference-0.3pt": 100 * (s["full_accuracy"] - s["reference_accuracy"]) >= GOALS["full_minus_reference_points"] - 1e-9,
        "kept_at_50>=0.99": k50 is not None and k50 >= GOALS["kept_at_50"],
        "kept_at_25>=0.95": k25 is not None and k25 >= GOALS["kept_at_25"],
        "cost<=3x": s.get("cost_vs_reference", 99) <= GOALS["cost_vs_reference"],
    }


def _public(r: dict) -> dict:
    return {k: v for k, v in r.items() if not k.startswith("_")}


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    t0 = time.perf_counter()
    probe = SuperNet.from_pretrained("minilm-l6", num_labels=2)
    spaces = {g: SearchSpace.for_model(probe, g) for g in SPACES}
    edge = [a for bound in (0.5, 0.25) for a in boundary_archs(spaces["uniform"], args.archs // 5, bound, seed=0)]
    sets = {g: fixed_archs(s, args.archs, 0.5, seed=0) + edge for g, s in spaces.items()}
    full_enc = spaces["uniform"].params(probe.dims.full_arch(), "encoder")
    del probe
    recipes = [args.recipe, *[a for a in args.ablations if a != args.recipe]]
    costs = measure_costs(args, recipes) if not args.no_cost else None
    out: dict[str, Any] = {"summary": {}, "tasks": {}}
    for task_name in args.tasks:
        refs, rows, ablations = [], [], []
        for seed in args.seeds:
            task = load_task(task_name, seed=seed)
            log(f"[{time.perf_counter() - t0:6.0f} s] {task_name} seed {seed}: reference")
            ref_sn, ref = train_reference(task, seed, args)
            refs.append({"seed": seed, "test": EvalCache(_model_id([ref]), args.test_limit).accuracy(ref_sn, task, "test", None),
                         "validation": ref.eval["accuracy"], "best_epoch": ref.eval["best_epoch"],
                         "epochs_run": ref.eval["epochs_run"], "steps": ref.steps, "train_time_s": ref.train_time_s,
                         "_result": ref})
            del ref_sn
            log(f"[{time.perf_counter() - t0:6.0f} s] {task_name} seed {seed}: recipe {args.recipe}")
            rows.append(row(args.recipe, task, seed, args, sets, full_enc))
            log(f"    full {rows[-1]['eval']['full_test']:.4f} reference {refs[-1]['test']:.4f}")
        n_test = len(load_task(task_name, seed=0)["test"]) if args.test_limit is None else args.test_limit
        summary = summarise(rows, refs, n_test, costs)
        summary["recipe"] = args.recipe
        summary["goals"] = {g: goals(summary, g) for g in SPACES}
        task_out: dict[str, Any] = {"recipe_rows": [_public(r) for r in rows], "references": [_public(r) for r in refs]}
        if task_name == args.ablation_task:
            task0 = load_task(task_name, seed=args.seeds[0])
            for name in args.ablations:
                if name == args.recipe:
                    continue
                log(f"[{time.perf_counter() - t0:6.0f} s] ablation {name} ({task_name}, seed {args.seeds[0]})")
                r = row(name, task0, args.seeds[0], args, sets, full_enc)
                s = summarise([r], refs[:1], n_test, costs)
                ablations.append({"recipe": name, **{k: v for k, v in s.items() if not k.startswith("reference")},
                                  "goals": {g: goals({**s, "reference_accuracy": s["reference_accuracy"]}, g) for g in SPACES},
                                  "row": _public(r)})
            r0 = rows[0]
            s0 = summarise([r0], refs[:1], n_test, costs)
            ablations.insert(0, {"recipe": args.recipe, **{k: v for k, v in s0.items() if not k.startswith("reference")},
                                 "goals": {g: goals(s0, g) for g in SPACES}, "row": "recipe_rows[0]"})
            task_out["ablations"] = {"seed": args.seeds[0], "reference_accuracy": refs[0]["test"], "rows": ablations}
        if args.control and task_name in args.control_tasks:
            log(f"[{time.perf_counter() - t0:6.0f} s] stand-alone control ({task_name}, seed {args.seeds[0]})")
            task0 = load_task(task_name, seed=args.seeds[0])
            r0 = rows[0]
            task_out["control"] = control(task0, args.seeds[0], r0["layer_rule"], r0["_sn"],
                                          EvalCache(_model_id(r0["_results"]), args.test_limit), args)
        out["summary"][task_name] = summary
        out["tasks"][task_name] = task_out
        for r in rows:
            r.pop("_sn", None)
    out["cost"] = costs
    out["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke mode: few steps, few archs, small test subset")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    p.add_argument("--recipe", default=TRAIN_RECIPE, help=f"the recipe measured on every task and seed ({', '.join(RECIPES)})")
    p.add_argument("--ablations", default="", help="comma-separated recipes measured on --ablation-task, first seed")
    p.add_argument("--ablation-task", default=TASKS[0])
    p.add_argument("--control", action="store_true", help="also run the stand-alone control (first seed)")
    p.add_argument("--control-tasks", default=",".join(TASKS), help="the tasks --control runs on")
    p.add_argument("--steps", type=int, default=None, help="steps given to the recipe (default: one epoch)")
    p.add_argument("--archs", type=int, default=100, help="fixed random sub-networks per space")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N sentences (default all)")
    p.add_argument("--train-limit", type=int, default=None, help="train on the first N sentences (default all)")
    p.add_argument("--lr", type=float, default=TRAIN_LR)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-cost", action="store_true", help="skip the back-to-back cost timing")
    p.add_argument("--cost-steps", type=int, default=30, help="steps timed per kind of step in the cost phase")
    args = p.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    args.ablations = [a for a in args.ablations.split(",") if a]
    args.control_tasks = [t for t in args.control_tasks.split(",") if t]
    unknown = sorted({args.recipe, *args.ablations} - set(RECIPES))
    if unknown:
        p.error(f"unknown recipe(s) {', '.join(unknown)}; allowed: {', '.join(RECIPES)}")
    bad = sorted(set(args.tasks) - set(TASKS))
    if bad:
        p.error(f"unknown task(s) {', '.join(bad)}; allowed: {', '.join(TASKS)}")
    if args.quick:
        args.steps, args.archs, args.test_limit, args.cost_steps = args.steps or 4, min(args.archs, 6), args.test_limit or 48, 2
        args.train_limit = args.train_limit or 64
        if "SUBNET_KIT_CACHE" not in os.environ:  # keep smoke-test models out of the real cache
            import tempfile

            os.environ["SUBNET_KIT_CACHE"] = tempfile.mkdtemp(prefix="subnet-kit-quick-")
    result = {
        "benchmark": "bench_supernet",
        "mode": "quick" if args.quick else "full",
        "settings": {
            "model": "minilm-l6", "tasks": args.tasks, "seeds": args.seeds, "recipe": args.recipe,
            "recipe_definition": get_recipe(args.recipe).to_dict(), "ablations": args.ablations,
            "steps": args.steps or "one epoch of the task (train_steps_for)", "batch_size": TRAIN_BATCH_SIZE,
            "lr": args.lr, "archs_per_space": args.archs, "arch_bound": "<= 50% of the full encoder parameters",
            "selection": "best validation accuracy among the set's archs within the bound; its test accuracy reported",
            "reference": "standard fine-tuning, validation after each epoch, stop after 1 epoch without improvement, "
                         "at most 3 epochs, best epoch kept (recipes.fine_tune_reference)",
            "test_limit": args.test_limit, "goals": GOALS,
        },
        "environment": {
            "torch": torch.__version__, "threads": args.threads or os.cpu_count(), "python": platform.python_version(),
            "machine": platform.machine(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }
    result.update(run(args))
    text = json.dumps(result, indent=1, default=str)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(json.dumps(result["summary"], indent=1, default=str))
    log(f"bench_supernet: wrote {args.out}")


if __name__ == "__main__":
    main()
