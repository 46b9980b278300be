"""The 6 x 6 black-and-white X and O of the lecture's convolutional network (notebooks 01 and 04).

1 is a black (inked) pixel, 0 a white one, as in the lecture's drawings.

:func:`make_xo_dataset` (introduced in notebook 04, used again in notebooks 06 and 07) turns the two
letters into a small, seeded data set of shifted and noisy copies, with a held-out part that the
network never trains on:

- **shifts** move the whole image by one pixel (up, down, left, right, or diagonally). They are
  **zero-filled, not wrapped**: the row or column pushed off the edge is lost and the one that comes
  in from the other side is white (0). :func:`shift_image` does it.
- **noise** flips a few pixels (ink to paper or paper to ink), chosen with an explicit
  ``torch.Generator``. :func:`flip_pixels` does it.

The training part holds each letter at all 9 positions (centred, and shifted by one pixel in each of
the 8 directions), clean and with 1 or 2 flipped pixels. The held-out part holds fresh noisy copies
at the same 9 positions; no held-out image is equal to a training image (nor to another held-out
one). The same seed gives identical tensors.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

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

# (dy, dx): +dy moves the image down, +dx moves it right. (0, 0) first, then the 8 one-pixel shifts.
SHIFTS = ((0, 0), (-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
MAX_FLIPS = 2  # a noisy copy has 1 to MAX_FLIPS flipped pixels
NOISY_TRAIN = 20  # noisy training copies per letter and position
NOISY_HELDOUT = 6  # noisy held-out copies per letter and position


def _from_rows(rows: tuple[str, ...]) -> torch.Tensor:
    return torch.tensor([[1.0 if c == "#" else 0.0 for c in row] for row in rows])  # (6, 6)


def x_image() -> torch.Tensor:
    """The letter X as a (6, 6) float32 tensor of 0s and 1s."""
    return _from_rows(_X_ROWS)


def o_image() -> torch.Tensor:
    """The letter O as a (6, 6) float32 tensor of 0s and 1s."""
    return _from_rows(_O_ROWS)


def shift_image(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Move a (H, W) image ``dy`` pixels down and ``dx`` right (negative: up, left); zero-filled.

    Pixels pushed past the edge are lost (no wrapping); the pixels that come in are 0 (white).
    """
    if image.ndim != 2:
        raise ValueError(f"expected a (H, W) image, got shape {tuple(image.shape)}")
    height, width = image.shape
    if abs(dy) >= height or abs(dx) >= width:
        raise ValueError(f"a shift of ({dy}, {dx}) moves a {height} x {width} image out of view")
    pad = max(abs(dy), abs(dx))
    padded = F.pad(image[None], (pad, pad, pad, pad))[0]  # (H + 2 pad, W + 2 pad), zeros around
    top, left = pad - dy, pad - dx
    return padded[top : top + height, left : left + width].clone()  # (H, W)


def flip_pixels(image: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """A copy of a (H, W) 0/1 image with ``count`` distinct pixels flipped (0 <-> 1), chosen by ``generator``."""
    flat = image.flatten().clone()  # (H * W,)
    where = torch.randperm(flat.numel(), generator=generator)[:count]  # (count,) distinct positions
    flat[where] = 1.0 - flat[where]
    return flat.view_as(image)  # (H, W)


class XODataset(NamedTuple):
    """Images as (N, 1, 6, 6) float32 (one channel), labels as (N,) int64: 1 = X, 0 = O."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    heldout_images: torch.Tensor
    heldout_labels: torch.Tensor


class XODetails(NamedTuple):
    """How each image of :func:`make_xo_dataset` was made, in the same order.

    ``*_shifts`` is (N, 2) int64 holding (dy, dx); ``*_flips`` is (N,) int64, the number of
    flipped pixels (0 for a clean copy).
    """

    train_shifts: torch.Tensor
    train_flips: torch.Tensor
    heldout_shifts: torch.Tensor
    heldout_flips: torch.Tensor


def _build(seed: int):
    generator = torch.Generator().manual_seed(seed)
    letters = ((1, x_image()), (0, o_image()))  # (label, (6, 6) image)
    parts = {"train": [], "heldout": []}  # lists of (image, label, (dy, dx), flips)
    seen: set[tuple[float, ...]] = set()

    def add(part, image, label, shift, flips):
        key = tuple(image.flatten().tolist())
        if key in seen:  # an exact copy of an image already made: not added again
            return False
        seen.add(key)
        parts[part].append((image, label, shift, flips))
        return True

    # Training first, so that a held-out image can never repeat a training one.
    plan = [("train", NOISY_TRAIN, True), ("heldout", NOISY_HELDOUT, False)]
    for part, copies, with_clean in plan:
        for label, letter in letters:
            for dy, dx in SHIFTS:
                clean = shift_image(letter, dy, dx)  # (6, 6)
                if with_clean:
                    add(part, clean, label, (dy, dx), 0)
                made = 0
                while made < copies:
                    flips = int(torch.randint(1, MAX_FLIPS + 1, (), generator=generator))
                    made += add(part, flip_pixels(clean, flips, generator), label, (dy, dx), flips)
    return parts


def _stack(records):
    images = torch.stack([r[0] for r in records])[:, None]  # (N, 1, 6, 6)
    labels = torch.tensor([r[1] for r in records], dtype=torch.int64)  # (N,)
    shifts = torch.tensor([r[2] for r in records], dtype=torch.int64)  # (N, 2)
    flips = torch.tensor([r[3] for r in records], dtype=torch.int64)  # (N,)
    return images, labels, shifts, flips


def make_xo_dataset(seed: int = 0) -> XODataset:
    """A seeded data set of shifted (zero-filled) and noisy Xs and Os, with a held-out part.

    Training: 2 letters x 9 positions x (1 clean + 20 noisy) = 378 images, X first, then O.
    Held-out: 2 letters x 9 positions x 6 noisy = 108 images, none equal to a training image.
    Noisy copies have 1 or 2 flipped pixels. Labels: 1 = X, 0 = O. Same seed, identical tensors.
    """
    parts = _build(seed)
    train_images, train_labels, _, _ = _stack(parts["train"])
    heldout_images, heldout_labels, _, _ = _stack(parts["heldout"])
    return XODataset(train_images, train_labels, heldout_images, heldout_labels)


def xo_dataset_details(seed: int = 0) -> XODetails:
    """The shift and number of flipped pixels of every image of ``make_xo_dataset(seed)``, in order."""
    parts = _build(seed)
    _, _, train_shifts, train_flips = _stack(parts["train"])
    _, _, heldout_shifts, heldout_flips = _stack(parts["heldout"])
    return XODetails(train_shifts, train_flips, heldout_shifts, heldout_flips)
