"""Fine-tuning a super-network, distilling a sub-network, and evaluating models on a task.

`fine_tune` is one seeded training loop (AdamW, linear warm-up and decay, gradient clipping, length-bucketed
batches with dynamic padding, tqdm progress, safetensors checkpoints and exact resume) whose hyper-parameters are
one `TrainConfig`. What each step trains is decided by a *training strategy*: a small object whose
``archs(step, rng)`` lists ``(role, arch)`` pairs, the sub-networks whose gradients that step accumulates
(``None`` = the full network). ``standard`` trains the full model only; weight-sharing strategies plug in by adding
an entry to `TRAINING_STRATEGIES` (the search strategies are another registry, `subnet_kit.strategies`).
`distill` trains one extracted sub-network against a teacher with the same loop.

`evaluate` measures accuracy / error / loss of a `SuperNet` (optionally with an active ``arch``) or of any model
that maps a batch to logits, with length-sorted batches under ``torch.inference_mode``.

The trained-weights cache (``cache=True``) lives here too, because `fine_tune` and the recipes of `recipes.py`
share it: an entry is a folder ``model/`` (a saved model) + ``results.json`` (a list of `TrainResult`), keyed by
the starting weights, the task and every setting the result depends on. Named recipes (`train_supernet`,
`trained_supernet`, `RECIPES`, ``TRAIN_*``) are in `subnet_kit.recipes`; their old import path from this module
still works.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ._io import atomic_dir
from ._paths import cache_dir
from .checkpoint import load_weights_into
from .data import Task, batches, num_batches
from .space import Arch, SearchSpace

OnStep = Callable[[int, dict[str, float]], "bool | None"]


# --------------------------------------------------------------------------------------------------------------
# Hyper-parameters
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of `fine_tune` and `distill`; a bad value is a ValueError when the config is made.

    >>> TrainConfig(max_steps=100, lr=1e-4).batch_size
    32
    """

    epochs: float = 1.0  # passes over the training split (used when max_steps is None; fractions allowed)
    max_steps: int | None = None  # optimisation steps; overrides epochs
    lr: float = 5e-5  # peak learning rate of AdamW
    batch_size: int = 32  # training examples per step
    max_length: int = 128  # tokens per example (longer ones are truncated)
    warmup: float = 0.1  # share of the steps over which the learning rate rises linearly from 0 (then decays to 0)
    weight_decay: float = 0.01  # AdamW decay of matrices (biases and LayerNorm weights are not decayed)
    grad_clip: float = 1.0  # maximum global gradient norm per step
    seed: int = 0  # data order, dropout and sub-network draws; the caller's global RNG is left alone
    train_limit: int | None = None  # train on the first N training examples only (None: all)
    kd_temperature: float = 1.0  # distillation: teacher and student distributions are softened by this temperature
    kd_alpha: float = 1.0  # distillation: loss = kd_alpha * KD + (1 - kd_alpha) * cross-entropy on the labels
    eval_split: str | None = "validation"  # split evaluated after training (None: no evaluation)
    eval_limit: int | None = None  # examples of eval_split evaluated (None: all)
    log_every: int = 10  # steps per entry of TrainResult.history (each entry: the window's mean losses)
    checkpoint_every: int | None = None  # steps between checkpoints when a checkpoint_dir is given (None: at the end)

    def __post_init__(self) -> None:
        for name in ("lr", "batch_size", "max_length", "grad_clip", "kd_temperature", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_steps", "train_limit", "eval_limit", "checkpoint_every"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 (or None), got {getattr(self, name)}")
        if self.max_steps is None and self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        for name in ("warmup", "kd_alpha"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")

    @classmethod
    def make(cls, config: TrainConfig | None = None, **overrides: Any) -> TrainConfig:
        """``config`` (default: all defaults) with ``overrides`` replaced; an unknown name is a ValueError."""
        if config is not None and not isinstance(config, cls):
            raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(overrides) - set(allowed))
        if unknown:
            hint = " (k, the sandwich's random sub-networks per step, is strategy=Sandwich(space, k=...))" if "k" in unknown else ""
            raise ValueError(f"unknown training setting(s) {', '.join(unknown)}{hint}; allowed: {', '.join(allowed)}")
        return replace(config or cls(), **overrides)

    def run_key(self, run: str, steps: int, kd: bool, **extra: Any) -> dict[str, Any]:
        """What a run's weights depend on (checkpoints of another key are refused): the run's name, its number of
        steps, ``extra`` (the strategy's options) and every setting but reporting, checkpointing and the epochs /
        max_steps that ``steps`` already counts; the distillation settings only with ``kd``."""
        skip = {"epochs", "max_steps", "eval_split", "eval_limit", "log_every", "checkpoint_every"}
        if not kd:
            skip |= {"kd_temperature", "kd_alpha"}
        return {"run": run, "steps": steps, **extra, **{k: v for k, v in asdict(self).items() if k not in skip}}


