"""Small drawing helpers that several notebooks share (introduced in notebook 01).

Every helper takes tensors in PyTorch's layout -- (H, W) or (C, H, W) -- and does the permute to
matplotlib's (H, W, C) itself, so the notebooks can keep their tensors in one layout.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.colors import LinearSegmentedColormap

CHANNEL_NAMES = ("red", "green", "blue")
# Each channel drawn from black (0) to its own colour (the largest value): bright means a high value, as
# on a screen. (matplotlib's "Reds", "Greens", "Blues" run the other way, from white to a dark colour,
# which makes a bright yellow sun look dark in the red and green channels.)
CHANNEL_CMAPS = tuple(
    LinearSegmentedColormap.from_list(f"black_to_{name}", ["black", name]) for name in ("red", "lime", "blue")
)


def use_course_style() -> None:
    """One look for every figure: fixed size and resolution, so figures read the same everywhere."""
    plt.rcParams.update(
        {
            "figure.figsize": (6.0, 4.0),
            "figure.dpi": 80,
            "axes.grid": False,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )


def to_hwc(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (H, W, C) on the CPU; (H, W) passes through."""
    image = image.detach().cpu()
    if image.ndim == 3:  # matplotlib wants NumPy arrays; .numpy() is done by the callers
        return image.permute(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if image.ndim == 2:
        return image
    raise ValueError(f"expected an image of shape (H, W) or (C, H, W), got shape {tuple(image.shape)}")


def show_image(
    image: torch.Tensor,
    ax: plt.Axes | None = None,
    title: str | None = None,
    grid: bool = False,
    cmap: str = "gray_r",
    **imshow_kwargs,
) -> plt.Axes:
    """Draw a (H, W) black-and-white or (C, H, W) colour image; ``grid`` outlines every pixel."""
    ax = ax or plt.gca()
    pixels = to_hwc(image)
    if pixels.ndim == 2:
        imshow_kwargs.setdefault("vmin", 0)
        imshow_kwargs.setdefault("vmax", 1 if pixels.max() <= 1 else None)
        ax.imshow(pixels.float().numpy(), cmap=cmap, **imshow_kwargs)
    else:
        ax.imshow((pixels if pixels.dtype == torch.uint8 else pixels.float().clamp(0, 1)).numpy(), **imshow_kwargs)
    if grid:
        height, width = pixels.shape[:2]
        ax.set_xticks([x - 0.5 for x in range(1, width)], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, height)], minor=True)
        ax.grid(which="minor", color="0.6", linewidth=0.8)
        ax.tick_params(which="minor", length=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def show_channels(image: torch.Tensor, title: str | None = None) -> plt.Figure:
    """Draw a (3, H, W) RGB image and each of its three channels side by side, each channel from black
    (0) to its own colour (the largest value), with a colour bar: the brighter, the higher the value."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) RGB image, got shape {tuple(image.shape)}")
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    show_image(image, axes[0], "RGB")
    top = 255 if image.dtype == torch.uint8 else 1
    for channel, (ax, name, cmap) in enumerate(zip(axes[1:], CHANNEL_NAMES, CHANNEL_CMAPS)):
        drawn = ax.imshow(image[channel].detach().cpu().numpy(), cmap=cmap, vmin=0, vmax=top)
        fig.colorbar(drawn, ax=ax, fraction=0.046, pad=0.03, ticks=[0, top // 2 if top > 1 else 0.5, top])
        ax.set_title(f"channel {channel}: {name}")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0, 1, 0.92))  # leave room so the title clears the panel titles
    else:
        fig.tight_layout()
    return fig


def show_grid(
    images: Sequence[torch.Tensor] | torch.Tensor,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.4,
    **show_kwargs,
) -> plt.Figure:
    """Draw many (H, W) or (C, H, W) images in a grid, e.g. a batch or the frames of a clip."""
    images = list(images)
    ncols = max(1, min(ncols, len(images)))
    nrows = (len(images) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if titles else 0)), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < len(images):
            show_image(images[index], ax, titles[index] if titles else None, **show_kwargs)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def show_taken(
    values: torch.Tensor, taken: torch.Tensor, ax: plt.Axes | None = None, title: str | None = None
) -> plt.Axes:
    """Draw a small 2-D tensor as a table of its numbers, the elements an index takes shaded (notebook 01).

    ``taken`` is a boolean tensor of the same shape: ``True`` where the index picks the element.
    """
    if values.ndim != 2 or taken.shape != values.shape or taken.dtype != torch.bool:
        raise ValueError(
            f"expected a 2-D tensor and a boolean mask of its shape, got {tuple(values.shape)} "
            f"and {tuple(taken.shape)} {taken.dtype}"
        )
    ax = ax or plt.gca()
    values, taken = values.detach().cpu(), taken.detach().cpu()
    ax.imshow(
        taken.float().numpy(), cmap=LinearSegmentedColormap.from_list("taken", ["white", "#f4a259"]), vmin=0, vmax=1
    )
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            ax.text(
                c,
                r,
                f"{values[r, c].item():g}",
                ha="center",
                va="center",
                fontsize=9,
                fontweight="bold" if taken[r, c] else "normal",
                color="black" if taken[r, c] else "0.55",
            )
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xticks([x - 0.5 for x in range(1, cols)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, rows)], minor=True)
    ax.grid(which="minor", color="0.75", linewidth=0.8)
    ax.tick_params(which="both", length=0, labelsize=8)
    ax.xaxis.tick_top()
    for spine in ax.spines.values():  # a frame on all four sides (the course style hides two)
        spine.set_visible(True)
    if title:
        ax.set_title(title, fontsize=10, family="monospace")
    return ax


def show_matmul_shapes(m: int, k: int, n: int, row: int = 1, col: int = 1) -> plt.Figure:
    """Draw (m, k) @ (k, n) -> (m, n) as three grids to scale (notebook 01): row ``row`` of the left
    matrix and column ``col`` of the right one are shaded, and so is the one output element they make."""
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 2.8), gridspec_kw={"width_ratios": [k, n, n]})
    shade = LinearSegmentedColormap.from_list("taken", ["white", "#f4a259"])
    for ax, (rows, cols, name), mask in zip(
        axes,
        [(m, k, "A"), (k, n, "B"), (m, n, "A @ B")],
        [lambda r, c: r == row, lambda r, c: c == col, lambda r, c: r == row and c == col],
    ):
        grid = torch.tensor([[float(mask(r, c)) for c in range(cols)] for r in range(rows)])
        ax.imshow(grid.numpy(), cmap=shade, vmin=0, vmax=1)
        ax.set_xticks([x - 0.5 for x in range(1, cols)], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, rows)], minor=True)
        ax.grid(which="minor", color="0.6", linewidth=0.8)
        ax.tick_params(which="both", length=0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}: ({rows}, {cols})", family="monospace")
        for spine in ax.spines.values():
            spine.set_visible(True)
    axes[0].set_xlabel(f"k = {k} columns")
    axes[0].set_ylabel(f"m = {m} rows")
    axes[1].set_ylabel(f"k = {k} rows")
    axes[1].set_xlabel(f"n = {n} columns")
    axes[2].set_xlabel(f"[{row}, {col}] = row {row} of A · column {col} of B")
    fig.suptitle(f"({m}, {k}) @ ({k}, {n}) -> ({m}, {n}): the inner sizes must match, the outer ones remain")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig
