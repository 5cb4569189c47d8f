"""Deploying one sub-network: extract it from the super-network, save it, load it back, check its logits, optionally
export and check ONNX, time it against the full model, and measure its test accuracy — the pipeline behind
``ExportPanel`` and the CLI.

    report = deploy(supernet, arch, "exported", onnx=True)   # -> exported/<arch.slug()>/
    report.ok, report.speedup, report.path
    report = deploy(supernet, arch, "exported", onnx=True, int8=True, task=task)   # + ONNX Runtime timing, accuracy
    report.latency_rows()                                    # torch vs ONNX Runtime, full vs this sub-network

The folder ``out_dir/<name>`` (default name: ``arch.slug()``) is written through `subnet_kit._io.atomic_dir`: it
appears complete or not at all, a failure leaves an earlier folder of that name as it was, and ``out_dir`` itself is
never deleted. It holds the saved sub-network (`SubNetwork.save`: safetensors + JSON + tokenizer), ``model.onnx``
when asked for (with ONNX Runtime's transformer fusions where they apply and keep the logits, see
`subnet_kit.onnx_runtime.optimize_onnx`), ``model.int8.onnx`` when INT8 is asked for (never otherwise), and
``deploy.json`` (the report). Logits are compared on the seeded probe inputs of `subnet_kit.objectives` (one row
padded, so the attention mask path is checked too); a mismatch is reported (``report.ok`` is False), not raised, so
the caller decides.

Timing (``timing``, a `Timing`) runs torch first (the reloaded sub-network, the super-network running it, the full
super-network), then ONNX Runtime with one live session at a time (the sub-network's file, the full model's export
from the kit's export cache, the INT8 file), all with the same threads and input size. With ``task`` the full model
(torch), the sub-network (torch), its ONNX file and its INT8 file are evaluated on the test split; the ONNX file must
agree with torch there (`ACCURACY_SLACK`), the INT8 change is measured and reported, never judged.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import objectives
from ._io import atomic_dir
from .space import Arch

__all__ = ["Timing", "DeployReport", "deploy"]

REPORT_FILE = "deploy.json"
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
# the ONNX file's test accuracy may differ from torch's by floating-point rounding flipping near-tied logits: at
# most this share of the examples (and at least one example) before `DeployReport.ok` fails
ACCURACY_SLACK = 0.005


@dataclass(frozen=True)
class Timing:
    """How `deploy` times the models (`subnet_kit.objectives.measure_latency`)."""

    batch_size: int = 1  # sentences per forward pass
    seq_len: int = 64  # tokens per sentence (at most the model's positions)
    threads: int | None = None  # CPU threads; None: torch's current setting
    repeats: int = 15  # timed forward passes per model (>= 10: median and interquartile range)
    warmup: int = 3  # untimed forward passes first

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 1), ("seq_len", 1), ("repeats", 10), ("warmup", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"Timing.{name} must be an int >= {low}, got {v!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"Timing.threads must be an int >= 1 or None (torch's setting), got {self.threads!r}")


@dataclass
class DeployReport:
    """What `deploy` wrote and measured."""

    path: Path  # the folder holding the saved sub-network
    arch: Arch  # the deployed architecture
    params: int  # parameters of the saved sub-network
    full_params: int  # parameters of the whole super-network
    reload_max_abs_diff: float  # max |logit difference|, reloaded vs freshly extracted model
    active_max_abs_diff: float  # max |logit difference|, reloaded model vs the super-network running ``arch``
    atol: float  # the tolerance ``ok`` checks the differences against
    onnx_path: Path | None = None  # the ONNX file (None: not exported)
    onnx_max_abs_diff: float | None = None  # max |logit difference|, onnxruntime vs the reloaded model
    onnx_optimization: dict[str, Any] | None = None  # optimize_onnx's report: optimized, fused, reason
    int8_path: Path | None = None  # the INT8 ONNX file (None: not asked for)
    latency_ms: float | None = None  # median latency of the reloaded sub-network (None: not timed)
    latency_iqr_ms: float | None = None  # its interquartile range
    active_latency_ms: float | None = None  # the super-network running ``arch`` (sliced weights)
    full_latency_ms: float | None = None  # the full super-network
    full_latency_iqr_ms: float | None = None  # its interquartile range
    onnx_latency_ms: float | None = None  # the sub-network's ONNX file in ONNX Runtime (None: not timed)
    onnx_latency_iqr_ms: float | None = None  # its interquartile range
    full_onnx_latency_ms: float | None = None  # the full super-network exported, in ONNX Runtime
    full_onnx_latency_iqr_ms: float | None = None  # its interquartile range
    int8_latency_ms: float | None = None  # the INT8 file in ONNX Runtime
    int8_latency_iqr_ms: float | None = None  # its interquartile range
    eval_split: str | None = None  # the split the accuracies below are measured on (None: not measured)
    eval_n: int | None = None  # examples of that split evaluated
    full_accuracy: float | None = None  # the full super-network (torch)
    accuracy: float | None = None  # the reloaded sub-network (torch)
    onnx_accuracy: float | None = None  # its ONNX file (ONNX Runtime)
    int8_accuracy: float | None = None  # its INT8 file (ONNX Runtime)
    timing: dict[str, Any] = field(default_factory=dict)  # the setting measured: threads, device, batch_size, ...

    @property
    def speedup(self) -> float | None:
        """Full super-network latency / extracted sub-network latency (None when not timed)."""
        return _ratio(self.full_latency_ms, self.latency_ms)

    @property
    def onnx_speedup(self) -> float | None:
        """The same in ONNX Runtime: full model's ONNX latency / sub-network's ONNX latency (None when not timed)."""
        return _ratio(self.full_onnx_latency_ms, self.onnx_latency_ms)

    @property
    def onnx_accuracy_ok(self) -> bool | None:
        """The ONNX file's test accuracy equals torch's up to `ACCURACY_SLACK` (None when not measured)."""
        if self.onnx_accuracy is None or self.accuracy is None or not self.eval_n:
            return None
        flipped = abs(self.onnx_accuracy - self.accuracy) * self.eval_n
        return flipped <= max(1.0, ACCURACY_SLACK * self.eval_n) + 1e-9

    @property
    def ok(self) -> bool:
        """Every logit comparison within ``atol``, and the ONNX file as accurate as torch where measured."""
        diffs = [self.reload_max_abs_diff, self.active_max_abs_diff, self.onnx_max_abs_diff]
        return all(d <= self.atol for d in diffs if d is not None) and self.onnx_accuracy_ok is not False

    def latency_rows(self) -> list[dict[str, Any]]:
        """The latency table: rows ``full`` and ``sub-network`` (and ``sub-network int8``) with ``params``,
        ``torch_ms``, ``onnx_ms`` (their IQRs as ``*_iqr_ms``), ``onnx_vs_torch`` (torch ms / ONNX Runtime ms: above
        1, ONNX Runtime is faster) and ``speedup_torch`` / ``speedup_onnx`` (full model's ms / this row's ms in that
        runtime). Missing measurements are None; empty when nothing was timed."""
        if self.latency_ms is None:
            return []
        rows = [("full", self.full_params, self.full_latency_ms, self.full_latency_iqr_ms, self.full_onnx_latency_ms,
                 self.full_onnx_latency_iqr_ms),
                ("sub-network", self.params, self.latency_ms, self.latency_iqr_ms, self.onnx_latency_ms,
                 self.onnx_latency_iqr_ms)]
        if self.int8_latency_ms is not None:
            rows.append(("sub-network int8", self.params, None, None, self.int8_latency_ms, self.int8_latency_iqr_ms))
        return [{"model": name, "params": params, "torch_ms": t, "torch_iqr_ms": t_iqr, "onnx_ms": o,
                 "onnx_iqr_ms": o_iqr, "onnx_vs_torch": _ratio(t, o), "speedup_torch": _ratio(self.full_latency_ms, t),
                 "speedup_onnx": _ratio(self.full_onnx_latency_ms, o)}
                for name, params, t, t_iqr, o, o_iqr in rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and flat: paths as strings, the arch as a dict, the ``timing`` setting's keys (``threads``,
        ``device``, ``batch_size``, ...) at the top level, plus ``speedup``, ``onnx_speedup``, ``ok`` and
        ``latency_rows``."""
        d = asdict(self)
        d.update(d.pop("timing"))
        d.update(path=str(self.path), arch=self.arch.to_dict(), speedup=self.speedup, onnx_speedup=self.onnx_speedup,
                 ok=self.ok, onnx_accuracy_ok=self.onnx_accuracy_ok, latency_rows=self.latency_rows(),
                 onnx_path=None if self.onnx_path is None else str(self.onnx_path),
                 int8_path=None if self.int8_path is None else str(self.int8_path))
        return d