# --------------------------------------------------------------------------------------------------------------
# Training strategies
# --------------------------------------------------------------------------------------------------------------
class TrainingStrategy:
    """Which sub-networks one training step updates. Subclasses set ``name`` and override `archs`.

    ``archs(step, rng)`` returns ``[(role, arch), ...]``: the sub-networks whose gradients the step accumulates
    (``None`` = the whole network), each with the role its loss is logged under. A strategy whose first entry is
    the largest sub-network sets ``teacher_first = True``; only those can teach the others in the same step
    (in-place distillation, ``kd=True``). Options such as the sandwich's ``k`` are constructor arguments and appear
    in `options`, which keys checkpoints and the cache.
    """

    name = "base"
    needs_space = False  # draws sub-networks of a SearchSpace
    teacher_first = False  # the first sub-network of every step is the largest (a teacher for in-place KD)

    def __init__(self, space: SearchSpace | None = None) -> None:
        if self.needs_space and space is None:
            raise ValueError(f"training strategy {self.name!r} samples sub-networks: pass space=SearchSpace.for_model(...)")
        self.space = space

    def archs(self, step: int, rng: np.random.Generator) -> Sequence[tuple[str, Arch | None]]:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The settings that change what is trained (the space, when one is sampled, and constructor options)."""
        return {"space": self.space.to_dict() if self.needs_space else None}


class Standard(TrainingStrategy):
    """Plain fine-tuning: the full network only."""

    name = "standard"

    def archs(self, step: int, rng: np.random.Generator) -> Sequence[tuple[str, Arch | None]]:
        return [("full", None)]


class RandomSubnet(TrainingStrategy):
    """One uniformly random sub-network of the space per step (the "random" baseline of Klein et al.)."""

    name = "random"
    needs_space = True

    def archs(self, step: int, rng: np.random.Generator) -> Sequence[tuple[str, Arch | None]]:
        return [("random", self.space.sample(rng))]


class Sandwich(TrainingStrategy):
    """The sandwich rule (Yu & Huang; BigNAS; Klein et al.): largest, smallest and ``k`` random sub-networks.

    ``small_share``: the share of the random draws that are redrawn until the sub-network has at most
    ``small_bound`` of the full encoder's parameters (sampling biased toward small sub-networks; 0: plain uniform
    draws of the space's genes, whose sizes cluster around half the encoder).
    """

    name = "sandwich"
    needs_space = True
    teacher_first = True

    def __init__(self, space: SearchSpace | None = None, k: int = 2, small_share: float = 0.0,
                 small_bound: float = 0.25) -> None:
        super().__init__(space)
        if k < 0:
            raise ValueError(f"k (random sub-networks per step) must be >= 0, got {k}")
        if not 0.0 <= small_share <= 1.0 or not 0.0 < small_bound <= 1.0:
            raise ValueError(f"small_share must be in [0, 1] and small_bound in (0, 1], got {small_share} and {small_bound}")
        self.k, self.small_share, self.small_bound = k, small_share, small_bound
        if small_share and space is not None:
            full = space.params(space.largest(), "encoder")
            if space.params(space.smallest(), "encoder") > small_bound * full:
                raise ValueError(f"no sub-network of the space has <= {small_bound:.0%} of the encoder parameters")
            self._small_params = small_bound * full

    def _draw(self, rng: np.random.Generator) -> Arch:
        if self.small_share and rng.random() < self.small_share:
            while True:  # rejection: the smallest arch fits, so a small one is found (often: ~1 in 5 draws)
                arch = self.space.sample(rng)
                if self.space.params(arch, "encoder") <= self._small_params:
                    return arch
        return self.space.sample(rng)

    def archs(self, step: int, rng: np.random.Generator) -> Sequence[tuple[str, Arch | None]]:
        drawn = [("random", self._draw(rng)) for _ in range(self.k)]
        return [("largest", self.space.largest()), ("smallest", self.space.smallest()), *drawn]

    def options(self) -> dict[str, Any]:
        biased = {"small_share": self.small_share, "small_bound": self.small_bound} if self.small_share else {}
        return {**super().options(), "k": self.k, **biased}


TRAINING_STRATEGIES: dict[str, type[TrainingStrategy]] = {
    "standard": Standard, "random": RandomSubnet, "sandwich": Sandwich,
}


def make_training_strategy(strategy: str | TrainingStrategy, space: SearchSpace | None = None,
                           **options: Any) -> TrainingStrategy:
    """The training strategy named ``strategy`` (one of `TRAINING_STRATEGIES`) over ``space``, or ``strategy``
    itself when it is one."""
    if isinstance(strategy, TrainingStrategy):
        return strategy
    if strategy not in TRAINING_STRATEGIES:
        raise ValueError(f"unknown training strategy {strategy!r}; allowed: {', '.join(TRAINING_STRATEGIES)}")
    return TRAINING_STRATEGIES[strategy](space, **options)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton's distillation loss: KL(teacher || student) of the temperature-softened distributions, times T²."""
    t = temperature
    return F.kl_div(
        F.log_softmax(student_logits / t, -1), F.log_softmax(teacher_logits / t, -1), log_target=True,
        reduction="batchmean",
    ) * (t * t)


