"""Notebook 07's exercise checks: they pass on right answers and fail, with the right sentence, on wrong ones.

The references themselves are checked against PyTorch: q2's rule against DistributedSampler(drop_last=False),
q1's weighted mean against the gradient of one process on the whole batch.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.exercises import ch07, exercises_of


def combine_gradients(local_grads, counts):
    return (counts[:, None] * local_grads).sum(dim=0) / counts.sum()


def combine_in_float32(local_grads, counts):  # the question fixes no dtype: float32 arithmetic is right too
    return (counts.float()[:, None] * local_grads.float()).sum(dim=0) / counts.sum()


def rank_indices(order, rank, world_size):
    per_rank = math.ceil(len(order) / world_size)
    copies = math.ceil(per_rank * world_size / len(order))
    return order.repeat(copies)[: per_rank * world_size][rank::world_size]


def rank_indices_by_sampler(order, rank, world_size):  # another right way: ask the sampler, map its indices
    sampler = DistributedSampler(range(len(order)), num_replicas=world_size, rank=rank, shuffle=False, drop_last=False)
    return order[list(sampler)]


def pad_with_order_once(order, rank, world_size):  # right unless the order must grow by more than itself
    padding = math.ceil(len(order) / world_size) * world_size - len(order)
    return torch.cat([order, order[:padding]])[rank::world_size]


def pad_with_zeros(order, rank, world_size):
    padding = math.ceil(len(order) / world_size) * world_size - len(order)
    return torch.cat([order, torch.zeros(padding, dtype=order.dtype)])[rank::world_size]


def pad_with_the_last(order, rank, world_size):
    padding = math.ceil(len(order) / world_size) * world_size - len(order)
    return torch.cat([order, order[len(order) - padding :]])[rank::world_size]


MS = (0.5e-3 + 25_000_000 * 4 / 10e9) * 1e3


@pytest.mark.parametrize(
    "exercise, right, wrong, words",
    [
        (
            ch07.q1,
            combine_gradients,
            lambda g, c: g.mean(dim=0),
            "tensor([3, 7])) has the right shape and dtype, but 3 of 3",
        ),
        (
            ch07.q1,
            combine_in_float32,
            lambda g, c: (c[:, None] * g).sum(dim=0) / len(c),
            "at index [0] expected 2, got 10",
        ),
        (ch07.q1, combine_gradients, lambda g, c: (c[:, None] * g).sum(dim=0), "at index [0] expected 2, got 20"),
        (
            ch07.q1,
            combine_gradients,
            lambda g, c: (c[:, None] * g).mean(dim=1),
            "should have shape (3,), but it has shape (2,)",
        ),
        (ch07.q2, rank_indices, lambda o, r, w: o[r::w], "should have shape (3,), but it has shape (2,)"),  # no padding
        (ch07.q2, rank_indices_by_sampler, pad_with_zeros, "at index [2] expected 2, got 0"),
        (ch07.q2, rank_indices, pad_with_the_last, "at index [2] expected 2, got 5"),
        (
            ch07.q2,
            rank_indices,
            pad_with_order_once,
            "(tensor([2, 0]), 4, 5) should have shape (1,), but it has shape (0,)",
        ),
        (ch07.q2, rank_indices, lambda o, r, w: o[r::w].tolist(), "should be a torch.Tensor"),
        (ch07.q3, 16, 128, "is 128, which is not right"),  # divided by the machines only
        (ch07.q3, 16, 48, "is 48, which is not right"),  # divided by the GPUs of one machine only
        (ch07.q4, "nccl", "gloo", "'gloo' is not the right choice"),
        (ch07.q4, "NCCL", "cuda", "not one of the choices"),
        (ch07.q5, "LOCAL_RANK", "RANK", "'RANK' is not the right choice"),
        (ch07.q6, 100_000_000, 25_000_000, "is 25000000, which is not right"),
        (ch07.q6, 100_000_000, 200_000_000, "is 200000000, which is not right"),
        (ch07.q7, MS, 10.0, "is 10, which is off by 0.5"),  # forgot the latency
        (ch07.q7, MS, (0.5e-3 + 25_000_000 / 10e9) * 1e3, "is 3, which is off by 7.5"),  # values, not bytes
        (ch07.q7, MS, MS / 1e3, "off by"),  # seconds, not milliseconds
    ],
)
def test_ch07_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_ch07_placeholders_are_not_attempted():
    for name, exercise in exercises_of(ch07).items():
        assert exercise.evaluate(...).status == NOT_ATTEMPTED, name


def test_ch07_has_seven_exercises_in_order():
    assert list(exercises_of(ch07)) == [f"q{i}" for i in range(1, 8)]


def test_q1_cases_tell_a_plain_mean_from_a_weighted_one_and_include_equal_slices():
    counts = [case[1].tolist() for case in ch07._combine_cases()]
    assert [5, 5] in counts and any(len(set(c)) > 1 for c in counts)


@pytest.mark.parametrize("count, world_size", [(10, 2), (10, 4), (11, 3), (12, 3), (2, 5), (3, 7), (377, 2), (1, 4)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_q2_reference_is_what_distributed_sampler_does_without_drop_last(count, world_size, shuffle):
    seed, epoch = 5, 3
    # DistributedSampler shuffles with torch.randperm(count, generator seeded with seed + epoch).
    order = (
        torch.randperm(count, generator=torch.Generator().manual_seed(seed + epoch)) if shuffle else torch.arange(count)
    )  # (count,)
    for rank in range(world_size):
        sampler = DistributedSampler(
            range(count), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
        )
        sampler.set_epoch(epoch)
        assert list(sampler) == ch07.reference_rank_indices_padded(order, rank, world_size).tolist()


def test_q1_reference_weighted_slice_gradients_equal_the_global_batch_gradient():
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(3, 2, dtype=torch.float64, generator=generator, requires_grad=True)  # (3, 2)
    X = torch.randn(10, 3, dtype=torch.float64, generator=generator)  # (10, 3)
    y = torch.randint(0, 2, (10,), generator=generator)  # (10,)
    (global_grad,) = torch.autograd.grad(F.cross_entropy(X @ w, y), w)  # (3, 2)
    slices = (slice(0, 3), slice(3, 10))  # 3 and 7 samples
    local = torch.stack(
        [torch.autograd.grad(F.cross_entropy(X[part] @ w, y[part]), w)[0].flatten() for part in slices]
    )  # (2, 6)
    combined = ch07.reference_combine_gradients(local, torch.tensor([3, 7]))
    torch.testing.assert_close(combined, global_grad.flatten(), rtol=0, atol=1e-15)
    assert not torch.allclose(local.mean(dim=0), global_grad.flatten())  # the plain mean is not it
