"""Named super-network training recipes, as data, and the two entry points that run them.

A `Recipe` is a list of `Stage` s (a training strategy, in-place distillation or not, a share of the steps), an
optional Taylor-importance reordering of heads / FFN units / hidden dimensions after one stage, and a ``version``.
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

import math
import shutil
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from .data import EMBEDDED_TASKS, Task, batches, load_task
from .space import SearchSpace
from .supernet import SuperNet
from .train import (
    TRAINING_STRATEGIES, TrainResult, cache_entry, fine_tune, load_cache_entry, store_cache_entry,
)

__all__ = [
    "MAX_DEFAULT_TRAIN_STEPS", "RECIPES", "Recipe", "Stage", "TRAIN_BATCH_SIZE", "TRAIN_LR", "TRAIN_RECIPE",
    "TRAIN_STEPS", "TrainSteps", "TrainedSuperNet", "get_recipe", "train_steps_for", "train_supernet",
    "trained_supernet",
]

TRAIN_STEPS = 252  # one epoch of movie-snippets at batch 32: benchmarks/bench_supernet.py's settings
TRAIN_LR = 1e-4  # peak learning rate of that benchmark
TRAIN_BATCH_SIZE = 32  # sentences per step in that benchmark
TRAIN_RECIPE = "two-stage+reorder"  # the best recipe of benchmarks/results/supernet.json by hypervolume
IMPORTANCE_BATCHES = 16  # training batches the Taylor importance of a reordering is accumulated on
LOG_EVERY = 20  # steps per history entry of a recipe's stages
# cap of the default training length (train_steps_for): 4x one movie-snippets epoch (32,000 sentences). The default
# recipe took 131 s for 252 steps on 2 threads (benchmarks/results/supernet.json), so the cap bounds the default
# at roughly 9 minutes of training on such a machine for sentences of movie-snippets' length; more is one option away
MAX_DEFAULT_TRAIN_STEPS = 1000


@dataclass(frozen=True)
class Stage:
    """One `fine_tune` run of a recipe."""

    strategy: str  # a training strategy of train.TRAINING_STRATEGIES
    kd: bool = False  # in-place distillation from the largest sub-network (a teacher_first strategy only)
    fraction: float = 1.0  # share of the recipe's steps; the last stage gets the rest

    def __post_init__(self) -> None:
        if self.strategy not in TRAINING_STRATEGIES:
            raise ValueError(f"unknown training strategy {self.strategy!r}; allowed: {', '.join(TRAINING_STRATEGIES)}")
        if self.kd and not TRAINING_STRATEGIES[self.strategy].teacher_first:
            raise ValueError(f"kd=True needs a teacher_first strategy (e.g. sandwich), not {self.strategy!r}")
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"a stage's fraction must be in (0, 1], got {self.fraction}")


@dataclass(frozen=True)
class Recipe:
    """A named sequence of training stages, optionally reordering by importance after one of them."""

    name: str  # the name in RECIPES and in the cache folder's name
    stages: tuple[Stage, ...]  # run in order on the same super-network
    reorder_after_stage: int | None = None  # index of the stage after which heads / FFN units / hidden dims are reordered
    version: int = 1  # bump when what the recipe does changes: cached weights of other versions are not reused

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"recipe {self.name!r} has no stages")
        if abs(sum(s.fraction for s in self.stages) - 1.0) > 1e-9:
            raise ValueError(f"the fractions of recipe {self.name!r}'s stages must sum to 1, got "
                             f"{[s.fraction for s in self.stages]}")
        if self.reorder_after_stage is not None and self.reorder_after_stage not in range(len(self.stages)):
            raise ValueError(f"reorder_after_stage must be a stage index 0..{len(self.stages) - 1} or None, "
                             f"got {self.reorder_after_stage}")

    def stage_steps(self, steps: int) -> list[int]:
        """Steps of each stage for ``steps`` in all: ``fraction x steps`` (at least 1), the last stage the rest."""
        head = [max(1, int(s.fraction * steps)) for s in self.stages[:-1]]
        return [*head, max(1, steps - sum(head))]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    cache: bool = True,
    progress: bool = True,
) -> list[TrainResult]:
    """Train ``supernet`` for ``task`` with a `Recipe` (or the name of one of `RECIPES`); returns the stages'
    `TrainResult` s.

    ``"two-stage+reorder"`` (default, the best of ``benchmarks/bench_supernet.py`` by hypervolume): half the steps
    fine-tune the full model, then heads / FFN units / hidden dimensions are reordered by Taylor importance on
    ``importance_batches`` training batches, then the other half trains with the sandwich rule and in-place
    distillation over ``space``. ``"two-stage"`` skips the reordering; ``"standard"``, ``"random"``,
    ``"sandwich"`` and ``"sandwich+kd"`` spend all steps on that strategy. With ``cache=True`` the same recipe
    (and version) with the same settings loads the trained weights instead of training again, and an interrupted
    run continues after its last finished stage. (11 parameters: the recipe's own settings, each needed.)
    """
    rec = get_recipe(recipe)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    entry = work = None
    if cache:
        key = {"recipe": rec.to_dict(), "steps": steps, "lr": lr, "batch_size": batch_size, "seed": seed,
               "importance_batches": importance_batches if rec.reorder_after_stage is not None else None,
               "space": space.to_dict() if space is not None else None}
        if task.name not in EMBEDDED_TASKS:  # a file's or hub task's data may change under the same name (another
            key["data"] = task.fingerprint()  # file, --text-column); embedded ones are fixed by name and seed
        entry = cache_entry(supernet, task, rec.name, space, seed, key)
        cached = load_cache_entry(supernet, entry)
        if cached is not None:
            return cached
        work = entry.with_name(entry.name + ".stages")  # finished stages' checkpoints, until the entry is written
    results = []
    for i, (stage, n) in enumerate(zip(rec.stages, rec.stage_steps(steps))):
        results.append(fine_tune(
            supernet, task, stage.strategy, space=space, kd=stage.kd, progress=progress,
            checkpoint_dir=work / f"stage{i}" if work else None, resume=work is not None,
            max_steps=n, lr=lr, batch_size=batch_size, seed=seed, eval_split=None, log_every=LOG_EVERY,
        ))
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
    """The pretrained ``model`` with a head for ``task_name``, trained for ``train_steps`` steps (batch
    `TRAIN_BATCH_SIZE`, learning rate ``lr``) with `train_supernet`'s ``recipe`` over the ``granularity`` space,
    through the cache: the same settings load the trained weights instead of training again; ``train_steps=0``
    skips training, ``None`` trains one epoch of the task's training split, capped (`train_steps_for`; 252 steps
    = `TRAIN_STEPS` for movie-snippets). ``task_name`` is a name for `load_task`, with ``task_options`` (e.g.
    ``text_column``, ``label_column``, ``config``) as its keyword arguments, or a loaded `Task`. The defaults are
    those of ``benchmarks/bench_supernet.py``, whose best recipe by hypervolume is the default here, so the search
    CLI and ``benchmarks/bench_search.py`` reuse the super-network that benchmark trained."""
    if isinstance(task_name, Task):
        if task_options:
            raise ValueError(f"task_options {sorted(task_options)} apply to a task name, not to a loaded Task")
        task = task_name
    else:
        task = load_task(task_name, seed=seed, **(task_options or {}))
    train_steps = train_steps_for(task, train_steps).steps
    supernet = SuperNet.from_pretrained(model, num_labels=task.num_labels, seed=seed)
    space = SearchSpace.for_model(supernet, granularity)
    trained = None
    if train_steps > 0:
        trained = train_supernet(supernet, task, space, recipe=recipe, steps=train_steps, lr=lr, seed=seed,
                                 cache=True, progress=progress)[-1]
    return TrainedSuperNet(supernet.eval(), space, task, trained)