def _mixed_loss(logits: torch.Tensor, teacher: torch.Tensor, ce: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kd_alpha * KD + (1 - kd_alpha) * ce, KD)``: the loss of a student of ``teacher``'s logits."""
    kdl = kd_loss(logits, teacher, cfg.kd_temperature)
    return cfg.kd_alpha * kdl + (1 - cfg.kd_alpha) * ce, kdl


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


def _evaluate_after(model: Any, task: Task, cfg: TrainConfig) -> dict[str, float] | None:
    """The evaluation `fine_tune` / `distill` report (None when ``cfg.eval_split`` is None)."""
    if cfg.eval_split is None:
        return None
    return evaluate(model, task, cfg.eval_split, limit=cfg.eval_limit, max_length=cfg.max_length)


# --------------------------------------------------------------------------------------------------------------
# Checkpoints (safetensors for tensors, JSON for the rest; nothing is pickled)
# --------------------------------------------------------------------------------------------------------------
def _save_checkpoint(path: Path, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any, state: dict) -> None:
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in opt["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{key}"] = value
    tensors["__torch_rng__"] = torch.random.get_rng_state()
    meta = {"param_groups": opt["param_groups"], "scalars": scalars, "scheduler": scheduler.state_dict(), **state}
    with atomic_dir(path) as tmp:  # two processes may train the same run: each writes its own temporary folder
        model.save(tmp / "model")
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps(meta))


def _load_checkpoint(path: Path, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict:
    load_weights_into(model, path / "model")
    tensors = load_file(str(path / "optimizer.safetensors"))
    meta = json.loads((path / "state.json").read_text())
    torch.random.set_rng_state(tensors.pop("__torch_rng__"))
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *meta.pop("scalars").items()]:
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    scheduler.load_state_dict(meta.pop("scheduler"))
    return meta


