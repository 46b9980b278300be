"""The single-dose network: one drug dose in, one efficacy out (introduced in notebook 02).

The lecture's first example (StatQuest, "Neural Networks Part 1: Inside the Black Box" and
"Backpropagation Main Ideas"): three training points -- dose 0 -> efficacy 0, dose 0.5 -> 1,
dose 1 -> 0 -- fit by a network with two hidden nodes and a summing output node::

    output = act(dose * w1 + b1) * w3 + act(dose * w2 + b2) * w4 + b3

with ``act`` the softplus, log(1 + e^x) (or the ReLU in the ``nn.Module`` version). Seven numbers:
the weights w1..w4 and the biases b1..b3.

What is here is what several notebooks use (notebook 02 teaches it, notebook 06 runs it on a GPU):

- :func:`training_data`, :data:`TRAINED_PARAMS`, :data:`BACKPROP_PARAMS`;
- :func:`forward` and :func:`ssr` (sum of squared residuals);
- :func:`ssr_gradients_by_hand`: the seven chain-rule derivatives written out, no autograd;
- :class:`DoseNet`: the same network as an ``nn.Module`` whose seven parameters are tensors.
"""

from __future__ import annotations

from typing import Callable, Mapping, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The seven parameters, in the order the lecture introduces them.
PARAM_NAMES: tuple[str, ...] = ("w1", "b1", "w2", "b2", "w3", "w4", "b3")

#: The trained values of "Inside the Black Box" (softplus): the curve goes through the three points.
TRAINED_PARAMS: dict[str, float] = {
    "w1": -34.4,
    "b1": 2.14,
    "w2": -2.52,
    "b2": 1.29,
    "w3": -1.30,
    "w4": 2.28,
    "b3": -0.58,
}

#: The values of "Backpropagation Main Ideas": everything but b3 already fit; b3 starts at 0.
BACKPROP_PARAMS: dict[str, float] = {
    "w1": 3.34,
    "b1": -1.43,
    "w2": -3.53,
    "b2": 0.57,
    "w3": -1.22,
    "w4": -2.30,
    "b3": 0.0,
}

#: The activations :class:`DoseNet` knows by name.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"softplus": F.softplus, "relu": F.relu}

Params = Mapping[str, Union[float, Tensor]]


