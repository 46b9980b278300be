"""Exercises of notebook 03, "Two inputs, three outputs: the iris classifier".

Each answer is a small function; it is called on fresh test cases (made here, seeded) and its result
compared with the reference below, so a learner's function is judged on inputs it has not seen. Each
exercise varies what the notebook shows just above it (another scaling, log-softmax along any dimension,
unknown labels, the weights' gradient one link further, the top k), so copying the cell above is not
enough, and its cases include those where a copied answer or an easy-input formula goes wrong.
"""

from __future__ import annotations

import torch

from tensorlab.checking import FunctionExercise, compare_number
from tensorlab.exercises import name_exercises


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- q1: standardise with the training statistics (after "Min-max normalisation") ----------------


def _reference_standardise(X: torch.Tensor, X_train: torch.Tensor) -> torch.Tensor:
    mean = X_train.mean(dim=0)  # (D,)
    std = X_train.std(dim=0)  # (D,): torch.std's default, dividing by N - 1
    return (X - mean) / std  # (N, D)


def _standardise_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = _generator(6)
    X_train = torch.tensor([[0.2, 3.5], [1.3, 2.8], [2.5, 3.0], [1.0, 2.2]])  # (4, 2): petal, sepal width
    return [
        (X_train, X_train),  # the training rows themselves
        (torch.tensor([[0.2, 3.0], [2.6, 4.4], [0.1, 2.0]]), X_train),  # (3, 2): new flowers
        (torch.rand(7, 3, generator=generator) * 5, torch.rand(9, 3, generator=generator) * 4 + 1),  # (7, 3), (9, 3)
    ]


q1 = FunctionExercise(
    "standardise with the training rows' mean and standard deviation",
    reference=_reference_standardise,
    cases=_standardise_cases,
    compare_options={"atol": 1e-5, "rtol": 1e-5},
    hints=(
        "Each column (measurement) gets its own mean and standard deviation: X_train.mean(dim=0) is a "
        "(D,) tensor that broadcasts against the (N, D) rows.",
        "Use X_train's statistics even for the rows of X, and torch.std's default (dividing by N - 1): "
        "(X - X_train.mean(dim=0)) / X_train.std(dim=0).",
    ),
    takeaway=(
        "Whatever the scaling, its numbers come from the training rows, and every row, test rows "
        "included, is transformed with them."
    ),
)


# --- q2: log-softmax along any dimension (after "Cross-entropy") ------------------------------------


def _reference_log_softmax(logits: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.log_softmax(logits, dim=dim)


def _log_softmax_cases() -> list[tuple[torch.Tensor, int]]:
    return [
        (torch.tensor([[1.43, -0.40, 0.23]]), 1),  # (1, 3): one flower
        (torch.randn(6, 3, generator=_generator(4)), 1),  # (6, 3)
        (torch.randn(3, 5, generator=_generator(5), dtype=torch.float64), 0),  # (3, 5): one flower per column
        (torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0], [-2.0, 1.0, 4.0]]), 0),  # (3, 3): square, per column
        (torch.tensor([[1000.0, 1001.0, 999.0], [0.0, -1000.0, 5.0]]), 1),  # (2, 3): far apart
    ]


q2 = FunctionExercise(
    "log-softmax along any dimension, by hand",
    reference=_reference_log_softmax,
    cases=_log_softmax_cases,
    # In float32 a number near 1000 is stored to within 3e-5 (its last bit is 6.1e-5), so a right answer
    # computed as z - logsumexp(z) can be off by that much where z is near 1000 and the answer near -1;
    # atol 1e-4 accepts it. Every wrong answer in the checker tests is off by far more, or inf or nan.
    compare_options={"atol": 1e-4, "rtol": 1e-5},
    hints=(
        "log p_i = z_i - log(sum_j e^(z_j)), along dimension dim. The sum needs keepdim=True, so that it "
        "broadcasts back against the logits whichever dimension it ran along.",
        "Subtract the maximum along dim first: log p_i = (z_i - m) - log(sum_j e^(z_j - m)). Taking the log "
        "of softmax is not enough: a probability of e^-1005 rounds to 0, and log(0) is -inf. "
        "torch.logsumexp(logits, dim, keepdim=True) does the shift for you.",
    ),
    takeaway=(
        "log-softmax is z - logsumexp(z): computed that way it stays finite where log(softmax(z)) "
        "would take the log of a 0."
    ),
)


