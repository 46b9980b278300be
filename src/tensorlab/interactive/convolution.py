"""Notebook 04's explorer: the filter that slides (:func:`filter_explorer`).

The lecture's hand-made network, as notebook 04 builds it: a 3 x 3 filter (the "\\" diagonal,
``torch.eye(3)``), a bias of -2, ReLU, 2 x 2 max pooling, a fully connected layer with hand-set
weights to two scores (O, X), softmax. A slider (with a play button) moves the filter over the
6 x 6 image; the figure shows the patch under it, the element-wise products, their sum + bias, and
the feature-map cell it fills, then the whole map after ReLU and pooling, and the two outputs. A
dropdown picks the image (the X, the O, shifted or noisy copies); the nine filter weights and the
bias can be edited, or a filter picked from a few presets.

:class:`ConvModel` holds the numbers and computes everything drawn (float32, as the notebook); the
tests drive it, and the controls, without a browser.
"""

from __future__ import annotations

import torch
from matplotlib.patches import Rectangle

from tensorlab.data.xo import CLASS_NAMES, flip_pixels, o_image, shift_image, x_image
from tensorlab.interactive._base import Explorer, Panel, new_figure
from tensorlab.interactive._grids import Caption, TextSprites, ValueGrid, symmetric_limit

IMAGE_SIZE, KERNEL_SIZE = 6, 3
MAP_SIZE = IMAGE_SIZE - KERNEL_SIZE + 1  # 4: positions down and across
NUM_POSITIONS = MAP_SIZE * MAP_SIZE  # 16
#: notebook 04's hand-made network: the bias added to the feature map, and the fully connected layer
#: (row 0 scores O: the anti-diagonal corners of the pooled map; row 1 scores X: the diagonal ones)
HAND_BIAS = -2.0
HAND_FC_WEIGHT = ((-1.0, 1.0, 1.0, -1.0), (1.0, -1.0, -1.0, 1.0))
HAND_FC_BIAS = (0.0, 0.0)
STEP_NAMES = ("image", "conv", "+ bias", "ReLU", "max pool", "flatten", "scores (O, X)", "softmax (O, X)")


def example_images() -> dict[str, torch.Tensor]:
    """The images to pick from, each (6, 6) float32: the two letters, shifted ones and noisy ones."""
    x, o = x_image(), o_image()
    noise = torch.Generator().manual_seed(4)  # the same flipped pixels every time
    return {
        "X": x,
        "O": o,
        "X shifted right (0, +1)": shift_image(x, 0, 1),
        "X shifted up and left (-1, -1)": shift_image(x, -1, -1),
        "O shifted down (+1, 0)": shift_image(o, 1, 0),
        "noisy X (2 pixels flipped)": flip_pixels(x, 2, noise),
        "noisy O (2 pixels flipped)": flip_pixels(o, 2, noise),
    }


def example_filters() -> dict[str, torch.Tensor]:
    """Filters to start from, each (3, 3): the lecture's diagonal and a few other strokes."""
    return {
        "\\ diagonal (the lecture's)": torch.eye(3),
        "/ diagonal": torch.eye(3).flip(1),
        "| vertical stroke": torch.tensor([[0.0, 1.0, 0.0]] * 3),
        "- horizontal stroke": torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]),
        "ring (an O's corner)": torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
    }


