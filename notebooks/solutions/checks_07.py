"""Checks for the exercises of lesson 07 (extract, distil, deploy). Each computes the expected answer with the
library from the objects the lesson made, then prints right or wrong through `subnet_kit_widgets.checks`;
an answer that is still ``None`` prints "not yet" and never raises."""

from __future__ import annotations

from pathlib import Path

import torch

from subnet_kit import load_subnet
from subnet_kit.onnx_runtime import onnx_evaluate
from subnet_kit_widgets.checks import check, check_true


def check_distill_run(result, steps: int) -> bool:
    """Exercise 1: the distillation run trained for ``steps`` steps."""
    if result is None or not hasattr(result, "steps"):
        return check_true(False, what="training steps of the distillation run", hint="pass the TrainResult of distill")
    return check(result.steps, steps, what="training steps of the distillation run")


def check_flops_share(answer, space, arch, seq_len: int = 64) -> bool:
    """Exercise 2: the picked arch's FLOPs as a fraction of the full model's, for one sentence of ``seq_len``
    tokens (the analytic `SearchSpace.flops`)."""
    expected = space.flops(arch, seq_len=seq_len) / space.flops(space.largest(), seq_len=seq_len)
    return check(answer, expected, what=f"FLOPs share at {seq_len} tokens", tol=0.005)


def check_int8_accuracy(answer, int8_path, task, tokenizer, limit=None) -> bool:
    """Exercise 3: the test accuracy of the INT8 ONNX file (`subnet_kit.onnx_runtime.onnx_evaluate`)."""
    if not Path(int8_path).is_file():
        return check_true(False, what="INT8 test accuracy", hint=f"write the INT8 file {int8_path} first")
    expected = onnx_evaluate(int8_path, task, tokenizer, "test", limit=limit)["accuracy"]
    return check(answer, expected, what="INT8 test accuracy", tol=1e-9)


def check_prediction(answer, path, sentence: str, label_names=None) -> bool:
    """Exercise 4: the label the saved student at ``path`` gives ``sentence`` (index, or name when
    ``label_names`` is given)."""
    model = load_subnet(path).eval()
    enc = model.tokenizer(sentence, return_tensors="pt", truncation=True, max_length=128)
    with torch.inference_mode():
        logits = model(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))
    label = int(logits.argmax(-1)[0])
    return check(answer, label_names[label] if label_names is not None else label, what=f"label of {sentence!r}")
