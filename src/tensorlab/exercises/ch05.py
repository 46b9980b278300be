"""Exercises of notebook 05, "Colour images and video batches: where the arithmetic explodes"."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from tensorlab.checking import (
    Exercise,
    FunctionExercise,
    NotAttempted,
    ValueExercise,
    WrongAnswer,
    compare_equal,
    describe_type,
    is_placeholder,
)
from tensorlab.exercises import name_exercises

MIB = 2**20


# ---------------------------------------------------------------------------------------------
# Two kinds of exercise this notebook needs beyond tensorlab.checking
# ---------------------------------------------------------------------------------------------


@dataclass
class CountExercise(ValueExercise):
    """An exact whole-number answer; common wrong numbers get a sentence saying which mistake gives them.

    ``mistakes`` returns ``{wrong number: what it is}``, e.g. ``{values: "the number of values, not
    bytes"}``; it is computed when checked, like ``expected``.
    """

    mistakes: Callable[[], dict[int, str]] = field(default=dict)

    def judge(self, answer: Any) -> None:
        try:
            compare_equal(answer, self.expected() if callable(self.expected) else self.expected)
        except WrongAnswer:
            value = answer.item() if isinstance(answer, torch.Tensor) and answer.numel() == 1 else answer
            if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) in self.mistakes():
                raise WrongAnswer(f"your answer {int(value):,} is {self.mistakes()[int(value)]}.") from None
            raise


@dataclass
class TupleExercise(ValueExercise):
    """An exact tuple of whole numbers (a shape, strides); known wrong tuples get a sentence naming the slip."""

    mistakes: Callable[[], dict[tuple[int, ...], str]] = field(default=dict)

    def judge(self, answer: Any) -> None:
        try:
            compare_equal(answer, self.expected() if callable(self.expected) else self.expected)
        except WrongAnswer:
            if isinstance(answer, (list, tuple, torch.Size)) and all(
                isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in answer
            ):
                key = tuple(int(a) for a in answer)
                if key in self.mistakes():
                    raise WrongAnswer(f"your answer {key} is {self.mistakes()[key]}.") from None
            raise


@dataclass
class DtypeBudgetExercise(Exercise):
    """Choose, among ``choices``, the most precise dtype whose tensor of ``shape`` fits in ``budget`` bytes."""

    shape: tuple[int, ...] = ()
    budget: int = 0
    choices: tuple[torch.dtype, ...] = ()

    def _mib(self, dtype: torch.dtype) -> str:
        return f"{math.prod(self.shape) * dtype.itemsize / MIB:g} MiB"

    def expected(self) -> torch.dtype:
        fitting = [d for d in self.choices if math.prod(self.shape) * d.itemsize <= self.budget]
        return min(fitting, key=lambda d: torch.finfo(d).eps)  # the smallest step between numbers near 1

    def judge(self, answer: Any) -> None:
        if is_placeholder(answer):
            raise NotAttempted()
        if not isinstance(answer, torch.dtype):
            raise WrongAnswer(
                f"your answer should be a dtype such as torch.float32, but it is " f"{describe_type(answer)}."
            )
        names = ", ".join(str(d) for d in self.choices)
        if answer not in self.choices:
            raise WrongAnswer(f"your answer {answer} is not one of the choices ({names}).")
        if math.prod(self.shape) * answer.itemsize > self.budget:
            raise WrongAnswer(
                f"the batch in {answer} takes {self._mib(answer)}, more than the " f"{self.budget / MIB:g} MiB budget."
            )
        best = self.expected()
        if answer != best:
            raise WrongAnswer(
                f"your answer {answer} fits ({self._mib(answer)}), but {best} fits too "
                f"({self._mib(best)}) and keeps more precision."
            )


# ---------------------------------------------------------------------------------------------
# The exercises
# ---------------------------------------------------------------------------------------------

STRIDES_SHAPE = (3, 5, 7)  # a contiguous (C, H, W) tensor, not square, so every stride differs: (35, 7, 1)
STRIDES_ORDER = (1, 2, 0)  # permute to (H, W, C)


def _permuted_strides(order: tuple[int, ...] = STRIDES_ORDER) -> tuple[int, ...]:
    return tuple(torch.empty(STRIDES_SHAPE, device="meta").permute(*order).stride())


def _q1_mistakes() -> dict[tuple[int, ...], str]:
    height, width, channels = (STRIDES_SHAPE[i] for i in STRIDES_ORDER)
    return {
        tuple(
            torch.empty(STRIDES_SHAPE, device="meta").stride()
        ): "the strides before the permute; permute reorders the strides along with the dimensions",
        (
            width * channels,
            channels,
            1,
        ): "the strides of a contiguous (5, 7, 3) tensor, what a copy (.contiguous()) would have; permute "
        "copies nothing, so each dimension keeps its step in the original memory",
        _permuted_strides(
            (2, 0, 1)
        ): "what permute(2, 0, 1) gives; with permute(1, 2, 0) the new dimension i is the old dimension "
        "order[i], so its stride is the old stride order[i]",
    }


q1 = TupleExercise(
    "the strides of a permuted tensor",
    expected=_permuted_strides,
    mistakes=_q1_mistakes,
    hints=(
        "permute copies nothing: dimension i of the result is dimension order[i] of the original, and it "
        "keeps that dimension's stride.",
        "The original strides are (35, 7, 1) for (C, H, W). permute(1, 2, 0) puts H first, then W, then C: "
        "take the strides in that order. Check yourself: torch.zeros(3, 5, 7).permute(1, 2, 0).stride().",
    ),
    takeaway=(
        "permute only reorders the strides: the (H, W, C) view steps 1 element to the next column "
        "and 35 to the next channel of the same memory."
    ),
)


def _reference_frame_to_chw_float(frame: torch.Tensor) -> torch.Tensor:
    return frame.permute(2, 0, 1).to(torch.float32) / 255  # (H, W, C) uint8 -> (C, H, W) float32 in [0, 1]


def _frame_cases() -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(5)
    return [
        (torch.randint(0, 256, (4, 5, 3), dtype=torch.uint8, generator=generator),),  # (H, W, C)
        (torch.randint(0, 256, (6, 2, 3), dtype=torch.uint8, generator=generator),),  # (H, W, C)
        (torch.tensor([[[0, 128, 255]]], dtype=torch.uint8),),  # (1, 1, 3)
    ]


q2 = FunctionExercise(
    "a decoded (H, W, C) uint8 frame to a (C, H, W) float32 frame",
    reference=_reference_frame_to_chw_float,
    cases=_frame_cases,
    hints=(
        "Two steps: reorder the dimensions with permute, then convert to float and scale 0..255 to 0..1.",
        "frame.permute(2, 0, 1) gives (C, H, W); .float() / 255 gives float32 values between 0 and 1.",
    ),
    takeaway=(
        "Decoded frames arrive as (H, W, C) uint8: permute to (C, H, W), then convert to float and " "scale to [0, 1]."
    ),
)


def _reference_clips_to_batch(clips: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(clips).permute(0, 2, 1, 3, 4)  # N x (T, C, H, W) -> (N, T, C, H, W) -> (N, C, T, H, W)


class _Clips(list):
    """A list of clips that names itself briefly in a check's sentence: [2 clips (4, 3, 5, 6)]."""

    def __repr__(self) -> str:
        return f"[{len(self)} clips {tuple(self[0].shape)}]"


def _clip_cases() -> list[tuple[list[torch.Tensor]]]:
    generator = torch.Generator().manual_seed(6)

    def clips(n: int, t: int, h: int, w: int) -> list[torch.Tensor]:  # n clips of (T, C, H, W) = (t, 3, h, w)
        return _Clips(torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8, generator=generator) for _ in range(n))

    return [(clips(2, 4, 5, 6),), (clips(3, 2, 3, 3),), (clips(1, 5, 2, 4),)]


