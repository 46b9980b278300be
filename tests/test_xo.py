"""The X/O data set generator and the X/O network (tensorlab.data.xo, tensorlab.xo_net; notebook 04)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tensorlab.data.xo import (
    CLASS_NAMES,
    MAX_FLIPS,
    SHIFTS,
    XODataset,
    flip_pixels,
    make_xo_dataset,
    o_image,
    shift_image,
    x_image,
    xo_dataset_details,
)
from tensorlab.xo_net import XONet, accuracy, predict, train_xo_net

NUM_EPOCHS, LR = 40, 0.02  # what notebook 04 uses


@pytest.fixture(scope="module")
def data() -> XODataset:
    return make_xo_dataset(seed=0)


@pytest.fixture(scope="module")
def trained(data):
    net = XONet(seed=0)
    losses = train_xo_net(net, data.train_images, data.train_labels, NUM_EPOCHS, LR, seed=0)
    return net, losses


def test_shapes_dtypes_and_labels(data):
    assert data._fields == ("train_images", "train_labels", "heldout_images", "heldout_labels")
    assert data.train_images.shape == (378, 1, 6, 6) and data.train_images.dtype == torch.float32
    assert data.heldout_images.shape == (108, 1, 6, 6) and data.heldout_images.dtype == torch.float32
    assert data.train_labels.shape == (378,) and data.train_labels.dtype == torch.int64
    assert data.heldout_labels.shape == (108,) and data.heldout_labels.dtype == torch.int64
    for images in (data.train_images, data.heldout_images):
        assert set(images.unique().tolist()) == {0.0, 1.0}
    # Both classes, equally often, in both parts.
    assert data.train_labels.bincount().tolist() == [189, 189]
    assert data.heldout_labels.bincount().tolist() == [54, 54]
    assert CLASS_NAMES[1] == "X" and CLASS_NAMES[0] == "O"


def test_same_seed_same_tensors_other_seed_other_noise(data):
    again = make_xo_dataset(seed=0)
    for mine, theirs in zip(data, again):
        assert torch.equal(mine, theirs)
    other = make_xo_dataset(seed=1)
    assert not torch.equal(data.train_images, other.train_images)
    # What does not depend on the seed: the clean letters at the 9 positions come first in training.
    assert torch.equal(data.train_images[0, 0], x_image())


def test_heldout_never_repeats_a_training_image(data):
    train = data.train_images.flatten(1)  # (378, 36)
    heldout = data.heldout_images.flatten(1)  # (108, 36)
    same = (heldout[:, None, :] == train[None, :, :]).all(dim=2)  # (108, 378)
    assert not same.any()
    assert heldout.unique(dim=0).shape[0] == heldout.shape[0]  # no duplicate inside held-out either
    assert train.unique(dim=0).shape[0] == train.shape[0]


def test_every_image_is_a_shifted_letter_with_the_stated_number_of_flips(data):
    details = xo_dataset_details(seed=0)
    letters = {1: x_image(), 0: o_image()}
    for images, labels, shifts, flips in (
        (data.train_images, data.train_labels, details.train_shifts, details.train_flips),
        (data.heldout_images, data.heldout_labels, details.heldout_shifts, details.heldout_flips),
    ):
        for image, label, (dy, dx), count in zip(images, labels.tolist(), shifts.tolist(), flips.tolist()):
            clean = shift_image(letters[label], dy, dx)
            assert int((image[0] != clean).sum()) == count <= MAX_FLIPS
    assert set(map(tuple, details.heldout_shifts.tolist())) == set(SHIFTS)  # every direction held out too
    assert (details.heldout_flips >= 1).all()  # held-out images are all noisy
    assert (details.train_flips == 0).sum() == 2 * len(SHIFTS)  # one clean copy per letter and shift


def test_shift_is_zero_filled_not_wrapped():
    image = torch.arange(1.0, 10.0).view(3, 3)  # (3, 3)
    assert shift_image(image, 0, 1).tolist() == [[0, 1, 2], [0, 4, 5], [0, 7, 8]]
    assert shift_image(image, -1, 0).tolist() == [[4, 5, 6], [7, 8, 9], [0, 0, 0]]
    assert shift_image(image, 1, -1).tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]
    assert torch.equal(shift_image(image, 0, 0), image)
    with pytest.raises(ValueError, match="out of view"):
        shift_image(image, 3, 0)


def test_flip_pixels_flips_exactly_count_distinct_pixels():
    generator = torch.Generator().manual_seed(5)
    image = x_image()
    for count in range(0, 5):
        noisy = flip_pixels(image, count, generator)
        assert int((noisy != image).sum()) == count
    assert torch.equal(image, x_image())  # the original is left alone


def test_init_is_deterministic_from_a_seed_or_a_generator():
    a, b = XONet(seed=3), XONet(generator=torch.Generator().manual_seed(3))
    c, d = XONet(3), XONet(seed=4)
    for pa, pb, pc, pd in zip(a.parameters(), b.parameters(), c.parameters(), d.parameters()):
        assert torch.equal(pa, pb) and torch.equal(pa, pc) and not torch.equal(pa, pd)
    # The start is drawn as PyTorch's default: uniform in +-1/sqrt(fan_in).
    assert a.conv.weight.abs().max() <= 1 / 3 and a.fc1.weight.abs().max() <= 1 / 4
    assert XONet(seed=0).conv.weight.std() > 0.1  # not all zeros or tiny


def test_shapes_through_the_network():
    net = XONet(seed=0)
    steps = net.features(torch.zeros(5, 1, 6, 6))
    assert {name: tuple(t.shape) for name, t in steps.items()} == {
        "conv": (5, 4, 4, 4),
        "relu": (5, 4, 4, 4),
        "pool": (5, 4, 2, 2),
        "flat": (5, 16),
        "hidden": (5, 8),
        "scores": (5, 2),
    }
    assert sum(p.numel() for p in net.parameters()) == (4 * 9 + 4) + (16 * 8 + 8) + (8 * 2 + 2) == 194
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    by_hand = net.fc2(F.relu(net.fc1(F.max_pool2d(F.relu(net.conv(x)), 2).flatten(1))))
    torch.testing.assert_close(net(x), by_hand)


def test_training_reaches_the_bar(data, trained):
    net, losses = trained
    assert len(losses) == NUM_EPOCHS and losses[-1] < 0.01 < losses[0]
    originals = torch.stack([o_image(), x_image()])[:, None]  # (2, 1, 6, 6): O then X
    assert predict(net, originals).tolist() == [0, 1]
    assert accuracy(net, data.train_images, data.train_labels) == 1.0
    assert accuracy(net, data.heldout_images, data.heldout_labels) >= 0.95
    assert not net.training  # left in eval mode


def test_training_is_deterministic_on_the_cpu(data, trained):
    net, losses = trained
    net2 = XONet(seed=0)
    losses2 = train_xo_net(net2, data.train_images, data.train_labels, NUM_EPOCHS, LR, seed=0)
    assert losses2 == losses
    for p, p2 in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, p2)
    other = train_xo_net(XONet(seed=0), data.train_images, data.train_labels, 2, LR, seed=1)
    assert other != losses[:2]  # another shuffling seed, other batches


def test_training_restores_the_thread_setting(data):
    before = torch.get_num_threads()
    train_xo_net(XONet(seed=0), data.train_images[:8], data.train_labels[:8], 1, LR, num_threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("seed", [1, 2])
def test_the_bar_holds_for_other_seeds(seed):
    data = make_xo_dataset(seed=seed)
    net = XONet(seed=seed)
    train_xo_net(net, data.train_images, data.train_labels, NUM_EPOCHS, LR, seed=seed)
    assert accuracy(net, data.heldout_images, data.heldout_labels) >= 0.95


def test_accuracy_counts_right_answers():
    net = XONet(seed=0)
    images = torch.zeros(4, 1, 6, 6)
    guess = predict(net, images)  # the same guess for four identical images
    labels = torch.stack([guess[0], guess[0], 1 - guess[0], 1 - guess[0]])
    assert accuracy(net, images, labels) == 0.5


# --- drawings (tensorlab.xo_plots) -----------------------------------------------------------


def test_show_values_writes_every_number_and_refuses_other_shapes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tensorlab.xo_plots import show_values

    fig, (ax, bare) = plt.subplots(1, 2)
    show_values(torch.tensor([[1.0, -2.0], [0.5, 3.0]]), ax, "t", decimals=1)
    assert [t.get_text() for t in ax.texts] == ["1.0", "-2.0", "0.5", "3.0"] and ax.get_title() == "t"
    fig2, small = plt.subplots()
    show_values(torch.tensor([[-0.04, 0.04], [-0.05, -0.2]]), small, decimals=1)  # -0.04 rounds to zero
    assert [t.get_text() for t in small.texts] == ["0.0", "0.0", "-0.1", "-0.2"]  # "0.0", never "-0.0"
    plt.close(fig2)
    show_values(torch.ones(2, 2), bare, numbers=False, vmin=0, vmax=2)
    assert not bare.texts and bare.images[0].get_clim() == (0, 2)
    with pytest.raises(ValueError, match="expected a \\(H, W\\) tensor"):
        show_values(torch.ones(1, 2, 2), ax)
    plt.close(fig)


def test_feature_map_figure_shows_filters_maps_and_probabilities():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tensorlab.xo_plots import show_xo_feature_maps

    net = XONet(seed=0)
    images = torch.stack([x_image(), o_image()])[:, None]  # (2, 1, 6, 6)
    fig = show_xo_feature_maps(net, images, ["X", "O"])
    assert len(fig.axes) == 3 * (1 + 2 * 4)  # a filter row and one row per image; image + 4 maps + 4 pooled
    p_x = torch.softmax(net(images), dim=1)[:, 1].tolist()
    assert fig.axes[9].get_title().startswith(f"X\nP(X) = {p_x[0]:.2f}")
    assert fig.axes[18].get_title().startswith(f"O\nP(X) = {p_x[1]:.2f}")
    plt.close(fig)
