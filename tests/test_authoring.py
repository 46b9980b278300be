"""The solutions -> notebooks generator (tensorlab.authoring) and the notebook conventions."""

from __future__ import annotations

import nbformat
import pytest

from tensorlab import authoring
from tensorlab.authoring import MarkerError, strip_cell_source


def test_top_level_solution_becomes_one_placeholder_per_assigned_name():
    source = "\n".join(
        [
            "x = 1  # given",
            "### BEGIN SOLUTION",
            "a = torch.tensor(0.5)",
            "b, c = 1, 2",
            "a = a + 1",
            "### END SOLUTION",
        ]
    )
    student, had_solution, had_hidden = strip_cell_source(source)
    assert had_solution and not had_hidden
    assert student.splitlines() == [
        "x = 1  # given",
        "a = ...  # YOUR CODE HERE",
        "b = ...  # YOUR CODE HERE",
        "c = ...  # YOUR CODE HERE",
    ]


def test_solution_inside_a_function_becomes_not_implemented():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    student, _, _ = strip_cell_source(source)
    namespace = {}
    exec(student, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


def test_hidden_tests_are_removed_entirely():
    source = "ex.q1.check(a)\n### BEGIN HIDDEN TESTS\nassert secret\n### END HIDDEN TESTS\n"
    student, _, had_hidden = strip_cell_source(source)
    assert had_hidden and student == "ex.q1.check(a)"


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\na = 1\n", "never closed"),
        ("a = 1\n### END SOLUTION\n", "without"),
        ("### BEGIN HIDDEN TESTS\nassert a\n", "never closed"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another region"),
        ("### BEGIN SOLUTION\na = (\n### END SOLUTION\n", "does not parse"),
    ],
)
def test_broken_markers_are_reported_with_where(source, message):
    with pytest.raises(MarkerError, match=message):
        strip_cell_source(source, "solutions/99_x.ipynb, cell 3")


def test_generation_is_deterministic_and_does_not_touch_the_solution(tmp_path):
    path = authoring.solution_paths()[1]
    before = path.read_bytes()
    assert authoring.expected_student_text(path) == authoring.expected_student_text(path)
    assert path.read_bytes() == before


def test_stale_student_notebook_is_detected(tmp_path, monkeypatch):
    solutions, students = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    students.mkdir()
    source = authoring.solution_paths()[1]
    (solutions / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr(authoring, "SOLUTIONS_DIR", solutions)
    monkeypatch.setattr(authoring, "STUDENT_DIR", students)
    assert authoring.stale_notebooks() == [f"{source.name} is missing"]
    authoring.generate()
    assert authoring.stale_notebooks() == []
    notebook = nbformat.read(students / source.name, as_version=4)
    notebook.cells[2].source += "\n# an edit made by hand"
    nbformat.write(notebook, students / source.name)
    assert authoring.stale_notebooks() == [f"{source.name} is stale"]


def test_a_solution_region_without_a_check_cell_is_refused():
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\na = 1\n### END SOLUTION")]
    )
    with pytest.raises(MarkerError, match="not followed by a check cell"):
        authoring.make_student_notebook(notebook, authoring.SOLUTIONS_DIR / "99_x.ipynb")


@pytest.mark.parametrize("path", authoring.solution_paths(), ids=lambda p: p.stem)
def test_every_notebook_starts_with_the_course_setup_cell(path):
    notebook = nbformat.read(path, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert (
        code_cells[0].source.strip() == authoring.SETUP_CELL.strip()
    ), f"{path.name}: the first code cell must be tensorlab.authoring.SETUP_CELL, verbatim"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    assert "## Summary" in notebook.cells[-1].source, f"{path.name} should end with a Summary"


@pytest.mark.parametrize("path", authoring.solution_paths(), ids=lambda p: p.stem)
def test_solution_notebooks_are_stored_executed(path):
    """nbval compares stored outputs; a notebook saved without them would check nothing."""
    notebook = nbformat.read(path, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(
        c.execution_count is not None for c in code_cells
    ), f"{path.name} has unexecuted cells: run `make execute-solutions NOTEBOOKS={path}`"
    for cell in code_cells:
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name} was stored with an error output"
