"""Train the X/O network with DistributedDataParallel and check it against one process (notebook 07).

Run it on this machine's CPU in two processes (gloo backend)::

    python -m torch.distributed.run --standalone --nproc_per_node=2 scripts/train_ddp.py --out results.json

``torchrun`` starts the processes and gives each its RANK, LOCAL_RANK and WORLD_SIZE in the environment;
``--standalone`` lets it pick a free port for them to meet on. Each process holds a full copy of the
network and, through a ``DistributedSampler``, its own slice of every global batch. After ``backward()``
DDP averages the gradients over the processes (an all-reduce), so every copy takes the same step.

When every process has finished communicating, they all leave the process group together (a barrier, then
``destroy_process_group()``); rank 0 then trains the one-process reference and writes the report.

What the script writes (JSON, to ``--out``; rank 0 writes it) lets notebook 07 and tests/test_ddp.py check:

- ``all_reduce_demo``: what ``dist.all_reduce`` turns each process's tensor into;
- ``init``: rank 1 builds its copy from another seed, and DDP copies rank 0's weights to every process;
- ``indices``: the sample indices each rank saw at each step (disjoint slices of the data);
- ``first_step``: each rank's own gradient, DDP's averaged gradient and the gradient of one process on the
  whole global batch;
- ``param_max_diff``: after every step, the largest difference between the DDP network and a network trained
  in one process on the same global batches with the mean loss (float64, so only rounding separates them);
- ``timing`` (with ``--timing``): all-reduce of growing tensors against the compute of one training step.

On GPUs the same script runs with ``--device cuda`` (nccl backend, one process per GPU, each process on GPU
number LOCAL_RANK); that path was not run where the course was built (no GPU) -- see notebook 07.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

# Imported before init_process_group() on purpose. When torch.distributed.nn is first imported, its
# functions take the default process group as a default argument (``group=group.WORLD``). DDP imports it;
# had that happened after init_process_group(), those default arguments would hold on to the group, and
# destroy_process_group() could not free it: gloo's threads and connections would live on until the
# interpreter exits and tear down then, in no controlled order. That is how a rank used to die at the very
# end with "terminate called without an active exception" (SIGABRT), now and then, on a busy machine.
import torch.distributed.nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from tensorlab.data.xo import make_xo_dataset
from tensorlab.xo_net import XONet, accuracy

DTYPE = torch.float64  # so that the one-process reference agrees to rounding (about 1e-16), not 1e-7


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where rank 0 writes the results (JSON)")
    parser.add_argument("--global-batch", type=int, default=10, help="samples per step, all processes together")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.3, help="SGD learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu: gloo backend; cuda: nccl backend, one GPU per process (GPU LOCAL_RANK)",
    )
    parser.add_argument("--timing", action="store_true", help="also time all-reduce against compute")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds a collective may wait for the other processes before it fails",
    )
    return parser.parse_args()


def set_up(device_kind: str, timeout: float) -> tuple[int, int, torch.device]:
    """Join the process group; return (rank, world size, this process's device).

    torchrun has put RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in the environment;
    ``init_process_group`` reads them. On GPUs each process takes the GPU numbered by its LOCAL_RANK (its
    rank on this machine) before anything touches CUDA.
    """
    if device_kind == "cuda":
        local_rank = int(os.environ["LOCAL_RANK"])
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"  # NVIDIA's collective library: GPU memory to GPU memory
    else:
        device = torch.device("cpu")
        backend = "gloo"  # works on CPUs (and, slowly, GPUs) everywhere
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    return dist.get_rank(), dist.get_world_size(), device


def thread_count() -> int | None:
    """How many threads this process runs (Linux only; None elsewhere)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def say(line: str, stream=None) -> None:
    """Print one whole line in one write. Both ranks share torchrun's stdout; print() writes the text and
    its newline separately, so two ranks printing at once interleaved as "rank 0: ...rank 1: ...\n\n"."""
    stream = stream or sys.stdout
    stream.write(line + "\n")  # one write of under 4 KiB to a pipe is atomic (PIPE_BUF)
    stream.flush()


def leave_process_group(rank: int, threads_before_joining: int | None) -> None:
    """Leave the group together with every other process, and make sure it is really gone.

    The barrier: no process tears its connections down while another one is still using them in a
    collective (rank 0 still gathering, say). destroy_process_group() then stops gloo's threads and closes
    its connections here, while Python is fully alive, not during interpreter exit. On Linux the thread
    count shows it: back to what it was before the group was joined.
    """
    gc.collect()  # DDP wrappers that went out of scope hold the group too; free them first
    dist.barrier()
    dist.destroy_process_group()
    threads_now = thread_count()
    if threads_before_joining is not None and threads_now > threads_before_joining:
        say(
            f"rank {rank}: warning: {threads_now - threads_before_joining} threads of the process group still "
            "run after destroy_process_group(); something still holds the group",
            sys.stderr,
        )
    say(f"rank {rank}: left the process group")


def flat_params(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])  # (P,)


