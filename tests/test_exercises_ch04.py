"""Notebook 04's exercises: each passes on a right answer and fails, with the right sentence, on wrong ones.

Also: every number in the notebook's two open-ended discussions (``ch04.discuss``), computed again.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.data.xo import make_xo_dataset, o_image, shift_image, x_image, xo_dataset_details
from tensorlab.exercises import ch04, exercises_of

SOBEL = torch.tensor(ch04.SOBEL)  # (3, 3)


def right_shift(image, dy, dx):
    height, width = image.shape
    out = torch.zeros_like(image)
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out


def right_shift_by_padding(image, dy, dx):
    height, width = image.shape
    padded = F.pad(image, (abs(dx), abs(dx), abs(dy), abs(dy)))  # (H + 2|dy|, W + 2|dx|)
    return padded[abs(dy) - dy : abs(dy) - dy + height, abs(dx) - dx : abs(dx) - dx + width]


def shift_down_and_right_only(image, dy, dx):  # right on the notebook's example, wrong for negative moves
    out = torch.zeros_like(image)
    out[dy:, dx:] = image[: image.shape[0] - dy, : image.shape[1] - dx]
    return out


def right_pool(m):
    return m.reshape(m.shape[0] // 2, 2, m.shape[1] // 2, 2).amax(dim=(1, 3))


def right_input_gradient(kernel, upstream):
    kh, kw = kernel.shape
    h, w = upstream.shape
    grad = torch.zeros(h + kh - 1, w + kw - 1, dtype=kernel.dtype)
    for i in range(h):
        for j in range(w):
            grad[i : i + kh, j : j + kw] += upstream[i, j] * kernel
    return grad


def input_gradient_in_float32(kernel, upstream):  # torch.zeros' default dtype: right, to float32's precision
    kh, kw = kernel.shape
    h, w = upstream.shape
    grad = torch.zeros(h + kh - 1, w + kw - 1)
    for i in range(h):
        for j in range(w):
            grad[i : i + kh, j : j + kw] += upstream[i, j] * kernel
    return grad


def input_gradient_by_padding(kernel, upstream):  # the "full" correlation with the turned filter: right too
    kh, kw = kernel.shape
    padded = F.pad(upstream, (kw - 1, kw - 1, kh - 1, kh - 1))
    return F.conv2d(padded[None, None], kernel.flip(0, 1)[None, None])[0, 0]


def input_gradient_unturned(kernel, upstream):  # forgets to turn the filter: right only for symmetric filters
    return input_gradient_by_padding(kernel.flip(0, 1), upstream)


def input_gradient_overwriting(kernel, upstream):  # = instead of +=: the overlapping windows are lost
    kh, kw = kernel.shape
    h, w = upstream.shape
    grad = torch.zeros(h + kh - 1, w + kw - 1, dtype=kernel.dtype)
    for i in range(h):
        for j in range(w):
            grad[i : i + kh, j : j + kw] = upstream[i, j] * kernel
    return grad


RIGHT_BATCH = torch.stack([x_image(), o_image(), shift_image(x_image(), 0, 1)]).unsqueeze(1)  # (3, 1, 6, 6)


def test_the_expected_answers_are_what_the_notebook_teaches():
    assert ch04.q3.expected() == -3.0
    assert ch04.q5.expected() == (16, 6, 13, 10)
    # XONet(num_filters=6, hidden=10): 6 filters of 3 x 3 + biases, 6 x 2 x 2 = 24 -> 10, 10 -> 2
    assert ch04.q6.expected() == (6 * 9 + 6) + (24 * 10 + 10) + (10 * 2 + 2) == 332
    assert len(set(ch04._q6_mistakes()) | {332}) == len(ch04._q6_mistakes()) + 1  # distinct, none the answer
    for mistake in ch04.q5.mistakes():
        assert mistake != ch04.q5.expected()


@pytest.mark.parametrize(
    "exercise, right, wrong, words",
    [
        # q1: a zero-filled shift by slicing
        (ch04.q1, right_shift, lambda im, dy, dx: torch.roll(im, (dy, dx), dims=(0, 1)), "element(s) differ"),
        (ch04.q1, right_shift_by_padding, lambda im, dy, dx: right_shift(im, dx, dy), "element(s) differ"),
        (ch04.q1, right_shift, lambda im, dy, dx: right_shift(im, -dy, -dx), "element(s) differ"),
        (ch04.q1, right_shift, shift_down_and_right_only, "(<tensor (4, 7) float32>, 1, -2)"),
        (ch04.q1, right_shift, lambda im, dy, dx: im, "element(s) differ"),
        # q2: the (N, C, H, W) batch
        (ch04.q2, RIGHT_BATCH, RIGHT_BATCH[:, 0], "should have shape (3, 1, 6, 6), but it has shape (3, 6, 6)"),
        (ch04.q2, RIGHT_BATCH, RIGHT_BATCH[[1, 0, 2]], "element(s) differ"),
        (ch04.q2, RIGHT_BATCH, RIGHT_BATCH.tolist(), "should be a torch.Tensor"),
        # q3: one output pixel
        (
            ch04.q3,
            (x_image()[1:4, 0:3] * SOBEL).sum(),
            (x_image()[1:4, 0:3] * SOBEL.flip(0, 1)).sum(),
            "turned by 180 degrees",
        ),
        (ch04.q3, -3.0, (x_image()[0:3, 1:4] * SOBEL).sum(), "row and column swapped"),
        (ch04.q3, -3.0, (x_image()[1:4, 0:3] * SOBEL.T).sum(), "turned on its side"),
        (ch04.q3, -3.0, (x_image()[1:4, 1:4] * SOBEL).sum(), "is -2, which is off by 1"),
        (ch04.q3, -3, x_image()[1:4, 0:3] * SOBEL, "should be a single number, but it is a tensor of shape (3, 3)"),
        (ch04.q3, -3, "-3", "should be a number, but it is a str"),
        # q4: max pooling by hand
        (
            ch04.q4,
            right_pool,
            lambda m: m.reshape(m.shape[0] // 2, 2, m.shape[1] // 2, 2).mean(dim=(1, 3)),
            "element(s) differ",
        ),
        (ch04.q4, right_pool, lambda m: m.reshape(m.shape[0] // 2, m.shape[1] // 2, 4).amax(-1), "element(s) differ"),
        (
            ch04.q4,
            right_pool,
            lambda m: m.reshape(m.shape[0] // 2, 2, m.shape[1] // 2, 2).amax(dim=1),
            "should have shape (2, 2), but it has shape (2, 2, 2)",
        ),
        (ch04.q4, right_pool, lambda m: torch.maximum(m[::2, ::2], m[1::2, 1::2]), "element(s) differ"),
        (
            ch04.q4,
            right_pool,
            lambda m: m.T.reshape(m.shape[1] // 2, 2, m.shape[0] // 2, 2).amax(dim=(1, 3)),
            "should have shape (2, 3), but it has shape (3, 2)",
        ),
        (ch04.q4, right_pool, lambda m: F.max_pool2d(m, 2), "raised RuntimeError"),
        (
            ch04.q4,
            right_pool,
            lambda m: right_pool(m).double(),  # the question asks for the map's dtype
            "should have dtype torch.float32, but it has dtype torch.float64",
        ),
        # q5: the shape after conv and pooling, on a non-square input with an odd size to round
        (ch04.q5, torch.Size([16, 6, 13, 10]), (16, 6, 27, 20), "before the 2 x 2 max pooling"),
        (ch04.q5, (16, 6, 13, 10), (16, 6, 14, 10), "what rounding up gives"),
        (ch04.q5, (16, 6, 13, 10), (16, 6, 14, 11), "what you would get with padding"),
        (ch04.q5, (16, 6, 13, 10), (16, 6, 10, 13), "H and W swapped"),
        (ch04.q5, (16, 6, 13, 10), (16, 1, 13, 10), "one channel too few"),
        (ch04.q5, (16, 6, 13, 10), (6, 13, 10), "missing the batch dimension"),
        (ch04.q5, (16, 6, 13, 10), (16, 6, 13, 13), "is (16, 6, 13, 13), which is not right"),
        (ch04.q5, (16, 6, 13, 10), [16, 6], "should have 4 entries, but it has 2"),
        # q6: counting parameters
        (ch04.q6, 332, 6 * 9 + 24 * 10 + 10 * 2, "the weights only"),
        (ch04.q6, 332, (9 + 1) + (4 * 10 + 10) + (10 * 2 + 2), "what one filter would need"),
        (ch04.q6, 332, (6 * 9 + 6) + (6 * 10 + 10) + (10 * 2 + 2), "one input per filter"),
        (ch04.q6, 332, (6 * 9 + 6) + (96 * 10 + 10) + (10 * 2 + 2), "counting fc1's inputs before pooling"),
        (ch04.q6, 332, 194, "XONet() with its defaults"),  # the count the notebook prints just above the question
        (ch04.q6, torch.tensor(332), 333, "is 333, which is not right"),
        # q7: the input's gradient
        (ch04.q7, right_input_gradient, input_gradient_unturned, "element(s) differ"),
        (ch04.q7, input_gradient_by_padding, input_gradient_overwriting, "element(s) differ"),
        (ch04.q7, input_gradient_in_float32, lambda k, up: right_input_gradient(k.T, up), "element(s) differ"),
        (
            ch04.q7,
            right_input_gradient,
            lambda k, up: F.conv2d(up[None, None], k[None, None])[0, 0],
            "should have shape (6, 6), but it has shape (2, 2)",
        ),
        (
            ch04.q7,
            right_input_gradient,
            lambda k, up: right_input_gradient(k, up).half(),
            "has dtype torch.float16; it should be float64 (the inputs' dtype) or float32",
        ),
        (ch04.q7, right_input_gradient, lambda k, up: right_input_gradient(k, up) + 1e-7, "element(s) differ"),
        (ch04.q7, right_input_gradient, lambda k, up: None, "returned None"),
    ],
)
def test_ch04_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed, exercise.evaluate(right).message
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_q2_accepts_the_batch_in_any_dtype_the_question_leaves_open():
    for answer in (RIGHT_BATCH.double(), RIGHT_BATCH.int(), RIGHT_BATCH.long()):
        assert ch04.q2.evaluate(answer).passed, ch04.q2.evaluate(answer).message
    assert not ch04.q2.evaluate((RIGHT_BATCH + 1).int()).passed  # the values are still compared


def test_every_exercise_says_not_attempted_for_the_placeholder_and_has_hints():
    exercises = exercises_of(ch04)
    assert list(exercises) == ["q1", "q2", "q3", "q4", "q5", "q6", "q7"]
    for name, exercise in exercises.items():
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name
        assert len(exercise.hints) >= 2, name


def test_unfinished_functions_count_as_not_attempted():
    def unfinished(*args):
        raise NotImplementedError("replace this line with your code")

    for exercise in (ch04.q1, ch04.q4, ch04.q7):
        assert exercise.evaluate(unfinished).status == NOT_ATTEMPTED


def test_the_shift_cases_cover_every_direction_on_a_non_square_image():
    cases = ch04._shift_cases()
    signs = {(int(torch.tensor(dy).sign()), int(torch.tensor(dx).sign())) for _, dy, dx in cases}
    assert {(1, -1), (-1, 0), (1, 1), (0, 0), (-1, -1), (0, 1)} <= signs
    assert any(image.shape[0] != image.shape[1] for image, _, _ in cases)
    for image, dy, dx in cases:  # the reference, shift_image, is what the notebook uses; the slices agree
        torch.testing.assert_close(right_shift(image, dy, dx), shift_image(image, dy, dx), rtol=0, atol=0)


def test_a_float32_answer_is_right_and_a_float64_one_is_held_to_float64_precision():
    result = ch04.q7.evaluate(input_gradient_in_float32)
    assert result.passed, result.message
    assert ch04.q7.evaluate(input_gradient_by_padding).passed
    off = ch04.q7.evaluate(lambda k, up: right_input_gradient(k, up) + 1e-7)  # float64, 1e-7 off: not float64's
    assert not off.passed and "(tolerance 1e-10)" in off.message, off.message


def test_the_input_gradient_reference_is_autograd_s():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 1, 5, 7, dtype=torch.float64, generator=generator, requires_grad=True)  # (N, C, H, W)
    kernel = torch.randn(1, 1, 2, 3, dtype=torch.float64, generator=generator)  # neither square nor symmetric
    upstream = torch.randn(1, 1, 4, 5, dtype=torch.float64, generator=generator)  # dL/d(out)
    (F.conv2d(image, kernel) * upstream).sum().backward()
    torch.testing.assert_close(ch04._reference_input_gradient(kernel[0, 0], upstream[0, 0]), image.grad[0, 0])
    torch.testing.assert_close(right_input_gradient(kernel[0, 0], upstream[0, 0]), image.grad[0, 0])


# ---- the open-ended questions: what their discussions say, computed -----------------------------


def discussion(number: int) -> str:
    """The discussion's text as one line (ex.discuss wraps it at 100 columns)."""
    return " ".join(ch04.discuss.text(number).split())


