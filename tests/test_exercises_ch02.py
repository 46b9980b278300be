"""The checks of notebook 02: each passes on a right answer and fails, with the right sentence, on
known-wrong ones. The references themselves are checked against autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.dose import BACKPROP_PARAMS, PARAM_NAMES, TRAINED_PARAMS, DoseNet, forward, ssr, training_data
from tensorlab.exercises import ch02, exercises_of

F64 = torch.float64


# --- right answers, written the way a learner would ---------------------------------------------

def efficacy_075_right() -> torch.Tensor:
    p = TRAINED_PARAMS
    dose = torch.tensor(0.75)
    return F.softplus(dose * p["w1"] + p["b1"]) * p["w3"] + F.softplus(dose * p["w2"] + p["b2"]) * p["w4"] + p["b3"]


def hidden_layer_right(doses, weights, biases):
    return F.softplus(doses[:, None] * weights + biases)  # (N, 1) * (2,) -> (N, 2)


def d_ssr_d_w2_relu_right(doses, observed, params):
    p = params
    x2 = doses * p["w2"] + p["b2"]
    predicted = F.relu(doses * p["w1"] + p["b1"]) * p["w3"] + F.relu(x2) * p["w4"] + p["b3"]
    return (-2 * (observed - predicted) * p["w4"] * (x2 > 0) * doses).sum()


def new_w3_right() -> float:
    doses, efficacy = training_data(F64)
    p = BACKPROP_PARAMS
    y1 = F.softplus(doses * p["w1"] + p["b1"])
    predicted = forward(doses, p)
    return p["w3"] - 0.1 * (-2 * (efficacy - predicted) * y1).sum().item()


def grad_w1_right() -> float:
    net = DoseNet(BACKPROP_PARAMS)
    doses, efficacy = training_data()
    ssr(net(doses), efficacy).backward()
    return net.w1.grad.item()


def grad_w1_after_two_backwards() -> float:
    net = DoseNet(BACKPROP_PARAMS)
    doses, efficacy = training_data()
    for _ in range(2):
        ssr(net(doses), efficacy).backward()
    return net.w1.grad.item()


# --- every exercise: right passes, wrong fails with its sentence ----------------------------------

@pytest.mark.parametrize("exercise, right, wrong, words", [
    (ch02.q1, efficacy_075_right(), efficacy_075_right() - TRAINED_PARAMS["b3"], "which is off by 0.58"),
    (ch02.q1, efficacy_075_right(), efficacy_075_right().tolist(), None),  # a float is fine too
    (ch02.q1, efficacy_075_right(), torch.tensor([0.4, 0.5]), "should be a single number"),
    (ch02.q1, efficacy_075_right(), "0.4175", "should be a number, but it is a str"),
    (ch02.q2, hidden_layer_right, lambda d, w, b: F.softplus(d * w + b), "raised RuntimeError"),
    (ch02.q2, hidden_layer_right, lambda d, w, b: d[:, None] * w + b, "element(s) differ"),
    (ch02.q2, hidden_layer_right, lambda d, w, b: F.softplus(d[None, :] * w[:, None] + b[:, None]),
     "should have shape (3, 2), but it has shape (2, 3)"),
    (ch02.q3, d_ssr_d_w2_relu_right,  # the softplus derivative (sigmoid) where ReLU's step belongs
     lambda d, o, p: (-2 * (o - forward(d, p, F.relu)) * p["w4"] * torch.sigmoid(d * p["w2"] + p["b2"]) * d).sum(),
     "element(s) differ"),
    (ch02.q3, d_ssr_d_w2_relu_right,  # forgot dx2/dw2 = dose
     lambda d, o, p: (-2 * (o - forward(d, p, F.relu)) * p["w4"] * (d * p["w2"] + p["b2"] > 0)).sum(),
     "element(s) differ"),
    (ch02.q3, d_ssr_d_w2_relu_right, lambda d, o, p: 0.0, "should be a torch.Tensor, but it is a float"),
    (ch02.q3, d_ssr_d_w2_relu_right, lambda d, o, p: None, "returned None; did you forget the return statement?"),
    (ch02.q4, new_w3_right(), 2 * BACKPROP_PARAMS["w3"] - new_w3_right(), "which is off by 3.222"),  # + instead of -
    (ch02.q5, grad_w1_right(), grad_w1_after_two_backwards(), "which is off by 7.339"),
    (ch02.q6, "b", "a", "'a' is not the right choice"),
    (ch02.q6, "B", "e", "'e' is not one of the choices"),
])
def test_ch02_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed, exercise.evaluate(right).message
    result = exercise.evaluate(wrong)
    if words is None:  # another right answer, in another form
        assert result.passed, result.message
        return
    assert result.status == "fail" and words in result.message, result.message


def test_every_ch02_exercise_says_not_attempted_on_the_placeholder_and_has_hints():
    exercises = exercises_of(ch02)
    assert list(exercises) == ["q1", "q2", "q3", "q4", "q5", "q6"]
    for name, exercise in exercises.items():
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name
        assert len(exercise.hints) >= 2, name


def test_function_exercises_read_not_implemented_as_not_attempted():
    def blank(*args):
        raise NotImplementedError("replace this with your code")

    for exercise in (ch02.q2, ch02.q3):
        assert exercise.evaluate(blank).status == NOT_ATTEMPTED


def test_q3_reference_is_autograd_of_the_relu_network():
    for doses, observed, params in ch02._relu_gradient_cases():
        leaves = {n: torch.tensor(params[n], dtype=F64, requires_grad=True) for n in PARAM_NAMES}
        ssr(forward(doses, leaves, F.relu), observed).backward()
        torch.testing.assert_close(ch02._reference_d_ssr_d_w2_relu(doses, observed, params), leaves["w2"].grad,
                                   rtol=0, atol=1e-10)
    # the cases tell ReLU's step from softplus' sigmoid, and include a point where the step is 0 at every dose
    values = [ch02._reference_d_ssr_d_w2_relu(*case).item() for case in ch02._relu_gradient_cases()]
    assert values[0] == 0.0 and all(abs(v) > 0.1 for v in values[1:])


def test_q1_q4_q5_expect_the_numbers_the_notebook_prints():
    assert ch02.q1.expected() == pytest.approx(0.4175, abs=1e-4)
    assert ch02.q4.expected() == pytest.approx(-1.22 + 1.61088, abs=1e-4)
    assert ch02.q5.expected() == pytest.approx(7.3389, abs=1e-4)
