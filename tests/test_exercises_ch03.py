"""The checks of notebook 03's exercises: each passes a right answer and fails known-wrong ones with the
right sentence (and never a traceback)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.exercises import ch03


# --- right answers, written differently from the references -------------------------------------

def one_hot_by_indexing(labels, num_classes):
    encoded = torch.zeros(len(labels), num_classes)
    encoded[torch.arange(len(labels)), labels] = 1.0
    return encoded


def one_hot_by_comparison(labels, num_classes):
    return (labels[:, None] == torch.arange(num_classes)[None, :]).float()


def softmax_stable(logits):
    exponentials = (logits - logits.max(dim=1, keepdim=True).values).exp()
    return exponentials / exponentials.sum(dim=1, keepdim=True)


def softmax_via_logsumexp(logits):
    return (logits - logits.logsumexp(dim=1, keepdim=True)).exp()


def cross_entropy_grad_by_formula(logits, labels):
    one_hot = torch.zeros_like(logits)
    one_hot[torch.arange(len(labels)), labels] = 1.0
    return (torch.softmax(logits, dim=1) - one_hot) / len(labels)


def cross_entropy_grad_by_autograd(logits, labels):
    leaf = logits.clone().requires_grad_(True)
    F.cross_entropy(leaf, labels).backward()
    return leaf.grad


def min_max(X, X_train):
    low, high = X_train.min(dim=0).values, X_train.max(dim=0).values
    return (X - low) / (high - low)


def accuracy(logits, labels):
    return (logits.argmax(dim=1) == labels).float().mean().item()


def accuracy_as_tensor(logits, labels):
    return (logits.argmax(dim=1) == labels).double().mean()  # a 0-D tensor is accepted


def recall(confusion):
    return confusion.diagonal().float() / confusion.sum(dim=1).float()


@pytest.mark.parametrize("exercise, answer", [
    (ch03.q1, one_hot_by_indexing), (ch03.q1, one_hot_by_comparison),
    (ch03.q2, softmax_stable), (ch03.q2, softmax_via_logsumexp),
    (ch03.q3, cross_entropy_grad_by_formula), (ch03.q3, cross_entropy_grad_by_autograd),
    (ch03.q4, min_max),
    (ch03.q5, accuracy), (ch03.q5, accuracy_as_tensor),
    (ch03.q6, recall),
])
def test_right_answers_pass(exercise, answer):
    result = exercise.evaluate(answer)
    assert result.passed, result.message


@pytest.mark.parametrize("exercise, wrong, words", [
    # q1: int64 from F.one_hot; the class number itself; a fixed number of columns
    (ch03.q1, lambda labels, c: F.one_hot(labels, c), "dtype torch.float32, but it has dtype torch.int64"),
    (ch03.q1, lambda labels, c: labels.float(), "should have shape (4, 3), but it has shape (4,)"),
    (ch03.q1, lambda labels, c: F.one_hot(labels, 3).float(), "should have shape (3, 4), but it has shape (3, 3)"),
    # q2: overflow without the shift; normalised over the wrong dimension; exponentials not divided
    (ch03.q2, lambda z: z.exp() / z.exp().sum(dim=1, keepdim=True), "element(s) differ"),
    (ch03.q2, lambda z: softmax_stable(z.T).T, "element(s) differ"),
    (ch03.q2, lambda z: (z - z.max(dim=1, keepdim=True).values).exp(), "element(s) differ"),
    (ch03.q2, lambda z: torch.softmax(z, dim=1)[0], "should have shape (1, 3), but it has shape (3,)"),
    # q3: not divided by N; one-hot minus softmax; float32 instead of the logits' float64
    (ch03.q3, lambda z, y: torch.softmax(z, 1) - F.one_hot(y, z.shape[1]), "element(s) differ"),
    (ch03.q3, lambda z, y: (F.one_hot(y, z.shape[1]) - torch.softmax(z, 1)) / len(y), "element(s) differ"),
    (ch03.q3, lambda z, y: cross_entropy_grad_by_formula(z.float(), y),
     "dtype torch.float64, but it has dtype torch.float32"),
    # q4: the rows' own statistics; the statistics of all numbers at once; standardising instead
    (ch03.q4, lambda X, Xt: min_max(X, X), "element(s) differ"),
    (ch03.q4, lambda X, Xt: (X - Xt.min()) / (Xt.max() - Xt.min()), "element(s) differ"),
    (ch03.q4, lambda X, Xt: (X - Xt.mean(0)) / Xt.std(0), "element(s) differ"),
    # q5: argmax over the wrong dimension; a count instead of a fraction; a list
    (ch03.q5, lambda z, y: (z.argmax(dim=0) == y).float().mean().item(), "gave 0.3333, but 0.6667 was expected (off by 0.3333)"),
    (ch03.q5, lambda z, y: int((z.argmax(dim=1) == y).sum()), "gave 2, but 0.6667 was expected"),
    (ch03.q5, lambda z, y: (z.argmax(dim=1) == y).tolist(), "should be a number, but it is a list"),
    # q6: columns (that is precision); integer division
    (ch03.q6, lambda c: c.diagonal().float() / c.sum(dim=0).float(), "element(s) differ"),
    (ch03.q6, lambda c: c.diagonal() // c.sum(dim=1), "dtype torch.float32, but it has dtype torch.int64"),
])
def test_wrong_answers_fail_with_one_clear_sentence(exercise, wrong, words):
    result = exercise.evaluate(wrong)
    assert result.status == "fail", result.message
    assert words in result.message, result.message
    assert "\n" not in result.message and "Traceback" not in result.message


def test_the_overflowing_softmax_is_caught_on_the_large_case_only():
    # Without the shift the answer is right on ordinary numbers and nan on raw outputs in the thousands.
    def naive_softmax(z):
        return z.exp() / z.exp().sum(dim=1, keepdim=True)

    naive = naive_softmax
    ordinary = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(naive(ordinary), torch.softmax(ordinary, dim=1))
    message = ch03.q2.evaluate(naive).message
    # the message names the call, with its input, and shows one differing element: expected and got
    assert "6 of 6 element(s) differ" in message and "at index [0, 0] expected 0.2447, got nan" in message, message
    assert message.startswith("naive_softmax(tensor([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0]]))"), message


@pytest.mark.parametrize("name", ["q1", "q2", "q3", "q4", "q5", "q6"])
def test_unfinished_function_counts_as_not_attempted(name):
    def unfinished(*args):
        raise NotImplementedError("replace this line with your code")

    assert getattr(ch03, name).evaluate(unfinished).status == NOT_ATTEMPTED
    assert getattr(ch03, name).evaluate(...).status == NOT_ATTEMPTED


def test_a_function_that_crashes_gets_a_sentence_not_a_traceback():
    result = ch03.q1.evaluate(lambda labels, c: labels.undefined_method())
    assert result.status == "fail" and "raised AttributeError" in result.message


def test_expected_values_match_pytorch():
    # The references themselves, against PyTorch's own functions or autograd.
    z = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 2, 1, 1, 0])
    torch.testing.assert_close(ch03._reference_cross_entropy_grad(z, y), cross_entropy_grad_by_autograd(z, y))
    assert torch.equal(ch03._reference_one_hot(y, 3), F.one_hot(y, 3).float())
    confusion = torch.tensor([[3, 1], [0, 4]])
    assert ch03._reference_recall(confusion).tolist() == [0.75, 1.0]
