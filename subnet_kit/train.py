"""Fine-tuning a super-network and evaluating models on a task.

`fine_tune` is one seeded training loop (AdamW, linear warm-up and decay, gradient clipping, length-bucketed
batches with dynamic padding, tqdm progress, safetensors checkpoints and exact resume). What each step trains is
decided by a *training strategy*: a small object whose ``archs(step, rng)`` lists the sub-networks whose gradients
that step accumulates (``None`` = the full network). ``standard`` trains the full model only; weight-sharing
strategies plug in by adding an entry to `STRATEGIES`.

`evaluate` measures accuracy / error / loss of a `SuperNet` (optionally with an active ``arch``) or of any model
that maps a batch to logits, with length-sorted batches under ``torch.inference_mode``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import Task, batches, num_batches
from .space import Arch, SearchSpace


# --------------------------------------------------------------------------------------------------------------
# Training strategies
# --------------------------------------------------------------------------------------------------------------
class TrainingStrategy:
    """Which sub-networks one training step updates. Subclasses set ``name`` and override `archs`.

    ``archs(step, rng)`` returns the sub-networks whose gradients the step accumulates, ``None`` standing for the
    whole network; with in-place distillation the *first* entry is the teacher of the others, so weight-sharing
    strategies list the largest sub-network first.
    """

    name = "base"
    needs_space = False

    def __init__(self, space: SearchSpace | None = None) -> None:
        if self.needs_space and space is None:
            raise ValueError(f"training strategy {self.name!r} samples sub-networks: pass space=SearchSpace.for_model(...)")
        self.space = space

    def archs(self, step: int, rng: np.random.Generator) -> Sequence[Arch | None]:
        raise NotImplementedError


class Standard(TrainingStrategy):
    """Plain fine-tuning: the full network only."""

    name = "standard"

    def archs(self, step: int, rng: np.random.Generator) -> Sequence[Arch | None]:
        return [None]


class RandomSubnet(TrainingStrategy):
    """One uniformly random sub-network of the space per step (the "random" baseline of Klein et al.)."""

    name = "random"
    needs_space = True

    def archs(self, step: int, rng: np.random.Generator) -> Sequence[Arch | None]:
        return [self.space.sample(rng)]


class Sandwich(TrainingStrategy):
    """The sandwich rule (Yu & Huang; BigNAS; Klein et al.): largest, smallest and ``k`` random sub-networks."""

    name = "sandwich"
    needs_space = True

    def __init__(self, space: SearchSpace | None = None, k: int = 2) -> None:
        super().__init__(space)
        if k < 0:
            raise ValueError(f"k (random sub-networks per step) must be >= 0, got {k}")
        self.k = k

    def archs(self, step: int, rng: np.random.Generator) -> Sequence[Arch | None]:
        return [self.space.largest(), self.space.smallest(), *(self.space.sample(rng) for _ in range(self.k))]


STRATEGIES: dict[str, type[TrainingStrategy]] = {
    "standard": Standard, "random": RandomSubnet, "sandwich": Sandwich,
}


def make_strategy(strategy: str | TrainingStrategy, space: SearchSpace | None = None, **kwargs: Any) -> TrainingStrategy:
    """The strategy named ``strategy`` (one of `STRATEGIES`) over ``space``, or ``strategy`` itself."""
    if isinstance(strategy, TrainingStrategy):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown training strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    return STRATEGIES[strategy](space, **kwargs)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton's distillation loss: KL(teacher || student) of the temperature-softened distributions, times T²."""
    t = temperature
    return F.kl_div(
        F.log_softmax(student_logits / t, -1), F.log_softmax(teacher_logits / t, -1), log_target=True,
        reduction="batchmean",
    ) * (t * t)


# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What `fine_tune` did: steps, the loss curve, wall time and throughput, and the final evaluation."""

    strategy: str
    steps: int
    epochs: float
    train_time_s: float  # wall time of the optimisation steps (excludes evaluation and checkpoints)
    sentences_per_s: float  # training examples processed per second (per forward of one sub-network: x archs/step)
    history: list[dict[str, float]] = field(default_factory=list)  # per logged step: step, loss, lr
    eval: dict[str, float] | None = None  # evaluation on eval_split after training
    eval_before: dict[str, float] | None = None  # distill: the student's evaluation before training
    from_cache: str | None = None  # the cache folder the weights were loaded from, when they were

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------------
def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def evaluate(
    model: Any,
    task: Task,
    split: str = "validation",
    *,
    arch: Arch | None = None,
    batch_size: int = 64,
    max_length: int = 128,
    limit: int | None = None,
    tokenizer: Any = None,
    progress: bool = False,
) -> dict[str, float]:
    """Accuracy, error and mean cross-entropy of ``model`` on ``task[split]`` (first ``limit`` examples).

    ``model``: a `SuperNet` (with ``arch``, that sub-network is evaluated), a `SubNetwork`, or any module called
    as ``model(input_ids, attention_mask, token_type_ids)`` that returns logits. The model's train/eval mode and
    active sub-network are restored afterwards.
    """
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("the model has no tokenizer; pass tokenizer=...")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    if arch is not None and not hasattr(model, "activate"):
        raise ValueError(f"arch= selects a sub-network of a SuperNet; {type(model).__name__} has none (evaluate it as is)")
    ctx = model.activate(arch) if arch is not None else contextlib.nullcontext()
    it = batches(task, tokenizer, split=split, batch_size=batch_size, max_length=max_length, sort_by_length=True, limit=limit)
    total = num_batches(task, tokenizer, split=split, batch_size=batch_size, max_length=max_length, sort_by_length=True, limit=limit)
    try:
        with ctx, torch.inference_mode():
            for batch in tqdm(it, total=total, desc=f"evaluate {split}", disable=not progress, leave=False):
                batch = _to(batch, device)
                logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
                labels = batch["labels"]
                loss_sum += float(F.cross_entropy(logits.float(), labels, reduction="sum"))
                correct += int((logits.argmax(-1) == labels).sum())
                n += int(labels.numel())
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError(f"split {split!r} of {task.name} has no examples to evaluate")
    return {"accuracy": correct / n, "error": 1 - correct / n, "loss": loss_sum / n, "n": n}


