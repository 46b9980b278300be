"""Notebook 05's exercises: each passes on a right answer and fails, with the right sentence, on wrong ones."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.exercises import ch05, exercises_of

VALUES_Q1 = 4 * 3 * 16 * 112 * 112


def right_frame(frame):
    return frame.permute(2, 0, 1).float() / 255


def right_batch(clips):
    return torch.stack(clips).permute(0, 2, 1, 3, 4)


def right_max_clips(budget, shape, dtype):
    return budget // (math.prod(shape) * dtype.itemsize)


@pytest.mark.parametrize("exercise, right, wrong, words", [
    # q1: bytes of a bfloat16 batch
    (ch05.q1, VALUES_Q1 * 2, VALUES_Q1, "is the number of values, not bytes"),
    (ch05.q1, VALUES_Q1 * 2, VALUES_Q1 * 4, "is the size in float32"),
    (ch05.q1, VALUES_Q1 * 2, VALUES_Q1 // 2, "the bytes of one clip; the batch holds 4"),
    (ch05.q1, VALUES_Q1 * 2, 12345, "12345, which is not right"),
    (ch05.q1, torch.tensor(VALUES_Q1 * 2), "4816896", "is '4816896', which is not right"),
    # q2: (H, W, C) uint8 -> (C, H, W) float32 in [0, 1]
    (ch05.q2, right_frame, lambda f: f.permute(2, 0, 1).float(), "element(s) differ, by up to 253"),
    (ch05.q2, right_frame, lambda f: f.permute(2, 1, 0).float() / 255, "should have shape (3, 4, 5), but it has shape (3, 5, 4)"),
    (ch05.q2, right_frame, lambda f: f.permute(2, 0, 1).double() / 255, "should have dtype torch.float32"),
    (ch05.q2, right_frame, lambda f: f.reshape(f.shape[2], f.shape[0], f.shape[1]).float() / 255, "element(s) differ"),
    (ch05.q2, right_frame, lambda f: None, "returned None; did you forget the return statement?"),
    # q3: list of (T, C, H, W) -> (N, C, T, H, W)
    (ch05.q3, right_batch, lambda c: torch.stack(c), "[2 clips (4, 3, 5, 6)]) should have shape (2, 3, 4, 5, 6), "
                                                      "but it has shape (2, 4, 3, 5, 6)"),
    (ch05.q3, right_batch, lambda c: torch.cat(c), "but it has shape (8, 3, 5, 6)"),
    (ch05.q3, right_batch, lambda c: torch.stack(c).reshape(len(c), c[0].shape[1], c[0].shape[0], *c[0].shape[2:]),
     "element(s) differ"),
    (ch05.q3, right_batch, lambda c: torch.stack(c).float().permute(0, 2, 1, 3, 4), "should have dtype torch.uint8"),
    # q4: the most precise dtype under 64 MiB
    (ch05.q4, torch.bfloat16, torch.float32, "The batch in torch.float32 takes 96 MiB, more than the 64 MiB budget"),
    (ch05.q4, torch.bfloat16, torch.float64, "takes 192 MiB"),
    (ch05.q4, torch.bfloat16, torch.float16, "is not one of the choices (torch.float64, torch.float32, torch.bfloat16)"),
    (ch05.q4, torch.bfloat16, "bfloat16", "should be a dtype such as torch.float32, but it is a str"),
    # q5: how many clips fit
    (ch05.q5, right_max_clips, lambda b, s, d: round(b / (math.prod(s) * d.itemsize)),
     "(67108864, (3, 16, 112, 112), torch.bfloat16) is 56, which is not right"),
    (ch05.q5, right_max_clips, lambda b, s, d: b // math.prod(s), "is 341, which is not right"),
    (ch05.q5, right_max_clips, lambda b, s, d: b / (math.prod(s) * d.itemsize), "is 85.33333333333333"),
    (ch05.q5, right_max_clips, lambda b, s, d: max(1, right_max_clips(b, s, d)), "torch.uint8) is 1, which is not right"),
    # q6: multiply-adds of a Conv3d layer
    (ch05.q6, 29_491_200, 2 * 29_491_200, "is the FLOP count (FlopCounterMode counts 2 per multiply-add)"),
    (ch05.q6, 29_491_200, 4 * 29_491_200, "what the layer would do with stride 1"),
    (ch05.q6, 29_491_200, 29_491_200 // 3, "missing the input channels"),
    (ch05.q6, 29_491_200, 29_491_200 // 8, "the work for one output channel"),
])
def test_ch05_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed, exercise.evaluate(right).message
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message
    assert result.message.count(". ") <= 1 and "\n" not in result.message  # one sentence (and the hint pointer)


def test_ch05_has_at_least_five_exercises_each_with_hints_and_a_placeholder_that_is_not_attempted():
    exercises = exercises_of(ch05)
    assert list(exercises) == [f"q{i}" for i in range(1, 7)]
    for name, exercise in exercises.items():
        assert exercise.hints, name
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name


def test_expected_byte_counts_equal_element_size_times_numel_of_a_tensor_of_that_shape():
    batch = torch.empty(4, 3, 16, 112, 112, dtype=torch.bfloat16, device="meta")  # (N, C, T, H, W), nothing allocated
    assert ch05.q1.expected() == batch.element_size() * batch.numel()
    for dtype, mib in ((torch.float64, 192), (torch.float32, 96), (torch.bfloat16, 48)):
        big = torch.empty(ch05.BUDGET_SHAPE, dtype=dtype, device="meta")
        assert big.element_size() * big.numel() == mib * 2 ** 20
    assert ch05.q4.expected() == torch.bfloat16


def test_conv3d_multiply_adds_match_pytorchs_shape_and_flop_counter():
    torch.manual_seed(0)
    layer = nn.Conv3d(ch05.CONV_IN, ch05.CONV_OUT, ch05.CONV_KERNEL, stride=ch05.CONV_STRIDE,
                      padding=ch05.CONV_PADDING)
    clip = torch.rand(1, *ch05.CONV_CLIP)  # (N, C, T, H, W) = (1, 3, 16, 64, 64)
    with FlopCounterMode(display=False) as counter:
        out = layer(clip)
    assert out.shape == (1, 8, 16, 32, 32)
    sizes = [ch05.conv3d_output_size(s, k, st, p) for s, k, st, p in
             zip(ch05.CONV_CLIP[1:], ch05.CONV_KERNEL, ch05.CONV_STRIDE, ch05.CONV_PADDING)]
    assert tuple(out.shape[2:]) == tuple(sizes)
    assert counter.get_total_flops() == 2 * ch05.q6.expected()


def test_the_wrong_answers_named_as_mistakes_are_really_wrong():
    assert ch05.q1.expected() not in ch05._q1_mistakes()
    assert ch05.q6.expected() not in ch05._q6_mistakes()
    assert len(set(ch05._q1_mistakes())) == 4 and len(set(ch05._q6_mistakes())) == 4


def test_a_dtype_that_fits_but_is_less_precise_than_another_that_fits_is_named():
    roomy = ch05.DtypeBudgetExercise("a roomier budget", name="q9", shape=ch05.BUDGET_SHAPE, budget=128 * 2 ** 20,
                                     choices=(torch.float64, torch.float32, torch.bfloat16))
    assert roomy.expected() == torch.float32 and roomy.evaluate(torch.float32).passed
    message = roomy.evaluate(torch.bfloat16).message
    assert message.startswith("Your answer torch.bfloat16 fits (48 MiB), but torch.float32 fits too (96 MiB) "
                              "and keeps more precision."), message
