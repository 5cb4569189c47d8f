"""``subnet-kit`` command line: headless entry points with progress bars.

``subnet-kit quickstart`` is the main job, on the embedded defaults: train the weight-sharing super-network with the
default recipe (`trained_supernet`; the same cache entry as ``search`` and the notebooks, so it trains once), run a
short search (``--strategy``, default `strategies.DEFAULT_STRATEGY`) of validation error against latency (its log
``search-<settings>.jsonl`` is resumed, so a second run with the same settings replays it), print the Pareto front
with the full model as a reference row, save the chart, deploy the most accurate sub-network within a latency budget
(default half the full model's latency): extract, save, reload, export to ONNX (ONNX Runtime's fusions where they
apply; INT8 only with ``--int8``), and print torch against ONNX Runtime latency, full against chosen, and the test
accuracies; ``quickstart.json`` holds it all.

``subnet-kit search`` trains the weight-sharing super-network (`train_supernet`'s best measured recipe, cached in the
kit's cache directory, so a second run or another command with the same settings loads it), runs a multi-objective
search with a progress bar showing the hypervolume, and writes ``history.csv``, ``pareto.csv``, ``result.json``,
the Pareto chart (``pareto.png``, ``pareto.svg``), the search log (``search.jsonl``; ``--resume`` continues it) and
the extracted Pareto sub-networks (``subnetworks/``).

Exit status: 0 when done; 2 on bad input (one ``subnet-kit: error:`` line, before any training); 1 when the result
failed its check — ``quickstart``: no evaluated sub-network is within the latency budget, or the deployed one does
not reproduce the super-network (reloaded logits, ONNX logits, ONNX test accuracy); ``search``: no
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
    MAX_DEFAULT_TRAIN_STEPS, TRAIN_BATCH_SIZE, TRAIN_LR, TRAIN_RECIPE, TRAIN_STEPS, get_recipe, trained_supernet,
)
from .space import GRANULARITIES, Arch


QUICKSTART_BUDGET = 40  # distinct sub-networks the quickstart's search evaluates
QUICKSTART_EVAL_LIMIT = 300  # validation sentences behind each error value of the quickstart's search


def _quickstart(args: argparse.Namespace) -> int:
    import torch

    from .deploy import Timing, deploy

    t_start = time.perf_counter()
    out = Path(args.out)
    share, budget_ms = _latency_budget(args.latency_budget)  # bad input fails here, before minutes of training
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if args.threads:
        torch.set_num_threads(args.threads)
    task, steps = _load_task(args)
    supernet, space, task, trained = trained_supernet(args.model, task, args.space, train_steps=steps.steps,
                                                      lr=args.train_lr, seed=args.seed, progress=not args.no_progress)
    print(f"super-network: {supernet}\nspace: {space}\n1. weight-sharing super-network: {_training_line(trained)}")
    print(f"\n2. {args.strategy} search of validation error (first {args.eval_limit} sentences) against {args.latency_mode} "
          f"latency (batch 1 x 64 tokens, {torch.get_num_threads()} CPU thread(s)), {args.budget} sub-networks")
    result, reference = _quickstart_search(args, supernet, space, task, out)
    budget_ms = budget_ms if budget_ms is not None else share * reference["latency"]
    pick = result.best(by="error", latency=budget_ms) if (result.history["latency"] <= budget_ms).any() else None
    front = _write_result(result, out, f"{args.model} on {task.name}: {len(result.history)} evaluations "
                          f"({result.meta['strategy']['name']})",
                          chart=_quickstart_chart(result, reference, budget_ms, pick))
    _print_front(result, front, reference, pick, space)
    budget_text = f"{budget_ms:.2f} ms" + (f" ({share:.0%} of the full model's {reference['latency']:.2f} ms)"
                                           if share is not None else "")
    summary = {"task": task.name, "model": args.model, "space": args.space, "train_steps": steps.steps,
               "training": _training_line(trained), "budget": args.budget, "strategy": args.strategy,
               "eval_limit": args.eval_limit, "latency_mode": args.latency_mode, "threads": torch.get_num_threads(),
               "evaluations": len(result.history), "pareto_rows": len(front), "hypervolume": result.hypervolume(),
               "reference": reference, "latency_budget_ms": budget_ms, "chart": str(out / "pareto.png")}
    if pick is None:
        fastest = float(result.history["latency"].min())
        print(f"subnet-kit: no evaluated sub-network is within the latency budget of {budget_text} (the fastest takes "
              f"{fastest:.2f} ms); raise --latency-budget or --budget", file=sys.stderr)
        return _write_summary(out, {**summary, "chosen": None, "ok": False}, t_start, 1)
    arch = Arch.from_json(pick["arch"])
    print(f"\n3. the most accurate sub-network within the latency budget of {budget_text}: eval {int(pick['eval'])}, "
          f"{arch.short()}\n   extracting, saving, reloading, exporting to ONNX"
          + (" and INT8" if args.int8 else "") + ", timing and evaluating on the test split")
    timing = Timing(threads=args.threads, batch_size=1, seq_len=min(64, supernet.dims.max_position))
    report = deploy(supernet, arch, out, name="subnetwork", timing=timing, onnx=True, int8=args.int8, task=task,
                    eval_limit=args.test_limit)
    _print_deployment(report)
    summary.update(chosen={"eval": int(pick["eval"]), "arch": arch.to_dict(), "error": float(pick["error"]),
                           "latency": float(pick["latency"]), "params": space.params(arch)},
                   deploy=report.to_dict(), ok=report.ok)
    if not report.ok:
        print("subnet-kit: error: the deployed sub-network failed its check (logits or ONNX test accuracy differ "
              f"from the super-network's; see {report.path / 'deploy.json'})", file=sys.stderr)
    return _write_summary(out, summary, t_start, 0 if report.ok else 1)


def _latency_budget(text: str) -> tuple[float | None, float | None]:
    """``--latency-budget``: ``"50%"`` (a share of the full model's latency) -> ``(0.5, None)``; ``"6.5"`` (ms) ->
    ``(None, 6.5)``."""
    allowed = "a share of the full model's latency such as 50% (0-100 %), or milliseconds such as 6.5"
    try:
        value = float(text[:-1] if text.endswith("%") else text)
    except ValueError:
        raise ValueError(f"--latency-budget takes {allowed}; got {text!r}") from None
    if text.endswith("%"):
        if not 0 < value <= 100:
            raise ValueError(f"--latency-budget takes {allowed}; got {text!r}")
        return value / 100, None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"--latency-budget takes {allowed}; got {text!r}")
    return None, value


def _quickstart_search(args: argparse.Namespace, supernet: Any, space: Any, task: Any, out: Path) -> tuple[Any, dict]:
    """The quickstart's search (the default strategy) (its log ``search-<settings>.jsonl`` in ``out`` is resumed when the same
    settings ran before, so a second run replays it) and the full model evaluated with the same objectives."""
    import hashlib

    import torch

    from .objectives import MeasureSettings
    from .onnx_runtime import weights_fingerprint
    from .search import Search

    settings = MeasureSettings(eval_limit=args.eval_limit, latency_mode=args.latency_mode, threads=args.threads,
                               seq_len=min(64, supernet.dims.max_position))
    objectives = [settings.objective("error"), settings.objective("latency")]
    key = {"weights": weights_fingerprint(supernet), "task": task.name, "space": args.space, "seed": args.seed,
           "eval_limit": args.eval_limit, "latency_mode": args.latency_mode, "threads": torch.get_num_threads(),
           "strategy": args.strategy}  # another strategy starts a new log instead of refusing the old one
    log = out / f"search-{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]}.jsonl"
    s = Search(supernet, space, task, objectives, strategy=args.strategy, budget=args.budget, seed=args.seed, log=log,
               resume=True, replay_strategy=False, progress=not args.no_progress)  # a finished log: read, not re-asked
    result = s.run()
    if result.meta["replayed"]:
        print(f"   {result.meta['replayed']} evaluations replayed from the log of an earlier run with the same "
              f"settings ({log.name})")
    full = space.largest()
    reference = {"arch": full.to_dict()}
    row = result.reference()  # the search's own row of the full model (its strategy evaluates it first: anchors)
    for o in s.objectives:  # the full model, measured exactly as the search measured every sub-network
        if row is not None:
            reference.update({c: row[c] for c in row.index if c == o.name or c.startswith(f"{o.name}_")})
        else:
            value, extras = o(full, s.context)
            reference.update({o.name: value, **{f"{o.name}_{k}": v for k, v in extras.items()}})
    return result, reference


def _quickstart_chart(result: Any, reference: dict, budget_ms: float, pick: Any) -> Any:
    """The library's Pareto chart with the full model (black diamond), the latency budget (dashed line) and the
    chosen sub-network (orange ring)."""
    import altair as alt
    import pandas as pd

    from .pareto import axes

    x, y = axes(result.objectives)
    marks = [{x: reference[x], y: reference[y], "label": "full model"}]
    if pick is not None:
        marks.append({x: float(pick[x]), y: float(pick[y]), "label": "chosen"})
    data = pd.DataFrame(marks)
    enc = dict(x=f"{x}:Q", y=f"{y}:Q")
    full = alt.Chart(data[data["label"] == "full model"]).mark_point(shape="diamond", size=120, filled=True,
                                                                     color="black").encode(**enc, tooltip=["label:N"])
    ring = alt.Chart(data[data["label"] == "chosen"]).mark_point(size=260, strokeWidth=2, color="#ff7f0e").encode(**enc)
    text = alt.Chart(data).mark_text(align="left", dx=9, dy=-9).encode(**enc, text="label:N")
    axis = "y" if y == "latency" else "x"
    budget = pd.DataFrame([{"latency": budget_ms, "label": "latency budget"}])
    line = alt.Chart(budget).mark_rule(strokeDash=[4, 4], color="#555").encode(**{axis: "latency:Q"})
    return alt.layer(result.chart(), full, ring, text, line)


def _print_front(result: Any, front: Any, reference: dict, pick: Any, space: Any) -> None:
    """The Pareto front as a table, the full model as a reference row on top (marked), the chosen row marked."""
    from .objectives import noisy_latency_note

    print(f"\n{len(result.history)} evaluations (stopped: {result.meta.get('stop_reason')}), {len(front)} on the "
          f"Pareto front (validation error, latency in ms; params in millions):")
    full = Arch.from_dict(reference["arch"])
    rows = [{"": "full model (reference)", "eval": "-", "arch": full.short(), "error": reference["error"],
             "latency": reference["latency"], "params_M": space.params(full) / 1e6}]
    for arch, (_, r) in zip(result.archs(front), front.iterrows()):
        chosen = pick is not None and int(r["eval"]) == int(pick["eval"])
        rows.append({"": "chosen" if chosen else "", "eval": str(int(r["eval"])), "arch": arch.short(),
                     "error": r["error"], "latency": r["latency"], "params_M": space.params(arch) / 1e6})
    _print_table(rows, [("", "{}"), ("eval", "{}"), ("arch", "{}"), ("error", "{:.4f}"), ("latency", "{:.2f}"),
                        ("params_M", "{:.1f}")])
    print(f"hypervolume (normalised; default reference point): {result.hypervolume():.4f}")
    noisy = noisy_latency_note(result.history, front)
    if noisy:
        print(f"subnet-kit: warning: {noisy}", file=sys.stderr)


def _print_deployment(report: Any) -> None:
    """The deployed sub-network: where it is, its checks, the torch / ONNX Runtime latency table and test accuracy."""
    opt = report.onnx_optimization or {}
    fused = ", ".join(f"{k} x{v}" for k, v in opt.get("fused", {}).items())
    print(f"   saved to {report.path} and loaded back ({report.params / 1e6:.1f} M of {report.full_params / 1e6:.1f} M "
          f"parameters); max |logit difference| vs the super-network: "
          f"{max(report.reload_max_abs_diff, report.active_max_abs_diff):.2e}, ONNX Runtime vs torch: "
          f"{report.onnx_max_abs_diff:.2e}")
    print(f"   ONNX: {report.onnx_path}" + (f" (ONNX Runtime transformer fusions: {fused})" if opt.get("optimized")
                                            else f" (not fused: {opt.get('reason')})" if opt else ""))
    t = report.timing
    print(f"\n4. latency, batch {t.get('batch_size')} x {t.get('seq_len')} tokens, {t.get('threads')} CPU thread(s), "
          f"median ms (IQR); ONNX Runtime one session at a time:")
    rows = [{**r, "params_M": r["params"] / 1e6} for r in report.latency_rows()]
    ms = "{:.2f}"
    cells = [{"model": r["model"], "params_M": f"{r['params_M']:.1f}",
              "torch_ms": _ms(r["torch_ms"], r["torch_iqr_ms"], ms), "onnx_ms": _ms(r["onnx_ms"], r["onnx_iqr_ms"], ms),
              "onnx_vs_torch": _x(r["onnx_vs_torch"]), "speedup_torch": _x(r["speedup_torch"]),
              "speedup_onnx": _x(r["speedup_onnx"])} for r in rows]
    _print_table(cells, [(c, "{}") for c in ("model", "params_M", "torch_ms", "onnx_ms", "onnx_vs_torch",
                                             "speedup_torch", "speedup_onnx")])
    if t.get("noisy"):
        print("subnet-kit: warning: the machine disturbed some of these timings (flagged noisy); measure again on a "
              "quieter machine before trusting the ratios", file=sys.stderr)
    print(f"\n5. test accuracy ({report.eval_n} sentences): full model (torch) {report.full_accuracy:.4f}; "
          f"sub-network: torch {report.accuracy:.4f}, ONNX Runtime {report.onnx_accuracy:.4f}")
    if report.int8_accuracy is not None:
        change = 100 * (report.int8_accuracy - report.onnx_accuracy)
        print(f"   INT8 (dynamic quantisation, {report.int8_path.name}): {report.int8_accuracy:.4f}, "
              f"{change:+.1f} points against fp32 ONNX; not deployed unless you choose that file")


def _ms(value: float | None, iqr: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value) + (f" ({iqr:.2f})" if iqr is not None else "")


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _write_summary(out: Path, summary: dict, t_start: float, status: int) -> int:
    """Write ``quickstart.json`` (with the wall time), say so, and return ``status``."""
    from ._log import json_default

    out.mkdir(parents=True, exist_ok=True)
    summary["wall_time_s"] = time.perf_counter() - t_start
    (out / "quickstart.json").write_text(json.dumps(summary, indent=1, default=json_default))
    print(f"\nwrote {out}/: quickstart.json, pareto.png, pareto.svg, pareto.csv, history.csv, result.json, the search "
          f"log" + (", subnetwork/ (safetensors, model.onnx, deploy.json)" if summary.get("chosen") else "")
          + f" -- {summary['wall_time_s']:.0f} s in all")
    return status


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
    from .search import InfeasibleWarning, ParallelismWarning, Search, parallelism_warning

    t_start = time.perf_counter()
    out = Path(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    from .strategies import STRATEGIES

    objectives, metrics = _measures(args)  # bad input fails here, before minutes of training
    from .executor import make_executor

    try:  # bad --workers or no Ray: one clear line here too
        executor = make_executor(args.workers, args.ray_address,
                                 {"threads": args.threads} if args.threads and args.workers > 1 else None)
    except ImportError as e:
        raise ValueError(str(e)) from None
    options = dict(_option(o) for o in args.strategy_option or [])
    STRATEGIES[args.strategy].check_options(options)
    idle = parallelism_warning(args.strategy, {**STRATEGIES[args.strategy].defaults, **options}, executor.workers,
                               cli=True)
    if idle:  # said now, before minutes of training, instead of by Search after them
        print(f"subnet-kit: warning: {idle}", file=sys.stderr)
    task, steps = _load_task(args)
    supernet, space, task, trained = trained_supernet(args.model, task, args.space, train_steps=steps.steps,
                                                      lr=args.train_lr, seed=args.seed, progress=not args.no_progress)
    print(f"super-network: {supernet}\nspace: {space}\nsuper-network: {_training_line(trained)}")
    with warnings.catch_warnings():  # already said above, before the training
        warnings.simplefilter("ignore", ParallelismWarning)
        s = Search(supernet, space, task, objectives, strategy=args.strategy, budget=args.budget, seed=args.seed,
                   constraints=args.constraint, metrics=metrics, log=out / "search.jsonl", resume=args.resume,
                   eval_limit=args.eval_limit, latency=args.latency, progress=not args.no_progress,
                   strategy_options=options, workers=executor, replay_strategy=False)  # only the result is used
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
    plan = f" ({get_recipe(TRAIN_RECIPE).plan(steps.steps)})" if steps.steps else ""
    print(f"task: {task}\nsuper-network training: {steps.note}{plan}")
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


def _write_result(result: Any, out: Path, title: str, chart: Any = None) -> Any:
    """Write history.csv, pareto.csv, result.json and the Pareto chart (PNG, SVG; ``chart``, default
    ``result.chart``) to ``out``; returns the front."""
    out.mkdir(parents=True, exist_ok=True)
    result.to_csv(out / "history.csv")
    front = result.pareto()
    front.to_csv(out / "pareto.csv", index=False)
    result.to_json(out / "result.json")
    chart = result.chart(title=title) if chart is None else chart.properties(title=title)
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
    from .objectives import MODES  # active, extracted, onnx
    from .strategies import DEFAULT_STRATEGY, STRATEGIES

    q = sub.add_parser("quickstart", help="the main job: train the weight-sharing super-network (cached), search "
                                          "error against latency, chart the front, deploy the best sub-network within "
                                          "a latency budget to ONNX and compare torch with ONNX Runtime")
    q.add_argument("--model", default="minilm-l6", help="embedded model name, hub name or local BERT directory")
    q.add_argument("--task", default="movie-snippets", help="embedded task, datasets hub name or local csv/tsv/json")
    _add_data_options(q)
    q.add_argument("--space", default="per-layer", choices=GRANULARITIES, help="search-space granularity")
    q.add_argument("--train-steps", "--steps", type=int, default=None,
                   help=f"training steps of batch {TRAIN_BATCH_SIZE}, {TRAIN_RECIPE} recipe (default: one epoch of the "
                        f"task's training split, at most {MAX_DEFAULT_TRAIN_STEPS}; {TRAIN_STEPS} for movie-snippets, "
                        "the super-network the search command and the notebooks use); cached and reused")
    q.add_argument("--train-lr", "--lr", type=float, default=TRAIN_LR, help="learning rate of that training")
    q.add_argument("--budget", type=int, default=QUICKSTART_BUDGET, help="distinct sub-networks the search evaluates")
    q.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=sorted(STRATEGIES),
                   help=f"the search strategy with its default options (default {DEFAULT_STRATEGY}, the best of "
                        "benchmarks/bench_search.py)")
    q.add_argument("--eval-limit", type=int, default=QUICKSTART_EVAL_LIMIT,
                   help="validation sentences the search's error is measured on")
    q.add_argument("--latency-mode", default="active", choices=MODES,
                   help="the search's latency: the super-network running the sub-network (active), an extracted torch "
                        "copy (extracted), or that copy in ONNX Runtime (onnx; exports cached)")
    q.add_argument("--latency-budget", default="50%",
                   help="deploy the most accurate sub-network at most this slow: a share of the full model's latency "
                        "(e.g. 50%%, the default) or milliseconds (e.g. 6.5)")
    q.add_argument("--int8", action="store_true",
                   help="also write and measure an INT8 (dynamic quantisation) ONNX file: its latency and test "
                        "accuracy change are printed; never applied otherwise")
    q.add_argument("--test-limit", type=int, default=None, help="test sentences for the accuracies (default: all)")
    q.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's default)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default="runs/quickstart")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=_quickstart)

    s = sub.add_parser("search", help="multi-objective search: history, Pareto front, chart, extracted sub-networks")
    s.add_argument("--model", default="minilm-l6", help="embedded model name, hub name or local BERT directory")
    s.add_argument("--task", default="movie-snippets", help="embedded task, datasets hub name or local csv/tsv/json")
    _add_data_options(s)
    s.add_argument("--space", default="per-layer", choices=GRANULARITIES, help="search-space granularity")
    s.add_argument("--objectives", default="error,latency",
                   help="comma-separated, all minimised: error, params, flops, latency (ms), memory (bytes)")
    s.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=sorted(STRATEGIES),
                   help=f"default {DEFAULT_STRATEGY} (the best of benchmarks/bench_search.py)")
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
    s.add_argument("--workers", type=int, default=1,
                   help="sub-networks evaluated at once on Ray actors (1 = in this process; needs subnet-kit[ray])")
    s.add_argument("--ray-address", default=None,
                   help="Ray to join: 'auto' or an address of a cluster (default: start or join a local Ray)")
    s.add_argument("--extract-max", type=int, default=None, help="extract at most N Pareto sub-networks (default all)")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_search)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("budget", "eval_limit", "latency_batch_size", "latency_seq_len", "test_limit", "workers"):
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
