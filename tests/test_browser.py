"""The course in a real browser: JupyterLab on localhost, ``notebooks/00_quickstart.ipynb`` opened in headless
Chromium (Debian's ``chromium`` driven by Playwright's Python API), all cells run as a person would run them.

Checked: the dashboard widgets and the Vega chart render in the DOM; the Pareto chart **gains points while the
search runs** (the number of SVG symbols in ``.subnet-kit-pareto`` is sampled in the page every 100 ms and must rise
strictly at least twice while the search cell is still executing); the kernel ends idle with every code cell
executed and no error output; the notebook's own ``summary.json`` is written. Screenshots (one taken while the
search ran, one at the end) are kept in pytest's tmp dir and copied to ``artifacts/browser/`` (gitignored).

Skipped, with the reason, when Playwright or Chromium is missing, unless ``SUBNET_KIT_BROWSER_TEST=1`` (what
``.ci/run`` sets), where a missing piece fails the test instead. Run it alone with::

    SUBNET_KIT_BROWSER_TEST=1 OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_browser.py

JupyterLab, its kernel and the browser are ended at the end whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_quickstart.ipynb"
NOTEBOOK_PARAMS = ROOT / "tests" / "notebook_params" / "00_quickstart.json"
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = os.environ.get("SUBNET_KIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REQUIRED = os.environ.get("SUBNET_KIT_BROWSER_TEST") == "1"

# The widget layer's CSS classes (widgets/subnet_kit_widgets/): the dashboard box, its live Pareto chart, its progress bar; each as a
# live widget view (a Lumino widget: .lm-Widget), not the static fallback HTML that carries the same class names.
DASHBOARD, PARETO, PROGRESS = ".subnet-kit-dashboard.lm-Widget", ".subnet-kit-pareto.lm-Widget", ".subnet-kit-progress.lm-Widget"
# One SVG path per plotted point in Vega's SVG renderer; legend symbols are role-legend-symbol, not role-mark.
SYMBOLS = "svg g.mark-symbol.role-mark path"

SERVER_START_S = 90   # JupyterLab answering /api/status
PAGE_READY_S = 90     # the notebook open with its kernel idle
RUN_ALL_S = 240       # all cells executed and the kernel idle again


def _missing_or_skip(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"SUBNET_KIT_BROWSER_TEST=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Installed into the page before the notebook runs: every 100 ms, record the number of points drawn in the Pareto
# chart and which code cell is executing (its prompt reads [*]); a sample is kept whenever either changes.
SAMPLER_JS = """([pareto, symbols]) => {
  window.__subnetKitSamples = [];
  const t0 = performance.now();
  let last = null;
  const cellsOf = () => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell'));
  window.__subnetKitTick = () => {
    const cells = cellsOf();
    const code = cells.filter(c => c.classList.contains('jp-CodeCell'));
    const prompts = code.map(c => (c.querySelector('.jp-InputPrompt') || {}).textContent || '');
    const running = prompts.findIndex(p => p.includes('*'));
    const chartCell = code.findIndex(c => c.querySelector(pareto));
    const chart = document.querySelector(pareto);
    const n = chart ? chart.querySelectorAll(symbols).length : -1;
    const key = n + '/' + running;
    if (key !== last) {
      window.__subnetKitSamples.push({t: (performance.now() - t0) / 1000, n, running, chartCell});
      last = key;
    }
  };
  window.__subnetKitTimer = setInterval(window.__subnetKitTick, 100);
}"""

STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const prompts = cells.map(c => (c.node.querySelector('.jp-InputPrompt') || {}).textContent || '');
  const errors = [];
  cells.forEach((c, i) => {
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push({cell: i, ename: o.ename, evalue: o.evalue});
    }
  });
  return {
    kernel: kernel ? kernel.status : 'none',
    prompts,
    counts: cells.map(c => c.model.executionCount),
    errors,
  };
}"""


