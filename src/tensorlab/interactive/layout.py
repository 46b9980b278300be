"""Notebook 05's explorer: reshape against permute, and where every value goes (:func:`layout_explorer`).

Pick a tensor -- the course picture ``(C, H, W)``, a batch of four video frames ``(N, C, H, W)``, a
clip of eight ``(T, C, H, W)`` -- and an operation -- ``reshape``, ``permute``, ``transpose``,
``unsqueeze`` -- with its arguments. The figure draws the tensor, the result, and for every pixel of
the result where its values came from: from which colour channel, and from which row, image or frame.

How a result of any shape is drawn (:func:`as_pictures`): the one dimension of size 3 is read as
the colour channels, the last two other dimensions as rows and columns, and any dimensions left over
as a sequence of pictures. ``permute(1, 2, 0)`` of the picture gives a ``(256, 256, 3)`` tensor that
reads as the picture; ``reshape(256, 256, 3)`` gives the same shape and a scrambled picture, each
"pixel" taking three neighbouring values of one channel -- which the channel map shows in pure red,
green and blue.

:class:`LayoutModel` holds the choice and computes the result and the maps; the tests drive it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np
import torch

from tensorlab.data.images import make_color_image
from tensorlab.interactive._base import Explorer, new_figure

OPERATIONS = ("reshape", "permute", "transpose", "unsqueeze")
MAX_PICTURES = 4  # pictures drawn per row of the figure
CHANNEL_COLORS = torch.tensor([[1.0, 0.15, 0.1], [0.1, 0.75, 0.2], [0.15, 0.35, 1.0]])  # red, green, blue


@dataclass(frozen=True)
class Example:
    """A tensor to explore, its layout, what its first non-channel dimension counts, default arguments."""

    tensor: torch.Tensor
    layout: str
    channel_dim: int
    counted: str  # what the origin map of dimension 0 (or rows, for the image) shows
    defaults: dict[str, tuple[int, ...]]


def example_tensors() -> dict[str, Example]:
    """The course picture (3, 256, 256), a batch of 4 frames (4, 3, 64, 64), a clip of 8 (8, 3, 64, 64)."""
    # Imported here: tensorlab.data.video imports torchvision (seconds), which notebooks 02 and 04,
    # importing tensorlab.interactive for their own explorers, do not need.
    from tensorlab.data.video import make_video

    picture = make_color_image()  # (3, 256, 256) uint8: C, H, W
    frames = make_video(num_frames=32, size=64)  # (32, 3, 64, 64) uint8: T, C, H, W
    return {
        "image (C, H, W)": Example(
            picture,
            "(C, H, W)",
            0,
            "row",
            {"reshape": (256, 256, 3), "permute": (1, 2, 0), "transpose": (0, 2), "unsqueeze": (0,)},
        ),
        "batch (N, C, H, W)": Example(
            frames[::8].clone(),
            "(N, C, H, W)",
            1,
            "image",
            {  # (4, 3, 64, 64)
                "reshape": (4, 64, 64, 3),
                "permute": (0, 2, 3, 1),
                "transpose": (1, 3),
                "unsqueeze": (2,),
            },
        ),
        "clip (T, C, H, W)": Example(
            frames[:8].clone(),
            "(T, C, H, W)",
            1,
            "frame",
            {  # (8, 3, 64, 64)
                "reshape": (3, 8, 64, 64),
                "permute": (1, 0, 2, 3),
                "transpose": (0, 1),
                "unsqueeze": (0,),
            },
        ),
    }


def apply(tensor: torch.Tensor, operation: str, args: tuple[int, ...]) -> torch.Tensor:
    """``tensor.<operation>(*args)`` for one of :data:`OPERATIONS`."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}")
    return getattr(tensor, operation)(*args)


