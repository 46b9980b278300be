"""Every exercise module against its notebook, and each checker against known-wrong answers.

The checkers pass on the solutions: nbval compares the stored "✅ ... correct." lines of every
solution notebook. Here each one must also *fail* -- with the right sentence -- on wrong answers.
"""

from __future__ import annotations

import importlib
import re

import nbformat
import pytest

from tensorlab import authoring
from tensorlab.checking import NOT_ATTEMPTED, Discussions
from tensorlab.exercises import exercises_of


def notebooks_with_exercises():
    found = []
    for path in authoring.solution_paths():
        module_name = authoring.exercise_module_name(path)
        notebook = nbformat.read(path, as_version=4)
        checks = [m for c in notebook.cells if c.cell_type == "code" for m in authoring.CHECK_CALL.findall(c.source)]
        if checks:
            found.append(pytest.param(path, module_name, checks, id=path.stem))
    return found


@pytest.mark.parametrize("path, module_name, checks", notebooks_with_exercises())
def test_notebook_checks_every_exercise_of_its_module_once_in_order(path, module_name, checks):
    module = importlib.import_module(module_name)
    defined = list(exercises_of(module))
    assert checks == defined, f"{path.name} checks {checks}, {module_name} defines {defined}"
    assert len(defined) >= 3


@pytest.mark.parametrize("path, module_name, checks", notebooks_with_exercises())
def test_every_exercise_treats_the_placeholder_as_not_attempted_and_has_hints(path, module_name, checks):
    for name, exercise in exercises_of(importlib.import_module(module_name)).items():
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name
        assert exercise.hints, f"{module_name}.{name} has no hints"


@pytest.mark.parametrize("path, module_name, checks", notebooks_with_exercises())
def test_every_exercise_has_a_one_line_takeaway(path, module_name, checks):
    for name, exercise in exercises_of(importlib.import_module(module_name)).items():
        takeaway = exercise.takeaway
        assert takeaway, f"{module_name}.{name} has no takeaway (one line: what the exercise teaches)"
        assert "\n" not in takeaway and len(takeaway) <= 160 and takeaway.endswith("."), (name, takeaway)
        assert takeaway not in exercise.hints, f"{module_name}.{name}: the takeaway repeats a hint"


@pytest.mark.parametrize("path, module_name, checks", notebooks_with_exercises())
def test_every_exercise_shows_its_reference_solution_from_the_notebook(path, module_name, checks, capsys):
    notebook = nbformat.read(path, as_version=4)
    roles, _ = authoring.exercise_roles(notebook)
    for name, exercise in exercises_of(importlib.import_module(module_name)).items():
        exercise.solution()
        out = capsys.readouterr().out
        assert out.startswith(f"📖 {exercise.label}, the reference solution (from solutions/{path.name}):"), out
        answers = [i for i, r in roles.items() if r == {"exercise": name, "role": "answer"}]
        for index in answers:  # every line of the answer cells, less markers and hidden tests
            assert authoring.reference_source(notebook.cells[index].source) in out
        assert "### BEGIN" not in out and "### END" not in out


@pytest.mark.parametrize("path", authoring.solution_paths(), ids=lambda p: p.stem)
def test_open_questions_match_their_discussions(path):
    """Every ex.discuss(N) the notebook calls has a discussion, and every discussion is asked, in order.

    Every notebook has its module, even one without exercises (ch00 holds only notebook 00's discussions)."""
    module = importlib.import_module(authoring.exercise_module_name(path))
    notebook = nbformat.read(path, as_version=4)
    calls = [
        int(n)
        for c in notebook.cells
        if c.cell_type == "code"
        for n in re.findall(r"\bex\.discuss\((\d+)\)", authoring.visible_code(c.source))
    ]
    assert isinstance(module.discuss, Discussions), f"{module.__name__} should define discuss = Discussions(...)"
    assert calls == list(
        range(1, len(module.discuss) + 1)
    ), f"{path.name} calls ex.discuss{tuple(calls)}, {module.__name__} has {len(module.discuss)} discussion(s)"
    for discussion in module.discuss.discussions:
        assert discussion.question.strip() and discussion.text.strip()


# The checker tests of each notebook's exercises are in tests/test_exercises_chNN.py.
