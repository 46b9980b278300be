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
import math
import numbers
import re
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

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __str__(self) -> str:
        return f"{ICONS[self.status]} {self.exercise}: {self.message}"


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


def compare_tensor(
    answer: Any,
    expected: torch.Tensor,
    *,
    check_dtype: bool = True,
    device: torch.device | str | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    what: str = "your answer",
) -> None:
    """Compare ``answer`` with ``expected``: type, then shape, dtype, device, then values."""
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
    if want.dtype == torch.bool or not (want.is_floating_point() or want.is_complex()):
        if got.dtype != want.dtype:  # compare the values exactly; never cast the answer to the expected dtype
            got, want = got.to(torch.complex128 if got.is_complex() else torch.float64), want.to(torch.float64)
        mismatched = got != want
        n_bad = int(mismatched.sum())
        if n_bad:
            raise WrongAnswer(
                f"the values are off: {n_bad} of {want.numel()} element(s) differ"
                + (f" (expected {want.tolist()}, got {got.tolist()})." if want.numel() <= 6 else ".")
            )
        return
    got64, want64 = got.to(torch.float64), want.to(torch.float64)
    close = torch.isclose(got64, want64, rtol=rtol, atol=atol, equal_nan=True)
    if not bool(close.all()):
        n_bad = int((~close).sum())
        diff = (got64 - want64).abs()
        diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
        worst = float(diff[~close].max())
        detail = (
            f" (expected {[round(v, 4) for v in want64.flatten().tolist()]}, got "
            f"{[round(v, 4) for v in got64.flatten().tolist()]})"
            if want.numel() <= 6
            else ""
        )
        raise WrongAnswer(
            f"the values are off: {n_bad} of {want.numel()} element(s) differ, by up to "
            f"{format_number(worst)} (tolerance {format_number(atol)}){detail}."
        )


def compare_number(
    answer: Any, expected: float, *, atol: float = 1e-6, rtol: float = 1e-6, what: str = "your answer"
) -> None:
    """Compare a plain number; a 0-D tensor holding the number is accepted too."""
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
        raise WrongAnswer(
            f"{what} is {format_number(float(answer))}, which is off by "
            f"{format_number(abs(float(answer) - float(expected)))}."
        )


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


def compare_equal(answer: Any, expected: Any, *, what: str = "your answer") -> None:
    """Exact comparison for ints, strings, tuples (a ``torch.Size`` equals the same tuple)."""
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
        if isinstance(expected, str):
            raise WrongAnswer(f"{what} {answer!r} is not the right choice.")
        raise WrongAnswer(f"{what} is {answer!r}, which is not right.")


# ---------------------------------------------------------------------------------------------
# Exercises
# ---------------------------------------------------------------------------------------------


@dataclass
class Exercise:
    """One question: what is expected, how an answer is judged, and hints, in one place.

    Subclasses implement :meth:`judge`, which raises :class:`WrongAnswer` (or
    :class:`NotAttempted`) and returns quietly for a correct answer.
    """

    title: str
    hints: Sequence[str] = field(default_factory=tuple)
    # "q1": set from the attribute that holds the exercise (tensorlab.exercises.name_exercises)
    name: str = field(default="", kw_only=True)
    _hints_shown: int = field(default=0, init=False, repr=False)

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
            return Result(self.label, NOT_ATTEMPTED, "not attempted yet: replace the ... placeholder with your answer.")
        except WrongAnswer as wrong:
            message = sentence_case(str(wrong))
            tail = f" (ex.{self.name}.hint() gives a hint.)" if self.hints else ""
            return Result(self.label, FAIL, message + tail)
        except Exception as error:  # a bug in the answer's code must not become a traceback
            return Result(
                self.label, FAIL, f"Checking your answer raised {type(error).__name__}: " f"{one_line(error)}."
            )
        return Result(self.label, PASS, "correct.")

    def check(self, answer: Any) -> None:
        """Print the verdict in one line (the call learners make in a check cell)."""
        print(self.evaluate(answer))

    def hint(self, number: int | None = None) -> None:
        """Print the next hint (or hint ``number``, counting from 1)."""
        if not self.hints:
            print(f"{self.label}: there are no hints for this one.")
            return
        if number is None:
            number = min(self._hints_shown + 1, len(self.hints))
        number = max(1, min(number, len(self.hints)))
        self._hints_shown = max(self._hints_shown, number)
        print(f"💡 {self.label}, hint {number} of {len(self.hints)}: {self.hints[number - 1]}")


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

    def judge(self, answer: Any) -> None:
        compare_tensor(
            answer,
            _resolve(self.expected),
            check_dtype=self.check_dtype,
            device=_resolve(self.device),
            atol=self.atol,
            rtol=self.rtol,
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
            try:
                self.compare(got, want, what=f"{name}({shown})", **self.compare_options)
            except NotAttempted:
                raise WrongAnswer(f"{name}({shown}) returned the placeholder ...") from None


def _short_repr(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() <= 4:
            return (
                f"tensor({[round(v, 4) if isinstance(v, float) else v for v in value.flatten().tolist()]})"
                if value.ndim <= 1
                else f"<tensor of shape {format_shape(value.shape)}>"
            )
        return f"<tensor of shape {format_shape(value.shape)}>"
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."
