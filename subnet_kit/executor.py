"""Where a search's archs are evaluated: in this process (`LocalExecutor`, the default, ``workers=1``) or on Ray
actors (`RayExecutor`, ``workers=N``), up to N archs at once.

Scope: evaluating measures (objectives and constrained metrics) of archs and handing back their values in arrival
order. The search loop (asking, caching, logging, telling, resuming) is `search.py`'s; only the driver writes the
log.

* **Shipping the model.** Each actor gets the super-network once, through Ray's object store, as the files that
  `checkpoint.save_model` writes (safetensors weights, the JSON shape, the tokenizer's files) as bytes; the actor
  writes them into its own temporary folder and `checkpoint.load_model` rebuilds the model. Nothing is pickled
  but the objectives (Python objects; a user callable works when Ray can serialise it) and the search space; the
  task travels as plain lists of texts and labels (no shared filesystem is assumed).
* **Resources.** ``num_cpus`` per actor (default: the cluster's CPUs divided by ``workers``; a fraction of one
  when there are more workers than CPUs),
  ``num_gpus`` per actor (1 puts one actor on each GPU; the model then runs on ``cuda``), ``threads`` (torch
  threads per actor, default ``num_cpus``).
* **Latency is measured fairly** (``latency=``): timings taken concurrently on shared cores are meaningless.
  ``"dedicated"`` (the default): timing objectives (``latency``, ``memory``) are not run on the workers; once the
  workers have returned the other values of a set of archs and none is busy, the driver times those archs one after
  the other, alone on its device, then dispatches more work. ``"per-worker"``: every worker times its own archs
  while the others run, and every record carries ``latency_host`` (the host name) and ``latency_device`` (the
  torch device) so that timings can be told apart; meant for homogeneous GPU fleets (one actor per GPU).
* **A dead actor** (killed, its node lost) loses nothing: its arch is evaluated again on a fresh actor.
* ``ray_address=None`` joins the Ray already initialised in this process or starts a local one; ``"auto"`` or an
  address (``"ray://head:10001"``) joins a cluster. Without Ray installed, `RayExecutor` raises an ImportError
  that names the extra to install: ``pip install "subnet-kit[ray]"``.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .objectives import Context, Latency, Memory, Objective
from .space import Arch

__all__ = ["LocalExecutor", "RayExecutor", "LATENCY_PLACEMENTS", "RAY_MISSING", "make_executor"]

LATENCY_PLACEMENTS = ("dedicated", "per-worker")
RAY_MISSING = 'workers > 1 run on Ray, which is not installed; install it with: pip install "subnet-kit[ray]"'
MAX_ACTOR_RESTARTS = 20  # dead actors replaced during one search before giving up


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    return ray


def is_timing(o: Objective) -> bool:
    """Whether ``o`` times the model (its value depends on what else runs on the device)."""
    return isinstance(o, (Latency, Memory))


def evaluate_measures(measures: Sequence[Objective], arch: Arch, ctx: Context) -> tuple[dict[str, float], dict[str, Any]]:
    """``(values, extras)`` of ``measures`` for ``arch``: extras named ``<objective>_<field>``."""
    values: dict[str, float] = {}
    extras: dict[str, Any] = {}
    for o in measures:
        values[o.name], ex = o(arch, ctx)
        extras.update({f"{o.name}_{k}": v for k, v in ex.items()})
    return values, extras


class LocalExecutor:
    """Evaluates in this process, one arch at a time (today's path)."""

    workers = 1

    def __init__(self) -> None:
        self._done: list[tuple[Arch, dict[str, float], dict[str, Any], float]] = []
        self.measures: list[Objective] = []
        self.context: Context | None = None

    def start(self, measures: Sequence[Objective], context: Context) -> None:
        self.measures, self.context = list(measures), context

    def free(self) -> int:
        return 0 if self._done else 1

    @property
    def in_flight(self) -> list[Arch]:
        return [d[0] for d in self._done]

    def submit(self, arch: Arch) -> None:
        t0 = time.perf_counter()
        values, extras = evaluate_measures(self.measures, arch, self.context)
        self._done.append((arch, values, extras, time.perf_counter() - t0))

    def wait(self) -> tuple[Arch, dict[str, float], dict[str, Any], float]:
        """The next finished evaluation: ``(arch, values, extras, time_s)``."""
        return self._done.pop(0)

    def close(self) -> None:
        self._done.clear()

    def __repr__(self) -> str:
        return "LocalExecutor()"


# --------------------------------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------------------------------
def pack_model(supernet: Any) -> dict[str, bytes]:
    """The files `checkpoint.save_model` writes for ``supernet`` (safetensors weights, JSON shape, tokenizer), as
    ``{name: bytes}``."""
    from .checkpoint import save_model

    with tempfile.TemporaryDirectory(prefix="subnet-kit-ship-") as d:
        path = save_model(supernet, Path(d) / "model")
        return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}


