"""`ObjectivePicker`: which objectives to minimise, the constraints, and how latency is measured (device, threads,
batch size, sequence length).

State: traits (``selected``, ``constraint_text``, ``device``, ``threads``, ``batch_size``, ``seq_len``,
``eval_limit``, ``latency_mode``); `ObjectivePicker.objectives` builds the `subnet_kit.objectives` instances from
them and `ObjectivePicker.constraints` the constraint strings. Bad settings raise a ValueError naming the allowed
values, and the same text shows inline under the controls.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import ipywidgets as W
import traitlets as T

from subnet_kit.objectives import MODES, OBJECTIVES, Constraint, Error, Flops, Latency, Memory, Objective, Params

from ._common import StaticRepr, box, esc, html_table, message_html

CHOICES = tuple(OBJECTIVES)  # error, params, flops, latency, memory


def available_devices() -> list[str]:
    """``cpu``, plus ``cuda`` when torch sees a GPU."""
    import torch

    return ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


class ObjectivePicker(StaticRepr, W.VBox):
    """Pick objectives and constraints; ``picker.objectives()`` gives `Objective` instances for `search()`.

    >>> picker = ObjectivePicker(objectives=("error", "latency"), constraints=("latency <= 15",))  # doctest: +SKIP
    >>> picker.objectives(), picker.constraints()                                                # doctest: +SKIP
    """

    selected = T.Tuple()  # names of the ticked objectives, in CHOICES order
    constraint_text = T.Unicode("")  # one constraint per line
    device = T.Unicode("cpu")
    threads = T.Int(1)
    batch_size = T.Int(1)
    seq_len = T.Int(64)
    eval_limit = T.Int(500)  # validation examples that "error" evaluates
    latency_mode = T.Unicode("active")
    message = T.Unicode("")

    def __init__(self, objectives: Sequence[str] = ("error", "latency"), constraints: Sequence[str] = (), *,
                 batch_size: int = 1, seq_len: int = 64, threads: int | None = None, device: str | None = None,
                 eval_limit: int = 500, latency_mode: str = "active") -> None:
        import torch

        if isinstance(objectives, str):
            objectives = [objectives]
        if isinstance(constraints, str):
            constraints = [constraints]
        objectives = list(objectives)
        bad = [o for o in objectives if o not in CHOICES]
        if bad:
            raise ValueError(f"unknown objective(s) {bad}; allowed: {', '.join(CHOICES)} (maximising accuracy is "
                             f"minimising 'error')")
        devices = available_devices()
        device = device or devices[-1]
        if device not in devices:
            raise ValueError(f"unknown device {device!r}; allowed here: {', '.join(devices)}")
        if latency_mode not in MODES:
            raise ValueError(f"unknown latency mode {latency_mode!r}; allowed: {', '.join(MODES)}")
        cpus = os.cpu_count() or 1
        threads = torch.get_num_threads() if threads is None else threads
        for name, v in (("threads", threads), ("batch_size", batch_size), ("seq_len", seq_len),
                        ("eval_limit", eval_limit)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        self._devices = devices
        self._boxes = {n: W.Checkbox(value=n in objectives, description=n, indent=False,
                                     layout=W.Layout(width="90px")) for n in CHOICES}
        self._constraints = W.Textarea(placeholder="one per line, e.g.\nlatency <= 15\nparams <= 10e6",
                                       description="constraints", layout=W.Layout(width="420px", height="70px"))
        self._device = W.Dropdown(options=devices, description="device", layout=W.Layout(width="200px"))
        # plain IntText (not Bounded): a bad value reaches the trait and the inline message says what is allowed
        self._threads = W.IntText(description=f"CPU threads (of {cpus})", layout=W.Layout(width="200px"))
        self._batch = W.IntText(description="batch size", layout=W.Layout(width="200px"))
        self._seq = W.IntText(description="seq. length", layout=W.Layout(width="200px"))
        self._limit = W.IntText(description="eval examples", layout=W.Layout(width="200px"))
        self._mode = W.Dropdown(options=list(MODES), description="latency of", layout=W.Layout(width="200px"))
        self._message = W.HTML()
        self._message.add_class("subnet-kit-message")
        for src, name in ((self._constraints, "constraint_text"), (self._device, "device"),
                          (self._threads, "threads"), (self._batch, "batch_size"), (self._seq, "seq_len"),
                          (self._limit, "eval_limit"), (self._mode, "latency_mode")):
            W.link((src, "value"), (self, name))
        for b in self._boxes.values():
            b.observe(self._from_boxes, "value")
        super().__init__([
            box(list(self._boxes.values()), "subnet-kit-objective-boxes", vertical=False),
            self._constraints,
            box([self._device, self._threads, self._mode], "subnet-kit-device", vertical=False),
            box([self._batch, self._seq, self._limit], "subnet-kit-latency-input", vertical=False),
            self._message,
        ])
        self.add_class("subnet-kit-objective-picker")
        with self.hold_trait_notifications():
            self.selected = tuple(n for n in CHOICES if n in objectives)
            self.constraint_text = "\n".join(constraints)
            self.device, self.threads, self.batch_size, self.seq_len = device, threads, batch_size, seq_len
            self.eval_limit, self.latency_mode = eval_limit, latency_mode
        self.validate()  # bad constructor arguments fail here, with the message naming the allowed values

    # ---- state -> view ----------------------------------------------------------------------------------------
    def _from_boxes(self, change: dict) -> None:
        self.selected = tuple(n for n in CHOICES if self._boxes[n].value)

    @T.observe("selected")
    def _to_boxes(self, change: dict) -> None:
        for n, b in self._boxes.items():
            if b.value != (n in change["new"]):
                b.value = n in change["new"]
        self._check()

    @T.validate("device")
    def _valid_device(self, proposal: dict) -> str:
        if proposal["value"] not in self._devices:
            raise T.TraitError(f"unknown device {proposal['value']!r}; allowed here: {', '.join(self._devices)}")
        return proposal["value"]

    @T.validate("latency_mode")
    def _valid_mode(self, proposal: dict) -> str:
        if proposal["value"] not in MODES:
            raise T.TraitError(f"unknown latency mode {proposal['value']!r}; allowed: {', '.join(MODES)}")
        return proposal["value"]

    @T.observe("constraint_text", "device", "threads", "batch_size", "seq_len", "eval_limit", "latency_mode")
    def _on_setting(self, change: dict) -> None:
        self._check()

    def _check(self) -> None:
        try:
            self.validate()
            self.message = ""
        except ValueError as e:
            self.message = str(e)
        self._message.value = message_html(self.message)

    # ---- what the search gets -------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise a ValueError (naming the allowed values) if the settings cannot make a search."""
        bad = [o for o in self.selected if o not in CHOICES]
        if bad:
            raise ValueError(f"unknown objective(s) {bad}; allowed: {', '.join(CHOICES)}")
        if not self.selected:
            raise ValueError(f"tick at least one objective; allowed: {', '.join(CHOICES)}")
        if self.device not in self._devices:
            raise ValueError(f"unknown device {self.device!r}; allowed here: {', '.join(self._devices)}")
        for name in ("threads", "batch_size", "seq_len", "eval_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.latency_mode not in MODES:
            raise ValueError(f"unknown latency mode {self.latency_mode!r}; allowed: {', '.join(MODES)}")
        self.constraints()

    def constraints(self) -> list[str]:
        """The constraint rows as strings (each checked by `subnet_kit.objectives.Constraint.parse`)."""
        rows = [r.strip() for r in self.constraint_text.splitlines() if r.strip()]
        out = []
        for r in rows:
            c = Constraint.parse(r)  # ValueError with the syntax when unreadable
            if c.name not in CHOICES:
                raise ValueError(f"constraint {r!r} is on {c.name!r}; constraints here are on {', '.join(CHOICES)}")
            out.append(str(c))
        return out

    def objective(self, name: str) -> Objective:
        """The `Objective` for ``name`` with the picker's settings (also for names that are not ticked)."""
        if name == "error":
            return Error(limit=self.eval_limit)
        if name == "params":
            return Params()
        if name == "flops":
            return Flops(seq_len=self.seq_len, batch_size=self.batch_size)
        if name == "latency":
            return Latency(batch_size=self.batch_size, seq_len=self.seq_len, mode=self.latency_mode,
                           threads=self.threads if self.device == "cpu" else None)
        if name == "memory":
            return Memory(batch_size=self.batch_size, seq_len=self.seq_len, mode=self.latency_mode)
        raise ValueError(f"unknown objective {name!r}; allowed: {', '.join(CHOICES)}")

    def objectives(self) -> list[Objective]:
        """`Objective` instances of the ticked objectives (raises a ValueError for impossible settings)."""
        self.validate()
        return [self.objective(n) for n in self.selected]

    def metrics(self) -> list[Objective]:
        """Configured objectives for constrained quantities that are not objectives (e.g. latency measured with
        the picker's batch size when only error and params are minimised)."""
        names = {Constraint.parse(c).name for c in self.constraints()} - set(self.selected)
        return [self.objective(n) for n in CHOICES if n in names]

    def settings(self) -> dict[str, Any]:
        return {"objectives": list(self.selected), "constraints": self.constraints() if not self.message else [],
                "device": self.device, "threads": self.threads, "batch_size": self.batch_size,
                "seq_len": self.seq_len, "eval_limit": self.eval_limit, "latency_mode": self.latency_mode}

    def static_html(self) -> str:
        s = self.settings()
        rows = [{"setting": k, "value": ", ".join(v) if isinstance(v, list) else v} for k, v in s.items()]
        return (f'<div class="subnet-kit-objective-picker"><b>objectives</b>: {esc(", ".join(self.selected))}'
                f"{message_html(self.message)}{html_table(rows)}</div>")

    def __repr__(self) -> str:
        return f"ObjectivePicker({list(self.selected)}, constraints={self.constraint_text.splitlines()})"
