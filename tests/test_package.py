"""Unit tests of the package's small shared pieces: device choice, seeding, data, plotting."""

from __future__ import annotations

import random

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from tensorlab import describe_device, pick_device, seed_everything
from tensorlab.data import DatasetError
from tensorlab.data.images import load_color_image, make_color_image, pixel_digest, write_color_image
from tensorlab.data.xo import o_image, x_image
from tensorlab.envcheck import check_environment
from tensorlab.plotting import show_channels, show_grid, to_hwc


def test_pick_device_honours_the_environment_variable(monkeypatch):
    monkeypatch.setenv("TENSORLAB_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    assert describe_device(pick_device()) == "cpu"


def test_asking_for_a_missing_device_says_so(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so cuda is not missing")
    monkeypatch.setenv("TENSORLAB_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="'cuda' was requested .* not available on this machine; available: cpu"):
        pick_device()


def test_pick_device_without_preference_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.delenv("TENSORLAB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert pick_device().type == expected


def test_seed_everything_repeats_every_source():
    seed_everything(3)
    first = (random.random(), torch.rand(2).tolist())
    generator = seed_everything(3)
    assert (random.random(), torch.rand(2).tolist()) == first
    assert torch.rand(1, generator=generator).item() == torch.rand(1, generator=torch.Generator().manual_seed(3)).item()


def test_x_and_o_are_six_by_six_binary_and_different():
    for image in (x_image(), o_image()):
        assert image.shape == (6, 6) and image.dtype == torch.float32
        assert set(image.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(x_image(), o_image())
    assert torch.equal(x_image(), x_image().flip(0)) and torch.equal(x_image(), x_image().T)


def test_shipped_color_image_is_the_one_the_package_draws():
    shipped = load_color_image()
    assert shipped.shape == (3, 256, 256) and shipped.dtype == torch.uint8
    assert pixel_digest(shipped) == pixel_digest(make_color_image())
    # each channel shows something different (the point of drawing them separately)
    assert not torch.equal(shipped[0], shipped[1]) and not torch.equal(shipped[1], shipped[2])


def test_color_image_can_be_rebuilt(tmp_path):
    path = write_color_image(tmp_path / "picture.png")
    assert torch.equal(load_color_image(path), make_color_image())


def test_damaged_color_image_gets_one_sentence(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="broken.png is not a readable image"):
        load_color_image(broken)
    with pytest.raises(DatasetError, match="missing.png is missing"):
        load_color_image(tmp_path / "missing.png")
    from PIL import Image

    small = tmp_path / "small.png"
    Image.new("RGB", (32, 16)).save(small)
    with pytest.raises(DatasetError, match="should be a 256 x 256 RGB image, but it is 32 x 16"):
        load_color_image(small)


def test_plot_helpers_take_pytorch_layouts():
    image = make_color_image()
    assert to_hwc(image).shape == (256, 256, 3)
    assert len(show_channels(image).axes) == 4 + 3  # the picture, three channels, their colour bars
    assert len(show_grid(torch.stack([x_image(), o_image()]), ncols=2).axes) == 2
    with pytest.raises(ValueError, match=r"expected a \(3, H, W\) RGB image"):
        show_channels(x_image())


def brightness(rgba) -> torch.Tensor:
    """Perceived brightness (luma, 0-1) of RGBA colours."""
    rgba = torch.as_tensor(rgba, dtype=torch.float64)
    return 0.299 * rgba[..., 0] + 0.587 * rgba[..., 1] + 0.114 * rgba[..., 2]


def test_each_channel_is_drawn_brighter_where_its_value_is_higher():
    # A channel picture must say what the notebooks say of it: bright means a high value.
    figure = show_channels(make_color_image())
    for ax in figure.axes[1:4]:
        drawn = ax.get_images()[0]
        ramp = brightness(drawn.to_rgba(torch.linspace(0, 255, 256).numpy(), norm=True))  # (256,)
        assert ramp[0] < 0.01, "value 0 should be drawn black"
        assert bool((ramp[1:] > ramp[:-1]).all()), f"{ax.get_title()}: brightness does not rise with the value"


def test_the_channel_pictures_show_the_sun_bright_in_red_and_green_and_the_lake_bright_in_blue():
    # The sentences in notebooks 01 and 05, checked against what is drawn.
    picture = load_color_image()
    sun, lake = (64, 192), (220, 184)  # (row, col) of a pixel in each
    figure = show_channels(picture)
    # How bright each pixel is drawn, as a fraction of the brightest colour of its own panel.
    red, green, blue = (
        brightness(image.to_rgba(image.get_array())) / brightness(image.to_rgba(1.0, norm=False))
        for image in (ax.get_images()[0] for ax in figure.axes[1:4])
    )
    assert red[sun] > 0.8 and green[sun] > 0.8 and blue[sun] < 0.2  # yellow: red and green, not blue
    assert blue[lake] > 0.8 and red[lake] < 0.2 and green[lake] < 0.4  # the lake: blue most of all


def test_environment_check_reports_in_plain_words():
    findings = {f.item: f for f in check_environment(in_colab=False)}
    assert findings["torch"].ok and findings["pair"].ok
    assert findings["device"].value.startswith("the course will use:")
    missing_python = check_environment()[0]
    assert missing_python.item == "python" and missing_python.ok