def unpack_model(files: dict[str, bytes], device: str = "cpu") -> Any:
    from .checkpoint import load_model

    with tempfile.TemporaryDirectory(prefix="subnet-kit-recv-") as d:
        for name, data in files.items():
            if "/" in name or name.startswith("."):
                raise ValueError(f"unexpected file name {name!r} in a shipped model")
            (Path(d) / name).write_bytes(data)
        return load_model(d, device=device)


def pack_task(task: Any, measures: Sequence[Objective]) -> dict[str, Any] | None:
    """The task as plain data: ``name``, ``label_names`` and per split the lists ``text`` and ``label``. Only the
    splits that ``error`` objectives read are filled (all when a user objective might read any)."""
    if task is None:
        return None
    from .data import SPLITS
    from .objectives import Error

    builtin = all(type(o).__module__ == "subnet_kit.objectives" for o in measures)
    needed = {o.split for o in measures if isinstance(o, Error)} if builtin else set(SPLITS)
    splits = {}
    for s in SPLITS:
        ds = task[s]
        splits[s] = ({"text": list(ds["text"]), "label": [int(v) for v in ds["label"]]} if s in needed
                     else {"text": [], "label": []})
    return {"name": task.name, "label_names": list(task.label_names), "splits": splits}


def unpack_task(data: dict[str, Any] | None) -> Any:
    if data is None:
        return None
    import datasets

    from .data import Task

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("int64")})
    dd = datasets.DatasetDict({s: datasets.Dataset.from_dict(v, features=features) for s, v in data["splits"].items()})
    return Task(data["name"], dd, data["label_names"])


class _Worker:
    """The body of a Ray actor: rebuilds the model and task once, then evaluates archs."""

    def __init__(self, payload: dict[str, Any], measures: list[Objective], threads: int, device: str,
                 per_worker_timing: bool) -> None:
        import torch

        torch.set_num_threads(max(1, int(threads)))
        model = unpack_model(payload["model"], device) if payload["model"] is not None else None
        self.context = Context(supernet=model, space=payload["space"], task=unpack_task(payload["task"]))
        self.measures, self.device, self.per_worker_timing = measures, device, per_worker_timing

    def evaluate(self, arch_json: str) -> tuple[str, dict[str, float], dict[str, Any], float]:
        t0 = time.perf_counter()
        values, extras = evaluate_measures(self.measures, Arch.from_json(arch_json), self.context)
        if self.per_worker_timing:
            extras.update(latency_host=socket.gethostname(), latency_device=self.device)
        return arch_json, values, extras, time.perf_counter() - t0

    def ping(self) -> str:
        return socket.gethostname()


