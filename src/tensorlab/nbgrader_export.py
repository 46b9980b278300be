"""``make nbgrader OUT=<course folder>``: the course as a ready nbgrader course (for nbgrader users).

Writes, for every solution notebook with exercises, ``OUT/source/NN_name/NN_name.ipynb``: the solution
notebook itself (nbgrader reads the same ``### BEGIN SOLUTION`` / ``### BEGIN HIDDEN TESTS`` markers),
with the cell metadata that nbgrader's *Create Assignment* toolbar would set by hand:

- each answer cell: an autograded answer (``solution``);
- each check cell ``ex.qN.check(...)``: an autograder test worth one point (``grade``, ``points``),
  its hidden tests nbgrader's hidden tests;
- every other cell read-only (``locked``), so that ``nbgrader autograde`` restores it as handed out;

and ``OUT/nbgrader_config.py``. Then, in OUT: ``nbgrader generate_assignment NN_name`` and, once the
students have submitted, ``nbgrader autograde NN_name``. Which cell is an answer and which a check
comes from the student-copy generator (:func:`tensorlab.authoring.exercise_tag`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from tensorlab import authoring

CONFIG = """\
# nbgrader configuration for the course "Tensors for Neural Networks" (written by `make nbgrader`).
# The notebooks import the course package (tensorlab) and PyTorch: run nbgrader where they are installed,
# or point the kernel named in the notebooks (python3) at such an environment.
c = get_config()  # noqa: F821 - nbgrader provides it
c.CourseDirectory.course_id = "tensors-for-neural-networks"
c.Execute.timeout = 300  # seconds per cell; notebook 07 starts three Python processes
"""


def nbgrader_notebook(solution_path: Path) -> nbformat.NotebookNode | None:
    """The solution notebook with nbgrader's metadata on every cell, or None if it has no exercises."""
    solution = nbformat.read(solution_path, as_version=4)
    student = authoring.make_student_notebook(solution, solution_path)
    if not student.metadata[authoring.METADATA_KEY]["exercises"]:
        return None
    used: set[str] = set()
    for number, (cell, tagged) in enumerate(zip(solution.cells, student.cells[1:])):  # [0]: the banner
        exercise, role = authoring.exercise_tag(tagged)
        grade_id = f"{exercise}-{role}" if role in ("answer", "check") else f"cell-{number:03d}"
        while grade_id in used:  # an exercise with two answer cells
            grade_id += "-more"
        used.add(grade_id)
        cell.metadata["nbgrader"] = {
            "grade_id": grade_id,
            "schema_version": 3,
            "task": False,
            "solution": role == "answer",
            "grade": role == "check",
            "locked": role != "answer",
        }
        if role == "check":
            cell.metadata["nbgrader"]["points"] = 1
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return solution


def export(out: Path, solutions: Path | None = None) -> list[Path]:
    """Write OUT/nbgrader_config.py and OUT/source/; return the notebooks written."""
    written = []
    for path in authoring.solution_paths(solutions):
        notebook = nbgrader_notebook(path)
        if notebook is not None:
            target = out / "source" / path.stem / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, target)
            written.append(target)
    (out / "nbgrader_config.py").write_text(CONFIG, encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tensorlab.nbgrader_export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", type=Path, help="the nbgrader course folder to write (source/ and nbgrader_config.py)")
    args = parser.parse_args(argv)
    for path in export(args.out):
        print(f"wrote {path}")
    print(f"wrote {args.out / 'nbgrader_config.py'}; next: cd {args.out} && nbgrader generate_assignment <NN_name>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
