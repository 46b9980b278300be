"""Notebook 04's exercises: each passes on a right answer and fails, with the right sentence, on wrong ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.data.xo import o_image, shift_image, x_image
from tensorlab.exercises import ch04, exercises_of

SOBEL = torch.tensor(ch04.SOBEL)  # (3, 3)


def right_pool(m):
    return m.reshape(m.shape[0] // 2, 2, m.shape[1] // 2, 2).amax(dim=(1, 3))


def right_filter_gradient(image, upstream):
    h, w = upstream.shape
    grad = torch.zeros(image.shape[0] - h + 1, image.shape[1] - w + 1, dtype=image.dtype)
    for a in range(grad.shape[0]):
        for b in range(grad.shape[1]):
            grad[a, b] = (image[a:a + h, b:b + w] * upstream).sum()
    return grad


RIGHT_BATCH = torch.stack([x_image(), o_image(), shift_image(x_image(), 0, 1)]).unsqueeze(1)  # (3, 1, 6, 6)


def test_the_expected_answers_are_what_the_notebook_teaches():
    assert ch04.q1.expected() == -3.0
    assert ch04.q2.expected() == (16, 6, 13, 13)
    assert ch04.q5.expected() == (4 * 9 + 4) + (16 * 8 + 8) + (8 * 2 + 2) == 194


@pytest.mark.parametrize("exercise, right, wrong, words", [
    # q1: one output pixel
    (ch04.q1, (x_image()[1:4, 0:3] * SOBEL).sum(), (x_image()[1:4, 0:3] * SOBEL.flip(0, 1)).sum(),
     "turned by 180 degrees"),
    (ch04.q1, -3.0, (x_image()[0:3, 1:4] * SOBEL).sum(), "off by"),
    (ch04.q1, -3, x_image()[1:4, 0:3] * SOBEL, "should be a single number, but it is a tensor of shape (3, 3)"),
    (ch04.q1, -3, "-3", "should be a number, but it is a str"),
    # q2: the shape after conv and pooling
    (ch04.q2, torch.Size([16, 6, 13, 13]), (16, 6, 26, 26), "before the 2 x 2 max pooling"),
    (ch04.q2, (16, 6, 13, 13), (16, 6, 14, 14), "what you would get with padding"),
    (ch04.q2, (16, 6, 13, 13), (16, 1, 13, 13), "one channel too few"),
    (ch04.q2, (16, 6, 13, 13), (6, 13, 13), "missing the batch dimension"),
    (ch04.q2, (16, 6, 13, 13), (16, 6, 12, 12), "is (16, 6, 12, 12), which is not right"),
    (ch04.q2, (16, 6, 13, 13), [16, 6], "should have 4 entries, but it has 2"),
    # q3: max pooling by hand
    (ch04.q3, right_pool, lambda m: m.reshape(m.shape[0] // 2, 2, m.shape[1] // 2, 2).mean(dim=(1, 3)),
     "element(s) differ"),
    (ch04.q3, right_pool, lambda m: m.reshape(m.shape[0] // 2, m.shape[1] // 2, 4).amax(-1), "element(s) differ"),
    (ch04.q3, right_pool, lambda m: m.reshape(m.shape[0] // 2, 2, m.shape[1] // 2, 2).amax(dim=1),
     "should have shape (2, 2), but it has shape (2, 2, 2)"),
    (ch04.q3, right_pool, lambda m: F.max_pool2d(m, 2), "raised RuntimeError"),
    # q4: the (N, C, H, W) batch
    (ch04.q4, RIGHT_BATCH, RIGHT_BATCH[:, 0], "should have shape (3, 1, 6, 6), but it has shape (3, 6, 6)"),
    (ch04.q4, RIGHT_BATCH, RIGHT_BATCH[[1, 0, 2]], "element(s) differ"),
    (ch04.q4, RIGHT_BATCH, RIGHT_BATCH.double(), "dtype torch.float32"),
    (ch04.q4, RIGHT_BATCH, RIGHT_BATCH.tolist(), "should be a torch.Tensor"),
    # q5: counting parameters
    (ch04.q5, 194, 180, "the weights only"),
    (ch04.q5, 194, 68, "what one filter would need"),
    (ch04.q5, 194, 578, "counting fc1's inputs before pooling"),
    (ch04.q5, torch.tensor(194), 195, "is 195, which is not right"),
    # q6: the filter's gradient
    (ch04.q6, right_filter_gradient, lambda im, up: right_filter_gradient(im, up.flip(0, 1)), "element(s) differ"),
    (ch04.q6, right_filter_gradient, lambda im, up: right_filter_gradient(im, up.T), "element(s) differ"),
    (ch04.q6, right_filter_gradient, lambda im, up: F.conv2d(up[None, None], im[None, None])[0, 0],
     "raised RuntimeError"),
    (ch04.q6, right_filter_gradient, lambda im, up: right_filter_gradient(im, up).float(), "dtype torch.float64"),
    (ch04.q6, right_filter_gradient, lambda im, up: None, "returned None"),
])
def test_ch04_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed, exercise.evaluate(right).message
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_every_exercise_says_not_attempted_for_the_placeholder_and_has_hints():
    exercises = exercises_of(ch04)
    assert list(exercises) == ["q1", "q2", "q3", "q4", "q5", "q6"]
    for name, exercise in exercises.items():
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name
        assert len(exercise.hints) >= 2, name


def test_unfinished_functions_count_as_not_attempted():
    def unfinished(*args):
        raise NotImplementedError("replace this line with your code")

    assert ch04.q3.evaluate(unfinished).status == NOT_ATTEMPTED
    assert ch04.q6.evaluate(unfinished).status == NOT_ATTEMPTED


def test_the_filter_gradient_reference_is_autograd_s():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 1, 6, 6, dtype=torch.float64, generator=generator)  # (N, C, H, W)
    kernel = torch.randn(1, 1, 3, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    upstream = torch.randn(1, 1, 4, 4, dtype=torch.float64, generator=generator)
    (F.conv2d(image, kernel) * upstream).sum().backward()  # dL/d(out) = upstream
    torch.testing.assert_close(ch04._reference_filter_gradient(image[0, 0], upstream[0, 0]), kernel.grad[0, 0])
    torch.testing.assert_close(right_filter_gradient(image[0, 0], upstream[0, 0]), kernel.grad[0, 0])
