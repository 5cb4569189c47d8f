"""What does distilling an extracted sub-network from the trained super-network gain? (Task-specific logit
distillation of the winner after the search: the simplest place for it; the seed studies distil elsewhere too.)

1. Take the super-network that ``bench_supernet.py`` trained with ``--strategy`` (default: the kit's default recipe) over the
   ``per-layer`` space (the same settings, so it is loaded from the kit's cache when that benchmark ran before).
2. Among that benchmark's fixed set of random sub-networks with <= 25 % of the encoder parameters, pick the one with
   the best **validation** accuracy (the test split is not used for choosing).
3. Extract it and train the copy for the same number of steps twice: ``distill`` from the full super-network
   (alpha 0.5, temperature 2) and, as the control, plain fine-tuning of the student (alpha 0: cross-entropy only).
4. Report test accuracy before and after each.

Usage::

    .venv/bin/python benchmarks/bench_distill.py                       # -> benchmarks/results/distill.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_supernet import fixed_archs, log, train_recipe  # noqa: E402  (same settings and cache as that benchmark)

from subnet_kit import SearchSpace, SuperNet, distill, evaluate, load_task  # noqa: E402
from subnet_kit.recipes import TRAIN_LR, TRAIN_RECIPE, TRAIN_STEPS  # noqa: E402

DEFAULT_OUT = Path(__file__).parent / "results" / "distill.json"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strategy", default=TRAIN_RECIPE, help="bench_supernet recipe of the teacher")
    p.add_argument("--steps", type=int, default=TRAIN_STEPS, help="training steps of the super-network (as bench_supernet)")
    p.add_argument("--distill-steps", type=int, default=TRAIN_STEPS)
    p.add_argument("--archs", type=int, default=100)
    p.add_argument("--lr", type=float, default=TRAIN_LR)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    task = load_task("movie-snippets", seed=args.seed)
    probe = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels)
    probe_space = SearchSpace.for_model(probe, "per-layer")
    del probe
    args.train_limit = None
    sn, stages = train_recipe(args.strategy, task, args.seed, args)
    log(f"super-network {args.strategy} (per-layer): from cache {[r.from_cache is not None for r in stages]}")
    full_enc = probe_space.params(sn.dims.full_arch(), "encoder")
    small = [a for a in fixed_archs(probe_space, args.archs, 0.5, seed=args.seed)
             if probe_space.params(a, "encoder") <= 0.25 * full_enc]
    val = {a: evaluate(sn, task, "validation", arch=a, batch_size=128)["accuracy"] for a in small}
    arch = max(small, key=lambda a: val[a])
    teacher_test = evaluate(sn, task, "test", batch_size=128)["accuracy"]
    log(f"chosen on validation: {arch.short()} ({val[arch]:.4f}); teacher test accuracy {teacher_test:.4f}")
    runs = {}
    for name, alpha in (("distill", 0.5), ("fine-tune (control)", 0.0)):
        student = sn.extract(arch)
        r = distill(student, sn, task, alpha=alpha, temperature=2.0, max_steps=args.distill_steps, lr=args.lr,
                    seed=args.seed, eval_split="test", progress=not args.no_progress)
        runs[name] = {
            "alpha": alpha, "temperature": 2.0, "steps": r.steps, "train_time_s": r.train_time_s,
            "test_accuracy_before": r.eval_before["accuracy"], "test_accuracy_after": r.eval["accuracy"],
            "gain_points": 100 * (r.eval["accuracy"] - r.eval_before["accuracy"]),
        }
        log(f"  {name}: {r.eval_before['accuracy']:.4f} -> {r.eval['accuracy']:.4f}")
    out = {
        "benchmark": "bench_distill",
        "super_network": {"strategy": args.strategy, "space": "per-layer", "steps": args.steps, "lr": args.lr,
                          "teacher_test_accuracy": teacher_test},
        "student": {"arch": arch.to_dict(), "short": arch.short(), "validation_accuracy_in_supernet": val[arch],
                    "encoder_params_fraction": probe_space.params(arch, "encoder") / full_enc,
                    "params": probe_space.params(arch)},
        "runs": runs,
        "distill_minus_control_points": runs["distill"]["gain_points"] - runs["fine-tune (control)"]["gain_points"],
        "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
    }
    text = json.dumps(out, indent=1)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
