"""The checks of notebook 03's exercises: each passes a right answer and fails known-wrong ones with the
right sentence (and never a traceback)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.exercises import ch03

# --- right answers, written differently from the references -------------------------------------


def standardise(X, X_train):
    return (X - X_train.mean(dim=0)) / X_train.std(dim=0)


def standardise_by_variance(X, X_train):
    centred = X_train - X_train.mean(dim=0)
    variance = (centred**2).sum(dim=0) / (len(X_train) - 1)
    return (X - X_train.mean(dim=0)) / variance.sqrt()


def min_max(X, X_train):
    low, high = X_train.min(dim=0).values, X_train.max(dim=0).values
    return (X - low) / (high - low)


def log_softmax_shifted(logits, dim):
    shifted = logits - logits.max(dim=dim, keepdim=True).values
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def log_softmax_via_logsumexp(logits, dim):
    return logits - logits.logsumexp(dim=dim, keepdim=True)


def log_of_softmax(logits, dim):  # the shift, then a log: right on ordinary numbers, -inf far apart
    shifted = (logits - logits.max(dim=dim, keepdim=True).values).exp()
    return (shifted / shifted.sum(dim=dim, keepdim=True)).log()


def log_softmax_naive(logits, dim):  # no shift at all: nan in the thousands
    return logits - logits.exp().sum(dim=dim, keepdim=True).log()


def log_softmax_rows_only(logits, dim):  # the notebook's rows, whatever dim says
    return log_softmax_shifted(logits, 1)


def log_softmax_without_keepdim(logits, dim):
    shifted = logits - logits.max(dim=dim).values
    return shifted - shifted.exp().sum(dim=dim).log()


def one_hot_by_comparison(labels, num_classes):
    return (labels[:, None] == torch.arange(num_classes)[None, :]).float()


def one_hot_by_indexing(labels, num_classes):
    encoded = torch.zeros(len(labels), num_classes)
    known = labels >= 0
    encoded[known.nonzero().squeeze(1), labels[known]] = 1.0
    return encoded


def one_hot_naive_indexing(labels, num_classes):  # -1 indexes the last column: right on known labels only
    encoded = torch.zeros(len(labels), num_classes)
    encoded[torch.arange(len(labels)), labels] = 1.0
    return encoded


def weight_grad_by_formula(hidden, logits, labels):
    targets = torch.zeros_like(logits)
    targets[torch.arange(len(labels)), labels] = 1.0
    return (torch.softmax(logits, dim=1) - targets).T @ hidden / len(labels)


def weight_grad_by_einsum(hidden, logits, labels):
    grad_logits = (torch.softmax(logits, dim=1) - F.one_hot(labels, logits.shape[1])) / len(labels)
    return torch.einsum("nc,nh->ch", grad_logits, hidden)


def weight_grad_by_autograd(hidden, logits, labels):
    leaf = logits.clone().requires_grad_(True)
    F.cross_entropy(leaf, labels).backward()
    return leaf.grad.T @ hidden


def weight_grad_in_float32(hidden, logits, labels):
    return weight_grad_by_formula(hidden.float(), logits.float(), labels)


def top_k_accuracy(logits, labels, k):
    return (logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1).float().mean().item()


def top_k_by_rank(logits, labels, k):
    # the label's rank: how many outputs of its row are larger than the label's own
    own = logits.gather(1, labels[:, None])  # (N, 1)
    rank = (logits > own).sum(dim=1)  # (N,)
    return (rank < k).double().mean()  # a 0-D tensor is accepted


def recall(confusion):
    return confusion.diagonal().float() / confusion.sum(dim=1).float()


@pytest.mark.parametrize(
    "exercise, answer",
    [
        (ch03.q1, standardise),
        (ch03.q1, standardise_by_variance),
        (ch03.q2, log_softmax_shifted),
        (ch03.q2, log_softmax_via_logsumexp),
        (ch03.q3, one_hot_by_comparison),
        (ch03.q3, one_hot_by_indexing),
        (ch03.q4, weight_grad_by_formula),
        (ch03.q4, weight_grad_by_einsum),
        (ch03.q4, weight_grad_by_autograd),
        (ch03.q4, weight_grad_in_float32),  # the question fixes no dtype
        (ch03.q5, top_k_accuracy),
        (ch03.q5, top_k_by_rank),
        (ch03.q6, recall),
    ],
)
def test_right_answers_pass(exercise, answer):
    result = exercise.evaluate(answer)
    assert result.passed, result.message


@pytest.mark.parametrize(
    "exercise, wrong, words",
    [
        # q1: the notebook's min-max copied; the rows' own statistics; dividing by N; all numbers at once
        (ch03.q1, min_max, "element(s) differ"),
        (ch03.q1, lambda X, Xt: standardise(X, X), "element(s) differ"),
        (ch03.q1, lambda X, Xt: (X - Xt.mean(0)) / Xt.std(0, unbiased=False), "element(s) differ"),
        (ch03.q1, lambda X, Xt: (X - Xt.mean()) / Xt.std(), "element(s) differ"),
        # q2: the log of softmax; no shift; the notebook's rows whatever dim; no keepdim; softmax itself
        (ch03.q2, log_of_softmax, "got -inf"),
        (ch03.q2, log_softmax_naive, "at index [0, 0] expected -1.408, got -inf"),
        (
            ch03.q2,
            log_softmax_rows_only,
            "log_softmax_rows_only(<tensor (3, 5) float64>, 0) has the right shape and dtype, "
            "but 15 of 15 element(s) differ",
        ),
        (ch03.q2, log_softmax_without_keepdim, "raised RuntimeError"),
        (ch03.q2, lambda z, dim: torch.softmax(z, dim=dim), "element(s) differ"),
        # q3: F.one_hot (int64, and it refuses -1); -1 taken as the last class; a fixed number of columns
        (ch03.q3, lambda labels, c: F.one_hot(labels, c), "dtype torch.float32, but it has dtype torch.int64"),
        (ch03.q3, lambda labels, c: F.one_hot(labels, c).float(), "tensor([2, -1, 0, -1, 1]), 3) raised RuntimeError"),
        (ch03.q3, one_hot_naive_indexing, "at index [1, 2] expected 0.0, got 1"),
        (ch03.q3, lambda labels, c: labels.float(), "should have shape (4, 3), but it has shape (4,)"),
        (
            ch03.q3,
            lambda labels, c: one_hot_by_comparison(labels, 3),
            "should have shape (3, 4), but it has shape (3, 3)",
        ),
        # q4: the raw outputs' gradient itself; hidden.T @ ... (H, C); not divided by N; one-hot minus softmax
        (
            ch03.q4,
            lambda h, z, y: (torch.softmax(z, 1) - F.one_hot(y, z.shape[1])) / len(y),
            "should have shape (3, 2), but it has shape (1, 3)",
        ),
        (
            ch03.q4,
            lambda h, z, y: h.T @ ((torch.softmax(z, 1) - F.one_hot(y, z.shape[1])) / len(y)),
            "should have shape (3, 2), but it has shape (2, 3)",
        ),
        (ch03.q4, lambda h, z, y: (torch.softmax(z, 1) - F.one_hot(y, z.shape[1])).T @ h, "element(s) differ"),
        (ch03.q4, lambda h, z, y: (F.one_hot(y, z.shape[1]) - torch.softmax(z, 1)).T @ h / len(y), "element(s) differ"),
        # q5: the usual accuracy whatever k; the k smallest; over the wrong dimension; a count
        (
            ch03.q5,
            lambda z, y, k: (z.argmax(dim=1) == y).float().mean().item(),
            "<lambda>(<tensor (3, 3) float32>, tensor([1, 0, 2]), 2) gave 0.0, but 1 was expected",
        ),
        (
            ch03.q5,
            lambda z, y, k: (z.topk(k, dim=1, largest=False).indices == y[:, None]).any(1).float().mean().item(),
            "but 0.6667 was expected",
        ),
        (ch03.q5, lambda z, y, k: (z.argmax(dim=0) == y).float().mean().item(), "gave 0.3333, but 0.6667 was expected"),
        (
            ch03.q5,
            lambda z, y, k: int((z.topk(k, dim=1).indices == y[:, None]).any(1).sum()),
            "gave 2, but 0.6667 was expected",
        ),
        # q6: columns (that is precision); integer division
        (ch03.q6, lambda c: c.diagonal().float() / c.sum(dim=0).float(), "element(s) differ"),
        (ch03.q6, lambda c: c.diagonal() // c.sum(dim=1), "dtype torch.float32, but it has dtype torch.int64"),
    ],
)
def test_wrong_answers_fail_with_one_clear_sentence(exercise, wrong, words):
    result = exercise.evaluate(wrong)
    assert result.status == "fail", result.message
    assert words in result.message, result.message
    assert "\n" not in result.message and "Traceback" not in result.message


def test_the_copied_or_easy_input_answers_are_right_on_some_cases():
    """Each known-wrong answer above that 'looks right' does so on a case of its own: the check needs the others."""
    # log of softmax: right on every case but the one far apart
    for logits, dim in ch03._log_softmax_cases()[:4]:
        torch.testing.assert_close(log_of_softmax(logits, dim), ch03._reference_log_softmax(logits, dim))
    # the notebook's rows: right on every dim=1 case
    for logits, dim in ch03._log_softmax_cases():
        if dim == 1:
            torch.testing.assert_close(log_softmax_rows_only(logits, dim), ch03._reference_log_softmax(logits, dim))
    # -1 as the last class: right where every label is known
    labels, c = ch03._one_hot_cases()[0]
    assert torch.equal(one_hot_naive_indexing(labels, c), ch03._reference_one_hot(labels, c))
    # the plain accuracy: right on the k = 1 case, wrong on every k > 1 case (numbers chosen so)
    for logits, labels, k in ch03._top_k_cases():
        plain = (logits.argmax(dim=1) == labels).float().mean().item()
        assert (plain == ch03._reference_top_k_accuracy(logits, labels, k)) == (k == 1), (labels, k)
    # dividing by N instead of N - 1: the small training set makes the difference large
    X, X_train = ch03._standardise_cases()[1]
    assert (X_train.std(0) / X_train.std(0, unbiased=False) - 1).min() > 0.1


def test_q4_cases_are_non_square_and_square():
    shapes = [(h.shape[1], z.shape[1]) for h, z, _ in ch03._output_weight_grad_cases()]  # (H, C)
    assert (3, 3) in shapes and any(h != c for h, c in shapes)


def test_the_far_apart_case_names_the_call_and_one_differing_element():
    message = ch03.q2.evaluate(log_of_softmax).message
    assert message.startswith("log_of_softmax(tensor([[1000.0, 1001.0, 999.0], [0.0, -1000.0, 5.0]]), 1)"), message
    assert "at index [1, 1] expected -1005, got -inf" in message, message


@pytest.mark.parametrize("name", ["q1", "q2", "q3", "q4", "q5", "q6"])
def test_unfinished_function_counts_as_not_attempted(name):
    def unfinished(*args):
        raise NotImplementedError("replace this line with your code")

    assert getattr(ch03, name).evaluate(unfinished).status == NOT_ATTEMPTED
    assert getattr(ch03, name).evaluate(...).status == NOT_ATTEMPTED


def test_a_function_that_crashes_gets_a_sentence_not_a_traceback():
    result = ch03.q3.evaluate(lambda labels, c: labels.undefined_method())
    assert result.status == "fail" and "raised AttributeError" in result.message


def test_expected_values_match_pytorch():
    # The references themselves, against PyTorch's own functions or autograd.
    generator = torch.Generator().manual_seed(1)
    hidden = torch.rand(5, 2, dtype=torch.float64, generator=generator)
    W = torch.randn(3, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=generator)
    y = torch.tensor([0, 2, 1, 1, 0])
    logits = hidden @ W.T + b
    F.cross_entropy(logits, y).backward()
    torch.testing.assert_close(ch03._reference_output_weight_grad(hidden, logits.detach(), y), W.grad)
    for hidden, logits, labels in ch03._output_weight_grad_cases():
        leaf = logits.clone().requires_grad_(True)
        F.cross_entropy(leaf, labels).backward()
        torch.testing.assert_close(ch03._reference_output_weight_grad(hidden, logits, labels), leaf.grad.T @ hidden)
    assert torch.equal(ch03._reference_one_hot(y, 3), F.one_hot(y, 3).float())
    assert ch03._reference_one_hot(torch.tensor([-1, 1]), 2).tolist() == [[0.0, 0.0], [0.0, 1.0]]
    for logits, dim in ch03._log_softmax_cases():
        torch.testing.assert_close(
            ch03._reference_log_softmax(logits, dim), log_softmax_via_logsumexp(logits, dim), rtol=1e-5, atol=1e-4
        )  # float32 near 1000: the tolerance the check uses
    assert torch.isfinite(ch03._reference_log_softmax(*ch03._log_softmax_cases()[-1])).all()
    confusion = torch.tensor([[3, 1], [0, 4]])
    assert ch03._reference_recall(confusion).tolist() == [0.75, 1.0]
    X_train = torch.tensor([[1.0, 10.0], [3.0, 14.0], [5.0, 12.0]])
    assert ch03._reference_standardise(X_train, X_train).tolist() == [[-1.0, -1.0], [0.0, 1.0], [1.0, 0.0]]


# --- the discussions say what training does ---------------------------------------------------------
# Notebook 03's data pipeline, as its cells build it (the stratified seeded split, min-max scaling with the
# training rows, make_net, shuffled batches of 32 from a generator seeded 0, Adam at 0.02 for 100 epochs).
# The first test checks that this copy still reproduces the notebook's stored numbers.


def iris_pipeline():
    from tensorlab.data.iris import load_iris

    iris = load_iris()
    X_all, y_all = iris.columns("petal_width_cm", "sepal_width_cm"), iris.labels  # (150, 2), (150,)
    generator = torch.Generator().manual_seed(0)
    train_parts, test_parts = [], []
    for species in range(3):
        rows = (y_all == species).nonzero().squeeze(1)
        rows = rows[torch.randperm(len(rows), generator=generator)]
        test_parts.append(rows[:12])
        train_parts.append(rows[12:])
    train_rows, test_rows = torch.cat(train_parts).sort().values, torch.cat(test_parts).sort().values
    X_train_cm, X_test_cm = X_all[train_rows], X_all[test_rows]
    low, high = X_train_cm.min(dim=0).values, X_train_cm.max(dim=0).values
    return {
        "X_train_cm": X_train_cm,
        "X_test_cm": X_test_cm,
        "y_train": y_all[train_rows],
        "y_test": y_all[test_rows],
        "X_train": (X_train_cm - low) / (high - low),
        "X_test": (X_test_cm - low) / (high - low),
        "test_rows": test_rows,
        "X_all": X_all,
    }


def make_net(seed, hidden_bias=0.5):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3))
    if hidden_bias is not None:
        torch.nn.init.constant_(net[0].bias, hidden_bias)
    return net


def train(net, X, y, num_epochs=100):
    data = torch.utils.data.TensorDataset(X, y)
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(num_epochs):
        total = 0.0
        for X_batch, y_batch in loader:
            loss = F.cross_entropy(net(X_batch), y_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y_batch)
        losses.append(total / len(data))
    return losses


def dead_nodes(net, X):
    with torch.no_grad():
        return int((net[0](X) <= 0).all(dim=0).sum())


def accuracy_of(net, X, y):
    with torch.no_grad():
        return (net(X).argmax(dim=1) == y).float().mean().item()


@pytest.fixture(scope="module")
def iris():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the notebook does on the CPU: tiny tensors train faster on one thread
    try:
        with torch.random.fork_rng():
            yield iris_pipeline()
    finally:
        torch.set_num_threads(threads)


def test_the_pipeline_copy_reproduces_the_notebook(iris):
    assert iris["test_rows"][:10].tolist() == [6, 7, 10, 17, 21, 22, 29, 31, 33, 37]  # as the notebook prints
    with torch.random.fork_rng():
        net = make_net(0)
        train(net, iris["X_train"], iris["y_train"])
        assert round(accuracy_of(net, iris["X_test"], iris["y_test"]) * 36) == 35  # 35 of 36, as stored


def test_discussion_1_training_on_centimetres(iris):
    X_cm, y = iris["X_train_cm"], iris["y_train"]
    with torch.random.fork_rng():
        dead_cm = [dead_nodes(make_net(seed), X_cm) for seed in range(20)]
        dead_normalised = [dead_nodes(make_net(seed), iris["X_train"]) for seed in range(20)]
        assert sum(dead_cm) == 9 and sum(dead_normalised) == 0
        accuracies, dead_after = [], []
        for seed in range(20):
            net = make_net(seed)
            train(net, X_cm, y)
            accuracies.append(round(accuracy_of(net, iris["X_test_cm"], iris["y_test"]) * 36))
            dead_after.append(dead_nodes(net, X_cm))
    assert sum(a == 35 for a in accuracies) == 18
    failed = [seed for seed, a in enumerate(accuracies) if a != 35]
    assert failed == [3, 13] and all(accuracies[s] == 12 for s in failed)  # one species for all: 12 of 36
    assert all(dead_after[s] == 2 for s in failed) and dead_cm[3] == 2 and dead_cm[13] == 1
    text = ch03.discuss.text(1)
    assert "9 of the 40" in text and "18 of the 20" in text and "Seeds 3 and 13" in text


def test_discussion_2_all_zero_start(iris):
    with torch.random.fork_rng():
        net = make_net(0)
        for parameter in net.parameters():
            torch.nn.init.zeros_(parameter)
        losses = train(net, iris["X_train"], iris["y_train"])
    assert not net[0].weight.any() and not net[0].bias.any() and not net[2].weight.any()  # never moved
    assert net[2].bias.any() and net[2].bias.abs().max() < 0.1  # the output biases wobble, a few hundredths
    with torch.no_grad():
        assert len(set(net(iris["X_train"]).argmax(dim=1).tolist())) == 1
    assert accuracy_of(net, iris["X_test"], iris["y_test"]) == pytest.approx(1 / 3)
    ln3 = torch.tensor(3.0).log().item()
    assert all(abs(loss - ln3) < 0.01 for loss in losses)
    assert "ln 3 = 1.0986" in ch03.discuss.text(2)
