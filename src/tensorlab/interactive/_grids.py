"""Drawing helpers the explorers share: a small grid of numbers that can be redrawn quickly."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def grid_lines(ax: Axes, height: int, width: int, color: str = "0.6") -> None:
    """Thin lines between the cells of an imshow'd (height, width) grid; no ticks."""
    ax.set_xticks([x - 0.5 for x in range(1, width)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, height)], minor=True)
    ax.grid(which="minor", color=color, linewidth=0.8)
    ax.tick_params(which="both", length=0)
    ax.set_xticks([])
    ax.set_yticks([])


class TextSprites:
    """Short texts drawn once by matplotlib and kept as small RGBA images, to be pasted many times.

    Drawing a text is the slowest part of redrawing these figures (about a millisecond each in
    matplotlib, several on a busy machine); their numbers and captions come from a small set of
    strings, so each (string, colour, size) is drawn once on a transparent canvas, cropped to its ink,
    and then composited with NumPy (microseconds). Alignment is to the ink's box.
    """

    def __init__(self, dpi: float) -> None:
        self.figure = Figure(figsize=(4.0, 1.0), dpi=dpi)
        self.figure.patch.set_alpha(0)
        FigureCanvasAgg(self.figure)
        self.text = self.figure.text(0.5, 0.5, "", ha="center", va="center", multialignment="center")
        self.cache: dict[tuple, np.ndarray] = {}

    def get(self, text: str, color: str, fontsize: float) -> np.ndarray:
        """The text's ink as float32 RGBA (h, w, 4) in 0..1 (empty if there is no ink)."""
        key = (text, color, fontsize)
        if key not in self.cache:
            self.text.set(text=text, color=color, fontsize=fontsize)
            self.figure.canvas.draw()
            rgba = np.asarray(self.figure.canvas.buffer_rgba())
            rows, cols = np.nonzero(rgba[..., 3])
            if rows.size == 0:
                self.cache[key] = np.zeros((0, 0, 4), np.float32)
            else:
                ink = rgba[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
                self.cache[key] = ink.astype(np.float32) / 255
        return self.cache[key]

    def paste(
        self,
        frame: np.ndarray,
        text: str,
        x: float,
        y: float,
        *,
        color: str = "black",
        fontsize: float = 9,
        ha: str = "center",
        va: str = "center",
    ) -> None:
        """Composite ``text`` into ``frame`` (H, W, 3) at display point (x, y) (origin bottom-left)."""
        sprite = self.get(text, color, fontsize)
        if sprite.size == 0:
            return
        h, w = sprite.shape[:2]
        row = frame.shape[0] - y  # rows count from the top
        top = int(round(row - h / 2 if va == "center" else row if va == "top" else row - h))
        left = int(round(x - w / 2 if ha == "center" else x if ha == "left" else x - w))
        target = frame[top : top + h, left : left + w]
        if top < 0 or left < 0 or target.shape[:2] != (h, w):  # (partly) outside the frame: not drawn
            return
        alpha = sprite[..., 3:]
        target[...] = (sprite[..., :3] * 255 * alpha + target * (1 - alpha) + 0.5).astype(np.uint8)


class Caption:
    """A text at a fixed place of an axes (``transform``: ``"axes"`` or ``"data"`` coordinates),
    pasted by :class:`TextSprites`; set ``text`` (and ``x``, ``ha``, ``color``) and it follows."""

    def __init__(
        self,
        ax: Axes,
        x: float,
        y: float,
        text: str = "",
        *,
        transform: str = "axes",
        fontsize: float = 9,
        color: str = "black",
        ha: str = "center",
        va: str = "top",
    ) -> None:
        self.ax, self.x, self.y, self.text = ax, x, y, text
        self.transform, self.fontsize, self.color, self.ha, self.va = transform, fontsize, color, ha, va

    def paste(self, frame: np.ndarray, sprites: TextSprites) -> None:
        if not self.text:
            return
        transform = self.ax.transAxes if self.transform == "axes" else self.ax.transData
        x, y = transform.transform((self.x, self.y))
        sprites.paste(frame, self.text, x, y, color=self.color, fontsize=self.fontsize, ha=self.ha, va=self.va)


class ValueGrid:
    """A (H, W) tensor drawn as coloured cells with their numbers.

    The colours are one ``imshow`` (an animated artist of the explorer); the numbers are pasted onto
    the rendered frame by :meth:`paste_numbers` (see :class:`TextSprites`). :meth:`update` changes
    both; cells where ``shown`` is False are left blank.
    """

    def __init__(
        self,
        ax: Axes,
        height: int,
        width: int,
        cmap: str = "RdBu_r",
        decimals: int = 1,
        fontsize: float = 9,
        numbers: bool = True,
    ) -> None:
        self.ax, self.decimals, self.fontsize, self.numbers = ax, decimals, fontsize, numbers
        self.image = ax.imshow(np.zeros((height, width)), cmap=cmap, vmin=-1, vmax=1)
        self.cells = np.array([(col, row) for row in range(height) for col in range(width)], dtype=float)
        self.labels: list[tuple[str, str]] = []  # (text, colour) per cell, row by row
        grid_lines(ax, height, width)

    @property
    def artists(self) -> list:
        return [self.image]

    def update(self, values: torch.Tensor, vmin: float, vmax: float, shown: torch.Tensor | None = None) -> None:
        grid = values.detach().cpu().to(torch.float64).numpy()
        hidden = np.zeros(grid.shape, dtype=bool) if shown is None else ~shown.cpu().numpy()
        self.image.set_data(np.ma.masked_array(grid, mask=hidden))
        self.image.set_clim(vmin, vmax)
        middle = (vmin + vmax) / 2 if vmin < 0 else vmin
        half_range = max(vmax - middle, 1e-12)
        self.labels = []
        for value, blank in zip(grid.flat, hidden.flat):
            if blank or not self.numbers:
                self.labels.append(("", "black"))
                continue
            text = f"{round(float(value), self.decimals) + 0.0:.{self.decimals}f}"  # + 0.0: no "-0.0"
            self.labels.append((text, "white" if abs(value - middle) > 0.6 * half_range else "black"))

    def paste_numbers(self, frame: np.ndarray, sprites: TextSprites) -> None:
        points = self.ax.transData.transform(self.cells)  # display pixels of every cell centre
        for (text, color), (x, y) in zip(self.labels, points):
            if text:
                sprites.paste(frame, text, x, y, color=color, fontsize=self.fontsize)


def symmetric_limit(*tensors: torch.Tensor, at_least: float = 1.0) -> float:
    """The largest absolute value among ``tensors`` (at least ``at_least``): a colour scale centred on 0."""
    return max([at_least] + [float(t.detach().abs().max()) for t in tensors if t.numel()])
