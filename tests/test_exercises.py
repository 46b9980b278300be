"""Every exercise module against its notebook, and each checker against known-wrong answers.

The checkers pass on the solutions: nbval compares the stored "✅ ... correct." lines of every
solution notebook. Here each one must also *fail* -- with the right sentence -- on wrong answers.
"""

from __future__ import annotations

import importlib

import nbformat
import pytest
import torch

from tensorlab import authoring
from tensorlab.checking import NOT_ATTEMPTED
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


# --- notebook 01 -----------------------------------------------------------------------------
from tensorlab.exercises import ch01  # noqa: E402


@pytest.mark.parametrize(
    "exercise, right, wrong, words",
    [
        (ch01.q1, torch.tensor(0.75), torch.tensor([0.75]), "shape ()"),
        (ch01.q1, torch.tensor(0.75), torch.tensor(0.75, dtype=torch.float64), "dtype torch.float32"),
        (ch01.q1, torch.tensor(0.75), 0.75, "should be a torch.Tensor"),
        (ch01.q2, torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0, 1, 2]), "dtype torch.float32"),
        (ch01.q2, torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0.0, 1.0, 0.5]), "2 of 3 element(s) differ"),
        (ch01.q3, 8 * 3 * 256 * 256, 8 * 256 * 256, "is 524288, which is not right"),
        (
            ch01.q4,
            lambda im: im.permute(2, 0, 1),
            lambda im: im.permute(2, 1, 0),
            "shape (3, 4, 5), but it has shape (3, 5, 4)",
        ),
        (
            ch01.q4,
            lambda im: im.permute(2, 0, 1),
            lambda im: im.reshape(im.shape[2], im.shape[0], im.shape[1]),
            "element(s) differ",
        ),
        (ch01.q5, 2 * 16 * 3 * 64 * 64 * 4, 2 * 16 * 3 * 64 * 64, "is 393216, which is not right"),
        (ch01.q6, torch.Size([3, 2]), (2, 3), "is (2, 3), which is not right"),
        (ch01.q7, lambda im, f: im * f.view(3, 1, 1), lambda im, f: im * f[:, None], "raised RuntimeError"),
        (ch01.q7, lambda im, f: im * f.view(3, 1, 1), lambda im, f: im * f.sum(), "element(s) differ"),
    ],
)
def test_ch01_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message
