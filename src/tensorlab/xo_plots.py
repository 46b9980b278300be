"""Drawings for the X/O convolutional network: small grids with their numbers, feature maps
(introduced in notebook 04, whose feature-map figure the README shows).

Kept apart from :mod:`tensorlab.xo_net` so that training the network never imports matplotlib.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch

from tensorlab.data.xo import CLASS_NAMES
from tensorlab.plotting import show_image


def show_values(
    values: torch.Tensor,
    ax: plt.Axes | None = None,
    title: str | None = None,
    decimals: int = 1,
    cmap: str | None = None,
    fontsize: float = 8,
    vmin: float | None = None,
    vmax: float | None = None,
    numbers: bool = True,
) -> plt.Axes:
    """Draw a small (H, W) tensor as coloured cells with its numbers written in them.

    By default tensors with negative values get a blue-white-red scale centred on 0, others a white
    to green one, both reaching their largest absolute value; ``vmin``/``vmax`` fix the scale instead
    (e.g. 0 and 1 for probabilities). ``numbers=False`` draws the colours alone.
    """
    ax = ax or plt.gca()
    grid = values.detach().cpu().to(torch.float64)  # (H, W)
    if grid.ndim != 2:
        raise ValueError(f"expected a (H, W) tensor, got shape {tuple(grid.shape)}")
    top = float(grid.abs().max()) or 1.0
    if cmap is None:
        cmap = "RdBu_r" if float(grid.min()) < 0 else "Greens"
    low = vmin if vmin is not None else (-top if cmap == "RdBu_r" else 0.0)
    high = vmax if vmax is not None else top
    ax.imshow(grid.numpy(), cmap=cmap, vmin=low, vmax=high)
    middle = (low + high) / 2 if low < 0 < high or cmap == "RdBu_r" else low
    cells = ((r, c) for r in range(grid.shape[0]) for c in range(grid.shape[1])) if numbers else ()
    for (row, col), value in zip(cells, grid.flatten().tolist()):
        strong = abs(value - middle) > 0.6 * max(high - middle, 1e-12)
        text = f"{value:.{decimals}f}"
        if float(text) == 0:  # a small negative value would print as "-0.0"
            text = f"{0.0:.{decimals}f}"
        ax.text(col, row, text, ha="center", va="center", fontsize=fontsize, color="white" if strong else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


@torch.no_grad()
def show_xo_feature_maps(
    net: torch.nn.Module, images: torch.Tensor, names: Sequence[str], size: float = 1.25
) -> plt.Figure:
    """The learned filters (top row), then for each image: the image, each filter's feature map after
    ReLU (colours only: darker is larger), each pooled map, and the network's probability of X.

    ``net`` is an :class:`tensorlab.xo_net.XONet`; ``images`` is (N, 1, 6, 6).
    """
    net.eval()
    steps = net.features(images)
    probabilities = torch.softmax(steps["scores"], dim=1).cpu()  # (N, 2)
    filters = net.conv.weight.detach().cpu()[:, 0]  # (F, 3, 3)
    num_filters = filters.shape[0]
    ncols = 1 + 2 * num_filters
    fig, axes = plt.subplots(
        1 + len(images), ncols, figsize=(size * ncols, size * (1 + len(images)) + 0.4), squeeze=False
    )
    for ax in axes[0]:
        ax.axis("off")
    for f in range(num_filters):
        axes[0, 1 + f].axis("on")
        show_values(filters[f], axes[0, 1 + f], f"filter {f + 1}", fontsize=6)
    axes[0, 0].text(0.5, 0.5, "learned\n3 x 3 filters", ha="center", va="center", fontsize=9)
    for row, (image, name) in enumerate(zip(images, names), start=1):
        guess = int(probabilities[row - 1].argmax())
        show_image(image[0], axes[row, 0], grid=True)
        axes[row, 0].set_title(f"{name}\nP(X) = {probabilities[row - 1, 1]:.2f} -> {CLASS_NAMES[guess]}", fontsize=8)
        for f in range(num_filters):
            show_values(
                steps["relu"][row - 1, f], axes[row, 1 + f], f"ReLU map {f + 1}" if row == 1 else None, numbers=False
            )
            show_values(
                steps["pool"][row - 1, f],
                axes[row, 1 + num_filters + f],
                f"pooled {f + 1}" if row == 1 else None,
                fontsize=7,
            )
    fig.tight_layout()
    return fig