def _prepare(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The notebook with its CI parameters injected by papermill, not executed, in a fresh JupyterLab root."""
    import papermill as pm

    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    out_dir = tmp_path / "out"
    params = json.loads(NOTEBOOK_PARAMS.read_text())
    params["out_dir"] = str(out_dir)
    nb_path = root / "notebooks" / NOTEBOOK.name
    pm.execute_notebook(str(NOTEBOOK), str(nb_path), parameters=params, prepare_only=True, kernel_name="python3",
                        progress_bar=False)
    nb = json.loads(nb_path.read_text())
    nb.setdefault("metadata", {})["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb_path.write_text(json.dumps(nb, indent=1))
    return root, nb_path, out_dir


def _lab_env(tmp_path: Path) -> dict[str, str]:
    """Private Jupyter dirs (no user settings, workspaces or news toasts leak in) and one CPU thread."""
    home = tmp_path / "jupyter"
    settings = home / "settings"
    for plugin, values in {
        # every cell stays in the DOM, so prompts and charts can be read anywhere in the notebook
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        f = settings / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"), OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
        HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
    )
    return env


def _stop(server: subprocess.Popen, port: int, token: str) -> None:
    """End the kernel(s) and JupyterLab: ask the server, then signal the processes it started, by pid."""
    import psutil

    try:
        children = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/shutdown", method="POST",
                                     headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(req, timeout=5).read()
    except Exception:  # noqa: BLE001 - it may be gone already; the signals below make sure
        pass
    procs = [p for p in children if p.is_running()]
    if server.poll() is None:
        procs.append(psutil.Process(server.pid))
    _, alive = psutil.wait_procs(procs, timeout=10)
    for p in alive:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(alive, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _rises(samples: list[dict], cell: int) -> list[dict]:
    """The samples, taken while code cell ``cell`` was executing, at which the point count beat every earlier one
    of that period (a re-render may briefly show an empty chart; that is not a rise)."""
    best, rises = None, []
    for s in samples:
        if s["running"] != cell or s["n"] <= 0:
            continue
        if best is not None and s["n"] > best:
            rises.append(s)
        best = s["n"] if best is None else max(best, s["n"])
    return rises


def test_quickstart_in_a_real_browser(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_or_skip("the playwright Python package is not installed (pip install -e '.[dev]')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing_or_skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SUBNET_KIT_CHROMIUM)")
    if not NOTEBOOK.exists() or not NOTEBOOK_PARAMS.exists():
        _missing_or_skip(f"{NOTEBOOK.relative_to(ROOT)} or its CI parameters are not there yet")

    t_start = time.perf_counter()
    root, nb_path, out_dir = _prepare(tmp_path)
    token, port = uuid.uuid4().hex, _free_port()
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--allow-root", "--ServerApp.terminals_enabled=False",
         "--LabApp.extension_manager=readonly"],
        stdout=log, stderr=subprocess.STDOUT, env=_lab_env(tmp_path), cwd=root, start_new_session=True)

    def lab_log() -> str:
        log.flush()
        return "\n".join((tmp_path / "jupyterlab.log").read_text().splitlines()[-30:])

    shots = {"live": tmp_path / "00_quickstart_live.png", "final": tmp_path / "00_quickstart.png"}
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2).read()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start on port {port}:\n{lab_log()}")
                time.sleep(0.5)
        t_server = time.perf_counter()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                console_errors: list[str] = []
                page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
                page.goto(f"http://127.0.0.1:{port}/lab/tree/notebooks/{nb_path.name}?token={token}",
                          timeout=PAGE_READY_S * 1000)
                page.wait_for_function(
                    """() => {
                      const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                      const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                      return !!(k && k.status === 'idle' && w.content && w.content.widgets.length);
                    }""", timeout=PAGE_READY_S * 1000)
                t_ready = time.perf_counter()

                page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # room for the notebook
                page.evaluate(SAMPLER_JS, [PARETO, SYMBOLS])
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
                deadline = time.monotonic() + RUN_ALL_S
                done = False
                while time.monotonic() < deadline:
                    page.wait_for_timeout(400)
                    samples = page.evaluate("() => window.__subnetKitSamples")
                    last = samples[-1] if samples else None
                    if not shots["live"].exists() and last and last["running"] >= 0 and last["chartCell"] >= 0:
                        if len(_rises(samples, last["running"])) >= 2:  # the live chart, mid-search
                            page.locator(PARETO).first.scroll_into_view_if_needed(timeout=5000)
                            page.screenshot(path=str(shots["live"]))
                    state = page.evaluate(STATE_JS)
                    if state["errors"]:
                        break  # run-all stops at an error; the asserts below report it
                    if (state["kernel"] == "idle" and state["counts"] and all(c is not None for c in state["counts"])
                            and not any("*" in p for p in state["prompts"])):
                        done = True
                        break
                page.evaluate("() => { window.__subnetKitTick(); clearInterval(window.__subnetKitTimer); }")
                samples = page.evaluate("() => window.__subnetKitSamples")
                t_run = time.perf_counter()

                # the final picture: the dashboard with its chart in view, then the executed notebook saved
                if page.locator(PARETO).count():
                    page.locator(DASHBOARD).first.scroll_into_view_if_needed(timeout=5000)
                    page.wait_for_timeout(300)
                page.screenshot(path=str(shots["final"]))
                page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
                page.wait_for_timeout(1000)
                dom = page.evaluate(
                    """([d, p, g, s]) => ({
                        dashboards: document.querySelectorAll(d).length,
                        progress: document.querySelectorAll(g).length,
                        vega: document.querySelectorAll(p + ' .vega-embed svg, ' + p + ' svg.marks').length,
                        points: document.querySelector(p) ? document.querySelector(p).querySelectorAll(s).length : -1,
                        widgetErrors: Array.from(document.querySelectorAll('.jp-OutputArea-output'))
                          .map(e => e.textContent).filter(t => /Error displaying widget|Failed to load model class|javascript error|JavaScript Error/i.test(t)),
                    })""", [DASHBOARD, PARETO, PROGRESS, SYMBOLS])
            finally:
                browser.close()
    finally:
        _stop(server, port, token)
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.values():
            if shot.exists():
                shutil.copy(shot, ARTIFACTS / shot.name)
        (ARTIFACTS / "samples.json").write_text(json.dumps(locals().get("samples", []), indent=0))

    timings = {"server_s": round(t_server - t_start, 1), "page_ready_s": round(t_ready - t_server, 1),
               "run_all_s": round(t_run - t_ready, 1), "total_s": round(time.perf_counter() - t_start, 1)}
    print(f"browser test timings: {timings}; {len(samples)} samples; browser console errors: {console_errors[:5]}")

    # every cell ran, without an error, and the kernel went idle
    assert not state["errors"], f"error output in the notebook: {state['errors']}"
    assert done, f"run-all did not finish in {RUN_ALL_S} s: prompts {state['prompts']}, kernel {state['kernel']}"
    assert not dom["widgetErrors"], f"widgets failed to render: {dom['widgetErrors'][:3]}"
    # the widgets and the Vega chart are in the DOM
    assert dom["dashboards"] >= 1, f"no {DASHBOARD} in the page"
    assert dom["progress"] >= 1, f"no {PROGRESS} in the page"
    assert dom["vega"] >= 1, f"no Vega SVG inside {PARETO}"
    assert dom["points"] > 0, f"the Pareto chart shows no points at the end ({dom['points']})"
    # the chart gained points while the search ran: >= 2 strict rises while the cell that ran the search executed
    search_cells = {s["running"] for s in samples if s["running"] >= 0 and s["n"] > 0}
    best = max(search_cells, key=lambda c: len(_rises(samples, c)), default=None)
    rises = _rises(samples, best) if best is not None else []
    assert len(rises) >= 2, f"the chart did not gain points while a cell ran: samples {samples}"
    assert state["counts"][best] is not None, "the search cell did not finish"
    assert shots["live"].exists(), "no screenshot was taken while the search ran"
    # the notebook's own record of what it did
    summary = json.loads((out_dir / "summary.json").read_text())
    if "evaluations" in summary:  # the chart in the browser holds every point the search evaluated
        assert dom["points"] == summary["evaluations"], \
            f"the browser's chart shows {dom['points']} points for {summary['evaluations']} evaluations"
    saved = json.loads(nb_path.read_text())
    saved_errors = [o for c in saved["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not saved_errors, f"the saved notebook holds errors: {saved_errors}"
