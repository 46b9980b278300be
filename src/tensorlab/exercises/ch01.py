"""Exercises of notebook 01, "Tensors from 0-D to N-D"."""

from __future__ import annotations

import torch

from tensorlab.checking import FunctionExercise, TensorExercise, ValueExercise
from tensorlab.device import pick_device
from tensorlab.exercises import name_exercises

q1 = TensorExercise(
    "a dose as a 0-D tensor",
    expected=lambda: torch.tensor(0.75),
    hints=("torch.tensor(number) makes a 0-D tensor; its shape is ().",
           "A Python float becomes float32, the dtype neural networks use: torch.tensor(0.75)."),
)

q2 = TensorExercise(
    "three doses on the course device",
    expected=lambda: torch.tensor([0.0, 0.5, 1.0]),
    device=pick_device,
    hints=("A list of numbers gives a 1-D tensor: torch.tensor([...]).",
           "Give the device when you create it (device=device) or move it with .to(device)."),
)

q3 = ValueExercise(
    "values in a batch of colour images",
    expected=8 * 3 * 256 * 256,
    hints=("A batch has shape (N, C, H, W); the number of values is the product of the four sizes.",
           "Let the computer multiply: torch.zeros(8, 3, 256, 256).numel() would do it, but so "
           "does 8 * 3 * 256 * 256 without allocating anything."),
)


def _reference_to_chw(image: torch.Tensor) -> torch.Tensor:
    return image.permute(2, 0, 1)  # (H, W, C) -> (C, H, W)


def _hwc_cases() -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randint(0, 256, (4, 5, 3), dtype=torch.uint8, generator=generator),),  # (H, W, C)
        (torch.rand(2, 7, 3, generator=generator),),                                 # (H, W, C)
    ]


q4 = FunctionExercise(
    "from (H, W, C) to (C, H, W)",
    reference=_reference_to_chw, cases=_hwc_cases,
    hints=("tensor.permute(...) takes the old position of each new dimension.",
           "The new order is (C, H, W): C was dimension 2, H was 0, W was 1."),
)

q5 = ValueExercise(
    "bytes of a float32 video batch",
    expected=2 * 16 * 3 * 64 * 64 * 4,
    hints=("Values: N x T x C x H x W. Bytes: values x bytes per value.",
           "float32 takes 4 bytes per value (torch.tensor(0.0).element_size() says so)."),
)

q6 = ValueExercise(
    "the shape of a Linear layer's weight",
    expected=(3, 2),
    hints=("Build one and look: torch.nn.Linear(2, 3).weight.shape.",
           "nn.Linear stores its weight as (out_features, in_features)."),
)


def _reference_scale_channels(image: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    return image * factors.view(3, 1, 1)  # (3,) -> (3, 1, 1) broadcasts over (3, H, W)


def _scale_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(2)
    return [
        (torch.rand(3, 4, 5, generator=generator), torch.tensor([1.0, 0.5, 0.0])),
        (torch.rand(3, 2, 2, generator=generator), torch.tensor([0.2, 2.0, 1.0])),
    ]


q7 = FunctionExercise(
    "scale each colour channel with broadcasting",
    reference=_reference_scale_channels, cases=_scale_cases,
    hints=("A (3,) tensor lines up with the last dimension (W), not with C. Give it shape (3, 1, 1).",
           "factors.view(3, 1, 1) or factors[:, None, None], then multiply: no loop needed."),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
