"""``subnet-kit`` command line: headless entry points with progress bars.

``subnet-kit quickstart`` runs the whole path on the embedded defaults: fine-tune the super-network briefly,
reorder heads / neurons / hidden dimensions by importance, evaluate a handful of sub-networks, print a table of
arch / params / FLOPs / accuracy, extract one, save it and load it back.

``subnet-kit search`` trains the weight-sharing super-network (`train_supernet`'s best measured recipe, cached in the
kit's cache directory, so a second run or another command with the same settings loads it), runs a multi-objective
search with a progress bar showing the hypervolume, and writes ``history.csv``, ``pareto.csv``, ``result.json``,
the Pareto chart (``pareto.png``, ``pareto.svg``), the search log (``search.jsonl``; ``--resume`` continues it) and
the extracted Pareto sub-networks (``subnetworks/``).

Exit status: 0 when done; 2 on bad input (one ``subnet-kit: error:`` line, before any training); 1 when the result
failed its check — ``quickstart``: the reloaded sub-network does not reproduce the super-network; ``search``: no
evaluated sub-network meets the constraints (the message says how far the closest one is; every file, the log
included, is written, so ``--resume`` with a larger ``--budget`` continues the search).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from .recipes import (
    MAX_DEFAULT_TRAIN_STEPS, TRAIN_BATCH_SIZE, TRAIN_LR, TRAIN_RECIPE, TRAIN_STEPS, trained_supernet,
)
from .space import GRANULARITIES


def _quickstart(args: argparse.Namespace) -> int:
    import torch

    from .data import batches, load_task
    from .space import SearchSpace
    from .deploy import deploy
    from .supernet import SuperNet
    from .train import fine_tune

    t_start = time.perf_counter()
    out = Path(args.out)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    task = load_task(args.task, seed=args.seed, **_task_options(args))
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
    rows = _arch_rows(supernet, space, task, list(dict.fromkeys(archs))[: args.archs], args.eval_limit)
    _print_table(rows, [("arch", "{}"), ("params_M", "{:.2f}"), ("encoder_params_M", "{:.2f}"), ("MFLOPs@64", "{:.0f}"),
                        ("accuracy", "{:.3f}")])

    full_acc = rows[0]["accuracy"]
    smaller = [r for r in rows[1:] if r["accuracy"] >= full_acc - args.tolerance]
    pick = min(smaller, key=lambda r: r["params_M"]) if smaller else max(rows[1:], key=lambda r: r["accuracy"])
    arch = pick["_arch"]
    print(f"\n4. extracting {arch.short()} ({pick['params_M']:.1f} M parameters, accuracy {pick['accuracy']:.3f})")
    report = deploy(supernet, arch, out, name="subnetwork", timing=None)  # extract, save, reload, compare logits
    diff = max(report.reload_max_abs_diff, report.active_max_abs_diff)
    print(f"   saved to {report.path} and loaded back ({report.params:,} parameters); "
          f"max |logit difference| vs the super-network: {diff:.2e}")
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "task": task.name, "model": args.model, "steps": args.steps, "space": args.space,
        "rows": [{k: (v.to_dict() if k == "_arch" else v) for k, v in r.items()} for r in rows],
        "extracted": arch.to_dict(), "reload_max_abs_diff": diff, "wall_time_s": time.perf_counter() - t_start,
    }
    (out / "quickstart.json").write_text(json.dumps(summary, indent=1))
    print(f"   summary written to {out / 'quickstart.json'} ({summary['wall_time_s']:.0f} s in all)")
    if not report.ok:
        print("error: the reloaded sub-network does not reproduce the super-network's logits", file=sys.stderr)
        return 1
    return 0


def _arch_rows(supernet: Any, space: Any, task: Any, archs: Sequence[Any], eval_limit: int | None) -> list[dict]:
    """One table row per arch: its size, FLOPs and validation accuracy (``_arch`` keeps the arch itself)."""
    from .train import evaluate

    rows = []
    for arch in archs:
        m = evaluate(supernet, task, "validation", arch=arch, limit=eval_limit)
        rows.append({
            "arch": arch.short(),
            "params_M": space.params(arch) / 1e6,
            "encoder_params_M": space.params(arch, "encoder") / 1e6,
            "MFLOPs@64": space.flops(arch, seq_len=64) / 1e6,
            "accuracy": m["accuracy"],
            "_arch": arch,
        })
    return rows


def _measures(args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    """``(objectives, metrics)`` from the options (see `objectives.resolve_objectives`): the named objectives, and a
    metric for each constrained quantity that is not an objective, all measured with the CLI's settings."""
    from .objectives import MeasureSettings, resolve_objectives

    settings = MeasureSettings(eval_limit=args.eval_limit, batch_size=args.latency_batch_size,
                               seq_len=args.latency_seq_len, latency_mode=args.latency_mode, threads=args.threads)
    names = [n.strip() for n in args.objectives.split(",") if n.strip()]
    return resolve_objectives(names, args.constraint or [], (), settings)


