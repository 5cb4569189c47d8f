"""subnet_kit_widgets: the Jupyter layer of subnet-kit — thin ipywidgets + Altair views over subnet_kit objects.

Installed under the import name ``subnet_kit_widgets`` so it cannot clash with other packages in site-packages.

    from subnet_kit_widgets import SpaceEditor, ObjectivePicker, SearchDashboard, ArchView, ExportPanel
    editor = SpaceEditor(supernet, granularity="per-layer")          # editor.space, editor.message
    picker = ObjectivePicker(objectives=("error", "latency"), constraints=("latency <= 15",))
    dash = SearchDashboard(supernet, editor.space, task, objectives=picker, strategy="nsga2", budget=40)
    dash                                                              # controls, progress, live Pareto chart
    result = dash.run()                                               # or dash.start(); dash.stop(); await dash.wait()
    ExportPanel(supernet, dashboard=dash, out_dir="exported").export()

Every view is a widget in JupyterLab and, where no widget front end exists (papermill, nbconvert), leaves a static
SVG chart and a table in the output. The views hold no search or model logic: state lives in subnet_kit objects
(`SearchSpace`, `Objective`, `Search`, `Result`, `SuperNet`) and in traitlets.
"""

from ._arch import ArchView
from ._dashboard import SearchDashboard
from ._export import ExportPanel
from ._objectives import ObjectivePicker
from ._space import SpaceEditor

__all__ = ["SpaceEditor", "ObjectivePicker", "SearchDashboard", "ArchView", "ExportPanel"]
