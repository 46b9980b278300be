"""The machinery behind every exercise check in the course (introduced in notebook 01).

An exercise module (``tensorlab.exercises.ch01`` ...) defines one :class:`Exercise` per question,
holding in one place what is expected, how an answer is compared and the hints. A notebook's check
cell then calls::

    ex.q1.check(answer)      # prints one line: passed, what is wrong, or "not attempted yet"
    ex.q1.hint()             # prints the next hint

``check`` never raises and never prints a traceback: whatever the learner's answer (a wrong shape,
a list instead of a tensor, a function that crashes), they get one sentence saying what was
expected. ``evaluate`` returns the same verdict as a :class:`Result` for tests and the grader.

The untouched placeholder ``...`` (Ellipsis) -- or a function that still returns ``None`` /
``...`` or raises ``NotImplementedError`` -- counts as "not attempted yet", so a blank student
notebook runs from top to bottom without an error.
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
import re
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch

PASS, FAIL, NOT_ATTEMPTED = "pass", "fail", "not attempted"
ICONS = {PASS: "✅", FAIL: "❌", NOT_ATTEMPTED: "⏳"}


@dataclass(frozen=True)
class Result:
    """The verdict on one answer: ``status`` is "pass", "fail" or "not attempted"."""

    exercise: str
    status: str
    message: str
    takeaway: str = ""  # a passed answer's one-line lesson, printed after "correct."

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __str__(self) -> str:
        takeaway = f" Takeaway: {self.takeaway}" if self.takeaway and self.passed else ""
        return f"{ICONS[self.status]} {self.exercise}: {self.message}{takeaway}"


class WrongAnswer(Exception):
    """Raised by a comparison with the one sentence that tells the learner what is wrong."""


class NotAttempted(Exception):
    """Raised when the answer is still the placeholder."""


# ---------------------------------------------------------------------------------------------
# Describing values in words
# ---------------------------------------------------------------------------------------------


def describe_type(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return "a tensor"
    return f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}"


def format_shape(shape: Sequence[int]) -> str:
    shape = tuple(int(s) for s in shape)
    return "()" if not shape else f"({shape[0]},)" if len(shape) == 1 else str(shape)


def format_number(x: float) -> str:
    if x == 0 or math.isnan(x) or math.isinf(x):
        return str(x)
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.3g}"


def is_placeholder(value: Any) -> bool:
    return value is Ellipsis


# ---------------------------------------------------------------------------------------------
# Comparisons: each raises WrongAnswer with one sentence, or returns quietly
# ---------------------------------------------------------------------------------------------


def _format_element(value: Any) -> str:
    """One element of a tensor, as a learner would write it: 2, 2.5, True, nan."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, complex):
        return str(value)
    return format_number(float(value))


def _one_difference(got: torch.Tensor, want: torch.Tensor, wrong: torch.Tensor) -> str:
    """'at index [1, 0] expected 2, got 2.5': the first element (in reading order) where they differ."""
    index = tuple(int(i) for i in wrong.nonzero()[0].tolist()) if wrong.ndim else ()
    where = f"at index {list(index)} " if index else ""
    return f"{where}expected {_format_element(want[index].item())}, got {_format_element(got[index].item())}"