def _ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, None when either is missing or ``b`` is not positive."""
    return None if a is None or b is None or b <= 0 else a / b


def _check(supernet: Any, arch: Any, out_dir: Any, name: str | None, timing: Timing | None, atol: float) -> Path:
    """Every cheap check before anything is written; returns the target folder."""
    if not hasattr(supernet, "extract") or not hasattr(supernet, "activate"):
        raise ValueError(f"deploy needs a SuperNet (it extracts from it), got {type(supernet).__name__}")
    if not isinstance(arch, Arch):
        raise ValueError(f"arch must be an Arch, got {type(arch).__name__}")
    supernet.check_arch(arch)  # ValueError naming what does not fit
    if timing is not None and not isinstance(timing, Timing):
        raise ValueError(f"timing must be a deploy.Timing or None (no timing), got {type(timing).__name__}")
    if timing is not None and timing.seq_len > supernet.dims.max_position:
        raise ValueError(f"Timing.seq_len {timing.seq_len} exceeds the model's {supernet.dims.max_position} positions")
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not atol >= 0:
        raise ValueError(f"atol must be a number >= 0, got {atol!r}")
    name = arch.slug() if name is None else name
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"name must be a plain folder name (no path separators, not '.' or '..'), got {name!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {out_dir} exists and is not a folder")
    if (out_dir / name).exists() and not (out_dir / name).is_dir():
        raise ValueError(f"{out_dir / name} exists and is not a folder; deploy writes a folder there")
    return out_dir / name


def _probe(dims: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The library's seeded probe inputs (batch 4, 16 tokens), one row half padded; token types zero."""
    ids, mask = objectives.probe_inputs(dims, 4, min(16, dims.max_position), device)  # (B, T), (B, T)
    mask = mask.clone()
    mask[1, mask.shape[1] // 2:] = 0  # one padded row: the mask path is compared too
    return ids, mask, torch.zeros_like(ids)


def _logit_diffs(supernet: Any, small: Any, reloaded: Any, arch: Arch,
                 inputs: tuple[torch.Tensor, ...]) -> tuple[float, float]:
    """(reloaded vs extracted, reloaded vs active) max |logit difference|; the super-network's mode is restored."""
    ids, mask, _ = inputs
    was_training = supernet.training
    supernet.eval()
    try:
        with torch.inference_mode():
            b = reloaded(ids, mask)
            a = small(ids, mask)
            with supernet.activate(arch):
                c = supernet(ids, mask)
    finally:
        supernet.train(was_training)
    return float((a - b).abs().max()), float((c - b).abs().max())


def _check_extras(onnx: bool, int8: bool, optimize: bool, task: Any, eval_limit: int | None) -> None:
    """The cheap checks of the ONNX, INT8 and accuracy options."""
    for name, v in (("onnx", onnx), ("int8", int8), ("optimize", optimize)):
        if not isinstance(v, bool):
            raise ValueError(f"{name} must be True or False, got {v!r}")
    if int8 and not onnx:
        raise ValueError("int8=True quantises the ONNX file: pass onnx=True too")
    from .data import Task

    if task is not None and not isinstance(task, Task):
        raise ValueError(f"task must be a Task (load_task(...)) or None (no accuracy), got {type(task).__name__}")
    if eval_limit is not None and (isinstance(eval_limit, bool) or not isinstance(eval_limit, int) or eval_limit < 1):
        raise ValueError(f"eval_limit must be an int >= 1 or None (the whole test split), got {eval_limit!r}")


def _export(reloaded: Any, folder: Path, inputs: tuple[torch.Tensor, ...], optimize: bool,
            int8: bool) -> dict[str, Any]:
    """Export ``reloaded`` to ``folder/model.onnx`` (with ONNX Runtime's transformer fusions where they apply and keep
    the logits, when ``optimize``), compare ONNX Runtime's logits with torch's, and quantise to
    ``folder/model.int8.onnx`` when ``int8``; the `DeployReport` fields of that."""
    from .export import export_onnx, onnx_max_abs_diff
    from .onnx_runtime import optimize_onnx, quantize_int8

    target = folder / ONNX_FILE
    optimization = None
    if optimize:
        plain = export_onnx(reloaded, folder / "model.plain.onnx", verify=False)
        optimization = optimize_onnx(plain, target)
        plain.unlink()
    else:
        export_onnx(reloaded, target, verify=False)
    fields = {"onnx_max_abs_diff": onnx_max_abs_diff(reloaded, target, *inputs), "onnx_optimization": optimization}
    if int8:
        quantize_int8(target, folder / INT8_FILE)
    return fields


def _time(supernet: Any, reloaded: Any, arch: Arch, timing: Timing, folder: Path, onnx: bool,
          int8: bool) -> dict[str, Any]:
    """Time torch first (the reloaded sub-network, the active arch, the full super-network), then, on a CPU, ONNX
    Runtime with one live session at a time (the sub-network's file in ``folder``, the full model's cached export,
    the INT8 file); the `DeployReport` fields of that."""
    setting = dict(batch_size=timing.batch_size, seq_len=timing.seq_len, threads=timing.threads,
                   repeats=timing.repeats, warmup=timing.warmup)
    sub = objectives.measure_latency(reloaded, **setting)
    active = objectives.measure_latency(supernet, arch, mode="active", **setting)
    full = objectives.measure_latency(supernet, supernet.dims.full_arch(), **setting)
    measured = [sub, active, full]
    fields = {"latency_ms": sub["median_ms"], "latency_iqr_ms": sub["iqr_ms"], "active_latency_ms": active["median_ms"],
              "full_latency_ms": full["median_ms"], "full_latency_iqr_ms": full["iqr_ms"]}
    if onnx and str(sub["device"]) == "cpu":  # ONNX Runtime runs on the CPU: compared with torch there only
        from .onnx_runtime import exported_onnx, measure_onnx_latency

        full_path, _ = exported_onnx(supernet, supernet.dims.full_arch())  # the kit's export cache
        files = {"onnx": folder / ONNX_FILE, "full_onnx": full_path, **({"int8": folder / INT8_FILE} if int8 else {})}
        for key, path in files.items():  # each session created, timed and released before the next one
            m = measure_onnx_latency(path, dims=supernet.dims, **setting)
            fields.update({f"{key}_latency_ms": m["median_ms"], f"{key}_latency_iqr_ms": m["iqr_ms"]})
            measured.append(m)
    fields["timing"] = {"threads": sub["threads"], "device": str(sub["device"]), "batch_size": timing.batch_size,
                        "seq_len": timing.seq_len, "repeats": timing.repeats,
                        # a measurement disturbed by other load (see measure_latency): do not trust that speed-up
                        "noisy": any(bool(m.get("noisy", False)) for m in measured)}
    return fields


def _accuracy(supernet: Any, reloaded: Any, task: Any, folder: Path, onnx: bool, int8: bool,
              limit: int | None) -> dict[str, Any]:
    """Test accuracy of the full super-network and the reloaded sub-network (torch), and of its ONNX and INT8 files
    (ONNX Runtime); the `DeployReport` fields of that."""
    from .train import evaluate

    full = evaluate(supernet, task, "test", arch=supernet.dims.full_arch(), limit=limit)
    sub = evaluate(reloaded, task, "test", limit=limit)
    fields = {"eval_split": "test", "eval_n": sub["n"], "full_accuracy": full["accuracy"], "accuracy": sub["accuracy"]}
    if onnx:
        from .onnx_runtime import onnx_evaluate

        for key, name in (("onnx_accuracy", ONNX_FILE), *((("int8_accuracy", INT8_FILE),) if int8 else ())):
            fields[key] = onnx_evaluate(folder / name, task, reloaded.tokenizer, "test", limit=limit)["accuracy"]
    return fields


def deploy(supernet: Any, arch: Arch, out_dir: str | os.PathLike, *, name: str | None = None,
           timing: Timing | None = Timing(), onnx: bool = False, atol: float = 1e-4, int8: bool = False,
           optimize: bool = True, task: Any = None, eval_limit: int | None = None) -> DeployReport:
    """Extract ``arch`` from ``supernet``, save it to ``out_dir/<name>`` (default ``arch.slug()``), reload it and
    compare logits with the extracted model and with the super-network running ``arch``; with ``onnx`` export
    ``model.onnx`` (``optimize``: with ONNX Runtime's transformer fusions where they apply) and compare ONNX
    Runtime's logits, and with ``int8`` also write its dynamic INT8 quantisation ``model.int8.onnx``; with
    ``timing`` (a `Timing`; None skips it) time the reloaded sub-network, the active arch and the full super-network
    on the super-network's device, and with ``onnx`` on a CPU the ONNX files and the full model's export in ONNX
    Runtime (one live session at a time); with ``task`` measure the test accuracy (first ``eval_limit`` examples)
    of the full super-network, the sub-network and its ONNX / INT8 files.

    Bad input raises one ValueError before anything is written. The super-network's train mode, active arch,
    device and the caller's random state are as they were. (11 parameters: each a step of the pipeline.)
    """
    from .supernet import load_subnet

    target = _check(supernet, arch, out_dir, name, timing, atol)
    _check_extras(onnx, int8, optimize, task, eval_limit)
    device = next(supernet.parameters()).device
    inputs = _probe(supernet.dims, device)
    with atomic_dir(target) as tmp:
        small = supernet.extract(arch).eval()
        small.save(tmp)
        reloaded = load_subnet(tmp).to(device).eval()
        reload_diff, active_diff = _logit_diffs(supernet, small, reloaded, arch, inputs)
        measured = _export(reloaded, tmp, inputs, optimize, int8) if onnx else {}
        if timing is not None:
            measured.update(_time(supernet, reloaded, arch, timing, tmp, onnx, int8))
        if task is not None:
            measured.update(_accuracy(supernet, reloaded, task, tmp, onnx, int8, eval_limit))
        report = DeployReport(
            path=target, arch=arch, params=sum(p.numel() for p in reloaded.parameters()),
            full_params=sum(p.numel() for p in supernet.parameters()), reload_max_abs_diff=reload_diff,
            active_max_abs_diff=active_diff, atol=float(atol), onnx_path=target / ONNX_FILE if onnx else None,
            int8_path=target / INT8_FILE if int8 else None, **measured)
        (tmp / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=1))
    return report
