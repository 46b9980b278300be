"""The README's figures are the ones the solution notebooks store (tools/export_readme_figures.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("export_readme_figures", ROOT / "tools" / "export_readme_figures.py")
export = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = export  # dataclasses look their module up there
_spec.loader.exec_module(export)

FIGURES = export.readme_figures()


def test_the_iris_decision_regions_are_among_them():
    targets = [figure.target.relative_to(ROOT).as_posix() for figure in FIGURES]
    assert "docs/figures/iris_decision_regions.png" in targets


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f.target.name)
def test_figure_file_is_the_stored_notebook_output(figure):
    assert figure.png is not None, f"{figure.notebook.name} cell {figure.cell} has no stored picture"
    assert figure.png.startswith(b"\x89PNG"), "the stored output is not a PNG"
    assert (
        figure.is_current()
    ), f"{figure.target.relative_to(ROOT)} is stale: run `.venv/bin/python tools/export_readme_figures.py`"


def test_marker_is_found_and_a_missing_file_is_reported(tmp_path):
    import nbformat

    (tmp_path / "solutions").mkdir()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("# README figure: docs/figures/x.png (made here)\nplt.show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "fig"})]
    notebook.cells = [cell]
    nbformat.write(notebook, tmp_path / "solutions" / "99_x.ipynb")
    [figure] = export.readme_figures(tmp_path)
    assert figure.target == tmp_path / "docs" / "figures" / "x.png"
    assert figure.png == b"\x89PNG\r\n\x1a\n" and not figure.is_current()
    figure.target.parent.mkdir(parents=True)
    figure.target.write_bytes(figure.png)
    assert figure.is_current()
