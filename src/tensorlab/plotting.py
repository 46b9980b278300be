"""Small drawing helpers that several notebooks share (introduced in notebook 01).

Every helper takes tensors in PyTorch's layout -- (H, W) or (C, H, W) -- and does the permute to
matplotlib's (H, W, C) itself, so the notebooks can keep their tensors in one layout.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch

CHANNEL_NAMES = ("red", "green", "blue")
CHANNEL_CMAPS = ("Reds", "Greens", "Blues")


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
    """Draw a (3, H, W) RGB image and each of its three channels side by side."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) RGB image, got shape {tuple(image.shape)}")
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    show_image(image, axes[0], "RGB")
    for channel, (ax, name, cmap) in enumerate(zip(axes[1:], CHANNEL_NAMES, CHANNEL_CMAPS)):
        ax.imshow(
            image[channel].detach().cpu().numpy(), cmap=cmap, vmin=0, vmax=255 if image.dtype == torch.uint8 else 1
        )
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
