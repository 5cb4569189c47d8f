"""Named super-network training recipes, as data, and the two entry points that run them.

A `Recipe` is a list of `Stage` s (a training strategy and its options, in-place distillation or a frozen teacher
or neither, a share of the steps), optionally preceded by the reference fine-tuning (`fine_tune_reference`: the
full model fine-tuned the standard way, best epoch by validation), an optional Taylor-importance reordering of
heads / FFN units / hidden dimensions after one stage, the super-network's layer rule, and a ``version``.
`RECIPES` holds the ones `benchmarks/bench_supernet.py` compares. `train_supernet` runs a recipe through
`train.fine_tune`; with ``cache=True`` the whole recipe is one entry of the trained-weights cache (the format of
`train.cache_entry`: ``model/`` + ``results.json``), keyed by the recipe itself (its version included, so weights
of an older version of a recipe are never reused), the starting weights, the task, the space and every setting;
an interrupted run resumes from the last finished stage. `trained_supernet` is the application-level factory the
CLI, the notebooks and the benchmarks use: load the task (a name and its `load_task` options, or a `Task`) and the
pretrained model, build the space, run the default recipe through the cache. `train_steps_for` is the rule for the
default training length (one epoch of the task's training split, capped), with the sentence that says so.

The ``TRAIN_*`` constants are the defaults of both (those of ``benchmarks/bench_supernet.py``).
"""

from __future__ import annotations

import copy
import math
import shutil
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from .data import EMBEDDED_TASKS, Task, batches, load_task, num_batches
from .space import SearchSpace
from .modules import LAYER_RULES
from .supernet import SuperNet
from .train import (
    TRAINING_STRATEGIES, TrainResult, cache_entry, evaluate, fine_tune, load_cache_entry, make_training_strategy,
    store_cache_entry,
)

__all__ = [
    "MAX_DEFAULT_TRAIN_STEPS", "RECIPES", "REFERENCE_EPOCHS", "REFERENCE_PATIENCE", "Recipe", "Stage",
    "TRAIN_BATCH_SIZE", "TRAIN_LR", "TRAIN_RECIPE", "TRAIN_STEPS", "TrainSteps", "TrainedSuperNet",
    "fine_tune_reference", "get_recipe", "train_steps_for", "train_supernet", "trained_supernet",
]

TRAIN_STEPS = 252  # one epoch of movie-snippets at batch 32: benchmarks/bench_supernet.py's settings
TRAIN_LR = 1e-4  # peak learning rate of that benchmark
TRAIN_BATCH_SIZE = 32  # sentences per step in that benchmark
TRAIN_RECIPE = "reference+teacher+spread+half"  # the best recipe of benchmarks/results/supernet.json's ablations
IMPORTANCE_BATCHES = 16  # training batches the Taylor importance of a reordering is accumulated on
LOG_EVERY = 20  # steps per history entry of a recipe's stages
# cap of the default training length (train_steps_for): 4x one movie-snippets epoch (32,000 sentences); more is one
# option away. The default recipe trains up to 3 of these "epochs" for the reference and 2 with the sandwich rule
MAX_DEFAULT_TRAIN_STEPS = 1000


@dataclass(frozen=True)
class Stage:
    """One `fine_tune` run of a recipe."""

    strategy: str  # a training strategy of train.TRAINING_STRATEGIES
    kd: bool = False  # in-place distillation from the largest sub-network (a teacher_first strategy only)
    fraction: float = 1.0  # share of the recipe's steps; the last stage gets the rest
    frozen_teacher: bool = False  # a frozen copy of the network as it enters the stage teaches every sub-network
    options: tuple[tuple[str, Any], ...] = ()  # the strategy's constructor options, e.g. (("small_share", 0.5),)

    def __post_init__(self) -> None:
        if self.strategy not in TRAINING_STRATEGIES:
            raise ValueError(f"unknown training strategy {self.strategy!r}; allowed: {', '.join(TRAINING_STRATEGIES)}")
        if self.kd and not TRAINING_STRATEGIES[self.strategy].teacher_first:
            raise ValueError(f"kd=True needs a teacher_first strategy (e.g. sandwich), not {self.strategy!r}")
        if self.kd and self.frozen_teacher:
            raise ValueError("a stage distils in place (kd=True) or from a frozen teacher, not both")
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"a stage's fraction must be in (0, 1], got {self.fraction}")


