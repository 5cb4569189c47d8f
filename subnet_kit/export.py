"""Saving, loading and exporting models: safetensors weights + a JSON description, and ONNX.

A saved model is a directory::

    model.safetensors     the weights (never pickled)
    subnet_kit.json       {"format": 1, "kind": "subnetwork" | "supernet", "shape": {dims, arch, ...}, "name": ...}
    tokenizer files       written by the tokenizer's save_pretrained, when the model has one

`load_model` rebuilds the right class from the JSON alone, so an extracted sub-network loads without its
super-network (a ``BertConfig`` cannot express per-layer heads and FFN widths, hence the own format).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1
META_FILE = "subnet_kit.json"
WEIGHTS_FILE = "model.safetensors"


def save_model(model: Any, path: str | os.PathLike, kind: str) -> Path:
    """Write ``model`` (a `SuperNet` or `SubNetwork`) to directory ``path``; returns the path."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = path / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path / WEIGHTS_FILE)  # a crash mid-write never leaves a truncated model.safetensors
    meta = {"format": FORMAT_VERSION, "kind": kind, "name": getattr(model, "name", None), "shape": model.shape.to_dict()}
    (path / META_FILE).write_text(json.dumps(meta, indent=1))
    if getattr(model, "tokenizer", None) is not None:
        model.tokenizer.save_pretrained(str(path))
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
    """Load what `save_model` wrote: a `SuperNet` or a `SubNetwork`, in eval mode."""
    from safetensors.torch import load_file

    from .modules import BertShape
    from .supernet import SubNetwork, SuperNet

    path = Path(path)
    meta_file = path / META_FILE
    if not meta_file.is_file() or not (path / WEIGHTS_FILE).is_file():
        raise ValueError(f"{path} is not a saved subnet-kit model (expected {META_FILE} and {WEIGHTS_FILE} in it)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{meta_file}: unsupported format {meta.get('format')!r}; this version reads {FORMAT_VERSION}")
    kinds = {"subnetwork": SubNetwork, "supernet": SuperNet}
    if meta.get("kind") not in kinds:
        raise ValueError(f"{meta_file}: kind must be one of {sorted(kinds)}, got {meta.get('kind')!r}")
    shape = BertShape.from_dict(meta["shape"])
    tokenizer = None
    if (path / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(path))
    cls = kinds[meta["kind"]]
    with torch.device("meta"):
        model = cls(shape, tokenizer=tokenizer) if cls is SubNetwork else cls(shape, tokenizer=tokenizer, name=meta.get("name"))
    model.load_state_dict(load_file(str(path / WEIGHTS_FILE), device=str(device)), strict=True, assign=True)
    return model.eval()


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