def compare_tensor(
    answer: Any,
    expected: torch.Tensor,
    *,
    check_dtype: bool = True,
    device: torch.device | str | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    what: str = "your answer",
    show_expected: bool = True,
) -> None:
    """Compare ``answer`` with ``expected``: type, then shape, dtype, device, then values.

    When values differ the sentence says how many, by how much, and shows one differing element
    (its index, the expected value and the answer's). ``show_expected=False`` leaves the expected
    value out, for a question whose answer would be given away by it.
    """
    if is_placeholder(answer):
        raise NotAttempted()
    if not isinstance(answer, torch.Tensor):
        hint = " (wrap it with torch.tensor(...))" if isinstance(answer, (list, tuple, numbers.Number)) else ""
        raise WrongAnswer(f"{what} should be a torch.Tensor, but it is {describe_type(answer)}{hint}.")
    if tuple(answer.shape) != tuple(expected.shape):
        raise WrongAnswer(
            f"{what} should have shape {format_shape(expected.shape)}, but it has shape "
            f"{format_shape(answer.shape)}."
        )
    if check_dtype and answer.dtype != expected.dtype:
        raise WrongAnswer(f"{what} should have dtype {expected.dtype}, but it has dtype {answer.dtype}.")
    if device is not None and answer.device.type != torch.device(device).type:
        raise WrongAnswer(
            f"{what} should be on the device '{torch.device(device).type}', but it is on "
            f"'{answer.device.type}' (move it with .to(device))."
        )
    got = answer.detach().cpu()
    want = expected.detach().cpu()
    right_so_far = (
        "has the right shape and dtype"
        if got.dtype == want.dtype
        else f"has the right shape (its dtype is {got.dtype}, the expected one's {want.dtype})"
    )
    exact = want.dtype == torch.bool or not (want.is_floating_point() or want.is_complex())
    if exact and not (got.is_floating_point() or got.is_complex()):
        # integers (and bools) compared exactly as int64: never cast the answer to the expected dtype
        # (an int64 256 cast to uint8 would wrap to 0 and "equal" it)
        wrong = got.to(torch.int64) != want.to(torch.int64) if got.dtype != want.dtype else got != want
        by = ""
    else:
        got64 = got.to(torch.complex128 if got.is_complex() or want.is_complex() else torch.float64)
        want64 = want.to(got64.dtype)
        if exact:
            wrong = got64 != want64
            by = ""
        else:
            wrong = ~torch.isclose(got64, want64, rtol=rtol, atol=atol, equal_nan=True)
            diff = (got64 - want64).abs()
            diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
            worst = float(diff[wrong].max()) if bool(wrong.any()) else 0.0
            by = f", by up to {format_number(worst)} (tolerance {format_number(atol)})"
    n_bad = int(wrong.sum())
    if n_bad:
        example = _one_difference(got, want, wrong)
        if not show_expected:
            example = example.split("expected ")[0] + "got " + example.split(", got ")[1]
        raise WrongAnswer(f"{what} {right_so_far}, but {n_bad} of {want.numel()} element(s) differ{by}: " f"{example}.")


def compare_number(
    answer: Any,
    expected: float,
    *,
    atol: float = 1e-6,
    rtol: float = 1e-6,
    what: str = "your answer",
    show_expected: bool = False,
) -> None:
    """Compare a plain number; a 0-D tensor holding the number is accepted too.

    ``show_expected`` (used for a function's result on a test case) says which number was expected;
    for a question whose answer is the number itself it is left out.
    """
    if is_placeholder(answer):
        raise NotAttempted()
    if isinstance(answer, torch.Tensor):
        if answer.numel() != 1:
            raise WrongAnswer(
                f"{what} should be a single number, but it is a tensor of shape " f"{format_shape(answer.shape)}."
            )
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        raise WrongAnswer(f"{what} should be a number, but it is {describe_type(answer)}.")
    if not math.isclose(float(answer), float(expected), rel_tol=rtol, abs_tol=atol):
        gap = format_number(abs(float(answer) - float(expected)))
        if show_expected:
            raise WrongAnswer(
                f"{what} gave {format_number(float(answer))}, but "
                f"{format_number(float(expected))} was expected (off by {gap})."
            )
        raise WrongAnswer(f"{what} is {format_number(float(answer))}, which is off by {gap}.")