@dataclass(frozen=True)
class Recipe:
    """A named sequence of training stages, optionally reordering by importance after one of them."""

    name: str  # the name in RECIPES and in the cache folder's name
    stages: tuple[Stage, ...]  # run in order on the same super-network
    reorder_after_stage: int | None = None  # stage index after which heads / FFN units / hidden dims are reordered (-1: after the reference)
    version: int = 1  # bump when what the recipe does changes: cached weights of other versions are not reused
    from_reference: bool = False  # start from the reference fine-tuning (fine_tune_reference), reordered after it
    steps_scale: float = 1.0  # the stages share round(steps_scale x steps) steps (steps: one epoch by default)
    layer_rule: str = "first"  # the super-network's layer rule (modules.kept_layers), set before training

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"recipe {self.name!r} has no stages")
        if abs(sum(s.fraction for s in self.stages) - 1.0) > 1e-9:
            raise ValueError(f"the fractions of recipe {self.name!r}'s stages must sum to 1, got "
                             f"{[s.fraction for s in self.stages]}")
        first = -1 if self.from_reference else 0  # -1: after the reference fine-tuning
        if self.reorder_after_stage is not None and self.reorder_after_stage not in range(first, len(self.stages)):
            raise ValueError(f"reorder_after_stage must be a stage index {first}..{len(self.stages) - 1} or None, "
                             f"got {self.reorder_after_stage}")
        if self.steps_scale <= 0:
            raise ValueError(f"steps_scale must be > 0, got {self.steps_scale}")
        if self.layer_rule not in LAYER_RULES:
            raise ValueError(f"unknown layer rule {self.layer_rule!r}; allowed: {', '.join(LAYER_RULES)}")

    def stage_steps(self, steps: int) -> list[int]:
        """Steps of each stage for ``steps`` given to the recipe: ``steps_scale x steps`` in all, ``fraction`` of
        them (at least 1) per stage, the last stage the rest."""
        steps = max(1, round(self.steps_scale * steps))
        head = [max(1, int(s.fraction * steps)) for s in self.stages[:-1]]
        return [*head, max(1, steps - sum(head))]

    def plan(self, steps: int) -> str:
        """What the recipe runs for ``steps`` given to it, in one sentence (for a CLI or a notebook to print)."""
        parts = []
        if self.from_reference:
            parts.append(f"the reference fine-tuning (up to {REFERENCE_EPOCHS} x {steps:,} steps, best of "
                         f"{REFERENCE_EPOCHS} validation checks)")
        for st, n in zip(self.stages, self.stage_steps(steps)):
            how = " with a frozen teacher" if st.frozen_teacher else " with in-place distillation" if st.kd else ""
            parts.append(f"{n:,} steps of {st.strategy}{how}")
        return f"recipe {self.name}: " + ", then ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON data (its cache key). Fields added after version 1 of the format appear only when
        they differ from their defaults, so the weights of recipes that do not use them keep their cache entries."""
        d = asdict(self)
        for name, default in _LATER_FIELDS["recipe"].items():
            if d[name] == default:
                del d[name]
        for st in d["stages"]:
            for name, default in _LATER_FIELDS["stage"].items():
                if st[name] == default:
                    del st[name]
        return d


_LATER_FIELDS = {"recipe": {"from_reference": False, "steps_scale": 1.0, "layer_rule": "first"},
                 "stage": {"frozen_teacher": False, "options": ()}}

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("standard", (Stage("standard"),)),
    Recipe("random", (Stage("random"),)),
    Recipe("sandwich", (Stage("sandwich"),)),
    Recipe("sandwich+kd", (Stage("sandwich", kd=True),)),
    # half the steps fine-tune the full model (a competent teacher from the first distillation step on, as in
    # DynaBERT), the other half train sub-networks with the sandwich rule and in-place distillation
    Recipe("two-stage", (Stage("standard", fraction=0.5), Stage("sandwich", kd=True, fraction=0.5))),
    Recipe("two-stage+reorder", (Stage("standard", fraction=0.5), Stage("sandwich", kd=True, fraction=0.5)),
           reorder_after_stage=0),
    # the budget spent: the same recipe for 3 epochs
    Recipe("two-stage+reorder-3x", (Stage("standard", fraction=0.5), Stage("sandwich", kd=True, fraction=0.5)),
           reorder_after_stage=0, steps_scale=3.0),
    # the reference fine-tuning (up to 3 epochs, best by validation) first, reordered; then 2 epochs of the sandwich
    # rule where a frozen copy of the reference teaches every sub-network (the full one included)
    Recipe("reference+teacher", (Stage("sandwich", frozen_teacher=True),), reorder_after_stage=-1,
           from_reference=True, steps_scale=2.0),
    Recipe("reference+teacher+spread", (Stage("sandwich", frozen_teacher=True),), reorder_after_stage=-1,
           from_reference=True, steps_scale=2.0, layer_rule="spread"),
    # ... with every random draw of the sandwich redrawn until it has at most half the encoder's parameters
    Recipe("reference+teacher+spread+half", (Stage("sandwich", frozen_teacher=True,
                                                   options=(("small_share", 1.0), ("small_bound", 0.5))),),
           reorder_after_stage=-1, from_reference=True, steps_scale=2.0, layer_rule="spread"),
    # ... spending the whole 3x budget: 3 epochs of the sandwich after the reference
    Recipe("reference+teacher+spread-3x", (Stage("sandwich", frozen_teacher=True),), reorder_after_stage=-1,
           from_reference=True, steps_scale=3.0, layer_rule="spread"),
)}


def get_recipe(recipe: str | Recipe) -> Recipe:
    """The recipe named ``recipe`` (one of `RECIPES`), or ``recipe`` itself when it is a `Recipe`."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise ValueError(f"unknown training recipe {recipe!r}; allowed: {', '.join(RECIPES)}")
    return RECIPES[recipe]