# --- q3: one-hot, with unknown labels (after "Its derivative: softmax minus one-hot") ----------------


def _reference_one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return (labels[:, None] == torch.arange(num_classes)[None, :]).float()  # (N, C) float32; -1 matches none


def _one_hot_cases() -> list[tuple[torch.Tensor, int]]:
    return [
        (torch.tensor([0, 2, 1, 2]), 3),  # (4,): the three iris species
        (torch.tensor([1, 1, 0]), 4),  # (3,): a class that never occurs
        (torch.tensor([2, -1, 0, -1, 1]), 3),  # (5,): two flowers of unknown species
        (torch.randint(-1, 5, (10,), generator=_generator(3)), 5),  # (10,)
    ]


q3 = FunctionExercise(
    "one-hot encoding, unknown labels included",
    reference=_reference_one_hot,
    cases=_one_hot_cases,
    hints=(
        "Start from torch.zeros(len(labels), num_classes) and put a 1 in each row whose label is known, "
        "in the column given by that label.",
        "Compare every label with every class number at once: labels[:, None] == torch.arange(num_classes) "
        "is an (N, C) table of True/False, and -1 equals no class. .float() makes it 0 and 1. "
        "(F.one_hot refuses -1.)",
    ),
    takeaway="One-hot encoding compares each label with every class number: "
    "a label that is no class gets a row of zeros.",
)


# --- q4: the gradient of the output layer's weights (after "Its derivative") ------------------------


def _reference_output_weight_grad(hidden: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    one_hot = torch.nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)  # (N, C)
    grad_logits = (torch.softmax(logits, dim=1) - one_hot) / logits.shape[0]  # (N, C)
    return grad_logits.T @ hidden  # (C, N) @ (N, H) -> (C, H)


def _output_weight_grad_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    generator = _generator(8)
    cases = []
    for n, h, c in ((1, 2, 3), (5, 2, 3), (4, 3, 3), (7, 5, 4)):  # (N, H, C): the iris shape, square, uneven
        hidden = torch.relu(torch.randn(n, h, generator=generator, dtype=torch.float64))  # (N, H)
        weight = torch.randn(c, h, generator=generator, dtype=torch.float64)  # (C, H)
        bias = torch.randn(c, generator=generator, dtype=torch.float64)  # (C,)
        labels = torch.randint(0, c, (n,), generator=generator)  # (N,)
        cases.append((hidden, hidden @ weight.T + bias, labels))  # logits (N, C)
    return cases


q4 = FunctionExercise(
    "the gradient of the output layer's weights",
    reference=_reference_output_weight_grad,
    cases=_output_weight_grad_cases,
    compare_options={"atol": 1e-7, "rtol": 1e-5, "check_dtype": False},
    hints=(
        "First the gradient with respect to the raw outputs, (softmax - one-hot) / N, shape (N, C). Then "
        "one more link of the chain rule: z[n, c] = sum_h hidden[n, h] * W[c, h] + b[c], so "
        "dz[n, c] / dW[c, h] = hidden[n, h].",
        "Summing over the flowers n is a matrix product: (N, C) transposed to (C, N), times hidden (N, H), "
        "gives (C, H), the shape of W.",
    ),
    takeaway=(
        "The output layer's weight gradient is (softmax - one-hot).T @ hidden / N: each weight "
        "collects error times input, summed over the batch."
    ),
)


# --- q5: top-k accuracy (after "Test accuracy and the confusion matrix") ----------------------------


def _reference_top_k_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    top = logits.topk(k, dim=1).indices  # (N, k)
    return (top == labels[:, None]).any(dim=1).float().mean().item()


def _top_k_cases() -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    generator = _generator(7)
    three = torch.tensor([[2.0, 0.1, -1.0], [0.3, 0.2, 0.9], [0.0, 1.5, 1.4]])  # (3, 3)
    return [
        (three, torch.tensor([0, 1, 1]), 1),  # 2 of 3: the usual accuracy
        (three, torch.tensor([1, 0, 2]), 2),  # 3 of 3 within the two largest (0 of 3 for k = 1)
        (three, torch.tensor([1, 1, 2]), 2),  # 2 of 3 (0 of 3 for k = 1)
        (torch.randn(20, 4, generator=generator), torch.randint(0, 4, (20,), generator=generator), 2),  # (20, 4)
        (torch.tensor([[-5.0, -1.0, -3.0, -2.0], [-0.5, -0.2, -0.9, -0.1]]), torch.tensor([3, 0]), 3),  # negative
    ]


