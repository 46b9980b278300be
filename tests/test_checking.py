"""The check machinery: each kind of wrong answer gets its one sentence, never a traceback."""

from __future__ import annotations

import pytest
import torch

from tensorlab.checking import (
    FAIL,
    NOT_ATTEMPTED,
    PASS,
    ChoiceExercise,
    Discussion,
    Discussions,
    FunctionExercise,
    NumberExercise,
    TensorExercise,
    ValueExercise,
    compare_equal,
    compare_number,
)

vector = TensorExercise(
    "a vector", name="q1", expected=lambda: torch.tensor([1.0, 2.0, 3.0]), hints=("first", "second")
)


def verdict(exercise, answer):
    result = exercise.evaluate(answer)
    return result.status, result.message


def test_correct_answer_passes():
    assert verdict(vector, torch.tensor([1.0, 2.0, 3.0])) == (PASS, "correct.")


def test_a_correct_answer_prints_its_takeaway_in_the_same_line(capsys):
    taught = TensorExercise(
        "a vector",
        name="q1",
        expected=lambda: torch.zeros(2),
        takeaway="torch.zeros(n) is a (n,) float32 tensor of zeros.",
    )
    taught.check(torch.zeros(2))
    assert capsys.readouterr().out == (
        "✅ Exercise 1 (a vector): correct. Takeaway: torch.zeros(n) is a (n,) " "float32 tensor of zeros.\n"
    )
    result = taught.evaluate(torch.zeros(2))
    assert result.message == "correct." and result.takeaway  # the grader's feedback keeps "correct."
    taught.check(torch.ones(2))  # a wrong answer gets no takeaway
    assert "Takeaway" not in capsys.readouterr().out


def test_placeholder_is_not_attempted_and_the_message_names_the_placeholder():
    status, message = verdict(vector, ...)
    assert status == NOT_ATTEMPTED and message == "not attempted yet: replace the ... placeholder with your answer."

    def untouched(t):  # what the student copy's function placeholder does
        raise NotImplementedError("your code here")

    status, message = verdict(double, untouched)
    assert status == NOT_ATTEMPTED
    assert message == (
        "not attempted yet: replace the line raise NotImplementedError(...) in your function " "with your code."
    )