def _reorder(supernet: Any, task: Task, batch_size: int, seed: int, importance_batches: int) -> None:
    """Reorder heads / FFN units / hidden dimensions by Taylor importance on seeded training batches."""
    imp = batches(task, supernet.tokenizer, split="train", batch_size=batch_size, shuffle=True, seed=seed + 1)
    supernet.reorder([b for _, b in zip(range(importance_batches), imp)], method="taylor")


REFERENCE_EPOCHS = 3  # the reference fine-tuning's longest run, in epochs
REFERENCE_PATIENCE = 1  # ... and the epochs without a better validation accuracy after which it stops


def fine_tune_reference(
    supernet: Any,
    task: Task,
    *,
    max_epochs: int = REFERENCE_EPOCHS,
    patience: int = REFERENCE_PATIENCE,
    lr: float = TRAIN_LR,
    batch_size: int = TRAIN_BATCH_SIZE,
    seed: int = 0,
    epoch_steps: int | None = None,
    train_limit: int | None = None,
    cache: bool = True,
    progress: bool = True,
) -> TrainResult:
    """The reference: the full model of ``supernet`` fine-tuned the standard way, in place, until validation accuracy
    stops improving; what a user gets without any super-network, so every kept ratio is divided by its accuracy.

    Standard fine-tuning (AdamW, warm-up and linear decay over ``max_epochs``) with the validation split evaluated
    after every epoch; training stops after ``patience`` epochs without a better validation accuracy (at most
    ``max_epochs``) and the weights of the best epoch are kept. ``result.eval`` holds the best validation accuracy,
    ``best_epoch`` and ``epochs_run``; ``result.history`` one ``validation_accuracy`` entry per epoch;
    ``result.train_time_s`` the optimisation time (evaluations excluded). ``epoch_steps``: the steps of one
    "epoch" (default: one pass over the training split), so a short run (a test, a lesson's small parameters) is
    ``max_epochs x epoch_steps`` steps; ``train_limit``: train on the first N training examples only. Cached like
    `train_supernet`.
    """
    if max_epochs < 1 or patience < 1:
        raise ValueError(f"max_epochs and patience must be >= 1, got {max_epochs} and {patience}")
    one_pass = num_batches(task, supernet.tokenizer, split="train", batch_size=batch_size, shuffle=True,
                           sort_by_length=True, seed=seed, limit=train_limit)
    per_epoch = epoch_steps or one_pass
    if per_epoch < 1:
        raise ValueError(f"epoch_steps must be >= 1, got {per_epoch}")
    entry = None
    if cache:  # epoch_steps in the key only when it is not one pass, so both ways of asking for that share the entry
        key = {"reference": {"max_epochs": max_epochs, "patience": patience, "lr": lr, "batch_size": batch_size,
                             **({"epoch_steps": per_epoch} if per_epoch != one_pass else {})}, "seed": seed,
               **({"train_limit": train_limit} if train_limit else {})}
        if task.name not in EMBEDDED_TASKS:
            key["data"] = task.fingerprint()
        entry = cache_entry(supernet, task, "reference", None, seed, key)
        cached = load_cache_entry(supernet, entry)
        if cached is not None:
            return cached[0]
    curve: list[float] = []
    best: dict[str, Any] = {"accuracy": -1.0, "epoch": 0, "weights": None}

    def on_epoch(step: int, losses: dict[str, float]) -> bool:
        if step % per_epoch:
            return False
        acc = evaluate(supernet, task, "validation")["accuracy"]
        curve.append(acc)
        if acc > best["accuracy"]:
            best.update(accuracy=acc, epoch=len(curve),
                        weights={k: v.detach().clone() for k, v in supernet.state_dict().items()})
        return len(curve) - best["epoch"] >= patience

    result = fine_tune(supernet, task, "standard", max_steps=max_epochs * per_epoch, lr=lr, batch_size=batch_size,
                       seed=seed, train_limit=train_limit, eval_split=None, log_every=LOG_EVERY, progress=progress,
                       on_step=on_epoch)
    supernet.load_state_dict(best["weights"])
    supernet.eval()
    result.strategy = "reference"
    result.eval = {"accuracy": best["accuracy"], "error": 1 - best["accuracy"], "best_epoch": best["epoch"],
                   "epochs_run": len(curve)}
    result.history += [{"step": (i + 1) * per_epoch, "validation_accuracy": a} for i, a in enumerate(curve)]
    if entry is not None:
        store_cache_entry(supernet, entry, [result])
    return result


