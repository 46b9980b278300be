"""Notebook 06's exercise checks: each passes a right answer and fails known-wrong ones, in one sentence."""

from __future__ import annotations

import pytest
import torch

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.exercises import ch06, exercises_of


def predict_on(net, X, device):
    net.to(device)
    return net(X.to(device))


def only_the_data(net, X, device):
    return net(X.to(device))


def only_the_result(net, X, device):
    return net(X).to(device)


def only_the_model(net, X, device):
    return net.to(device)(X)


def back_to_the_cpu(net, X, device):
    return net.to(device)(X.to(device)).cpu()


def forgot_return(net, X, device):
    net.to(device)(X.to(device))


def transposed(net, X, device):
    return net.to(device)(X.to(device)).T


def doubled(net, X, device):
    return 2 * net.to(device)(X.to(device))


def not_yet(net, X, device):
    raise NotImplementedError("your code here")  # what the student notebook's placeholder does


BATCH_BYTES = 64 * 3 * 224 * 224 * 4


@pytest.mark.parametrize("exercise, right, wrong, words", [
    (ch06.q1, lambda m, k, n: 2 * m * k * n, lambda m, k, n: m * k * n, "(2, 3, 4) gave 24, but 48 was expected"),
    (ch06.q1, lambda m, k, n: 2 * m * k * n, lambda m, k, n: 2 * m * n, "(2, 3, 4) gave 16, but 48 was expected"),
    (ch06.q1, lambda m, k, n: 2 * m * k * n, lambda m, k, n: None, "returned None"),
    (ch06.q2, 2 * 1024**3 / 0.020 / 1e9, 1024**3 / 0.020 / 1e9, "is 53.69, which is off by 53.69"),
    (ch06.q2, 2 * 1024**3 / 0.020 / 1e9, 2 * 1024**3 / 0.020, "off by"),
    (ch06.q2, 2 * 1024**3 / 0.020 / 1e9, "107", "should be a number"),
    (ch06.q3, predict_on, only_the_data, "RuntimeError: Tensor on device cpu is not on the expected device "
                                         "meta (are the model and the data on the same device?)"),
    (ch06.q3, predict_on, only_the_result, "left the model's parameters on the CPU"),
    (ch06.q3, predict_on, only_the_model, "are the model and the data on the same device?"),
    (ch06.q3, predict_on, back_to_the_cpu, "tried to copy the result back to the CPU"),
    (ch06.q3, predict_on, forgot_return, "returned None; did you forget the return statement?"),
    (ch06.q3, predict_on, transposed, "should have shape (5, 3), but it has shape (3, 5)"),
    (ch06.q3, predict_on, doubled, "15 of 15 element(s) differ"),
    (ch06.q3, predict_on, 42, "should be a function"),
    (ch06.q4, "b", "a", "'a' is not the right choice"),
    (ch06.q4, "B", "c", "'c' is not the right choice"),
    (ch06.q4, "b", "d", "not one of the choices"),
    (ch06.q5, BATCH_BYTES, BATCH_BYTES // 4, "is 9633792, which is not right"),
    (ch06.q5, BATCH_BYTES, BATCH_BYTES * 8, "which is not right"),
    (ch06.q6, BATCH_BYTES / 25e9 * 1e3, BATCH_BYTES / 25e9, "is 0.001541, which is off by 1.54"),
    (ch06.q6, BATCH_BYTES / 25e9 * 1e3, BATCH_BYTES / 25 * 1e3, "off by"),
])
def test_ch06_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_ch06_placeholders_and_a_stub_function_are_not_attempted():
    for name, exercise in exercises_of(ch06).items():
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name
        assert exercise.hints, name
    assert ch06.q3.evaluate(not_yet).status == NOT_ATTEMPTED


def test_ch06_has_six_exercises_in_order():
    assert list(exercises_of(ch06)) == ["q1", "q2", "q3", "q4", "q5", "q6"]


def test_q3_does_not_change_the_cases_it_is_given():
    # Each case is deep-copied before the answer runs, so an answer that moves the model in place
    # cannot spoil the reference or the next case.
    first = ch06._linear_cases()
    ch06.q3.evaluate(predict_on)
    again = ch06._linear_cases()
    for (net_a, X_a, dev_a), (net_b, X_b, dev_b) in zip(first, again):
        assert dev_a == dev_b and torch.equal(X_a, X_b)
        assert all(torch.equal(p, q) for p, q in zip(net_a.parameters(), net_b.parameters()))
