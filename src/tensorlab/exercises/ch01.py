"""Exercises of notebook 01, "Tensors from 0-D to N-D"."""

from __future__ import annotations

from typing import Any

import torch

from tensorlab.checking import (
    FunctionExercise,
    TensorExercise,
    ValueExercise,
    WrongAnswer,
    compare_equal,
    compare_number,
    compare_tensor,
    format_shape,
)
from tensorlab.exercises import name_exercises

q1 = TensorExercise(
    "a dose as a 0-D tensor",
    expected=lambda: torch.tensor(0.75),
    hints=(
        "torch.tensor(number) makes a 0-D tensor; its shape is ().",
        "A Python float becomes float32, the dtype neural networks use: torch.tensor(0.75).",
    ),
    takeaway=(
        "torch.tensor(0.75) is a 0-D tensor of shape (); a Python float becomes float32, the dtype " "networks use."
    ),
)


# ---- q2: judged on every device the check can reach, "meta" included, so that a tensor left on the CPU
# is caught on a machine without a GPU too (there the course device is the CPU itself).
def _reference_doses_on(device: Any) -> torch.Tensor:
    return torch.tensor([0.0, 0.5, 1.0], device=device)


def _device_cases() -> list[tuple[Any]]:
    return [("cpu",), ("meta",), (torch.device("meta"),)]


def _compare_on_device(
    answer: Any, expected: torch.Tensor, *, what: str = "your answer", show_expected: bool = True
) -> None:
    """A tensor on ``expected``'s device with its shape and dtype, and its values off the meta device."""
    if not expected.is_meta:
        eps = torch.finfo(expected.dtype).eps if expected.is_floating_point() else 0.0  # float16: a few 1e-3
        compare_tensor(
            answer,
            expected,
            device=expected.device,
            what=what,
            show_expected=show_expected,
            atol=max(1e-6, 2 * eps),
            rtol=max(1e-5, 2 * eps),
        )
        return
    if not isinstance(answer, torch.Tensor) or not answer.is_meta:
        compare_tensor(answer, expected, device="meta", what=what)  # the sentence for type, shape, dtype or device
    if tuple(answer.shape) != tuple(expected.shape):
        raise WrongAnswer(
            f"{what} should have shape {format_shape(expected.shape)}, but it has shape "
            f"{format_shape(answer.shape)}."
        )
    if answer.dtype != expected.dtype:
        raise WrongAnswer(f"{what} should have dtype {expected.dtype}, but it has dtype {answer.dtype}.")


q2 = FunctionExercise(
    "three doses on a given device",
    reference=_reference_doses_on,
    cases=_device_cases,
    compare=_compare_on_device,
    hints=(
        "A list of numbers gives a 1-D tensor: torch.tensor([...]). Python floats make it float32.",
        "Create it where you are told: torch.tensor([...], device=device) (or .to(device) afterwards).",
    ),
    takeaway=(
        "A tensor lives on a device: create it there (device=device) or move it with .to(device), "
        "since an operation needs all its inputs on one device."
    ),
)


# ---- q3: slicing and fancy indexing on the course picture ---------------------------------------------
def _house_bgr() -> torch.Tensor:
    from tensorlab.data.images import load_color_image

    return load_color_image()[[2, 1, 0], 90:210, 40:112]  # (3, 120, 72): rows 90-209, columns 40-111, B, G, R


q3 = TensorExercise(
    "the house, in blue-green-red order",
    expected=_house_bgr,
    hints=(
        "A slice a:b takes a, a+1, ..., b-1: rows 90 to 209 inclusive is 90:210. Dimensions go "
        "(C, H, W): channels, then rows, then columns.",
        "A list of indices picks channels in that order: picture[[2, 1, 0], 90:210, 40:112].",
    ),
    takeaway=(
        "Index (C, H, W) in that order; a slice a:b stops before b; a list of indices picks and "
        "reorders, and copies."
    ),
)


