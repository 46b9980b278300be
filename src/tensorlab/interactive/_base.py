"""What the three explorers share: a matplotlib view rendered to an image, optional widgets, one display.

An explorer is a **model** (plain tensors, no widgets, no drawing: the unit tests drive it), a **view**
(a matplotlib ``Figure`` drawn from the model, kept between redraws so that a slider move only
updates lines, images and texts) and, where ipywidgets is installed, **controls** that change the
model and redraw the view into an ``ipywidgets.Image``.

How one cell shows it everywhere (``Explorer._repr_mimebundle_``): the cell's output is one
display with three representations of the same state, and each reader takes the richest it can show.

* ``application/vnd.jupyter.widget-view+json``: the live widget (JupyterLab, Binder, Colab).
* ``image/png``: the view's figure as it is when displayed. Readers without a widget manager or
  without the widget's saved state show this: nbconvert's HTML exporter (it skips a widget view whose
  state is not in the notebook), a static website, GitHub.
* ``text/plain``: one line describing the state, e.g. the parameters and the SSR. It holds no memory
  address and no model id, so nbval (strict mode, which compares text/plain and skips both the PNG and
  the widget view) sees the same text on every run.

The stored notebooks keep only the PNG and the text: ``tensorlab.authoring execute`` drops widget
views and widget state (:func:`strip_widget_views`), because a widget's model lives only in the
kernel session that made it. Nothing here asks which frontend is listening: the bundle is the same
everywhere, except in Colab (``google.colab`` imported), which always runs a kernel beside the
notebook, so its readers always have the widget; there the PNG is left out, because how Colab
chooses between a widget view and a PNG in one output is not documented.
"""

from __future__ import annotations

import base64
import io
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterator

import numpy as np
import PIL.Image
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_KEY = "widgets"  # notebook metadata key under which nbclient stores widget state

# The live widget gets JPEG frames: encoding one of these figures takes a few milliseconds, where
# Pillow's PNG encoder (adaptive row filters, at any compression level) takes ten times longer. At
# quality 95 lines and text stay sharp. The still figure in the cell's output stays a lossless PNG.
FRAME_FORMAT = "jpeg"
FRAME_OPTIONS = {"quality": 95}


def widgets_module():
    """``ipywidgets`` if it can be imported, else ``None`` (the explorers then show their figure only)."""
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def in_colab() -> bool:
    return "google.colab" in sys.modules


