"""Exercises of notebook 03, "Two inputs, three outputs: the iris classifier".

Each answer is a small function; it is called on fresh test cases (made here, seeded) and its result
compared with the reference below, so a learner's function is judged on inputs it has not seen.
"""

from __future__ import annotations

import torch

from tensorlab.checking import FunctionExercise, compare_number
from tensorlab.exercises import name_exercises


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- q1: one-hot ---------------------------------------------------------------------------------

def _reference_one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, num_classes).float()  # (N,) -> (N, C) float32


def _one_hot_cases() -> list[tuple[torch.Tensor, int]]:
    return [
        (torch.tensor([0, 2, 1, 2]), 3),                                # (4,): the three iris species
        (torch.tensor([1, 1, 0]), 4),                                   # (3,): a class that never occurs
        (torch.randint(0, 5, (10,), generator=_generator(3)), 5),       # (10,)
    ]


q1 = FunctionExercise(
    "one-hot encoding",
    reference=_reference_one_hot, cases=_one_hot_cases,
    hints=("Start from torch.zeros(len(labels), num_classes) and put a 1 in each row, in the column "
           "given by that row's label.",
           "Row i, column labels[i]: rows = torch.arange(len(labels)); one_hot[rows, labels] = 1.0. "
           "(torch.nn.functional.one_hot does it too, but returns int64: add .float().)"),
)


# --- q2: softmax ---------------------------------------------------------------------------------

def _reference_softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=1)  # (N, C), each row sums to 1


def _softmax_cases() -> list[tuple[torch.Tensor]]:
    return [
        (torch.tensor([[1.43, -0.40, 0.23]]),),                              # (1, 3): one flower
        (torch.randn(6, 3, generator=_generator(4)),),                       # (6, 3)
        (torch.tensor([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0]]),),  # (2, 3): huge raw outputs
    ]


q2 = FunctionExercise(
    "softmax of every row, by hand",
    reference=_reference_softmax, cases=_softmax_cases,
    # float32 with raw outputs near 1000 keeps about 5 significant digits whichever right way it is computed
    # (a shift by the maximum, or logsumexp); a wrong softmax is off by far more, or nan.
    compare_options={"atol": 1e-5, "rtol": 1e-4},
    hints=("softmax(z)_i = exp(z_i) / sum_j exp(z_j), for each row separately: sum over dim=1 with "
           "keepdim=True so that the (N, 1) sums broadcast against the (N, C) exponentials.",
           "exp(1000) overflows to inf, and inf / inf is nan. Subtract each row's maximum first "
           "(logits - logits.max(dim=1, keepdim=True).values): the result is the same, as the notebook shows."),
)


# --- q3: the gradient of cross-entropy -----------------------------------------------------------

def _reference_cross_entropy_grad(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    probabilities = torch.softmax(logits, dim=1)                              # (N, C)
    one_hot = torch.nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)  # (N, C)
    return (probabilities - one_hot) / logits.shape[0]                          # (N, C)


def _cross_entropy_grad_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = _generator(5)
    return [
        (torch.tensor([[1.43, -0.40, 0.23]], dtype=torch.float64), torch.tensor([0])),  # (1, 3), (1,)
        (torch.randn(5, 3, generator=generator, dtype=torch.float64),
         torch.tensor([0, 1, 2, 2, 1])),                                                  # (5, 3), (5,)
        (torch.randn(8, 4, generator=generator, dtype=torch.float64),
         torch.randint(0, 4, (8,), generator=generator)),                                 # (8, 4), (8,)
    ]


q3 = FunctionExercise(
    "the gradient of the mean cross-entropy",
    reference=_reference_cross_entropy_grad, cases=_cross_entropy_grad_cases,
    compare_options={"atol": 1e-10, "rtol": 1e-8},
    hints=("For one flower the gradient with respect to its raw outputs is softmax minus one-hot.",
           "F.cross_entropy averages over the N flowers, so every row of the gradient is divided by N. "
           "Keep the dtype of the logits (float64 here): .to(logits.dtype) on the one-hot."),
)


# --- q4: min-max normalisation with the training statistics --------------------------------------

def _reference_min_max(X: torch.Tensor, X_train: torch.Tensor) -> torch.Tensor:
    low = X_train.min(dim=0).values                     # (D,)
    high = X_train.max(dim=0).values                    # (D,)
    return (X - low) / (high - low)                     # (N, D)


def _min_max_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = _generator(6)
    X_train = torch.tensor([[0.2, 3.5], [1.3, 2.8], [2.5, 3.0], [1.0, 2.2]])  # (4, 2): petal, sepal width
    return [
        (X_train, X_train),                                                   # the training rows themselves
        (torch.tensor([[0.2, 3.0], [2.6, 4.4], [0.1, 2.0]]), X_train),        # (3, 2): new flowers, some outside
        (torch.rand(7, 3, generator=generator) * 5, torch.rand(9, 3, generator=generator) * 4 + 1),
    ]


q4 = FunctionExercise(
    "normalise with the training rows' minimum and maximum",
    reference=_reference_min_max, cases=_min_max_cases,
    hints=("Each column (measurement) gets its own minimum and maximum: X_train.min(dim=0).values "
           "is a (D,) tensor that broadcasts against the (N, D) rows.",
           "Use X_train's minimum and maximum even for the rows of X: a test flower must be scaled exactly "
           "like the training flowers, so it may land a little below 0 or above 1."),
)


# --- q5: accuracy --------------------------------------------------------------------------------

def _reference_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(dim=1) == labels).float().mean().item()


def _accuracy_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = _generator(7)
    return [
        (torch.tensor([[2.0, 0.1, -1.0], [0.3, 0.2, 0.9], [0.0, 1.5, 1.4]]), torch.tensor([0, 1, 1])),  # 2 of 3
        (torch.randn(20, 3, generator=generator), torch.randint(0, 3, (20,), generator=generator)),
        (torch.tensor([[-5.0, -1.0, -3.0], [-0.5, -0.2, -0.9]]), torch.tensor([1, 1])),  # negative raw outputs
    ]


q5 = FunctionExercise(
    "an accuracy function",
    reference=_reference_accuracy, cases=_accuracy_cases,
    compare=compare_number, compare_options={"atol": 1e-6},
    hints=("The predicted class is the column of the largest raw output: logits.argmax(dim=1).",
           "Compare with the labels (a tensor of True/False), turn it into numbers with .float(), "
           "take the mean, and return a Python float with .item()."),
)


# --- q6: recall of each species from a confusion matrix ------------------------------------------

def _reference_recall(confusion: torch.Tensor) -> torch.Tensor:
    return confusion.diagonal().float() / confusion.sum(dim=1).float()  # (C,)


def _recall_cases() -> list[tuple[torch.Tensor]]:
    return [
        (torch.tensor([[12, 0, 0], [0, 11, 1], [0, 0, 12]]),),   # (3, 3): rows = true species
        (torch.tensor([[5, 3, 2], [1, 8, 1], [0, 4, 6]]),),      # (3, 3): not symmetric
        (torch.tensor([[7, 1], [3, 9]]),),                       # (2, 2)
    ]


q6 = FunctionExercise(
    "recall of each species",
    reference=_reference_recall, cases=_recall_cases,
    hints=("Row i of the confusion matrix counts the flowers whose true species is i; the diagonal entry "
           "of that row counts those predicted right.",
           "confusion.diagonal() / confusion.sum(dim=1): convert to float first, since the counts are "
           "int64 and the answer is a fraction."),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