q5 = FunctionExercise(
    "top-k accuracy",
    reference=_reference_top_k_accuracy,
    cases=_top_k_cases,
    compare=compare_number,
    compare_options={"atol": 1e-6},
    hints=(
        "logits.topk(k, dim=1).indices is an (N, k) tensor: the columns of each row's k largest raw " "outputs.",
        "Compare it with labels[:, None] (shape (N, 1), broadcast against (N, k)), ask whether any of the k "
        "matches (.any(dim=1)), then take the mean as a float: .float().mean().item().",
    ),
    takeaway=(
        "Accuracy counts a row as right when the label is among its k largest outputs; k = 1 is "
        "argmax compared with the labels."
    ),
)


# --- q6: recall of each species from a confusion matrix ------------------------------------------


def _reference_recall(confusion: torch.Tensor) -> torch.Tensor:
    return confusion.diagonal().float() / confusion.sum(dim=1).float()  # (C,)


def _recall_cases() -> list[tuple[torch.Tensor]]:
    return [
        (torch.tensor([[12, 0, 0], [0, 11, 1], [0, 0, 12]]),),  # (3, 3): rows = true species
        (torch.tensor([[5, 3, 2], [1, 8, 1], [0, 4, 6]]),),  # (3, 3): not symmetric
        (torch.tensor([[7, 1], [3, 9]]),),  # (2, 2)
    ]


q6 = FunctionExercise(
    "recall of each species",
    reference=_reference_recall,
    cases=_recall_cases,
    hints=(
        "Row i of the confusion matrix counts the flowers whose true species is i; the diagonal entry "
        "of that row counts those predicted right.",
        "confusion.diagonal() / confusion.sum(dim=1): convert to float first, since the counts are "
        "int64 and the answer is a fraction.",
    ),
    takeaway="Recall reads the confusion matrix row by row: each diagonal entry over its row's total.",
)


# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions"). Imported here, apart from the imports above, so that this
# block grows on its own.
from tensorlab.checking import Discussion, Discussions  # noqa: E402

discuss = Discussions(
    Discussion(
        "What if you skip the normalisation and train on centimetres?",
        "Here it mostly still works, but the trick that made every seed train stops working. Sepal widths "
        "run from 2 to 4.4 cm, so a hidden node's weighted sum is dominated by weight times width, and a "
        "bias of 0.5 no longer keeps it positive near the data: in centimetres, 9 of the 40 hidden nodes of "
        "seeds 0-19 start dead, against none with normalised inputs.\n\n"
        "Trained exactly like net (the same batches, Adam, 100 epochs), 18 of the 20 seeds still classify "
        "35 of the 36 test flowers. Seeds 3 "
        "and 13 end with both hidden nodes dead and predict one species for every flower: seed 3 started "
        "that way, seed 13 lost its second node during training.\n\n"
        "In general, inputs of very different sizes give their weights gradients of very different sizes, "
        "so no single learning rate suits them all (plain gradient descent suffers more than Adam), and "
        "starting values chosen for inputs near 0 to 1, like PyTorch's and our biases of 0.5, stop fitting. "
        "Normalising costs two numbers per input and removes the question.",
    ),
    Discussion(
        "What if all 15 numbers of the network start at 0?",
        "Then the hidden layer never moves, and neither do the output weights. Every hidden node's weighted "
        "sum is 0 for every flower, ReLU(0) = 0, and PyTorch takes ReLU's slope at exactly 0 to be 0: no "
        "gradient reaches the hidden weights and biases. The output weights' gradient is (softmax - one-hot) "
        "times the hidden values, which are all 0. Only the three output biases get a gradient: the mean "
        "over the batch of softmax minus one-hot.\n\n"
        "With all raw outputs equal, softmax gives each species 1/3, so the gradient of each output bias is "
        "1/3 minus that species' share of the batch. Over all 114 training flowers (38 of each) that is "
        "exactly 0; each mini-batch has its own mix, so the biases wobble by a few hundredths and go "
        "nowhere. The raw outputs are the same for every flower, so the network predicts one species for "
        "all of them: a test accuracy of 1/3, and a loss that stays at about ln 3 = 1.0986 for all 100 "
        "epochs.\n\n"
        "It is the dead network of the section above, made dead on purpose, and the all-zero start of "
        "notebook 02's ReLU network, with three outputs. Random starting weights break the tie: they give "
        "each node its own line.",
    ),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
