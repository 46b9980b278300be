"""Notebook 05's exercises: each passes on a right answer and fails, with the right sentence, on wrong ones.

Also: every claim and number in the notebook's two open-ended discussions (``ch05.discuss``), computed again.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.exercises import ch05, exercises_of

VALUES_Q4 = 4 * 3 * 16 * 112 * 112
MACS_Q7 = 8 * (16 * 32 * 23) * 3 * (3 * 5 * 3)  # (C_out, T, H, W) out x C_in x kernel


def right_frame(frame):
    return frame.permute(2, 0, 1).float() / 255


def right_batch(clips):
    return torch.stack(clips).permute(0, 2, 1, 3, 4)


def right_max_clips(budget, shape, dtype):
    return budget // (math.prod(shape) * dtype.itemsize)


def max_clips_by_finfo(budget, shape, dtype):  # right for floating-point dtypes only; the question includes uint8
    return budget // (math.prod(shape) * (torch.finfo(dtype).bits // 8))


def max_clips_by_element_size(budget, shape, dtype):
    return budget // torch.empty(shape, dtype=dtype, device="meta").nbytes


@pytest.mark.parametrize(
    "exercise, right, wrong, words",
    [
        # q1: the strides of a permuted tensor
        (ch05.q1, (7, 1, 35), (35, 7, 1), "is the strides before the permute"),
        (ch05.q1, torch.zeros(3, 5, 7).permute(1, 2, 0).stride(), (21, 3, 1), "the strides of a contiguous (5, 7, 3)"),
        (ch05.q1, [7, 1, 35], (1, 35, 7), "what permute(2, 0, 1) gives"),
        (ch05.q1, (7, 1, 35), (7, 1), "should have 3 entries, but it has 2"),
        (ch05.q1, (7, 1, 35), (7, 35, 1), "is (7, 35, 1), which is not right"),
        # q2: (H, W, C) uint8 -> (C, H, W) float32 in [0, 1]
        (ch05.q2, right_frame, lambda f: f.permute(2, 0, 1).float(), "element(s) differ, by up to 253"),
        (
            ch05.q2,
            right_frame,
            lambda f: f.permute(2, 1, 0).float() / 255,
            "should have shape (3, 4, 5), but it has shape (3, 5, 4)",
        ),
        (ch05.q2, right_frame, lambda f: f.permute(2, 0, 1).double() / 255, "should have dtype torch.float32"),
        (
            ch05.q2,
            right_frame,
            lambda f: f.reshape(f.shape[2], f.shape[0], f.shape[1]).float() / 255,
            "element(s) differ",
        ),
        (ch05.q2, right_frame, lambda f: f.permute(2, 0, 1).float() / 256, "element(s) differ"),
        (ch05.q2, right_frame, lambda f: None, "returned None; did you forget the return statement?"),
        # q3: list of (T, C, H, W) -> (N, C, T, H, W)
        (
            ch05.q3,
            right_batch,
            lambda c: torch.stack(c),
            "[2 clips (4, 3, 5, 6)]) should have shape (2, 3, 4, 5, 6), " "but it has shape (2, 4, 3, 5, 6)",
        ),
        (ch05.q3, right_batch, lambda c: torch.cat(c), "but it has shape (8, 3, 5, 6)"),
        (
            ch05.q3,
            right_batch,
            lambda c: torch.stack(c).reshape(len(c), c[0].shape[1], c[0].shape[0], *c[0].shape[2:]),
            "element(s) differ",
        ),
        (
            ch05.q3,
            right_batch,
            lambda c: torch.stack(c).float().permute(0, 2, 1, 3, 4),
            "should have dtype torch.uint8",
        ),
        # q4: bytes of a bfloat16 batch
        (ch05.q4, VALUES_Q4 * 2, VALUES_Q4, "is the number of values, not bytes"),
        (ch05.q4, VALUES_Q4 * 2, VALUES_Q4 * 4, "is the size in float32"),
        (ch05.q4, VALUES_Q4 * 2, VALUES_Q4 // 2, "the bytes of one clip; the batch holds 4"),
        (ch05.q4, VALUES_Q4 * 2, 12345, "12345, which is not right"),
        (ch05.q4, torch.tensor(VALUES_Q4 * 2), "4816896", "is '4816896', which is not right"),
        # q5: the most precise dtype under 64 MiB
        (
            ch05.q5,
            torch.bfloat16,
            torch.float32,
            "The batch in torch.float32 takes 96 MiB, more than the 64 MiB budget",
        ),
        (ch05.q5, torch.bfloat16, torch.float64, "takes 192 MiB"),
        (
            ch05.q5,
            torch.bfloat16,
            torch.float16,
            "is not one of the choices (torch.float64, torch.float32, torch.bfloat16)",
        ),
        (ch05.q5, torch.bfloat16, "bfloat16", "should be a dtype such as torch.float32, but it is a str"),
        # q6: how many clips fit, integer dtypes included
        (
            ch05.q6,
            right_max_clips,
            lambda b, s, d: round(b / (math.prod(s) * d.itemsize)),
            "(67108864, (3, 16, 112, 112), torch.bfloat16) gave 56, but 55 was expected",
        ),
        (ch05.q6, max_clips_by_element_size, lambda b, s, d: b // math.prod(s), "gave 341, but 85 was expected"),
        (
            ch05.q6,
            right_max_clips,
            lambda b, s, d: b / (math.prod(s) * d.itemsize),
            "gave 85.33333333333333, but 85 was expected",
        ),
        (
            ch05.q6,
            right_max_clips,
            lambda b, s, d: max(1, right_max_clips(b, s, d)),
            "torch.uint8) gave 1, but 0 was expected",
        ),
        (
            ch05.q6,
            right_max_clips,
            max_clips_by_finfo,
            "max_clips_by_finfo(1000, (3, 2, 4, 4), torch.uint8) raised TypeError",
        ),
        (
            ch05.q6,
            right_max_clips,
            lambda b, s, d: b // (math.prod(s) * {torch.float32: 4, torch.bfloat16: 2}.get(d, 1)),
            "torch.int16) gave 69, but 34 was expected",
        ),
        # q7: multiply-adds of a Conv3d layer, on a clip and with a kernel that are not square
        (ch05.q7, MACS_Q7, 2 * MACS_Q7, "is the FLOP count (FlopCounterMode counts 2 per multiply-add)"),
        (ch05.q7, MACS_Q7, 8 * (16 * 64 * 46) * 3 * 45, "what the layer would do with stride 1"),
        (ch05.q7, MACS_Q7, 8 * (16 * 33 * 24) * 3 * 45, "what rounding up gives"),
        (ch05.q7, MACS_Q7, 8 * (14 * 30 * 22) * 3 * 45, "what the layer would do without padding"),
        (ch05.q7, MACS_Q7, MACS_Q7 // 3, "missing the input channels"),
        (ch05.q7, MACS_Q7, MACS_Q7 // 8, "the work for one output channel"),
        (ch05.q7, MACS_Q7, 8 * (16 * 32 * 32) * 3 * 45, "which is not right"),
    ],
)
def test_ch05_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed, exercise.evaluate(right).message
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message
    assert result.message.count(". ") <= 1 and "\n" not in result.message  # one sentence (and the hint pointer)


def test_ch05_has_seven_exercises_each_with_hints_and_a_placeholder_that_is_not_attempted():
    exercises = exercises_of(ch05)
    assert list(exercises) == [f"q{i}" for i in range(1, 8)]
    for name, exercise in exercises.items():
        assert exercise.hints, name
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name


def test_the_strides_are_pytorchs_and_every_named_mistake_is_another_tensors_strides():
    original = torch.zeros(3, 5, 7)  # (C, H, W), contiguous
    assert ch05.q1.expected() == original.permute(1, 2, 0).stride() == (7, 1, 35)
    mistakes = ch05._q1_mistakes()
    assert set(mistakes) == {
        original.stride(),
        original.permute(1, 2, 0).contiguous().stride(),
        original.permute(2, 0, 1).stride(),
    }
    assert ch05.q1.expected() not in mistakes


def test_expected_byte_counts_equal_element_size_times_numel_of_a_tensor_of_that_shape():
    batch = torch.empty(4, 3, 16, 112, 112, dtype=torch.bfloat16, device="meta")  # (N, C, T, H, W), nothing allocated
    assert ch05.q4.expected() == batch.element_size() * batch.numel()
    for dtype, mib in ((torch.float64, 192), (torch.float32, 96), (torch.bfloat16, 48)):
        big = torch.empty(ch05.BUDGET_SHAPE, dtype=dtype, device="meta")
        assert big.element_size() * big.numel() == mib * 2**20
    assert ch05.q5.expected() == torch.bfloat16


def test_max_clips_cases_include_integer_dtypes_and_a_formula_for_every_dtype_passes():
    dtypes = {case[2] for case in ch05._budget_cases()}
    assert any(not d.is_floating_point for d in dtypes) and any(d.is_floating_point for d in dtypes)
    for answer in (
        right_max_clips,
        max_clips_by_element_size,
        lambda b, s, d: b // (math.prod(s) * torch.empty((), dtype=d).element_size()),
    ):
        assert ch05.q6.evaluate(answer).passed


def test_conv3d_multiply_adds_match_pytorchs_shape_and_flop_counter():
    torch.manual_seed(0)
    layer = nn.Conv3d(ch05.CONV_IN, ch05.CONV_OUT, ch05.CONV_KERNEL, stride=ch05.CONV_STRIDE, padding=ch05.CONV_PADDING)
    clip = torch.rand(1, *ch05.CONV_CLIP)  # (N, C, T, H, W) = (1, 3, 16, 64, 46)
    with FlopCounterMode(display=False) as counter:
        out = layer(clip)
    assert out.shape == (1, 8, 16, 32, 23)
    sizes = [
        ch05.conv3d_output_size(s, k, st, p)
        for s, k, st, p in zip(ch05.CONV_CLIP[1:], ch05.CONV_KERNEL, ch05.CONV_STRIDE, ch05.CONV_PADDING)
    ]
    assert tuple(out.shape[2:]) == tuple(sizes)
    assert counter.get_total_flops() == 2 * ch05.q7.expected() == 2 * MACS_Q7


def test_the_wrong_answers_named_as_mistakes_are_really_wrong_and_distinct():
    assert ch05.q4.expected() not in ch05._q4_mistakes()
    assert ch05.q7.expected() not in ch05._q7_mistakes()
    assert len(set(ch05._q4_mistakes())) == 4 and len(set(ch05._q7_mistakes())) == 6


def test_a_dtype_that_fits_but_is_less_precise_than_another_that_fits_is_named():
    roomy = ch05.DtypeBudgetExercise(
        "a roomier budget",
        name="q9",
        shape=ch05.BUDGET_SHAPE,
        budget=128 * 2**20,
        choices=(torch.float64, torch.float32, torch.bfloat16),
    )
    assert roomy.expected() == torch.float32 and roomy.evaluate(torch.float32).passed
    message = roomy.evaluate(torch.bfloat16).message
    assert message.startswith(
        "Your answer torch.bfloat16 fits (48 MiB), but torch.float32 fits too (96 MiB) " "and keeps more precision."
    ), message


# ---- the open-ended questions: what their discussions say, computed -----------------------------


def discussion(number: int) -> str:
    """The discussion's text as one line (ex.discuss wraps it at 100 columns)."""
    return " ".join(ch05.discuss.text(number).split())


