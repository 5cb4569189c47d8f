"""Objectives of a sub-network search: what is measured for one arch, in which unit — always minimised — and the
constraints on them; plus on-device latency and memory measurement and a latency predictor.

Scope:

* `Objective`: ``name``, ``unit``, ``direction`` (always ``"minimize"``: accuracy-like quantities are searched as
  their complement, e.g. ``error = 1 - accuracy``) and ``objective(arch, context) -> (value, extras)``. The base
  class checks (context present, value a finite number); subclasses compute in ``_measure``.
* Built-ins, by name (`OBJECTIVES`): ``error`` (1 - validation accuracy on a fixed subset), ``params``, ``flops``
  (analytic, from the `SearchSpace`), ``latency`` (milliseconds, measured on the super-network's device) and
  ``memory`` (peak bytes of a forward pass). A plain callable ``arch -> float`` is an objective too.
* `Constraint`: ``"latency <= 15"`` or ``("params", "<=", 10e6)``; its ``g(value) <= 0`` means satisfied.
* `measure_latency` / `measure_memory`: usable on their own; neither changes the caller's model, device, thread
  count or random state. `measure_latency` knows when the machine disturbed it (a wide spread of the timed
  forwards, or the OS taking the CPU away from them): it re-measures a bounded number of times and flags what stays
  disturbed (``noisy``), so a search records which latencies not to trust. `probe_inputs` are the seeded inputs
  both time with (and exports compare on).
* `LatencyPredictor`: least squares on per-arch features (layers and FLOPs), fitted on measured archs, with
  Spearman rho and MAPE on held-out archs; `PredictedLatency` is the objective that uses it.

>>> from subnet_kit.space import ModelDims, SearchSpace
>>> space = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "uniform")
>>> params = get_objective("params")
>>> params(space.largest(), Context(space=space))[0] == space.params(space.largest())
True
>>> Constraint.parse("latency <= 15 ms")
Constraint('latency <= 15 ms')
"""

from __future__ import annotations

import contextlib
import math
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .space import Arch, ModelDims, SearchSpace, count_flops, count_params

try:
    import resource  # Unix: counts the times the OS took the CPU away from this process
except ImportError:  # Windows: latency noise is judged by the spread of the times alone
    resource = None  # type: ignore[assignment]

__all__ = [
    "Context", "Objective", "FunctionObjective", "Error", "Params", "Flops", "Latency", "Memory", "PredictedLatency",
    "OBJECTIVES", "get_objective", "as_objective", "Constraint", "measure_latency", "measure_memory", "probe_inputs",
    "noisy_latency_note", "LatencyPredictor", "spearman", "MeasureSettings", "resolve_objectives", "predict_latency",
]

MODES = ("active", "extracted", "onnx")  # how latency runs a sub-network: sliced weights, a torch copy, ONNX Runtime
MEMORY_MODES = ("active", "extracted")  # memory is measured in torch (an "onnx" latency setting measures "extracted")


# --------------------------------------------------------------------------------------------------------------
# Context and the base class
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Context:
    """What objectives may read: the super-network, the search space and the task (any may be None)."""

    supernet: Any = None  # a SuperNet: error, latency and memory run it
    space: SearchSpace | None = None  # the search space: params and flops count from its dims
    task: Any = None  # a Task: error evaluates on it

    @property
    def dims(self) -> ModelDims | None:
        if self.space is not None:
            return self.space.dims
        return getattr(self.supernet, "dims", None)


class Objective:
    """One quantity to minimise for an arch. Subclasses set ``name``, ``unit`` and ``needs`` and compute in
    `_measure`, which returns a number or a dict with ``"value"`` and extra fields (e.g. ``iqr_ms``) that the
    search records as ``<name>_<field>`` columns.

    >>> class Depth(Objective):
    ...     name, unit = "depth", "layers"
    ...     def _measure(self, arch, ctx):
    ...         return arch.layers
    >>> Depth()(Arch.uniform(3, 4, 64, 64), Context())
    (3.0, {})
    """

    name: str = "objective"
    unit: str = ""
    direction: str = "minimize"  # every objective is minimised
    needs: tuple[str, ...] = ()  # Context fields that must not be None: "supernet", "task", "space" or "dims"

    def __call__(self, arch: Arch, ctx: Context) -> tuple[float, dict[str, Any]]:
        self.check_context(ctx)
        out = self._measure(arch, ctx)
        extras: dict[str, Any] = {}
        if isinstance(out, dict):
            if "value" not in out:
                raise ValueError(f"objective {self.name!r} returned a dict without 'value': {sorted(out)}")
            extras = {k: v for k, v in out.items() if k != "value"}
            out = out["value"]
        try:
            value = float(out)
        except (TypeError, ValueError):
            raise ValueError(f"objective {self.name!r} must return a number, got {out!r} for {arch.short()}") from None
        if not math.isfinite(value):
            raise ValueError(f"objective {self.name!r} returned {value} for {arch.short()}; values must be finite")
        return value, extras

    def check_context(self, ctx: Context) -> None:
        """Raise a ValueError naming what is missing when ``ctx`` lacks what this objective needs."""
        missing = [n for n in self.needs if getattr(ctx, n) is None]
        if missing:
            raise ValueError(
                f"objective {self.name!r} needs {' and '.join(missing)}; pass "
                + ", ".join({"supernet": "a SuperNet", "task": "a task (load_task(...))", "space": "a SearchSpace",
                             "dims": "a SearchSpace or SuperNet"}[n] for n in missing)
            )

    def _measure(self, arch: Arch, ctx: Context) -> float | dict[str, Any]:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The settings that define what this objective measures (a resumed search must use the same ones)."""
        return {"name": self.name, "unit": self.unit}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k not in ("name", "unit"))
        return f"{type(self).__name__}({args})"


class FunctionObjective(Objective):
    """A user's callable ``fn(arch) -> float`` (minimised), under ``name`` (default: the function's name).

    >>> depth = FunctionObjective(lambda arch: arch.layers, name="depth", unit="layers")
    >>> depth(Arch.uniform(2, 4, 64, 64), Context())[0]
    2.0
    """

    def __init__(self, fn: Callable[[Arch], Any], name: str | None = None, unit: str = "") -> None:
        if not callable(fn):
            raise ValueError(f"expected a callable arch -> float, got {fn!r}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "objective")
        if self.name == "<lambda>":
            raise ValueError("name the lambda objective: FunctionObjective(fn, name='...')")
        self.unit = unit

    def _measure(self, arch: Arch, ctx: Context) -> Any:
        return self.fn(arch)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "callable": getattr(self.fn, "__name__", type(self.fn).__name__)}


# --------------------------------------------------------------------------------------------------------------
# Built-in objectives
# --------------------------------------------------------------------------------------------------------------
class Error(Objective):
    """``1 - accuracy`` of the active sub-network on the first ``limit`` examples of ``split`` (a fixed subset:
    the splits are seeded), via `train.evaluate`. Extras: ``loss`` (mean cross-entropy), ``n`` (examples)."""

    name, unit, needs = "error", "fraction", ("supernet", "task")

    def __init__(self, limit: int | None = 500, split: str = "validation", batch_size: int = 64,
                 max_length: int = 128) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit (evaluation examples) must be >= 1 or None for the whole split, got {limit}")
        self.limit, self.split, self.batch_size, self.max_length = limit, split, batch_size, max_length

    def _measure(self, arch: Arch, ctx: Context) -> dict[str, Any]:
        from .train import evaluate

        m = evaluate(ctx.supernet, ctx.task, self.split, arch=arch, limit=self.limit, batch_size=self.batch_size,
                     max_length=self.max_length)
        return {"value": m["error"], "loss": m["loss"], "n": m["n"]}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "limit": self.limit, "split": self.split, "max_length": self.max_length}


class Params(Objective):
    """Parameters of the extracted sub-network (analytic, exact; ``part``: ``all``, ``encoder``, ``embeddings``)."""

    name, unit, needs = "params", "parameters", ("dims",)

    def __init__(self, part: str = "all") -> None:
        self.part = part

    def _measure(self, arch: Arch, ctx: Context) -> int:
        return count_params(ctx.dims, arch, self.part)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "part": self.part}


class Flops(Objective):
    """Forward FLOPs of the sub-network on ``batch_size`` sequences of ``seq_len`` tokens (analytic, see
    `space.count_flops`)."""

    name, unit, needs = "flops", "FLOPs", ("dims",)

    def __init__(self, seq_len: int = 64, batch_size: int = 1, part: str = "all") -> None:
        self.seq_len, self.batch_size, self.part = seq_len, batch_size, part

    def _measure(self, arch: Arch, ctx: Context) -> int:
        return count_flops(ctx.dims, arch, self.seq_len, self.batch_size, self.part)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "seq_len": self.seq_len, "batch_size": self.batch_size, "part": self.part}


class Latency(Objective):
    """Median forward latency in ms on the super-network's device (see `measure_latency`). Extras (a search records
    them as ``latency_<field>``): ``iqr_ms``, ``threads``, and whether the machine disturbed the measurement:
    ``noisy`` (still disturbed after ``max_attempts`` attempts: do not trust this value), ``rel_spread`` (IQR /
    median of the kept attempt) and ``attempts``.

    ``mode="active"`` times the super-network running the sub-network on sliced shared weights;
    ``mode="extracted"`` times a physically smaller copy (``supernet.extract(arch)``) in torch;
    ``mode="onnx"`` times that copy exported to ONNX (transformer graph optimisations applied where they check out)
    in ONNX Runtime on the CPU, one live session at a time; exports are cached, so an arch is exported once (see
    `subnet_kit.onnx_runtime`).
    ``threads``: CPU threads to time with (default: torch's current setting, recorded in the extras).
    """

    name, unit, needs = "latency", "ms", ("supernet",)

    def __init__(self, batch_size: int = 1, seq_len: int = 64, warmup: int = 3, repeats: int = 15,
                 mode: str = "active", threads: int | None = None, max_attempts: int = 3,
                 max_rel_spread: float = 0.2) -> None:
        _check_timing(batch_size, seq_len, warmup, repeats, mode, threads, max_attempts, max_rel_spread)
        self.batch_size, self.seq_len, self.warmup, self.repeats = batch_size, seq_len, warmup, repeats
        self.mode, self.threads = mode, threads
        self.max_attempts, self.max_rel_spread = max_attempts, max_rel_spread

    def _measure(self, arch: Arch, ctx: Context) -> dict[str, Any]:
        m = measure_latency(ctx.supernet, arch, batch_size=self.batch_size, seq_len=self.seq_len, warmup=self.warmup,
                            repeats=self.repeats, mode=self.mode, threads=self.threads,
                            max_attempts=self.max_attempts, max_rel_spread=self.max_rel_spread)
        return {"value": m["median_ms"], **{k: m[k] for k in ("iqr_ms", "threads", "noisy", "rel_spread", "attempts")}}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "batch_size": self.batch_size, "seq_len": self.seq_len, "warmup": self.warmup,
                "repeats": self.repeats, "mode": self.mode, "threads": self.threads,
                "max_attempts": self.max_attempts, "max_rel_spread": self.max_rel_spread}


class Memory(Objective):
    """Peak bytes of one forward pass: the sub-network's parameter bytes plus the peak of the tensors the forward
    allocates (see `measure_memory`; CUDA's allocator statistics on a GPU, a tensor-allocation tracker on CPU)."""

    name, unit, needs = "memory", "bytes", ("supernet",)

    def __init__(self, batch_size: int = 1, seq_len: int = 64, mode: str = "active") -> None:
        _check_forward(batch_size, seq_len, mode, MEMORY_MODES)
        self.batch_size, self.seq_len, self.mode = batch_size, seq_len, mode

    def _measure(self, arch: Arch, ctx: Context) -> dict[str, Any]:
        m = measure_memory(ctx.supernet, arch, batch_size=self.batch_size, seq_len=self.seq_len, mode=self.mode)
        return {"value": m["peak_bytes"], "param_bytes": m["param_bytes"], "activation_bytes": m["activation_bytes"]}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "batch_size": self.batch_size, "seq_len": self.seq_len, "mode": self.mode}


OBJECTIVES: dict[str, type[Objective]] = {
    "error": Error, "params": Params, "flops": Flops, "latency": Latency, "memory": Memory,
}


def get_objective(name: str, **kwargs: Any) -> Objective:
    """The built-in objective ``name`` (one of `OBJECTIVES`) with ``kwargs`` for its constructor."""
    if name not in OBJECTIVES:
        hint = " (maximising accuracy is minimising 'error')" if name.lower() in ("accuracy", "acc") else ""
        raise ValueError(f"unknown objective {name!r}{hint}; allowed: {', '.join(OBJECTIVES)}, an Objective, or a "
                         f"callable arch -> float")
    return OBJECTIVES[name](**kwargs)


def as_objective(obj: "str | Objective | Callable[[Arch], Any]") -> Objective:
    """A built-in name, an `Objective` or a callable ``arch -> float``, as an `Objective`."""
    if isinstance(obj, Objective):
        if obj.direction != "minimize":
            raise ValueError(f"objective {obj.name!r} has direction {obj.direction!r}; objectives are minimised: "
                             f"return the negation or the complement (as error = 1 - accuracy does)")
        return obj
    if isinstance(obj, str):
        return get_objective(obj)
    if callable(obj):
        return FunctionObjective(obj)
    raise ValueError(f"unknown objective {obj!r}; allowed: {', '.join(OBJECTIVES)}, an Objective, or a callable "
                     f"arch -> float")


# --------------------------------------------------------------------------------------------------------------
# Constraints
# --------------------------------------------------------------------------------------------------------------
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``name <= bound`` or ``name >= bound`` on an objective's value (``<`` and ``>`` read as ``<=`` / ``>=``).

    ``g(value)`` is the *relative* violation, ``(value - bound) / |bound|`` for ``<=`` (``bound - value`` for
    ``>=``; divided by 1 when the bound is 0): ``<= 0`` means satisfied, and constraints in different units
    (ms, parameters) weigh alike when violations are summed.

    >>> c = Constraint.parse("params <= 10e6")
    >>> c.g(12e6), c.satisfied(9e6)
    (0.2, True)
    """

    name: str
    op: str  # "<=" or ">="
    bound: float
    unit: str = ""  # optional unit written after the bound ("15 ms"); checked against the objective's unit

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ValueError(f"constraint operator must be '<=' or '>=', got {self.op!r}")
        if not math.isfinite(self.bound):
            raise ValueError(f"constraint bound must be a finite number, got {self.bound}")

    @classmethod
    def parse(cls, c: "str | Sequence[Any] | Constraint") -> "Constraint":
        """From ``"latency <= 15"``, ``"latency <= 15 ms"``, ``("params", "<=", 10e6)`` or a `Constraint`."""
        if isinstance(c, Constraint):
            return c
        if isinstance(c, str):
            m = _CONSTRAINT.match(c)
            if not m:
                raise ValueError(f"cannot read constraint {c!r}; write it as 'NAME <= NUMBER [unit]' or "
                                 f"'NAME >= NUMBER', e.g. 'latency <= 15' or 'params <= 10e6'")
            name, op, bound, unit = m.groups()
            return cls(name, {"<": "<=", ">": ">="}.get(op, op), float(bound), unit)
        if isinstance(c, (tuple, list)) and len(c) == 3:
            return cls(str(c[0]), {"<": "<=", ">": ">="}.get(c[1], c[1]), float(c[2]))
        raise ValueError(f"cannot read constraint {c!r}; use 'NAME <= NUMBER' or a tuple (name, '<=', number)")

    def g(self, value: float) -> float:
        scale = abs(self.bound) or 1.0
        return (value - self.bound) / scale if self.op == "<=" else (self.bound - value) / scale

    def satisfied(self, value: float) -> bool:
        return self.g(value) <= 0

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.bound:g}" + (f" {self.unit}" if self.unit else "")

    def __repr__(self) -> str:
        return f"Constraint({str(self)!r})"


# --------------------------------------------------------------------------------------------------------------
# Measuring on the device
# --------------------------------------------------------------------------------------------------------------
_PREEMPTED_SHARE = 0.25  # preempted more often than this share of the timed forwards: even a quartile may be one


def _check_size(batch_size: int, seq_len: int) -> None:
    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}")


def _check_forward(batch_size: int, seq_len: int, mode: str, modes: Sequence[str] = MODES) -> None:
    """The forward that latency and memory both run: its input size and how the sub-network runs (one of
    ``modes``: `MODES` for latency, `MEMORY_MODES` for memory)."""
    _check_size(batch_size, seq_len)
    if mode not in modes:
        raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(modes)}")


def _check_timing(batch_size: int, seq_len: int, warmup: int, repeats: int, mode: str, threads: int | None,
                  max_attempts: int, max_rel_spread: float) -> None:
    _check_forward(batch_size, seq_len, mode)
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if repeats < 10:
        raise ValueError(f"repeats must be >= 10 (a median and an interquartile range need them), got {repeats}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None (torch's current setting), got {threads}")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1 (1: measure once, never re-measure), got "
                         f"{max_attempts!r}")
    if isinstance(max_rel_spread, bool) or not isinstance(max_rel_spread, (int, float)) or not (
            0 < max_rel_spread < math.inf):
        raise ValueError(f"max_rel_spread (the IQR / median above which a measurement is noisy, e.g. 0.2) must be a "
                         f"finite number > 0, got {max_rel_spread!r}")


def probe_inputs(dims: ModelDims, batch_size: int, seq_len: int,
                 device: "torch.device | str" = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, both ``(batch_size, seq_len)`` on ``device``: seeded random token ids (from a
    private generator: the caller's RNG is untouched; the same ids on every call) and a full mask (no padding).
    What latency and memory are measured on, and what an export is compared on."""
    _check_size(batch_size, seq_len)
    if seq_len > dims.max_position:
        raise ValueError(f"seq_len {seq_len} exceeds the model's {dims.max_position} positions")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, dims.vocab_size, (batch_size, seq_len), generator=g)  # (B, T)
    return ids.to(device), torch.ones_like(ids).to(device)


