"""Saving and loading models as a folder of safetensors weights + a JSON description (nothing is ever pickled).

A saved model is a directory::

    model.safetensors     the weights
    subnet_kit.json       {"format": 1, "kind": "subnetwork" | "supernet", "shape": {dims, arch, ...}, "name": ...}
    tokenizer files       written by the tokenizer's save_pretrained, when the model has one

* `save_model(model, path)` writes the folder atomically (a crash leaves the old folder or none, never half of one);
  the ``kind`` comes from the model's class.
* `load_model(path)` rebuilds the right class from the JSON alone, so an extracted sub-network loads without its
  super-network (a ``BertConfig`` cannot express per-layer heads and FFN widths, hence the own format).
* `load_weights_into(model, path)` reads ``path/model.safetensors`` into an existing model (no rebuild).

Before any tensor is read the weights file is checked against its own header and against the model, so a truncated
file, a file that is not safetensors (e.g. a renamed pickle) or a config edited to disagree with the weights is one
`CheckpointError` (a ValueError) naming the file and the problem. Loading never writes to the folder.

The model classes register themselves with `model_kind` (`supernet.py` sits above this module, so this module
needs no import of it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ._io import atomic_dir
from .modules import BertShape

__all__ = ["CheckpointError", "load_model", "load_weights_into", "read_safetensors_shapes", "save_model"]

FORMAT_VERSION = 1
META_FILE = "subnet_kit.json"
WEIGHTS_FILE = "model.safetensors"
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header's size, in bytes
_MODEL_CLASSES: dict[str, type] = {}  # kind -> class, filled by `model_kind`


class CheckpointError(ValueError):
    """A saved model that cannot be read: missing, truncated or foreign files, or weights that do not fit."""


def model_kind(kind: str) -> Callable[[type], type]:
    """Class decorator: instances of the class are saved as ``kind`` and ``kind`` loads as the class.

    The class is built as ``cls(shape, tokenizer=..., name=...)``.
    """

    def register(cls: type) -> type:
        _MODEL_CLASSES[kind] = cls
        cls.kind = kind
        return cls

    return register


# --------------------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------------------
def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` (a `SuperNet` or `SubNetwork`) to directory ``path`` atomically; returns the path.

    An existing saved model at ``path`` is replaced; a non-empty folder that is not a saved model is refused (its
    files would be lost).
    """
    from safetensors.torch import save_file

    kind = getattr(type(model), "kind", None)
    if kind not in _MODEL_CLASSES:
        raise ValueError(f"cannot save a {type(model).__name__}; save_model saves a {' or '.join(_MODEL_CLASSES)}")
    path = Path(path)
    if path.is_file() or (path.is_dir() and any(path.iterdir()) and not (path / META_FILE).is_file()):
        raise ValueError(
            f"{path} exists and is not a saved subnet-kit model; refusing to replace it (choose a new or empty folder)"
        )
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_VERSION, "kind": kind, "name": getattr(model, "name", None),
            "shape": model.shape.to_dict()}
    with atomic_dir(path) as tmp:
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        if getattr(model, "tokenizer", None) is not None:
            model.tokenizer.save_pretrained(str(tmp))
    return path