def train_supernet(
    supernet: Any,
    task: Task,
    space: SearchSpace | None = None,
    *,
    recipe: str | Recipe = TRAIN_RECIPE,
    steps: int = TRAIN_STEPS,
    lr: float = TRAIN_LR,
    batch_size: int = TRAIN_BATCH_SIZE,
    seed: int = 0,
    importance_batches: int = IMPORTANCE_BATCHES,
    train_limit: int | None = None,
    cache: bool = True,
    progress: bool = True,
) -> list[TrainResult]:
    """Train ``supernet`` for ``task`` with a `Recipe` (or the name of one of `RECIPES`); returns the stages'
    `TrainResult` s (the reference fine-tuning's first, for a recipe that starts from it).

    ``"reference+teacher+spread+half"`` (default, the best of ``benchmarks/bench_supernet.py``'s ablations): the
    super-network's layer rule becomes ``"spread"`` (a depth-k sub-network keeps evenly spread layers, the top one
    included); the full model is fine-tuned the standard way until validation accuracy stops improving
    (`fine_tune_reference`, up to 3 x ``steps``, best epoch kept: the reference a user compares against); heads /
    FFN units / hidden dimensions are reordered by Taylor importance on ``importance_batches`` training batches;
    then ``2 x steps`` steps train the sandwich rule over ``space`` (largest, smallest and 2 random sub-networks,
    the random ones redrawn until they hold at most half the encoder's parameters) with a frozen copy of the
    reference teaching every one of them. ``"two-stage+reorder"`` (the default before): half the steps fine-tune
    the full model, reorder, the other half sandwich + in-place distillation; ``"two-stage"`` skips the
    reordering; ``"standard"``, ``"random"``, ``"sandwich"`` and ``"sandwich+kd"`` spend all steps on that
    strategy; the other entries of `RECIPES` are the benchmark's ablations. With ``cache=True`` the same recipe
    (and version) with the same settings loads the trained weights instead of training again, and an interrupted
    run continues after its last finished stage. (12 parameters: the recipe's own settings, each needed.)
    """
    rec = get_recipe(recipe)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    supernet.layer_rule = rec.layer_rule
    entry = work = None
    if cache:
        key = {"recipe": rec.to_dict(), "steps": steps, "lr": lr, "batch_size": batch_size, "seed": seed,
               "importance_batches": importance_batches if rec.reorder_after_stage is not None else None,
               "space": space.to_dict() if space is not None else None,
               **({"train_limit": train_limit} if train_limit else {})}
        if task.name not in EMBEDDED_TASKS:  # a file's or hub task's data may change under the same name (another
            key["data"] = task.fingerprint()  # file, --text-column); embedded ones are fixed by name and seed
        entry = cache_entry(supernet, task, rec.name, space, seed, key)
        cached = load_cache_entry(supernet, entry)
        if cached is not None:
            return cached
        work = entry.with_name(entry.name + ".stages")  # finished stages' checkpoints, until the entry is written
    results = []
    if rec.from_reference:
        results.append(fine_tune_reference(supernet, task, lr=lr, batch_size=batch_size, seed=seed, epoch_steps=steps,
                                           train_limit=train_limit, cache=cache, progress=progress))
        if rec.reorder_after_stage == -1:
            _reorder(supernet, task, batch_size, seed, importance_batches)
    for i, (stage, n) in enumerate(zip(rec.stages, rec.stage_steps(steps))):
        teacher = copy.deepcopy(supernet).eval().requires_grad_(False) if stage.frozen_teacher else None
        strategy = make_training_strategy(stage.strategy, space, **dict(stage.options))
        results.append(fine_tune(
            supernet, task, strategy, space=space, kd=stage.kd, teacher=teacher, progress=progress,
            checkpoint_dir=work / f"stage{i}" if work else None, resume=work is not None,
            max_steps=n, lr=lr, batch_size=batch_size, seed=seed, train_limit=train_limit, eval_split=None,
            log_every=LOG_EVERY,
        ))
        del teacher
        if i == rec.reorder_after_stage:
            _reorder(supernet, task, batch_size, seed, importance_batches)
    if entry is not None:
        store_cache_entry(supernet, entry, results)
        shutil.rmtree(work, ignore_errors=True)
    return results