# ---- q4: boolean masks ---------------------------------------------------------------------------------
def _reference_count_bright(image: torch.Tensor, level: int) -> int:
    return int((image > level).all(dim=0).sum())


def _bright_cases() -> list[tuple[torch.Tensor, int]]:
    generator = torch.Generator().manual_seed(4)
    uneven = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8, generator=generator)  # (C, H, W), H != W
    uneven[:, 0, :3] = 200  # exactly at the level: not above it
    uneven[:, 1, :4] = 201  # just above it in every channel
    uneven[1, 1, 0] = 12  # ... but one pixel is dark in green: not bright
    return [
        (uneven, 200),
        (torch.rand(3, 4, 6, generator=generator), 0.5),  # float image
        (torch.tensor([[[255, 0]], [[255, 255]], [[255, 255]]], dtype=torch.uint8), 128),  # (3, 1, 2)
    ]


q4 = FunctionExercise(
    "count the bright pixels with a mask",
    reference=_reference_count_bright,
    cases=_bright_cases,
    compare=compare_number,
    compare_options={"atol": 0, "rtol": 0},
    hints=(
        "image > level is a boolean (3, H, W) tensor: one answer per value, not per pixel.",
        "A pixel counts if all three of its values are above: .all(dim=0) gives an (H, W) mask; .sum() "
        "counts its True values.",
    ),
    takeaway=(
        "A comparison gives a boolean mask; reduce it over the channel dimension (.all(dim=0)) to "
        "ask a question per pixel, and .sum() counts."
    ),
)


q5 = ValueExercise(
    "values in a batch of colour images",
    expected=8 * 3 * 256 * 256,
    hints=(
        "A batch has shape (N, C, H, W); the number of values is the product of the four sizes.",
        "Let the computer multiply: torch.zeros(8, 3, 256, 256).numel() would do it, but so "
        "does 8 * 3 * 256 * 256 without allocating anything.",
    ),
    takeaway=(
        "A tensor holds the product of its shape's sizes in values (shape.numel()), so you can "
        "count a batch before you allocate it."
    ),
)


# ---- q6: cat against stack --------------------------------------------------------------------------
def _reference_add_frame(clip: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    return torch.cat([clip, frame.unsqueeze(0)])  # (T, C, H, W) + (1, C, H, W) -> (T + 1, C, H, W)


def _frame_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(6)
    return [
        (torch.rand(4, 3, 5, 2, generator=generator), torch.rand(3, 5, 2, generator=generator)),  # T=4, H != W
        (
            torch.randint(0, 256, (1, 3, 2, 3), dtype=torch.uint8, generator=generator),  # one frame so far
            torch.randint(0, 256, (3, 2, 3), dtype=torch.uint8, generator=generator),
        ),
        (torch.rand(3, 1, 4, 4, generator=generator), torch.rand(1, 4, 4, generator=generator)),  # C = 1, H = W
    ]


q6 = FunctionExercise(
    "add a frame at the end of a clip",
    reference=_reference_add_frame,
    cases=_frame_cases,
    hints=(
        "torch.cat joins tensors along a dimension they already have; torch.stack makes a new one. "
        "A clip (T, C, H, W) and a frame (C, H, W) do not have the same number of dimensions yet.",
        "Give the frame a time dimension of size 1 (frame.unsqueeze(0) or frame[None]), then "
        "torch.cat([clip, ...]) along dimension 0.",
    ),
    takeaway=(
        "stack adds a new dimension; cat extends one that exists: unsqueeze a frame to (1, C, H, W) to "
        "cat it onto a (T, C, H, W) clip."
    ),
)


q7 = ValueExercise(
    "bytes of a float32 video batch",
    expected=2 * 16 * 3 * 64 * 48 * 4,
    hints=(
        "Values: N x T x C x H x W. Bytes: values x bytes per value.",
        "float32 takes 4 bytes per value (torch.tensor(0.0).element_size() says so).",
    ),
    takeaway=(
        "Memory is values x bytes per value (element_size()): at 4 bytes per float32 value, video " "batches grow fast."
    ),
)

q8 = ValueExercise(
    "the shape of a Linear layer's weight",
    expected=(3, 2),
    hints=(
        "Build one and look: torch.nn.Linear(2, 3).weight.shape.",
        "nn.Linear stores its weight as (out_features, in_features).",
    ),
    takeaway="nn.Linear(in, out) stores its weight as (out, in) and computes x @ W.T + b.",
)


# ---- q9: the matrix-product shape rule ---------------------------------------------------------------
def _reference_linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return x @ weight.T + bias  # (N, in) @ (in, out) + (out,) -> (N, out)


def _linear_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(9)
    return [
        # N=5 flowers, 2 inputs, 3 outputs: W is (3, 2), so x @ W fails and x @ W.T fits
        (
            torch.rand(5, 2, generator=generator),
            torch.randn(3, 2, generator=generator),
            torch.randn(3, generator=generator),
        ),
        # a square, non-symmetric W: x @ W runs too, and gives the wrong numbers
        (
            torch.rand(4, 3, generator=generator),
            torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [3.0, 0.0, 1.0]]),
            torch.tensor([0.5, -1.0, 2.0]),
        ),
        # a batch of one sample: 4 inputs, 2 outputs
        (
            torch.tensor([[0.2, 3.0, -1.0, 0.5]]),
            torch.tensor([[1.0, -1.0, 0.0, 2.0], [0.5, 0.5, 1.0, 0.0]]),
            torch.tensor([0.0, 1.0]),
        ),
    ]