# --------------------------------------------------------------------------------------------------------------
# The trained-weights cache shared by fine_tune and the recipes
# --------------------------------------------------------------------------------------------------------------
CACHE_FORMAT = 2  # bump when a cache entry's layout or the training code's results change: old entries are not read
RESULTS_FILE = "results.json"  # a cache entry: model/ (a saved model) + this list of TrainResult dicts


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def cache_entry(model: Any, task: Task, name: str, space: SearchSpace | None, seed: int, key: dict) -> Path:
    """The cache folder of a training run: readable prefix + hash of the starting weights (pretrained, reordered,
    ...), the model's dims, the task and its splits, ``key`` (every setting the result depends on) and the cache
    format."""
    h = hashlib.sha1()
    for _, p in sorted(model.state_dict().items()):
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    splits = {s: len(task[s]) for s in ("train", "validation", "test")}
    described = [key, CACHE_FORMAT, model.dims.to_dict(), task.name, splits, task.label_names]
    h.update(json.dumps(described, sort_keys=True).encode())
    gran = space.granularity if space is not None else "full"
    prefix = f"{_slug(str(getattr(model, 'name', 'model')))[-40:]}-{_slug(task.name)}-{name}-{gran}-seed{seed}"
    return cache_dir("supernets") / f"{prefix}-{h.hexdigest()[:12]}"


def load_cache_entry(model: Any, entry: Path) -> list[TrainResult] | None:
    """The results stored in ``entry``, with its weights read into ``model`` (eval mode); None when there is none."""
    if not (entry / RESULTS_FILE).is_file():
        return None
    try:
        load_weights_into(model, entry / "model")
    except ValueError as e:
        raise ValueError(f"the cached weights in {entry} cannot be read ({e}); delete that folder to train again") from e
    model.eval()
    results = [TrainResult(**r) for r in json.loads((entry / RESULTS_FILE).read_text())]
    for r in results:
        r.from_cache = str(entry)
    return results


def store_cache_entry(model: Any, entry: Path, results: Sequence[TrainResult]) -> None:
    """Write ``model``'s weights and ``results`` as cache ``entry`` in one rename (what was in the folder before,
    e.g. the checkpoint of the unfinished run, goes)."""
    with atomic_dir(entry) as tmp:
        model.save(tmp / "model")
        (tmp / RESULTS_FILE).write_text(json.dumps([r.to_dict() for r in results], indent=1))


# --------------------------------------------------------------------------------------------------------------
# The training loop shared by fine_tune and distill
# --------------------------------------------------------------------------------------------------------------
StepFn = Callable[[dict[str, torch.Tensor], np.random.Generator, int], "tuple[dict[str, float], int]"]


class _Schedule(NamedTuple):
    total: int  # optimisation steps of the run
    per_epoch: int  # batches in one pass over the training data


def _data_kw(cfg: TrainConfig) -> dict[str, Any]:
    return dict(split="train", batch_size=cfg.batch_size, max_length=cfg.max_length, limit=cfg.train_limit, drop_last=False)


def _schedule(task: Task, tok: Any, cfg: TrainConfig) -> _Schedule:
    per_epoch = num_batches(task, tok, shuffle=True, sort_by_length=True, seed=cfg.seed, **_data_kw(cfg))
    return _Schedule(cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch)), per_epoch)


def _epoch_iter(task: Task, tok: Any, cfg: TrainConfig, epoch: int, skip: int) -> Iterator[dict[str, torch.Tensor]]:
    it = batches(task, tok, shuffle=True, sort_by_length=True, seed=cfg.seed + epoch, **_data_kw(cfg))
    for _ in range(skip):
        next(it)
    return it


def _batch_stream(task: Task, tok: Any, cfg: TrainConfig, per_epoch: int, step: int) -> Iterator[dict[str, torch.Tensor]]:
    """Training batches from ``step`` on, epoch after epoch (epoch ``e`` is shuffled with seed ``seed + e``)."""
    epoch = step // per_epoch
    it = _epoch_iter(task, tok, cfg, epoch, skip=step - epoch * per_epoch)
    while True:
        batch = next(it, None)
        if batch is None:
            epoch += 1
            it = _epoch_iter(task, tok, cfg, epoch, skip=0)
            continue
        yield batch