def flat_grads(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.detach().flatten() for p in net.parameters()])  # (P,)


def all_reduce_demo(rank: int, device: torch.device) -> dict:
    """Each rank holds a different small tensor; all_reduce(SUM) leaves the sum in every rank."""
    mine = torch.tensor([rank + 1.0, 10.0 * (rank + 1)], dtype=DTYPE, device=device)  # (2,)
    before = mine.clone()
    dist.all_reduce(mine, op=dist.ReduceOp.SUM)  # in place, in every process
    return {"before": before.tolist(), "after_sum": mine.tolist()}


def train(args, rank: int, world_size: int, device: torch.device) -> tuple[dict, torch.nn.Module, torch.Tensor]:
    data = make_xo_dataset(seed=0)
    images = data.train_images.to(device, DTYPE)  # (N, 1, 6, 6)
    labels = data.train_labels.to(device)  # (N,)
    count = images.shape[0]
    if args.global_batch % world_size:
        raise SystemExit(f"--global-batch {args.global_batch} must be a multiple of the {world_size} processes")
    local_batch = args.global_batch // world_size

    # Rank r draws its initial weights from seed + r: the copies start different on purpose, to show
    # that DDP broadcasts rank 0's parameters to every process when it wraps the model.
    net = XONet(seed=args.seed + rank).to(device, DTYPE)
    sum_before = flat_params(net).sum().item()
    ddp = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)
    sum_after = flat_params(net).sum().item()

    # The sampler hands each rank every world_size-th index of one shuffled order: disjoint slices.
    dataset = TensorDataset(images, labels, torch.arange(count, device=device))
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed, drop_last=True
    )
    loader = DataLoader(dataset, batch_size=local_batch, sampler=sampler, drop_last=True)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr)

    indices, snapshots, epoch_losses, first_step = [], [], [], {}
    start = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same one in every process
        loss_sum = torch.zeros((), dtype=DTYPE, device=device)
        for X, y, which in loader:  # (B, 1, 6, 6), (B,), (B,)
            if not first_step:
                # This rank's own gradient, before any communication: no_sync() skips the all-reduce.
                with ddp.no_sync():
                    F.cross_entropy(ddp(X), y).backward()
                first_step["local_grad"] = flat_grads(net).tolist()
                optimizer.zero_grad()
            loss = F.cross_entropy(ddp(X), y)  # mean over this rank's local batch
            optimizer.zero_grad()
            loss.backward()  # DDP all-reduces (averages) the gradients during backward
            if "ddp_grad" not in first_step:
                first_step["ddp_grad"] = flat_grads(net).tolist()
            optimizer.step()
            indices.append(which.tolist())
            snapshots.append(flat_params(net).cpu())
            loss_sum += loss.detach() * y.numel()
        dist.all_reduce(loss_sum)  # the epoch's loss, summed over every sample of every rank
        epoch_losses.append(loss_sum.item() / (len(loader) * local_batch * world_size))
    train_seconds = time.perf_counter() - start

    report = {
        "world_size": world_size,
        "backend": dist.get_backend(),
        "device": device.type,
        "dtype": str(DTYPE),
        "num_samples": count,
        "global_batch": args.global_batch,
        "local_batch": local_batch,
        "lr": args.lr,
        "epochs": args.epochs,
        "steps_per_epoch": len(loader),
        "num_parameters": sum(p.numel() for p in net.parameters()),
        "init": {"param_sum_before_ddp": sum_before, "param_sum_after_ddp": sum_after},
        "indices": indices,
        "first_step": first_step,
        "epoch_losses": epoch_losses,
        "train_seconds": train_seconds,
        "final_params": snapshots[-1].tolist(),
    }
    return report, net, torch.stack(snapshots)  # (steps, P)


def reference(args, all_indices: list[list[list[int]]], device: torch.device):
    """One process, one network, the same global batches (every rank's slice together), the mean loss."""
    data = make_xo_dataset(seed=0)
    images = data.train_images.to(device, DTYPE)  # (N, 1, 6, 6)
    labels = data.train_labels.to(device)  # (N,)
    net = XONet(seed=args.seed).to(device, DTYPE)  # rank 0's initial weights
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    snapshots, first_grad = [], None
    for step in range(len(all_indices[0])):
        batch = torch.tensor([i for rank_indices in all_indices for i in rank_indices[step]], device=device)  # (G,)
        loss = F.cross_entropy(net(images[batch]), labels[batch])  # mean over the global batch
        optimizer.zero_grad()
        loss.backward()
        if first_grad is None:
            first_grad = flat_grads(net).tolist()
        optimizer.step()
        snapshots.append(flat_params(net).cpu())
    return net, torch.stack(snapshots), first_grad  # (steps, P)


def time_it(stmt, globals_: dict, number: int) -> float:
    from torch.utils.benchmark import Timer  # warms up, and synchronizes CUDA around the timed calls

    return Timer(stmt, globals=globals_).timeit(number).mean