@contextlib.contextmanager
def _runner(model: Any, arch: Arch | None, mode: str, threads: int | None) -> Iterator[Any]:
    """The module to run (the super-network with ``arch`` active, or an extracted copy), in eval mode, with
    ``threads`` CPU threads; everything the caller had (train mode, active sub-network, threads) comes back after."""
    was_training = model.training
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        if arch is None or not hasattr(model, "activate"):
            model.eval()
            yield model
        elif mode == "extracted":
            yield model.extract(arch).eval()
        else:
            model.eval()
            with model.activate(arch):
                yield model
    finally:
        model.train(was_training)
        torch.set_num_threads(old_threads)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _preemptions() -> int | None:
    """Involuntary context switches of the calling thread (the one that runs and times the forwards) so far: each
    is a moment the OS gave its CPU to another thread. None where the OS does not count them per thread (Windows;
    macOS with more than one torch thread).

    Per thread, not per process: measured on an idle 2-core machine, MiniLM-L6 at 2 torch threads saw 4-9
    process-wide switches per 15 forwards (idle intra-op workers being descheduled, harmless: relative IQR 1-4 %)
    but 0-1 on the timing thread; with two CPU-burning processes beside it the timing thread saw 37-99."""
    if resource is None:
        return None
    if hasattr(resource, "RUSAGE_THREAD"):
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
    if torch.get_num_threads() == 1:  # one thread: the process's count is the timing thread's
        return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
    return None


