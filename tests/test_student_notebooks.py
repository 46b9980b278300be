"""The student notebooks: generated, never stale, and they run top to bottom untouched.

An untouched student notebook has every answer still at its ``...`` placeholder, so every check
cell must say "not attempted yet" -- never pass (a check that passes on a blank answer checks
nothing) and never crash.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from notebook_runner import execute_notebook, stream_text

from tensorlab import authoring

STUDENT_NOTEBOOKS = authoring.notebook_paths(authoring.STUDENT_DIR)


def test_there_are_student_notebooks_for_every_solution():
    assert authoring.solution_paths(), "no solution notebooks found"
    assert [p.name for p in STUDENT_NOTEBOOKS] == [p.name for p in authoring.solution_paths()]


def test_student_notebooks_are_not_stale():
    problems = authoring.stale_notebooks()
    assert not problems, "regenerate with `make student`: " + "; ".join(problems)


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_hides_solutions_and_hidden_tests(path: Path):
    text = path.read_text(encoding="utf-8")
    for marker in (
        authoring.BEGIN_SOLUTION,
        authoring.END_SOLUTION,
        authoring.BEGIN_HIDDEN,
        authoring.END_HIDDEN,
        "evaluate(",
    ):
        assert marker not in text, f"{path.name} still contains {marker!r}"
    notebook = nbformat.read(path, as_version=4)
    meta = notebook.metadata[authoring.METADATA_KEY]
    assert meta["generated_from"] == f"solutions/{path.name}"  # provenance: in the metadata
    assert f"Generated from solutions/{path.name}" in meta["note"] and "overwritten" in meta["note"]
    banner = notebook.cells[0].source  # for the learner: this is their copy, and how to answer
    assert "your copy" in banner and "overwritten" not in banner and "make " not in banner
    if meta["exercises"]:
        assert "replace the `...`" in banner and "raise NotImplementedError" in banner and "check cell" in banner
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem, marks=pytest.mark.xdist_group(name=f"student:{p.name}")) for p in STUDENT_NOTEBOOKS],
)
def test_untouched_student_notebook_runs_and_every_check_says_not_attempted(path: Path):
    executed = execute_notebook(path)
    expected = executed.metadata[authoring.METADATA_KEY]["exercises"]
    seen = []
    for cell in executed.cells:
        role = cell.metadata.get(authoring.METADATA_KEY, {})
        if role.get("role") != "check":
            continue
        out = stream_text(cell)
        seen.append(role["exercise"])
        assert "not attempted yet" in out, f"{path.name}, check {role['exercise']}: printed {out!r}"
        assert not re.search("[✅❌]", out), f"{path.name}, check {role['exercise']}: printed {out!r}"
    assert seen == expected
