"""Exercises of notebook 04, "Seeing X and O: a convolutional network on 6 x 6 images"."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from tensorlab.checking import (
    FunctionExercise,
    NumberExercise,
    TensorExercise,
    ValueExercise,
    WrongAnswer,
    compare_equal,
    compare_tensor,
)
from tensorlab.data.xo import o_image, shift_image, x_image
from tensorlab.exercises import name_exercises

SOBEL = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))  # the filter of exercise 3


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


# --- 1. a zero-filled shift by slicing ------------------------------------------------------------


def _shift_cases() -> list[tuple[torch.Tensor, int, int]]:
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(4, 7, generator=generator)  # (4, 7): not square, so rows and columns cannot be swapped
    return [
        (x_image(), 0, 1),  # the notebook's example
        (image, 1, -2),  # down 1, left 2
        (image, -3, 0),  # up 3
        (image, 2, 5),  # down 2, right 5
        (image, 0, 0),  # no move
        (torch.rand(5, 3, generator=generator), -1, -1),  # (5, 3): up and left
    ]


q1 = FunctionExercise(
    "a zero-filled shift by slicing",
    reference=shift_image,
    cases=_shift_cases,
    hints=(
        "Start from torch.zeros_like(image). Moving down by dy >= 0, output rows dy to H - 1 receive input "
        "rows 0 to H - 1 - dy; the top dy rows stay 0. Columns work the same way with dx.",
        "For any sign: out[max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = "
        "image[max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]. torch.roll would wrap instead.",
    ),
    takeaway=(
        "A zero-filled shift is one slice assignment into zeros: the rows and columns pushed over the "
        "edge are lost, and nothing wraps around."
    ),
)


# --- 2. the (N, C, H, W) batch -------------------------------------------------------------------


def _xo_batch() -> torch.Tensor:
    return torch.stack([x_image(), o_image(), shift_image(x_image(), 0, 1)]).unsqueeze(1)  # (3, 1, 6, 6)


q2 = TensorExercise(
    "a batch in the (N, C, H, W) layout",
    expected=_xo_batch,
    check_dtype=False,  # the question fixes the layout and the order, not the dtype: .double() or .int() is fine
    hints=(
        "torch.stack([...]) of three (6, 6) images gives (3, 6, 6): N, H, W. The channel dimension is missing.",
        "Add C = 1 in position 1: .unsqueeze(1), or stack images[None] of shape (1, 6, 6). The third image is "
        "shift_image(x_image(), 0, 1).",
    ),
    takeaway=(
        "Convolution layers read (N, C, H, W): a grey image needs a channel dimension of size 1 " "(unsqueeze(1))."
    ),
)


# --- 3. one output pixel of a convolution --------------------------------------------------------


def _sobel_pixel(flip: bool = False) -> float:
    image = x_image()[None, None].double()  # (1, 1, 6, 6)
    kernel = torch.tensor(SOBEL, dtype=torch.float64)[None, None]  # (1, 1, 3, 3)
    if flip:  # the textbook convolution turns the filter by 180 degrees first
        kernel = kernel.flip(-2, -1)
    return F.conv2d(image, kernel)[0, 0, 1, 0].item()  # output row 1, column 0


def _sobel_swapped() -> float:
    """Output row 0, column 1 (row and column mixed up); on the symmetric X the transposed filter gives the same."""
    kernel = torch.tensor(SOBEL, dtype=torch.float64)[None, None]  # (1, 1, 3, 3)
    return F.conv2d(x_image()[None, None].double(), kernel)[0, 0, 0, 1].item()


q3 = KnownMistakesNumber(
    "one output pixel of the convolution",
    expected=_sobel_pixel,
    mistakes=lambda: {
        _sobel_pixel(flip=True): "what the filter turned by 180 degrees gives (the textbook "
        "convolution); PyTorch's conv2d does not flip the filter",
        _sobel_swapped(): "the pixel at row 0, column 1 (row and column swapped), which is "
        "also what the filter turned on its side gives",
    },
    hints=(
        "Output pixel (row 1, column 0) looks at the 3 x 3 window of the image that starts at row 1, "
        "column 0: rows 1 to 3, columns 0 to 2, i.e. image[1:4, 0:3].",
        "Multiply that window by the filter element by element, then add up all nine products: "
        "(window * sobel).sum(). No flipping: PyTorch's 'convolution' is a cross-correlation.",
    ),
    takeaway=(
        "PyTorch's conv2d slides the filter without flipping it: each output pixel is the sum of "
        "one window times the filter."
    ),
)


# --- 4. max pooling by hand -------------------------------------------------------------------


def _reference_max_pool(feature_map: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(feature_map[None, None], 2)[0, 0]  # (H, W) -> (H/2, W/2)


def _pool_cases() -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(4)
    return [
        (
            torch.tensor([[3.0, 1.0, 0.0, 1.0], [1.0, 3.0, 1.0, 0.0], [0.0, 1.0, 3.0, 1.0], [1.0, 0.0, 1.0, 3.0]]),
        ),  # the X's feature map
        (torch.randn(4, 6, generator=generator),),
        (torch.randn(6, 2, generator=generator),),
    ]


q4 = FunctionExercise(
    "2 x 2 max pooling by hand",
    reference=_reference_max_pool,
    cases=_pool_cases,
    hints=(
        "Cut the (H, W) map into 2 x 2 windows that do not overlap and keep the largest value of each. "
        "Two loops over the window positions work; so does reshape.",
        "Without loops: feature_map.reshape(H // 2, 2, W // 2, 2) puts each window's rows in dimension 1 "
        "and its columns in dimension 3; then .amax(dim=(1, 3)).",
    ),
    takeaway=(
        "A reshape to (H/2, 2, W/2, 2) gives each 2 x 2 window its own two dimensions, so one amax " "pools them all."
    ),
)


# --- 5. shapes through convolution and pooling ---------------------------------------------------

POOL_INPUT = (16, 1, 29, 22)  # (N, C, H, W): not square, and H - 3 + 1 = 27 is odd, so pooling rounds down


def _pooled_shape() -> tuple[int, ...]:
    with torch.no_grad():
        out = nn.MaxPool2d(2)(nn.Conv2d(1, 6, kernel_size=3)(torch.zeros(POOL_INPUT)))
    return tuple(out.shape)


q5 = KnownMistakesExercise(
    "the feature-map shape after convolution and pooling",
    expected=_pooled_shape,
    mistakes=lambda: {
        (16, 6, 27, 20): "the shape after the convolution, before the 2 x 2 max pooling halves H and W",
        (16, 6, 14, 10): "what rounding up gives; 2 x 2 max pooling drops the odd last row, so 27 rows "
        "become 27 // 2 = 13",
        (16, 6, 14, 11): "what you would get with padding; without it a 3 x 3 filter fits 29 - 3 + 1 = 27 "
        "positions down and 22 - 3 + 1 = 20 across, and pooling halves those",
        (16, 6, 10, 13): "H and W swapped: the input has H = 29 rows and W = 22 columns",
        (16, 1, 13, 10): "one channel too few: each of the 6 filters makes its own feature map, so C becomes 6",
        (6, 13, 10): "missing the batch dimension N = 16 in front",
    },
    hints=(
        "A 3 x 3 filter without padding fits H - 3 + 1 positions down and W - 3 + 1 across; the number of "
        "channels becomes the number of filters.",
        "2 x 2 max pooling halves H and W, rounding down (an odd last row or column is dropped); N and C "
        "do not change. Check yourself: nn.MaxPool2d(2)(nn.Conv2d(1, 6, 3)(torch.zeros(16, 1, 29, 22))).shape",
    ),
    takeaway=(
        "A 3 x 3 filter without padding trims 2 from H and W, the channels become the number of "
        "filters, and 2 x 2 pooling halves H and W, rounding down."
    ),
)


# --- 6. counting parameters ----------------------------------------------------------------------
# Not XONet()'s defaults: the notebook prints their count (194) just above, so the question asks for another
# size, and the learner has to work out fc1's inputs (6 filters x 2 x 2 pooled values = 24) from the shapes.
Q6_FILTERS, Q6_HIDDEN = 6, 10


def _parameter_count(num_filters: int = Q6_FILTERS, hidden: int = Q6_HIDDEN) -> int:
    from tensorlab.xo_net import XONet

    return sum(p.numel() for p in XONet(seed=0, num_filters=num_filters, hidden=hidden).parameters())


def _q6_mistakes() -> dict[int, str]:
    f, h = Q6_FILTERS, Q6_HIDDEN
    return {
        f * 9 + f * 4 * h + h * 2: "the weights only: every filter and every output node also has a bias",
        (9 + 1) + (4 * h + h) + (h * 2 + 2): f"what one filter would need: this XONet has {f}, and so fc1 takes "
        f"{f} x 2 x 2 = {f * 4} inputs",
        (f * 9 + f)
        + (f * h + h)
        + (h * 2 + 2): f"what one input per filter to fc1 gives: fc1 reads each filter's whole "
        f"2 x 2 pooled map, {f} x 2 x 2 = {f * 4} values",
        (f * 9 + f) + (f * 16 * h + h) + (h * 2 + 2): f"what counting fc1's inputs before pooling gives: fc1 takes the "
        f"pooled maps, {f} x 2 x 2 = {f * 4} values, not {f} x 4 x 4 = "
        f"{f * 16}",
        _parameter_count(4, 8): f"the count of XONet() with its defaults (4 filters, 8 hidden nodes); the question's "
        f"network has {f} filters and {h} hidden nodes",
    }


q6 = KnownMistakesExercise(
    "the number of parameters of XONet",
    expected=_parameter_count,
    mistakes=_q6_mistakes,
    hints=(
        f"Layer by layer: the convolution has {Q6_FILTERS} filters of 3 x 3 weights and one bias each; fc1 "
        f"reads the pooled maps, {Q6_FILTERS} filters x 2 x 2 values, and has {Q6_HIDDEN} outputs; fc2 takes "
        f"{Q6_HIDDEN} inputs to 2 outputs. Every output has a bias.",
        f"Check your arithmetic: sum(p.numel() for p in XONet(num_filters={Q6_FILTERS}, "
        f"hidden={Q6_HIDDEN}).parameters()).",
    ),
    takeaway=(
        "A layer's parameter count follows from its shapes: one weight per input per output (times "
        "the filter size) plus one bias per output."
    ),
)


# --- 7. the input's gradient by hand ------------------------------------------------------------


def _reference_input_gradient(kernel: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    """dL/dimage for out = conv2d(image, kernel), given dL/dout = upstream: a transposed convolution."""
    return F.conv_transpose2d(upstream[None, None], kernel[None, None])[0, 0]  # (h + kh - 1, w + kw - 1)


def _input_gradient_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)

    def randn(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    return [  # (kernel, upstream): filters that are neither symmetric nor square, so a flip or a transpose shows
        (randn(3, 3), randn(4, 4)),  # XONet's sizes: a 6 x 6 image
        (randn(2, 3), randn(3, 5)),  # a 4 x 7 image
        (randn(3, 1), randn(2, 4)),  # a 4 x 4 image, a 3 x 1 filter
        (randn(2, 2, dtype=torch.float32), randn(3, 2, dtype=torch.float32)),  # float32 inputs
    ]


def compare_float32_or_float64(
    answer: Any, expected: torch.Tensor, *, what: str = "your answer", show_expected: bool = True
) -> None:
    """float64 or float32 answers are both right; float64 is held to 1e-10, float32 to its own precision."""
    if isinstance(answer, torch.Tensor) and answer.dtype not in (torch.float32, torch.float64):
        raise WrongAnswer(f"{what} has dtype {answer.dtype}; it should be float64 (the inputs' dtype) or float32.")
    loose = torch.float32 in (getattr(answer, "dtype", None), expected.dtype)
    tolerance = 1e-5 if loose else 1e-10
    compare_tensor(
        answer, expected, check_dtype=False, atol=tolerance, rtol=tolerance, what=what, show_expected=show_expected
    )


q7 = FunctionExercise(
    "the input's gradient is a transposed convolution",
    reference=_reference_input_gradient,
    cases=_input_gradient_cases,
    compare=compare_float32_or_float64,
    hints=(
        "Output pixel (i, j) was the window image[i:i + kh, j:j + kw] times the kernel, summed. So "
        "upstream[i, j] flows back to that window's pixels, weighted by the kernel: each pixel gets "
        "upstream[i, j] * kernel[a, b] from every output pixel whose window covered it.",
        "Start from zeros of shape (h + kh - 1, w + kw - 1); for every (i, j): "
        "grad[i:i + kh, j:j + kw] += upstream[i, j] * kernel. Add (+=), since windows overlap; no flipping.",
    ),
    takeaway=(
        "The input's gradient spreads each upstream value back over its window, weighted by the "
        "filter: a transposed convolution, the mirror of the forward pass."
    ),
)


# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions"). Imported here, apart from the imports above, so that this
# block grows on its own. Every number in these texts is computed again, and compared, by
# tests/test_exercises_ch04.py.
from tensorlab.checking import Discussion, Discussions  # noqa: E402

discuss = Discussions(
    Discussion(
        "What would a filter as large as the image (6 x 6) do? Would a shifted X still be an X?",
        "A 6 x 6 filter fits the 6 x 6 image in one position only, so each feature map is a single number: "
        "all 36 pixels times all 36 weights, summed. That is exactly what a fully connected layer does: "
        "F.conv2d(image[None, None], w[None, None]) gives the same number as "
        "F.linear(image.flatten(), w.flatten()[None]). Nothing slides any more, and max pooling has "
        "nothing left to pool.\n\n"
        "It also loses what made the small filter work. Make the big filter the X itself: on the X it "
        "gives 12 (all 12 inked pixels), on the O 4, and on the X moved one pixel to the right only 2, "
        "less than on the O. The 3 x 3 diagonal filter still finds a full diagonal, a 3, in the X moved "
        "right, down-right or up-right: the 3 just sits somewhere else in the feature map.\n\n"
        "A small filter is one set of weights used at every position, so it learns a stroke once and "
        "finds it anywhere. A network of image-sized filters has to learn every stroke at every position "
        "from examples, with 36 weights per filter instead of 9. That sharing of weights across "
        "positions is what the convolution buys.",
    ),
    Discussion(
        "Would XONet still see a shifted X as an X if it had been trained on centred letters only?",
        "Try it: keep the training images whose shift is (0, 0) (details.train_shifts == 0 in both "
        "columns), 42 of the 378, and train XONet(seed=0) on them exactly as before. On the CPU, with "
        "these seeds, it gets all 12 centred held-out images right and 88 of the 96 shifted ones (92 %). "
        "The letters moved down-left fare worst: 6 of 12.\n\n"
        "So the convolution and the pooling give much of the tolerance to shifts for free: the same "
        "filters fire wherever the strokes are, and a 2 x 2 pooling window absorbs a move of one pixel "
        "inside it. But not all of it: a move can carry a stroke into the next pooling window, or push "
        "its end off the image, and the fully connected layers have never seen those pooled patterns. "
        "The shifted training images teach the rest: trained with them, XONet gets all 108 held-out "
        "images right.",
    ),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