class ConvModel:
    """The image, the filter, the bias, the window position, and every step of the hand-made network.

    ``position`` runs from 0 to 15, row by row: position ``p`` puts the filter's top-left corner on
    pixel ``divmod(p, 4)`` and fills that cell of the 4 x 4 feature map.
    """

    def __init__(self, image: str = "X", position: int = 5) -> None:
        self.images = example_images()
        self.filters = example_filters()
        self.image_name = image
        self.kernel = next(iter(self.filters.values())).clone()  # (3, 3): the lecture's diagonal
        self.bias = HAND_BIAS
        self.fc_weight = torch.tensor(HAND_FC_WEIGHT)  # (2, 4)
        self.fc_bias = torch.tensor(HAND_FC_BIAS)  # (2,)
        self.position = position

    @property
    def image_name(self) -> str:
        return self._image_name

    @image_name.setter
    def image_name(self, name: str) -> None:
        if name not in self.images:
            raise KeyError(f"no image {name!r}; the images are {', '.join(self.images)}")
        self._image_name = name

    @property
    def image(self) -> torch.Tensor:
        return self.images[self.image_name]  # (6, 6)

    @property
    def position(self) -> int:
        return self._position

    @position.setter
    def position(self, value: int) -> None:
        if not 0 <= value < NUM_POSITIONS:
            raise ValueError(f"position runs from 0 to {NUM_POSITIONS - 1}, not {value}")
        self._position = int(value)

    def set_kernel(self, kernel) -> None:
        kernel = torch.as_tensor(kernel, dtype=torch.float32)
        if kernel.shape != (KERNEL_SIZE, KERNEL_SIZE):
            raise ValueError(f"the filter must be 3 x 3, got shape {tuple(kernel.shape)}")
        self.kernel = kernel.clone()

    def window(self) -> tuple[int, int]:
        """(row, column) of the window's top-left pixel, which is also the feature-map cell it fills."""
        return divmod(self.position, MAP_SIZE)

    def patch(self) -> torch.Tensor:
        row, col = self.window()
        return self.image[row : row + KERNEL_SIZE, col : col + KERNEL_SIZE]  # (3, 3)

    def products(self) -> torch.Tensor:
        return self.patch() * self.kernel  # (3, 3): element-wise

    def cell_value(self) -> float:
        """The feature-map cell the window fills: the products' sum + the bias."""
        return (self.products().sum() + self.bias).item()

    def steps(self) -> dict[str, torch.Tensor]:
        """Every step of the network for the whole image, named as notebook 04's ``hand_network``.

        The convolution and the pooling are written with ``unfold`` (notebook 04's "way 2", which it
        checks against ``F.conv2d``): on 6 x 6 inputs PyTorch's convolution hands the work to its
        thread pool, and on a busy machine waking those threads costs more than the arithmetic.
        """
        image = self.image
        windows = image.unfold(0, KERNEL_SIZE, 1).unfold(1, KERNEL_SIZE, 1)  # (4, 4, 3, 3)
        steps = {"image": image}  # (6, 6)
        steps["conv"] = (windows * self.kernel).sum(dim=(-2, -1))  # (4, 4)
        steps["+ bias"] = steps["conv"] + self.bias  # (4, 4)
        steps["ReLU"] = steps["+ bias"].clamp_min(0)  # (4, 4)
        steps["max pool"] = steps["ReLU"].unfold(0, 2, 2).unfold(1, 2, 2).amax(dim=(-2, -1))  # (2, 2)
        steps["flatten"] = steps["max pool"].flatten()  # (4,)
        steps["scores (O, X)"] = self.fc_weight @ steps["flatten"] + self.fc_bias  # (2,)
        steps["softmax (O, X)"] = torch.softmax(steps["scores (O, X)"], dim=0)  # (2,)
        return steps

    def filled(self) -> torch.Tensor:
        """(4, 4) bool: the feature-map cells the window has filled so far (positions 0 to now)."""
        return (torch.arange(NUM_POSITIONS) <= self.position).view(MAP_SIZE, MAP_SIZE)

    def p_x(self) -> float:
        return self.steps()["softmax (O, X)"][1].item()

    def summary(self) -> str:
        row, col = self.window()
        kernel = [[round(v, 2) + 0.0 for v in r] for r in self.kernel.tolist()]
        return (
            f"image {self.image_name!r}, filter {kernel}, bias {self.bias:g}, window at ({row}, {col}): "
            f"cell = {self.cell_value():.2f}; P(X) = {self.p_x():.3f}"
        )


