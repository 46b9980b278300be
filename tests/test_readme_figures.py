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


def test_metadata_is_found_and_a_missing_file_is_reported(tmp_path):
    import nbformat

    (tmp_path / "solutions").mkdir()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.metadata["tensorlab"] = {"readme_figure": "docs/figures/x.png"}
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "fig"})]
    notebook.cells = [cell]
    nbformat.write(notebook, tmp_path / "solutions" / "99_x.ipynb")
    [figure] = export.readme_figures(tmp_path)
    assert figure.target == tmp_path / "docs" / "figures" / "x.png"
    assert figure.png == b"\x89PNG\r\n\x1a\n" and not figure.is_current()
    figure.target.parent.mkdir(parents=True)
    figure.target.write_bytes(figure.png)
    assert figure.is_current()


# --- the README's numbers (tools/export_readme_numbers.py) ----------------------------------------

_spec_numbers = importlib.util.spec_from_file_location(
    "export_readme_numbers", ROOT / "tools" / "export_readme_numbers.py"
)
numbers = importlib.util.module_from_spec(_spec_numbers)
sys.modules[_spec_numbers.name] = numbers
_spec_numbers.loader.exec_module(numbers)


def test_the_readmes_speed_numbers_are_notebook_06s_stored_outputs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = numbers.block(numbers.read_numbers())
    start, end = readme.index(numbers.BEGIN), readme.index(numbers.END) + len(numbers.END)
    assert readme[start:end] == expected, (
        "README.md's speed numbers differ from notebook 06's stored outputs: "
        "run `.venv/bin/python tools/export_readme_numbers.py`"
    )


def test_the_speed_numbers_say_where_and_when_they_were_measured():
    found = numbers.read_numbers()
    for conditions in (found.dot_conditions, found.training_conditions, found.reference_conditions):
        assert conditions.startswith("measured 20") and "load average" in conditions and "PyTorch" in conditions
    assert "real-time" in found.reference_conditions  # the figure's sweep: the quietest the machine could be
    figure = next(f for f in FIGURES if f.target.name == "cpu_matmul_flops.png")
    notebook = executing_read(figure.notebook)
    assert notebook.cells[figure.cell].metadata["tensorlab"]["readme_numbers"] == "reference"


def executing_read(path):
    from tensorlab import executing

    return executing.read_notebook(path)


def test_a_notebook_without_stored_outputs_gives_a_sentence_not_a_traceback(tmp_path):
    import nbformat

    (tmp_path / "solutions").mkdir()
    notebook = nbformat.v4.new_notebook()
    for key in ("dot", "matmul", "training", "reference"):
        cell = nbformat.v4.new_code_cell("print(1)")
        cell.metadata["tensorlab"] = {"readme_numbers": key}
        notebook.cells.append(cell)
    nbformat.write(notebook, tmp_path / "solutions" / numbers.NOTEBOOK)
    with pytest.raises(numbers.NotFound, match="make execute-solutions|no CPU rows"):
        numbers.read_numbers(tmp_path)
    with pytest.raises(numbers.NotFound, match="has no block"):
        numbers.replace_block("# a README without the block", "x")
