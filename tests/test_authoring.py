"""The solutions -> notebooks generator (tensorlab.authoring) and the notebook conventions."""

from __future__ import annotations

import re

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
        "a = ...  # YOUR CODE HERE: replace ... with your answer",
        "b = ...  # YOUR CODE HERE: replace ... with your answer",
        "c = ...  # YOUR CODE HERE: replace ... with your answer",
    ]


def test_solution_inside_a_function_becomes_not_implemented():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    student, _, _ = strip_cell_source(source)
    assert student.splitlines()[1] == (
        '    raise NotImplementedError("your code here")  ' "# YOUR CODE HERE: replace this line with your code"
    )
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


def test_stored_notebooks_carry_no_execution_timestamps():
    # They change at every re-run: a diff in every cell, and a merge conflict between any two branches
    # that re-ran a notebook. `make execute-solutions` does not record them, and the generator drops them.
    for path in [*authoring.solution_paths(), *authoring.notebook_paths(authoring.STUDENT_DIR)]:
        notebook = nbformat.read(path, as_version=4)
        stamped = [i for i, cell in enumerate(notebook.cells) if "execution" in cell.metadata]
        assert not stamped, f"{path.name}: cells {stamped} store execution timestamps"


# ---- the student copy does not give the solution's steps away -----------------------------------


def student_copy(*sources: str) -> list[str]:
    """The student copy's code cells of a notebook made of these code cells."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    student = authoring.make_student_notebook(notebook, authoring.SOLUTIONS_DIR / "99_x.ipynb")
    return [c.source for c in student.cells if c.cell_type == "code"]


def test_only_the_names_later_code_reads_get_a_placeholder():
    """02 Ex4 once listed y1_start and d_ssr_d_w3, the solution's steps, in the student copy."""
    answer = "\n".join(
        [
            "p = BACKPROP_PARAMS",
            "### BEGIN SOLUTION",
            "y1_start = F.softplus(doses * p['w1'] + p['b1'])",
            "d_ssr_d_w3 = (-2 * (efficacy - forward(doses, p)) * y1_start).sum()",
            "new_w3 = p['w3'] - 0.1 * d_ssr_d_w3.item()",
            "### END SOLUTION",
        ]
    )
    cells = student_copy(answer, "ex.q4.check(new_w3)\n### BEGIN HIDDEN TESTS\nassert y1_start\n### END HIDDEN TESTS")
    assert cells[0].splitlines() == [
        "p = BACKPROP_PARAMS",
        "new_w3 = ...  # YOUR CODE HERE: replace ... with your answer",
    ]
    assert "y1_start" not in "".join(cells) and "d_ssr_d_w3" not in "".join(cells)


def test_a_name_a_later_cell_uses_keeps_its_placeholder_so_the_untouched_copy_runs():
    answer = "### BEGIN SOLUTION\nsteps = 3\nbatch_bytes = 64 * 4\nhelper = 2\n### END SOLUTION"
    cells = student_copy(
        answer,
        "ex.q1.check(batch_bytes)",
        "print(helper)",  # read by a later cell
        "steps = 10",
        "print(steps)",
    )  # assigned anew first
    assert cells[0].splitlines() == [
        "batch_bytes = ...  # YOUR CODE HERE: replace ... with your answer",
        "helper = ...  # YOUR CODE HERE: replace ... with your answer",
    ]


@pytest.mark.parametrize(
    "later, kept",
    [
        ("t = benchmark.Timer('a @ b', globals=globals())", True),  # a name inside a string: Timer reads it
        ("%timeit a @ b", True),  # IPython syntax: a word search decides
        ("def f():\n    return a", True),  # read inside a function
        ("a = 1\nprint(a)", True),  # one cell both assigns and reads: kept
        ("abc = 1", False),  # a longer name is another name
    ],
)
def test_what_counts_as_reading_a_name_later(later, kept):
    cells = student_copy("### BEGIN SOLUTION\na = 1\n### END SOLUTION", "ex.q1.check(b)", later)
    assert (cells[0].startswith("a = ...")) is kept, cells[0]


def test_a_region_whose_names_nothing_reads_says_where_to_write():
    cells = student_copy("net = Net()\n### BEGIN SOLUTION\nloss(net).backward()\n### END SOLUTION", "ex.q1.check(net)")
    assert cells[0].splitlines() == ["net = Net()", "# YOUR CODE HERE: write your code here"]


def _solution_only_names(path) -> set[str]:
    """Names a top-level solution region assigns that no code outside the solution regions mentions."""
    notebook = nbformat.read(path, as_version=4)
    outside = "\n".join(authoring.visible_code(c.source) if c.cell_type == "code" else c.source for c in notebook.cells)
    names = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for segment in authoring.parse_cell_source(cell.source):
            if segment.kind == "solution" and not segment.indent:
                names.update(
                    n
                    for n in authoring._assigned_names("\n".join(segment.lines))
                    if not re.search(rf"\b{n}\b", outside)
                )
    return names


@pytest.mark.parametrize("path", authoring.solution_paths(), ids=lambda p: p.stem)
def test_no_student_copy_names_a_step_of_a_solution(path):
    student = authoring.expected_student_text(path)
    leaked = sorted(n for n in _solution_only_names(path) if re.search(rf"\b{n}\b", student))
    assert not leaked, f"{path.name}: the student copy names {leaked}, which only its solutions use"


def test_notebook_02_exercise_4_no_longer_gives_its_steps_away():
    path = authoring.SOLUTIONS_DIR / "02_single_dose_network.ipynb"
    assert {"y1_start", "d_ssr_d_w3"} <= _solution_only_names(path)  # the test above covers them
    student = authoring.expected_student_text(path)
    assert "y1_start" not in student and "d_ssr_d_w3" not in student and "new_w3 = ..." in student


def test_a_discussion_cell_is_kept_without_its_output_and_is_no_exercise():
    """ex.discuss(N) prints an open question's discussion: hidden in the student copy until it is run."""
    cell = nbformat.v4.new_code_cell(
        "ex.discuss(1)",
        execution_count=3,
        outputs=[nbformat.v4.new_output("stream", name="stdout", text="💬 Question 1: ...\n")],
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("**Think about it.** ..."), cell])
    student = authoring.make_student_notebook(notebook, authoring.SOLUTIONS_DIR / "99_x.ipynb")
    kept = student.cells[2]
    assert kept.source == "ex.discuss(1)" and kept.outputs == [] and kept.execution_count is None
    assert authoring.METADATA_KEY not in kept.metadata and student.metadata["tensorlab"]["exercises"] == []