q9 = FunctionExercise(
    "what nn.Linear computes",
    reference=_reference_linear_forward,
    cases=_linear_cases,
    compare_options={"atol": 1e-5, "check_dtype": False},  # the question fixes no dtype: float64 is fine too
    hints=(
        "x is (N, in), the weight is (out, in): for (m, k) @ (k, n) the inner sizes must match.",
        "Transpose the weight to (in, out): x @ weight.T, then add the bias, which broadcasts over the N rows.",
    ),
    takeaway=(
        "(m, k) @ (k, n) -> (m, n): nn.Linear keeps W as (out, in), so it computes x @ W.T + b; a square W "
        "hides a missing .T."
    ),
)


# ---- q10: permute, not reshape -------------------------------------------------------------------------
def _reference_to_chw(image: torch.Tensor) -> torch.Tensor:
    return image.permute(2, 0, 1)  # (H, W, C) -> (C, H, W)


def _hwc_cases() -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randint(0, 256, (4, 5, 3), dtype=torch.uint8, generator=generator),),  # (H, W, C)
        (torch.rand(2, 7, 3, generator=generator),),  # (H, W, C)
        (torch.rand(4, 4, 3, generator=generator),),  # square: swapping H and W keeps the shape, not the picture
        (torch.rand(3, 3, 3, generator=generator),),  # H = W = C: every wrong order has the right shape
    ]


q10 = FunctionExercise(
    "from (H, W, C) to (C, H, W)",
    reference=_reference_to_chw,
    cases=_hwc_cases,
    hints=(
        "tensor.permute(...) takes the old position of each new dimension.",
        "The new order is (C, H, W): C was dimension 2, H was 0, W was 1.",
    ),
    takeaway=(
        "permute reorders the dimensions and moves the values with them; a reshape to the same "
        "shape would scramble the pixels."
    ),
)


# ---- q11: strides --------------------------------------------------------------------------------------
def _reference_contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def _stride_cases() -> list[tuple[tuple[int, ...]]]:
    return [((3, 256, 256),), ((2, 3, 4),), ((4, 5, 3, 2),), ((5,),), ((3, 1, 7),), ((),)]


