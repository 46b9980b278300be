"""The check machinery: each kind of wrong answer gets its one sentence, never a traceback."""

from __future__ import annotations

import pytest
import torch

from tensorlab.checking import (
    FAIL,
    NOT_ATTEMPTED,
    PASS,
    ChoiceExercise,
    FunctionExercise,
    NumberExercise,
    TensorExercise,
    ValueExercise,
)

vector = TensorExercise(
    "a vector", name="q1", expected=lambda: torch.tensor([1.0, 2.0, 3.0]), hints=("first", "second")
)


def verdict(exercise, answer):
    result = exercise.evaluate(answer)
    return result.status, result.message


def test_correct_answer_passes():
    assert verdict(vector, torch.tensor([1.0, 2.0, 3.0])) == (PASS, "correct.")


def test_placeholder_is_not_attempted():
    status, message = verdict(vector, ...)
    assert status == NOT_ATTEMPTED and "not attempted yet" in message


@pytest.mark.parametrize(
    "answer, expected_words",
    [
        ([1.0, 2.0, 3.0], "should be a torch.Tensor, but it is a list (wrap it with torch.tensor(...))"),
        (torch.tensor([[1.0, 2.0, 3.0]]), "should have shape (3,), but it has shape (1, 3)"),
        (torch.tensor([1, 2, 3]), "should have dtype torch.float32, but it has dtype torch.int64"),
        (torch.tensor([1.0, 2.5, 3.0]), "1 of 3 element(s) differ, by up to 0.5"),
        (torch.tensor([1.0, float("nan"), 3.0]), "1 of 3 element(s) differ, by up to inf"),
        (None, "it is None"),
    ],
)
def test_wrong_tensor_answers_get_one_sentence(answer, expected_words):
    status, message = verdict(vector, answer)
    assert status == FAIL
    assert expected_words in message
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith("(ex.q1.hint() gives a hint.)")


def test_device_is_checked_when_asked():
    on_meta = TensorExercise("on a device", name="q9", expected=lambda: torch.zeros(2), device="meta")
    status, message = verdict(on_meta, torch.zeros(2))
    assert status == FAIL and "should be on the device 'meta', but it is on 'cpu'" in message


def test_tolerance_is_respected():
    loose = TensorExercise("loose", name="q2", expected=lambda: torch.tensor([1.0]), atol=0.1)
    assert loose.evaluate(torch.tensor([1.05])).passed
    assert not loose.evaluate(torch.tensor([1.2])).passed


def test_numbers_accept_zero_d_tensors_and_report_the_gap():
    number = NumberExercise("a number", name="q3", expected=2.5)
    assert number.evaluate(2.5).passed and number.evaluate(torch.tensor(2.5)).passed
    status, message = verdict(number, 3.0)
    assert status == FAIL and "off by 0.5" in message
    assert "should be a number, but it is a str" in verdict(number, "2.5")[1]
    assert "should be a single number" in verdict(number, torch.ones(2))[1]


def test_values_compare_shapes_and_ints():
    shape = ValueExercise("a shape", name="q4", expected=(3, 2))
    assert shape.evaluate(torch.Size([3, 2])).passed and shape.evaluate([3, 2]).passed
    assert "should have 2 entries, but it has 3" in verdict(shape, (3, 2, 1))[1]
    count = ValueExercise("a count", name="q5", expected=12)
    assert count.evaluate(12).passed and count.evaluate(12.0).passed and count.evaluate(torch.tensor(12)).passed
    assert "is 13, which is not right" in verdict(count, 13)[1]
    flag = ValueExercise("a flag", name="q6", expected=True)
    assert "should be True or False" in verdict(flag, "yes")[1]


def test_choices():
    choice = ChoiceExercise("a choice", name="q7", choices=("a", "b"), expected="b")
    assert choice.evaluate("B").passed
    assert "is not one of the choices" in verdict(choice, "c")[1]
    assert "is not the right choice" in verdict(choice, "a")[1]


double = FunctionExercise(
    "double", name="q8", reference=lambda t: 2 * t, cases=lambda: [(torch.tensor([1.0, 2.0]),), (torch.ones(2, 3),)]
)


def test_function_answers():
    assert double.evaluate(lambda t: t * 2).passed
    assert verdict(double, ...)[0] == NOT_ATTEMPTED

    def not_yet(t):
        raise NotImplementedError("your code here")

    assert verdict(double, not_yet)[0] == NOT_ATTEMPTED

    def forgot_return(t):
        t * 2

    assert "returned None; did you forget the return statement?" in verdict(double, forgot_return)[1]

    def crashes(t):
        return t @ torch.ones(7)

    status, message = verdict(double, crashes)
    assert status == FAIL and "raised RuntimeError" in message and "\n" not in message
    assert "should be a function" in verdict(double, torch.ones(2))[1]
    assert "should have shape (2, 3), but it has shape (3,)" in verdict(double, lambda t: (2 * t).flatten()[:3])[1]


def test_function_answers_cannot_spoil_the_cases_by_editing_in_place():
    def doubles_in_place(t):
        return t.mul_(2)

    assert double.evaluate(doubles_in_place).passed


def test_hints_come_one_after_another(capsys):
    exercise = TensorExercise("hinted", name="q1", expected=lambda: torch.zeros(1), hints=("one", "two"))
    exercise.hint()
    exercise.hint()
    exercise.hint()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["one", "two", "two"]
    assert "hint 2 of 2" in lines[1]


def test_check_prints_exactly_one_line(capsys):
    vector.check(torch.zeros(5))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("❌ Exercise 1 (a vector): ")
