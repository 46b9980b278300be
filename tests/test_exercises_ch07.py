"""Notebook 07's exercise checks: they pass on right answers and fail, with the right sentence, on wrong ones.

The references themselves are checked against PyTorch: q3's rule against DistributedSampler, q2's mean
against the gradient of one process on the whole batch.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from tensorlab.checking import NOT_ATTEMPTED
from tensorlab.exercises import ch07


def right_rank_indices(order, rank, world_size):
    usable = (len(order) // world_size) * world_size
    return order[:usable][rank::world_size]


@pytest.mark.parametrize("exercise, right, wrong, words", [
    (ch07.q1, 32, 128, "is 128, which is not right"),
    (ch07.q1, 32, 64, "is 64, which is not right"),
    (ch07.q2, lambda g: g.mean(dim=0), lambda g: g.sum(dim=0), "element(s) differ"),
    (ch07.q2, lambda g: g.mean(dim=0), lambda g: g.mean(dim=1), "should have shape (3,), but it has shape (2,)"),
    (ch07.q2, lambda g: g.mean(dim=0), lambda g: g[0], "element(s) differ"),
    (ch07.q3, right_rank_indices, lambda o, r, w: o[r::w], "should have shape (2,), but it has shape (3,)"),
    (ch07.q3, right_rank_indices, lambda o, r, w: o[r * len(o) // w:(r + 1) * len(o) // w], "element(s) differ"),
    (ch07.q3, right_rank_indices, lambda o, r, w: o[r::w].tolist(), "should be a torch.Tensor"),
    (ch07.q4, "nccl", "gloo", "'gloo' is not the right choice"),
    (ch07.q4, "NCCL", "cuda", "not one of the choices"),
    (ch07.q5, "LOCAL_RANK", "RANK", "'RANK' is not the right choice"),
    (ch07.q6, 100_000_000, 25_000_000, "is 25000000, which is not right"),
    (ch07.q6, 100_000_000, 200_000_000, "is 200000000, which is not right"),
])
def test_ch07_checks(exercise, right, wrong, words):
    assert exercise.evaluate(right).passed
    result = exercise.evaluate(wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_ch07_placeholders_are_not_attempted():
    for exercise in (ch07.q1, ch07.q2, ch07.q3, ch07.q4, ch07.q5, ch07.q6):
        assert exercise.evaluate(...).status == NOT_ATTEMPTED


@pytest.mark.parametrize("count, world_size", [(10, 2), (90, 2), (11, 4), (12, 3)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_q3_reference_is_what_distributed_sampler_does(count, world_size, shuffle):
    seed, epoch = 5, 3
    # DistributedSampler shuffles with torch.randperm(count, generator seeded with seed + epoch).
    order = (torch.randperm(count, generator=torch.Generator().manual_seed(seed + epoch)) if shuffle
             else torch.arange(count))  # (count,)
    for rank in range(world_size):
        sampler = DistributedSampler(range(count), num_replicas=world_size, rank=rank, shuffle=shuffle,
                                     seed=seed, drop_last=True)
        sampler.set_epoch(epoch)
        assert list(sampler) == ch07.reference_rank_indices(order, rank, world_size).tolist()


def test_q2_reference_averaged_local_gradients_equal_the_global_batch_gradient():
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(3, 2, dtype=torch.float64, generator=generator, requires_grad=True)  # (3, 2)
    X = torch.randn(8, 3, dtype=torch.float64, generator=generator)                      # (8, 3)
    y = torch.randint(0, 2, (8,), generator=generator)                                   # (8,)
    global_grad, = torch.autograd.grad(F.cross_entropy(X @ w, y), w)                     # (3, 2)
    local = torch.stack([torch.autograd.grad(F.cross_entropy(X[part] @ w, y[part]), w)[0].flatten()
                         for part in (slice(0, 4), slice(4, 8))])                        # (2, 6)
    torch.testing.assert_close(ch07.reference_average_gradients(local), global_grad.flatten(),
                               rtol=0, atol=1e-15)
