"""subnet_kit_widgets: the Jupyter layer of subnet-kit (ipywidgets + Altair views over subnet_kit objects).

Installed under the import name ``subnet_kit_widgets`` so it cannot clash with other packages in site-packages.
The views arrive with the Jupyter issue; the headless library lives in ``subnet_kit``.
"""

__all__: list[str] = []