def _exact_number(value: Any) -> Any:
    """A number as plain Python holds it, exactly: a one-element tensor or a NumPy scalar unwrapped,
    a whole float as an int. Nothing is cast to the other side's dtype (a NumPy float16 would turn
    1572864 into inf and then "equal" an inf answer); inf and nan stay floats and never equal an int."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    elif isinstance(value, numbers.Number) and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def compare_equal(answer: Any, expected: Any, *, what: str = "your answer", show_expected: bool = False) -> None:
    """Exact comparison for ints, strings, tuples (a ``torch.Size`` equals the same tuple).

    ``show_expected`` as in :func:`compare_number`.
    """
    if is_placeholder(answer):
        raise NotAttempted()
    if isinstance(expected, tuple) and isinstance(answer, (list, tuple, torch.Size)):
        answer = tuple(_exact_number(a) for a in answer)
    if isinstance(expected, bool) and not isinstance(answer, bool):
        raise WrongAnswer(f"{what} should be True or False, but it is {describe_type(answer)}.")
    if isinstance(expected, numbers.Integral):
        answer = _exact_number(answer)
    if answer != expected:
        if isinstance(expected, tuple) and isinstance(answer, tuple) and len(answer) != len(expected):
            raise WrongAnswer(f"{what} should have {len(expected)} entries, but it has {len(answer)}.")
        if show_expected:
            raise WrongAnswer(f"{what} gave {answer!r}, but {expected!r} was expected.")
        if isinstance(expected, str):
            raise WrongAnswer(f"{what} {answer!r} is not the right choice.")
        raise WrongAnswer(f"{what} is {answer!r}, which is not right.")


# ---------------------------------------------------------------------------------------------
# Exercises
# ---------------------------------------------------------------------------------------------


@dataclass
class Exercise:
    """One question: what is expected, how an answer is judged, hints and a takeaway, in one place.

    Subclasses implement :meth:`judge`, which raises :class:`WrongAnswer` (or
    :class:`NotAttempted`) and returns quietly for a correct answer. ``takeaway`` is the one line a
    correct answer earns: what the exercise teaches. The reference solution is not stored here: it is
    the solution region of the notebook, which :meth:`solution` reads.
    """

    title: str
    hints: Sequence[str] = field(default_factory=tuple)
    takeaway: str = ""
    _hints_shown: int = field(default=0, init=False, repr=False)
    # "q1": set from the attribute that holds the exercise (tensorlab.exercises.name_exercises)
    name: str = field(default="", kw_only=True)

    @property
    def label(self) -> str:
        return f"Exercise {self.name.lstrip('q')} ({self.title})"

    def judge(self, answer: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate(self, answer: Any) -> Result:
        """Judge ``answer`` and return the verdict; never raises."""
        try:
            self.judge(answer)
        except NotAttempted:
            return Result(self.label, NOT_ATTEMPTED, not_attempted_message(answer))
        except WrongAnswer as wrong:
            message = sentence_case(str(wrong))
            tail = f" (ex.{self.name}.hint() gives a hint.)" if self.hints else ""
            return Result(self.label, FAIL, message + tail)
        except Exception as error:  # a bug in the answer's code must not become a traceback
            return Result(
                self.label, FAIL, f"Checking your answer raised {type(error).__name__}: " f"{one_line(error)}."
            )
        return Result(self.label, PASS, "correct.", takeaway=self.takeaway)

    def check(self, answer: Any) -> None:
        """Print the verdict in one line (the call learners make in a check cell)."""
        print(self.evaluate(answer))

    def hint(self, number: int | None = None) -> None:
        """Print the next hint (or hint ``number``, counting from 1); the last one points to solution()."""
        if not self.hints:
            print(
                f"{self.label}: there are no hints for this one. ex.{self.name}.solution() shows the "
                "reference solution."
            )
            return
        if number is None:
            number = min(self._hints_shown + 1, len(self.hints))
        number = max(1, min(number, len(self.hints)))
        self._hints_shown = max(self._hints_shown, number)
        last = (
            f" (That was the last hint. Still stuck? ex.{self.name}.solution() shows the reference " "solution.)"
            if number == len(self.hints)
            else ""
        )
        print(f"💡 {self.label}, hint {number} of {len(self.hints)}: {self.hints[number - 1]}{last}")

    def solution(self) -> None:
        """Print the reference solution, read from the solution notebook (see :func:`reference_solution`)."""
        print(reference_solution(self))


def reference_solution(exercise: Exercise) -> str:
    """The reference solution of ``exercise``, headed by where it comes from, or a sentence saying why not.

    There is one source: the answer cells of ``solutions/NN_*.ipynb`` (hidden tests left out), read
    with the student-copy generator's own parser (``tensorlab.authoring.reference_solution``). The
    course repository must be there: a clone (``make lab``, Colab's setup cell, Binder). The grader
    never calls this, and its sandbox hides solutions/.
    """
    home = _home_of(exercise)
    if home is None:
        return (
            f"{exercise.label}: no reference solution, since this exercise is not defined in a course "
            "notebook's exercise module (tensorlab.exercises.chNN)."
        )
    number, name = home
    from tensorlab import authoring  # nbformat is needed only here

    paths = sorted(authoring.SOLUTIONS_DIR.glob(f"{number}_*.ipynb"))
    if not paths:
        return (
            f"{exercise.label}: the reference solution is in solutions/{number}_....ipynb of the course "
            f"repository, which is not here ({authoring.SOLUTIONS_DIR} does not hold it)."
        )
    try:
        code = authoring.reference_solution(paths[0], name)
    except Exception as error:  # a damaged or edited solution notebook: a sentence, not a traceback
        return f"{exercise.label}: the reference solution could not be read: {one_line(error)}."
    where = (
        paths[0].relative_to(authoring.REPO_ROOT).as_posix()
        if paths[0].is_relative_to(authoring.REPO_ROOT)
        else paths[0].name
    )
    return f"📖 {exercise.label}, the reference solution (from {where}):\n\n{code}"


def _home_of(exercise: Exercise) -> tuple[str, str] | None:
    """(notebook number "NN", attribute name) of the exercise module that defines ``exercise``."""
    for module_name, module in list(sys.modules.items()):
        found = re.fullmatch(r"tensorlab\.exercises\.ch(\d\d)", module_name)
        if found and module is not None:
            for attribute, value in vars(module).items():
                if value is exercise:
                    return found.group(1), attribute
    return None


def not_attempted_message(answer: Any) -> str:
    """What to replace, in the words of the student copy's placeholder (tensorlab.authoring)."""
    if callable(answer):  # a function whose body is still ``raise NotImplementedError``
        return "not attempted yet: replace the line raise NotImplementedError(...) in your function " "with your code."
    return "not attempted yet: replace the ... placeholder with your answer."


def sentence_case(message: str) -> str:
    """Capitalise a message's first letter, unless it starts with a function's name: to_chw(...)."""
    if not message or re.match(r"[A-Za-z_]\w*\(", message):
        return message
    return message[0].upper() + message[1:]


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0][:200] if text else "no message").rstrip(".")