def test_discussion_1_forgetting_the_permute():
    text = discussion(1)
    torch.manual_seed(0)
    conv = nn.Conv3d(3, 16, kernel_size=3, padding=1)  # the layer of the notebook's section 4
    batch_ntchw = torch.rand(4, 8, 3, 64, 64)  # (N, T, C, H, W): the decoder's order, 8 frames
    with pytest.raises(RuntimeError, match="expected input.* to have 3 channels, but got 8 channels instead"):
        conv(batch_ntchw)
    assert "expected the input to have 3 channels, but got 8 channels instead" in text
    three_frames = torch.rand(2, 3, 3, 16, 16)  # (N, T, C, H, W) with T = 3 = C
    with torch.no_grad():
        wrong = conv(three_frames)  # runs: T taken for C
        right = conv(three_frames.transpose(1, 2))  # (N, C, T, H, W)
    assert wrong.shape == right.shape == (2, 16, 3, 16, 16)
    assert not torch.allclose(wrong, right)
    assert "the output has the right shape, (N, 16, 3, H, W), and different values" in text


def test_discussion_2_a_minute_of_video():
    from torchvision.models.video import R3D_18_Weights, r3d_18

    text = discussion(2)
    frames = 25 * 60
    clip = torch.empty(1, 3, frames, 256, 256, device="meta")  # (N, C, T, H, W), nothing allocated
    assert clip.numel() == 294_912_000 and clip.numel() * 4 / 2**20 == 1125
    assert "1,500 frames" in text and "294,912,000 values, 1,125 MiB in float32" in text
    with torch.device("meta"):
        net = r3d_18(weights=None)
    stem = {}
    net.stem.register_forward_hook(lambda module, inputs, output: stem.update(shape=tuple(output.shape)))
    macs = {}
    for t in (16, frames):
        with FlopCounterMode(display=False) as counter:
            net(torch.empty(1, 3, t, 256, 256, device="meta"))
        macs[t] = counter.get_total_flops() // 2
    assert stem["shape"] == (1, 64, frames, 128, 128) and math.prod(stem["shape"]) * 4 / 2**20 == 6000
    assert "(1, 64, 1500, 128, 128) activations, 6,000 MiB" in text
    assert round(macs[frames] / 1e12, 1) == 19.9 and round(macs[16] / 1e9, 1) == 212.6
    assert round(macs[frames] / macs[16]) == 94
    assert "19.9 trillion" in text and "94 times the 212.6 billion" in text
    weights = R3D_18_Weights.KINETICS400_V1
    preset = weights.transforms()
    assert list(preset.resize_size) == [128, 171] and list(preset.crop_size) == [112, 112]
    assert "resizes every frame to 128 x 171 and crops 112 x 112" in text
    quoted = "estimated on video-level with parameters `frame_rate=15`, `clips_per_video=5`, and `clip_len=16`"
    assert quoted in weights.meta["_docs"]
    assert quoted.replace("`", "") in text