def test_discussion_1_a_filter_as_large_as_the_image():
    text = discussion(1)
    x, o = x_image(), o_image()
    w = torch.rand(6, 6, generator=torch.Generator().manual_seed(0))  # any 6 x 6 filter
    torch.testing.assert_close(
        F.conv2d(x[None, None], w[None, None]).flatten(), F.linear(x.flatten(), w.flatten()[None])
    )  # one number: a fully connected layer
    template = x  # the big filter = the X itself
    on_x, on_o, on_shifted = ((image * template).sum().item() for image in (x, o, shift_image(x, 0, 1)))
    assert (on_x, on_o, on_shifted) == (12, 4, 2)
    assert "gives 12" in text and "on the O 4" in text and "only 2, less than on the O" in text
    diagonal = torch.eye(3)
    for dy, dx in ((0, 1), (1, 1), (-1, 1)):  # right, down-right, up-right: the full diagonal is still found
        assert F.conv2d(shift_image(x, dy, dx)[None, None], diagonal[None, None]).max() == 3
    assert "36 weights per filter instead of 9" in text


def test_discussion_2_training_on_centred_letters_only():
    from tensorlab.xo_net import XONet, accuracy, predict, train_xo_net

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the notebook: the same numbers bit for bit
    try:
        data, details = make_xo_dataset(seed=0), xo_dataset_details(seed=0)
        centred = (details.train_shifts == 0).all(dim=1)
        assert int(centred.sum()) == 42
        net = XONet(seed=0)
        train_xo_net(net, data.train_images[centred], data.train_labels[centred], num_epochs=40, lr=0.02, seed=0)
        right = predict(net, data.heldout_images) == data.heldout_labels  # (108,)
    finally:
        torch.set_num_threads(threads)
    heldout_centred = (details.heldout_shifts == 0).all(dim=1)
    assert (int(right[heldout_centred].sum()), int(heldout_centred.sum())) == (12, 12)
    assert (int(right[~heldout_centred].sum()), int((~heldout_centred).sum())) == (88, 96)
    per_shift = {
        tuple(s): int(right[(details.heldout_shifts == torch.tensor(s)).all(dim=1)].sum())
        for s in details.heldout_shifts.unique(dim=0).tolist()
    }
    assert min(per_shift.values()) == per_shift[(1, -1)] == 6  # down-left fares worst
    assert sorted(per_shift.values())[1] > 6
    text = discussion(2)
    assert "42 of the 378" in text and "88 of the 96 shifted ones (92 %)" in text
    assert "all 12 centred" in text and "down-left fare worst: 6 of 12" in text
    assert accuracy(net, data.train_images[centred], data.train_labels[centred]) == 1.0