q3 = FunctionExercise(
    "a list of (T, C, H, W) clips to an (N, C, T, H, W) batch",
    reference=_reference_clips_to_batch,
    cases=_clip_cases,
    hints=(
        "torch.stack adds a new first dimension N: N clips of (T, C, H, W) become (N, T, C, H, W).",
        "Then swap dimensions 1 and 2 with .permute(0, 2, 1, 3, 4) (or .transpose(1, 2)); a reshape "
        "would give the right shape but scramble the values.",
    ),
    takeaway=("torch.stack adds the batch dimension; permute, not reshape, then moves T behind C for " "nn.Conv3d."),
)


_Q4_SHAPE = (4, 3, 16, 112, 112)  # (N, C, T, H, W): the clip size torchvision's video networks were evaluated with


def _q4_mistakes() -> dict[int, str]:
    values = math.prod(_Q4_SHAPE)
    return {
        values: "the number of values, not bytes: multiply by the bytes each bfloat16 value takes",
        values * 4: "the size in float32 (4 bytes per value); bfloat16 takes 2",
        values // 4: "the number of values in one clip, not the bytes of the batch",
        values * 2 // 4: "the bytes of one clip; the batch holds 4",
    }


q4 = CountExercise(
    "bytes of a bfloat16 video batch",
    expected=lambda: math.prod(_Q4_SHAPE) * torch.bfloat16.itemsize,
    mistakes=_q4_mistakes,
    hints=(
        "Bytes = number of values x bytes per value; the number of values is N x C x T x H x W.",
        "torch.Size([4, 3, 16, 112, 112]).numel() counts the values; torch.bfloat16.itemsize (or "
        "torch.empty((), dtype=torch.bfloat16).element_size()) gives 2 bytes per value.",
    ),
    takeaway="Bytes are values x bytes per value: bfloat16 halves float32's memory for the same shape.",
)

