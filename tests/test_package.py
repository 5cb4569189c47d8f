"""Packaging facts: the headless library imports no Jupyter module; the public names are exported."""

import subprocess
import sys


def test_subnet_kit_is_headless():
    code = (
        "import sys, subnet_kit, subnet_kit.cli, subnet_kit.train, subnet_kit.export; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'ipywidgets', 'IPython', 'jupyter_client', 'ipykernel', 'notebook', 'jupyterlab'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"subnet_kit imported Jupyter modules: {out}"


def test_public_names():
    import subnet_kit
    import subnet_kit_widgets

    for name in ("Arch", "SearchSpace", "SuperNet", "SubNetwork", "load_task", "fine_tune", "evaluate", "load_subnet"):
        assert name in subnet_kit.__all__ and hasattr(subnet_kit, name)
    assert subnet_kit_widgets.__name__ == "subnet_kit_widgets"


def test_every_package_folder_is_packaged():
    """A non-editable install (Binder's, a wheel) ships only the packages pyproject.toml lists."""
    from pathlib import Path

    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "subnet_kit").rglob("__init__.py")}
    found |= {".".join(p.parent.relative_to(root / "widgets").parts) for p in (root / "widgets").rglob("__init__.py")}
    assert "subnet_kit_widgets" in found, "the Jupyter layer must sit in widgets/subnet_kit_widgets/ (its import name)"
    dirs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"].get("package-dir", {})
    assert (root / dirs.get("subnet_kit_widgets", "subnet_kit_widgets") / "__init__.py").is_file()
    assert found <= listed, f"packages missing from pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