def _search(args: argparse.Namespace) -> int:
    import torch

    from .deploy import deploy
    from .search import InfeasibleWarning, Search

    t_start = time.perf_counter()
    out = Path(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    from .strategies import STRATEGIES

    objectives, metrics = _measures(args)  # bad input fails here, before minutes of training
    options = dict(_option(o) for o in args.strategy_option or [])
    STRATEGIES[args.strategy].check_options(options)
    task, steps = _load_task(args)
    supernet, space, task, trained = trained_supernet(args.model, task, args.space, train_steps=steps.steps,
                                                      lr=args.train_lr, seed=args.seed, progress=not args.no_progress)
    print(f"super-network: {supernet}\nspace: {space}\nsuper-network: {_training_line(trained)}")
    s = Search(supernet, space, task, objectives, strategy=args.strategy, budget=args.budget, seed=args.seed,
               constraints=args.constraint, metrics=metrics, log=out / "search.jsonl", resume=args.resume,
               eval_limit=args.eval_limit, latency=args.latency, progress=not args.no_progress,
               strategy_options=options)
    print(f"searching: {', '.join(o.name for o in s.objectives)} with {s.strategy!r}, budget {args.budget}"
          + (f", constraints {'; '.join(map(str, s.constraints))}" if s.constraints else ""))
    if s.predictor is not None:
        print(f"latency predictor: {s.predictor}")
    with warnings.catch_warnings():  # a search with nothing feasible is reported below, once
        warnings.simplefilter("ignore", InfeasibleWarning)
        result = s.run()
    if result.meta["replayed"]:
        print(f"resumed: {result.meta['replayed']} evaluations came from the log")

    front = _write_result(result, out, f"{args.model} on {args.task}: {len(result.history)} evaluations "
                                       f"({args.strategy})")
    archs = result.archs(front)[: args.extract_max]
    # each saved, reloaded and its logits checked (no timing: the search measured the archs)
    reports = [deploy(supernet, arch, out / "subnetworks", name=f"{i:02d}-{arch.slug()}", timing=None)
               for i, arch in enumerate(archs)]

    status = _print_result(result, front)
    print(f"wrote {out}/: history.csv, pareto.csv, result.json, pareto.png, pareto.svg, search.jsonl and "
          f"{len(archs)} extracted sub-networks in subnetworks/ ({time.perf_counter() - t_start:.0f} s in all)")
    bad = [r.path.name for r in reports if not r.ok]
    if bad:
        print(f"error: reloaded sub-networks do not reproduce the super-network's logits: {', '.join(bad)}",
              file=sys.stderr)
        return 1
    return status


def _task_options(args: argparse.Namespace) -> dict[str, Any]:
    """The data options (``--text-column``, ``--label-column``, ``--config``) as `load_task` keyword arguments."""
    return {"text_column": args.text_column, "label_column": args.label_column, "config": args.config}


def _load_task(args: argparse.Namespace) -> tuple[Any, Any]:
    """Load ``--task`` with the data options and print it and its training length (`recipes.train_steps_for`:
    ``--train-steps``, by default one epoch of the training split, capped) before any training starts."""
    from .data import load_task
    from .recipes import train_steps_for

    task = load_task(args.task, seed=args.seed, **_task_options(args))
    steps = train_steps_for(task, getattr(args, "train_steps", None))
    print(f"task: {task}\nsuper-network training: {steps.note}")
    return task, steps


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--text-column``, ``--label-column``, ``--config``: how `load_task` reads a file or hub ``--task``."""
    parser.add_argument("--text-column", default="text", help="the text column of a csv/tsv/json file or hub dataset")
    parser.add_argument("--label-column", default="label", help="the label column (integers or strings)")
    parser.add_argument("--config", default=None, help="the hub dataset's configuration (e.g. sst2 of glue)")


def _training_line(trained: Any) -> str:
    """How the search's super-network came to be, in one line."""
    if trained is None:
        return "not trained (--train-steps 0)"
    if trained.from_cache:
        return f"trained weights loaded from the cache ({trained.from_cache})"
    return (f"trained with the {TRAIN_RECIPE} recipe (last stage {trained.steps} steps, {trained.train_time_s:.0f} s); "
            f"cached for the next run")


def _write_result(result: Any, out: Path, title: str) -> Any:
    """Write history.csv, pareto.csv, result.json and the Pareto chart (PNG, SVG) to ``out``; returns the front."""
    out.mkdir(parents=True, exist_ok=True)
    result.to_csv(out / "history.csv")
    front = result.pareto()
    front.to_csv(out / "pareto.csv", index=False)
    result.to_json(out / "result.json")
    chart = result.chart(title=title)
    for ext in ("png", "svg"):
        chart.save(str(out / f"pareto.{ext}"))
    return front


def _option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ValueError(f"--strategy-option takes KEY=VALUE (e.g. pop_size=40), got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _print_table(rows: list[dict], cols: Sequence[tuple[str, str]]) -> None:
    """Print ``rows`` as an aligned text table of the columns ``cols`` (``(name, format)`` pairs; the first column
    left-aligned, the others right-aligned)."""
    cells = [[c for c, _ in cols]] + [[fmt.format(r[c]) for c, fmt in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    for j, row in enumerate(cells):
        print("   " + "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
        if j == 0:
            print("   " + "  ".join("-" * w for w in widths))


def _print_result(result: Any, front: Any) -> int:
    """Print what a search found: the Pareto front as a table and its hypervolume; or, when no evaluated arch meets
    the constraints, `Result.infeasible_message` on stderr; a warning on stderr when latencies stayed noisy
    (`objectives.noisy_latency_note`). Returns the exit status: 0, or 1 when nothing is feasible (the run's files
    are written all the same)."""
    from .objectives import noisy_latency_note

    n, reason = len(result.history), result.meta.get("stop_reason")
    message = result.infeasible_message
    noisy = noisy_latency_note(result.history, None if message else front)
    if noisy:  # a busy machine disturbed the timing: say so before anyone trusts the table
        print(f"subnet-kit: warning: {noisy}", file=sys.stderr)
    if message:
        print(f"\n{n} evaluations (stopped: {reason}), none feasible")
        print(f"subnet-kit: {message}; relax the constraint, or continue with --resume and a larger --budget",
              file=sys.stderr)
        return 1
    cols = [*result.objectives, *(c for c in ("latency_measured",) if c in front.columns)]
    print(f"\n{n} evaluations (stopped: {reason}), {len(front)} on the Pareto front:")
    _print_table([{**row.to_dict(), "arch": a.short()} for a, (_, row) in zip(result.archs(front), front.iterrows())],
                 [("arch", "{}"), *((c, "{:.4g}") for c in cols)])
    if len(front):
        print(f"hypervolume (normalised; default reference point): {result.hypervolume():.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="subnet-kit", description="Multi-objective search of BERT sub-networks.")
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="fine-tune briefly, evaluate sub-networks, extract, save and reload one")
    q.add_argument("--model", default="minilm-l6", help="embedded model name, hub name or local BERT directory")
    q.add_argument("--task", default="movie-snippets", help="embedded task, datasets hub name or local csv/tsv/json")
    _add_data_options(q)
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

    from .strategies import STRATEGIES

    s = sub.add_parser("search", help="multi-objective search: history, Pareto front, chart, extracted sub-networks")
    s.add_argument("--model", default="minilm-l6", help="embedded model name, hub name or local BERT directory")
    s.add_argument("--task", default="movie-snippets", help="embedded task, datasets hub name or local csv/tsv/json")
    _add_data_options(s)
    s.add_argument("--space", default="per-layer", choices=GRANULARITIES, help="search-space granularity")
    s.add_argument("--objectives", default="error,latency",
                   help="comma-separated, all minimised: error, params, flops, latency (ms), memory (bytes)")
    s.add_argument("--strategy", default="nsga2", choices=sorted(STRATEGIES))
    s.add_argument("--strategy-option", action="append", metavar="KEY=VALUE", help="e.g. pop_size=40 (repeatable)")
    s.add_argument("--budget", type=int, default=100, help="distinct sub-networks to evaluate")
    s.add_argument("--constraint", action="append", metavar="EXPR",
                   help="e.g. 'latency <= 15' (ms) or 'params <= 10e6' (repeatable)")
    s.add_argument("--eval-limit", type=int, default=500, help="validation sentences the error is measured on")
    s.add_argument("--train-steps", type=int, default=None,
                   help=f"training steps of batch {TRAIN_BATCH_SIZE}, {TRAIN_RECIPE} recipe (default: one epoch of the "
                        f"task's training split, at most {MAX_DEFAULT_TRAIN_STEPS}; {TRAIN_STEPS} for movie-snippets); "
                        "the trained super-network is cached and reused; 0 = search the untrained super-network")
    s.add_argument("--train-lr", type=float, default=TRAIN_LR, help="learning rate of that training")
    s.add_argument("--latency", default="measured", choices=("measured", "predicted"),
                   help="measure every sub-network, or fit a latency predictor and re-measure the final front")
    s.add_argument("--latency-batch-size", type=int, default=1, help="sequences per forward (latency, memory, flops)")
    s.add_argument("--latency-seq-len", type=int, default=64, help="tokens per sequence (latency, memory, flops)")
    from .objectives import MODES  # active, extracted, onnx

    s.add_argument("--latency-mode", default="active", choices=MODES,
                   help="time the super-network running the sub-network (active), an extracted torch copy "
                        "(extracted), or that copy exported to ONNX and run in ONNX Runtime (onnx; exports cached)")
    s.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's default)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="runs/search")
    s.add_argument("--resume", action="store_true", help="continue the search logged in OUT/search.jsonl")
    s.add_argument("--extract-max", type=int, default=None, help="extract at most N Pareto sub-networks (default all)")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_search)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("steps", "batch_size", "archs", "importance_batches", "budget", "eval_limit", "latency_batch_size",
                 "latency_seq_len"):
        if getattr(args, name, None) is not None and getattr(args, name) < 1:
            print(f"subnet-kit: error: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except ValueError as e:  # bad input: one clear line, no traceback
        print(f"subnet-kit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