# (N, C, T, H, W): the largest batch of the notebook's cost table. The lecture's 256 x 256 colour frames; 16
# frames per clip and 8 clips per batch are the course's choice (16 is the clip length r3d_18 was evaluated with).
BUDGET_SHAPE = (8, 3, 16, 256, 256)
BUDGET_BYTES = 64 * MIB

q5 = DtypeBudgetExercise(
    "the most precise dtype that fits a memory budget",
    shape=BUDGET_SHAPE,
    budget=BUDGET_BYTES,
    choices=(torch.float64, torch.float32, torch.bfloat16),
    hints=(
        "Work out the batch's bytes in each dtype: values x bytes per value (8, 4 or 2).",
        "8 x 3 x 16 x 256 x 256 = 25,165,824 values; the most precise dtype is the one with the most "
        "bytes per value, among those that stay under 64 MiB = 67,108,864 bytes.",
    ),
    takeaway=(
        "The dtype sets the memory: the most precise dtype that fits is the one with the most bytes "
        "per value under the budget."
    ),
)


def _reference_max_clips(budget_bytes: int, clip_shape: tuple[int, ...], dtype: torch.dtype) -> int:
    return budget_bytes // (math.prod(clip_shape) * dtype.itemsize)


def _budget_cases() -> list[tuple[int, tuple[int, ...], torch.dtype]]:
    return [  # floating-point and integer dtypes, as the question says
        (2**30, (3, 16, 256, 256), torch.float32),  # 1 GiB of float32 clips
        (64 * MIB, (3, 16, 112, 112), torch.bfloat16),
        (1000, (3, 2, 4, 4), torch.uint8),  # pixels as decoded: one byte each
        (10**6, (3, 8, 20, 30), torch.int16),
        (500, (3, 16, 256, 256), torch.uint8),  # not even one clip fits
    ]


q6 = FunctionExercise(
    "how many clips fit in a memory budget",
    reference=_reference_max_clips,
    cases=_budget_cases,
    compare=compare_equal,
    hints=(
        "One clip takes (values in one clip) x (bytes per value); how many whole clips fit in the budget?",
        "math.prod(clip_shape) * dtype.itemsize bytes per clip (itemsize works for every dtype; "
        "torch.finfo only for floating-point ones); divide the budget by it and round down with // "
        "(half a clip does not fit).",
    ),
    takeaway="How many whole items fit is a floor division: budget // (values per item x bytes per value).",
)

CONV_IN, CONV_OUT = 3, 8
# Neither the kernel nor the clip is square, and (64 + 4 - 5) / 2 and (46 + 2 - 3) / 2 are not whole numbers,
# so mixing up H and W, rounding up, or leaving out the padding each gives another count.
CONV_KERNEL, CONV_STRIDE, CONV_PADDING = (3, 5, 3), (1, 2, 2), (1, 2, 1)
CONV_CLIP = (3, 16, 64, 46)  # (C, T, H, W)


def conv3d_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length along one dimension of a convolution (dilation 1), as in nn.Conv3d's documentation."""
    return (size + 2 * padding - kernel) // stride + 1