def timing(rank: int, world_size: int, device: torch.device, local_batch: int, rounds: int = 5) -> dict:
    """Seconds per all-reduce of float32 tensors of growing size, and per training step (compute only).

    Each size (and each kind of step) is timed ``rounds`` times, interleaved with the others, and the
    median kept: a moment when another program held a processor spoils the one measurement running then,
    and the median leaves it out."""
    sizes = [10**k for k in range(2, 7)] + [4 * 10**6]
    warm_up = torch.ones(sizes[-1], device=device)  # the first calls also set up the connections
    for _ in range(3):
        dist.all_reduce(warm_up)
    tensors = [torch.ones(size, device=device) for size in sizes]  # (size,) float32 each
    data = make_xo_dataset(seed=0)
    X = data.train_images[:local_batch].to(device)  # (B, 1, 6, 6) float32
    y = data.train_labels[:local_batch].to(device)  # (B,)
    net = XONet(seed=0).to(device)
    ddp = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.01)

    def step_alone():
        with ddp.no_sync():  # forward, backward, update: no communication
            F.cross_entropy(ddp(X), y).backward()
        optimizer.step()
        optimizer.zero_grad()

    def step_ddp():  # the same, with DDP's all-reduce of the gradients
        F.cross_entropy(ddp(X), y).backward()
        optimizer.step()
        optimizer.zero_grad()

    all_reduce_rounds, compute_rounds, ddp_rounds = [[] for _ in sizes], [], []
    for _ in range(rounds):
        for size, tensor, times in zip(sizes, tensors, all_reduce_rounds):
            number = 50 if size <= 10**5 else 5  # every rank runs the same count: they meet in each call
            dist.barrier()  # start together
            times.append(time_it("dist.all_reduce(tensor)", {"dist": dist, "tensor": tensor}, number))
        dist.barrier()
        compute_rounds.append(time_it("step()", {"step": step_alone}, 50))
        ddp_rounds.append(time_it("step()", {"step": step_ddp}, 50))
    return {
        "sizes": sizes,
        "rounds": rounds,
        "all_reduce_s": [statistics.median(times) for times in all_reduce_rounds],
        "all_reduce_rounds_s": all_reduce_rounds,
        "step_compute_s": statistics.median(compute_rounds),
        "step_ddp_s": statistics.median(ddp_rounds),
        "num_parameters": sum(p.numel() for p in net.parameters()),
        "local_batch": local_batch,
        "threads_per_process": torch.get_num_threads(),
    }


def main() -> None:
    args = parse_args()
    # torch.utils.benchmark imports cpp_extension, which warns (on stderr) when it finds no CUDA runtime.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    threads_before_joining = thread_count()
    rank, world_size, device = set_up(args.device, args.timeout)
    # Everything that communicates happens first, in every process ...
    report = {"all_reduce_demo": all_reduce_demo(rank, device)}
    trained, net, snapshots = train(args, rank, world_size, device)
    report.update(trained)
    # Collect what every rank saw and holds; gather_object brings it all to rank 0.
    per_rank = [None] * world_size if rank == 0 else None
    dist.gather_object(
        {
            "rank": rank,
            "all_reduce_demo": report["all_reduce_demo"],
            "init": report["init"],
            "indices": report["indices"],
            "first_step": report["first_step"],
            "final_params": report["final_params"],
        },
        per_rank,
        dst=0,
    )
    if args.timing:
        report["timing"] = timing(rank, world_size, device, report["local_batch"])
    # ... then all processes leave the group together. (If a rank fails before this point, it exits with
    # its error and torchrun stops the others; a barrier there would only wait for the timeout.)
    leave_process_group(rank, threads_before_joining)
    if rank != 0:
        return
    # Rank 0 alone, after the group is gone: the one-process reference and the report.
    all_indices = [r["indices"] for r in per_rank]
    ref_net, ref_snapshots, ref_grad = reference(args, all_indices, device)
    data = make_xo_dataset(seed=0)
    heldout_X, heldout_y = data.heldout_images.to(device, DTYPE), data.heldout_labels.to(device)
    train_X, train_y = data.train_images.to(device, DTYPE), data.train_labels.to(device)
    report.update(
        {
            "per_rank": per_rank,
            "reference": {"first_grad": ref_grad, "final_params": ref_snapshots[-1].tolist()},
            "param_max_diff": (snapshots - ref_snapshots).abs().amax(dim=1).tolist(),  # one per step
            "accuracy": {
                "ddp": {"train": accuracy(net, train_X, train_y), "heldout": accuracy(net, heldout_X, heldout_y)},
                "reference": {
                    "train": accuracy(ref_net, train_X, train_y),
                    "heldout": accuracy(ref_net, heldout_X, heldout_y),
                },
            },
        }
    )
    for key in ("indices", "first_step", "final_params", "init"):  # kept per rank, in per_rank
        report.pop(key)
    report["all_reduce_demo"] = [r["all_reduce_demo"] for r in per_rank]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    say(f"rank 0: wrote {args.out}")


if __name__ == "__main__":
    main()