def _optimizer(model: Any, cfg: TrainConfig, total: int) -> tuple[torch.optim.Optimizer, Any, list]:
    """AdamW (matrices decayed, vectors not), the warm-up + linear-decay schedule, and the trained parameters."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim == 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel is ~7x faster than the per-tensor loop on CPU (22 M parameters: the step would otherwise
    # cost as much as a forward and backward pass of a batch); not every device / dtype has it.
    try:
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    except (RuntimeError, ValueError):
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    warm = int(cfg.warmup * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    return optimizer, scheduler, decay + no_decay


def _resume(ckpt: Path, model: Any, optimizer: Any, scheduler: Any, run_key: dict, result: TrainResult) -> tuple[int, int]:
    """Restore a checkpoint of the same run into the model, optimizer, scheduler, RNG and ``result``; returns
    ``(step, examples)`` reached."""
    meta = _load_checkpoint(ckpt, model, optimizer, scheduler)
    if meta.get("run") != run_key:
        raise ValueError(
            f"the checkpoint in {ckpt.parent} is of another run ({meta.get('run')}); resume with the same "
            f"settings or use a new checkpoint_dir"
        )
    result.history, result.train_time_s = meta["history"], meta["train_time_s"]
    return meta["step"], meta["examples"]


def _train_loop(model: Any, task: Task, step_fn: StepFn, cfg: TrainConfig, run_key: dict[str, Any], *,
                checkpoint_dir: str | os.PathLike | None, resume: bool, progress: bool, on_step: OnStep | None) -> TrainResult:
    """Seeded AdamW loop over length-bucketed batches; ``step_fn(batch, rng, step)`` runs the forward and backward
    passes of one step and returns ``(losses by name, examples forwarded)``. ``run_key`` (`TrainConfig.run_key`)
    names the run and guards resuming."""
    device = next(model.parameters()).device
    sched = _schedule(task, model.tokenizer, cfg)
    total = sched.total
    optimizer, scheduler, params = _optimizer(model, cfg, total)
    ckpt = Path(checkpoint_dir) / "checkpoint" if checkpoint_dir is not None else None
    result = TrainResult(strategy=run_key["run"], steps=total, epochs=total / sched.per_epoch, train_time_s=0.0,
                         sentences_per_s=0.0)
    step, examples, window = 0, 0, {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        if resume and ckpt is not None and ckpt.exists():
            step, examples = _resume(ckpt, model, optimizer, scheduler, run_key, result)
        model.train()
        bar = tqdm(total=total, initial=step, desc=f"train ({run_key['run']})", disable=not progress)
        data = _batch_stream(task, model.tokenizer, cfg, sched.per_epoch, step)
        t0 = time.perf_counter()
        while step < total:
            rng = np.random.default_rng([cfg.seed, step])  # draws depend on (seed, step) only: resumable
            losses, n = step_fn(_to(next(data), device), rng, step)
            examples += n
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window = _log_step(result, window, losses, step, total, cfg.log_every, scheduler)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            bar.update(1)
            stop = bool(on_step(step, losses)) if on_step is not None else False
            if stop:
                result.steps = step
            if ckpt is not None and ((cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == total or stop):
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


def _log_step(result: TrainResult, window: dict[str, list[float]], losses: dict[str, float], step: int, total: int,
              log_every: int, scheduler: Any) -> dict[str, list[float]]:
    """Add ``losses`` to the window; every ``log_every`` steps (and at the end) append the window's means to
    ``result.history`` (smoother curves than single steps). Returns the window to continue with."""
    for k, v in losses.items():
        window.setdefault(k, []).append(v)
    if step % log_every == 0 or step == total:
        means = {k: float(np.mean(v)) for k, v in window.items()}
        result.history.append({"step": step, "lr": scheduler.get_last_lr()[0], **means})
        return {}
    return window


# --------------------------------------------------------------------------------------------------------------
# fine_tune: the super-network
# --------------------------------------------------------------------------------------------------------------
def _strategy_step(supernet: Any, strat: TrainingStrategy, kd: bool, cfg: TrainConfig, frozen: Any = None) -> StepFn:
    """One step of ``strat``: forward and backward each drawn sub-network; with ``kd`` the first teaches the rest,
    with a ``frozen`` teacher model its logits teach every one."""

    def step_fn(batch: dict[str, torch.Tensor], rng: np.random.Generator, step: int) -> tuple[dict[str, float], int]:
        drawn = strat.archs(step, rng)
        sums: dict[str, list[float]] = {}
        teacher = None
        if frozen is not None:
            with torch.no_grad():
                teacher = frozen(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        for i, (role, arch) in enumerate(drawn):
            supernet.reset_super_network() if arch is None else supernet.set_sub_network(arch)
            logits = supernet(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
            ce = F.cross_entropy(logits, batch["labels"])
            loss = ce
            if teacher is not None:
                loss, kdl = _mixed_loss(logits, teacher, ce, cfg)
                sums.setdefault("kd", []).append(float(kdl.detach()))
            if kd and i == 0:
                teacher = logits.detach()
            loss.backward()
            sums.setdefault(role, []).append(float(ce.detach()))
        supernet.reset_super_network()
        return {k: float(np.mean(v)) for k, v in sums.items()}, len(drawn) * int(batch["labels"].numel())

    return step_fn


def _checked_strategy(supernet: Any, task: Task, strategy: str | TrainingStrategy, space: SearchSpace | None,
                      kd: bool) -> TrainingStrategy:
    """The training strategy, after checking that the task, the space and ``kd`` fit the super-network."""
    if task.num_labels != supernet.dims.num_labels:
        raise ValueError(
            f"the task {task.name!r} has {task.num_labels} labels but the super-network's head has "
            f"{supernet.dims.num_labels}; build it with num_labels={task.num_labels}"
        )
    strat = make_training_strategy(strategy, space)
    if strat.space is not None and strat.space.dims != supernet.dims:
        raise ValueError("the space was built for another super-network (its dims differ); use SearchSpace.for_model(supernet)")
    if kd and not strat.teacher_first:
        raise ValueError(f"kd=True needs a strategy whose first sub-network is the largest (teacher_first, e.g. "
                         f"sandwich), not {strat.name!r}")
    return strat


def fine_tune(
    supernet: Any,
    task: Task,
    strategy: str | TrainingStrategy = "standard",
    *,
    space: SearchSpace | None = None,
    kd: bool = False,
    config: TrainConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    cache: bool = False,
    progress: bool = True,
    on_step: OnStep | None = None,
    teacher: Any = None,
    **config_overrides: Any,
) -> TrainResult:
    """Fine-tune ``supernet`` on ``task`` in place and return a `TrainResult`.

    ``strategy``: ``"standard"`` (the full network), ``"random"`` (one random sub-network of ``space`` per step) or
    ``"sandwich"`` (largest, smallest and 2 random sub-networks per step, gradients accumulated; another number
    with ``strategy=Sandwich(space, k=...)``), or any `TrainingStrategy`. ``kd=True`` (a ``teacher_first``
    strategy: sandwich) is in-place distillation: the largest sub-network learns from the labels and its soft
    predictions at temperature ``kd_temperature`` teach the others in the same step; a sub-network's loss is
    ``kd_alpha * KD + (1 - kd_alpha) * cross-entropy``. ``teacher`` (a frozen model in eval mode, e.g. a copy
    of the fine-tuned full network; not with ``kd``) teaches every drawn sub-network, the largest included, the same way.

    Hyper-parameters: ``config`` (a `TrainConfig`), with any of its fields overridden by keyword
    (``fine_tune(sn, task, max_steps=300, lr=1e-4)``); an unknown keyword is a ValueError listing the fields.
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
    strat = _checked_strategy(supernet, task, strategy, space, kd)
    if teacher is not None and (kd or teacher is supernet):
        raise ValueError("teacher= is a separate frozen model (e.g. copy.deepcopy(supernet)) and replaces kd=True")
    if teacher is not None and cache:
        raise ValueError("cache=True cannot key a run by its teacher= model; cache the recipe instead "
                         "(subnet_kit.recipes.train_supernet)")
    cfg = TrainConfig.make(config, **config_overrides)
    if resume and checkpoint_dir is None and not cache:
        raise ValueError("resume=True needs the checkpoint_dir to resume from")
    name = strat.name + ("+kd" if kd else "") + ("+teacher" if teacher is not None else "")
    run_key = cfg.run_key(name, _schedule(task, supernet.tokenizer, cfg).total, kd or teacher is not None, **strat.options())
    entry = None
    if cache:
        reported = {"eval_split": cfg.eval_split, "eval_limit": cfg.eval_limit, "log_every": cfg.log_every}
        entry = cache_entry(supernet, task, name, strat.space, cfg.seed, {**run_key, **reported})
        cached = load_cache_entry(supernet, entry)
        if cached is not None:
            return cached[0]
        checkpoint_dir, resume = checkpoint_dir or entry, True
    if teacher is not None:
        teacher.eval()
    result = _train_loop(supernet, task, _strategy_step(supernet, strat, kd, cfg, teacher), cfg, run_key,
                         checkpoint_dir=checkpoint_dir, resume=resume, progress=progress, on_step=on_step)
    result.eval = _evaluate_after(supernet, task, cfg)
    if entry is not None and result.steps == run_key["steps"]:
        store_cache_entry(supernet, entry, [result])
    return result


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
    config: TrainConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    on_step: OnStep | None = None,
    **config_overrides: Any,
) -> TrainResult:
    """Train ``student`` (e.g. an extracted `SubNetwork`) to match ``teacher`` (e.g. the trained `SuperNet`) on
    ``task``: loss ``alpha * KD(temperature) + (1 - alpha) * cross-entropy``; the teacher is frozen and in eval
    mode. ``temperature`` and ``alpha`` set the config's ``kd_temperature`` / ``kd_alpha``.

    Task-specific logit distillation of a sub-network after the search. The seed studies place distillation
    elsewhere: in the SigOpt/NVIDIA study every Bayesian-optimisation trial is a distillation run (architecture and
    distillation settings tuned together), Bort pre-trains the architecture it found with distillation and then
    fine-tunes it with Agora, and AutoTinyBERT further trains extracted sub-models by pre-training or task-agnostic
    distillation.

    ``result.eval`` holds the student's evaluation after training and ``result.eval_before`` before it, so the gain
    is measured, not assumed. Other arguments as in `fine_tune` (``config`` and its fields by keyword).
    """
    clash = sorted({"kd_temperature", "kd_alpha"} & set(config_overrides))
    if clash:
        raise ValueError(f"distill takes temperature= and alpha=, not {', '.join(clash)}=")
    cfg = TrainConfig.make(config, **config_overrides, kd_temperature=temperature, kd_alpha=alpha)
    if student.dims.num_labels != task.num_labels:
        raise ValueError(f"the student has {student.dims.num_labels} labels, the task {task.num_labels}")
    if student is teacher:
        raise ValueError("student and teacher are the same model; distil an extracted copy: supernet.extract(arch)")
    run_key = cfg.run_key("distill", _schedule(task, student.tokenizer, cfg).total, kd=True)
    before = _evaluate_after(student, task, cfg)
    teacher_was_training = teacher.training
    teacher.eval()

    def step_fn(batch: dict[str, torch.Tensor], rng: np.random.Generator, step: int) -> tuple[dict[str, float], int]:
        args = (batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        with torch.no_grad():
            soft = teacher(*args)
        logits = student(*args)
        ce = F.cross_entropy(logits, batch["labels"])
        loss, kdl = _mixed_loss(logits, soft, ce, cfg)
        loss.backward()
        return {"ce": float(ce.detach()), "kd": float(kdl.detach())}, int(batch["labels"].numel())

    try:
        result = _train_loop(student, task, step_fn, cfg, run_key, checkpoint_dir=checkpoint_dir, resume=resume,
                             progress=progress, on_step=on_step)
    finally:
        teacher.train(teacher_was_training)
    if cfg.eval_split is not None:
        result.eval_before = before
        result.eval = _evaluate_after(student, task, cfg)
    return result


# --------------------------------------------------------------------------------------------------------------
# The old import path of the recipes (`subnet_kit.recipes` imports this module, so they resolve on first use)
# --------------------------------------------------------------------------------------------------------------
_MOVED_TO_RECIPES = {"RECIPES", "TRAIN_LR", "TRAIN_RECIPE", "TRAIN_STEPS", "train_supernet", "trained_supernet"}


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_RECIPES:
        from . import recipes

        return getattr(recipes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
