"""The checks of notebook 01: each passes its right answers (every one the question's words allow) and
rejects known-wrong ones with the right sentence, including answers that only look right on easy inputs
(a square image, a tensor left on the CPU of a CPU-only machine, a broadcast that happens to fit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tensorlab.data.images import load_color_image
from tensorlab.exercises import ch01


def test_every_value_answer_differs_from_every_other_so_no_formula_passes_two_questions():
    values = {
        name: exercise.expected
        for name, exercise in vars(ch01).items()
        if name.startswith("q") and isinstance(getattr(exercise, "expected", None), int)
    }
    assert len(values) >= 2 and len(set(values.values())) == len(values), values
    # issue 14: q7's bytes once equalled q5's value count (both 1,572,864)
    assert ch01.q7.expected != ch01.q5.expected


def _passes(exercise, answer):
    result = exercise.evaluate(answer)
    assert result.passed, result.message
    assert result.takeaway and result.takeaway in str(result)


def _fails(exercise, answer, *words):
    result = exercise.evaluate(answer)
    assert result.status == "fail", f"accepted a wrong answer: {result}"
    for word in words:
        assert word in result.message, result.message
    return result.message


# ---- q1 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "wrong, words",
    [
        (torch.tensor([0.75]), "shape ()"),
        (torch.tensor(0.75, dtype=torch.float64), "dtype torch.float32"),
        (0.75, "should be a torch.Tensor"),
        (torch.tensor(0.5), "expected 0.75, got 0.5"),
    ],
)
def test_q1(wrong, words):
    _passes(ch01.q1, torch.tensor(0.75))
    _fails(ch01.q1, wrong, words)


# ---- q2: the device is judged on every machine, through the meta device ------------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda device: torch.tensor([0.0, 0.5, 1.0], device=device),
        lambda device: torch.tensor([0.0, 0.5, 1.0]).to(device),
        lambda device: torch.linspace(0, 1, 3, device=device),
        lambda device: torch.arange(3, device=device) / 2,
    ],
)
def test_q2_right_answers(right):
    _passes(ch01.q2, right)


def test_q2_a_tensor_left_on_the_cpu_is_caught_without_a_gpu():
    device = "cpu"  # the course device of a CPU-only machine

    def doses_on(wanted_device):
        return torch.tensor([0.0, 0.5, 1.0], device=device)  # ignores the device it was given

    message = _fails(ch01.q2, doses_on, "doses_on('meta')", "should be on the device 'meta'", "on 'cpu'")
    assert message.startswith("doses_on('meta')")


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda device: torch.tensor([0, 1, 2], device=device), "dtype torch.float32"),
        (lambda device: torch.tensor([0.0, 1.0, 0.5], device=device), "2 of 3 element(s) differ"),
        (lambda device: torch.tensor([[0.0, 0.5, 1.0]], device=device), "shape (3,)"),
        (lambda device: [0.0, 0.5, 1.0], "should be a torch.Tensor"),
        (lambda device: torch.tensor([0.0, 0.5, 1.0], device=device, dtype=torch.float64), "dtype torch.float32"),
    ],
)
def test_q2_wrong_answers(wrong, words):
    _fails(ch01.q2, wrong, words)


def test_q2_on_meta_a_wrong_shape_or_dtype_is_still_caught():
    _fails(
        ch01.q2,
        lambda device: torch.zeros(3, 1, device=device)
        if str(device) == "meta"
        else torch.tensor([0.0, 0.5, 1.0], device=device),
        "<lambda>('meta')",
        "shape (3,)",
    )
    _fails(
        ch01.q2,
        lambda device: torch.zeros(3, device=device, dtype=torch.float16)
        if str(device) == "meta"
        else torch.tensor([0.0, 0.5, 1.0], device=device),
        "dtype torch.float32",
    )


# ---- q3: slicing and fancy indexing on a non-square crop ---------------------------------------------
@pytest.fixture(scope="module")
def picture():
    return load_color_image()


def test_q3_right_answers(picture):
    _passes(ch01.q3, picture[[2, 1, 0], 90:210, 40:112])
    _passes(ch01.q3, picture[:, 90:210, 40:112].flip(0))
    _passes(ch01.q3, torch.stack([picture[2], picture[1], picture[0]])[:, 90:210, 40:112])
    _passes(ch01.q3, picture[[2, 1, 0]][:, 90:210, 40:112].contiguous())


@pytest.mark.parametrize(
    "index, words",
    [
        ((slice(None), slice(90, 210), slice(40, 112)), "element(s) differ"),  # still R, G, B
        (([2, 1, 0], slice(40, 112), slice(90, 210)), "shape (3, 120, 72), but it has shape (3, 72, 120)"),
        (([2, 1, 0], slice(90, 209), slice(40, 111)), "shape (3, 120, 72), but it has shape (3, 119, 71)"),
        (([2, 1, 0], slice(91, 211), slice(40, 112)), "element(s) differ"),  # one row too low
        (([0, 1, 2], slice(90, 210), slice(40, 112)), "element(s) differ"),
    ],
)
def test_q3_wrong_answers(picture, index, words):
    _fails(ch01.q3, picture[index], words)


def test_q3_float_copy_is_rejected_with_both_dtypes(picture):
    _fails(ch01.q3, picture[[2, 1, 0], 90:210, 40:112].float(), "dtype torch.uint8", "torch.float32")


# ---- q4: masks, judged per pixel, at the level exactly, on uneven and float images ---------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda image, level: int((image > level).all(dim=0).sum()),
        lambda image, level: (image > level).all(0).sum(),  # a 0-D tensor is a number too
        lambda image, level: int(((image[0] > level) & (image[1] > level) & (image[2] > level)).sum()),
        lambda image, level: int((image.min(dim=0).values > level).sum()),
        lambda image, level: (image > level).all(dim=0).count_nonzero().item(),
    ],
)
def test_q4_right_answers(right):
    _passes(ch01.q4, right)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda image, level: int((image > level).sum()), "was expected"),  # values, not pixels
        (lambda image, level: int((image > level).any(dim=0).sum()), "was expected"),  # any channel
        (lambda image, level: int((image >= level).all(dim=0).sum()), "was expected"),  # at the level counts
        (lambda image, level: int((image.float().mean(0) > level).sum()), "was expected"),  # mean brightness
        (lambda image, level: int((image > level).all(dim=1).sum()), "was expected"),  # the wrong dimension
    ],
)
def test_q4_wrong_answers(wrong, words):
    _fails(ch01.q4, wrong, words)


# ---- q5 and q7: counts whose formulas cannot stand in for each other --------------------------------
def test_q5():
    _passes(ch01.q5, 8 * 3 * 256 * 256)
    _passes(ch01.q5, torch.Size([8, 3, 256, 256]).numel())
    _fails(ch01.q5, 8 * 256 * 256, "is 524288, which is not right")
    _fails(ch01.q5, 8 * 3 * 256 * 256 * 4, "which is not right")  # bytes, not values


def test_q7():
    _passes(ch01.q7, 2 * 16 * 3 * 64 * 48 * 4)
    _passes(ch01.q7, 2 * 16 * 3 * 64 * 48 * torch.tensor(0.0).element_size())
    _passes(ch01.q7, torch.zeros(2, 16, 3, 64, 48).nbytes)
    for wrong in (
        2 * 16 * 3 * 64 * 48,  # values, not bytes
        2 * 16 * 3 * 64 * 48 * 8,  # float64
        2 * 16 * 64 * 48 * 4,  # no channels
        2 * 16 * 3 * 64 * 64 * 4,  # the old square frames
        8 * 3 * 256 * 256,
    ):  # q5's formula
        _fails(ch01.q7, wrong, "which is not right")


# ---- q6: cat against stack --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda clip, frame: torch.cat([clip, frame.unsqueeze(0)]),
        lambda clip, frame: torch.cat([clip, frame[None]], dim=0),
        lambda clip, frame: torch.stack([*clip, frame]),
        lambda clip, frame: torch.cat((clip, frame.reshape(1, *frame.shape))),
    ],
)
def test_q6_right_answers(right):
    _passes(ch01.q6, right)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda clip, frame: torch.stack([clip, frame]), "raised RuntimeError"),
        (lambda clip, frame: torch.cat([clip, frame]), "raised RuntimeError"),
        (lambda clip, frame: torch.cat([frame[None], clip]), "element(s) differ"),  # at the start
        (lambda clip, frame: torch.cat([clip, clip[-1:]]), "element(s) differ"),  # repeats the last frame
        (
            lambda clip, frame: torch.stack([clip[-1], frame]),
            "should have shape (5, 3, 5, 2), but it has shape (2, 3, 5, 2)",
        ),
    ],
)
def test_q6_wrong_answers(wrong, words):
    _fails(ch01.q6, wrong, words)


# ---- q8 -------------------------------------------------------------------------------------------
def test_q8():
    _passes(ch01.q8, torch.Size([3, 2]))
    _passes(ch01.q8, (3, 2))
    _passes(ch01.q8, [3, 2])
    _fails(ch01.q8, (2, 3), "is (2, 3), which is not right")


# ---- q9: x @ W.T, where a square, non-symmetric W catches a missing .T ----------------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda x, weight, bias: x @ weight.T + bias,
        lambda x, weight, bias: F.linear(x, weight, bias),
        lambda x, weight, bias: torch.addmm(bias, x, weight.t()),
        lambda x, weight, bias: (weight @ x.T).T + bias,
        lambda x, weight, bias: torch.einsum("ni,oi->no", x, weight) + bias,
        lambda x, weight, bias: x.double() @ weight.double().T + bias.double(),  # no dtype was asked for
    ],
)
def test_q9_right_answers(right):
    _passes(ch01.q9, right)


def test_q9_a_missing_transpose_is_caught_even_when_the_shapes_fit():
    message = _fails(ch01.q9, lambda x, weight, bias: x @ weight + bias, "raised RuntimeError")
    assert "cannot be multiplied" in message

    def square_only(x, weight, bias):  # right whenever x @ W runs at all: only on the square case
        return x @ weight + bias if weight.shape[0] == weight.shape[1] else x @ weight.T + bias

    _fails(ch01.q9, square_only, "element(s) differ")
    _fails(ch01.q9, lambda x, weight, bias: x @ weight.T, "element(s) differ")  # no bias


# ---- q10: permute, with square and H = W = C cases where wrong orders keep the shape ------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda im: im.permute(2, 0, 1),
        lambda im: im.permute(2, 0, 1).contiguous(),
        lambda im: torch.movedim(im, -1, 0),
        lambda im: torch.from_numpy(np.ascontiguousarray(np.transpose(im.numpy(), (2, 0, 1)))),
    ],
)
def test_q10_right_answers(right):
    _passes(ch01.q10, right)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda im: im.permute(2, 1, 0), "shape (3, 4, 5), but it has shape (3, 5, 4)"),
        (lambda im: im.reshape(im.shape[2], im.shape[0], im.shape[1]), "element(s) differ"),
        (lambda im: im.transpose(0, 2), "shape (3, 4, 5)"),
    ],
)
def test_q10_wrong_answers(wrong, words):
    _fails(ch01.q10, wrong, words)


def test_q10_keeps_the_dtype_of_the_image():
    _fails(ch01.q10, lambda im: im.permute(2, 0, 1).float(), "dtype torch.uint8", "torch.float32")


def test_q10_an_order_that_is_wrong_only_on_square_images_is_caught():
    def sometimes_transposed(im):
        return im.permute(2, 1, 0) if im.shape[0] == im.shape[1] else im.permute(2, 0, 1)

    _fails(ch01.q10, sometimes_transposed, "element(s) differ")


# ---- q11: strides -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda shape: torch.empty(shape).stride(),
        lambda shape: tuple(int(np.prod(shape[i + 1 :])) for i in range(len(shape))),
        lambda shape: [int(np.prod(shape[i + 1 :], dtype=np.int64)) for i in range(len(shape))],
    ],
)
def test_q11_right_answers(right):
    _passes(ch01.q11, right)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda shape: tuple(int(np.prod(shape[:i])) for i in range(len(shape))), "(65536, 256, 1) was expected"),
        (lambda shape: tuple(reversed(torch.empty(shape).stride())), "was expected"),
        (lambda shape: tuple(int(np.prod(shape[i:])) for i in range(len(shape))), "was expected"),
        (lambda shape: (1,) * len(shape), "was expected"),
    ],
)
def test_q11_wrong_answers(wrong, words):
    _fails(ch01.q11, wrong, words)


def test_q11_messages_name_the_call():
    message = _fails(ch01.q11, lambda shape: (1,) * len(shape))
    assert message.startswith("<lambda>((3, 256, 256)) gave (1, 1, 1)"), message


# ---- q12: broadcasting, with an image whose width is 3 ---------------------------------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda im, f: im * f.view(3, 1, 1),
        lambda im, f: im * f[:, None, None],
        lambda im, f: im * f.reshape(-1, 1, 1),
        lambda im, f: torch.stack([im[c] * f[c] for c in range(3)]),  # a loop is slower, not wrong
        lambda im, f: im.double() * f.double()[:, None, None],  # no dtype was asked for
    ],
)
def test_q12_right_answers(right):
    _passes(ch01.q12, right)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda im, f: im * f[:, None], "raised RuntimeError"),
        (lambda im, f: im * f.sum(), "element(s) differ"),
    ],
)
def test_q12_wrong_answers(wrong, words):
    _fails(ch01.q12, wrong, words)


def test_q12_a_broadcast_along_the_width_is_caught_when_it_runs_without_an_error():
    def along_w_when_it_fits(im, f):
        return im * f if im.shape[-1] == 3 else im * f.view(3, 1, 1)

    _fails(ch01.q12, along_w_when_it_fits, "element(s) differ")


# ---- q13: keepdim, with a batch where a reduction without it broadcasts silently ---------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda x: x - x.mean(dim=(2, 3), keepdim=True),
        lambda x: x - x.mean(dim=(-2, -1), keepdim=True),
        lambda x: x - x.mean(dim=[2, 3])[:, :, None, None],
        lambda x: x - x.sum(dim=(2, 3), keepdim=True) / (x.shape[2] * x.shape[3]),
        lambda x: x - x.flatten(2).mean(-1).view(x.shape[0], x.shape[1], 1, 1),
        lambda x: x.double() - x.double().mean(dim=(2, 3), keepdim=True),  # no dtype was asked for
    ],
)
def test_q13_right_answers(right):
    _passes(ch01.q13, right)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda x: x - x.mean(dim=(2, 3)), "raised RuntimeError"),
        (lambda x: x - x.mean(), "element(s) differ"),  # one mean for all
        (lambda x: x - x.mean(dim=(1, 2, 3), keepdim=True), "element(s) differ"),  # one per image
        (lambda x: x - x.mean(dim=1, keepdim=True), "element(s) differ"),  # across channels
    ],
)
def test_q13_wrong_answers(wrong, words):
    _fails(ch01.q13, wrong, words)


def test_q13_a_mean_without_keepdim_that_broadcasts_silently_is_caught():
    def no_keepdim_when_it_runs(x):
        try:
            return x - x.mean(dim=(2, 3))  # runs when (N, C) happens to line up with (H, W)
        except RuntimeError:
            return x - x.mean(dim=(2, 3), keepdim=True)

    _fails(ch01.q13, no_keepdim_when_it_runs, "element(s) differ")


# ---- q14: argmax over the right dimension, with a square case --------------------------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda s: s.argmax(dim=1),
        lambda s: s.argmax(-1),
        lambda s: s.max(dim=1).indices,
        lambda s: torch.argmax(s, dim=1, keepdim=True).squeeze(1),
    ],
)
def test_q14_right_answers(right):
    _passes(ch01.q14, right)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda s: s.argmax(), "shape (5,), but it has shape ()"),
        (lambda s: s.argmax(dim=0), "shape (5,), but it has shape (3,)"),
        (lambda s: s.max(dim=1).values, "dtype torch.int64"),
        (lambda s: s.argmin(dim=1), "element(s) differ"),
    ],
)
def test_q14_wrong_answers(wrong, words):
    _fails(ch01.q14, wrong, words)


def test_q14_argmax_over_the_samples_is_caught_on_a_square_batch():
    def dim0_when_square(s):
        return s.argmax(dim=0) if s.shape[0] == s.shape[1] else s.argmax(dim=1)

    _fails(ch01.q14, dim0_when_square, "element(s) differ")


# ---- q15: dtype promotion and the device, judged on the meta device -------------------------------------
@pytest.mark.parametrize(
    "right",
    [
        lambda h, bias: h + bias.to(device=h.device, dtype=h.dtype),
        lambda h, bias: h + bias.to(h),
        lambda h, bias: h + bias.to(h.device).to(h.dtype),
        lambda h, bias: (h + bias.to(h.device)).to(h.dtype),  # add in float64, then back: within tolerance
    ],
)
def test_q15_right_answers(right):
    _passes(ch01.q15, right)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda h, bias: h + bias, "should have dtype torch.float32, but it has dtype torch.float64"),
        (lambda h, bias: h.to(bias.dtype) + bias, "should have dtype torch.float32, but it has dtype torch.float64"),
        (lambda h, bias: h + bias.float(), "should have dtype torch.float16, but it has dtype torch.float32"),
        (lambda h, bias: h + bias.to(h.dtype), "raised RuntimeError"),  # the bias stays on the CPU
        (lambda h, bias: h - bias.to(h), "element(s) differ"),
    ],
)
def test_q15_wrong_answers(wrong, words):
    _fails(ch01.q15, wrong, words)


def test_q15_a_bias_left_on_the_cpu_is_caught_without_a_gpu():
    message = _fails(ch01.q15, lambda h, bias: h + bias.to(h.dtype), "raised RuntimeError")
    assert "<tensor (2, 4) float32 on meta>" in message and "not on the expected device meta" in message, message

    def result_on_the_cpu(h, bias):  # right values and dtype, wrong device
        return torch.zeros(h.shape, dtype=h.dtype) + bias.to(h.dtype) if h.is_meta else h + bias.to(h)

    _fails(ch01.q15, result_on_the_cpu, "should be on the device 'meta', but it is on 'cpu'")