class TrainSteps(NamedTuple):
    """What `train_steps_for` returns."""

    steps: int  # training steps of batch `TRAIN_BATCH_SIZE` (0: no training)
    note: str  # one sentence on how many steps and why, for a CLI or a notebook to print


def train_steps_for(task: Task | int, train_steps: int | None = None, *, batch_size: int = TRAIN_BATCH_SIZE,
                    cap: int = MAX_DEFAULT_TRAIN_STEPS) -> TrainSteps:
    """The training length of `trained_supernet` for ``task`` (a `Task` or its number of training sentences):
    ``train_steps`` when given, else one epoch of the training split, ``ceil(train sentences / batch_size)``,
    capped at ``cap`` (`MAX_DEFAULT_TRAIN_STEPS`). For movie-snippets (8,035 training sentences at batch 32) the
    default is `TRAIN_STEPS` = 252, the steps of ``benchmarks/bench_supernet.py``, so the default super-network's
    cache entry is shared with the notebooks and benchmarks."""
    rows = len(task["train"]) if isinstance(task, Task) else int(task)
    if batch_size < 1 or rows < 0:
        raise ValueError(f"batch_size must be >= 1 and the training sentences >= 0, got {batch_size} and {rows}")
    epoch = math.ceil(rows / batch_size)
    of = f"{rows:,} training sentences at batch {batch_size}"
    if train_steps is not None:
        if train_steps < 0:
            raise ValueError(f"train_steps must be >= 0 (0 = no training), got {train_steps}")
        if train_steps == 0:
            return TrainSteps(0, "no training (0 steps): the super-network keeps its pretrained weights")
        epochs = train_steps / max(epoch, 1)
        return TrainSteps(train_steps, f"training for {train_steps:,} steps as asked = {epochs:.2f} epochs of {of}")
    if epoch > cap:
        return TrainSteps(cap, f"training for {cap:,} steps, capped at {cap:,} (one epoch of {of} would be "
                               f"{epoch:,} steps; ask for more steps to train longer)")
    return TrainSteps(epoch, f"training for {epoch:,} steps = one epoch of {of}")