def new_figure(width: float, height: float, dpi: float = 80) -> Figure:
    """A figure outside pyplot: never shown by the inline backend on its own, never left open."""
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def encode(rgb: np.ndarray, format: str = "png", **options) -> bytes:
    """An (H, W, 3) uint8 array as image bytes (PNG by default)."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(rgb).save(buffer, format=format, **options)
    return buffer.getvalue()


@dataclass
class Panel:
    """One axes of an explorer's figure and the animated artists drawn in it.

    ``below`` and ``beside`` (pixels) extend the panel's region under and beside the axes, for
    artists drawn there. Regions of different panels must not overlap (a test checks notebook 04's).
    """

    axes: Axes
    artists: list = field(default_factory=list)
    below: float = 0.0
    beside: float = 0.0

    def region(self) -> Bbox:
        box = self.axes.bbox
        return Bbox.from_extents(box.x0 - self.beside, box.y0 - self.below, box.x1 + self.beside, box.y1 + 1)


class Explorer:
    """Base class: ``model`` + ``figure`` (updated by :meth:`draw`) + ``widget`` (or ``None``).

    Subclasses build ``self.model`` and ``self.figure``, list in ``self.animated`` the artists that
    :meth:`draw` changes, implement :meth:`draw`, :meth:`summary`, :meth:`build_controls` (the widget
    layout around ``self.image``) and, if the axes themselves change, :meth:`background_key`; then
    they call :meth:`start` at the end of ``__init__``.

    Redrawing is blitting: the axes, ticks, legends and titles are drawn once into a background
    image; a slider move restores it and draws only the ``animated`` artists on top, then encodes
    the frame. The background is drawn again only when :meth:`background_key` changes (e.g. an axis
    limit). A full matplotlib redraw of these figures takes several times longer.

    A figure of many panels can name them in ``panels`` (name -> :class:`Panel`); :meth:`draw` then
    records in ``panel_state[name]`` what each panel shows (any hashable, e.g. its numbers), and only
    the panels whose state changed are restored and redrawn: moving the filter of notebook 04 leaves
    the ReLU map, the pooled map and the outputs as they are.
    """

    figure: Figure
    animated: list = []
    panels: dict = {}
    #: pause between the frames of an animation (a button that runs several steps), in seconds
    frame_delay: float = 0.25

    def start(self, interactive: bool = True) -> None:
        self._quiet = 0
        self._background = None
        self._background_key = None
        self._panel_backgrounds = {}
        self._drawn_state = {}
        self.panel_state = {}
        self.redraw_count = 0
        self.full_redraw_count = 0
        for artist in self.animated:
            artist.set_animated(True)
        self.draw()
        self.frame = self.render()
        self.image = None
        self.widget = None
        widgets = widgets_module() if interactive else None
        if widgets is not None:
            self.image = widgets.Image(value=self.frame, format=FRAME_FORMAT)
            self.image.add_class("tensorlab-figure")
            self.widget = self.build_controls(widgets)
            self.widget.add_class("tensorlab-explorer")

    # ---- to implement -----------------------------------------------------------------------
    def draw(self) -> None:
        """Update the figure's artists from the model (no rendering)."""
        raise NotImplementedError

    def summary(self) -> str:
        """One line describing the current state (the display's text/plain): no addresses, no ids."""
        raise NotImplementedError

    def build_controls(self, widgets) -> Any:
        raise NotImplementedError

    def update_text(self) -> None:
        """Update the text widgets beside the figure (if any) from the model."""

    def overlay(self, frame: np.ndarray) -> None:
        """Paste what is not a matplotlib artist (e.g. grids' numbers) onto the rendered (H, W, 3) frame."""

    def background_key(self) -> Hashable:
        """Whatever the background (axes, limits, fixed texts) depends on; a change redraws it."""
        return None

    # ---- shared -----------------------------------------------------------------------------
    def render(self, format: str = FRAME_FORMAT) -> bytes:
        """The figure as it is now, as image bytes (blitting the animated artists onto the background).

        ``format``: the live widget's JPEG by default; ``"png"`` for the still figure.
        """
        canvas = self.figure.canvas
        key = self.background_key()
        if self._background is None or key != self._background_key:
            canvas.draw()  # everything that is not animated
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            self._panel_backgrounds = {
                name: canvas.copy_from_bbox(panel.region()) for name, panel in self.panels.items()
            }
            self._background_key = key
            self._drawn_state = {}
            self.full_redraw_count += 1
            dirty = None  # everything
        elif self.panels:
            dirty = [name for name in self.panels if self.panel_state.get(name) != self._drawn_state.get(name)]
            for name in dirty:
                canvas.restore_region(self._panel_backgrounds[name])
        else:
            canvas.restore_region(self._background)
            dirty = None
        artists = self.animated if dirty is None else [a for name in dirty for a in self.panels[name].artists]
        for artist in artists:
            if artist.get_visible():
                self.figure.draw_artist(artist)
        self._drawn_state.update({name: self.panel_state.get(name) for name in self.panels})
        frame = np.array(np.asarray(canvas.buffer_rgba())[..., :3])  # (H, W, 3) uint8, a copy
        self.overlay(frame)
        options = FRAME_OPTIONS if format == FRAME_FORMAT else {}
        return encode(frame, format, **options)

    def png(self) -> bytes:
        """The figure as it is now, as a lossless PNG (the still figure of the cell's output)."""
        return self.render("png")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Change several controls at once with one redraw at the end (observers stay quiet)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1
        self.refresh()

    def refresh(self) -> None:
        """Redraw the view from the model and send it to the widget: what one slider move costs."""
        if self._quiet:
            return
        self.draw()
        self.frame = self.render()
        self.redraw_count += 1
        if self.image is not None:
            self.image.value = self.frame
        self.update_text()

    def pause(self) -> None:
        if self.frame_delay > 0:
            time.sleep(self.frame_delay)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/plain": self.summary()}
        if self.widget is not None:
            bundle[WIDGET_VIEW_MIMETYPE] = {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}
        # The PNG is for readers without a kernel; Colab always has one (see the module docstring).
        if self.widget is None or not in_colab():
            bundle["image/png"] = base64.b64encode(self.png()).decode("ascii")
        return bundle

    def __repr__(self) -> str:
        return self.summary()


def strip_widget_views(notebook) -> int:
    """Drop live-widget outputs from a stored notebook; return how many outputs were changed.

    A widget view names a model that existed only in the kernel session that ran the notebook (its
    id is random), so stored outputs keep only the other representations (the explorers' PNG and
    text). Outputs that were nothing but a widget view are removed; widget state in the notebook's
    metadata (which nbclient stores by default) is removed too.
    """
    changed = 0
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW_MIMETYPE in data:
                changed += 1
                del data[WIDGET_VIEW_MIMETYPE]
                if not data:
                    continue
            kept.append(output)
        cell["outputs"] = kept
    notebook.metadata.pop(WIDGET_STATE_KEY, None)
    return changed