def _conv_macs(
    stride: tuple[int, int, int] = CONV_STRIDE,
    padding: tuple[int, int, int] = CONV_PADDING,
    rounding: Callable[[float], int] = math.floor,
) -> int:
    out = [rounding((s + 2 * p - k) / st) + 1 for s, k, st, p in zip(CONV_CLIP[1:], CONV_KERNEL, stride, padding)]
    return CONV_OUT * math.prod(out) * CONV_IN * math.prod(CONV_KERNEL)


def _q7_mistakes() -> dict[int, str]:
    macs = _conv_macs()
    return {
        2 * macs: "the FLOP count (FlopCounterMode counts 2 per multiply-add); multiply-adds are half of it",
        _conv_macs(stride=(1, 1, 1)): "what the layer would do with stride 1; the stride of 2 in H and W "
        "halves each of them",
        _conv_macs(rounding=math.ceil): "what rounding up gives; the output size rounds down: "
        "(size + 2 x padding - kernel) // stride + 1",
        _conv_macs(padding=(0, 0, 0)): "what the layer would do without padding; it pads 1 frame in T, "
        "2 rows in H and 1 column in W on each side",
        macs // CONV_IN: "missing the input channels: each output value sums over all 3 of them",
        macs // CONV_OUT: "the work for one output channel; the layer has 8",
    }


q7 = CountExercise(
    "multiply-adds of a Conv3d layer on one clip",
    expected=_conv_macs,
    mistakes=_q7_mistakes,
    hints=(
        "Every output value is one sum over C_in x kT x kH x kW input values: that many multiply-adds.",
        "Output size per dimension: (size + 2 x padding - kernel) // stride + 1, so the output is "
        "(8, 16, 32, 23). Multiply its number of values by 3 x 3 x 5 x 3.",
    ),
    takeaway=(
        "A convolution does one multiply-add per output value per input value its kernel covers: "
        "output values x C_in x kernel size."
    ),
)


# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions"). Imported here, apart from the imports above, so that this
# block grows on its own. Every claim and number in these texts is computed again, and compared, by
# tests/test_exercises_ch05.py.
from tensorlab.checking import Discussion, Discussions  # noqa: E402

discuss = Discussions(
    Discussion(
        "What happens if you forget to move T behind C before nn.Conv3d?",
        "With our 8-frame clips, PyTorch stops you. The layer of section 4, nn.Conv3d(3, 16, kernel_size=3, "
        "padding=1), given a (4, 8, 3, 64, 64) batch in the decoder's (N, T, C, H, W) order, raises a "
        "RuntimeError: it expected the input to have 3 channels, but got 8 channels instead. A layer "
        "checks only that dimension 1 has as many entries as it has input channels.\n\n"
        'With clips of exactly 3 frames it runs without a word, since (N, 3, 3, H, W) has 3 "channels" '
        "either way. The layer then takes the 3 frames for red, green and blue, and slides its kernel "
        "over the colours as if they were time: the output has the right shape, (N, 16, 3, H, W), and "
        "different values. A shape check cannot catch every layout mistake. What helps is a shape "
        "comment on every line that makes or reorders a tensor, as in this course (# (N, C, T, H, W)), "
        "and one small example checked by hand.",
    ),
    Discussion(
        "What would one minute of 256 x 256 colour video cost, and what do video networks do about it?",
        "One minute at 25 frames per second is 1,500 frames. As one (1, 3, 1500, 256, 256) clip that is "
        "294,912,000 values, 1,125 MiB in float32 before the network has done anything. r3d_18's first "
        "block would turn it into (1, 64, 1500, 128, 128) activations, 6,000 MiB, and one forward pass "
        "would be about 19.9 trillion multiply-adds (counted by FlopCounterMode on the meta device), 94 "
        "times the 212.6 billion of a 16-frame clip.\n\n"
        "So video networks do not look at a whole video at once. They take short clips at a reduced "
        "size: torchvision's r3d_18 weights come with a preset that resizes every frame to 128 x 171 and "
        'crops 112 x 112, and their description says the accuracy is "estimated on video-level with '
        'parameters frame_rate=15, clips_per_video=5, and clip_len=16" (R3D_18_Weights.KINETICS400_V1'
        ".meta): a video is judged from 5 clips of 16 frames, taken at 15 frames per second. Memory and "
        "arithmetic grow with every dimension of (N, C, T, H, W), so each one is cut as far as the task "
        "allows.",
    ),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
