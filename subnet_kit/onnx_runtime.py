"""Running and timing exported models in ONNX Runtime (CPU): the deployment runtime as a search objective.

* `ort_session(path, threads)`: an ``InferenceSession`` on the CPU with ``threads`` intra-op threads, one inter-op
  thread and intra-op *spinning off*. With spinning on (ONNX Runtime's default), an idle session's thread pool
  keeps busy-waiting for work, so several sessions alive in one process (or a session next to torch) slow each
  other down several-fold on a small machine.
* `measure_onnx_latency(path, ...)`: the latency of an ONNX file, the same dict as
  `subnet_kit.objectives.measure_latency` (one timing loop and noise rule for both runtimes:
  `objectives.time_forward`), with exactly one session of ours alive: created, timed, released.
* `optimize_onnx(src, dst)`: ONNX Runtime's transformer graph fusions (SkipLayerNormalization, BiasGelu, ...)
  where they apply, kept only if the fused graph's logits match the plain graph's; otherwise the plain graph is
  written and the reason recorded.
* `quantize_int8(src, dst)`: dynamic INT8 quantisation of the MatMul / Gemm weights. Never applied by anything
  else in the kit: a caller asks for it, and `onnx_evaluate` measures what it costs in accuracy.
* `onnx_evaluate(path, task, tokenizer)`: accuracy of an exported model on a split, with the kit's batches.
* `exported_onnx(model, arch)`: the export cache (a folder per super-network weights x arch x opset x
  optimisation, in the kit's cache), and `measure_exported_latency`, latency mode ``"onnx"``
  (``Latency(mode="onnx")``, ``--latency-mode onnx``): export once, then time in ONNX Runtime.

>>> import inspect; "threads" in inspect.signature(ort_session).parameters
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._io import atomic_dir
from ._paths import cache_dir
from .export import export_onnx, read_metadata, write_metadata
from .objectives import _check_timing, probe_inputs, time_forward
from .space import Arch, ModelDims

__all__ = [
    "ort_session", "run_logits", "onnx_dims", "measure_onnx_latency", "optimize_onnx", "quantize_int8",
    "onnx_evaluate", "weights_fingerprint", "exported_onnx", "prune_exports", "measure_exported_latency",
    "EXPORT_FORMAT", "EXPORT_CACHE_BYTES",
]

EXPORT_FORMAT = 1  # bump when what the export cache holds changes: old entries are then not read
ONNX_FILE = "model.onnx"  # the (optimised) graph in an export cache entry
INFO_FILE = "export.json"  # what the entry was made from and how the optimisation went
EXPORT_CACHE_BYTES = 4 << 30  # the export cache keeps its most recently used entries within this size


# --------------------------------------------------------------------------------------------------------------
# Sessions and running
# --------------------------------------------------------------------------------------------------------------
def _threads(threads: int | None) -> int:
    if threads is None:
        return torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1 or None (torch's current setting), got {threads!r}")
    return threads


def ort_session(path: str | os.PathLike, threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path`` on the CPU: ``threads`` intra-op threads (None: torch's
    current setting, so both runtimes get the same), one inter-op thread, thread-pool spinning off (an idle session
    does not burn the cores that other sessions or torch need), all graph optimisations, warnings silenced."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise ValueError(f"no ONNX file at {path}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = _threads(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _feeds(session: Any, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The inputs ``session`` takes (an export may drop unused ones), as int64 arrays."""
    given = {"input_ids": ids, "attention_mask": mask,
             "token_type_ids": np.zeros_like(ids) if types is None else types}
    names = [i.name for i in session.get_inputs()]
    unknown = [n for n in names if n not in given]
    if unknown:
        raise ValueError(f"the ONNX model takes inputs {unknown}; the kit feeds only {', '.join(given)}")
    return {n: np.ascontiguousarray(given[n], dtype=np.int64) for n in names}


def run_logits(session: Any, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None = None) -> np.ndarray:
    """``(batch, labels)`` logits of ``session`` on token ids / attention mask (/ token types; default zeros)."""
    (logits,) = session.run(["logits"], _feeds(session, ids, mask, types))
    return logits


def onnx_dims(path: str | os.PathLike) -> ModelDims:
    """The super-network dims an ONNX file was exported with (its ``subnet_kit.dims`` metadata)."""
    meta = read_metadata(path)
    if "dims" not in meta:
        raise ValueError(f"{path} has no subnet_kit metadata (not exported by subnet_kit.export_onnx); pass dims=")
    return ModelDims(**meta["dims"])