class TrainedSuperNet(NamedTuple):
    """What `trained_supernet` returns (unpacks as ``supernet, space, task, result``)."""

    supernet: SuperNet  # the trained super-network, in eval mode
    space: SearchSpace  # the search space it was trained over
    task: Task  # the task it was trained on
    result: TrainResult | None  # the last stage's result (``from_cache`` says where it was loaded from); None untrained


def trained_supernet(model: str, task_name: str | Task, granularity: str, *, train_steps: int | None = None,
                     lr: float = TRAIN_LR, seed: int = 0, recipe: str | Recipe = TRAIN_RECIPE,
                     progress: bool = True, task_options: dict[str, Any] | None = None) -> TrainedSuperNet:
    """The pretrained ``model`` with a head for ``task_name``, trained with `train_supernet`'s ``recipe`` for
    ``train_steps`` steps (the recipe's unit: the default recipe runs the reference for up to 3 x and the sandwich
    for 2 x that; batch `TRAIN_BATCH_SIZE`, learning rate ``lr``), and the ``granularity`` space, through the cache:
    the same settings load the trained weights instead of training again. The training samples the ``per-layer``
    space, a superset of the others, so every granularity shares one trained super-network. ``train_steps=0`` skips
    training, ``None`` is one epoch of the task's training split, capped (`train_steps_for`; 252 steps =
    `TRAIN_STEPS` for movie-snippets). ``task_name`` is a name for `load_task`, with ``task_options`` (e.g.
    ``text_column``, ``label_column``, ``config``) as its keyword arguments, or a loaded `Task`. The defaults are
    those of ``benchmarks/bench_supernet.py``, so the search CLI, the notebooks and ``benchmarks/bench_search.py``
    reuse the super-network that benchmark trained."""
    if isinstance(task_name, Task):
        if task_options:
            raise ValueError(f"task_options {sorted(task_options)} apply to a task name, not to a loaded Task")
        task = task_name
    else:
        task = load_task(task_name, seed=seed, **(task_options or {}))
    train_steps = train_steps_for(task, train_steps).steps
    supernet = SuperNet.from_pretrained(model, num_labels=task.num_labels, seed=seed)
    space = SearchSpace.for_model(supernet, granularity)
    # trained over the per-layer space, which holds the uniform and layer spaces' sub-networks: one super-network
    # (and cache entry) serves every granularity, as in benchmarks/bench_supernet.py
    train_space = space if granularity == "per-layer" else SearchSpace.for_model(supernet, "per-layer")
    trained = None
    if train_steps > 0:
        trained = train_supernet(supernet, task, train_space, recipe=recipe, steps=train_steps, lr=lr, seed=seed,
                                 cache=True, progress=progress)[-1]
    return TrainedSuperNet(supernet.eval(), space, task, trained)
