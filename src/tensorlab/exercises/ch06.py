"""Exercises of notebook 06, "Tensors are for speed: hardware acceleration, measured"."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tensorlab.checking import (ChoiceExercise, Exercise, FunctionExercise, NotAttempted, NumberExercise,
                                ValueExercise, WrongAnswer, compare_equal, compare_tensor)
from tensorlab.exercises import name_exercises


def _reference_matmul_flops(m: int, k: int, n: int) -> int:
    return 2 * m * k * n  # m * n outputs, each k multiplications and k additions


q1 = FunctionExercise(
    "the FLOPs of a matrix product",
    reference=_reference_matmul_flops,
    cases=lambda: [(2, 3, 4), (128, 64, 32), (1, 1, 1), (1024, 1024, 1024)],
    compare=compare_equal,
    hints=("An (m, k) @ (k, n) product has m * n outputs; each is a sum of k products.",
           "Count a multiplication and an addition for each of the k products: 2 * m * k * n."),
)

q2 = NumberExercise(
    "achieved GFLOP/s from a measured time",
    expected=2 * 1024**3 / 0.020 / 1e9,
    rtol=1e-3,
    hints=("Rate = operations / seconds. How many operations does a (1024, 1024) @ (1024, 1024) "
           "product do?",
           "2 * 1024**3 operations in 0.020 s; divide by 1e9 for GFLOP/s (about a hundred)."),
)


def _linear_cases() -> list[tuple[nn.Module, torch.Tensor, str]]:
    generator = torch.Generator().manual_seed(6)
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(torch.randn(3, 4, generator=generator))  # (3, 4)
        net.bias.copy_(torch.randn(3, generator=generator))       # (3,)
    X = torch.randn(5, 4, generator=generator)                    # (5, 4)
    # "meta" is a device every PyTorch has: tensors there have shapes but no values, so it shows
    # where the computation ran even on a machine without a GPU.
    return [(net, X, "cpu"), (copy.deepcopy(net), X.clone(), "meta")]


@dataclass
class DeviceFunctionExercise(Exercise):
    """The answer is ``f(net, X, device)``, which must compute ``net(X)`` on ``device``.

    Each case is run on a fresh copy of the model and data. On the CPU the values are compared with
    ``net(X)``; on the "meta" device (shapes without values) the output and the model's parameters
    must both be on that device, which catches moving only the data or only the result.
    """

    def judge(self, answer: Any) -> None:
        if answer is Ellipsis:
            raise NotAttempted()
        if not callable(answer):
            raise WrongAnswer(f"your answer should be a function, but it is a {type(answer).__name__}.")
        name = getattr(answer, "__name__", "your function")
        for net, X, device in _linear_cases():
            expected = net(X).detach() if device == "cpu" else None  # (5, 3)
            net, X = copy.deepcopy(net), X.clone()
            shown = f"{name}(net, X, device='{device}')"
            try:
                got = answer(net, X, torch.device(device))
            except Exception as error:
                text = str(error).strip()
                first = (text.splitlines()[0] if text else "no message").rstrip(".!")
                if isinstance(error, NotImplementedError) and (not text or "your code here" in text.lower()):
                    raise NotAttempted() from None  # the student notebook's placeholder
                if "meta tensor" in text:
                    raise WrongAnswer(f"calling {shown} tried to copy the result back to the CPU "
                                      f"({first}); return it on the device where it was computed.") from None
                where = " (are the model and the data on the same device?)" if "device" in text else ""
                raise WrongAnswer(f"calling {shown} raised {type(error).__name__}: {first}{where}.") from None
            if got is None:
                raise WrongAnswer(f"calling {shown} returned None; did you forget the return statement?")
            if not isinstance(got, torch.Tensor):
                raise WrongAnswer(f"calling {shown} should return a tensor, but it returned "
                                  f"a {type(got).__name__}.")
            if got.device.type != device:
                raise WrongAnswer(f"calling {shown} returned a tensor on '{got.device.type}', not on "
                                  f"'{device}'.")
            if any(p.device.type != device for p in net.parameters()):
                raise WrongAnswer(f"calling {shown} left the model's parameters on the CPU: move the "
                                  "model with net.to(device), so the arithmetic runs on the device.")
            if expected is not None:
                compare_tensor(got, expected, atol=1e-5, what=f"the result of {shown}")
            elif tuple(got.shape) != (5, 3):
                raise WrongAnswer(f"calling {shown} gave shape {tuple(got.shape)}, but net(X) has "
                                  "shape (5, 3).")


q3 = DeviceFunctionExercise(
    "a model and its data on a device",
    hints=("Both the model (its weights and biases) and the data must be on the device before the "
           "product: net.to(device) and X.to(device).",
           "net.to(device) moves a module in place and returns it; X.to(device) returns a new tensor. "
           "Then return net(X)."),
)

q4 = ChoiceExercise(
    "the missing synchronize",
    choices=("a", "b", "c"), expected="b",
    hints=("CUDA calls return as soon as the work is queued; the GPU finishes later.",
           "The clock must be read after waiting for the GPU both before the start (earlier work) "
           "and before the stop (this work): torch.cuda.synchronize() in both places."),
)

q5 = ValueExercise(
    "bytes moved by a copy",
    expected=64 * 3 * 224 * 224 * 4,
    hints=("Bytes = number of values x bytes per value.",
           "64 * 3 * 224 * 224 values, 4 bytes each in float32 (torch.tensor(0.0).element_size())."),
)

q6 = NumberExercise(
    "how long the copy takes",
    expected=64 * 3 * 224 * 224 * 4 / 25e9 * 1e3,
    rtol=1e-3,
    hints=("Time = bytes / bytes per second; 25 GB/s is 25e9 bytes per second.",
           "Your answer to exercise 5 / 25e9 gives seconds; times 1000 gives milliseconds (about 1.5)."),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
