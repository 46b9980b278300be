"""Exercises of notebook 02, "The single-dose network"."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from tensorlab.checking import (
    ChoiceExercise,
    Exercise,
    FunctionExercise,
    NotAttempted,
    NumberExercise,
    WrongAnswer,
    compare_number,
    describe_type,
    format_number,
    is_placeholder,
)
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
from tensorlab.exercises import name_exercises

F64 = torch.float64


# --- q1: a forward pass for a new dose (after "Inside the black box") ------------------------------


def _efficacy_at_075() -> float:
    return forward(torch.tensor([0.75], dtype=F64), TRAINED_PARAMS).item()


q1 = NumberExercise(
    "a forward pass for a new dose",
    expected=_efficacy_at_075,
    atol=1e-4,
    rtol=0.0,
    hints=(
        "Follow the same steps as for the three doses: x1 = dose * w1 + b1, y1 = softplus(x1), and "
        "the same for the bottom node; then y1 * w3 + y2 * w4 + b3.",
        "F.softplus works on a tensor: F.softplus(torch.tensor(0.75) * -34.4 + 2.14). Don't forget b3.",
    ),
    takeaway=(
        "A forward pass is the same few tensor operations for any input: weighted sum, activation, "
        "weighted sum, bias."
    ),
)


# --- q2: both hidden nodes for every dose at once ---------------------------------------------------


def _reference_hidden_layer(doses: torch.Tensor, weights: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
    return F.softplus(doses[:, None] * weights[None, :] + biases[None, :])  # (N, 1) * (1, 2) + (1, 2) -> (N, 2)


def _hidden_layer_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(2)
    doses, _ = training_data()
    return [
        (doses, torch.tensor([-34.4, -2.52]), torch.tensor([2.14, 1.29])),  # (3,), (2,), (2,)
        (
            torch.rand(5, generator=generator),
            torch.randn(2, generator=generator),
            torch.randn(2, generator=generator),
        ),  # (5,), (2,), (2,)
        # two doses and two nodes: a square result, where nodes-as-rows has the right shape and wrong values
        (torch.tensor([0.2, 0.9]), torch.tensor([1.5, -2.0]), torch.tensor([0.1, 0.4])),  # (2,), (2,), (2,)
        # dose * w + b up to 110: softplus(110) = 110, but e^110 is more than float32 holds (about 3.4e38)
        (torch.tensor([0.0, 0.25, 0.5, 1.0]), torch.tensor([120.0, -90.0]), torch.tensor([-10.0, 5.0])),
    ]


q2 = FunctionExercise(
    "both hidden nodes for every dose at once",
    reference=_reference_hidden_layer,
    cases=_hidden_layer_cases,
    compare_options={"atol": 1e-5, "rtol": 1e-5},
    hints=(
        "The result has one row per dose and one column per hidden node: shape (N, 2).",
        "Give the doses shape (N, 1) with doses[:, None]; broadcasting against the (2,) weights then "
        "gives (N, 2). Add the biases and apply F.softplus.",
        "Written as torch.log(1 + torch.exp(x)), softplus overflows where x is large: e^110 is inf in "
        "float32. F.softplus computes the same function without overflowing.",
    ),
    takeaway=(
        "Broadcasting an (N, 1) column against (2,) rows computes every dose with every hidden node "
        "at once, without a loop."
    ),
)


# --- q3: when torch.no_grad() is needed (after gradient descent on b3) ------------------------------

q3 = ChoiceExercise(
    "when torch.no_grad() is needed",
    choices=("a", "b", "c", "d"),
    expected="b",
    hints=(
        "Autograd records every operation on a tensor that requires grad, so it can go backwards later.",
        "Only one of the four changes a leaf tensor that requires grad in place, and PyTorch refuses to "
        "record that (it is the step itself, not part of the function being differentiated).",
    ),
    takeaway=(
        "A hand-written update of a parameter that requires grad goes inside torch.no_grad(): it is "
        "the training step, not part of the function being differentiated."
    ),
)


# --- q4: one gradient-descent step on w3 (after "The chain rule for every parameter") ----------------


def _w3_after_one_step() -> float:
    doses, efficacy = training_data(F64)
    gradient = ssr_gradients_by_hand(doses, efficacy, BACKPROP_PARAMS)["w3"].item()
    return BACKPROP_PARAMS["w3"] - 0.1 * gradient


q4 = NumberExercise(
    "one gradient-descent step on w3",
    expected=_w3_after_one_step,
    atol=1e-4,
    rtol=0.0,
    hints=(
        "First the derivative: dSSR/dw3 = sum of -2 * (observed - predicted) * y1, at the starting values.",
        "Then step against the slope: new w3 = old w3 - learning rate * derivative (here -1.22 - 0.1 * ...).",
    ),
    takeaway=(
        "One gradient-descent step: new value = old value - learning rate x the loss's derivative " "at the old value."
    ),
)


# --- q5: dSSR/dw2 by hand for the ReLU network ------------------------------------------------------


def _reference_d_ssr_d_w2_relu(doses: torch.Tensor, observed: torch.Tensor, params: dict) -> torch.Tensor:
    p = params
    x1 = doses * p["w1"] + p["b1"]  # (N,)
    x2 = doses * p["w2"] + p["b2"]  # (N,)
    predicted = F.relu(x1) * p["w3"] + F.relu(x2) * p["w4"] + p["b3"]  # (N,)
    relu_slope = (x2 > 0).to(doses.dtype)  # (N,): ReLU'(x) = 1 where x > 0, else 0
    return (-2 * (observed - predicted) * p["w4"] * relu_slope * doses).sum()


def _relu_point() -> dict[str, float]:
    return {"w1": 1.7, "b1": -0.85, "w2": 12.6, "b2": -0.3, "w3": -4.08, "w4": 2.7, "b3": 0.2}


def _relu_gradient_cases() -> list[tuple[torch.Tensor, torch.Tensor, dict]]:
    doses, efficacy = training_data(F64)
    generator = torch.Generator().manual_seed(3)
    more_doses = torch.rand(6, generator=generator, dtype=F64)  # (6,)
    more_observed = torch.rand(6, generator=generator, dtype=F64)  # (6,)
    doses32, efficacy32 = training_data(torch.float32)
    return [
        (doses, efficacy, dict(BACKPROP_PARAMS)),
        (doses, efficacy, _relu_point()),
        (more_doses, more_observed, {**random_params(1), "b2": 0.3}),
        (doses32, efficacy32, _relu_point()),  # float32 doses: float32 or float64 both fine
    ]


# The question fixes no dtype, so a float32 answer passes as well as a float64 one: a learner who turns
# the parameters into float32 tensors (torch.tensor(p["w4"])) computes in float32 without meaning to. The
# tolerance fits float32 (about 7 significant digits; the gradients here are at most about 30), and
# every wrong formula in the checker tests is off by far more.
q5 = FunctionExercise(
    "dSSR/dw2 by hand for the ReLU network",
    reference=_reference_d_ssr_d_w2_relu,
    cases=_relu_gradient_cases,
    compare_options={"atol": 1e-5, "rtol": 1e-5, "check_dtype": False},
    hints=(
        "Same chain as for softplus: dSSR/dpredicted * dpredicted/dy2 * dy2/dx2 * dx2/dw2, summed over "
        "the doses. Only dy2/dx2 changes.",
        "ReLU's slope is 1 where x2 > 0 and 0 elsewhere: (x2 > 0).to(doses.dtype). So the terms are "
        "-2 * (observed - predicted), w4, that slope, and the dose.",
    ),
    takeaway=(
        "Changing the activation changes one link of the chain rule: ReLU's slope is 1 where x > 0 " "and 0 elsewhere."
    ),
)


# --- q6: a gradient from autograd, when .grad already holds one (after "Gradients add up") ---------

#: The start of ``net_q6`` in the notebook: DoseNet(seed=Q6_SEED).
Q6_SEED = 7


def _grad_b2_at_q6_start() -> float:
    doses, efficacy = training_data(F64)
    return ssr_gradients_by_hand(doses, efficacy, random_params(Q6_SEED))["b2"].item()


q6 = NumberExercise(
    "a gradient when .grad is not empty",
    expected=_grad_b2_at_q6_start,
    atol=1e-4,
    rtol=1e-4,
    hints=(
        "net_q6.b2.grad already holds the gradient of one backward(). Another backward() adds to it.",
        "Clear it first (net_q6.zero_grad()), then compute the SSR once, call backward() once and read "
        "net_q6.b2.grad.item().",
    ),
    takeaway=(
        "backward() adds into .grad: zero the gradients (zero_grad()) before the backward() whose "
        "gradient you want to read."
    ),
)


# --- q7: the slope of any function, control flow included (after "Through Python control flow") ----


class _Function:
    """A test function with a readable name in messages: slope_at(triple_until_past_two, 0.15)."""

    def __init__(self, name: str, function: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.name, self.function = name, function

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)

    def __repr__(self) -> str:
        return self.name

    def __deepcopy__(self, memo: dict) -> "_Function":
        return self


def _double_until_past_one(x: torch.Tensor) -> torch.Tensor:
    while x < 1:  # more doublings the smaller x is
        x = x * 2
    return x


def _triple_until_past_two(x: torch.Tensor) -> torch.Tensor:
    while x < 2:
        x = x * 3
    return x


def _square_or_halve(x: torch.Tensor) -> torch.Tensor:
    if x > 1:
        return x**2
    return -0.5 * x


def _black_box_curve(dose: torch.Tensor) -> torch.Tensor:
    return forward(dose.reshape(1), TRAINED_PARAMS)[0]  # () -> (1,) -> ()


def _reference_slope(f: Callable[[torch.Tensor], torch.Tensor], x: float) -> float:
    leaf = torch.tensor(x, dtype=F64, requires_grad=True)  # ()
    f(leaf).backward()
    return leaf.grad.item()


def _slope_cases() -> list[tuple[_Function, float]]:
    double = _Function("double_until_past_one", _double_until_past_one)
    triple = _Function("triple_until_past_two", _triple_until_past_two)
    branch = _Function("square_or_halve", _square_or_halve)
    curve = _Function("black_box_curve", _black_box_curve)
    return [
        (double, 0.3),  # 0.6, 1.2: slope 4
        (triple, 0.15),  # 0.45, 1.35, 4.05: slope 27
        (branch, 1.5),  # the x**2 branch: slope 3
        (branch, -2.5),  # the other branch: slope -0.5
        (curve, 0.3),  # the fitted curve of "Inside the Black Box" at dose 0.3
        (double, 0.4995),  # just below 0.5, where the number of doublings changes: slope 4, not 2
        (double, 0.5),  # at the jump itself: slope 2; a central or backward difference straddles it
        (double, 0.5 - 2**-20),  # a hair below (exact in float32 too): slope 4; a forward step of 1e-6 crosses
    ]


def _compare_slope(got: Any, want: float, *, what: str, show_expected: bool = True) -> None:
    compare_number(got, want, atol=1e-4, rtol=1e-4, what=what, show_expected=show_expected)


q7 = FunctionExercise(
    "the slope of any function by autograd",
    reference=_reference_slope,
    cases=_slope_cases,
    compare=_compare_slope,
    hints=(
        "Make x a tensor that autograd tracks: torch.tensor(x, requires_grad=True). Then call f on it, "
        "call backward() on the result, and read the gradient of x.",
        "Autograd records the operations that actually ran, whatever if or while chose them, so no case "
        "needs special handling. A finite difference is no substitute: at 0.5 and just below it, a step jumps "
        "over the point where double_until_past_one doubles once less.",
    ),
    takeaway=(
        "Autograd differentiates the operations that actually ran, so ifs and loops, even loops whose "
        "length depends on the data, need nothing special."
    ),
)


# --- q8: the slope of the curve at every dose, in one backward (after "backward() on a non-scalar") -


def _reference_curve_slopes(net: torch.nn.Module, doses: torch.Tensor) -> torch.Tensor:
    leaf = doses.detach().clone().requires_grad_(True)  # (N,)
    (slopes,) = torch.autograd.grad(net(leaf).sum(), leaf)  # each output depends on its own dose only
    return slopes  # (N,)


def _curve_slope_cases() -> list[tuple[DoseNet, torch.Tensor]]:
    return [
        (DoseNet(TRAINED_PARAMS), torch.linspace(0, 1, 5)),  # softplus, (5,)
        (DoseNet(random_params(4), activation="relu"), torch.tensor([0.1, 0.37, 0.62, 0.93])),  # ReLU, (4,)
        (DoseNet(BACKPROP_PARAMS, dtype=F64), torch.tensor([0.0, 0.5, 1.0], dtype=F64)),  # float64, (3,)
    ]


q8 = FunctionExercise(
    "the slope of the curve at every dose",
    reference=_reference_curve_slopes,
    cases=_curve_slope_cases,
    compare_options={"atol": 1e-5, "rtol": 1e-5},
    hints=(
        "The doses must be a tensor autograd tracks: doses.clone().requires_grad_(True). net(...) of "
        "them is an (N,) tensor, and backward() needs a scalar or a gradient argument.",
        "Output i depends on dose i only, so the gradient of the sum of the outputs, with respect to the "
        "doses, holds every slope: out.backward(torch.ones_like(out)) or out.sum().backward(), then "
        "return the doses' .grad.",
    ),
    takeaway=(
        "backward(v) on an (N,) output computes the gradient of sum(v * output); with v all ones and "
        "independent rows, that is every slope at once."
    ),
)


# --- q9: which parameters get a gradient through a detached path (after "detach() and no_grad()") --

Q9_EXPECTED = frozenset({"w1", "b1", "w3", "b3"})


class _NamesExercise(Exercise):
    """The answer is a collection of parameter names (a set, list or tuple, in any order)."""

    def judge(self, answer: Any) -> None:
        if is_placeholder(answer):
            raise NotAttempted()
        if isinstance(answer, str) or not isinstance(answer, (set, frozenset, list, tuple)):
            raise WrongAnswer(
                f"your answer should be a set or list of names such as {{'w1', 'b3'}}, but it "
                f"is {'a single string' if isinstance(answer, str) else describe_type(answer)}."
            )
        names = set(answer)
        unknown = sorted(str(n) for n in names if n not in PARAM_NAMES)
        if unknown:
            raise WrongAnswer(
                f"{', '.join(map(repr, unknown))} is not one of the seven parameters " f"{', '.join(PARAM_NAMES)}."
            )
        extra = [n for n in PARAM_NAMES if n in names - Q9_EXPECTED]
        missing = Q9_EXPECTED - names
        if extra:
            raise WrongAnswer(
                f"your answer names {', '.join(extra)}, but {'it gets' if len(extra) == 1 else 'they get'} "
                "no gradient: no recorded path leads from the loss back to "
                f"{'it' if len(extra) == 1 else 'them'}."
            )
        if missing:
            raise WrongAnswer(f"your answer leaves out {len(missing)} parameter(s) that do get a gradient.")


q9 = _NamesExercise(
    "which parameters a detached path leaves out",
    hints=(
        "Follow each parameter from the loss backwards. A path that passes through the detached tensor " "stops there.",
        "y2 * w4 is detached as a whole, so w4 and everything y2 depends on are cut off; y1 * w3 and b3 "
        "are still recorded. You can also run it: build y_hat that way, call backward() and look at "
        "which .grad is not None.",
    ),
    takeaway=(
        "detach() cuts one path out of the recorded computation: parameters reached only through it "
        "get no gradient, the others get the same one as before."
    ),
)


# --- q10: train only some parameters (after "Freezing parameters") ----------------------------------


def _fit_only(net: DoseNet, names: list[str], doses: torch.Tensor, observed: torch.Tensor, num_steps: int) -> DoseNet:
    for name, parameter in net.named_parameters():
        parameter.requires_grad_(name in names)
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    for _ in range(num_steps):
        optimizer.zero_grad()
        ssr(net(doses), observed).backward()
        optimizer.step()
    return net


@dataclass(frozen=True)
class _Fitted:
    """What the reference makes of one case: the seven values before and after, and which were trained."""

    start: dict[str, float]
    trained: dict[str, float]
    names: tuple[str, ...]


def _reference_fit_only(
    net: DoseNet, names: list[str], doses: torch.Tensor, observed: torch.Tensor, num_steps: int
) -> _Fitted:
    start = {n: getattr(net, n).item() for n in PARAM_NAMES}
    _fit_only(net, names, doses, observed, num_steps)
    return _Fitted(start, {n: getattr(net, n).item() for n in PARAM_NAMES}, tuple(names))


def _fit_only_cases() -> list[tuple[DoseNet, list[str], torch.Tensor, torch.Tensor, int]]:
    doses, efficacy = training_data()
    generator = torch.Generator().manual_seed(10)
    five_doses = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])  # (5,)
    five_observed = torch.rand(5, generator=generator)  # (5,)
    return [
        (DoseNet(BACKPROP_PARAMS), ["b3"], doses, efficacy, 12),  # the notebook's case
        (DoseNet(seed=4), ["w3", "w4", "b3"], doses, efficacy, 30),  # the output layer
        (DoseNet(random_params(3), activation="relu"), ["w1", "b2"], five_doses, five_observed, 8),
    ]


def _compare_fitted(got: Any, want: _Fitted, *, what: str, show_expected: bool = True) -> None:
    if not isinstance(got, DoseNet):
        raise WrongAnswer(
            f"{what} should return the trained DoseNet, but it returned "
            f"{describe_type(got)} (end with: return net)."
        )
    for name in PARAM_NAMES:
        value, expected = getattr(got, name).item(), want.trained[name]
        if math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-4):
            continue
        if name not in want.names:
            raise WrongAnswer(
                f"{what} changed {name} from {format_number(want.start[name])} to "
                f"{format_number(value)}, but only {', '.join(want.names)} should be trained."
            )
        raise WrongAnswer(
            f"{what} gave {name} = {format_number(value)}, but {format_number(expected)} was " "expected."
        )


q10 = FunctionExercise(
    "train only some parameters",
    reference=_reference_fit_only,
    cases=_fit_only_cases,
    compare=_compare_fitted,
    hints=(
        "Freeze every parameter whose name is not in names: parameter.requires_grad_(False), looping over "
        "net.named_parameters(). Then the usual loop: zero_grad, SSR, backward, step, num_steps times.",
        "torch.optim.SGD(net.parameters(), lr=0.1) skips parameters whose .grad is None, so passing all "
        "of them is fine. Return net at the end.",
    ),
    takeaway=(
        "requires_grad_(False) freezes a parameter: autograd leaves its .grad empty and the optimizer "
        "leaves it where it is."
    ),
)


# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions"). Imported here, apart from the imports above, so that this
# block grows on its own.
from tensorlab.checking import Discussion, Discussions  # noqa: E402

discuss = Discussions(
    Discussion(
        "What happens if you call backward() twice on the same loss?",
        'The second call fails with a RuntimeError: "Trying to backward through the graph a second time (or '
        'directly access saved tensors after they have already been freed)". To compute derivatives, '
        "autograd saves some values of the forward pass (softplus saves its input, for its slope). The first "
        "backward() uses them and then frees them, to save memory, so there is nothing left to walk a second "
        "time.\n\n"
        "If you ask it to keep them, loss.backward(retain_graph=True), the second call works, and every .grad "
        "is then exactly twice the gradient: backward() adds into .grad, as this section showed. A graph "
        "whose operations saved nothing, such as y = x + 1, can even be walked twice without retain_graph, "
        "which is why the rule is about saved values, not about the number of calls.\n\n"
        "A training loop never needs either: each step computes a new loss (a new graph) and calls "
        "backward() once on it, after zero_grad(). Wanting a second backward() on the same loss is usually a "
        "sign that the forward pass should be run again.",
    ),
    Discussion(
        "What if the ReLU network starts with all seven numbers at 0?",
        "Then training can move one number only, b3. With every weight and bias 0, both hidden nodes get the "
        "input 0 for every dose, and ReLU(0) = 0. PyTorch takes ReLU's slope at exactly 0 to be 0, so no "
        "gradient reaches w1, b1, w2 or b2; and the gradients of w3 and w4 are sums of -2 (observed - "
        "predicted) times the hidden outputs, which are all 0. Only b3, whose derivative is 1, gets a "
        "gradient (-2 at the start).\n\n"
        "So the network is frozen as if six parameters had requires_grad=False: b3 runs to the mean "
        "efficacy, 1/3, and the network ends as the best flat line, SSR 2/3, however long it trains (600 "
        "steps at learning rate 0.05 leave the other six at exactly 0).\n\n"
        "The softplus network from the same start does move: softplus(0) = ln 2, so w3 and w4 get gradients, "
        "and after them the hidden weights. But the two hidden nodes start identical and receive identical "
        "gradients at every step, so they stay identical (w1 = w2, b1 = b2, w3 = w4 exactly, after 1,500 "
        "steps): the network behaves like one with a single hidden node, and here it stays at the flat "
        "line's SSR of 2/3. Random starting weights break this symmetry, which is why networks start from "
        "random weights; biases may start at 0.",
    ),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