@pytest.mark.parametrize(
    "answer, expected_words",
    [
        ([1.0, 2.0, 3.0], "should be a torch.Tensor, but it is a list (wrap it with torch.tensor(...))"),
        (torch.tensor([[1.0, 2.0, 3.0]]), "should have shape (3,), but it has shape (1, 3)"),
        (torch.tensor([1, 2, 3]), "should have dtype torch.float32, but it has dtype torch.int64"),
        (
            torch.tensor([1.0, 2.5, 3.0]),
            "has the right shape and dtype, but 1 of 3 element(s) differ, by up to 0.5 "
            "(tolerance 1e-06): at index [1] expected 2, got 2.5.",
        ),
        (
            torch.tensor([1.0, float("nan"), 3.0]),
            "1 of 3 element(s) differ, by up to inf (tolerance 1e-06): " "at index [1] expected 2, got nan.",
        ),
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
    last = " (That was the last hint. Still stuck? ex.q1.solution() shows the reference solution.)"
    assert [line.split(": ", 1)[1] for line in lines] == ["one", "two" + last, "two" + last]
    assert "hint 2 of 2" in lines[1]


def test_check_prints_exactly_one_line(capsys):
    vector.check(torch.zeros(5))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("❌ Exercise 1 (a vector): ")


# ---- messages that name the call and show one differing case -------------------------------------


def test_a_function_with_wrong_values_gets_the_call_and_one_differing_element():
    def doubled(t):
        return t + 1

    status, message = verdict(double, doubled)
    assert status == FAIL
    assert message.startswith(
        "doubled(tensor([1.0, 2.0])) has the right shape and dtype, but 1 of 2 element(s) "
        "differ, by up to 1 (tolerance 1e-06): at index [1] expected 4, got 3."
    ), message


def test_the_inputs_of_a_case_show_their_dtype_and_large_ones_their_shape():
    exercise = FunctionExercise(
        "to float",
        name="q1",
        reference=lambda t: t.float(),
        cases=lambda: [
            (torch.arange(24, dtype=torch.uint8).reshape(2, 3, 4),),
            (torch.tensor([1, 2], dtype=torch.int32),),
        ],
    )
    assert (
        "to_float_wrongly(<tensor (2, 3, 4) uint8>) should have dtype torch.float32, but it has dtype "
        "torch.uint8." in verdict(exercise, lambda_named("to_float_wrongly", lambda t: t))[1]
    )
    small = FunctionExercise(
        "small", name="q2", reference=lambda t: t.double(), cases=lambda: [(torch.tensor([1, 2], dtype=torch.int32),)]
    )
    assert verdict(small, lambda_named("f", lambda t: t.float()))[1].startswith(
        "f(tensor([1, 2], int32)) should have dtype torch.float64, but it has dtype torch.float32."
    )


def lambda_named(name, function):
    function.__name__ = name
    return function


def test_when_the_dtype_is_free_a_wrong_value_message_shows_both_dtypes():
    loose = TensorExercise(
        "any float", name="q3", expected=lambda: torch.tensor([1.0, 2.0], dtype=torch.float64), check_dtype=False
    )
    assert loose.evaluate(torch.tensor([1.0, 2.0])).passed
    status, message = verdict(loose, torch.tensor([1.0, 3.0]))
    assert (
        status == FAIL
        and (
            "has the right shape (its dtype is torch.float32, the expected one's "
            "torch.float64), but 1 of 2 element(s) differ"
        )
        in message
    ), message


def test_integer_and_bool_values_are_compared_exactly_with_one_example():
    counts = TensorExercise("counts", name="q4", expected=lambda: torch.tensor([[1, 2], [3, 4]]))
    assert verdict(counts, torch.tensor([[1, 2], [3, 5]]))[1].startswith(
        "Your answer has the right shape and dtype, but 1 of 4 element(s) differ: at index [1, 1] expected 4, got 5."
    )
    mask = TensorExercise("mask", name="q5", expected=lambda: torch.tensor([True, False]))
    assert "at index [1] expected False, got True" in verdict(mask, torch.tensor([True, True]))[1]
    scalar = TensorExercise("a 0-D tensor", name="q6", expected=lambda: torch.tensor(0.75))
    assert (
        "1 of 1 element(s) differ, by up to 0.25 (tolerance 1e-06): expected 0.75, got 0.5."
        in verdict(scalar, torch.tensor(0.5))[1]
    )


def test_a_tensor_exercise_can_keep_its_expected_values_to_itself():
    secret = TensorExercise("secret", name="q7", expected=lambda: torch.tensor([1.0, 2.0]), show_expected=False)
    message = verdict(secret, torch.tensor([1.0, 5.0]))[1]
    assert "at index [1] got 5" in message and "expected 2" not in message, message


def test_numbers_and_exact_values_from_a_function_show_the_expected_result_but_a_plain_answer_does_not():
    counted = FunctionExercise(
        "count", name="q8", reference=lambda n: 2 * n, cases=lambda: [(3,)], compare=compare_equal
    )
    assert verdict(counted, lambda_named("twice", lambda n: n + 2))[1].startswith(
        "twice(3) gave 5, but 6 was expected."
    )
    measured = FunctionExercise(
        "half", name="q9", reference=lambda x: x / 2, cases=lambda: [(3.0,)], compare=compare_number
    )
    assert verdict(measured, lambda_named("half", lambda x: x / 3))[1].startswith(
        "half(3.0) gave 1, but 1.5 was expected (off by 0.5)."
    )
    assert "1.5" not in verdict(NumberExercise("a number", name="q3", expected=1.5), 1.0)[1]
    assert "6" not in verdict(ValueExercise("a count", name="q5", expected=6), 5)[1]


# ---- solution(): the reference solution, read from the solution notebook ---------------------------


def test_solution_prints_the_reference_from_the_solution_notebook_without_hidden_tests(capsys):
    from tensorlab.exercises import ch02

    ch02.q4.solution()
    out = capsys.readouterr().out
    assert out.startswith(
        "📖 Exercise 4 (one gradient-descent step on w3), the reference solution "
        "(from solutions/02_single_dose_network.ipynb):\n\n"
    )
    assert 'new_w3 = p["w3"] - 0.1 * d_ssr_d_w3.item()' in out and "y1_start = " in out
    assert "###" not in out and "evaluate(" not in out and "YOUR CODE HERE" not in out


def test_solution_without_the_repository_says_where_it_is_instead_of_failing(tmp_path, monkeypatch, capsys):
    from tensorlab import authoring
    from tensorlab.exercises import ch01

    monkeypatch.setattr(authoring, "SOLUTIONS_DIR", tmp_path)  # e.g. the grader's sandbox hides solutions/
    ch01.q1.solution()
    out = capsys.readouterr().out
    assert out.startswith("Exercise 1 (a dose as a 0-D tensor): the reference solution is in solutions/01_")
    assert "Traceback" not in out


def test_an_exercise_outside_the_course_modules_has_no_solution_to_show(capsys):
    vector.solution()
    assert "no reference solution" in capsys.readouterr().out


def test_checking_never_reads_the_solution(monkeypatch):
    """The grader judges with evaluate(); nothing on that path may show the reference solution."""
    from tensorlab import authoring
    from tensorlab.exercises import ch02

    def refuse(*args, **kwargs):
        raise AssertionError("evaluate() read the reference solution")

    monkeypatch.setattr(authoring, "reference_solution", refuse)
    for answer in (..., 0.0, "x", ch02.q4.expected()):
        ch02.q4.evaluate(answer)
    for number in (1, 2):
        ch02.q4.hint(number)


# ---- open-ended questions: a discussion, not a check -----------------------------------------------


def test_discuss_prints_the_question_and_its_discussion(capsys):
    discuss = Discussions(
        Discussion(
            "What happens if you call backward() twice?",
            "It fails: autograd frees the graph after the first call.\n\n"
            "With retain_graph=True it works, and the gradients add up.",
        ),
    )
    discuss(1)
    assert capsys.readouterr().out == (
        "💬 Question 1: What happens if you call backward() twice?\n\n"
        "It fails: autograd frees the graph after the first call.\n\n"
        "With retain_graph=True it works, and the gradients add up.\n"
    )
    for wrong in (0, 2, "1", True):
        discuss(wrong)
        out = capsys.readouterr().out
        assert out.startswith(f"There is no open question {wrong!r} in this notebook (its questions: 1).")
    Discussions()(1)
    assert "(its questions: none yet)" in capsys.readouterr().out


def test_integers_are_compared_exactly_never_cast_to_the_other_side():
    import numpy as np

    count = ValueExercise("a count", name="q5", expected=1572864)
    with np.errstate(over="ignore"):
        overflowed = np.float16(1572864)  # float16 overflows to inf: not the count
    assert verdict(count, overflowed)[0] == FAIL
    assert verdict(count, np.float64(1572864))[0] == PASS  # the same whole number, exactly
    assert verdict(count, torch.tensor(1572864))[0] == PASS
    pixels = TensorExercise(
        "pixels", name="q6", expected=lambda: torch.tensor([0, 1], dtype=torch.uint8), check_dtype=False
    )
    assert verdict(pixels, torch.tensor([256, 1]))[0] == FAIL  # 256 would wrap to 0 if cast to uint8
    assert verdict(pixels, torch.tensor([0, 1]))[0] == PASS
