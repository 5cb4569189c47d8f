"""`ObjectivePicker`: which objectives to minimise, the constraints, and how latency is measured (device, threads,
batch size, sequence length).

State: traits (``selected``, ``constraint_text``, ``device``, ``threads``, ``batch_size``, ``seq_len``,
``eval_limit``, ``latency_mode``). The objectives are the library's: `ObjectivePicker.resolve` hands the ticked names,
the constraints and a `subnet_kit.objectives.MeasureSettings` to `subnet_kit.objectives.resolve_objectives`, which
also checks them. Bad settings raise that ValueError (naming the allowed values), and the same text shows inline
under the controls.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import ipywidgets as W
import traitlets as T

from subnet_kit.objectives import MODES, OBJECTIVES, Constraint, MeasureSettings, Objective, resolve_objectives

from ._common import StaticRepr, box, esc, html_table, message_html

CHOICES = tuple(OBJECTIVES)  # error, params, flops, latency, memory


def available_devices() -> list[str]:
    """``cpu``, plus ``cuda`` when torch sees a GPU."""
    import torch

    return ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


class ObjectivePicker(StaticRepr, W.VBox):
    """Pick objectives and constraints; ``picker.objectives()`` gives `Objective` instances for `search()`.
    ``device`` (default ``"cpu"``): where the objectives are measured; the super-network must be there already.

    >>> picker = ObjectivePicker(objectives=("error", "latency"), constraints=("latency <= 15",))  # doctest: +SKIP
    >>> picker.objectives(), picker.constraints()                                                # doctest: +SKIP
    """

    selected = T.Tuple()  # names of the ticked objectives, in CHOICES order
    constraint_text = T.Unicode("")  # one constraint per line
    device = T.Unicode("cpu")  # where the objectives are measured (the super-network must be there)
    threads = T.Int(1)  # CPU threads latency is timed with
    batch_size = T.Int(1)  # sequences per timed forward
    seq_len = T.Int(64)  # tokens per sequence
    eval_limit = T.Int(500)  # validation examples that "error" evaluates
    latency_mode = T.Unicode("active")  # latency of: sliced weights (active), an extracted copy, its onnx export
    message = T.Unicode("")  # why the settings cannot make a search ("" when they can)
    SETTINGS = ("selected", "constraint_text", "device", "threads", "batch_size", "seq_len", "eval_limit",
                "latency_mode")  # the traits a search is built from

    def __init__(self, objectives: Sequence[str] = ("error", "latency"), constraints: Sequence[str] = (), *,
                 batch_size: int = 1, seq_len: int = 64, threads: int | None = None, device: str | None = None,
                 eval_limit: int = 500, latency_mode: str = "active") -> None:
        import torch

        objectives = [objectives] if isinstance(objectives, str) else list(objectives)
        constraints = [constraints] if isinstance(constraints, str) else list(constraints)
        bad = [o for o in objectives if o not in CHOICES]
        if bad:  # the checkboxes can only show these
            raise ValueError(f"unknown objective(s) {bad}; allowed: {', '.join(CHOICES)} (maximising accuracy is "
                             f"minimising 'error')")
        self._devices = available_devices()
        cpus = os.cpu_count() or 1
        self._boxes = {n: W.Checkbox(value=n in objectives, description=n, indent=False,
                                     layout=W.Layout(width="90px")) for n in CHOICES}
        self._constraints = W.Textarea(placeholder="one per line, e.g.\nlatency <= 15\nparams <= 10e6",
                                       description="constraints", layout=W.Layout(width="420px", height="70px"))
        # a device the machine lacks stays selectable from Python (the trait), so the message can say so
        self._device = W.Dropdown(options=self._devices, description="device", layout=W.Layout(width="200px"))
        # plain IntText (not Bounded): a bad value reaches the trait and the inline message says what is allowed
        self._threads = W.IntText(description=f"CPU threads (of {cpus})", layout=W.Layout(width="200px"))
        self._batch = W.IntText(description="batch size", layout=W.Layout(width="200px"))
        self._seq = W.IntText(description="seq. length", layout=W.Layout(width="200px"))
        self._limit = W.IntText(description="eval examples", layout=W.Layout(width="200px"))
        self._mode = W.Dropdown(options=list(MODES), description="latency of", layout=W.Layout(width="200px"))
        self._message = W.HTML()
        self._message.add_class("subnet-kit-message")
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
            self.device = device or "cpu"  # where SuperNet.from_pretrained puts the model; the dashboard never moves it
            self.threads = torch.get_num_threads() if threads is None else threads
            self.batch_size, self.seq_len, self.eval_limit, self.latency_mode = batch_size, seq_len, eval_limit, latency_mode
        self.validate()  # bad constructor arguments fail here, with the message naming the allowed values
        for src, name in ((self._constraints, "constraint_text"), (self._device, "device"),
                          (self._threads, "threads"), (self._batch, "batch_size"), (self._seq, "seq_len"),
                          (self._limit, "eval_limit"), (self._mode, "latency_mode")):
            W.link((self, name), (src, "value"))
        for b in self._boxes.values():
            b.observe(self._from_boxes, "value")

    # ---- state -> view ----------------------------------------------------------------------------------------
    def _from_boxes(self, change: dict) -> None:
        self.selected = tuple(n for n in CHOICES if self._boxes[n].value)

    @T.observe("selected")
    def _to_boxes(self, change: dict) -> None:
        for n, b in self._boxes.items():
            if b.value != (n in change["new"]):
                b.value = n in change["new"]

    @T.observe(*SETTINGS)
    def _on_setting(self, change: dict) -> None:
        try:
            self.validate()
            self.message = ""
        except ValueError as e:
            self.message = str(e)
        self._message.value = message_html(self.message)

    # ---- what the search gets -------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise the library's ValueError (naming the allowed values) if the settings cannot make a search."""
        self.resolve()

    def measure_settings(self) -> MeasureSettings:
        """How the ticked objectives are measured (`subnet_kit.objectives.MeasureSettings` checks the values)."""
        if self.device not in self._devices:
            raise ValueError(f"unknown device {self.device!r}; allowed here: {', '.join(self._devices)}")
        return MeasureSettings(eval_limit=self.eval_limit, batch_size=self.batch_size, seq_len=self.seq_len,
                               latency_mode=self.latency_mode, threads=self.threads if self.device == "cpu" else None)

    def constraints(self) -> list[str]:
        """The constraint rows as strings (each checked by `subnet_kit.objectives.Constraint.parse`)."""
        return [str(Constraint.parse(r)) for r in self.constraint_text.splitlines() if r.strip()]

    def resolve(self, extra_constraints: Sequence[str] = ()) -> tuple[list[Objective], list[Objective]]:
        """``(objectives, metrics)`` from `subnet_kit.objectives.resolve_objectives`: the ticked objectives, and the
        constrained quantities that are not objectives (e.g. latency when only error and params are minimised),
        all measured with the picker's settings."""
        return resolve_objectives(list(self.selected), [*self.constraints(), *extra_constraints],
                                  settings=self.measure_settings())

    def objectives(self) -> list[Objective]:
        """`Objective` instances of the ticked objectives (raises a ValueError for impossible settings)."""
        return self.resolve()[0]

    def metrics(self) -> list[Objective]:
        """Objectives measured for constraints on quantities that are not minimised."""
        return self.resolve()[1]

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
