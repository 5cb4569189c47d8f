"""``subnet-kit`` command line: headless entry points with progress bars.

``subnet-kit quickstart`` runs the whole path on the embedded defaults: fine-tune the super-network briefly,
reorder heads / neurons / hidden dimensions by importance, evaluate a handful of sub-networks, print a table of
arch / params / FLOPs / accuracy, extract one, save it and load it back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from .space import GRANULARITIES


def _quickstart(args: argparse.Namespace) -> int:
    import torch

    from .data import batches, load_task
    from .space import SearchSpace
    from .supernet import SuperNet, load_subnet
    from .train import evaluate, fine_tune

    t_start = time.perf_counter()
    out = Path(args.out)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    task = load_task(args.task, seed=args.seed)
    print(f"task: {task}")
    supernet = SuperNet.from_pretrained(args.model, num_labels=task.num_labels, seed=args.seed)
    print(f"super-network: {supernet}")

    print(f"\n1. fine-tuning the full model for {args.steps} steps (batch {args.batch_size}, lr {args.lr:g})")
    result = fine_tune(
        supernet, task, max_steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
        eval_split=None, progress=not args.no_progress,
    )
    print(f"   {result.train_time_s:.0f} s, {result.sentences_per_s:.0f} sentences/s, last loss {result.history[-1]['full']:.3f}")

    print(f"\n2. reordering heads, FFN units and hidden dimensions by Taylor importance ({args.importance_batches} batches)")
    imp = batches(task, supernet.tokenizer, split="train", batch_size=args.batch_size, shuffle=True, seed=args.seed + 1)
    supernet.reorder([next(imp) for _ in range(args.importance_batches)], method="taylor")

    space = SearchSpace.for_model(supernet, args.space)
    print(f"\n3. evaluating {args.archs} sub-networks of {space} on {args.eval_limit or 'all'} validation sentences")
    archs = [space.largest(), space.smallest(), *space.sample_many(args.archs, rng=args.seed)]
    archs = list(dict.fromkeys(archs))[: args.archs]
    rows = []
    for arch in archs:
        m = evaluate(supernet, task, "validation", arch=arch, limit=args.eval_limit)
        rows.append({
            "arch": arch.short(),
            "params_M": space.params(arch) / 1e6,
            "encoder_params_M": space.params(arch, "encoder") / 1e6,
            "MFLOPs@64": space.flops(arch, seq_len=64) / 1e6,
            "accuracy": m["accuracy"],
            "_arch": arch,
        })
    _print_table(rows)

    full_acc = rows[0]["accuracy"]
    smaller = [r for r in rows[1:] if r["accuracy"] >= full_acc - args.tolerance]
    pick = min(smaller, key=lambda r: r["params_M"]) if smaller else max(rows[1:], key=lambda r: r["accuracy"])
    arch = pick["_arch"]
    print(f"\n4. extracting {arch.short()} ({pick['params_M']:.1f} M parameters, accuracy {pick['accuracy']:.3f})")
    sub = supernet.extract(arch).eval()
    path = sub.save(out / "subnetwork")
    again = load_subnet(path)
    probe = next(batches(task, supernet.tokenizer, split="test", batch_size=16))
    with torch.inference_mode(), supernet.activate(arch):
        diff = float((again(probe["input_ids"], probe["attention_mask"]) - supernet(probe["input_ids"], probe["attention_mask"])).abs().max())
    print(f"   saved to {path} and loaded back: {again}; max |logit difference| vs the super-network: {diff:.2e}")
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "task": task.name, "model": args.model, "steps": args.steps, "space": args.space,
        "rows": [{k: (v.to_dict() if k == "_arch" else v) for k, v in r.items()} for r in rows],
        "extracted": arch.to_dict(), "reload_max_abs_diff": diff, "wall_time_s": time.perf_counter() - t_start,
    }
    (out / "quickstart.json").write_text(json.dumps(summary, indent=1))
    print(f"   summary written to {out / 'quickstart.json'} ({summary['wall_time_s']:.0f} s in all)")
    if diff > 1e-4:
        print("error: the reloaded sub-network does not reproduce the super-network's logits", file=sys.stderr)
        return 1
    return 0


def _print_table(rows: list[dict]) -> None:
    cols = [("arch", "{}"), ("params_M", "{:.2f}"), ("encoder_params_M", "{:.2f}"), ("MFLOPs@64", "{:.0f}"), ("accuracy", "{:.3f}")]
    cells = [[c for c, _ in cols]] + [[fmt.format(r[c]) for c, fmt in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    for j, row in enumerate(cells):
        print("   " + "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
        if j == 0:
            print("   " + "  ".join("-" * w for w in widths))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="subnet-kit", description="Multi-objective search of BERT sub-networks.")
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="fine-tune briefly, evaluate sub-networks, extract, save and reload one")
    q.add_argument("--model", default="minilm-l6", help="embedded model name, hub name or local BERT directory")
    q.add_argument("--task", default="movie-snippets", help="embedded task, datasets hub name or local csv/tsv/json")
    q.add_argument("--space", default="uniform", choices=GRANULARITIES, help="search-space granularity")
    q.add_argument("--steps", type=int, default=300, help="fine-tuning steps")
    q.add_argument("--batch-size", type=int, default=32)
    q.add_argument("--lr", type=float, default=1e-4)
    q.add_argument("--archs", type=int, default=8, help="sub-networks to evaluate (largest and smallest included)")
    q.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N validation sentences")
    q.add_argument("--importance-batches", type=int, default=8)
    q.add_argument("--tolerance", type=float, default=0.02, help="accuracy loss accepted when picking the one to extract")
    q.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's default)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default="runs/quickstart")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=_quickstart)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("steps", "batch_size", "archs", "importance_batches"):
        if getattr(args, name, 1) < 1:
            print(f"subnet-kit: error: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except ValueError as e:  # bad input: one clear line, no traceback
        print(f"subnet-kit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