def _resolve(value_or_factory: Any) -> Any:
    return value_or_factory() if callable(value_or_factory) else value_or_factory


@dataclass
class TensorExercise(Exercise):
    """The answer is a tensor compared with ``expected`` (a tensor, or a function returning one)."""

    expected: Any = None
    check_dtype: bool = True
    device: Any = None  # e.g. a callable returning the notebook's device, or None for "any"
    atol: float = 1e-6
    rtol: float = 1e-5
    show_expected: bool = True  # a wrong element's expected value in the message (one element)

    def judge(self, answer: Any) -> None:
        compare_tensor(
            answer,
            _resolve(self.expected),
            check_dtype=self.check_dtype,
            device=_resolve(self.device),
            atol=self.atol,
            rtol=self.rtol,
            show_expected=self.show_expected,
        )


@dataclass
class NumberExercise(Exercise):
    expected: Any = None
    atol: float = 1e-6
    rtol: float = 1e-6

    def judge(self, answer: Any) -> None:
        compare_number(answer, _resolve(self.expected), atol=self.atol, rtol=self.rtol)


@dataclass
class ValueExercise(Exercise):
    """Exact answers: an int, a shape tuple, a string, True/False."""

    expected: Any = None

    def judge(self, answer: Any) -> None:
        compare_equal(answer, _resolve(self.expected))


@dataclass
class ChoiceExercise(Exercise):
    """Multiple choice: the answer is one of ``choices`` (letters or words, case-insensitive)."""

    choices: Sequence[str] = ()
    expected: str = ""

    def judge(self, answer: Any) -> None:
        if is_placeholder(answer):
            raise NotAttempted()
        if not isinstance(answer, str):
            raise WrongAnswer(
                f"your answer should be one of {list(self.choices)} (a string), but it " f"is {describe_type(answer)}."
            )
        if answer.strip().lower() not in [c.lower() for c in self.choices]:
            raise WrongAnswer(f"{answer!r} is not one of the choices {list(self.choices)}.")
        if answer.strip().lower() != self.expected.lower():
            raise WrongAnswer(f"{answer!r} is not the right choice.")