# --------------------------------------------------------------------------------------------------------------
# Checkpoints (safetensors for tensors, JSON for the rest; nothing is pickled)
# --------------------------------------------------------------------------------------------------------------
def _save_checkpoint(path: Path, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any, state: dict) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{time.time_ns()}")  # unique: two processes may train the same run
    tmp.mkdir(parents=True, exist_ok=True)
    model.save(tmp / "model")
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in opt["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{key}"] = value
    tensors["__torch_rng__"] = torch.random.get_rng_state()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    meta = {"param_groups": opt["param_groups"], "scalars": scalars, "scheduler": scheduler.state_dict(), **state}
    (tmp / "state.json").write_text(json.dumps(meta))
    if path.exists():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    try:
        os.replace(tmp, path)
    except OSError:  # another process training the same run wrote its checkpoint meanwhile: theirs is as good
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _load_checkpoint(path: Path, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict:
    from safetensors.torch import load_file

    from .export import load_model

    loaded = load_model(path / "model", device=next(model.parameters()).device)
    model.load_state_dict(loaded.state_dict())
    tensors = load_file(str(path / "optimizer.safetensors"))
    meta = json.loads((path / "state.json").read_text())
    torch.random.set_rng_state(tensors.pop("__torch_rng__"))
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for key, value in meta.pop("scalars").items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    scheduler.load_state_dict(meta.pop("scheduler"))
    return meta


# --------------------------------------------------------------------------------------------------------------
# The training loop shared by fine_tune and distill
# --------------------------------------------------------------------------------------------------------------
StepFn = Callable[[dict[str, torch.Tensor], np.random.Generator, int], "tuple[dict[str, float], int]"]


def _train_loop(
    model: Any,
    task: Task,
    step_fn: StepFn,
    *,
    name: str,
    run_key: dict[str, Any],
    total: int,
    per_epoch: int,
    data_kw: dict[str, Any],
    lr: float,
    warmup: float,
    weight_decay: float,
    grad_clip: float,
    seed: int,
    checkpoint_dir: str | os.PathLike | None,
    checkpoint_every: int | None,
    resume: bool,
    progress: bool,
    log_every: int,
    on_step: Callable[[int, dict[str, float]], bool | None] | None,
) -> TrainResult:
    """Seeded AdamW loop over length-bucketed batches; ``step_fn(batch, rng, step)`` runs the forward and backward
    passes of one step and returns ``(losses by name, examples forwarded)``."""
    tok = model.tokenizer
    device = next(model.parameters()).device
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim == 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel is ~7x faster than the per-tensor loop on CPU (22 M parameters: the step would otherwise
    # cost as much as a forward and backward pass of a batch); not every device / dtype has it.
    try:
        optimizer = torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        optimizer = torch.optim.AdamW(groups, lr=lr)
    warm = int(warmup * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    ckpt = Path(checkpoint_dir) / "checkpoint" if checkpoint_dir is not None else None
    result = TrainResult(strategy=name, steps=total, epochs=total / per_epoch, train_time_s=0.0, sentences_per_s=0.0)
    start_step, examples = 0, 0
    window: dict[str, list[float]] = {}

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        if resume and ckpt is not None and ckpt.exists():
            meta = _load_checkpoint(ckpt, model, optimizer, scheduler)
            if meta.get("run") != run_key:
                raise ValueError(
                    f"the checkpoint in {checkpoint_dir} is of another run ({meta.get('run')}); resume with the same "
                    f"settings or use a new checkpoint_dir"
                )
            start_step, examples = meta["step"], meta["examples"]
            result.history, result.train_time_s = meta["history"], meta["train_time_s"]
        model.train()
        bar = tqdm(total=total, initial=start_step, desc=f"train ({name})", disable=not progress)
        step = start_step
        epoch = step // per_epoch
        it = _epoch_iter(task, tok, seed, epoch, data_kw, skip=step - epoch * per_epoch)
        t0 = time.perf_counter()
        while step < total:
            batch = next(it, None)
            if batch is None:
                epoch += 1
                it = _epoch_iter(task, tok, seed, epoch, data_kw, skip=0)
                continue
            rng = np.random.default_rng([seed, step])  # draws depend on (seed, step) only: resumable
            losses, n = step_fn(_to(batch, device), rng, step)
            examples += n
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            for k, v in losses.items():
                window.setdefault(k, []).append(v)
            if step % log_every == 0 or step == total:  # window means: smoother curves than single steps
                result.history.append({"step": step, "lr": scheduler.get_last_lr()[0], **{k: float(np.mean(v)) for k, v in window.items()}})
                window = {}
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            bar.update(1)
            stop = bool(on_step(step, losses)) if on_step is not None else False
            if stop:
                result.steps = step
            if ckpt is not None and ((checkpoint_every and step % checkpoint_every == 0) or step == total or stop):
                result.train_time_s += time.perf_counter() - t0
                _save_checkpoint(ckpt, model, optimizer, scheduler, {
                    "step": step, "examples": examples, "run": run_key,
                    "history": result.history, "train_time_s": result.train_time_s,
                })
                t0 = time.perf_counter()
            if stop:
                break
        result.train_time_s += time.perf_counter() - t0
        bar.close()
    model.eval()
    result.sentences_per_s = examples / result.train_time_s if result.train_time_s > 0 else float("nan")
    return result


def _epoch_iter(task: Task, tok: Any, seed: int, epoch: int, data_kw: dict, skip: int):
    it = batches(task, tok, shuffle=True, sort_by_length=True, seed=seed + epoch, **data_kw)
    for _ in range(skip):
        next(it)
    return it


def _schedule(task: Task, tok: Any, *, epochs: float, max_steps: int | None, batch_size: int, max_length: int,
              train_limit: int | None, seed: int, lr: float) -> tuple[int, int, dict[str, Any]]:
    for name, value in {"lr": lr, "batch_size": batch_size, "max_length": max_length}.items():
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    if max_steps is not None and max_steps <= 0:
        raise ValueError(f"max_steps must be > 0, got {max_steps}")
    if max_steps is None and epochs <= 0:
        raise ValueError(f"epochs must be > 0, got {epochs}")
    data_kw = dict(split="train", batch_size=batch_size, max_length=max_length, limit=train_limit, drop_last=False)
    per_epoch = num_batches(task, tok, shuffle=True, sort_by_length=True, seed=seed, **data_kw)
    return max_steps or max(1, math.ceil(epochs * per_epoch)), per_epoch, data_kw


# --------------------------------------------------------------------------------------------------------------
# fine_tune: the super-network
# --------------------------------------------------------------------------------------------------------------
def fine_tune(
    supernet: Any,
    task: Task,
    *,
    strategy: str | TrainingStrategy = "standard",
    space: SearchSpace | None = None,
    k: int = 2,
    kd: bool = False,
    kd_temperature: float = 1.0,
    kd_alpha: float = 1.0,
    epochs: float = 1.0,
    max_steps: int | None = None,
    lr: float = 5e-5,
    batch_size: int = 32,
    max_length: int = 128,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    grad_clip: float = 1.0,
    seed: int = 0,
    train_limit: int | None = None,
    eval_split: str | None = "validation",
    eval_limit: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    cache: bool = False,
    progress: bool = True,
    log_every: int = 10,
    on_step: Callable[[int, dict[str, float]], bool | None] | None = None,
) -> TrainResult:
    """Fine-tune ``supernet`` on ``task`` in place and return a `TrainResult`.

    ``strategy``: ``"standard"`` (the full network), ``"random"`` (one random sub-network of ``space`` per step) or
    ``"sandwich"`` (largest, smallest and ``k`` random sub-networks per step, gradients accumulated), or a
    `TrainingStrategy`. ``kd=True`` (sandwich only) is in-place distillation: the largest sub-network learns from
    the labels and its soft predictions at temperature ``kd_temperature`` teach the others in the same step; a
    sub-network's loss is ``kd_alpha * KD + (1 - kd_alpha) * cross-entropy``.

    Steps: ``max_steps`` if given, else ``epochs`` x batches per epoch. The learning rate warms up linearly over
    ``warmup`` (a fraction of the steps) and decays linearly to 0. Everything random (data order, dropout, the
    strategy's sub-network draws) follows ``seed``; the caller's global torch RNG is left as it was.
    With ``checkpoint_dir``, a checkpoint (safetensors) is written every ``checkpoint_every`` steps and at the end;
    ``resume=True`` continues from it and ends with the same weights as an uninterrupted run.
    ``cache=True`` keeps the trained weights in the kit's cache directory, keyed by model, starting weights, task,
    strategy, space and every setting, and loads them instead of training when the same run was done before
    (an interrupted cached run resumes from its checkpoint).
    ``on_step(step, losses)`` is called after every step with that step's losses; returning True stops training
    there (after writing a checkpoint when ``checkpoint_dir`` is set), so it can be resumed.
    """
    if task.num_labels != supernet.dims.num_labels:
        raise ValueError(
            f"the task {task.name!r} has {task.num_labels} labels but the super-network's head has "
            f"{supernet.dims.num_labels}; build it with num_labels={task.num_labels}"
        )
    if resume and checkpoint_dir is None and not cache:
        raise ValueError("resume=True needs the checkpoint_dir to resume from")
    strat = make_strategy(strategy, space, **({"k": k} if strategy == "sandwich" else {}))
    if strat.space is not None and strat.space.dims != supernet.dims:
        raise ValueError("the space was built for another super-network (its dims differ); use SearchSpace.for_model(supernet)")
    if kd and not isinstance(strat, Sandwich):
        raise ValueError(f"kd=True needs a strategy whose first sub-network is the largest (sandwich), not {strat.name!r}")
    if kd_temperature <= 0 or not 0.0 <= kd_alpha <= 1.0:
        raise ValueError(f"kd_temperature must be > 0 and kd_alpha in [0, 1]; got {kd_temperature}, {kd_alpha}")
    tok = supernet.tokenizer
    total, per_epoch, data_kw = _schedule(task, tok, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                                          max_length=max_length, train_limit=train_limit, seed=seed, lr=lr)
    name = strat.name + ("+kd" if kd else "")
    run_key = {
        "strategy": name, "k": getattr(strat, "k", None), "space": strat.space.to_dict() if strat.space else None,
        "kd_temperature": kd_temperature if kd else None, "kd_alpha": kd_alpha if kd else None, "steps": total,
        "lr": lr, "batch_size": batch_size, "max_length": max_length, "warmup": warmup, "weight_decay": weight_decay,
        "grad_clip": grad_clip, "seed": seed, "train_limit": train_limit,
    }
    entry = None
    if cache:
        entry = _cache_entry(supernet, task, name, strat.space, seed, run_key)
        if (entry / "result.json").is_file():
            _load_cached_weights(supernet, entry)
            result = TrainResult(**json.loads((entry / "result.json").read_text()))
            result.from_cache = str(entry)
            return result
        checkpoint_dir, resume = checkpoint_dir or entry, True

    sandwich = isinstance(strat, Sandwich)

    def step_fn(batch: dict[str, torch.Tensor], rng: np.random.Generator, step: int) -> tuple[dict[str, float], int]:
        archs = strat.archs(step, rng)
        sums: dict[str, list[float]] = {}
        teacher = None
        for i, arch in enumerate(archs):
            supernet.reset_super_network() if arch is None else supernet.set_sub_network(arch)
            logits = supernet(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
            ce = F.cross_entropy(logits, batch["labels"])
            if teacher is not None:
                kdl = kd_loss(logits, teacher, kd_temperature)
                loss = kd_alpha * kdl + (1 - kd_alpha) * ce
                sums.setdefault("kd", []).append(float(kdl.detach()))
            else:
                loss = ce
            if kd and i == 0:
                teacher = logits.detach()
            loss.backward()
            role = "full" if arch is None else "largest" if sandwich and i == 0 else "smallest" if sandwich and i == 1 else "random"
            sums.setdefault(role, []).append(float(ce.detach()))
        supernet.reset_super_network()
        return {k: float(np.mean(v)) for k, v in sums.items()}, len(archs) * int(batch["labels"].numel())

    result = _train_loop(
        supernet, task, step_fn, name=name, run_key=run_key, total=total, per_epoch=per_epoch, data_kw=data_kw,
        lr=lr, warmup=warmup, weight_decay=weight_decay, grad_clip=grad_clip, seed=seed,
        checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume, progress=progress,
        log_every=log_every, on_step=on_step,
    )
    if eval_split is not None:
        result.eval = evaluate(supernet, task, eval_split, limit=eval_limit, max_length=max_length)
    if entry is not None and result.steps == total:
        supernet.save(entry / "model")
        (entry / "result.json").write_text(json.dumps(result.to_dict(), indent=1))
        if checkpoint_dir == entry:  # the optimizer state is only needed to resume an unfinished run
            import shutil

            shutil.rmtree(entry / "checkpoint", ignore_errors=True)
    return result


RECIPES = ("standard", "random", "sandwich", "sandwich+kd", "two-stage", "two-stage+reorder")


def train_supernet(
    supernet: Any,
    task: Task,
    space: SearchSpace | None = None,
    *,
    recipe: str = "two-stage+reorder",
    steps: int = 252,
    lr: float = 1e-4,
    batch_size: int = 32,
    seed: int = 0,
    importance_batches: int = 16,
    cache: bool = True,
    progress: bool = True,
) -> list[TrainResult]:
    """Train ``supernet`` for ``task`` with a named recipe (the ones `benchmarks/bench_supernet.py` compares).

    ``"two-stage+reorder"`` (default, the best of that benchmark by hypervolume): half the steps fine-tune the full
    model, then heads / FFN units / hidden dimensions are reordered by Taylor importance on ``importance_batches``
    training batches, then the other half trains with the sandwich rule and in-place distillation over ``space``.
    ``"two-stage"`` skips the reordering; ``"standard"``, ``"random"``, ``"sandwich"`` and ``"sandwich+kd"`` spend
    all steps on that strategy. Each stage goes through `fine_tune`'s cache (``cache=True``), so the same recipe
    and settings load the trained weights instead of training again. Returns the stages' `TrainResult` s.
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown training recipe {recipe!r}; allowed: {', '.join(RECIPES)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    common = dict(lr=lr, batch_size=batch_size, seed=seed, eval_split=None, cache=cache, progress=progress, log_every=20)
    if recipe == "standard":
        return [fine_tune(supernet, task, max_steps=steps, **common)]
    if not recipe.startswith("two-stage"):
        strategy = recipe.split("+")[0]
        return [fine_tune(supernet, task, strategy=strategy, space=space, kd=recipe.endswith("+kd"), max_steps=steps, **common)]
    half = max(1, steps // 2)
    entry = None
    if cache and recipe.endswith("+reorder"):
        # the reordering between the stages is not cached by fine_tune (it takes ~30 s): one entry for the recipe
        key = {"recipe": recipe, "steps": steps, "lr": lr, "batch_size": batch_size,
               "importance_batches": importance_batches, "space": space.to_dict() if space is not None else None}
        entry = _cache_entry(supernet, task, recipe, space, seed, key)
        if (entry / "results.json").is_file():
            _load_cached_weights(supernet, entry)
            cached = [TrainResult(**r) for r in json.loads((entry / "results.json").read_text())]
            for r in cached:
                r.from_cache = str(entry)
            return cached
    results = [fine_tune(supernet, task, max_steps=half, **common)]
    if recipe.endswith("+reorder"):
        imp = batches(task, supernet.tokenizer, split="train", batch_size=batch_size, shuffle=True, seed=seed + 1)
        supernet.reorder([b for _, b in zip(range(importance_batches), imp)], method="taylor")
    results.append(fine_tune(supernet, task, strategy="sandwich", space=space, kd=True, max_steps=max(1, steps - half), **common))
    if entry is not None and all(r.steps > 0 for r in results):
        tmp = entry.with_name(f"{entry.name}.tmp-{os.getpid()}-{time.time_ns()}")
        supernet.save(tmp / "model")
        (tmp / "results.json").write_text(json.dumps([r.to_dict() for r in results], indent=1))
        try:
            os.replace(tmp, entry)
        except OSError:  # another process stored the same entry meanwhile: keep theirs
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return results


def _load_cached_weights(supernet: Any, entry: Path) -> None:
    """Load a cache entry's trained weights into ``supernet`` (on its device) and put it in eval mode."""
    from .export import load_model

    supernet.load_state_dict(load_model(entry / "model", device=next(supernet.parameters()).device).state_dict())
    supernet.eval()


def _cache_entry(supernet: Any, task: Task, name: str, space: SearchSpace | None, seed: int, run_key: dict) -> Path:
    """The cache folder of a training run: readable prefix + hash of everything the result depends on."""
    import hashlib
    import re

    from ._paths import cache_dir

    h = hashlib.sha1()
    for _, p in sorted(supernet.state_dict().items()):  # the starting weights (pretrained, reordered, ...)
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    splits = {s: len(task[s]) for s in ("train", "validation", "test")}
    h.update(json.dumps([run_key, supernet.dims.to_dict(), task.name, splits, task.label_names], sort_keys=True).encode())
    model = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(getattr(supernet, "name", "model")))[-40:]
    gran = space.granularity if space is not None else "full"
    return cache_dir("supernets") / f"{model}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', task.name)}-{name}-{gran}-seed{seed}-{h.hexdigest()[:12]}"


# --------------------------------------------------------------------------------------------------------------
# distill: one extracted sub-network from a teacher
# --------------------------------------------------------------------------------------------------------------
def distill(
    student: Any,
    teacher: Any,
    task: Task,
    *,
    temperature: float = 2.0,
    alpha: float = 0.5,
    epochs: float = 1.0,
    max_steps: int | None = None,
    lr: float = 5e-5,
    batch_size: int = 32,
    max_length: int = 128,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    grad_clip: float = 1.0,
    seed: int = 0,
    train_limit: int | None = None,
    eval_split: str | None = "validation",
    eval_limit: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    progress: bool = True,
    log_every: int = 10,
    on_step: Callable[[int, dict[str, float]], bool | None] | None = None,
) -> TrainResult:
    """Train ``student`` (e.g. an extracted `SubNetwork`) to match ``teacher`` (e.g. the trained `SuperNet`) on
    ``task``: loss ``alpha * KD(T) + (1 - alpha) * cross-entropy``; the teacher is frozen and in eval mode.

    The last step of AutoTinyBERT, Bort and the SigOpt study. ``result.eval`` holds the student's evaluation after
    training and ``result.eval_before`` before it, so the gain is measured, not assumed. Other arguments as in
    `fine_tune`.
    """
    if temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"temperature must be > 0 and alpha in [0, 1]; got {temperature}, {alpha}")
    if student.dims.num_labels != task.num_labels:
        raise ValueError(f"the student has {student.dims.num_labels} labels, the task {task.num_labels}")
    if student is teacher:
        raise ValueError("student and teacher are the same model; distil an extracted copy: supernet.extract(arch)")
    tok = student.tokenizer
    total, per_epoch, data_kw = _schedule(task, tok, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                                          max_length=max_length, train_limit=train_limit, seed=seed, lr=lr)
    before = evaluate(student, task, eval_split, limit=eval_limit, max_length=max_length) if eval_split else None
    teacher_was_training = teacher.training
    teacher.eval()
    run_key = {"strategy": "distill", "temperature": temperature, "alpha": alpha, "steps": total, "lr": lr,
               "batch_size": batch_size, "max_length": max_length, "seed": seed, "train_limit": train_limit}

    def step_fn(batch: dict[str, torch.Tensor], rng: np.random.Generator, step: int) -> tuple[dict[str, float], int]:
        args = (batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        with torch.no_grad():
            soft = teacher(*args)
        logits = student(*args)
        ce = F.cross_entropy(logits, batch["labels"])
        kdl = kd_loss(logits, soft, temperature)
        (alpha * kdl + (1 - alpha) * ce).backward()
        return {"ce": float(ce.detach()), "kd": float(kdl.detach())}, int(batch["labels"].numel())

    try:
        result = _train_loop(
            student, task, step_fn, name="distill", run_key=run_key, total=total, per_epoch=per_epoch, data_kw=data_kw,
            lr=lr, warmup=warmup, weight_decay=weight_decay, grad_clip=grad_clip, seed=seed,
            checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume, progress=progress,
            log_every=log_every, on_step=on_step,
        )
    finally:
        teacher.train(teacher_was_training)
    if eval_split is not None:
        result.eval_before = before
        result.eval = evaluate(student, task, eval_split, limit=eval_limit, max_length=max_length)
    return result


TRAIN_STEPS, TRAIN_LR = 252, 1e-4  # one epoch of movie-snippets at batch 32: benchmarks/bench_supernet.py's settings
TRAIN_RECIPE = "two-stage+reorder"  # the best recipe of benchmarks/results/supernet.json by hypervolume


def trained_supernet(model: str, task_name: str, granularity: str, *, train_steps: int = TRAIN_STEPS,
                     lr: float = TRAIN_LR, seed: int = 0, recipe: str = TRAIN_RECIPE,
                     progress: bool = True) -> tuple[Any, Any, Any, Any]:
    """``(supernet, space, task, train_result)``: the pretrained ``model`` with a head for ``task_name``, trained for
    ``train_steps`` steps (batch 32, learning rate ``lr``) with `train_supernet`'s ``recipe`` over the
    ``granularity`` space, through `fine_tune`'s cache: the same settings load the trained weights instead of
    training again (``train_result.from_cache`` says where from); ``train_steps=0`` skips training. The defaults
    are those of ``benchmarks/bench_supernet.py``, whose best recipe by hypervolume is the default here, so the
    search CLI and ``benchmarks/bench_search.py`` reuse the super-network that benchmark trained."""
    from .data import load_task
    from .space import SearchSpace
    from .supernet import SuperNet

    task = load_task(task_name, seed=seed)
    supernet = SuperNet.from_pretrained(model, num_labels=task.num_labels, seed=seed)
    space = SearchSpace.for_model(supernet, granularity)
    trained = None
    if train_steps > 0:
        trained = train_supernet(supernet, task, space, recipe=recipe, steps=train_steps, lr=lr, batch_size=32,
                                 seed=seed, cache=True, progress=progress)[-1]
    return supernet.eval(), space, task, trained