q11 = FunctionExercise(
    "the strides of a contiguous tensor",
    reference=_reference_contiguous_strides,
    cases=_stride_cases,
    compare=compare_equal,
    hints=(
        "The last dimension has stride 1: its neighbours sit side by side in memory.",
        "Each stride is the product of the sizes to its right: for (2, 3, 4) that is (3*4, 4, 1) = (12, 4, 1). "
        "A shape () has the strides ().",
    ),
    takeaway=(
        "A contiguous tensor's stride along a dimension is the product of the sizes after it; view "
        "needs strides it can still describe that way."
    ),
)


# ---- q12: broadcasting ---------------------------------------------------------------------------------
def _reference_scale_channels(image: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    return image * factors.view(3, 1, 1)  # (3,) -> (3, 1, 1) broadcasts over (3, H, W)


def _scale_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(2)
    return [
        (torch.rand(3, 4, 5, generator=generator), torch.tensor([1.0, 0.5, 0.0])),
        (torch.rand(3, 2, 2, generator=generator), torch.tensor([0.2, 2.0, 1.0])),
        # W = 3: a bare (3,) lines up with the columns and runs without an error, scaling the wrong thing
        (torch.rand(3, 4, 3, generator=generator), torch.tensor([0.0, 1.0, 3.0])),
    ]


q12 = FunctionExercise(
    "scale each colour channel with broadcasting",
    reference=_reference_scale_channels,
    cases=_scale_cases,
    compare_options={"check_dtype": False},  # the question fixes no dtype: float64 is fine too
    hints=(
        "A (3,) tensor lines up with the last dimension (W), not with C. Give it shape (3, 1, 1).",
        "factors.view(3, 1, 1) or factors[:, None, None], then multiply: no loop needed.",
    ),
    takeaway=(
        "Broadcasting lines shapes up from the right: a (3,) tensor needs shape (3, 1, 1) to act on "
        "each channel of a (3, H, W) image."
    ),
)


# ---- q13 and q14: reductions ---------------------------------------------------------------------------
def _reference_center_channels(images: torch.Tensor) -> torch.Tensor:
    return images - images.mean(dim=(2, 3), keepdim=True)  # (N, C, H, W) - (N, C, 1, 1)


def _center_cases() -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(13)
    return [
        (torch.rand(2, 3, 4, 5, generator=generator) * 10,),  # (N, C, H, W)
        # N = H and C = W: the (N, C) means of a reduction without keepdim broadcast silently, wrongly
        (torch.rand(4, 5, 4, 5, generator=generator) * 10,),
        (torch.rand(3, 2, 1, 6, generator=generator),),  # uneven, W = 6, H = 1
    ]


q13 = FunctionExercise(
    "subtract each image's channel means",
    reference=_reference_center_channels,
    cases=_center_cases,
    compare_options={"atol": 1e-5, "check_dtype": False},  # the question fixes no dtype: float64 is fine too
    hints=(
        "The mean over the height and width of each image and channel: images.mean(dim=(2, 3)) has shape (N, C).",
        "keepdim=True leaves it as (N, C, 1, 1), which broadcasts against (N, C, H, W).",
    ),
    takeaway=(
        "Reduce with keepdim=True when the result must broadcast back: (N, C, 1, 1) lines up with "
        "(N, C, H, W), (N, C) does not."
    ),
)


def _reference_predicted_classes(scores: torch.Tensor) -> torch.Tensor:
    return scores.argmax(dim=1)  # (N, classes) -> (N,)


def _score_cases() -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(14)
    return [
        (torch.randn(5, 3, generator=generator),),  # 5 flowers, 3 species
        (torch.randn(3, 3, generator=generator),),  # square: argmax(dim=0) has the right shape, wrong values
        (torch.tensor([[0.1, 2.0, -1.0, 0.3], [4.0, 0.0, 1.0, 5.0]]),),  # 2 samples, 4 classes
    ]


q14 = FunctionExercise(
    "the predicted class of every sample",
    reference=_reference_predicted_classes,
    cases=_score_cases,
    hints=(
        "scores has one row per sample and one column per class: reduce over the columns, dim=1.",
        "argmax gives the position of the largest value: scores.argmax(dim=1); max(dim=1) gives " "(values, indices).",
    ),
    takeaway=(
        "argmax(dim=1) turns (N, classes) scores into N class indices; the dim you name is the one that " "disappears."
    ),
)


# ---- q15: the dtype and device errors, fixed ---------------------------------------------------------
def _reference_add_bias(h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return h + bias.to(device=h.device, dtype=h.dtype)  # (N, out) + (out,) -> (N, out), h's dtype and device


def _bias_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(15)
    return [
        # float32 activations, a float64 bias from NumPy: h + bias runs, and silently gives float64
        (torch.rand(2, 3, generator=generator), torch.rand(3, generator=generator, dtype=torch.float64)),
        (torch.rand(4, 2, generator=generator, dtype=torch.float64), torch.tensor([1, -2])),  # an int64 bias
        (torch.rand(3, 5, generator=generator), torch.rand(5, generator=generator)),  # nothing to fix
        (torch.rand(3, 2, generator=generator).half(), torch.rand(2, generator=generator)),  # float16 h
        # activations on another device ("meta": shapes and dtypes, no values), the bias on the CPU
        (torch.empty(2, 4, device="meta"), torch.rand(4, generator=generator, dtype=torch.float64)),
    ]


q15 = FunctionExercise(
    "add a bias that came with another dtype and device",
    reference=_reference_add_bias,
    cases=_bias_cases,
    compare=_compare_on_device,
    hints=(
        "h + bias needs both on one device; with two dtypes, + promotes to the wider one (float64) instead "
        "of failing. The result should keep h's dtype and device: convert the bias, not h.",
        "bias.to(device=h.device, dtype=h.dtype) (or bias.to(h), which copies both from h), then add.",
    ),
    takeaway=(
        "Convert the odd one out with .to(...) before you combine tensors: devices must match, and "
        "mixed dtypes either fail or silently promote."
    ),
)


# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions"). Imported here, apart from the imports above, so that this
# block grows on its own.
from tensorlab.checking import Discussion, Discussions  # noqa: E402

discuss = Discussions(
    Discussion(
        "If a network really kept the three colour channels apart, what could it not see?",
        "Colour lives between the channels. Yellow is a high red value and a high green value at the same "
        "pixel; white is high in all three; the lake's blue is high blue with little red. A filter that "
        "looked at one channel alone could say 'a lot of red here', but not whether that red belongs to the "
        "yellow sun, the red house or a white cloud. That is why each filter of nn.Conv2d has weights for "
        "every input channel and adds the three results: its weight is (out_channels, in_channels, kH, kW).\n\n"
        "Networks can keep channels apart on purpose: nn.Conv2d(C, C, 3, groups=C) gives every channel a "
        "filter of its own (a depthwise convolution, used by MobileNet to save arithmetic), and is then "
        "followed by a 1 x 1 convolution that mixes the channels again. The count the lecture makes stays "
        "right either way: a 256 x 256 colour picture is 3 x 65,536 = 196,608 input values.\n\n"
        "Try it: build nn.Conv2d(3, 2, 3) and nn.Conv2d(3, 3, 3, groups=3) and compare their weight shapes.",
    ),
    Discussion(
        "reshape returns a view when it can and a copy when it must. When could that surprise you?",
        "When you change the result in place. x.reshape(6) of a contiguous (2, 3) tensor is a view, so "
        "y = x.reshape(6); y[0] = 100 changes x too. x.T.reshape(6) has to copy (the transposed strides "
        "cannot be described as one flat row), so the same line leaves x alone. The code looks the same; "
        "what it does to x depends on the memory layout of its input, which may come from far away.\n\n"
        "Two habits keep code independent of it: use view when you want sharing (it raises an error instead "
        "of copying quietly), and clone() when you want a copy you may change. And prefer out-of-place "
        "operations (y = y * 2) to in-place ones (y *= 2, y.mul_(2)) on tensors you did not create: "
        "autograd refuses some in-place changes for the same reason (notebook 02).",
    ),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