@dataclass
class FunctionExercise(Exercise):
    """The answer is a function; it is called on ``cases`` and compared with ``reference``.

    ``cases`` is a callable returning a list of argument tuples (fresh each time, so an answer
    that modifies its input in place cannot spoil the next case). Each result goes through
    ``compare`` (``compare_tensor`` by default).
    """

    reference: Callable[..., Any] | None = None
    cases: Callable[[], Iterable[tuple]] | None = None
    compare: Callable[..., None] = compare_tensor
    compare_options: dict = field(default_factory=dict)

    def judge(self, answer: Any) -> None:
        if is_placeholder(answer):
            raise NotAttempted()
        if not callable(answer):
            raise WrongAnswer(f"your answer should be a function, but it is {describe_type(answer)}.")
        name = getattr(answer, "__name__", "your function")
        for args in self.cases():
            shown = ", ".join(_short_repr(a) for a in args)
            try:
                got = answer(*copy.deepcopy(args))
            except NotImplementedError:
                raise NotAttempted() from None
            except Exception as error:
                raise WrongAnswer(f"{name}({shown}) raised {type(error).__name__}: {one_line(error)}") from None
            if got is None or got is Ellipsis:
                raise (
                    NotAttempted()
                    if got is Ellipsis
                    else WrongAnswer(f"{name}({shown}) returned None; did you forget the return statement?")
                )
            want = self.reference(*copy.deepcopy(args))
            options = dict(self.compare_options)
            if "show_expected" in inspect.signature(self.compare).parameters:
                options.setdefault("show_expected", True)  # a test case's expected result gives nothing away
            try:
                self.compare(got, want, what=f"{name}({shown})", **options)
            except NotAttempted:
                raise WrongAnswer(f"{name}({shown}) returned the placeholder ...") from None


def _round(value: Any) -> Any:
    if isinstance(value, list):
        return [_round(v) for v in value]
    return round(value, 4) if isinstance(value, float) else value


def _short_repr(value: Any) -> str:
    """An argument of a test case, short enough for one sentence: small tensors in full, with their dtype.

    ``tensor([0, 2, 1])``, ``tensor([[0.5, 1.0], [2.0, 3.0]], float64)``, ``<tensor (4, 5, 3) uint8>``,
    ``<tensor (2, 4) float32 on meta>`` (a tensor off the CPU says where it is; a meta tensor has no values).
    """
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        plain = value.dtype in (torch.float32, torch.int64, torch.bool)  # what torch.tensor([...]) makes
        if value.numel() <= 6 and value.ndim <= 2 and not value.is_meta:
            values = _round(value.detach().cpu().tolist())
            return f"tensor({values})" if plain else f"tensor({values}, {dtype})"
        where = "" if value.device.type == "cpu" else f" on {value.device.type}"  # meta, cuda ...
        return f"<tensor {format_shape(value.shape)} {dtype}{where}>"
    if isinstance(value, torch.dtype):
        return str(value)
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


# ---------------------------------------------------------------------------------------------
# Open-ended questions: a discussion to read, not a check
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discussion:
    """One open-ended question ("what happens if you call backward() twice?") and its discussion.

    ``question`` repeats the question in a few words, ``text`` discusses it (paragraphs separated by
    a blank line). Nothing is judged: the learner thinks, tries things, then reads.
    """

    question: str
    text: str


class Discussions:
    """A notebook's open-ended questions, numbered from 1: ``ex.discuss(1)`` prints the first discussion.

    An exercise module defines ``discuss = Discussions(Discussion(...), ...)``; the notebook asks the
    question in a markdown cell and puts ``ex.discuss(N)`` in a code cell of its own below it. The
    student copy keeps that cell without its output, so the discussion stays hidden until the
    learner runs it. It is not an exercise: no check, no grade.
    """

    def __init__(self, *discussions: Discussion) -> None:
        self.discussions = tuple(discussions)

    def __len__(self) -> int:
        return len(self.discussions)

    def text(self, number: int) -> str:
        """What ``ex.discuss(number)`` prints (a sentence, never an error, for a number that is not there)."""
        if isinstance(number, bool) or not isinstance(number, numbers.Integral) or not 1 <= number <= len(self):
            have = f"1 to {len(self)}" if len(self) > 1 else "1" if len(self) == 1 else "none yet"
            return f"There is no open question {number!r} in this notebook (its questions: {have})."
        discussion = self.discussions[int(number) - 1]
        paragraphs = [textwrap.fill(" ".join(p.split()), width=100) for p in discussion.text.split("\n\n")]
        return f"💬 Question {int(number)}: {discussion.question}\n\n" + "\n\n".join(paragraphs)

    def __call__(self, number: int) -> None:
        print(self.text(number))
