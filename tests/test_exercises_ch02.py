"""The checks of notebook 02: each passes on a right answer and fails, with the right sentence, on
known-wrong ones, including answers that look right on easy inputs. The references themselves are checked
against autograd, and the discussions' claims against what PyTorch does."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.dose import (
    BACKPROP_PARAMS,
    PARAM_NAMES,
    TRAINED_PARAMS,
    DoseNet,
    forward,
    random_params,
    ssr,
    ssr_gradients_by_hand,
    training_data,
)
from tensorlab.exercises import ch02, exercises_of

F64 = torch.float64


# --- right answers, written the way a learner would ---------------------------------------------


def efficacy_075_right() -> torch.Tensor:
    p = TRAINED_PARAMS
    dose = torch.tensor(0.75)
    return F.softplus(dose * p["w1"] + p["b1"]) * p["w3"] + F.softplus(dose * p["w2"] + p["b2"]) * p["w4"] + p["b3"]


def hidden_layer_right(doses, weights, biases):
    return F.softplus(doses[:, None] * weights + biases)  # (N, 1) * (2,) -> (N, 2)


def hidden_layer_by_stacking(doses, weights, biases):  # another right way: one column per node
    return torch.stack([F.softplus(doses * weights[0] + biases[0]), F.softplus(doses * weights[1] + biases[1])], dim=1)


def softplus_by_hand(x):  # ln(1 + e^x), as the notebook writes it: overflows for large x
    return torch.log(1 + torch.exp(x))


def d_ssr_d_w2_relu_right(doses, observed, params):
    p = params
    x2 = doses * p["w2"] + p["b2"]
    predicted = F.relu(doses * p["w1"] + p["b1"]) * p["w3"] + F.relu(x2) * p["w4"] + p["b3"]
    return (-2 * (observed - predicted) * p["w4"] * (x2 > 0) * doses).sum()


def d_ssr_d_w2_relu_float32_params(doses, observed, params):
    """Right, but the parameters become float32 0-D tensors: a float32 computation the question allows."""
    p = {name: torch.tensor(value) for name, value in params.items()}
    return d_ssr_d_w2_relu_right(doses, observed, p)


def d_ssr_d_w2_relu_in_float32(doses, observed, params):
    return d_ssr_d_w2_relu_right(doses.float(), observed.float(), params)


def d_ssr_d_w2_relu_in_float64(doses, observed, params):
    return d_ssr_d_w2_relu_right(doses.double(), observed.double(), params)


def new_w3_right() -> float:
    doses, efficacy = training_data(F64)
    p = BACKPROP_PARAMS
    y1 = F.softplus(doses * p["w1"] + p["b1"])
    predicted = forward(doses, p)
    return p["w3"] - 0.1 * (-2 * (efficacy - predicted) * y1).sum().item()


def grad_b2_right() -> float:
    """Exercise 6 as the notebook sets it up: one backward() already ran; zero, then backward once."""
    net = DoseNet(seed=ch02.Q6_SEED)
    doses, efficacy = training_data()
    ssr(net(doses), efficacy).backward()
    net.zero_grad()
    ssr(net(doses), efficacy).backward()
    return net.b2.grad.item()


def grad_b2_without_zeroing() -> float:
    net = DoseNet(seed=ch02.Q6_SEED)
    doses, efficacy = training_data()
    for _ in range(2):
        ssr(net(doses), efficacy).backward()
    return net.b2.grad.item()


def slope_by_autograd(f, x):
    leaf = torch.tensor(x, requires_grad=True)  # float32, as torch.tensor(0.3) makes it
    f(leaf).backward()
    return leaf.grad.item()


def slope_by_autograd_grad(f, x):
    leaf = torch.tensor(x, dtype=F64, requires_grad=True)
    (slope,) = torch.autograd.grad(f(leaf), leaf)
    return slope  # a 0-D tensor is a number too


def slope_by_finite_difference(f, x, h=1e-3):
    x = torch.tensor(x, dtype=F64)
    return ((f(x + h) - f(x - h)) / (2 * h)).item()


def curve_slopes_right(net, doses):
    leaf = doses.clone().requires_grad_(True)
    out = net(leaf)
    out.backward(torch.ones_like(out))
    return leaf.grad


def curve_slopes_by_grad_of_sum(net, doses):
    leaf = doses.clone().requires_grad_(True)
    (slopes,) = torch.autograd.grad(net(leaf).sum(), leaf)
    return slopes


def curve_slopes_softplus_formula(net, doses):
    """The chain rule for softplus written out: right for softplus networks, wrong for ReLU ones."""
    p = net.param_dict()
    return (
        p["w3"] * torch.sigmoid(doses * p["w1"] + p["b1"]) * p["w1"]
        + p["w4"] * torch.sigmoid(doses * p["w2"] + p["b2"]) * p["w2"]
    ).detach()


def curve_slopes_of_the_mean(net, doses):
    leaf = doses.clone().requires_grad_(True)
    net(leaf).mean().backward()
    return leaf.grad


def fit_only_right(net, names, doses, observed, num_steps):
    for name, parameter in net.named_parameters():
        parameter.requires_grad_(name in names)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(num_steps):
        optimizer.zero_grad()
        ssr(net(doses), observed).backward()
        optimizer.step()
    return net


def fit_only_by_choosing_parameters(net, names, doses, observed, num_steps):
    """Right too: only the named parameters go to the optimizer (nothing frozen, nothing else moves)."""
    optimizer = torch.optim.SGD([getattr(net, name) for name in names], lr=0.1)
    for _ in range(num_steps):
        optimizer.zero_grad()
        ssr(net(doses), observed).backward()
        optimizer.step()
    return net


def fit_everything(net, names, doses, observed, num_steps):
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(num_steps):
        optimizer.zero_grad()
        ssr(net(doses), observed).backward()
        optimizer.step()
    return net


def fit_only_without_zero_grad(net, names, doses, observed, num_steps):
    for name, parameter in net.named_parameters():
        parameter.requires_grad_(name in names)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(num_steps):
        ssr(net(doses), observed).backward()
        optimizer.step()
    return net


def fit_only_with_the_mean(net, names, doses, observed, num_steps):
    """The mean squared residual instead of the SSR: the same on no data set, since the cases have 3 or 5."""
    for name, parameter in net.named_parameters():
        parameter.requires_grad_(name in names)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(num_steps):
        optimizer.zero_grad()
        ((observed - net(doses)) ** 2).mean().backward()
        optimizer.step()
    return net


def fit_only_returning_values(net, names, doses, observed, num_steps):
    return fit_only_right(net, names, doses, observed, num_steps).as_floats()


# --- every exercise: right passes, wrong fails with its sentence ----------------------------------


@pytest.mark.parametrize(
    "exercise, right, wrong, words",
    [
        (ch02.q1, efficacy_075_right(), efficacy_075_right() - TRAINED_PARAMS["b3"], "which is off by 0.58"),
        (ch02.q1, efficacy_075_right(), efficacy_075_right().tolist(), None),  # a float is fine too
        (ch02.q1, efficacy_075_right(), torch.tensor([0.4, 0.5]), "should be a single number"),
        (ch02.q1, efficacy_075_right(), "0.4175", "should be a number, but it is a str"),
        # q2: the dose-by-node table
        (ch02.q2, hidden_layer_right, hidden_layer_by_stacking, None),
        (ch02.q2, hidden_layer_right, lambda d, w, b: F.softplus(d * w + b), "raised RuntimeError"),
        (ch02.q2, hidden_layer_right, lambda d, w, b: d[:, None] * w + b, "element(s) differ"),
        (
            ch02.q2,
            hidden_layer_right,
            lambda d, w, b: F.softplus(d[None, :] * w[:, None] + b[:, None]),
            "should have shape (3, 2), but it has shape (2, 3)",
        ),
        # softplus written as ln(1 + e^x) is right on the notebook's doses and inf where dose * w + b is 110
        (
            ch02.q2,
            hidden_layer_right,
            lambda d, w, b: softplus_by_hand(d[:, None] * w + b),
            "at index [3, 0] expected 110, got inf",
        ),
        (ch02.q3, "b", "a", "'a' is not the right choice"),
        (ch02.q3, "B", "e", "'e' is not one of the choices"),
        (
            ch02.q4,
            new_w3_right(),
            2 * BACKPROP_PARAMS["w3"] - new_w3_right(),
            "which is off by 3.222",
        ),  # + instead of -
        # q5: float32 and float64 answers both pass (the question fixes no dtype)
        (ch02.q5, d_ssr_d_w2_relu_right, d_ssr_d_w2_relu_float32_params, None),
        (ch02.q5, d_ssr_d_w2_relu_right, d_ssr_d_w2_relu_in_float32, None),
        (ch02.q5, d_ssr_d_w2_relu_right, d_ssr_d_w2_relu_in_float64, None),
        (
            ch02.q5,
            d_ssr_d_w2_relu_right,  # the softplus derivative (sigmoid) where ReLU's step belongs
            lambda d, o, p: (
                -2 * (o - forward(d, p, F.relu)) * p["w4"] * torch.sigmoid(d * p["w2"] + p["b2"]) * d
            ).sum(),
            "element(s) differ",
        ),
        (
            ch02.q5,
            d_ssr_d_w2_relu_right,  # forgot dx2/dw2 = dose
            lambda d, o, p: (-2 * (o - forward(d, p, F.relu)) * p["w4"] * (d * p["w2"] + p["b2"] > 0)).sum(),
            "element(s) differ",
        ),
        (ch02.q5, d_ssr_d_w2_relu_right, lambda d, o, p: 0.0, "should be a torch.Tensor, but it is a float"),
        (ch02.q5, d_ssr_d_w2_relu_right, lambda d, o, p: None, "returned None; did you forget the return statement?"),
        # q6: the gradient already in .grad, plus a new one
        (ch02.q6, grad_b2_right(), grad_b2_without_zeroing(), "is 6.118, which is off by 3.059"),
        (
            ch02.q6,
            grad_b2_right(),
            ssr_gradients_by_hand(*training_data(F64), random_params(7))["w2"].item(),
            "which is off by",
        ),  # the neighbouring parameter's gradient
        # q7: any slope by autograd
        (ch02.q7, slope_by_autograd, slope_by_autograd_grad, None),
        (
            ch02.q7,
            slope_by_autograd,
            lambda f, x: f(torch.tensor(x)).item(),
            "(double_until_past_one, 0.3) gave 1.2, but 4 was expected",
        ),
        # a finite difference is right on smooth stretches and wrong where the loop runs once less
        (
            ch02.q7,
            slope_by_autograd,
            slope_by_finite_difference,
            "slope_by_finite_difference(double_until_past_one, 0.4995) gave -496.5, but 4 was expected",
        ),
        # with a tiny step it passes 0.4995, but not the jump itself (central) or a hair below it (forward)
        (
            ch02.q7,
            slope_by_autograd,
            lambda f, x: slope_by_finite_difference(f, x, h=1e-6),
            "(double_until_past_one, 0.5) gave",
        ),
        (
            ch02.q7,
            slope_by_autograd,
            lambda f, x: (f(torch.tensor(x + 1e-6, dtype=F64)) - f(torch.tensor(x, dtype=F64))).item() / 1e-6,
            "(double_until_past_one, 0.4999990463256836) gave -1e+06, but 4 was expected",
        ),
        (
            ch02.q7,
            slope_by_autograd,
            lambda f, x: f(torch.tensor(x)).backward(),
            "raised RuntimeError: element 0 of tensors does not require grad",
        ),
        # q8: every slope at once
        (ch02.q8, curve_slopes_right, curve_slopes_by_grad_of_sum, None),
        (ch02.q8, curve_slopes_right, lambda net, d: net(d), "5 of 5 element(s) differ"),
        (
            ch02.q8,
            curve_slopes_right,
            curve_slopes_softplus_formula,  # right for softplus, wrong for ReLU
            "curve_slopes_softplus_formula(DoseNet(activation='relu'), tensor([0.1, 0.37, 0.62, 0.93]))",
        ),
        (ch02.q8, curve_slopes_right, curve_slopes_of_the_mean, "element(s) differ"),
        # q9: which parameters a detached path leaves out
        (ch02.q9, {"w1", "b1", "w3", "b3"}, ["b3", "w3", "b1", "w1"], None),  # a list, in any order
        (ch02.q9, {"w1", "b1", "w3", "b3"}, ("w1", "b1", "w3", "b3"), None),
        (
            ch02.q9,
            {"w1", "b1", "w3", "b3"},
            {"w2", "b2", "w3", "w4", "b3"},  # the worked example's answer
            "names w2, b2, w4, but they get no gradient",
        ),
        (ch02.q9, {"w1", "b1", "w3", "b3"}, {"w1", "b1", "w3", "w4", "b3"}, "names w4, but it gets no gradient"),
        (ch02.q9, {"w1", "b1", "w3", "b3"}, {"w1", "b1", "b3"}, "leaves out 1 parameter(s) that do get a gradient"),
        (ch02.q9, {"w1", "b1", "w3", "b3"}, set(PARAM_NAMES), "names w2, b2, w4, but they get no gradient"),
        (ch02.q9, {"w1", "b1", "w3", "b3"}, {"w1", "b1", "w3", "bias3"}, "'bias3' is not one of the seven"),
        (ch02.q9, {"w1", "b1", "w3", "b3"}, "w1, b1, w3, b3", "should be a set or list of names"),
        # q10: train only some parameters
        (ch02.q10, fit_only_right, fit_only_by_choosing_parameters, None),
        (ch02.q10, fit_only_right, fit_everything, "changed w1 from 3.34 to 2.613, but only b3 should be trained"),
        (ch02.q10, fit_only_right, fit_only_without_zero_grad, "gave b3 = 5.068, but 2.609 was expected"),
        (ch02.q10, fit_only_right, fit_only_with_the_mean, "gave b3 = "),
        (
            ch02.q10,
            fit_only_right,
            fit_only_returning_values,
            "should return the trained DoseNet, but it returned a dict",
        ),
    ],
)
def test_ch02_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed, exercise.evaluate(right).message
    result = exercise.evaluate(wrong)
    if words is None:  # another right answer, in another form
        assert result.passed, result.message
        return
    assert result.status == "fail" and words in result.message, result.message
    assert "\n" not in result.message and "Traceback" not in result.message


def test_every_ch02_exercise_says_not_attempted_on_the_placeholder_and_has_hints():
    exercises = exercises_of(ch02)
    assert list(exercises) == [f"q{n}" for n in range(1, 11)]
    for name, exercise in exercises.items():
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name
        assert len(exercise.hints) >= 2, name


def test_function_exercises_read_not_implemented_as_not_attempted():
    def blank(*args):
        raise NotImplementedError("replace this with your code")

    for exercise in (ch02.q2, ch02.q5, ch02.q7, ch02.q8, ch02.q10):
        assert exercise.evaluate(blank).status == NOT_ATTEMPTED


def test_q2_cases_include_a_square_result_and_an_overflowing_exponential():
    shapes = [
        tuple(_reference.shape) for _reference in (ch02._reference_hidden_layer(*c) for c in ch02._hidden_layer_cases())
    ]
    assert (2, 2) in shapes
    # the square case tells rows from columns: its transpose is not the answer
    doses, weights, biases = ch02._hidden_layer_cases()[2]
    table = ch02._reference_hidden_layer(doses, weights, biases)
    assert not torch.allclose(table, table.T)
    # the large case: ln(1 + e^x) is inf there in float32, softplus is finite
    doses, weights, biases = ch02._hidden_layer_cases()[3]
    assert torch.isinf(softplus_by_hand(doses[:, None] * weights + biases)).any()
    assert torch.isfinite(ch02._reference_hidden_layer(doses, weights, biases)).all()


def test_q5_reference_is_autograd_of_the_relu_network():
    for doses, observed, params in ch02._relu_gradient_cases():
        leaves = {n: torch.tensor(params[n], dtype=F64, requires_grad=True) for n in PARAM_NAMES}
        ssr(forward(doses.double(), leaves, F.relu), observed.double()).backward()
        torch.testing.assert_close(
            ch02._reference_d_ssr_d_w2_relu(doses, observed, params).double(), leaves["w2"].grad, rtol=1e-6, atol=1e-6
        )
    # the cases tell ReLU's step from softplus' sigmoid, and include a point where the step is 0 at every dose
    values = [ch02._reference_d_ssr_d_w2_relu(*case).item() for case in ch02._relu_gradient_cases()]
    assert values[0] == 0.0 and all(abs(v) > 0.1 for v in values[1:])
    # both dtypes are among the cases
    assert {case[0].dtype for case in ch02._relu_gradient_cases()} == {torch.float32, F64}


def test_q7_and_q8_references_are_the_slopes_they_claim():
    # double_until_past_one at 0.3: 0.6, 1.2 -> slope 4; at 0.4995 still two doublings; triple at 0.15 -> 27
    expected = [4.0, 27.0, 3.0, -0.5, None, 4.0]
    for (f, x), want in zip(ch02._slope_cases(), expected):
        got = ch02._reference_slope(f, x)
        if want is not None:
            assert got == pytest.approx(want, abs=1e-12), (f, x)
    # the curve's slope, by the chain rule written out, in float64
    p = TRAINED_PARAMS
    dose = torch.tensor(0.3, dtype=F64)
    by_hand = (
        p["w3"] * torch.sigmoid(dose * p["w1"] + p["b1"]) * p["w1"]
        + p["w4"] * torch.sigmoid(dose * p["w2"] + p["b2"]) * p["w2"]
    ).item()
    assert ch02._reference_slope(*ch02._slope_cases()[4]) == pytest.approx(by_hand, rel=1e-12)
    net, doses = ch02._curve_slope_cases()[0]
    torch.testing.assert_close(ch02._reference_curve_slopes(net, doses), curve_slopes_softplus_formula(net, doses))


def test_q9_expected_names_are_what_autograd_does():
    net = DoseNet(BACKPROP_PARAMS)
    p = net.param_dict()
    doses, efficacy = training_data()
    y1 = F.softplus(doses * p["w1"] + p["b1"])
    y2 = F.softplus(doses * p["w2"] + p["b2"])
    ssr(y1 * p["w3"] + (y2 * p["w4"]).detach() + p["b3"], efficacy).backward()
    assert {n for n in PARAM_NAMES if getattr(net, n).grad is not None} == ch02.Q9_EXPECTED


def test_q10_cases_train_different_parameter_sets_and_the_wrong_answers_differ_on_each_kind():
    fitted = [ch02._reference_fit_only(*case) for case in ch02._fit_only_cases()]
    assert [f.names for f in fitted] == [("b3",), ("w3", "w4", "b3"), ("w1", "b2")]
    for f in fitted:
        for name in PARAM_NAMES:
            moved = f.start[name] != f.trained[name]
            assert moved == (name in f.names), (f.names, name)
    # the notebook's case lands where the loop by hand did: b3 = 2.6091 after 12 steps
    assert fitted[0].trained["b3"] == pytest.approx(2.6091, abs=1e-4)


def test_q1_q4_q6_expect_the_numbers_the_notebook_prints():
    assert ch02.q1.expected() == pytest.approx(0.4175, abs=1e-4)
    assert ch02.q4.expected() == pytest.approx(-1.22 + 1.61088, abs=1e-4)
    assert ch02.q6.expected() == pytest.approx(3.0592, abs=1e-4)


# --- the discussions say what PyTorch does --------------------------------------------------------


def test_discussion_1_backward_twice():
    net = DoseNet(BACKPROP_PARAMS)
    doses, efficacy = training_data()
    loss = ssr(net(doses), efficacy)
    loss.backward()
    once = net.w1.grad.clone()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        loss.backward()
    net.zero_grad()
    loss = ssr(net(doses), efficacy)
    loss.backward(retain_graph=True)
    loss.backward()
    assert torch.equal(net.w1.grad, 2 * once)
    x = torch.tensor(2.0, requires_grad=True)
    y = x + 1  # saves nothing: a second backward works even without retain_graph
    y.backward()
    y.backward()
    assert x.grad.item() == 2.0
    text = ch02.discuss.text(1)
    assert "retain_graph=True" in text and "twice" in text and "x + 1" in text


@pytest.mark.parametrize("activation, lr, steps", [("relu", 0.05, 600), ("softplus", 0.1, 1500)])
def test_discussion_2_all_zero_start(activation, lr, steps):
    net = DoseNet({name: 0.0 for name in PARAM_NAMES}, activation=activation)
    doses, efficacy = training_data()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    for step in range(steps):
        optimizer.zero_grad()
        loss = ssr(net(doses), efficacy)
        loss.backward()
        if step == 0:
            first = {name: getattr(net, name).grad.item() for name in PARAM_NAMES}
        optimizer.step()
        assert net.w1.item() == net.w2.item() and net.b1.item() == net.b2.item() and net.w3.item() == net.w4.item()
    values = net.as_floats()
    assert loss.item() == pytest.approx(2 / 3, abs=1e-4)  # the flat line's SSR
    if activation == "relu":
        assert first["b3"] == -2.0 and all(first[n] == 0.0 for n in PARAM_NAMES if n != "b3")
        assert all(values[n] == 0.0 for n in PARAM_NAMES if n != "b3")
        assert values["b3"] == pytest.approx(1 / 3, abs=1e-5)
    else:
        assert first["w3"] == pytest.approx(-2 * torch.log(torch.tensor(2.0)).item())  # softplus(0) = ln 2
        assert values["w3"] != 0.0 and values["w1"] != 0.0  # it moves, symmetrically
