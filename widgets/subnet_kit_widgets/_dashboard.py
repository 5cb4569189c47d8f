"""`SearchDashboard`: run a `subnet_kit.search.Search` and watch it — controls, progress, a live Pareto chart, the
hypervolume per evaluation, and the architecture of a point picked in the chart.

The dashboard holds no search logic. Its state is a UI-less model, `SearchRun` (traits: settings, progress, state,
message, selection), that builds the `Search`, extends it (``Search.extend``) and reads its live hypervolume
(``Search.hv_curve``); the controls are linked to those traits, and the charts are redrawn from ``search.result()``
(`subnet_kit.pareto.chart_data`) after each evaluation. Two ways to run:

* `SearchDashboard.run` blocks until the search is done (papermill, scripts; the same seed gives the same history).
  The charts still update live in a connected front end (kernel-to-browser messages flow while a cell runs), but
  the Stop button cannot be heard until the cell ends.
* `SearchDashboard.start` runs the same loop as an asyncio task on the kernel's event loop, yielding between
  evaluations, so the notebook stays responsive and Stop works; ``await dash.wait()`` waits for it.

Headless (no widget front end), the dashboard's output holds a static SVG of the Pareto chart and the Pareto table;
`run` (and the end of a `start`ed search) refresh that output, so a papermill-executed notebook shows the final
chart and table.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as W
import numpy as np

from subnet_kit.objectives import MeasureSettings, resolve_objectives
from subnet_kit.pareto import axes
from subnet_kit.search import Result, Search
from subnet_kit.space import Arch, SearchSpace
from subnet_kit.strategies import DEFAULT_STRATEGY, STRATEGIES

from ._arch import ArchView
from ._charts import LIVE_TITLE, ROW_FIELDS, SELECTION, hv_live_chart, hv_rows, pareto_live_chart, pareto_rows
from ._common import LiveChart, StaticRepr, box, chart_svg, esc, html_table, message_html
from ._objectives import ObjectivePicker
from ._run import SearchRun

PROGRESS_TRAITS = ["n", "total", "hv", "front", "noisy", "pace_s", "state"]  # what the progress line shows


class SearchDashboard(StaticRepr, W.VBox):
    """Controls, progress, live Pareto and hypervolume charts, and the selected architecture of one search.

    ``objectives``: an `ObjectivePicker` (its objectives, constraints and device settings are read when a search
    starts; changing them starts a new search), or names / `Objective` instances / callables as for
    `subnet_kit.search`. ``constraints``: extra constraint strings. ``x`` / ``y``: the objectives on the chart's
    axes (default: `subnet_kit.pareto.axes`). ``live``: ``"data"`` (send only new rows to the chart on screen) or
    ``"spec"`` (re-embed the chart); ``min_interval_s``: at most one chart update per that many seconds (0: every
    evaluation; the last update always shows every point). ``workers`` / ``ray_address``: evaluate up to
    ``workers`` sub-networks at once on Ray actors (`subnet_kit.search.Search`'s options of the same names; 1, the
    default, evaluates in this process); results arrive in any order and the charts, the progress and the callbacks
    update after each arrival. Other keyword arguments go to `subnet_kit.search.Search`
    (``strategy_options``, ``log``, ``ref``, ...). State: ``dash.model`` (a `SearchRun`; set ``budget`` larger
    and run again to continue the search, change ``strategy`` or ``seed`` for a new one).

    >>> dash = SearchDashboard(supernet, space, task, objectives=["error", "params"], budget=40)  # doctest: +SKIP
    >>> dash                      # the widget                                                     # doctest: +SKIP
    >>> result = dash.run()       # blocking; or dash.start() ... dash.stop(); await dash.wait()   # doctest: +SKIP
    """

    def __init__(self, supernet: Any, space: SearchSpace | None, task: Any = None,
                 objectives: "ObjectivePicker | Sequence[Any]" = ("error", "params"), *,
                 strategy: str = DEFAULT_STRATEGY, budget: int = 40, seed: int = 0, eval_limit: int | None = 500,
                 constraints: Sequence[Any] = (), x: str | None = None, y: str | None = None,
                 live: str = "data", min_interval_s: float = 0.2, yield_s: float = 0.0,
                 workers: int = 1, ray_address: str | None = None, **search_options: Any) -> None:
        if not isinstance(space, SearchSpace):
            raise ValueError(f"space must be a SearchSpace (e.g. SpaceEditor(...).space, or "
                             f"SearchSpace.for_model(supernet, ...)); got {type(space).__name__}"
                             + (" — the SpaceEditor's setting is impossible, see editor.message" if space is None
                                else ""))
        self.supernet, self.space, self.task = supernet, space, task
        self.picker = objectives if isinstance(objectives, ObjectivePicker) else None
        self._constraints = list(constraints)
        self._objectives = None
        if self.picker is None:  # the library's checks, now: bad objectives or constraints fail here
            self._objectives = [objectives] if isinstance(objectives, (str, bytes)) else list(objectives)
            resolve_objectives(self._objectives, self._constraints, settings=MeasureSettings(eval_limit=eval_limit))
        self.eval_limit, self.x, self.y, self.yield_s = eval_limit, x, y, yield_s
        self._callbacks = list(search_options.pop("callbacks", None) or [])
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValueError(f"workers (sub-networks evaluated at once on Ray actors; 1 = in this process) must be "
                             f"an int >= 1, got {workers!r}")
        self.workers, self.ray_address = int(workers), ray_address
        if self.workers != 1 or ray_address is not None:  # workers=1 without an address: today's in-process path
            search_options.update(workers=self.workers, ray_address=ray_address)
        self.search_options = search_options
        self._task: asyncio.Task | None = None
        self.model = SearchRun(self._new_search, strategy, budget, seed)
        if self.picker is not None:  # other objectives or settings: the next start is a new search
            self.picker.observe(lambda _: self.model.discard(), names=list(ObjectivePicker.SETTINGS))
        # the widget's title does not count points: in "data" mode the spec (and its title) stays while rows arrive
        self._pareto = LiveChart(lambda rows: pareto_live_chart(rows, *self._axis_titles(), title=LIVE_TITLE),
                                 "points", "subnet-kit-pareto", mode=live, min_interval_s=min_interval_s)
        self._hvchart = LiveChart(hv_live_chart, "hv", "subnet-kit-hv", mode=live, min_interval_s=min_interval_s)
        self._pareto.on_new_chart(self._watch_selection)
        self.arch_view = ArchView(None, space, supernet=supernet)
        super().__init__(self._build_view())
        self.add_class("subnet-kit-dashboard")

    def _build_view(self) -> list[W.Widget]:
        """The controls and outputs, linked to the model's traits."""
        m = self.model
        strategy = W.Dropdown(options=sorted(STRATEGIES), description="strategy", layout=W.Layout(width="200px"))
        budget = W.IntText(description="budget", layout=W.Layout(width="160px"))
        seed = W.IntText(description="seed", layout=W.Layout(width="160px"))
        for control, name in ((strategy, "strategy"), (budget, "budget"), (seed, "seed")):
            W.link((m, name), (control, "value"))
        self._start = W.Button(description="Start", button_style="success", icon="play")
        self._start.add_class("subnet-kit-start")
        self._stop = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self._stop.add_class("subnet-kit-stop")
        self._start.on_click(lambda _: self._start_clicked())
        self._stop.on_click(lambda _: self.stop())
        self._bar = W.IntProgress(min=0, layout=W.Layout(width="300px"))
        W.dlink((m, "total"), (self._bar, "max"), lambda v: max(v, 1))
        W.dlink((m, "n"), (self._bar, "value"))
        self._label = W.HTML(self._progress_text())
        self._label.add_class("subnet-kit-progress-label")
        self._message = W.HTML()
        self._message.add_class("subnet-kit-message")
        self._table = W.HTML()
        self._table.add_class("subnet-kit-pareto-table")
        m.observe(self._on_progress, names=PROGRESS_TRAITS)
        m.observe(lambda ch: setattr(self._message, "value", message_html(ch["new"])), names=["message"])
        return [box([strategy, budget, seed, self._start, self._stop], "subnet-kit-controls", vertical=False),
                box([self._bar, self._label], "subnet-kit-progress", vertical=False),
                box([self._pareto.widget, self._hvchart.widget], "subnet-kit-charts", vertical=False),
                self._message, self.arch_view, self._table]

    # ---- the model's state, by name ---------------------------------------------------------------------------
    @property
    def search(self) -> Search | None:
        return self.model.search

    @property
    def result(self) -> Result | None:
        """The `Result` of the search so far (None before the first start)."""
        return self.model.result

    @property
    def strategy(self) -> str:
        return self.model.strategy

    @property
    def budget(self) -> int:
        return self.model.budget

    @property
    def seed(self) -> int:
        return self.model.seed

    @property
    def running(self) -> bool:
        return self.model.state == "running"

    @property
    def message(self) -> str:
        return self.model.message

    @property
    def selected(self) -> Arch | None:
        return self.model.selected

    # ---- settings -> Search -----------------------------------------------------------------------------------
    def _new_search(self, strategy: str, budget: int, seed: int) -> Search:
        """A new search with the current settings (objectives and constraints read from the picker now)."""
        if self.picker is not None:
            objectives, metrics = self.picker.resolve(self._constraints)
            constraints = [*self.picker.constraints(), *self._constraints]
            self._check_device(self.picker.device)
        else:
            objectives, metrics, constraints = self._objectives, [], self._constraints
        search = Search(self.supernet, self.space, self.task, objectives, strategy=strategy, budget=budget, seed=seed,
                        constraints=constraints, metrics=metrics, callbacks=self._callbacks,
                        eval_limit=self.eval_limit, **self.search_options)
        self._pareto.rows, self._hvchart.rows = [], []  # _begin redraws (new axes)
        return search

    def _check_device(self, device: str) -> None:
        """The objectives run where the super-network is: a picker set to another device is an error (the
        dashboard does not move the caller's model)."""
        if self.supernet is None:
            return
        have = str(next(self.supernet.parameters()).device)
        if have.split(":")[0] != device.split(":")[0]:
            raise ValueError(f"the picker measures on {device!r} but the super-network is on {have!r}: move it first "
                             f"(supernet.to({device!r})) or pick the device {have.split(':')[0]!r}")

    def _axis_titles(self) -> tuple[str, str]:
        s = self.search
        if s is not None:
            names = [o.name for o in s.objectives]
        elif self.picker is not None:
            names = list(self.picker.selected) or ["objective"]
        else:
            names = [o.name for o in resolve_objectives(self._objectives)[0]]
        units = s.units if s is not None else {}
        return tuple(f"{n} ({units[n]})" if units.get(n) else n for n in axes(names, self.x, self.y))  # type: ignore

    # ---- running ----------------------------------------------------------------------------------------------
    def run(self) -> Result:
        """Run the search to its end (budget, or nothing new to propose) in this cell and return the `Result`.
        Deterministic: the same settings and seed give the same history."""
        if self._task is not None and not self._task.done():
            raise RuntimeError("a search started with start() is running; dash.stop() it or `await dash.wait()` "
                               "before run()")
        self._begin()
        try:
            while self.model.step():
                self._redraw(final=False)
        except BaseException as e:
            self._end(e)
            raise
        self._end()
        return self.result

    def start(self) -> "asyncio.Task":
        """Run the search as an asyncio task on the running event loop (the Jupyter kernel's), yielding to it
        after every evaluation: the notebook stays responsive and Stop works. Returns the task; ``await
        dash.wait()`` waits for it. Without a running loop (a script, papermill's blocking cells) use `run`."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("start() runs the search as an asyncio task on a running event loop (a Jupyter "
                               "kernel has one; a plain script does not): use dash.run(), which blocks until the "
                               "search is done") from None
        if self._task is not None and not self._task.done():
            return self._task
        self._begin()
        self._task = loop.create_task(self._loop())
        # a failure shows inline (self.message); retrieving it here keeps asyncio from warning about a task whose
        # exception nobody awaited (a search started from the Start button)
        self._task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        return self._task

    async def _loop(self) -> Result:
        try:
            await asyncio.sleep(0)
            while self.model.step():
                self._redraw(final=False)
                await asyncio.sleep(self.yield_s)  # let the kernel handle messages (the Stop button)
        except BaseException as e:
            self._end(e)
            raise
        self._end()
        return self.result

    def stop(self) -> None:
        """Stop after the evaluation in progress (what the Stop button does); Start continues the search."""
        self.model.stop()

    async def wait(self) -> Result | None:
        """Wait for a search started with `start` and return its `Result`."""
        if self._task is not None:
            await self._task
        return self.result

    def _start_clicked(self) -> None:
        try:
            self.start()
        except (RuntimeError, ValueError) as e:
            self.model.message = str(e)

    def _begin(self) -> None:
        self.model.begin()  # a ValueError (bad settings) is in model.message too
        self._redraw(final=True)

    def _end(self, error: BaseException | None = None) -> None:
        self.model.finish(error)
        self._redraw(final=True)
        self.refresh_static()

    # ---- state -> view ------------------------------------------------------------------------------------------
    def _on_progress(self, change: dict) -> None:
        self._label.value = self._progress_text()
        if change["name"] == "state":
            self._start.disabled, self._stop.disabled = self.running, not self.running

    def _redraw(self, final: bool) -> None:
        """Charts from ``search.result()`` and ``search.hv_curve`` (throttled unless ``final``), and the table."""
        result = self.result
        rows = pareto_rows(result, self.x, self.y)
        hv = hv_rows(self.search.hv_curve if self.search is not None else [])
        if final:
            self._pareto.rows, self._hvchart.rows = rows, hv
            self._pareto.flush()
            self._hvchart.flush()
            self._table.value = self._pareto_table_html(result)
        else:
            self._pareto.update(rows)
            self._hvchart.update(hv)

    def _progress_text(self) -> str:
        m = self.model
        hv_text = f"{m.hv:.3f}" if m.hv is not None else "–"
        pace = f"{m.pace_s:.2g} s/eval · " if m.pace_s is not None else ""
        return (f"{m.n} / {m.total or m.budget} evaluations · HV {hv_text} · front {m.front} · {pace}"
                f'<span class="subnet-kit-state">{m.state}</span>')

    def _pareto_table_html(self, result: Result | None, limit: int = 30) -> str:
        if result is None or len(result.history) == 0:
            return ""
        front = result.pareto()
        cols = ["eval", *result.objectives]
        rows = [{**{c: r[c] for c in cols},
                 "arch": Arch.from_json(r["arch"]).short() + (" (full model)" if r.get("full_model", False) else "")}
                for _, r in front.head(limit).iterrows()]
        more = f"<i>… and {len(front) - limit} more</i>" if len(front) > limit else ""
        return f"<b>Pareto front</b> ({len(front)} of {len(result.history)} evaluations){html_table(rows)}{more}"

    # ---- selection ----------------------------------------------------------------------------------------------
    def _watch_selection(self) -> None:
        sel = self._pareto.widget.selections
        if SELECTION in sel.trait_names():
            sel.observe(self._on_pick, names=[SELECTION])

    def _on_pick(self, change: dict) -> None:
        value = getattr(change["new"], "value", None) or []
        if not value:
            return  # a cleared selection (or a re-embed) keeps the last selected arch
        ev = value[0].get("eval")
        if ev is None:
            return
        try:
            self.select(int(ev))
        except ValueError as e:
            self.model.message = str(e)

    def select(self, arch: "Arch | int") -> Arch:
        """Select ``arch`` (an `Arch`, or the ``eval`` index of an evaluated one): the ArchView shows it (with its
        measured latency when the history has one) and an `ExportPanel` following this dashboard exports it."""
        latency = None
        if not isinstance(arch, Arch):
            result = self.result
            if result is None or isinstance(arch, bool) or not isinstance(arch, (int, np.integer)):
                raise ValueError(f"select() takes an Arch or the eval index of an evaluated arch, got {arch!r}")
            rows = result.history[result.history["eval"] == int(arch)]
            if len(rows) == 0:
                raise ValueError(f"no evaluation {arch}; evaluated: 0..{len(result.history) - 1}")
            row = rows.iloc[0]
            if "latency" in row.index:
                latency = float(row["latency"])
            arch = Arch.from_json(row["arch"])
        elif self.result is not None and "latency" in self.result.history.columns:
            rows = self.result.history[self.result.history["arch"] == arch.to_json()]
            latency = float(rows["latency"].iloc[0]) if len(rows) else None
        with self.arch_view.hold_trait_notifications():
            self.arch_view.arch, self.arch_view.latency = arch, latency
        self.model.selected = arch
        return arch

    # ---- data, charts, export -------------------------------------------------------------------------------------
    def chart_data(self) -> Any:
        """The points the Pareto chart shows (a DataFrame: ``eval``, ``x``, ``y``, ``front``, ``feasible``,
        ``kind``, ``label``); after `run` (or the end of a started search) every evaluated point."""
        import pandas as pd

        return pd.DataFrame(self._pareto.rows, columns=list(ROW_FIELDS))

    def hv_data(self) -> Any:
        """Hypervolume after each evaluation as the chart shows it (a DataFrame: ``evaluations``, ``hypervolume``);
        ``Search.hv_curve``: empty before the search's box is fixed (`Search.hv_box`), then one value per
        evaluation."""
        import pandas as pd

        return pd.DataFrame(self._hvchart.rows, columns=["evaluations", "hypervolume"])

    def chart(self) -> Any:
        """The Pareto chart of the current data as a static Altair chart."""
        return pareto_live_chart(self._pareto.rows, *self._axis_titles())

    def hv_chart(self) -> Any:
        return hv_live_chart(self._hvchart.rows)

    def save_chart(self, path: str, which: str = "pareto") -> Path:
        """Save the Pareto chart (``which="hv"``: the hypervolume chart) as ``.png``, ``.svg``, ``.pdf``, ``.html``
        or ``.json`` (vl-convert renders the images)."""
        allowed = (".png", ".svg", ".pdf", ".html", ".json")
        path = Path(path)
        if path.suffix.lower() not in allowed:
            raise ValueError(f"cannot save a chart as {path.suffix or 'a file without suffix'}; allowed: "
                             f"{', '.join(allowed)}")
        charts = {"pareto": self.chart, "hv": self.hv_chart}
        if which not in charts:
            raise ValueError(f"unknown chart {which!r}; allowed: {', '.join(charts)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        charts[which]().save(str(path))
        return path

    def static_html(self) -> str:
        result = self.result
        parts = [f'<div class="subnet-kit-dashboard"><div class="subnet-kit-progress">'
                 f"{esc(self.strategy)} · seed {self.seed} · {self._progress_text()}</div>",
                 message_html(self.message)]
        if result is not None and len(result.history):
            parts.append(f'<div class="subnet-kit-pareto" style="display:inline-block">{chart_svg(self.chart())}</div>')
            if self._hvchart.rows:
                parts.append(f'<div class="subnet-kit-hv" style="display:inline-block">'
                             f"{chart_svg(self.hv_chart())}</div>")
            parts.append(self._pareto_table_html(result))
        if self.arch_view.arch is not None:
            parts.append(self.arch_view.static_html())
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        return f"SearchDashboard({self.search!r})" if self.search is not None else "SearchDashboard(not started)"