# --------------------------------------------------------------------------------------------------------------
# Checking a weights file without reading its tensors
# --------------------------------------------------------------------------------------------------------------
def read_safetensors_shapes(file: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from the header of safetensors ``file``, after checking that the file is a whole
    safetensors file: a `CheckpointError` says "not a safetensors file" or "truncated" otherwise."""
    file = Path(file)
    size = file.stat().st_size
    with open(file, "rb") as fh:
        head = fh.read(9)
        if len(head) < 9:
            raise CheckpointError(f"{file} is truncated or empty ({size} bytes): not a complete safetensors file")
        n = int.from_bytes(head[:8], "little")
        if head[8:9] != b"{" or n > _MAX_HEADER:
            raise CheckpointError(
                f"{file} is not a safetensors file (it does not start with a safetensors header; a pickled "
                f"checkpoint renamed to {file.name}?); refusing to read it"
            )
        if 8 + n > size:
            raise CheckpointError(f"{file} is truncated: its header needs {8 + n} bytes, the file has {size}")
        fh.seek(8)
        raw = fh.read(n)
    try:
        header = json.loads(raw)
        header.pop("__metadata__", None)
        shapes = {k: tuple(int(d) for d in v["shape"]) for k, v in header.items()}
        end = max((int(v["data_offsets"][1]) for v in header.values()), default=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise CheckpointError(f"{file} is not a safetensors file (its header is not valid: {e})") from None
    if 8 + n + end > size:
        raise CheckpointError(
            f"{file} is truncated or corrupt: its header describes {8 + n + end} bytes of data, the file has {size}"
        )
    return shapes


def _check_fit(file: Path, weights: Mapping[str, tuple[int, ...]], model: Mapping[str, torch.Tensor],
               where: str) -> None:
    """Raise a `CheckpointError` unless the weights file holds exactly the model's tensors with the model's shapes."""
    missing = [k for k in model if k not in weights]
    unexpected = [k for k in weights if k not in model]
    if missing or unexpected:
        raise CheckpointError(
            f"{where} and the weights in {file} disagree: the weights lack {missing[:5]} and hold unexpected "
            f"{unexpected[:5]}"
        )
    for name, t in model.items():
        if tuple(t.shape) != weights[name]:
            raise CheckpointError(
                f"{where} and the weights disagree: {name} has shape {list(weights[name])} in the weights "
                f"({file}), {list(t.shape)} {'from the config' if where == 'the config' else 'in the model'}"
            )


def _weights_file(path: Path) -> Path:
    file = path / WEIGHTS_FILE
    if not file.is_file():
        raise CheckpointError(f"{path} is not a saved subnet-kit model (expected {WEIGHTS_FILE} in it)")
    return file


def _read_tensors(file: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(file), device=str(device))
    except SafetensorError as e:  # the header was checked: what is left is damaged content
        raise CheckpointError(f"{file} is corrupt: {e}") from None


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------
def load_weights_into(model: torch.nn.Module, path: str | os.PathLike) -> torch.nn.Module:
    """Read ``path/model.safetensors`` into ``model`` in place (on the model's device and dtype); returns it.

    The file must hold exactly the model's tensors with the model's shapes, else a `CheckpointError`; the model is
    unchanged when the check fails.
    """
    path = Path(path)
    file = _weights_file(path)
    _check_fit(file, read_safetensors_shapes(file), model.state_dict(), "the model")
    device = next(model.parameters()).device
    model.load_state_dict(_read_tensors(file, device), strict=True)
    return model


def _read_meta(path: Path) -> dict[str, Any]:
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise CheckpointError(f"{path} is not a saved subnet-kit model (expected {META_FILE} and {WEIGHTS_FILE} in it)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{meta_file} is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise CheckpointError(f"{meta_file}: unsupported format {found!r}; this version reads {FORMAT_VERSION}")
    if meta.get("kind") not in _MODEL_CLASSES:
        raise CheckpointError(f"{meta_file}: kind must be one of {sorted(_MODEL_CLASSES)}, got {meta.get('kind')!r}")
    return meta


def load_model(path: str | os.PathLike, device: str | torch.device | None = None) -> Any:
    """Load what `save_model` wrote: a `SuperNet` or a `SubNetwork` (by the folder's ``kind``), in eval mode, on
    ``device`` (default CPU)."""
    path = Path(path)
    meta = _read_meta(path)
    file = _weights_file(path)
    try:
        shape = BertShape.from_dict(meta["shape"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path / META_FILE}: its shape is not valid ({e})") from None
    shapes = read_safetensors_shapes(file)
    tokenizer = None
    if (path / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(path))
    with torch.device("meta"):
        model = _MODEL_CLASSES[meta["kind"]](shape, tokenizer=tokenizer, name=meta.get("name"))
    _check_fit(file, shapes, model.state_dict(), "the config")
    model.load_state_dict(_read_tensors(file, device or "cpu"), strict=True, assign=True)
    return model.eval()
