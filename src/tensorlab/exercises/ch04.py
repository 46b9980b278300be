"""Exercises of notebook 04, "Seeing X and O: a convolutional network on 6 x 6 images"."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from tensorlab.checking import (FunctionExercise, NumberExercise, TensorExercise, ValueExercise, WrongAnswer,
                                compare_equal)
from tensorlab.data.xo import o_image, shift_image, x_image
from tensorlab.exercises import name_exercises

SOBEL = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))  # the filter of exercise 1


@dataclass
class KnownMistakesExercise(ValueExercise):
    """An exact answer (a number or a shape); a known wrong answer gets a sentence naming the slip.

    ``mistakes`` returns ``{wrong answer: what went wrong}`` and is computed when checked.
    """

    mistakes: Callable[[], dict[Any, str]] = field(default=dict)

    def judge(self, answer: Any) -> None:
        try:
            compare_equal(answer, self.expected() if callable(self.expected) else self.expected)
        except WrongAnswer:
            key = answer
            if isinstance(answer, (list, tuple, torch.Size)):
                key = tuple(int(a) if isinstance(a, numbers.Integral) else a for a in answer)
            elif isinstance(answer, torch.Tensor) and answer.numel() == 1:
                key = answer.item()
            try:
                known = self.mistakes().get(key)
            except TypeError:  # an unhashable answer cannot be a known mistake
                known = None
            if known:
                raise WrongAnswer(f"your answer {key} is {known}.") from None
            raise


@dataclass
class KnownMistakesNumber(NumberExercise):
    """A number compared with a tolerance; a known wrong number gets a sentence naming the slip."""

    mistakes: Callable[[], dict[float, str]] = field(default=dict)

    def judge(self, answer: Any) -> None:
        try:
            super().judge(answer)
        except WrongAnswer:
            value = answer.item() if isinstance(answer, torch.Tensor) and answer.numel() == 1 else answer
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                for wrong, why in self.mistakes().items():
                    if math.isclose(float(value), wrong, abs_tol=self.atol):
                        raise WrongAnswer(f"your answer {float(value):g} is {why}.") from None
            raise


# --- 1. one output pixel of a convolution --------------------------------------------------------

def _sobel_pixel(flip: bool = False) -> float:
    image = x_image()[None, None].double()                         # (1, 1, 6, 6)
    kernel = torch.tensor(SOBEL, dtype=torch.float64)[None, None]  # (1, 1, 3, 3)
    if flip:  # the textbook convolution turns the filter by 180 degrees first
        kernel = kernel.flip(-2, -1)
    return F.conv2d(image, kernel)[0, 0, 1, 0].item()              # output row 1, column 0


q1 = KnownMistakesNumber(
    "one output pixel of the convolution",
    expected=_sobel_pixel,
    mistakes=lambda: {_sobel_pixel(flip=True): "what the filter turned by 180 degrees gives (the textbook "
                                               "convolution); PyTorch's conv2d does not flip the filter"},
    hints=("Output pixel (row 1, column 0) looks at the 3 x 3 window of the image that starts at row 1, "
           "column 0: rows 1 to 3, columns 0 to 2, i.e. image[1:4, 0:3].",
           "Multiply that window by the filter element by element, then add up all nine products: "
           "(window * sobel).sum(). No flipping: PyTorch's 'convolution' is a cross-correlation."),
)


# --- 2. shapes through convolution and pooling ---------------------------------------------------

def _pooled_shape() -> tuple[int, ...]:
    with torch.no_grad():
        out = nn.MaxPool2d(2)(nn.Conv2d(1, 6, kernel_size=3)(torch.zeros(16, 1, 28, 28)))
    return tuple(out.shape)


q2 = KnownMistakesExercise(
    "the feature-map shape after convolution and pooling",
    expected=_pooled_shape,
    mistakes=lambda: {
        (16, 6, 26, 26): "the shape after the convolution, before the 2 x 2 max pooling halves H and W",
        (16, 6, 14, 14): "what you would get with padding; without it a 3 x 3 filter fits 28 - 3 + 1 = 26 "
                         "positions, and pooling halves that",
        (16, 1, 13, 13): "one channel too few: each of the 6 filters makes its own feature map, so C becomes 6",
        (6, 13, 13): "missing the batch dimension N = 16 in front",
    },
    hints=("A 3 x 3 filter without padding fits H - 3 + 1 positions down and W - 3 + 1 across; the number of "
           "channels becomes the number of filters.",
           "2 x 2 max pooling halves H and W (rounding down); N and C do not change. Check yourself: "
           "nn.MaxPool2d(2)(nn.Conv2d(1, 6, 3)(torch.zeros(16, 1, 28, 28))).shape"),
)


# --- 3. max pooling by hand -------------------------------------------------------------------

def _reference_max_pool(feature_map: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(feature_map[None, None], 2)[0, 0]  # (H, W) -> (H/2, W/2)


def _pool_cases() -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(4)
    return [
        (torch.tensor([[3.0, 1.0, 0.0, 1.0], [1.0, 3.0, 1.0, 0.0],
                       [0.0, 1.0, 3.0, 1.0], [1.0, 0.0, 1.0, 3.0]]),),  # the X's feature map
        (torch.randn(4, 6, generator=generator),),
        (torch.randn(6, 2, generator=generator),),
    ]


q3 = FunctionExercise(
    "2 x 2 max pooling by hand",
    reference=_reference_max_pool, cases=_pool_cases,
    hints=("Cut the (H, W) map into 2 x 2 windows that do not overlap and keep the largest value of each. "
           "Two loops over the window positions work; so does reshape.",
           "Without loops: feature_map.reshape(H // 2, 2, W // 2, 2) puts each window's rows in dimension 1 "
           "and its columns in dimension 3; then .amax(dim=(1, 3))."),
)


# --- 4. the (N, C, H, W) batch -------------------------------------------------------------------

def _xo_batch() -> torch.Tensor:
    return torch.stack([x_image(), o_image(), shift_image(x_image(), 0, 1)]).unsqueeze(1)  # (3, 1, 6, 6)


q4 = TensorExercise(
    "a batch in the (N, C, H, W) layout",
    expected=_xo_batch,
    hints=("torch.stack([...]) of three (6, 6) images gives (3, 6, 6): N, H, W. The channel dimension is missing.",
           "Add C = 1 in position 1: .unsqueeze(1), or stack images[None] of shape (1, 6, 6). The third image is "
           "shift_image(x_image(), 0, 1)."),
)


# --- 5. counting parameters ----------------------------------------------------------------------

def _parameter_count() -> int:
    from tensorlab.xo_net import XONet

    return sum(p.numel() for p in XONet(seed=0).parameters())


q5 = KnownMistakesExercise(
    "the number of parameters of XONet",
    expected=_parameter_count,
    mistakes=lambda: {
        4 * 9 + 16 * 8 + 8 * 2: "the weights only: every filter and every output node also has a bias",
        (9 + 1) + (4 * 8 + 8) + (8 * 2 + 2): "what one filter would need: XONet has 4, and so fc1 takes 4 x 2 x 2 "
                                             "= 16 inputs",
        (4 * 9 + 4) + (64 * 8 + 8) + (8 * 2 + 2): "what counting fc1's inputs before pooling gives: fc1 takes the pooled "
                                                    "maps, 4 filters x 2 x 2 = 16 values, not 4 x 4 x 4 = 64",
    },
    hints=("Layer by layer: the convolution has 4 filters of 3 x 3 weights and one bias each; fc1 takes "
           "4 x 2 x 2 = 16 inputs to 8 nodes; fc2 takes 8 inputs to 2 outputs. Every node has a bias.",
           "Check your arithmetic: sum(p.numel() for p in XONet(seed=0).parameters())."),
)


# --- 6. the filter's gradient by hand -----------------------------------------------------------

def _reference_filter_gradient(image: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    return F.conv2d(image[None, None], upstream[None, None])[0, 0]  # (6, 6) with (4, 4) -> (3, 3)


def _gradient_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(6)
    return [
        (x_image().double(), torch.randn(4, 4, generator=generator, dtype=torch.float64)),
        (torch.rand(6, 6, generator=generator, dtype=torch.float64),
         torch.randn(4, 4, generator=generator, dtype=torch.float64)),
        (torch.rand(5, 7, generator=generator, dtype=torch.float64),
         torch.randn(3, 5, generator=generator, dtype=torch.float64)),
    ]


q6 = FunctionExercise(
    "the filter's gradient is a correlation",
    reference=_reference_filter_gradient, cases=_gradient_cases,
    compare_options={"atol": 1e-10, "rtol": 1e-10},
    hints=("Filter weight (a, b) touched input pixel (i + a, j + b) for every output pixel (i, j), so "
           "dL/dw[a, b] = sum over i, j of upstream[i, j] * image[i + a, j + b].",
           "That is the upstream gradient slid over the image like a filter: the window image[a:a + h, b:b + w] "
           "times upstream, summed, for each (a, b), where (h, w) is upstream's shape. "
           "Or F.conv2d(image[None, None], upstream[None, None])[0, 0]."),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