def _timed_attempt(forward: Callable[[], Any], sync: Callable[[], None], repeats: int,
                   max_rel_spread: float) -> dict[str, Any]:
    """``repeats`` timed calls of ``forward``: their quartiles, and whether the machine disturbed them (see
    `measure_latency`). ``sync`` runs before each clock read (waits for a GPU)."""
    times: list[float] = []
    before = _preemptions()
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        forward()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    after = _preemptions()
    preempted = None if before is None or after is None else after - before
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    median = statistics.median(times)
    rel_spread = (q3 - q1) / max(median, 1e-9)
    noisy = rel_spread > max_rel_spread or (preempted is not None and preempted > _PREEMPTED_SHARE * repeats)
    return {"median_ms": median, "q1_ms": q1, "q3_ms": q3, "iqr_ms": q3 - q1, "times_ms": times,
            "noisy": noisy, "rel_spread": rel_spread, "preemptions": preempted}


def time_forward(forward: Callable[[], Any], *, warmup: int = 3, repeats: int = 15, max_attempts: int = 3,
                 max_rel_spread: float = 0.2, sync: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Time ``forward()`` the way `measure_latency` does, whatever runs it (torch, ONNX Runtime): ``warmup``
    untimed calls, then attempts of ``repeats`` timed calls until one is quiet or ``max_attempts`` were made (the
    noise rule of `measure_latency`). Returns the kept attempt's fields, ``attempts`` and ``attempt_medians_ms``.
    Arguments are checked by the callers (`measure_latency`, `subnet_kit.onnx_runtime.measure_onnx_latency`)."""
    for _ in range(warmup):
        forward()
    tried: list[dict[str, Any]] = []
    while len(tried) < max_attempts and (not tried or tried[-1]["noisy"]):
        tried.append(_timed_attempt(forward, sync, repeats, max_rel_spread))
    kept = tried[-1] if not tried[-1]["noisy"] else min(tried, key=lambda a: a["median_ms"])
    return {**kept, "attempts": len(tried), "attempt_medians_ms": [a["median_ms"] for a in tried]}


def measure_latency(model: Any, arch: Arch | None = None, *, batch_size: int = 1, seq_len: int = 64, warmup: int = 3,
                    repeats: int = 15, mode: str = "active", threads: int | None = None, max_attempts: int = 3,
                    max_rel_spread: float = 0.2) -> dict[str, Any]:
    """Forward latency of ``arch`` (or of ``model`` itself) on ``model``'s device under ``torch.inference_mode``.

    ``warmup`` untimed forwards, then ``repeats`` (>= 10) timed ones with ``time.perf_counter``, the CUDA device
    synchronised before each clock read. ``mode``: ``"active"`` (the super-network on sliced weights;
    ``activate`` happens outside the timed region), ``"extracted"`` (a copy made by ``extract``, not timed) or
    ``"onnx"`` (that copy exported and timed in ONNX Runtime on the CPU: `subnet_kit.onnx_runtime.
    measure_exported_latency`; same fields, plus ``onnx_path`` and ``exported``).
    Inputs: `probe_inputs` (``batch_size`` x ``seq_len`` seeded random token ids, no padding).

    Disturbance: other processes on the machine only ever add time, and they do it in two ways. Bursts make some
    forwards slow: the interquartile range exceeds ``max_rel_spread`` x the median. A machine busy throughout makes
    every forward slow alike (the spread stays small; e.g. two threads that must take turns with another process):
    the OS preempted the timing thread (involuntary context switches, counted where the OS does) more often than a quarter
    of the timed forwards, so even the quartiles may be preempted forwards. Either makes an attempt *noisy*; a noisy
    attempt is timed again (not warmed up again), up to ``max_attempts`` attempts in all. The first quiet attempt is
    kept; if none is quiet, the one with the lowest median (as load only adds time, it is the least disturbed) is
    kept and ``noisy`` stays True: do not trust or compare that value; measure again when the machine is quieter.

    Returns the kept attempt's ``median_ms``, ``q1_ms``, ``q3_ms``, ``iqr_ms``, ``times_ms``, ``rel_spread`` (IQR /
    median), ``preemptions`` (None where not counted) and ``noisy``; ``attempts`` and ``attempt_medians_ms`` (all
    of them); and the setting: ``threads``, ``device``, ``mode``, ``batch_size``, ``seq_len``, ``repeats``. The
    caller's model (train mode, active sub-network, device), thread count and random state are as they were.
    """
    _check_timing(batch_size, seq_len, warmup, repeats, mode, threads, max_attempts, max_rel_spread)
    timing = dict(warmup=warmup, repeats=repeats, max_attempts=max_attempts, max_rel_spread=max_rel_spread)
    if mode == "onnx":
        from .onnx_runtime import measure_exported_latency

        return measure_exported_latency(model, arch, batch_size=batch_size, seq_len=seq_len, threads=threads,
                                        **timing)
    device = next(model.parameters()).device
    inputs = probe_inputs(model.dims, batch_size, seq_len, device)
    with _runner(model, arch, mode, threads) as net, torch.inference_mode():
        used_threads = torch.get_num_threads()
        measured = time_forward(lambda: net(*inputs), sync=lambda: _sync(device), **timing)
    return {**measured, "threads": used_threads, "device": str(device), "mode": mode, "batch_size": batch_size,
            "seq_len": seq_len, "repeats": repeats}


def noisy_latency_note(history: Any, front: Any = None) -> str | None:
    """One line on the evaluations of a search whose latency stayed noisy (column ``latency_noisy`` of
    ``Result.history``; see `measure_latency`), with how many of the Pareto ``front`` (a frame of the same rows)
    are among them and their ``eval`` numbers. None when none is noisy or latency was not measured.

    >>> import pandas as pd
    >>> h = pd.DataFrame({"eval": [0, 1, 2], "latency_noisy": [False, True, True]})
    >>> noisy_latency_note(h, h.iloc[[0, 2]])  # doctest: +NORMALIZE_WHITESPACE
    'latency of 2 of 3 evaluated archs was noisy (the machine disturbed the timing even after re-measuring); 1 of the
    2 on the Pareto front (evaluation 2): do not trust their latencies; re-measure them on a quieter machine'
    """
    if "latency_noisy" not in getattr(history, "columns", ()):
        return None
    noisy = history["latency_noisy"].fillna(False).astype(bool)
    if not noisy.any():
        return None
    text = (f"latency of {int(noisy.sum())} of {len(history)} evaluated archs was noisy (the machine disturbed the "
            f"timing even after re-measuring)")
    if front is not None and "latency_noisy" in front.columns:
        evals = [int(e) for e in front.loc[front["latency_noisy"].fillna(False).astype(bool), "eval"]]
        text += f"; {len(evals)} of the {len(front)} on the Pareto front"
        if evals:
            text += f" (evaluation{'s' if len(evals) > 1 else ''} {', '.join(map(str, evals))})"
    return text + ": do not trust their latencies; re-measure them on a quieter machine"


class _PeakTensorMemory:
    """Peak bytes of the tensor storages allocated while it is active (a ``TorchDispatchMode``): each new output
    storage adds its size, and a finaliser subtracts it when the storage is freed. Storages that existed before
    (weights, inputs) are not counted, nor are views of them."""

    def __init__(self, existing: Sequence[torch.Tensor]) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
                out = func(*args, **(kwargs or {}))
                tracker._track(out)
                return out

        self.mode = Mode()
        self.existing = {t.untyped_storage().data_ptr() for t in existing}
        self.live: dict[int, Any] = {}
        self.current = self.peak = 0

    def _free(self, key: int, nbytes: int) -> None:
        self.current -= nbytes
        self.live.pop(key, None)

    def _track(self, out: Any) -> None:
        import weakref

        from torch.utils._pytree import tree_flatten

        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            key, nbytes = st.data_ptr(), st.nbytes()
            if nbytes == 0 or key in self.existing or key in self.live:
                continue
            self.current += nbytes
            self.peak = max(self.peak, self.current)
            self.live[key] = weakref.finalize(st, self._free, key, nbytes)

    def __enter__(self) -> "_PeakTensorMemory":
        self.mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.mode.__exit__(*exc)


def measure_memory(model: Any, arch: Arch | None = None, *, batch_size: int = 1, seq_len: int = 64,
                   mode: str = "active") -> dict[str, Any]:
    """Peak memory of one forward pass of ``arch``: ``peak_bytes = param_bytes + activation_bytes``.

    ``param_bytes``: the sub-network's own parameters (``count_params`` x element size; what an extracted copy
    holds, whatever ``mode``). ``activation_bytes``: the peak, above what was allocated before, of the memory the
    forward allocates — on CUDA from ``torch.cuda.max_memory_allocated`` (the caching allocator's own count); on
    CPU from a tracker of tensor storages created during the forward (exact for tensors; allocator rounding and
    non-tensor buffers of the CPU kernels are not seen). Side effects: none (see `measure_latency`).
    """
    _check_forward(batch_size, seq_len, mode, MEMORY_MODES)
    p = next(model.parameters())
    device = p.device
    ids, mask = probe_inputs(model.dims, batch_size, seq_len, device)
    sub = arch if arch is not None else getattr(model, "arch", None) or model.dims.full_arch()
    param_bytes = count_params(model.dims, sub) * p.element_size()
    with _runner(model, arch, mode, None) as net, torch.inference_mode():
        net(ids, mask)  # warm-up: lazy initialisations are not part of a forward's peak
        if device.type == "cuda":
            _sync(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            net(ids, mask)
            _sync(device)
            activation = torch.cuda.max_memory_allocated(device) - base
            method = "torch.cuda.max_memory_allocated"
        else:
            existing = [*net.parameters(), *net.buffers(), ids, mask]
            with _PeakTensorMemory(existing) as tracker:
                net(ids, mask)
            activation = tracker.peak
            method = "tensor-storage tracker (TorchDispatchMode)"
    return {"peak_bytes": param_bytes + activation, "param_bytes": param_bytes, "activation_bytes": activation,
            "method": method, "device": str(device), "mode": mode, "batch_size": batch_size, "seq_len": seq_len}


# --------------------------------------------------------------------------------------------------------------
# Latency predictor
# --------------------------------------------------------------------------------------------------------------
def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson correlation of the ranks; ties get their mean rank)."""
    import pandas as pd

    ra, rb = pd.Series(a, dtype=float).rank().to_numpy(), pd.Series(b, dtype=float).rank().to_numpy()
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass
class LatencyPredictor:
    """Latency in ms as ``c0 + c1 * layers + c2 * GFLOPs`` (least squares): per-layer overhead (operator dispatch,
    kernel launches) plus time proportional to the work. Small and transparent; `coef` says what it learned.

    Fit it with `fit` (measures ``n`` archs of a space) or `from_measurements`; ``report`` holds Spearman's rho
    and the mean absolute percentage error (MAPE) on held-out archs.

    >>> from subnet_kit.space import ModelDims, SearchSpace
    >>> space = SearchSpace.for_model(ModelDims(6, 12, 32, 1536, 384, 30522, 512, 2, 2), "per-layer")
    >>> archs = space.sample_many(40, rng=0)
    >>> ms = [1.0 + 0.5 * a.layers + 2.0 * space.flops(a, seq_len=64) / 1e9 for a in archs]
    >>> p = LatencyPredictor.from_measurements(archs, ms, space.dims, seq_len=64)
    >>> round(p.report["spearman"], 3), round(p.report["mape"], 6)
    (1.0, 0.0)
    """

    dims: ModelDims
    seq_len: int = 64  # FLOPs features are counted at the timed input size
    batch_size: int = 1
    coef: list[float] = field(default_factory=list)  # c0 (ms), c1 (ms per layer), c2 (ms per GFLOP)
    report: dict[str, Any] = field(default_factory=dict)  # spearman, mape, n_train, n_test, holdout archs' errors
    latency: dict[str, Any] = field(default_factory=dict)  # config of the Latency objective that was measured

    FEATURES = ("intercept", "layers", "gflops")

    def features(self, archs: Sequence[Arch]) -> np.ndarray:
        """``(n, 3)``: 1, layers, forward GFLOPs at (batch_size, seq_len)."""
        return np.array([[1.0, a.layers, count_flops(self.dims, a, self.seq_len, self.batch_size) / 1e9]
                         for a in archs])

    def predict(self, arch: "Arch | Sequence[Arch]") -> "float | np.ndarray":
        if not self.coef:
            raise ValueError("the predictor is not fitted; use LatencyPredictor.fit(...) or from_measurements(...)")
        if isinstance(arch, Arch):
            return float((self.features([arch]) @ np.asarray(self.coef))[0])
        return self.features(arch) @ np.asarray(self.coef)

    @classmethod
    def from_measurements(cls, archs: Sequence[Arch], latencies_ms: Sequence[float], dims: ModelDims, *,
                          seq_len: int = 64, batch_size: int = 1, holdout: float = 0.25, seed: int = 0,
                          latency: dict[str, Any] | None = None) -> "LatencyPredictor":
        """Fit on measured ``(arch, ms)`` pairs; a seeded ``holdout`` fraction is kept out to report rho / MAPE."""
        y = np.asarray(latencies_ms, dtype=float)
        if len(archs) != len(y):
            raise ValueError(f"{len(archs)} archs but {len(y)} latencies")
        n_test = int(round(holdout * len(y)))
        if len(y) - n_test < 4 or (holdout > 0 and n_test < 2):
            raise ValueError(f"{len(y)} measurements are too few with holdout={holdout}: the 3 coefficients need "
                             f"at least 4 to fit and the check at least 2 held out")
        order = np.random.default_rng(seed).permutation(len(y))
        test, train = order[:n_test], order[n_test:]
        p = cls(dims, seq_len, batch_size, latency=dict(latency or {}))
        X = p.features(archs)
        p.coef = np.linalg.lstsq(X[train], y[train], rcond=None)[0].tolist()
        held = test if n_test else train
        pred = X[held] @ np.asarray(p.coef)
        p.report = {
            "spearman": spearman(pred, y[held]),
            "mape": float(np.mean(np.abs(pred - y[held]) / np.abs(y[held]))),
            "n_train": int(len(train)), "n_test": int(n_test),
            "on": "held-out archs" if n_test else "training archs (holdout=0)",
        }
        return p

    @classmethod
    def fit(cls, supernet: Any, space: SearchSpace, n: int = 30, *, latency: "Latency | None" = None,
            holdout: float = 0.25, seed: int = 0, progress: bool = False) -> "LatencyPredictor":
        """Measure ``n`` archs of ``space`` (the smallest, the largest and random ones, seeded) with ``latency``
        (default `Latency()`, which re-measures a disturbed measurement itself) and fit on them.

        A disturbed measurement would pull the least-squares line up, so each arch still flagged ``noisy`` after all
        are measured is measured once more (a passing load has had time to pass) and the lower median kept (load
        only adds time). ``report["noisy"]`` counts the archs that stayed noisy."""
        from tqdm.auto import tqdm

        latency = latency or Latency()
        n = min(n, space.size())
        archs = list(dict.fromkeys([space.smallest(), space.largest(), *space.sample_many(n, rng=seed)]))[:n]
        ctx = Context(supernet=supernet, space=space)
        measured = [latency(a, ctx) for a in tqdm(archs, desc="latency predictor", disable=not progress, leave=False)]
        for i, (ms, extras) in enumerate(measured):
            if extras["noisy"]:
                again = latency(archs[i], ctx)
                if not again[1]["noisy"] or again[0] < ms:  # quiet now, or less disturbed
                    measured[i] = again
        p = cls.from_measurements(archs, [ms for ms, _ in measured], space.dims, seq_len=latency.seq_len,
                                  batch_size=latency.batch_size, holdout=holdout, seed=seed, latency=latency.config())
        p.report["noisy"] = sum(bool(extras["noisy"]) for _, extras in measured)
        return p

    def to_dict(self) -> dict[str, Any]:
        return {"dims": self.dims.to_dict(), "seq_len": self.seq_len, "batch_size": self.batch_size,
                "coef": list(self.coef), "report": self.report, "latency": self.latency}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LatencyPredictor":
        return cls(ModelDims(**d["dims"]), d["seq_len"], d["batch_size"], list(d["coef"]), dict(d["report"]),
                   dict(d.get("latency", {})))

    def __repr__(self) -> str:
        c = ", ".join(f"{n}={v:.4g}" for n, v in zip(self.FEATURES, self.coef))
        r = self.report
        noisy = f"; {r['noisy']} of {r['n_train'] + r['n_test']} measurements noisy" if r.get("noisy") else ""
        return (f"LatencyPredictor({c}; spearman={r.get('spearman', float('nan')):.3f}, "
                f"MAPE={r.get('mape', float('nan')):.1%} on {r.get('n_test', 0)} held-out archs{noisy})")


class PredictedLatency(Objective):
    """``latency`` (ms) from a fitted `LatencyPredictor` instead of a measurement (microseconds instead of a
    hundred forwards). ``search(..., latency="predicted")`` re-measures the final Pareto front."""

    name, unit, needs = "latency", "ms", ()

    def __init__(self, predictor: LatencyPredictor, measured: Latency | None = None) -> None:
        self.predictor = predictor
        self.measured = measured or Latency(**{k: v for k, v in predictor.latency.items() if k not in ("name", "unit")})

    def _measure(self, arch: Arch, ctx: Context) -> float:
        return self.predictor.predict(arch)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "predicted": True, "measured": self.measured.config()}