def measure_onnx_latency(path: str | os.PathLike, *, batch_size: int = 1, seq_len: int = 64,
                         threads: int | None = None, warmup: int = 3, repeats: int = 15, max_attempts: int = 3,
                         max_rel_spread: float = 0.2, dims: ModelDims | None = None) -> dict[str, Any]:
    """Latency of the ONNX model ``path`` in ONNX Runtime on the CPU: `measure_latency`'s timing (``warmup``
    untimed runs, attempts of ``repeats`` timed ones, noisy attempts re-measured and flagged) on its inputs
    (`probe_inputs`, from ``dims`` or the file's metadata). One session of ours is alive while timing: it is created
    here (`ort_session`, spinning off) and released before returning. Returns `measure_latency`'s fields with
    ``mode="onnx"``, ``device="cpu"``, plus ``runtime`` and ``onnx_path``."""
    import onnxruntime as ort

    _check_timing(batch_size, seq_len, warmup, repeats, "onnx", threads, max_attempts, max_rel_spread)
    dims = dims or onnx_dims(path)
    ids, mask = (t.numpy() for t in probe_inputs(dims, batch_size, seq_len))
    used = _threads(threads)
    session = ort_session(path, used)
    try:
        feeds = _feeds(session, ids, mask)
        measured = time_forward(lambda: session.run(None, feeds), warmup=warmup, repeats=repeats,
                                max_attempts=max_attempts, max_rel_spread=max_rel_spread)
    finally:
        del session  # released: nothing of ours spins or holds memory while the caller times something else
    return {**measured, "threads": used, "device": "cpu", "mode": "onnx", "batch_size": batch_size,
            "seq_len": seq_len, "repeats": repeats, "runtime": f"onnxruntime {ort.__version__}",
            "onnx_path": str(path)}