def parse_args(text: str) -> tuple[int, ...]:
    """'1, 2, 0' or '(1, 2, 0)' or '0' -> a tuple of ints (ValueError if it is not that)."""
    try:
        value = ast.literal_eval(text.strip() or "()")
    except (ValueError, SyntaxError):
        raise ValueError(f"the arguments should be whole numbers separated by commas, not {text!r}") from None
    values = value if isinstance(value, tuple) else (value,)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(f"the arguments should be whole numbers separated by commas, not {text!r}")
    return tuple(values)


def as_pictures(tensor: torch.Tensor) -> tuple[torch.Tensor, str]:
    """Read any tensor as pictures: ``(P, H, W, 3)`` for colour, ``(P, H, W)`` if no dimension has size 3.

    The dimension of size 3 is the colour channel (if there is exactly one), the last two other
    dimensions are rows and columns, and the dimensions before them count the pictures. Returns the
    pictures and a sentence saying how the tensor was read.
    """
    dims = list(range(tensor.ndim))
    if tensor.ndim == 1:
        return tensor.reshape(1, 1, -1), "1-D: one row of values"
    channels = [d for d in dims if tensor.shape[d] == 3]
    if len(channels) == 1 and tensor.ndim >= 3:
        c = channels[0]
        rest = [d for d in dims if d != c]
        rows, cols, counted = rest[-2], rest[-1], rest[:-2]
        pictures = tensor.permute(*counted, rows, cols, c)
        pictures = pictures.reshape(-1, *pictures.shape[-3:])  # (P, H, W, 3)
        how = f"dim {c} (size 3) as colour, dim {rows} as rows, dim {cols} as columns"
    else:
        rows, cols, counted = dims[-2], dims[-1], dims[:-2]
        pictures = tensor.reshape(-1, tensor.shape[-2], tensor.shape[-1])  # (P, H, W)
        how = f"no single dimension of size 3: values in grey, dim {rows} as rows, dim {cols} as columns"
    if counted:
        how += f", one picture per index of dim{'s' if len(counted) > 1 else ''} {', '.join(map(str, counted))}"
    return pictures, how


class LayoutModel:
    """The chosen tensor, operation and arguments; the result and where each of its values came from."""

    def __init__(
        self, tensor: str = "image (C, H, W)", operation: str = "reshape", args: tuple[int, ...] | None = None
    ) -> None:
        self.examples = example_tensors()
        self.choose(tensor, operation, args)

    def choose(
        self, tensor: str | None = None, operation: str | None = None, args: tuple[int, ...] | None = None
    ) -> None:
        """Change any of the three; a new tensor or operation without ``args`` takes its default arguments."""
        tensor = tensor or self.tensor_name
        operation = operation or self.operation
        if tensor not in self.examples:
            raise KeyError(f"no tensor {tensor!r}; the tensors are {', '.join(self.examples)}")
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}")
        self.tensor_name, self.operation = tensor, operation
        self.args = tuple(args) if args is not None else self.example.defaults[operation]

    @property
    def example(self) -> Example:
        return self.examples[self.tensor_name]

    @property
    def source(self) -> torch.Tensor:
        return self.example.tensor

    def call(self) -> str:
        """The operation as code, e.g. ``x.permute(1, 2, 0)``."""
        return f"x.{self.operation}({', '.join(map(str, self.args))})"

    def result(self) -> torch.Tensor:
        """The source after the operation (raises what PyTorch raises for impossible arguments)."""
        return apply(self.source, self.operation, self.args)

    def error(self) -> str | None:
        try:
            self.result()
        except (RuntimeError, IndexError, TypeError, ValueError) as error:
            return f"{type(error).__name__}: {str(error).splitlines()[0]}"
        return None

    def origin(self, dim: int) -> torch.Tensor:
        """For every value of the result, its index along dimension ``dim`` of the source (same shape)."""
        shape = [1] * self.source.ndim
        shape[dim] = self.source.shape[dim]
        index = torch.arange(self.source.shape[dim]).view(shape).expand(self.source.shape)  # source-shaped
        return apply(index, self.operation, self.args)

    def channel_origin(self) -> torch.Tensor:
        return self.origin(self.example.channel_dim)

    def counted_dim(self) -> int:
        """The source dimension whose origin the second map shows: rows for the image, else dim 0."""
        return 1 if self.example.channel_dim == 0 else 0

    def describe(self) -> str:
        source = tuple(self.source.shape)
        error = self.error()
        if error:
            return f"{self.tensor_name} {source}: {self.call()} -> {error}"
        result = self.result()
        shares = result.data_ptr() == self.source.data_ptr()
        return (
            f"{self.tensor_name} {source}: {self.call()} -> {tuple(result.shape)}, strides "
            f"{result.stride()}, contiguous: {'yes' if result.is_contiguous() else 'no'}, "
            f"{'a view of the same memory' if shares else 'a copy'}"
        )