# --------------------------------------------------------------------------------------------------------------
# Resolving what to measure: names and settings -> objectives and metrics (Search, the CLI and the widgets use this)
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeasureSettings:
    """How the built-in objectives given by name are measured (an `Objective` instance keeps its own settings).

    >>> latency = MeasureSettings(seq_len=32, latency_mode="extracted").objective("latency")
    >>> type(latency).__name__, latency.seq_len, latency.mode
    ('Latency', 32, 'extracted')
    """

    eval_limit: int | None = 500  # validation examples "error" evaluates (None: the whole split)
    batch_size: int = 1  # sequences per forward that latency / memory time and flops count
    seq_len: int = 64  # tokens per sequence of that forward
    latency_mode: str = "active"  # latency of: sliced weights ("active"), an "extracted" copy, its "onnx" export
    threads: int | None = None  # CPU threads latency is timed with (None: torch's current setting)

    def __post_init__(self) -> None:
        for name in ("error", "latency", "memory"):  # the objectives' own checks: bad settings fail here, once
            self.objective(name)

    def objective(self, name: str) -> Objective:
        """The built-in objective ``name`` (one of `OBJECTIVES`) measured with these settings."""
        size = {"batch_size": self.batch_size, "seq_len": self.seq_len}
        kwargs = {"error": {"limit": self.eval_limit}, "flops": size,
                  "latency": {**size, "mode": self.latency_mode, "threads": self.threads},
                  "memory": {**size, "mode": self.memory_mode}}.get(name, {})
        return get_objective(name, **kwargs)

    @property
    def memory_mode(self) -> str:
        """How memory runs the sub-network: ``latency_mode``, except that ``"onnx"`` measures the ``"extracted"``
        torch copy (what gets exported; ONNX Runtime's allocations are not tracked)."""
        return "extracted" if self.latency_mode == "onnx" else self.latency_mode

    def resolve(self, obj: "str | Objective | Callable[[Arch], Any]") -> Objective:
        """A name (with these settings), an `Objective` (as it is) or a callable ``arch -> float``, as an `Objective`."""
        return self.objective(obj) if isinstance(obj, str) else as_objective(obj)


