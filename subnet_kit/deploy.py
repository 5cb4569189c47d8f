"""Deploying one sub-network: extract it from the super-network, save it, load it back, check its logits, optionally
export and check ONNX, and time it against the full model — the pipeline behind ``ExportPanel`` and the CLI.

    report = deploy(supernet, arch, "exported", onnx=True)   # -> exported/<arch.slug()>/
    report.ok, report.speedup, report.path

The folder ``out_dir/<name>`` (default name: ``arch.slug()``) is written through `subnet_kit._io.atomic_dir`: it
appears complete or not at all, a failure leaves an earlier folder of that name as it was, and ``out_dir`` itself is
never deleted. It holds the saved sub-network (`SubNetwork.save`: safetensors + JSON + tokenizer), ``model.onnx``
when asked for, and ``deploy.json`` (the report). Logits are compared on the seeded probe inputs of
`subnet_kit.objectives` (one row padded, so the attention mask path is checked too); a mismatch is reported
(``report.ok`` is False), not raised, so the caller decides.
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
    latency_ms: float | None = None  # median latency of the reloaded sub-network (None: not timed)
    latency_iqr_ms: float | None = None  # its interquartile range
    active_latency_ms: float | None = None  # the super-network running ``arch`` (sliced weights)
    full_latency_ms: float | None = None  # the full super-network
    timing: dict[str, Any] = field(default_factory=dict)  # the setting measured: threads, device, batch_size, ...

    @property
    def speedup(self) -> float | None:
        """Full super-network latency / extracted sub-network latency (None when not timed)."""
        if self.latency_ms is None or self.full_latency_ms is None or self.latency_ms <= 0:
            return None
        return self.full_latency_ms / self.latency_ms

    @property
    def ok(self) -> bool:
        """Every logit comparison within ``atol``."""
        diffs = [self.reload_max_abs_diff, self.active_max_abs_diff, self.onnx_max_abs_diff]
        return all(d <= self.atol for d in diffs if d is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and flat: paths as strings, the arch as a dict, the ``timing`` setting's keys (``threads``,
        ``device``, ``batch_size``, ...) at the top level, plus ``speedup`` and ``ok``."""
        d = asdict(self)
        d.update(d.pop("timing"))
        d.update(path=str(self.path), arch=self.arch.to_dict(), speedup=self.speedup, ok=self.ok,
                 onnx_path=None if self.onnx_path is None else str(self.onnx_path))
        return d


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


def _time(supernet: Any, reloaded: Any, arch: Arch, timing: Timing) -> dict[str, Any]:
    setting = dict(batch_size=timing.batch_size, seq_len=timing.seq_len, threads=timing.threads,
                   repeats=timing.repeats, warmup=timing.warmup)
    sub = objectives.measure_latency(reloaded, **setting)
    active = objectives.measure_latency(supernet, arch, mode="active", **setting)
    full = objectives.measure_latency(supernet, supernet.dims.full_arch(), **setting)
    return {"latency_ms": sub["median_ms"], "latency_iqr_ms": sub["iqr_ms"], "active_latency_ms": active["median_ms"],
            "full_latency_ms": full["median_ms"],
            "timing": {"threads": sub["threads"], "device": str(sub["device"]), "batch_size": timing.batch_size,
                       "seq_len": timing.seq_len, "repeats": timing.repeats,
                       # a measurement disturbed by other load (see measure_latency): do not trust that speed-up
                       "noisy": any(bool(m.get("noisy", False)) for m in (sub, active, full))}}


def deploy(supernet: Any, arch: Arch, out_dir: str | os.PathLike, *, name: str | None = None,
           timing: Timing | None = Timing(), onnx: bool = False, atol: float = 1e-4) -> DeployReport:
    """Extract ``arch`` from ``supernet``, save it to ``out_dir/<name>`` (default ``arch.slug()``), reload it and
    compare logits with the extracted model and with the super-network running ``arch``; with ``onnx`` export
    ``model.onnx`` and compare onnxruntime's logits; with ``timing`` (a `Timing`; None skips it) time the reloaded
    sub-network, the active arch and the full super-network on the super-network's device.

    Bad input raises one ValueError before anything is written. The super-network's train mode, active arch,
    device and the caller's random state are as they were.
    """
    from .supernet import load_subnet

    target = _check(supernet, arch, out_dir, name, timing, atol)
    device = next(supernet.parameters()).device
    inputs = _probe(supernet.dims, device)
    with atomic_dir(target) as tmp:
        small = supernet.extract(arch).eval()
        small.save(tmp)
        reloaded = load_subnet(tmp).to(device).eval()
        reload_diff, active_diff = _logit_diffs(supernet, small, reloaded, arch, inputs)
        onnx_diff = None
        if onnx:
            from .export import export_onnx, onnx_max_abs_diff

            export_onnx(reloaded, tmp / ONNX_FILE, verify=False)
            onnx_diff = onnx_max_abs_diff(reloaded, tmp / ONNX_FILE, *inputs)
        measured = _time(supernet, reloaded, arch, timing) if timing is not None else {}
        report = DeployReport(
            path=target, arch=arch, params=sum(p.numel() for p in reloaded.parameters()),
            full_params=sum(p.numel() for p in supernet.parameters()), reload_max_abs_diff=reload_diff,
            active_max_abs_diff=active_diff, atol=float(atol), onnx_path=target / ONNX_FILE if onnx else None,
            onnx_max_abs_diff=onnx_diff, **measured)
        (tmp / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=1))
    return report
