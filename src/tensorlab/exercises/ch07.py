"""Exercises of notebook 07, "Beyond one device: data-parallel training with torch.distributed".

In notebook order: q1 after "Why averaging the gradients is exact", q2 after the DistributedSampler,
q3-q5 after "Scaling out", q6-q7 after "Where the time goes".
"""

from __future__ import annotations

import math

import torch

from tensorlab.checking import ChoiceExercise, FunctionExercise, NumberExercise, ValueExercise
from tensorlab.exercises import name_exercises

# ---- q1: the whole batch's gradient from slices of different sizes ----------------------------


def reference_combine_gradients(local_grads: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The gradient of the mean loss over all samples, from each slice's mean-loss gradient.

    ``local_grads`` (k, P): row r is the gradient of the mean loss over slice r; ``counts`` (k,): how
    many samples each slice had. Each slice counts in proportion to its samples.
    """
    weights = counts.to(local_grads.dtype) / counts.sum()  # (k,)
    return weights @ local_grads  # (P,)


def _combine_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(71)
    return [
        (torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -0.5]]), torch.tensor([5, 5])),  # equal slices
        (torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -0.5]]), torch.tensor([3, 7])),  # 3 and 7
        (torch.randn(3, 6, generator=generator), torch.tensor([2, 9, 4])),  # three ranks
        (torch.randn(4, 5, generator=generator, dtype=torch.float64), torch.tensor([1, 1, 1, 5])),
        (torch.randn(1, 4, generator=generator), torch.tensor([6])),  # one process
    ]


q1 = FunctionExercise(
    "the whole batch's gradient from unequal slices",
    reference=reference_combine_gradients,
    cases=_combine_cases,
    compare_options={"check_dtype": False, "atol": 1e-6, "rtol": 1e-5},
    hints=(
        "The whole batch's loss is the mean over all its samples; slice r's gradient is the mean over "
        "its counts[r] samples. How much does each slice weigh in the whole?",
        "Weigh each row by its share of the samples: (counts[:, None] * local_grads).sum(dim=0) / "
        "counts.sum(). With equal counts this is the plain mean, which is why DDP can average.",
    ),
    takeaway=(
        "The gradient of a mean loss weighs every sample equally: slices of equal size let DDP "
        "simply average, unequal ones must be weighed by their size."
    ),
)

# ---- q2: DistributedSampler without drop_last --------------------------------------------------


def reference_rank_indices_padded(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """The indices ``DistributedSampler(..., drop_last=False)`` gives ``rank``, from the shuffled ``order``.

    The order is padded with its own first indices (repeated, if it must be longer than itself) up to
    a multiple of ``world_size``; rank r then takes every world_size-th index starting at r.
    """
    per_rank = math.ceil(order.numel() / world_size)
    padding = per_rank * world_size - order.numel()
    repeats = math.ceil(padding / order.numel()) if padding else 0
    padded = torch.cat([order] + [order] * repeats)[: per_rank * world_size]  # (per_rank * world_size,)
    return padded[rank::world_size]  # (per_rank,)


def _order_cases() -> list[tuple[torch.Tensor, int, int]]:
    return [
        (torch.tensor([7, 2, 9, 0, 4, 8, 1, 6, 3, 5]), 3, 4),  # 10 in 4: 7 and 2 repeated, rank 3 gets the 2
        (torch.tensor([4, 10, 0, 7, 3, 9, 1, 6, 2, 8, 5]), 2, 3),  # 11 in 3: one repeated
        (torch.tensor([5, 0, 3, 1, 4, 2]), 0, 3),  # 6 in 3: nothing to pad
        (torch.tensor([2, 0]), 4, 5),  # 2 in 5: the order repeats more than once
    ]


q2 = FunctionExercise(
    "the slice DistributedSampler gives one rank, without drop_last",
    reference=reference_rank_indices_padded,
    cases=_order_cases,
    hints=(
        "Without drop_last nothing is dropped: the order is made longer, with its own first indices, until "
        "it splits evenly; then rank r takes every world_size-th index, starting at r.",
        "per_rank = math.ceil(len(order) / world_size); pad order with order[:padding] (repeat order if "
        "padding is longer than it), then padded[rank::world_size].",
    ),
    takeaway=(
        "Without drop_last the sampler repeats a few samples from the start so every rank gets the "
        "same count; equal slices keep the average exact."
    ),
)

# ---- q3-q5: several GPUs, several machines -----------------------------------------------------

q3 = ValueExercise(
    "the per-process batch size",
    expected=384 // (3 * 8),
    hints=(
        "One process per GPU: how many processes are there on 3 machines with 8 GPUs each?",
        "The global batch is shared equally by all 24 processes: 384 // 24.",
    ),
    takeaway="Data parallelism splits the global batch evenly: one share per process, one process per GPU.",
)

q4 = ChoiceExercise(
    "the backend for NVIDIA GPUs",
    choices=("gloo", "nccl", "mpi"),
    expected="nccl",
    hints=(
        "One backend runs on CPUs everywhere; another is NVIDIA's own library for moving data between GPUs.",
        "NCCL (the NVIDIA Collective Communications Library) moves gradients from GPU memory to GPU memory.",
    ),
    takeaway="NCCL moves tensors between NVIDIA GPUs; gloo is the backend for CPUs.",
)

q5 = ChoiceExercise(
    "which GPU a process takes",
    choices=("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT"),
    expected="LOCAL_RANK",
    hints=(
        "On the second of two 4-GPU machines the ranks are 4 to 7, but the GPUs there are numbered 0 to 3.",
        "LOCAL_RANK is the process's number on its own machine: torch.cuda.set_device(int(os.environ['LOCAL_RANK'])).",
    ),
    takeaway=(
        "LOCAL_RANK numbers the processes on one machine, so it picks the GPU; RANK numbers them "
        "across all machines."
    ),
)

# ---- q6-q7: communication ----------------------------------------------------------------------

q6 = ValueExercise(
    "bytes of gradient per step",
    expected=25_000_000 * 4,
    hints=(
        "DDP all-reduces one gradient value per parameter, in the parameters' dtype.",
        "float32 takes 4 bytes: 25,000,000 x 4.",
    ),
    takeaway=(
        "Every step DDP all-reduces one gradient value per parameter, so communication grows with "
        "the model, not with the batch."
    ),
)

q7 = NumberExercise(
    "an all-reduce's time from latency and bandwidth",
    expected=(0.5e-3 + 25_000_000 * 4 / 10e9) * 1e3,  # 0.5 ms + 10 ms
    rtol=1e-3,
    hints=(
        "time = latency + bytes / bandwidth, with the bytes of exercise 6 and 10 GB/s = 10e9 bytes per second.",
        "0.5e-3 + 100_000_000 / 10e9 seconds; times 1000 for milliseconds (a little over 10).",
    ),
    takeaway=(
        "Large messages cost bytes / bandwidth, small ones the latency: a 100 MB gradient is "
        "bandwidth-bound, which is why fast links matter."
    ),
)


# ---- open-ended questions: ex.discuss(N) prints question N's discussion; nothing is checked ------------
# (docs/AUTHORING.md, "Open-ended questions"). Imported here, apart from the imports above, so that this
# block grows on its own.
from tensorlab.checking import Discussion, Discussions  # noqa: E402

discuss = Discussions(
    Discussion(
        "What would change if every process used the sum of the losses of its slice instead of their mean?",
        "Nothing would fail, and the copies would still stay identical: DDP still averages whatever "
        "gradients the processes compute, and every process takes the same step. But the step is no longer "
        "the one a single process would take.\n\n"
        "With the sum, process r's gradient is the sum of its samples' gradients, and DDP's average of the k "
        "slices is (the sum over the whole global batch) / k. A single process using the sum over the same "
        "global batch would get the whole sum, k times more; a single process using the mean would get the "
        "sum / (k B), where B is the local batch. So DDP with summed losses equals one process with the mean "
        "loss and a learning rate B times larger (5 times, in this notebook), or one process with the summed "
        "loss and a learning rate k times smaller, with plain SGD as the script uses (Adam, which scales "
        "each step by the size of recent gradients, would hardly notice the factor). "
        "You can check it with the gradient function above, on the "
        "10 images: F.cross_entropy(..., reduction='sum') on each half of 5, averaged, equals the summed "
        "gradient of all 10 divided by 2, and 5 times the mean gradient of all 10.\n\n"
        "Training with it is not wrong, just different: with SGD the effective learning rate now grows with "
        "the local batch, so changing the batch size or the number of processes changes the training. That is one "
        "reason the mean is the usual choice: then the average over equal slices is exactly the gradient of "
        "the whole batch, whatever the number of processes.",
    ),
    Discussion(
        "What happens if one process forgets to call sampler.set_epoch(epoch)?",
        "Nothing fails, and nothing warns you: DDP only averages gradients and cannot see which samples they "
        "came from. But from the second epoch on, the processes no longer share out the data.\n\n"
        "Each sampler shuffles with seed + epoch. The process that forgets keeps the shuffle of epoch 0 in "
        "every epoch, while the others shuffle anew, so the slices are no longer cut from the same order. "
        "With this notebook's 378 images, 2 processes and rank 1 forgetting, epoch 1 sends 88 images to both "
        "processes and 88 images to neither, and epoch 2 sends 93 to both and 93 to neither (try it with two "
        "DistributedSamplers as in the cell above: set_epoch on one, not on the other). Training still "
        "converges, but each epoch sees some images twice and others not at all, and the run no longer "
        "equals one process on the same batches.\n\n"
        "If no process calls set_epoch, the slices stay disjoint (everyone uses the shuffle of epoch 0), but "
        "every epoch repeats the same batches in the same order, which usually trains a little worse. Call "
        "sampler.set_epoch(epoch) in every process at the start of every epoch, as scripts/train_ddp.py "
        "does.",
    ),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