def resolve_objectives(objectives: "Sequence[str | Objective | Callable[[Arch], Any]] | str | Objective",
                       constraints: Sequence[Any] = (), metrics: Sequence[Any] = (),
                       settings: MeasureSettings | None = None) -> tuple[list[Objective], list[Objective]]:
    """``(objectives, metrics)`` as `Objective` instances: names become built-ins measured with ``settings``
    (default `MeasureSettings()`), instances stay, callables are wrapped. ``metrics`` are measured and recorded but
    not minimised; a constraint on a built-in name that is neither an objective nor a metric adds that metric.
    Raises one ValueError naming what is allowed for: no objectives, an unknown name, repeated names, a constraint
    on an unknown name, a constraint in another unit than its objective's.

    >>> objs, mets = resolve_objectives(["error", "params"], ["latency <= 15"], settings=MeasureSettings(seq_len=32))
    >>> [o.name for o in objs], [(m.name, m.seq_len) for m in mets]     # latency: measured for the constraint
    (['error', 'params'], [('latency', 32)])
    """
    settings = settings or MeasureSettings()
    given = [objectives] if isinstance(objectives, (str, Objective)) or callable(objectives) else list(objectives)
    if not given:
        raise ValueError(f"no objectives given; pass one or more of {', '.join(OBJECTIVES)}, an Objective or a "
                         f"callable arch -> float")
    objs = [settings.resolve(o) for o in given]
    names = [o.name for o in objs]
    if len(set(names)) != len(names):
        raise ValueError(f"objective names must be distinct, got {names}")
    mets = [settings.resolve(m) for m in metrics]
    known = set(names)
    if known & {m.name for m in mets} or len({m.name for m in mets}) != len(mets):
        raise ValueError(f"metric names must be distinct and differ from the objectives' ({', '.join(names)})")
    known |= {m.name for m in mets}
    parsed = [Constraint.parse(c) for c in constraints]
    for c in parsed:
        if c.name not in known and c.name not in OBJECTIVES:
            raise ValueError(f"constraint {str(c)!r} is on {c.name!r}, which is neither an objective of this "
                             f"search ({', '.join(sorted(known))}) nor a built-in one ({', '.join(OBJECTIVES)})")
        if c.name not in known:
            mets.append(settings.objective(c.name))
            known.add(c.name)
    units = {o.name: o.unit for o in [*objs, *mets]}
    for c in parsed:
        if c.unit and c.unit != units[c.name]:
            raise ValueError(f"constraint {str(c)!r} is in {c.unit!r} but {c.name} is measured in "
                             f"{units[c.name]!r}; write the bound in {units[c.name]!r}")
    return objs, mets


def predict_latency(objectives: Sequence[Objective], metrics: Sequence[Objective],
                    predictor: LatencyPredictor) -> tuple[list[Objective], list[Objective]]:
    """New ``(objectives, metrics)`` lists in which ``latency`` is `PredictedLatency` by ``predictor`` (the measured
    `Latency` it replaces is kept for re-measuring); the step of resolving that ``latency="predicted"`` adds."""
    if not any(o.name == "latency" for o in [*objectives, *metrics]):
        raise ValueError("latency='predicted' needs 'latency' among the objectives or constraints")

    def swap(o: Objective) -> Objective:
        if o.name != "latency":
            return o
        return PredictedLatency(predictor, o if isinstance(o, Latency) else None)

    return [swap(o) for o in objectives], [swap(o) for o in metrics]
