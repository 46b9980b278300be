"""Copy the README's figures out of the stored outputs of the solution notebooks.

A code cell whose picture the README shows says so in its cell metadata, where learners do not read it
(JupyterLab: the cell's property inspector, "Cell Metadata"):

    "metadata": {"tensorlab": {"readme_figure": "docs/figures/iris_decision_regions.png"}}

This script runs nothing: it writes the first PNG that cell stored (when `make execute-solutions` ran the
notebook with the course's one executor, tensorlab.executing) to that path, so the figure in the README
is exactly the one the notebook draws, with no second copy of the code that draws it. The notebooks
themselves never write into the repository: running or testing them leaves the working tree as it was.

    .venv/bin/python tools/export_readme_figures.py           # write every figure
    .venv/bin/python tools/export_readme_figures.py --check   # exit 1 and name the figures that are stale

tests/test_readme_figures.py runs the check.
"""

from __future__ import annotations

import argparse
import base64
import sys
from dataclasses import dataclass
from pathlib import Path

from tensorlab import authoring, executing

ROOT = Path(__file__).resolve().parents[1]
METADATA_KEY, FIELD = "tensorlab", "readme_figure"  # cell.metadata["tensorlab"]["readme_figure"] = path


def figure_target(cell) -> str | None:
    """The README figure path a cell's metadata names, or None."""
    return cell.get("metadata", {}).get(METADATA_KEY, {}).get(FIELD)


@dataclass(frozen=True)
class Figure:
    notebook: Path
    cell: int  # index among the notebook's cells
    target: Path  # where the README expects it
    png: bytes | None  # the stored output, or None if the cell has none (not executed)

    def is_current(self) -> bool:
        return self.png is not None and self.target.is_file() and self.target.read_bytes() == self.png


def readme_figures(root: Path = ROOT) -> list[Figure]:
    """Every cell of solutions/*.ipynb that names a README figure, with the PNG it stored."""
    found = []
    for notebook_path in authoring.notebook_paths(root / "solutions"):
        notebook = executing.read_notebook(notebook_path)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            target = figure_target(cell)
            if target:
                pngs = [
                    output["data"]["image/png"]
                    for output in cell.get("outputs", [])
                    if "image/png" in output.get("data", {})
                ]
                found.append(Figure(notebook_path, index, root / target, base64.b64decode(pngs[0]) if pngs else None))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a figure is stale")
    args = parser.parse_args()
    problems = 0
    for figure in readme_figures():
        where = f"{figure.notebook.relative_to(ROOT)}, cell {figure.cell}"
        target = figure.target.relative_to(ROOT)
        if figure.png is None:
            print(f"{where} has no stored picture for {target}: run `make execute-solutions` first.")
            problems += 1
        elif args.check:
            if not figure.is_current():
                print(
                    f"{target} is missing or differs from the picture stored in {where}: "
                    "run tools/export_readme_figures.py."
                )
                problems += 1
        else:
            figure.target.parent.mkdir(parents=True, exist_ok=True)
            figure.target.write_bytes(figure.png)
            print(f"wrote {target} ({len(figure.png):,} bytes) from {where}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
