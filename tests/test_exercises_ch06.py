"""Notebook 06's exercise checks: each passes right answers and fails known-wrong ones, in one sentence.

Right answers include every answer the question's words allow (the exact FLOP count as well as 2mkn, a
copy of the model run on the device, a choice given as 3 or "3"); wrong ones include answers that only
look right on easy inputs (a square X, a bias that the ReLU hides, equal batches).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.exercises import ch06, exercises_of

# ---- q1: a layer without a loop --------------------------------------------------------------


def relu_layer(X, w, b):
    return torch.relu(X @ w + b)


def relu_layer_loop(X_rows, w, b):  # the notebook's loop
    outputs = []
    for row in X_rows:
        total = b
        for x_j, w_j in zip(row, w):
            total += x_j * w_j
        outputs.append(max(total, 0.0))
    return outputs


def test_q1_reference_is_the_notebooks_loop():
    for X, w, b in ch06._layer_cases():
        torch.testing.assert_close(
            ch06.reference_relu_layer(X, w, b), torch.tensor(relu_layer_loop(X.tolist(), w.tolist(), b))
        )


# ---- q8: a model on a device ----------------------------------------------------------------


def predict_on(net, X, device):
    net.to(device)
    return net(X.to(device))


def a_copy_on_the_device(net, X, device):  # leaves the caller's model where it was: still right
    return copy.deepcopy(net).to(device)(X.to(device))


def functional_on_the_device(net, X, device):  # the same arithmetic, written out: right too
    X = X.to(device)
    return X @ net.weight.to(device).T + net.bias.to(device)


def only_the_data(net, X, device):
    return net(X.to(device))


def only_the_result(net, X, device):  # computed on the CPU, then moved: looks right while X is on the CPU
    return net(X).to(device)


def on_the_cpu_explicitly(net, X, device):
    return net.cpu()(X.cpu()).to(device)


def only_the_model(net, X, device):
    return net.to(device)(X)


def back_to_the_cpu(net, X, device):
    return net.to(device)(X.to(device)).cpu()


def forgot_return(net, X, device):
    net.to(device)(X.to(device))


def transposed(net, X, device):
    return net.to(device)(X.to(device)).T


def doubled(net, X, device):
    return 2 * net.to(device)(X.to(device))


def not_yet(net, X, device):
    raise NotImplementedError("your code here")  # what the student notebook's placeholder does


BATCH_BYTES = 64 * 3 * 224 * 224 * 4
SPEEDUP = 378 * (150 + 2) / (12 * 150 + 378 * 2)


@pytest.mark.parametrize(
    "exercise, right, wrong, words",
    [
        (ch06.q1, relu_layer, lambda X, w, b: X @ w + b, "at index [0] expected 0.0, got -1.75"),  # no ReLU
        (ch06.q1, relu_layer, lambda X, w, b: torch.relu(X @ w) + b, "at index [0] expected 0.0, got 0.25"),
        (ch06.q1, relu_layer, lambda X, w, b: torch.relu(X.T @ w + b), "raised RuntimeError"),  # X is (5, 3)
        (
            ch06.q1,
            relu_layer,
            lambda X, w, b: torch.relu(X @ w[:, None] + b),
            "should have shape (5,), but it has shape (5, 1)",
        ),
        (
            ch06.q1,
            relu_layer,
            lambda X, w, b: torch.relu((X * w).sum(dim=0) + b),
            "should have shape (5,), but it has shape (3,)",
        ),
        (ch06.q2, lambda m, k, n: 2 * m * k * n, lambda m, k, n: m * k * n, "(2, 3, 4) gave 24, but 48 was expected"),
        (ch06.q2, lambda m, k, n: 2 * m * k * n, lambda m, k, n: 2 * m * n, "(2, 3, 4) gave 16, but 48 was expected"),
        (
            ch06.q2,
            lambda m, k, n: m * n * (2 * k - 1),
            lambda m, k, n: 2 * m * k * n + m * n,
            "gave 56, but 48 was expected",
        ),
        (ch06.q2, lambda m, k, n: 2 * m * k * n, lambda m, k, n: None, "returned None"),
        (ch06.q3, 2 * 1024**3 / 0.020 / 1e9, 1024**3 / 0.020 / 1e9, "is 53.69, which is off by 53.69"),
        (ch06.q3, 1024**2 * (2 * 1024 - 1) / 0.020 / 1e9, 2 * 1024**3 / 0.020, "off by"),
        (ch06.q3, 2 * 1024**3 / 0.020 / 1e9, "107", "should be a number"),
        (ch06.q4, SPEEDUP, 378 * 152 / (378 / 32 * 150 + 378 * 2), "is 22.73, which is off by"),  # 11.8 calls
        (ch06.q4, SPEEDUP, 378 * 152 / (11 * 150 + 378 * 2), "off by"),  # forgot the last, smaller batch
        (ch06.q4, SPEEDUP, 378 / 12, "is 31.5, which is off by"),  # forgot the work per image
        (ch06.q5, 3, 1, "'1' is not the right choice"),
        (ch06.q5, "3", 2, "'2' is not the right choice"),
        (ch06.q5, 3, "c", "not one of the choices ['1', '2', '3']"),
        (ch06.q5, 3, True, "should be one of the numbers 1, 2, 3, but it is a bool"),
        (ch06.q6, BATCH_BYTES, BATCH_BYTES // 4, "is 9633792, which is not right"),
        (ch06.q6, BATCH_BYTES, BATCH_BYTES * 8, "which is not right"),
        (ch06.q7, BATCH_BYTES / 25e9 * 1e3, BATCH_BYTES / 25e9, "is 0.001541, which is off by 1.54"),
        (ch06.q7, BATCH_BYTES / 25e9 * 1e3, BATCH_BYTES / 25 * 1e3, "off by"),
        (
            ch06.q8,
            predict_on,
            only_the_data,
            "RuntimeError: Tensor on device cpu is not on the expected device "
            "meta (are the model and the data on the same device?)",
        ),
        (ch06.q8, a_copy_on_the_device, only_the_result, "with X already on 'meta' raised RuntimeError"),
        (ch06.q8, functional_on_the_device, only_the_result, "seems to compute on the CPU and move only the result"),
        (ch06.q8, predict_on, on_the_cpu_explicitly, "tried to copy data from the device to the CPU"),
        (ch06.q8, predict_on, only_the_model, "are the model and the data on the same device?"),
        (ch06.q8, predict_on, back_to_the_cpu, "tried to copy data from the device to the CPU"),
        (ch06.q8, predict_on, forgot_return, "returned None; did you forget the return statement?"),
        (ch06.q8, predict_on, transposed, "should have shape (5, 3), but it has shape (3, 5)"),
        (ch06.q8, predict_on, doubled, "15 of 15 element(s) differ"),
        (ch06.q8, predict_on, 42, "should be a function"),
    ],
)
def test_ch06_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_q2_takes_either_convention_but_not_a_mixture():
    exact_small_k = lambda m, k, n: m * n * (2 * k - 1) if k < 100 else 2 * m * k * n  # noqa: E731
    assert ch06.q2.evaluate(lambda m, k, n: m * n * (2 * k - 1)).passed
    assert not ch06.q2.evaluate(exact_small_k).passed


def test_q4_expected_value_is_the_fixed_cost_model():
    calls = math.ceil(378 / 32)
    assert calls == 12 and math.isclose(ch06.q4.expected, 378 * 152 / (calls * 150 + 378 * 2))


def test_ch06_placeholders_and_a_stub_function_are_not_attempted():
    for name, exercise in exercises_of(ch06).items():
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name
        assert exercise.hints, name
    assert ch06.q8.evaluate(not_yet).status == NOT_ATTEMPTED
    assert ch06.q1.evaluate(lambda X, w, b: (_ for _ in ()).throw(NotImplementedError())).status == NOT_ATTEMPTED


def test_ch06_has_eight_exercises_in_order():
    assert list(exercises_of(ch06)) == [f"q{i}" for i in range(1, 9)]


def test_q8_does_not_change_the_cases_it_is_given():
    # Each case is deep-copied before the answer runs, so an answer that moves the model in place
    # cannot spoil the reference or the next case.
    first = ch06._linear_cases()
    ch06.q8.evaluate(predict_on)
    again = ch06._linear_cases()
    for (net_a, X_a, dev_a, at_a), (net_b, X_b, dev_b, at_b) in zip(first, again):
        assert (dev_a, at_a) == (dev_b, at_b) and X_a.device == X_b.device
        if X_a.device.type == "cpu":
            assert torch.equal(X_a, X_b)
        assert all(torch.equal(p, q) for p, q in zip(net_a.parameters(), net_b.parameters()))


def test_q8_cases_start_the_data_on_the_cpu_and_on_the_device():
    assert [(device, X.device.type) for _, X, device, _ in ch06._linear_cases()] == [
        ("cpu", "cpu"),
        ("meta", "cpu"),
        ("meta", "meta"),
    ]


def test_the_one_at_a_time_epoch_equals_the_batched_epoch():
    # The claim of notebook 06, section 3, on a small network: accumulating each sample's share of the
    # mean loss gives the batch's gradient, so both epochs end with the same parameters.
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(10, 3, dtype=torch.float64, generator=generator)  # (10, 3)
    y = torch.randint(0, 2, (10,), generator=generator)  # (10,)
    nets = [torch.nn.Linear(3, 2).double() for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    for index, net in enumerate(nets):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
        for start in range(0, 10, 4):  # batches of 4, 4 and 2
            optimizer.zero_grad()
            if index == 0:
                count = len(X[start : start + 4])
                for i in range(start, start + count):
                    (F.cross_entropy(net(X[i : i + 1]), y[i : i + 1]) / count).backward()
            else:
                F.cross_entropy(net(X[start : start + 4]), y[start : start + 4]).backward()
            optimizer.step()
    for p, q in zip(*(net.parameters() for net in nets)):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-14)
