"""Exercises of notebook 02, "The single-dose network"."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tensorlab.checking import ChoiceExercise, FunctionExercise, NumberExercise
from tensorlab.dose import (BACKPROP_PARAMS, TRAINED_PARAMS, forward, random_params, ssr_gradients_by_hand,
                            training_data)
from tensorlab.exercises import name_exercises

F64 = torch.float64


def _efficacy_at_075() -> float:
    return forward(torch.tensor([0.75], dtype=F64), TRAINED_PARAMS).item()


q1 = NumberExercise(
    "a forward pass for a new dose",
    expected=_efficacy_at_075, atol=1e-4, rtol=0.0,
    hints=("Follow the same steps as for the three doses: x1 = dose * w1 + b1, y1 = softplus(x1), and "
           "the same for the bottom node; then y1 * w3 + y2 * w4 + b3.",
           "F.softplus works on a tensor: F.softplus(torch.tensor(0.75) * -34.4 + 2.14). Don't forget b3."),
)


def _reference_hidden_layer(doses: torch.Tensor, weights: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
    return F.softplus(doses[:, None] * weights[None, :] + biases[None, :])  # (N, 1) * (1, 2) + (1, 2) -> (N, 2)


def _hidden_layer_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(2)
    doses, _ = training_data()
    return [
        (doses, torch.tensor([-34.4, -2.52]), torch.tensor([2.14, 1.29])),               # (3,), (2,), (2,)
        (torch.rand(5, generator=generator), torch.randn(2, generator=generator),
         torch.randn(2, generator=generator)),                                           # (5,), (2,), (2,)
    ]


q2 = FunctionExercise(
    "both hidden nodes for every dose at once",
    reference=_reference_hidden_layer, cases=_hidden_layer_cases,
    hints=("The result has one row per dose and one column per hidden node: shape (N, 2).",
           "Give the doses shape (N, 1) with doses[:, None]; broadcasting against the (2,) weights then "
           "gives (N, 2). Add the biases and apply F.softplus."),
)


def _reference_d_ssr_d_w2_relu(doses: torch.Tensor, observed: torch.Tensor, params: dict) -> torch.Tensor:
    p = params
    x1 = doses * p["w1"] + p["b1"]                         # (N,)
    x2 = doses * p["w2"] + p["b2"]                         # (N,)
    predicted = F.relu(x1) * p["w3"] + F.relu(x2) * p["w4"] + p["b3"]  # (N,)
    relu_slope = (x2 > 0).to(doses.dtype)                  # (N,): ReLU'(x) = 1 where x > 0, else 0
    return (-2 * (observed - predicted) * p["w4"] * relu_slope * doses).sum()


def _relu_point() -> dict[str, float]:
    return {"w1": 1.7, "b1": -0.85, "w2": 12.6, "b2": -0.3, "w3": -4.08, "w4": 2.7, "b3": 0.2}


def _relu_gradient_cases() -> list[tuple[torch.Tensor, torch.Tensor, dict]]:
    doses, efficacy = training_data(F64)
    generator = torch.Generator().manual_seed(3)
    more_doses = torch.rand(6, generator=generator, dtype=F64)  # (6,)
    more_observed = torch.rand(6, generator=generator, dtype=F64)  # (6,)
    return [
        (doses, efficacy, dict(BACKPROP_PARAMS)),
        (doses, efficacy, _relu_point()),
        (more_doses, more_observed, {**random_params(1), "b2": 0.3}),
    ]


q3 = FunctionExercise(
    "dSSR/dw2 by hand for the ReLU network",
    reference=_reference_d_ssr_d_w2_relu, cases=_relu_gradient_cases,
    compare_options={"atol": 1e-10, "rtol": 1e-10},
    hints=("Same chain as for softplus: dSSR/dpredicted * dpredicted/dy2 * dy2/dx2 * dx2/dw2, summed over "
           "the doses. Only dy2/dx2 changes.",
           "ReLU's slope is 1 where x2 > 0 and 0 elsewhere: (x2 > 0).to(doses.dtype). So the terms are "
           "-2 * (observed - predicted), w4, that slope, and the dose."),
)


def _w3_after_one_step() -> float:
    doses, efficacy = training_data(F64)
    gradient = ssr_gradients_by_hand(doses, efficacy, BACKPROP_PARAMS)["w3"].item()
    return BACKPROP_PARAMS["w3"] - 0.1 * gradient


q4 = NumberExercise(
    "one gradient-descent step on w3",
    expected=_w3_after_one_step, atol=1e-4, rtol=0.0,
    hints=("First the derivative: dSSR/dw3 = sum of -2 * (observed - predicted) * y1, at the starting values.",
           "Then step against the slope: new w3 = old w3 - learning rate * derivative (here -1.22 - 0.1 * ...)."),
)


def _grad_w1_at_backprop_params() -> float:
    doses, efficacy = training_data(F64)
    return ssr_gradients_by_hand(doses, efficacy, BACKPROP_PARAMS)["w1"].item()


q5 = NumberExercise(
    "reading a gradient from autograd",
    expected=_grad_w1_at_backprop_params, atol=1e-3, rtol=1e-4,
    hints=("Compute the loss once, call .backward() on it once, then read net.w1.grad.",
           "Gradients add up: a second backward() doubles .grad. Start from a fresh DoseNet or call "
           "net.zero_grad() first; .item() turns the 0-D gradient into a number."),
)


q6 = ChoiceExercise(
    "when torch.no_grad() is needed",
    choices=("a", "b", "c", "d"), expected="b",
    hints=("Autograd records every operation on a tensor that requires grad, so it can go backwards later.",
           "Only one of the four changes a leaf tensor that requires grad in place, and PyTorch refuses to "
           "record that (it is the step itself, not part of the function being differentiated)."),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
