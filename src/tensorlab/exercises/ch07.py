"""Exercises of notebook 07, "Beyond one device: data-parallel training with torch.distributed"."""

from __future__ import annotations

import torch

from tensorlab.checking import ChoiceExercise, FunctionExercise, ValueExercise
from tensorlab.exercises import name_exercises

q1 = ValueExercise(
    "the per-process batch size",
    expected=256 // (2 * 4),
    hints=("One process per GPU: how many processes are there on 2 machines with 4 GPUs each?",
           "The global batch is shared equally by all 8 processes: 256 // 8."),
)


def reference_average_gradients(local_grads: torch.Tensor) -> torch.Tensor:
    """What DDP leaves in every process: the mean of the k local gradients, (k, P) -> (P,)."""
    return local_grads.mean(dim=0)  # (P,)


def _gradient_cases() -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)
    return [
        (torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -0.5]]),),                     # (k=2, P=3)
        (torch.randn(4, 6, generator=generator, dtype=torch.float64),),              # (k=4, P=6)
        (torch.randn(1, 5, generator=generator),),                                   # (k=1, P=5)
    ]


q2 = FunctionExercise(
    "what the all-reduce of DDP computes",
    reference=reference_average_gradients, cases=_gradient_cases,
    hints=("Row r of local_grads is the gradient process r computed on its own slice; every process "
           "ends up with one (P,) vector, the same in all of them.",
           "all_reduce sums over the processes and DDP divides by their number: the mean over dimension 0, "
           "local_grads.mean(dim=0)."),
)


def reference_rank_indices(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """The indices ``DistributedSampler(..., drop_last=True)`` gives ``rank``, from the shuffled ``order``."""
    usable = (order.numel() // world_size) * world_size  # drop the tail that does not split evenly
    return order[:usable][rank::world_size]               # (usable // world_size,)


def _order_cases() -> list[tuple[torch.Tensor, int, int]]:
    generator = torch.Generator().manual_seed(3)
    return [
        (torch.arange(10), 1, 2),
        (torch.randperm(12, generator=generator), 0, 3),
        (torch.randperm(12, generator=generator), 2, 3),
        (torch.randperm(11, generator=generator), 1, 4),  # 11 does not split in 4: the last 3 are dropped
    ]


q3 = FunctionExercise(
    "the slice DistributedSampler gives one rank",
    reference=reference_rank_indices, cases=_order_cases,
    hints=("Every process shuffles the same way, then takes every world_size-th index, starting at its rank.",
           "First cut the order to a multiple of world_size (drop_last=True), then slice: "
           "order[:usable][rank::world_size] with usable = (len // world_size) * world_size."),
)

q4 = ChoiceExercise(
    "the backend for NVIDIA GPUs",
    choices=("gloo", "nccl", "mpi"), expected="nccl",
    hints=("One backend runs on CPUs everywhere; another is NVIDIA's own library for moving data between GPUs.",
           "NCCL (the NVIDIA Collective Communications Library) moves gradients from GPU memory to GPU memory."),
)

q5 = ChoiceExercise(
    "which GPU a process takes",
    choices=("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT"), expected="LOCAL_RANK",
    hints=("On the second of two 4-GPU machines the ranks are 4 to 7, but the GPUs there are numbered 0 to 3.",
           "LOCAL_RANK is the process's number on its own machine: torch.cuda.set_device(int(os.environ['LOCAL_RANK']))."),
)

q6 = ValueExercise(
    "bytes of gradient per step",
    expected=25_000_000 * 4,
    hints=("DDP all-reduces one gradient value per parameter, in the parameters' dtype.",
           "float32 takes 4 bytes: 25,000,000 x 4."),
)

name_exercises(globals())  # q1 = ... is named "q1": each name is written once