def in_place_picture(channels: torch.Tensor) -> torch.Tensor:
    """(..., 3) source channels of each pixel's R, G, B values -> (..., 3): each lit where it is in place.

    A true pixel (R from the red channel, G from green, B from blue) is white; a pixel whose three
    values all came from the red channel is pure red (only its R is in place), and so on.
    """
    return (channels == torch.arange(3)).float()


class LayoutExplorer(Explorer):
    """Tensor, operation and arguments; the source, the result, and the two origin maps."""

    ROW_TITLES = ("x", "result", "channels", "counted")

    def __init__(
        self,
        tensor: str = "image (C, H, W)",
        operation: str = "reshape",
        args: tuple[int, ...] | None = None,
        *,
        interactive: bool = True,
    ) -> None:
        self.model = LayoutModel(tensor, operation, args)
        fig = self.figure = new_figure(8.0, 7.6)
        grid = fig.add_gridspec(4, MAX_PICTURES, left=0.02, right=0.98, top=0.95, bottom=0.05, hspace=0.35, wspace=0.08)
        self.axes = np.array([[fig.add_subplot(grid[r, c]) for c in range(MAX_PICTURES)] for r in range(4)])
        for ax in self.axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        self.titles = [fig.text(0.02, 0.955 - r * (0.9 / 4 + 0.0), "", fontsize=9.5, va="bottom") for r in range(4)]
        for row, title in zip(self.axes, self.titles):  # just above each row of pictures
            title.set_y(row[0].get_position().y1 + 0.005)
        self.error_text = fig.text(0.5, 0.5, "", ha="center", va="center", fontsize=10, color="tab:red")
        self.footer = fig.text(0.5, 0.01, "", ha="center", va="bottom", fontsize=8.5, color="0.3")
        self.start(interactive)

    def background_key(self):
        return (self.model.tensor_name, self.model.operation, self.model.args)  # every change: a full redraw

    def draw(self) -> None:
        model = self.model
        self.error_text.set_text("")
        self.footer.set_text("")
        source_pictures, _ = as_pictures(model.source)
        self._row(0, source_pictures, f"x: {model.tensor_name} {tuple(model.source.shape)}")
        error = model.error()
        if error:
            for row in (1, 2, 3):
                self._row(row, None, "")
            self.error_text.set_text(f"{model.call()}\n{error}")
            return
        result = model.result()
        pictures, how = as_pictures(result)
        self._row(1, pictures, f"{model.call()}: shape {tuple(result.shape)}, read as pictures")
        channels = as_pictures(model.channel_origin())[0]
        counted = as_pictures(model.origin(model.counted_dim()))[0]
        if channels.ndim == 4:  # colour pictures: the source channel of each pixel's R, G and B
            channels, counted = in_place_picture(channels), counted[..., 0]
            channel_title = "each pixel's R, G, B lit where it came from that channel (white: a true pixel)"
        else:  # grey values: each value's own channel
            channels = CHANNEL_COLORS[channels]
            channel_title = "which channel each value came from (red, green, blue)"
        self._row(2, channels, channel_title)
        last = max(1, model.source.shape[model.counted_dim()] - 1)
        self._row(
            3,
            counted.float() / last,
            f"which {model.example.counted} of x each pixel's first value " "came from (dark: first, yellow: last)",
            cmap="viridis",
        )
        self.footer.set_text(f"read with {how}")

    def _row(self, row: int, pictures: torch.Tensor | None, title: str, cmap: str = "gray") -> None:
        count = 0 if pictures is None else len(pictures)
        for index, ax in enumerate(self.axes[row]):
            for image in list(ax.images):
                image.remove()
            ax.set_visible(index < count)
            if index >= count:
                continue
            picture = pictures[index]
            if picture.dtype == torch.uint8:
                picture = picture.float() / 255
            if picture.ndim == 2 and cmap == "gray":
                picture = picture.float() / max(1.0, float(picture.max()))
            kwargs = {} if picture.ndim == 3 else {"cmap": cmap, "vmin": 0, "vmax": 1}
            tall_or_wide = max(picture.shape[0], picture.shape[1]) > 4 * min(picture.shape[0], picture.shape[1])
            ax.imshow(
                picture.clamp(0, 1).numpy(),
                aspect="auto" if tall_or_wide else "equal",
                interpolation="nearest",
                **kwargs,
            )
        more = f" (the first {MAX_PICTURES} of {count})" if count > MAX_PICTURES else ""
        self.titles[row].set_text(title + more)

    def summary(self) -> str:
        return f"layout explorer: {self.model.describe()}"

    # ---- controls ---------------------------------------------------------------------------
    def build_controls(self, widgets):
        model = self.model
        self.tensor_choice = widgets.Dropdown(
            options=list(model.examples), value=model.tensor_name, description="tensor x"
        )
        self.operation_choice = widgets.ToggleButtons(
            options=list(OPERATIONS), value=model.operation, description="operation"
        )
        self.args_text = widgets.Text(
            value=", ".join(map(str, model.args)), description="arguments", continuous_update=False
        )
        self.tensor_choice.observe(lambda change: self._quiet or self.choose(tensor=change.new), names="value")
        self.operation_choice.observe(lambda change: self._quiet or self.choose(operation=change.new), names="value")
        self.args_text.observe(self._on_args, names="value")
        self.readout = widgets.HTML()
        self.readout.add_class("tensorlab-readout")
        self.update_text()
        return widgets.VBox(
            [widgets.HBox([self.tensor_choice, self.args_text]), self.operation_choice, self.readout, self.image]
        )

    def update_text(self) -> None:
        if self.image is not None:
            self.readout.value = self.model.describe()

    def _on_args(self, change) -> None:
        if self._quiet:
            return
        try:
            args = parse_args(change.new)
        except ValueError as error:
            self.readout.value = f"<span style='color: #c00'>{error}</span>"
            return
        self.model.choose(args=args)
        self.refresh()

    def choose(
        self, tensor: str | None = None, operation: str | None = None, args: tuple[int, ...] | None = None
    ) -> None:
        """Pick a tensor, an operation and arguments (the controls follow); one redraw."""
        with self.batch():
            self.model.choose(tensor, operation, args)
            if self.image is not None:
                self.tensor_choice.value = self.model.tensor_name
                self.operation_choice.value = self.model.operation
                self.args_text.value = ", ".join(map(str, self.model.args))


def layout_explorer(
    tensor: str = "image (C, H, W)", operation: str = "reshape", args: tuple[int, ...] | None = None, **options
) -> LayoutExplorer:
    """Notebook 05: reshape, permute, transpose or unsqueeze a picture, a batch or a clip, and see
    where every value went (see the module docstring). Starts with the picture's ``reshape(256, 256, 3)``.
    """
    return LayoutExplorer(tensor, operation, args, **options)