def training_data(
    dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """The three training points: doses ``(3,)`` = [0, 0.5, 1] and efficacy ``(3,)`` = [0, 1, 0]."""
    doses = torch.tensor([0.0, 0.5, 1.0], dtype=dtype, device=device)  # (3,)
    efficacy = torch.tensor([0.0, 1.0, 0.0], dtype=dtype, device=device)  # (3,)
    return doses, efficacy


def _check_params(params: Params) -> None:
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise KeyError(f"params is missing {', '.join(missing)}; it needs all of {', '.join(PARAM_NAMES)}")


def forward(doses: Tensor, params: Params, activation: Callable[[Tensor], Tensor] = F.softplus) -> Tensor:
    """The network's output for every dose: ``(N,)`` -> ``(N,)``.

    ``params`` maps the seven names to floats or 0-D tensors (tensors that require grad keep the
    graph, so autograd can differentiate through this function).
    """
    _check_params(params)
    p = params
    top = activation(doses * p["w1"] + p["b1"]) * p["w3"]  # (N,): upper hidden node, scaled
    bottom = activation(doses * p["w2"] + p["b2"]) * p["w4"]  # (N,): lower hidden node, scaled
    return top + bottom + p["b3"]  # (N,)


def ssr(predicted: Tensor, observed: Tensor) -> Tensor:
    """Sum of squared residuals: sum over the points of (observed - predicted)^2, a 0-D tensor."""
    return ((observed - predicted) ** 2).sum()


def ssr_gradients_by_hand(doses: Tensor, observed: Tensor, params: Params) -> dict[str, Tensor]:
    """dSSR/dparameter for all seven parameters of the softplus network, by the chain rule.

    Written out term by term, without autograd (notebook 02 derives each line)::

        x1 = d*w1 + b1,  y1 = softplus(x1);   x2 = d*w2 + b2,  y2 = softplus(x2)
        predicted = y1*w3 + y2*w4 + b3;       SSR = sum (observed - predicted)^2

        dSSR/dpredicted_i = -2 (observed_i - predicted_i)
        dpredicted/db3 = 1,  dpredicted/dw3 = y1,  dpredicted/dw4 = y2
        dpredicted/db1 = w3 * softplus'(x1) = w3 * sigmoid(x1),  dpredicted/dw1 = that * d
        dpredicted/db2 = w4 * sigmoid(x2),                       dpredicted/dw2 = that * d

    Each derivative of SSR sums dSSR/dpredicted_i * dpredicted_i/dparameter over the points.
    Returns a dict of 0-D tensors, in the order of :data:`PARAM_NAMES`.
    """
    _check_params(params)
    p = params
    x1 = doses * p["w1"] + p["b1"]  # (N,)
    x2 = doses * p["w2"] + p["b2"]  # (N,)
    y1, y2 = F.softplus(x1), F.softplus(x2)  # (N,), (N,)
    predicted = y1 * p["w3"] + y2 * p["w4"] + p["b3"]  # (N,)
    d_ssr_d_pred = -2 * (observed - predicted)  # (N,)
    d_pred_d_x1 = p["w3"] * torch.sigmoid(x1)  # (N,): softplus'(x) = sigmoid(x)
    d_pred_d_x2 = p["w4"] * torch.sigmoid(x2)  # (N,)
    return {
        "w1": (d_ssr_d_pred * d_pred_d_x1 * doses).sum(),
        "b1": (d_ssr_d_pred * d_pred_d_x1).sum(),
        "w2": (d_ssr_d_pred * d_pred_d_x2 * doses).sum(),
        "b2": (d_ssr_d_pred * d_pred_d_x2).sum(),
        "w3": (d_ssr_d_pred * y1).sum(),
        "w4": (d_ssr_d_pred * y2).sum(),
        "b3": d_ssr_d_pred.sum(),
    }


def random_params(seed: int = 0) -> dict[str, float]:
    """A seeded random start: weights drawn from N(0, 1), biases 0 (as in the lecture).

    Uses its own ``torch.Generator``, so the start does not depend on what ran before.
    """
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(4, generator=generator, dtype=torch.float64).tolist()
    start = dict(zip(("w1", "w2", "w3", "w4"), weights))
    start.update(b1=0.0, b2=0.0, b3=0.0)
    return {name: start[name] for name in PARAM_NAMES}


class DoseNet(nn.Module):
    """The single-dose network as an ``nn.Module``: seven 0-D ``nn.Parameter`` tensors.

    ``params`` gives the starting values (default: :func:`random_params` with ``seed``);
    ``activation`` is ``"softplus"`` (the lecture's) or ``"relu"`` (what most PyTorch code uses).
    ``forward`` maps doses ``(N,)`` to efficacy ``(N,)``.
    """

    def __init__(
        self,
        params: Params | None = None,
        activation: str = "softplus",
        *,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
        if params is None:
            params = random_params(seed)
        _check_params(params)
        self.activation = activation
        for name in PARAM_NAMES:
            value = torch.as_tensor(params[name], dtype=dtype).detach().clone().reshape(())  # ()
            setattr(self, name, nn.Parameter(value))

    def forward(self, doses: Tensor) -> Tensor:
        if doses.ndim != 1:
            raise ValueError(f"DoseNet expects doses of shape (N,), got shape {tuple(doses.shape)}")
        return forward(doses, self.param_dict(), ACTIVATIONS[self.activation])  # (N,)

    def param_dict(self) -> dict[str, Tensor]:
        """The seven parameters by name (the tensors themselves, so gradients flow)."""
        return {name: getattr(self, name) for name in PARAM_NAMES}

    def as_floats(self, decimals: int | None = None) -> dict[str, float]:
        """The seven parameters as Python floats, optionally rounded (for printing)."""
        out = {name: getattr(self, name).item() for name in PARAM_NAMES}
        return out if decimals is None else {k: round(v, decimals) + 0.0 for k, v in out.items()}  # no -0.0

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"
