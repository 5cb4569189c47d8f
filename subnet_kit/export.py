"""ONNX export of a model (`SubNetwork`, or a `SuperNet` at its full size), verified against onnxruntime.

Saving and loading models (safetensors + JSON) lives in `checkpoint.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


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
    raises instead of leaving a wrong model behind.
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
        if verify:
            diff = onnx_max_abs_diff(model, path, ids, mask, types)
            if diff > atol:
                raise RuntimeError(f"ONNX export of {path} differs from torch by {diff:.3g} > atol {atol}")
    finally:
        model.train(was_training)
    return path


def onnx_max_abs_diff(model: Any, path: str | os.PathLike, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> float:
    """Largest |logit difference| between onnxruntime running ``path`` and ``model`` on the given inputs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids.cpu().numpy(), "attention_mask": mask.cpu().numpy(), "token_type_ids": types.cpu().numpy()}
    (onnx_logits,) = sess.run(["logits"], feeds)
    with torch.inference_mode():
        ref = model(ids, mask, types).float().cpu()
    return float((torch.from_numpy(onnx_logits) - ref).abs().max())
