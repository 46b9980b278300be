"""The course's 256 x 256 colour picture (notebooks 01 and 05).

The picture is drawn by :func:`make_color_image` (a landscape of simple shapes, so that each
colour channel shows something different) and shipped as ``datasets/color_image_256.png`` so that
notebooks read a real file. ``make_color_image`` rebuilds it exactly; the tests check that the
shipped file still holds those pixels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from tensorlab.data import DatasetError, datasets_dir

COLOR_IMAGE_FILE = "color_image_256.png"
COLOR_IMAGE_SIZE = 256


def make_color_image(size: int = COLOR_IMAGE_SIZE) -> torch.Tensor:
    """Draw the course picture: a (3, size, size) uint8 tensor (C, H, W), the same every time."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")  # (H, W) each
    red = 0.25 + 0.55 * y  # sky fades to warm at the horizon
    green = 0.45 + 0.35 * (1 - y)
    blue = 0.95 - 0.35 * y
    ground = y > 0.68 + 0.06 * torch.sin(6.0 * x)  # rolling green hills
    red, green, blue = (torch.where(ground, g, c) for c, g in zip((red, green, blue), (0.15, 0.6 - 0.2 * y, 0.2)))
    sun = (x - 0.75) ** 2 + (y - 0.25) ** 2 < 0.11**2  # a yellow sun: red + green, no blue
    red, green, blue = torch.where(sun, 1.0, red), torch.where(sun, 0.85, green), torch.where(sun, 0.1, blue)
    house = (x > 0.18) & (x < 0.42) & (y > 0.52) & (y < 0.8)  # a red house: mostly the red channel
    roof = (y <= 0.52) & (y > 0.36) & ((x - 0.30).abs() < (y - 0.36) * 0.85)
    red = torch.where(house | roof, 0.8, red)
    green = torch.where(house, 0.12, torch.where(roof, 0.25, green))
    blue = torch.where(house, 0.1, torch.where(roof, 0.2, blue))
    lake = ((x - 0.72) / 0.2) ** 2 + ((y - 0.86) / 0.07) ** 2 < 1  # a blue lake
    red, green, blue = torch.where(lake, 0.1, red), torch.where(lake, 0.35, green), torch.where(lake, 0.85, blue)
    image = torch.stack([red, green, blue])  # (3, H, W)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8)


def pixel_digest(image: torch.Tensor) -> str:
    """SHA-256 of an image's shape and pixel bytes: changes if a single pixel does."""
    digest = hashlib.sha256(str(tuple(image.shape)).encode())
    digest.update(image.contiguous().numpy().tobytes())
    return digest.hexdigest()


def write_color_image(path: Path | None = None) -> Path:
    """Rebuild datasets/color_image_256.png from :func:`make_color_image`."""
    from PIL import Image

    path = path or datasets_dir() / COLOR_IMAGE_FILE
    Image.fromarray(make_color_image().permute(1, 2, 0).numpy()).save(path, optimize=True)  # (H, W, C) for PIL
    return path


def load_color_image(path: Path | None = None) -> torch.Tensor:
    """Read the course picture as a (3, 256, 256) uint8 tensor (C, H, W), checking it on the way."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path or datasets_dir() / COLOR_IMAGE_FILE)
    if not path.is_file():
        raise DatasetError(f"{path} is missing; rebuild it with tensorlab.data.images.write_color_image().")
    try:
        with Image.open(path) as picture:
            hwc = np.asarray(picture.convert("RGB"))  # (H, W, C) uint8
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"{path} is not a readable image ({error}).") from None
    if hwc.shape != (COLOR_IMAGE_SIZE, COLOR_IMAGE_SIZE, 3):
        raise DatasetError(
            f"{path} should be a {COLOR_IMAGE_SIZE} x {COLOR_IMAGE_SIZE} RGB image, "
            f"but it is {hwc.shape[1]} x {hwc.shape[0]}."
        )
    return torch.from_numpy(hwc.copy()).permute(2, 0, 1).contiguous()  # (H, W, C) -> (C, H, W)
