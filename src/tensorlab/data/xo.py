"""The 6 x 6 black-and-white X and O of the lecture's convolutional network (notebooks 01 and 04).

1 is a black (inked) pixel, 0 a white one, as in the lecture's drawings.
"""

from __future__ import annotations

import torch

_X_ROWS = (
    "#....#",
    ".#..#.",
    "..##..",
    "..##..",
    ".#..#.",
    "#....#",
)
_O_ROWS = (
    "..##..",
    ".#..#.",
    "#....#",
    "#....#",
    ".#..#.",
    "..##..",
)
CLASS_NAMES = ("O", "X")  # label 0 is O, label 1 is X


def _from_rows(rows: tuple[str, ...]) -> torch.Tensor:
    return torch.tensor([[1.0 if c == "#" else 0.0 for c in row] for row in rows])  # (6, 6)


def x_image() -> torch.Tensor:
    """The letter X as a (6, 6) float32 tensor of 0s and 1s."""
    return _from_rows(_X_ROWS)


def o_image() -> torch.Tensor:
    """The letter O as a (6, 6) float32 tensor of 0s and 1s."""
    return _from_rows(_O_ROWS)