class FilterExplorer(Explorer):
    """The sliding filter: position slider and play button, image and filter choice, the figure."""

    def __init__(
        self, image: str = "X", position: int = 5, *, interactive: bool = True, play_interval_ms: int = 700
    ) -> None:
        self.model = ConvModel(image, position)
        self.play_interval_ms = play_interval_ms
        self._build_figure()
        self.start(interactive)

    # ---- view -------------------------------------------------------------------------------
    def _build_figure(self) -> None:
        fig = self.figure = new_figure(9.2, 5.0)
        axes = fig.subplots(2, 4)
        titles = (
            "1. the image, the window",
            "2. the patch under it",
            "3. × the filter",
            "4. the products",
            "5. feature map",
            "6. after ReLU",
            "7. after 2 × 2 max pool",
            "8. the two outputs",
        )
        for ax, title in zip(axes.flat, titles):
            ax.set_title(title, fontsize=9.5)
        image_ax, patch_ax, kernel_ax, products_ax = axes[0]
        map_ax, relu_ax, pool_ax, out_ax = axes[1]
        self.image_grid = ValueGrid(image_ax, IMAGE_SIZE, IMAGE_SIZE, cmap="gray_r", numbers=False)
        self.window_box = image_ax.add_patch(
            Rectangle((-0.5, -0.5), KERNEL_SIZE, KERNEL_SIZE, fill=False, edgecolor="tab:red", linewidth=2.5)
        )
        self.patch_grid = ValueGrid(patch_ax, 3, 3, cmap="gray_r", decimals=0, fontsize=10)
        self.kernel_grid = ValueGrid(kernel_ax, 3, 3, decimals=1, fontsize=10)
        self.products_grid = ValueGrid(products_ax, 3, 3, decimals=1, fontsize=10)
        self.map_grid = ValueGrid(map_ax, MAP_SIZE, MAP_SIZE, decimals=1, fontsize=9)
        self.cell_box = map_ax.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:red", linewidth=2.5))
        self.relu_grid = ValueGrid(relu_ax, MAP_SIZE, MAP_SIZE, cmap="Greens", decimals=1, fontsize=9)
        self.pool_grid = ValueGrid(pool_ax, 2, 2, cmap="Greens", decimals=1, fontsize=10)
        self.bars = out_ax.barh([0, 1], [0.5, 0.5], color=["tab:blue", "tab:red"], height=0.6)
        self.bar_texts = [Caption(out_ax, 0.5, i, transform="data", va="center") for i in range(2)]
        out_ax.set_xlim(0, 1)
        out_ax.set_ylim(-0.5, 1.5)
        out_ax.set_yticks([0, 1], [f"P({name})" for name in CLASS_NAMES])
        out_ax.set_xticks([0, 0.5, 1])
        out_ax.axvline(0.5, color="0.7", linewidth=0.8)
        # Captions under the axes (pasted, see TextSprites); the layout leaves room for them.
        self.window_text = Caption(image_ax, 0.5, -0.05)
        self.sum_text = Caption(products_ax, 0.5, -0.05)
        self.map_text = Caption(map_ax, 0.5, -0.05)
        pool_ax.text(
            0.5, -0.05, "flattened: the 4 inputs", transform=pool_ax.transAxes, fontsize=9, ha="center", va="top"
        )
        self.out_text = Caption(out_ax, 0.5, -0.15)
        fig.tight_layout(h_pad=2.5, w_pad=1.0, rect=(0, 0.05, 1, 1))  # room for the bottom captions
        gap = (patch_ax.bbox.x0 - image_ax.bbox.x1) / 2 - 1  # half the space between two axes, in pixels
        self.panels = {
            "image": Panel(image_ax, [*self.image_grid.artists, self.window_box], 0, gap),
            "patch": Panel(patch_ax, self.patch_grid.artists, 0, gap),
            "kernel": Panel(kernel_ax, self.kernel_grid.artists, 0, gap),
            "products": Panel(products_ax, self.products_grid.artists, 0, gap),
            "map": Panel(map_ax, [*self.map_grid.artists, self.cell_box], 0, gap),
            "relu": Panel(relu_ax, self.relu_grid.artists, 0, gap),
            "pool": Panel(pool_ax, self.pool_grid.artists, 0, gap),
            "out": Panel(out_ax, list(self.bars), 0, 0),
        }
        self.animated = [artist for panel in self.panels.values() for artist in panel.artists]
        self.grids = [
            self.image_grid,
            self.patch_grid,
            self.kernel_grid,
            self.products_grid,
            self.map_grid,
            self.relu_grid,
            self.pool_grid,
        ]
        self.captions = [self.window_text, self.sum_text, self.map_text, self.out_text, *self.bar_texts]
        self.sprites = TextSprites(fig.dpi)

    def overlay(self, frame) -> None:
        for grid in self.grids:
            grid.paste_numbers(frame, self.sprites)
        for caption in self.captions:
            caption.paste(frame, self.sprites)

    def draw(self) -> None:
        model = self.model
        steps = model.steps()
        row, col = model.window()
        patch = model.patch()
        products = patch * model.kernel
        products_sum = products.sum().item()
        cell = products_sum + model.bias
        probabilities = steps["softmax (O, X)"].tolist()
        scores = steps["scores (O, X)"].tolist()
        kernel = model.kernel.flatten().tolist()
        state = self.panel_state
        state["image"] = (model.image_name, model.position)
        state["patch"] = state["image"]
        state["kernel"] = tuple(kernel)
        state["products"] = (model.image_name, model.position, tuple(kernel), model.bias)
        state["map"] = state["products"]
        state["relu"] = state["pool"] = state["out"] = (model.image_name, tuple(kernel), model.bias)

        self.image_grid.update(model.image, 0, 1)
        self.window_box.set_xy((col - 0.5, row - 0.5))
        self.window_text.text = f"rows {row}-{row + 2}, columns {col}-{col + 2}"
        self.patch_grid.update(patch, 0, 1)
        kernel_limit = symmetric_limit(model.kernel)
        self.kernel_grid.update(model.kernel, -kernel_limit, kernel_limit)
        products_limit = symmetric_limit(products)
        self.products_grid.update(products, -products_limit, products_limit)
        self.sum_text.text = f"sum {products_sum:.1f} + bias ({model.bias:g}) = {cell:.1f}"
        map_limit = symmetric_limit(steps["+ bias"], at_least=3.0)
        self.map_grid.update(steps["+ bias"], -map_limit, map_limit, shown=model.filled())
        self.cell_box.set_xy((col - 0.5, row - 0.5))
        self.map_text.text = f"sum + bias: cell ({row}, {col}) = {cell:.1f}"
        relu_top = max(1.0, float(steps["ReLU"].max()))
        self.relu_grid.update(steps["ReLU"], 0, relu_top)
        self.pool_grid.update(steps["max pool"], 0, relu_top)
        for bar, text, p in zip(self.bars, self.bar_texts, probabilities):
            bar.set_width(p)
            inside = p > 0.6  # the number inside a long bar, after a short one
            text.text, text.x = f"{p:.3f}", (p - 0.03 if inside else p + 0.03)
            text.ha, text.color = ("right", "white") if inside else ("left", "black")
        p_x = probabilities[1]
        guess = "undecided" if p_x == 0.5 else CLASS_NAMES[int(p_x > 0.5)]
        self.out_text.text = f"scores (O, X) = ({scores[0]:.1f}, {scores[1]:.1f}) -> {guess}"

    def summary(self) -> str:
        return f"filter explorer: {self.model.summary()}"

    # ---- controls ---------------------------------------------------------------------------
    def build_controls(self, widgets):
        model = self.model
        self.position_slider = widgets.IntSlider(
            value=model.position,
            min=0,
            max=NUM_POSITIONS - 1,
            description="position",
            continuous_update=True,
            layout=widgets.Layout(width="330px"),
        )
        self.position_slider.add_class("tensorlab-position")
        self.play = widgets.Play(
            value=model.position, min=0, max=NUM_POSITIONS - 1, interval=self.play_interval_ms, description="slide"
        )
        self._link = widgets.jslink((self.play, "value"), (self.position_slider, "value"))
        self.position_slider.observe(self._on_position, names="value")
        self.image_choice = widgets.Dropdown(
            options=list(model.images),
            value=model.image_name,
            description="image",
            layout=widgets.Layout(width="330px"),
        )
        self.image_choice.observe(self._on_image, names="value")
        self.filter_choice = widgets.Dropdown(
            options=list(model.filters),
            value=next(iter(model.filters)),
            description="filter",
            layout=widgets.Layout(width="330px"),
        )
        self.filter_choice.observe(self._on_filter, names="value")
        self.weight_boxes = []
        for index, value in enumerate(model.kernel.flatten().tolist()):
            box = widgets.FloatText(value=value, step=0.5, layout=widgets.Layout(width="4.5em"))
            box.observe(lambda change, i=index: self._on_weight(i, change.new), names="value")
            self.weight_boxes.append(box)
        self.bias_box = widgets.FloatText(
            value=model.bias, step=0.5, description="bias", layout=widgets.Layout(width="10em")
        )
        self.bias_box.observe(self._on_bias, names="value")
        weights = widgets.GridBox(
            self.weight_boxes, layout=widgets.Layout(grid_template_columns="repeat(3, 4.8em)", grid_gap="2px")
        )
        self.readout = widgets.HTML()
        self.readout.add_class("tensorlab-readout")
        self.update_text()
        left = widgets.VBox(
            [widgets.HBox([self.play, self.position_slider]), self.image_choice, self.filter_choice, self.readout]
        )
        right = widgets.VBox([widgets.HTML("filter weights (edit them):"), weights, self.bias_box])
        return widgets.VBox([widgets.HBox([left, right]), self.image])

    def update_text(self) -> None:
        if self.image is None:
            return
        model = self.model
        row, col = model.window()
        self.readout.value = (
            f"<b>window at row {row}, column {col}</b>: products sum to "
            f"{model.products().sum().item():.2f}; + bias ({model.bias:g}) = "
            f"<b>{model.cell_value():.2f}</b> -> feature-map cell ({row}, {col})<br>"
            f"P(X) = {model.p_x():.3f}"
        )

    def _on_position(self, change) -> None:
        self.model.position = change.new
        self.refresh()

    def _on_image(self, change) -> None:
        self.model.image_name = change.new
        self.refresh()

    def _on_filter(self, change) -> None:
        self.set_filter(self.model.filters[change.new])

    def _on_weight(self, index: int, value: float) -> None:
        if self._quiet:
            return
        kernel = self.model.kernel.clone()
        kernel.view(-1)[index] = float(value)
        self.model.set_kernel(kernel)
        self.refresh()

    def _on_bias(self, change) -> None:
        self.model.bias = float(change.new)
        self.refresh()

    # ---- actions ----------------------------------------------------------------------------
    def set_filter(self, kernel) -> None:
        """Put ``kernel`` (3 x 3) in the model and in the nine boxes; one redraw."""
        with self.batch():
            self.model.set_kernel(kernel)
            if self.image is not None:
                for box, value in zip(self.weight_boxes, self.model.kernel.flatten().tolist()):
                    box.value = value


def filter_explorer(image: str = "X", position: int = 5, **options) -> FilterExplorer:
    """Notebook 04: slide the lecture's 3 x 3 filter over a 6 x 6 image (see the module docstring).

    ``image`` is one of :func:`example_images`' names; ``position`` (0 to 15) is where the window
    starts. Without ipywidgets (or with ``interactive=False``) it shows the figure at that position.
    """
    return FilterExplorer(image, position, **options)
