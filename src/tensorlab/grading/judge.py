"""Judging one answer in the grader's own process: the grader's own copy of the exercise
(``Exercise.evaluate``, whose ``torch`` the student never touched), then the hidden tests, also run
here. Only the check's sentence goes to the student, never a hidden test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tensorlab.checking import FAIL, PASS, one_line, sentence_case
from tensorlab.grading.course import CourseExercise, CourseNotebook
from tensorlab.grading.kernel import NotebookRun, Unavailable

HIDDEN_TEST_MESSAGE = (
    "your answer passes the check in the notebook, but not the instructor's additional tests for this exercise."
)


@dataclass
class ExerciseGrade:
    name: str
    label: str
    status: str  # pass / fail / not attempted (tensorlab.checking)
    message: str  # for the student, in the feedback
    detail: str = ""  # for the instructor only (which hidden test failed)

    @property
    def passed(self) -> bool:
        return self.status == PASS


def judge(
    exercise: CourseExercise,
    values: dict[str, Any],
    run: NotebookRun,
    notebook: CourseNotebook,
    answer_cells: list[int],
) -> ExerciseGrade:
    """The grade of one exercise, from ``values`` (``answer:qN`` and ``name:X`` -> value or Unavailable)."""
    answer = values.get(f"answer:{exercise.name}", Unavailable("WireError", "the answer did not come back"))
    if isinstance(answer, Unavailable):
        return ExerciseGrade(exercise.name, exercise.label, FAIL, _why_missing(exercise, answer, run, answer_cells))
    result = exercise.exercise.evaluate(answer)
    grade = ExerciseGrade(exercise.name, exercise.label, result.status, result.message)
    if result.status == PASS and exercise.hidden_code:
        failure = _run_hidden_tests(exercise, values, notebook)
        if failure:
            grade.status, grade.message, grade.detail = FAIL, sentence_case(HIDDEN_TEST_MESSAGE), failure
    return grade


def _why_missing(exercise: CourseExercise, answer: Unavailable, run: NotebookRun, answer_cells: list[int]) -> str:
    if answer.type == "WireError":
        return sentence_case(f"the grader could not read your answer: {answer.message}.")
    if answer.type != "NameError":
        return sentence_case(
            f"evaluating `{exercise.expression}` raised {answer.type}: {answer.message}".rstrip(": ") + "."
        )
    errors = [run.cell_errors[i] for i in answer_cells if i in run.cell_errors]
    if any(i in run.skip for i in answer_cells):
        why = "its cell was stopped by the grader (it ran too long or stopped the kernel)"
    elif any(i in run.interrupted for i in answer_cells):
        why = "its cell ran past the time limit and was interrupted"
    elif errors:
        why = f"its cell raised {errors[0][0]}: {errors[0][1]}".rstrip(": ")
    elif run.stopped_early:
        why = f"{run.stopped_early} before it ran"
    else:
        why = "its cell was deleted, or did not define it"
    return sentence_case(f"`{exercise.expression}` was not defined after your notebook ran: {why}.")


def _run_hidden_tests(exercise: CourseExercise, values: dict[str, Any], notebook: CourseNotebook) -> str:
    """Run the hidden tests here, on the student's values; '' if they pass, else a note for the log."""
    namespace = notebook.hidden_test_namespace()
    for name in exercise.hidden_names:
        value = values.get(f"name:{name}")
        if value is not None and not isinstance(value, Unavailable):
            namespace[name] = value
    try:
        exec(compile(exercise.hidden_code, f"<hidden tests of {exercise.name}>", "exec"), namespace)
    except Exception as error:  # any failure of the hidden tests fails the exercise
        line, tb = "", error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.startswith("<hidden tests"):
                line = exercise.hidden_code.splitlines()[tb.tb_lineno - 1].strip()
            tb = tb.tb_next
        return f"hidden test failed: {type(error).__name__}: {one_line(error)} at `{line}`"
    return ""
