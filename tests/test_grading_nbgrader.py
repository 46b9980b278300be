"""``make nbgrader`` output grades correctly under real nbgrader (pinned in requirements-nbgrader.txt,
installed by ``make nbgrader-venv`` into .venv-nbgrader/, apart from the course's .venv).

nbgrader runs in its own environment; the notebooks' kernel (``python3``) is pointed at the course's
Python, where tensorlab and PyTorch are. ``generate_assignment`` makes the student version of notebook
01; ``autograde`` grades a submission with every answer filled in and an untouched one: full points
(one per exercise), and 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest

from tensorlab import authoring
from tensorlab.exercises import ch01, exercises_of
from tensorlab.nbgrader_export import export

NBGRADER = authoring.REPO_ROOT / ".venv-nbgrader" / "bin"
NOTEBOOK = "01_tensors_0d_to_nd"
POINTS = len(exercises_of(ch01))  # one per exercise

pytestmark = [
    pytest.mark.xdist_group(name="nbgrader"),
    pytest.mark.skipif(
        not (NBGRADER / "nbgrader").exists(),
        reason="real nbgrader is not installed: `make nbgrader-venv` installs it into "
        ".venv-nbgrader/ (`make test` does)",
    ),
]


def test_make_nbgrader_sets_the_cell_metadata_nbgrader_needs(tmp_path):
    written = export(tmp_path)
    assert (tmp_path / "nbgrader_config.py").exists()
    with_exercises = [
        path for path in authoring.solution_paths() if authoring.exercise_roles(nbformat.read(path, as_version=4))[1]
    ]
    assert len(written) == len(with_exercises) and all(p.parent.parent == tmp_path / "source" for p in written)
    notebook = nbformat.read(tmp_path / "source" / NOTEBOOK / f"{NOTEBOOK}.ipynb", as_version=4)
    meta = [cell.metadata["nbgrader"] for cell in notebook.cells]
    checks = [m for m in meta if m["grade"]]
    assert [m["grade_id"] for m in checks] == [f"q{n}-check" for n in range(1, POINTS + 1)]
    assert all(m["points"] == 1 and m["locked"] and not m["solution"] for m in checks)
    assert [m["grade_id"] for m in meta if m["solution"]] == [f"q{n}-answer" for n in range(1, POINTS + 1)]
    assert all(m["locked"] for m in meta if not m["solution"])
    assert len({m["grade_id"] for m in meta}) == len(meta)


def test_real_nbgrader_gives_full_marks_to_a_solved_submission_and_zero_to_an_untouched_one(tmp_path):
    course = tmp_path / "course"
    export(course)
    kernels = tmp_path / "jupyter" / "kernels" / "python3"  # the notebooks' kernel: the course's Python
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "course",
                "language": "python",
            }
        )
    )
    env = dict(
        os.environ,
        JUPYTER_PATH=str(tmp_path / "jupyter"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        PATH=f"{NBGRADER}{os.pathsep}{os.environ['PATH']}",
    )  # nbgrader runs its `alembic` from PATH

    def nbgrader(*args: str) -> None:
        done = subprocess.run(
            [str(NBGRADER / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    nbgrader("generate_assignment", NOTEBOOK, "--force")
    released = nbformat.read(course / "release" / NOTEBOOK / f"{NOTEBOOK}.ipynb", as_version=4)
    assert "BEGIN HIDDEN TESTS" not in nbformat.writes(released) and "NotImplementedError" in nbformat.writes(released)
    solution = nbformat.read(authoring.SOLUTIONS_DIR / f"{NOTEBOOK}.ipynb", as_version=4)
    solved = {
        cell.metadata["nbgrader"]["grade_id"]: authoring.reference_source(original.source)
        for cell, original in zip(
            nbformat.read(course / "source" / NOTEBOOK / f"{NOTEBOOK}.ipynb", as_version=4).cells, solution.cells
        )
    }
    full = nbformat.from_dict(json.loads(nbformat.writes(released)))
    for cell in full.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solved[cell.metadata["nbgrader"]["grade_id"]]
    for student, notebook in (("full", full), ("untouched", released)):
        folder = course / "submitted" / student / NOTEBOOK
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{NOTEBOOK}.ipynb")
    nbgrader("autograde", NOTEBOOK)
    query = (
        "import json; from nbgrader.api import Gradebook\n"
        "with Gradebook('sqlite:///gradebook.db') as gb:\n"
        f"    print(json.dumps({{s: [gb.find_submission('{NOTEBOOK}', s).score, "
        f"gb.find_submission('{NOTEBOOK}', s).max_score] for s in ('full', 'untouched')}}))"
    )
    done = subprocess.run(
        [str(NBGRADER / "python"), "-c", query], cwd=course, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scores = json.loads(done.stdout.strip().splitlines()[-1])
    assert scores == {"full": [POINTS, POINTS], "untouched": [0, POINTS]}, scores
