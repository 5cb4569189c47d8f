"""ONNX export of a model (`SubNetwork`, or a `SuperNet` at its full size), verified against onnxruntime.

The file carries the kit's metadata (``subnet_kit.dims``, ``subnet_kit.arch``: JSON in the ONNX model's
``metadata_props``), so running and timing it later (`subnet_kit.onnx_runtime`) needs nothing but the file.
Saving and loading models (safetensors + JSON) lives in `checkpoint.py`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch

__all__ = ["export_onnx", "onnx_max_abs_diff", "read_metadata", "write_metadata"]

META_PREFIX = "subnet_kit."  # the keys this kit writes into an ONNX model's metadata_props


def export_onnx(
    model: Any,
    path: str | os.PathLike,
    *,
    opset: int = 18,
    example_batch: int = 2,
    example_len: int = 16,
    verify: bool = True,
    atol: float = 1e-4,
) -> Path:
    """Export ``model`` to an ONNX file with dynamic batch and sequence axes.

    Inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64, ``(batch, seq)``); output ``logits``.
    With ``verify`` the file is run once in onnxruntime and its logits compared with torch's (``atol``); a mismatch
    raises instead of leaving a wrong model behind. The model's dims and arch are written into the file's metadata.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    p = next(model.parameters())
    vocab = model.shape.dims.vocab_size
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (example_batch, example_len), generator=g).to(p.device)
    mask = torch.ones_like(ids)
    mask[0, example_len // 2 :] = 0  # a padded example, so the mask path is exported and checked
    types = torch.zeros_like(ids)
    batch, seq = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("seq", min=1, max=model.shape.dims.max_position)
    try:
        with _quiet_exporter():
            torch.onnx.export(
                model,
                (ids, mask, types),
                str(path),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["logits"],
                dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}, {0: batch, 1: seq}),
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        arch = getattr(model, "arch", None) or getattr(model, "active_arch", None)
        write_metadata(path, {"dims": model.shape.dims.to_dict(), "arch": arch.to_dict() if arch else None,
                              "opset": opset})
        if verify:
            diff = onnx_max_abs_diff(model, path, ids, mask, types)
            if diff > atol:
                raise RuntimeError(f"ONNX export of {path} differs from torch by {diff:.3g} > atol {atol}")
    finally:
        model.train(was_training)
    return path


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's warnings (torchvision missing, axis renames, deprecations) say nothing about our models."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def write_metadata(path: str | os.PathLike, entries: dict[str, Any]) -> None:
    """Set ``subnet_kit.<key>`` = JSON of each value in the ONNX file's ``metadata_props`` (rewrites the file)."""
    import onnx

    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if p.key not in {META_PREFIX + k for k in entries}]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in entries.items():
        model.metadata_props.add(key=META_PREFIX + key, value=json.dumps(value))
    onnx.save(model, str(path))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``subnet_kit.*`` entries of an ONNX file's metadata, decoded (empty for files exported elsewhere)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key[len(META_PREFIX):]: json.loads(p.value) for p in model.metadata_props
            if p.key.startswith(META_PREFIX)}


def onnx_max_abs_diff(model: Any, path: str | os.PathLike, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> float:
    """Largest |logit difference| between onnxruntime running ``path`` and ``model`` on the given inputs."""
    from .onnx_runtime import ort_session, run_logits

    sess = ort_session(path, threads=torch.get_num_threads())
    onnx_logits = run_logits(sess, ids.cpu().numpy(), mask.cpu().numpy(), types.cpu().numpy())
    del sess
    with torch.inference_mode():
        ref = model(ids, mask, types).float().cpu()
    return float((torch.from_numpy(onnx_logits) - ref).abs().max())