# --------------------------------------------------------------------------------------------------------------
# Graph optimisation and quantisation
# --------------------------------------------------------------------------------------------------------------
def _graphs_max_diff(a: Path, b: Path, dims: ModelDims) -> float:
    """Max |logit difference| of two ONNX files on the probe inputs (2 x 16 tokens, the second row half padded)."""
    ids, mask = (t.numpy() for t in probe_inputs(dims, 2, min(16, dims.max_position)))
    mask[1, mask.shape[1] // 2:] = 0
    out = []
    for path in (a, b):
        session = ort_session(path)
        out.append(run_logits(session, ids, mask))
        del session
    return float(np.abs(out[0] - out[1]).max())


def optimize_onnx(src: str | os.PathLike, dst: str | os.PathLike, *, atol: float = 1e-4) -> dict[str, Any]:
    """Write ``src`` with ONNX Runtime's transformer fusions (``onnxruntime.transformers.optimizer.optimize_model``,
    ``model_type="bert"``, heads and hidden size read from the graph, as sub-networks differ per layer) to ``dst``.

    The fused graph is kept only if fusions applied and its logits match ``src``'s within ``atol`` (``src`` itself
    matches torch: `export_onnx` checks it); otherwise ``dst`` is a copy of ``src``. Returns ``optimized`` (bool),
    ``fused`` (operator counts), ``max_abs_diff`` and ``reason`` (why not optimised, else None)."""
    from onnxruntime.transformers.optimizer import optimize_model

    src, dst = Path(src), Path(dst)
    meta = read_metadata(src)
    tmp = dst.with_name(f".{dst.name}.fused.tmp")
    report: dict[str, Any] = {"optimized": False, "fused": {}, "max_abs_diff": None, "reason": None}
    try:
        fused = optimize_model(str(src), model_type="bert", num_heads=0, hidden_size=0, opt_level=0, use_gpu=False)
        report["fused"] = {k: int(v) for k, v in fused.get_fused_operator_statistics().items() if v}
        fused.save_model_to_file(str(tmp))
        write_metadata(tmp, {**meta, "optimized": report["fused"]})
        report["max_abs_diff"] = _graphs_max_diff(src, tmp, onnx_dims(src))
        if not report["fused"]:
            report["reason"] = "no transformer fusion applies to this graph"
        elif not report["max_abs_diff"] <= atol:
            report["reason"] = f"the fused graph's logits differ by {report['max_abs_diff']:.3g} > atol {atol}"
        else:
            report["optimized"] = True
            os.replace(tmp, dst)
    except Exception as e:  # noqa: BLE001 - any failure of the optimiser means: keep the plain graph, say why
        report["reason"] = f"the transformer optimizer failed: {type(e).__name__}: {e}"
    finally:
        tmp.unlink(missing_ok=True)
    if not report["optimized"]:
        shutil.copyfile(src, dst)
    return report


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, *, per_channel: bool = True,
                  reduce_range: bool = False) -> Path:
    """Dynamic INT8 quantisation of ``src`` into ``dst`` (``onnxruntime.quantization.quantize_dynamic``: the
    weights of MatMul and Gemm as signed 8-bit integers, activations quantised on the fly). Changes the model's
    outputs: measure the accuracy it costs (`onnx_evaluate` on both files) before deploying it.

    ``per_channel``: one scale per output column instead of one per matrix (on a fine-tuned MiniLM it halved the
    largest logit error and the flipped test predictions at the same speed). ``reduce_range``: 7-bit weights, which
    ONNX Runtime advises on x86 CPUs without VNNI instructions, where 8-bit products can saturate."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise ValueError(f"no ONNX file at {src}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser's advice to pre-process (shape inference) is logged at WARNING
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                         per_channel=per_channel, reduce_range=reduce_range)
    finally:
        root.setLevel(level)
    write_metadata(dst, {**read_metadata(src), "precision": "int8", "per_channel": per_channel,
                         "reduce_range": reduce_range})
    return dst


# --------------------------------------------------------------------------------------------------------------
# Accuracy of an exported model
# --------------------------------------------------------------------------------------------------------------
def onnx_evaluate(path: str | os.PathLike, task: Any, tokenizer: Any, split: str = "test", *,
                  limit: int | None = None, threads: int | None = None, batch_size: int = 64,
                  max_length: int = 128, progress: bool = False) -> dict[str, float]:
    """Accuracy, error, mean cross-entropy and ``n`` of the ONNX model ``path`` on ``task[split]`` (first ``limit``
    examples), with the kit's batches (length-sorted, dynamic padding), as `subnet_kit.train.evaluate` reports
    them for a torch model. One session, released after."""
    from tqdm.auto import tqdm

    from .data import batches, num_batches

    kw = dict(split=split, batch_size=batch_size, max_length=max_length, sort_by_length=True, limit=limit)
    total = num_batches(task, tokenizer, **kw)
    session = ort_session(path, threads)
    correct, loss_sum, n = 0, 0.0, 0
    try:
        for batch in tqdm(batches(task, tokenizer, **kw), total=total, desc=f"evaluate ONNX {split}",
                          disable=not progress, leave=False):
            types = batch.get("token_type_ids")
            logits = run_logits(session, batch["input_ids"].numpy(), batch["attention_mask"].numpy(),
                                None if types is None else types.numpy()).astype(np.float64)
            labels = batch["labels"].numpy()
            shifted = logits - logits.max(-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
            loss_sum += float(-log_probs[np.arange(len(labels)), labels].sum())
            correct += int((logits.argmax(-1) == labels).sum())
            n += len(labels)
    finally:
        del session
    if n == 0:
        raise ValueError(f"split {split!r} of {getattr(task, 'name', 'the task')} has no examples to evaluate")
    return {"accuracy": correct / n, "error": 1 - correct / n, "loss": loss_sum / n, "n": n}


# --------------------------------------------------------------------------------------------------------------
# The export cache and latency mode "onnx"
# --------------------------------------------------------------------------------------------------------------
_FINGERPRINTS: "weakref.WeakKeyDictionary[Any, tuple[tuple, str]]" = weakref.WeakKeyDictionary()


def weights_fingerprint(model: Any) -> str:
    """SHA-1 of ``model``'s weights (names, shapes, values). Remembered per model until a tensor is modified in
    place (tensor version counters: training steps and ``load_state_dict`` bump them), so a search pays it once."""
    state = model.state_dict(keep_vars=True)
    stamp = tuple((k, t.data_ptr(), t._version) for k, t in state.items())
    known = _FINGERPRINTS.get(model)
    if known is not None and known[0] == stamp:
        return known[1]
    h = hashlib.sha1()
    for k, t in sorted(state.items()):
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    _FINGERPRINTS[model] = (stamp, h.hexdigest())
    return h.hexdigest()


def _target_arch(model: Any, arch: Arch | None) -> Arch:
    if arch is not None:
        return arch
    return getattr(model, "arch", None) or model.dims.full_arch()


def _cache_key(model: Any, arch: Arch, opset: int, optimize: bool) -> dict[str, Any]:
    import onnxruntime as ort

    return {"weights": weights_fingerprint(model), "dims": model.dims.to_dict(), "arch": arch.to_dict(),
            "opset": opset, "optimize": optimize, "format": EXPORT_FORMAT, "torch": torch.__version__,
            "onnxruntime": ort.__version__, "extracted": hasattr(model, "extract")}


def exported_onnx(model: Any, arch: Arch | None = None, *, opset: int = 18, optimize: bool = True,
                  root: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """``(path, exported_now)``: the ONNX file of sub-network ``arch`` of ``model`` (a `SuperNet`; or a
    `SubNetwork` / full model with ``arch=None``), optimised with `optimize_onnx` when ``optimize``.

    From the export cache (``root``, default ``<kit cache>/onnx``): an entry per super-network weights
    (`weights_fingerprint`), arch, opset, optimisation, and torch / onnxruntime versions; a new one is written
    whole or not at all (`subnet_kit._io.atomic_dir`), with ``export.json`` recording how the optimisation went.
    An arch timed before is not exported again while its entry is among the most recently used
    `EXPORT_CACHE_BYTES` (`prune_exports` removes the others)."""
    arch = _target_arch(model, arch)
    key = _cache_key(model, arch, opset, optimize)
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    entry = Path(root) if root is not None else cache_dir("onnx")
    entry = entry / f"L{arch.layers}-H{arch.hidden}-{digest}"
    if (entry / INFO_FILE).is_file() and (entry / ONNX_FILE).is_file():
        os.utime(entry)  # recently used: pruned last
        return entry / ONNX_FILE, False
    net = model.extract(arch) if hasattr(model, "extract") else model
    with atomic_dir(entry) as tmp:
        plain = export_onnx(net, tmp / ("plain.onnx" if optimize else ONNX_FILE), opset=opset)
        info: dict[str, Any] = {"key": key, "optimization": None}
        if optimize:
            info["optimization"] = optimize_onnx(plain, tmp / ONNX_FILE)
            plain.unlink()
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1))
    prune_exports(entry.parent, keep=entry)
    return entry / ONNX_FILE, True


def prune_exports(root: str | os.PathLike, max_bytes: int = EXPORT_CACHE_BYTES, keep: Path | None = None) -> int:
    """Delete the least recently used entries of the export cache ``root`` until it holds at most ``max_bytes``
    (a search over hundreds of archs would otherwise leave gigabytes); ``keep`` is never deleted. Returns how many
    entries went."""
    entries = [(d.stat().st_mtime, d, sum(f.stat().st_size for f in d.iterdir() if f.is_file()))
               for d in Path(root).iterdir() if d.is_dir() and not d.name.startswith(".")]
    total, removed = sum(size for *_, size in entries), 0
    for _, d, size in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if keep is not None and d == keep:
            continue
        shutil.rmtree(d, ignore_errors=True)
        total, removed = total - size, removed + 1
    return removed


def measure_exported_latency(model: Any, arch: Arch | None = None, *, batch_size: int = 1, seq_len: int = 64,
                             threads: int | None = None, warmup: int = 3, repeats: int = 15, max_attempts: int = 3,
                             max_rel_spread: float = 0.2, opset: int = 18, optimize: bool = True) -> dict[str, Any]:
    """Latency mode ``"onnx"``: sub-network ``arch`` of ``model`` exported (`exported_onnx`: cached, optimised)
    and timed in ONNX Runtime (`measure_onnx_latency`, one live session). Returns its fields plus ``exported``
    (whether this call exported it). ``threads``: None means torch's current setting, as in the other modes."""
    path, exported = exported_onnx(model, arch, opset=opset, optimize=optimize)
    m = measure_onnx_latency(path, batch_size=batch_size, seq_len=seq_len, threads=threads, warmup=warmup,
                             repeats=repeats, max_attempts=max_attempts, max_rel_spread=max_rel_spread,
                             dims=model.dims)
    return {**m, "exported": exported}
