"""Exercises of notebook 01, "Tensors from 0-D to N-D"."""

from __future__ import annotations

import torch

from tensorlab.checking import FunctionExercise, TensorExercise, ValueExercise
from tensorlab.device import pick_device

q1 = TensorExercise(
    "q1", "a dose as a 0-D tensor",
    expected=lambda: torch.tensor(0.75),
    hints=("torch.tensor(number) makes a 0-D tensor; its shape is ().",
           "A Python float becomes float32, the dtype neural networks use: torch.tensor(0.75)."),
    takeaway=("torch.tensor(0.75) is a 0-D tensor of shape (); a Python float becomes float32, the dtype "
              "networks use."),
)

q2 = TensorExercise(
    "q2", "three doses on the course device",
    expected=lambda: torch.tensor([0.0, 0.5, 1.0]),
    device=pick_device,
    hints=("A list of numbers gives a 1-D tensor: torch.tensor([...]).",
           "Give the device when you create it (device=device) or move it with .to(device)."),
    takeaway=("A tensor lives on a device: create it there (device=device) or move it with .to(device), "
              "since an operation needs all its inputs on one device."),
)

q3 = ValueExercise(
    "q3", "values in a batch of colour images",
    expected=8 * 3 * 256 * 256,
    hints=("A batch has shape (N, C, H, W); the number of values is the product of the four sizes.",
           "Let the computer multiply: torch.zeros(8, 3, 256, 256).numel() would do it, but so "
           "does 8 * 3 * 256 * 256 without allocating anything."),
    takeaway=("A tensor holds the product of its shape's sizes in values (shape.numel()), so you can "
              "count a batch before you allocate it."),
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
    "q4", "from (H, W, C) to (C, H, W)",
    reference=_reference_to_chw, cases=_hwc_cases,
    hints=("tensor.permute(...) takes the old position of each new dimension.",
           "The new order is (C, H, W): C was dimension 2, H was 0, W was 1."),
    takeaway=("permute reorders the dimensions and moves the values with them; a reshape to the same "
              "shape would scramble the pixels."),
)

q5 = ValueExercise(
    "q5", "bytes of a float32 video batch",
    expected=2 * 16 * 3 * 64 * 64 * 4,
    hints=("Values: N x T x C x H x W. Bytes: values x bytes per value.",
           "float32 takes 4 bytes per value (torch.tensor(0.0).element_size() says so)."),
    takeaway=("Memory is values x bytes per value (element_size()): at 4 bytes per float32 value, video "
              "batches grow fast."),
)

q6 = ValueExercise(
    "q6", "the shape of a Linear layer's weight",
    expected=(3, 2),
    hints=("Build one and look: torch.nn.Linear(2, 3).weight.shape.",
           "nn.Linear stores its weight as (out_features, in_features)."),
    takeaway="nn.Linear(in, out) stores its weight as (out, in) and computes x @ W.T + b.",
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
    "q7", "scale each colour channel with broadcasting",
    reference=_reference_scale_channels, cases=_scale_cases,
    hints=("A (3,) tensor lines up with the last dimension (W), not with C. Give it shape (3, 1, 1).",
           "factors.view(3, 1, 1) or factors[:, None, None], then multiply: no loop needed."),
    takeaway=("Broadcasting lines shapes up from the right: a (3,) tensor needs shape (3, 1, 1) to act on "
              "each channel of a (3, H, W) image."),
)


# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions"). Imported here, apart from the imports above, so that this
# block grows on its own.
from tensorlab.checking import Discussion, Discussions  # noqa: E402,F401

discuss = Discussions(
)