class RayExecutor:
    """Evaluates up to ``workers`` archs at once on Ray actors; see the module docstring for the options."""

    def __init__(self, workers: int, ray_address: str | None = None, *, num_cpus: float | None = None,
                 num_gpus: float = 0, threads: int | None = None, latency: str = "dedicated") -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1 (evaluations at once), got {workers!r}")
        if latency not in LATENCY_PLACEMENTS:
            raise ValueError(f"unknown latency placement {latency!r}; allowed: {', '.join(LATENCY_PLACEMENTS)}")
        for name, v in (("num_cpus", num_cpus), ("threads", threads)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
                raise ValueError(f"{name} must be a number > 0 or None, got {v!r}")
        if isinstance(num_gpus, bool) or not isinstance(num_gpus, (int, float)) or num_gpus < 0:
            raise ValueError(f"num_gpus must be a number >= 0, got {num_gpus!r}")
        self.ray = _import_ray()
        self.workers, self.ray_address = workers, ray_address
        self.num_cpus, self.num_gpus, self.threads, self.latency = num_cpus, num_gpus, threads, latency
        self.actors: list[Any] = []
        self._futures: dict[Any, tuple[Any, Arch]] = {}  # future -> (actor, arch)
        self._idle: list[Any] = []
        self._timing: list[tuple[Arch, dict[str, float], dict[str, Any], float]] = []  # awaiting dedicated timing
        self._ready: list[tuple[Arch, dict[str, float], dict[str, Any], float]] = []
        self._requeue: list[Arch] = []
        self.restarts = 0
        self._payload = None

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def start(self, measures: Sequence[Objective], context: Context) -> None:
        ray = self.ray
        if not ray.is_initialized():
            kwargs = {"address": self.ray_address, "log_to_driver": False}
            if self.ray_address is None:
                kwargs["include_dashboard"] = False
            ray.init(**kwargs)
        self.context = context
        measures = list(measures)
        self.timed = [o for o in measures if is_timing(o)] if self.latency == "dedicated" else []
        self.parallel = [o for o in measures if not (self.latency == "dedicated" and is_timing(o))]
        if self.num_cpus is None:
            cpus = ray.cluster_resources().get("CPU", 1)  # more workers than CPUs: each gets a fraction
            self.num_cpus = int(cpus) // self.workers if cpus >= self.workers else cpus / self.workers
        self._threads = int(self.threads or max(1, int(self.num_cpus)))
        self._device = "cuda" if self.num_gpus > 0 else "cpu"
        payload = {"model": pack_model(context.supernet) if context.supernet is not None else None,
                   "space": context.space, "task": pack_task(context.task, self.parallel)}
        self._payload = ray.put(payload)
        self._measures = self.parallel
        self._cls = ray.remote(_Worker).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_restarts=0)
        self.actors = [self._new_actor() for _ in range(self.workers)]
        self._idle = list(self.actors)

    def _new_actor(self) -> Any:
        return self._cls.remote(self._payload, self._measures, self._threads, self._device, self.latency == "per-worker")

    def close(self) -> None:
        """Kill the actors (what they were evaluating is dropped; the search re-dispatches it when it goes on)."""
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # already dead
                pass
        self.actors, self._idle, self._futures = [], [], {}
        self._timing, self._ready, self._requeue = [], [], []

    # ---- work -------------------------------------------------------------------------------------------------
    def free(self) -> int:
        """How many more archs `submit` takes now (0 while archs wait for their dedicated timing)."""
        if self._timing or self._requeue:
            return 0
        return len(self._idle)

    @property
    def in_flight(self) -> list[Arch]:
        """Archs submitted and not yet returned by `wait`."""
        return ([a for _, a in self._futures.values()] + [t[0] for t in self._timing] + [r[0] for r in self._ready]
                + list(self._requeue))

    def busy_actors(self) -> list[Any]:
        return [actor for actor, _ in self._futures.values()]

    def submit(self, arch: Arch) -> None:
        actor = self._idle.pop(0)
        self._futures[actor.evaluate.remote(arch.to_json())] = (actor, arch)

    def wait(self) -> tuple[Arch, dict[str, float], dict[str, Any], float]:
        """The next finished evaluation, in arrival order: ``(arch, values, extras, time_s)``."""
        ray = self.ray
        while not self._ready:
            while self._requeue and self._idle:
                self.submit(self._requeue.pop(0))
            if not self._futures:
                if self._timing:
                    self._time_alone()
                    continue
                raise RuntimeError("nothing is being evaluated")
            done, _ = ray.wait(list(self._futures), num_returns=1)
            actor, arch = self._futures.pop(done[0])
            try:
                _, values, extras, t = ray.get(done[0])
            except ray.exceptions.RayActorError:
                self._replace(actor)
                self._requeue.append(arch)
                continue
            except ray.exceptions.RayTaskError as e:  # the objective raised: the same error as in this process
                self._idle.append(actor)
                cause = getattr(e, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            self._idle.append(actor)
            (self._timing if self.timed else self._ready).append((arch, values, extras, t))
            if self._timing and not self._futures and not self._requeue:
                self._time_alone()
        return self._ready.pop(0)

    def _replace(self, actor: Any) -> None:
        self.restarts += 1
        if self.restarts > MAX_ACTOR_RESTARTS:
            raise RuntimeError(f"{self.restarts} Ray actors died during this search; giving up (see the Ray logs)")
        if actor in self._idle:
            self._idle.remove(actor)
        new = self._new_actor()
        self.actors = [new if a is actor else a for a in self.actors]
        self._idle.append(new)

    def _time_alone(self) -> None:
        """Dedicated latency: time the waiting archs in this process, one after the other, while no worker runs."""
        for arch, values, extras, t in self._timing:
            t0 = time.perf_counter()
            v, ex = evaluate_measures(self.timed, arch, self.context)
            self._ready.append((arch, {**values, **v}, {**extras, **ex}, t + time.perf_counter() - t0))
        self._timing = []

    def __repr__(self) -> str:
        return (f"RayExecutor(workers={self.workers}, ray_address={self.ray_address!r}, num_cpus={self.num_cpus}, "
                f"num_gpus={self.num_gpus}, threads={self.threads}, latency={self.latency!r})")


def make_executor(workers: Any, ray_address: str | None = None, options: dict[str, Any] | None = None) -> Any:
    """`LocalExecutor` for ``workers=1``, else a `RayExecutor` (an executor instance is returned as is)."""
    if isinstance(workers, (LocalExecutor, RayExecutor)):
        return workers
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an int >= 1 (sub-networks evaluated at once; 1 = in this process), "
                         f"got {workers!r}")
    workers = int(workers)
    if workers == 1:
        if options:
            raise ValueError(f"worker_options {sorted(options)} are for workers > 1 (Ray); workers=1 evaluates in "
                             f"this process")
        return LocalExecutor()
    return RayExecutor(workers, ray_address, **(options or {}))
