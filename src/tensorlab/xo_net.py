"""The small convolutional network that tells an X from an O (introduced in notebook 04).

Notebook 04 builds every step by hand and then uses :class:`XONet`; notebook 06 trains the same
network on a GPU and compares with the CPU; notebook 07 trains it with DistributedDataParallel.

    image (N, 1, 6, 6) -> 3 x 3 convolution -> ReLU -> 2 x 2 max pooling -> flatten
                       -> fully connected -> ReLU -> fully connected -> 2 scores (O, X)

Everything random is drawn from an explicit ``torch.Generator``: the initial weights (on the CPU,
then copied, so the start is the same whatever the device) and the order of the mini-batches. So on
the CPU the same seed gives the same losses, bit for bit, run after run.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class XONet(nn.Module):
    """One 3 x 3 convolution, ReLU, 2 x 2 max pooling, then two fully connected layers to 2 outputs.

    ``generator`` (a ``torch.Generator``, or an int used as a seed) draws the initial weights; without
    one, ``seed`` does (default 0), so building the network is always deterministic. Weights and
    biases start uniform in +-1/sqrt(fan_in), PyTorch's own default for these layers.

    With ``num_filters`` filters the shapes are: (N, 1, 6, 6) -> conv (N, F, 4, 4) -> pool (N, F, 2, 2)
    -> flatten (N, 4F) -> (N, hidden) -> (N, 2). The outputs are scores (logits); softmax gives
    probabilities, with index 0 for O and 1 for X as in ``tensorlab.data.xo.CLASS_NAMES``.
    """

    def __init__(
        self, generator: torch.Generator | int | None = None, *, seed: int = 0, num_filters: int = 4, hidden: int = 8
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, num_filters, kernel_size=3)  # weight (F, 1, 3, 3), bias (F,)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(num_filters * 2 * 2, hidden)  # weight (hidden, 4F)
        self.fc2 = nn.Linear(hidden, 2)  # weight (2, hidden)
        if isinstance(generator, int):
            generator = torch.Generator().manual_seed(generator)
        self.reset_parameters(generator if generator is not None else torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw every weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with ``generator``."""
        for layer in (self.conv, self.fc1, self.fc2):
            fan_in = layer.weight[0].numel()  # inputs feeding one output
            bound = 1.0 / math.sqrt(fan_in)
            for parameter in (layer.weight, layer.bias):
                values = torch.rand(parameter.shape, generator=generator) * 2 * bound - bound
                parameter.copy_(values)

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate result, for drawing: conv, relu, pool, flat, hidden, scores."""
        conv = self.conv(images)  # (N, F, 4, 4)
        relu = F.relu(conv)  # (N, F, 4, 4)
        pool = self.pool(relu)  # (N, F, 2, 2)
        flat = pool.flatten(1)  # (N, 4F)
        hidden = F.relu(self.fc1(flat))  # (N, hidden)
        scores = self.fc2(hidden)  # (N, 2)
        return {"conv": conv, "relu": relu, "pool": pool, "flat": flat, "hidden": hidden, "scores": scores}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, 6, 6) images -> (N, 2) scores for (O, X)."""
        return self.features(images)["scores"]


def train_xo_net(
    net: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_epochs: int,
    lr: float,
    seed: int = 0,
    batch_size: int = 32,
    num_threads: int | None = 1,
) -> list[float]:
    """Train ``net`` with Adam and cross-entropy on shuffled mini-batches; return each epoch's mean loss.

    ``images`` (N, 1, 6, 6) and ``labels`` (N,) must be on the net's device. The shuffling uses
    ``torch.Generator().manual_seed(seed)`` on the CPU, so the batches are the same on every device,
    and on the CPU the same seed and start give the same losses, bit for bit.

    ``num_threads``: CPU threads while training (PyTorch's setting is restored afterwards). One is
    the default because a 6 x 6 network is far too small for threads to pay off: each of the
    thousands of tiny operations would wait for the other threads, which on a busy machine made
    training many times slower. ``None`` leaves PyTorch's setting alone.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    count = images.shape[0]
    losses = []
    threads_before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        net.train()
        for _ in range(num_epochs):
            order = torch.randperm(count, generator=generator).to(images.device)  # (N,)
            total = 0.0
            for start in range(0, count, batch_size):
                batch = order[start : start + batch_size]  # (B,)
                loss = F.cross_entropy(net(images[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * batch.numel()
            losses.append(total / count)
    finally:
        torch.set_num_threads(threads_before)
        net.eval()
    return losses


@torch.no_grad()
def predict(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N, 1, 6, 6) images -> (N,) int64 predicted labels (1 = X, 0 = O)."""
    net.eval()
    return net(images).argmax(dim=1)


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of ``images`` that ``net`` labels correctly, as a Python float in [0, 1]."""
    return (predict(net, images) == labels).float().mean().item()
