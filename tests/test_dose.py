"""tensorlab.dose: the single-dose network of notebook 02.

Every hand-written derivative is compared with autograd in float64 to 1e-10 (the micrograd way:
build the same expression, let PyTorch differentiate it, compare with an explicit tolerance).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tensorlab import dose
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

F64 = torch.float64


def _random_point(seed: int) -> dict[str, float]:
    """A parameter point with every value non-zero (biases too), so no term of a derivative vanishes."""
    generator = torch.Generator().manual_seed(100 + seed)
    values = (torch.randn(7, generator=generator, dtype=F64) * 2).tolist()
    return dict(zip(PARAM_NAMES, values))


PARAMETER_POINTS = {
    "trained": TRAINED_PARAMS,
    "backprop b3=0": BACKPROP_PARAMS,
    "backprop b3=2.61": {**BACKPROP_PARAMS, "b3": 2.61},
    "random start 0": random_params(0),
    "random start 2": random_params(2),
    **{f"random point {s}": _random_point(s) for s in range(3)},
}


def test_training_data_is_the_lectures_three_points():
    doses, efficacy = training_data()
    assert doses.shape == efficacy.shape == (3,)
    assert doses.dtype == efficacy.dtype == torch.float32
    assert doses.tolist() == [0.0, 0.5, 1.0] and efficacy.tolist() == [0.0, 1.0, 0.0]
    doses64, efficacy64 = training_data(F64, device="cpu")
    assert doses64.dtype == efficacy64.dtype == F64 and doses64.device.type == "cpu"


def test_parameter_tables_hold_the_lectures_values():
    assert list(TRAINED_PARAMS) == list(BACKPROP_PARAMS) == list(PARAM_NAMES)
    assert TRAINED_PARAMS == {"w1": -34.4, "b1": 2.14, "w2": -2.52, "b2": 1.29, "w3": -1.30, "w4": 2.28, "b3": -0.58}
    assert BACKPROP_PARAMS == {"w1": 3.34, "b1": -1.43, "w2": -3.53, "b2": 0.57, "w3": -1.22, "w4": -2.30, "b3": 0.0}


def test_forward_is_the_formula_written_with_math():
    def softplus(x: float) -> float:
        return math.log1p(math.exp(x))

    p = TRAINED_PARAMS
    doses = torch.tensor([0.0, 0.25, 0.5, 0.8, 1.0], dtype=F64)
    expected = [
        softplus(d * p["w1"] + p["b1"]) * p["w3"] + softplus(d * p["w2"] + p["b2"]) * p["w4"] + p["b3"]
        for d in doses.tolist()
    ]
    torch.testing.assert_close(forward(doses, p), torch.tensor(expected, dtype=F64), rtol=0, atol=1e-12)


def test_trained_values_put_the_curve_through_the_three_points():
    doses, efficacy = training_data(F64)
    predicted = forward(doses, TRAINED_PARAMS)
    assert predicted.shape == (3,)
    # The lecture's values are rounded to two decimals, so the fit is close but not exact.
    torch.testing.assert_close(predicted, efficacy, rtol=0, atol=0.04)
    assert ssr(predicted, efficacy).item() < 2e-3


def test_forward_takes_tensors_and_another_activation():
    doses, _ = training_data(F64)
    params = {name: torch.tensor(value, dtype=F64) for name, value in TRAINED_PARAMS.items()}
    torch.testing.assert_close(forward(doses, params), forward(doses, TRAINED_PARAMS))
    relu_out = forward(doses, TRAINED_PARAMS, activation=F.relu)
    p = TRAINED_PARAMS
    by_hand = (
        torch.relu(doses * p["w1"] + p["b1"]) * p["w3"] + torch.relu(doses * p["w2"] + p["b2"]) * p["w4"] + p["b3"]
    )
    torch.testing.assert_close(relu_out, by_hand)
    assert not torch.allclose(relu_out, forward(doses, TRAINED_PARAMS))


def test_forward_says_which_parameter_is_missing():
    params = dict(TRAINED_PARAMS)
    del params["w4"]
    with pytest.raises(KeyError, match="missing w4"):
        forward(torch.zeros(3), params)


def test_ssr_is_the_sum_of_squared_residuals():
    predicted = torch.tensor([1.0, 2.0, -1.0])
    observed = torch.tensor([0.0, 0.0, 1.0])
    assert ssr(predicted, observed).item() == 1.0 + 4.0 + 4.0
    assert ssr(predicted, observed).shape == ()


@pytest.mark.parametrize("params", PARAMETER_POINTS.values(), ids=PARAMETER_POINTS.keys())
def test_every_hand_derivative_agrees_with_autograd_to_1e_10(params):
    doses, efficacy = training_data(F64)
    leaves = {name: torch.tensor(value, dtype=F64, requires_grad=True) for name, value in params.items()}
    ssr(forward(doses, leaves), efficacy).backward()
    by_hand = ssr_gradients_by_hand(doses, efficacy, params)
    assert list(by_hand) == list(PARAM_NAMES)
    for name in PARAM_NAMES:
        assert by_hand[name].shape == () and by_hand[name].dtype == F64
        torch.testing.assert_close(
            by_hand[name], leaves[name].grad, rtol=0, atol=1e-10, msg=lambda m, name=name: f"dSSR/d{name}: {m}"
        )


def test_hand_derivatives_hold_for_other_data_too():
    generator = torch.Generator().manual_seed(7)
    doses = torch.rand(9, generator=generator, dtype=F64)  # (9,)
    observed = torch.randn(9, generator=generator, dtype=F64)  # (9,)
    params = _random_point(5)
    leaves = {name: torch.tensor(value, dtype=F64, requires_grad=True) for name, value in params.items()}
    ssr(forward(doses, leaves), observed).backward()
    by_hand = ssr_gradients_by_hand(doses, observed, params)
    for name in PARAM_NAMES:
        torch.testing.assert_close(by_hand[name], leaves[name].grad, rtol=0, atol=1e-10)


def test_no_hand_derivative_is_trivially_zero():
    # A derivative that were always 0 would "agree" with autograd at a minimum; at these points none is.
    doses, efficacy = training_data(F64)
    for params in (BACKPROP_PARAMS, _random_point(0)):
        grads = ssr_gradients_by_hand(doses, efficacy, params)
        assert all(abs(g.item()) > 1e-3 for g in grads.values()), grads


def test_hand_derivatives_do_not_use_autograd():
    doses, efficacy = training_data(F64)
    with torch.no_grad():  # would break a version that called backward() or autograd.grad
        grads = ssr_gradients_by_hand(doses, efficacy, BACKPROP_PARAMS)
    assert grads["b3"].item() == pytest.approx(-15.6551, abs=1e-4)


@pytest.mark.parametrize(
    "params", [TRAINED_PARAMS, BACKPROP_PARAMS, _random_point(1)], ids=["trained", "backprop", "random"]
)
def test_gradcheck_on_forward_and_ssr(params):
    doses = torch.tensor([0.0, 0.3, 0.5, 1.0], dtype=F64, requires_grad=True)  # (4,)
    observed = torch.tensor([0.0, 0.5, 1.0, 0.0], dtype=F64)  # (4,)
    values = [torch.tensor(params[name], dtype=F64, requires_grad=True) for name in PARAM_NAMES]

    def network(doses, *values):
        return forward(doses, dict(zip(PARAM_NAMES, values)))

    def loss(doses, *values):
        return ssr(network(doses, *values), observed)

    assert torch.autograd.gradcheck(network, (doses, *values))
    assert torch.autograd.gradcheck(loss, (doses, *values))


def test_gradient_descent_on_b3_reaches_the_lectures_value():
    doses, efficacy = training_data(F64)
    params, lr, steps = dict(BACKPROP_PARAMS), 0.1, 0
    while True:
        step = lr * ssr_gradients_by_hand(doses, efficacy, params)["b3"].item()
        params["b3"] -= step
        steps += 1
        if abs(step) < 1e-4:
            break
    assert steps == 12
    assert params["b3"] == pytest.approx(2.61, abs=5e-3)


def test_random_params_are_seeded_with_their_own_generator():
    torch.manual_seed(123)
    first = random_params(4)
    torch.manual_seed(456)
    assert random_params(4) == first
    assert random_params(5) != first
    assert list(first) == list(PARAM_NAMES)
    assert first["b1"] == first["b2"] == first["b3"] == 0.0
    assert all(first[w] != 0.0 for w in ("w1", "w2", "w3", "w4"))


def test_dosenet_holds_seven_named_0d_parameters():
    net = DoseNet(TRAINED_PARAMS)
    named = dict(net.named_parameters())
    assert list(named) == list(PARAM_NAMES)
    for name, parameter in named.items():
        assert isinstance(parameter, torch.nn.Parameter) and parameter.shape == () and parameter.requires_grad
        assert parameter.item() == pytest.approx(TRAINED_PARAMS[name])
    assert net.as_floats(2) == TRAINED_PARAMS
    assert "activation='softplus'" in repr(net)


def test_dosenet_default_start_is_seeded_and_independent_of_the_global_generator():
    torch.manual_seed(1)
    a = DoseNet()
    torch.manual_seed(2)
    b = DoseNet()
    assert a.as_floats() == b.as_floats() == pytest.approx(random_params(0))
    assert DoseNet(seed=3).as_floats() == pytest.approx(random_params(3))


@pytest.mark.parametrize("activation, function", [("softplus", F.softplus), ("relu", F.relu)])
def test_dosenet_forward_matches_the_function(activation, function):
    net = DoseNet(TRAINED_PARAMS, activation=activation, dtype=F64)
    doses = torch.linspace(0, 1, 11, dtype=F64)  # (11,)
    out = net(doses)
    assert out.shape == (11,) and out.dtype == F64
    torch.testing.assert_close(out, forward(doses, TRAINED_PARAMS, activation=function))


def test_dosenet_autograd_matches_the_hand_derivatives():
    net = DoseNet(BACKPROP_PARAMS, dtype=F64)
    doses, efficacy = training_data(F64)
    ssr(net(doses), efficacy).backward()
    by_hand = ssr_gradients_by_hand(doses, efficacy, BACKPROP_PARAMS)
    for name, parameter in net.named_parameters():
        torch.testing.assert_close(parameter.grad, by_hand[name], rtol=0, atol=1e-10)


def test_dosenet_refuses_unknown_activations_and_wrong_shapes():
    with pytest.raises(ValueError, match="activation must be one of"):
        DoseNet(activation="tanh")
    with pytest.raises(ValueError, match=r"shape \(N,\), got shape \(3, 1\)"):
        DoseNet()(torch.zeros(3, 1))


def test_sgd_from_the_seeded_start_fits_the_three_points():
    doses, efficacy = training_data()
    net = DoseNet(seed=2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2000):
        optimizer.zero_grad()
        loss = ssr(net(doses), efficacy)
        loss.backward()
        optimizer.step()
    assert loss.item() < 1e-4
    torch.testing.assert_close(net(doses).detach(), efficacy, rtol=0, atol=1e-2)


def test_module_documents_where_it_is_introduced():
    assert "notebook 02" in dose.__doc__
