"""Notebook 02's explorer: the single-dose network you can bend (:func:`dose_network_explorer`).

Seven sliders (w1, b1, w2, b2, w3, w4, b3) and one figure that follows them: each hidden node's curve
after softplus, the two curves scaled by w3 and w4 and their sum, and the sum + b3 (the squiggle)
against the three data points with its residuals; the SSR is printed beside it. "fit b3 only" runs
notebook 02's gradient descent on b3 (learning rate 0.1, stop when the step is under 0.0001) and
animates its steps; "reset" goes back to the chosen lecture values.

:class:`DoseModel` holds the numbers and computes everything drawn, in float64, with the functions
of :mod:`tensorlab.dose`; the tests drive it (and the sliders) without a browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
import torch.nn.functional as F

from tensorlab.dose import (
    BACKPROP_PARAMS,
    PARAM_NAMES,
    TRAINED_PARAMS,
    forward,
    ssr,
    ssr_gradients_by_hand,
    training_data,
)
from tensorlab.interactive._base import Explorer, new_figure

#: The two sets of values from the lecture the explorer can start from (the dropdown's choices).
STARTS: dict[str, dict[str, float]] = {
    "trained (Inside the Black Box)": TRAINED_PARAMS,
    "backprop start (b3 = 0)": BACKPROP_PARAMS,
}
#: Slider ranges; w1 reaches the lecture's -34.4. A value set from code outside them widens them.
SLIDER_RANGES: dict[str, tuple[float, float]] = {
    "w1": (-40.0, 40.0),
    "b1": (-5.0, 5.0),
    "w2": (-10.0, 10.0),
    "b2": (-5.0, 5.0),
    "w3": (-5.0, 5.0),
    "w4": (-5.0, 5.0),
    "b3": (-3.0, 4.0),
}
SLIDER_STEP = 0.01
#: y-axis limits of the three panels, wide enough for both starts (they widen when a curve leaves them)
DEFAULT_LIMITS = ((-0.1, 3.0), (-3.5, 4.0), (-3.0, 1.5))
LEARNING_RATE = 0.1  # notebook 02's gradient descent on b3
MIN_STEP_SIZE = 0.0001  # ... stops when a step is smaller than this
MAX_STEPS = 1000


@dataclass(frozen=True)
class DescentStep:
    """One step of gradient descent on b3: the values at the start of the step (as notebook 02 prints)."""

    step: int
    b3: float
    derivative: float
    step_size: float
    ssr: float


class DoseModel:
    """The seven parameters and everything the explorer draws from them (no widgets, no drawing).

    ``params`` maps the seven names to numbers (default: the lecture's trained values). All tensors
    are float64 on the CPU; :meth:`curves` evaluates a sweep of ``num_points`` doses from 0 to 1.
    """

    def __init__(self, params: Mapping[str, float] = TRAINED_PARAMS, num_points: int = 201) -> None:
        self.start = {name: float(params[name]) for name in PARAM_NAMES}
        self.params = dict(self.start)
        self.doses, self.observed = training_data(torch.float64)  # (3,), (3,)
        self.sweep = torch.linspace(0, 1, num_points, dtype=torch.float64)  # (num_points,)

    def set(self, **values: float) -> None:
        for name, value in values.items():
            if name not in self.params:
                raise KeyError(f"no parameter {name!r}; the parameters are {', '.join(PARAM_NAMES)}")
            self.params[name] = float(value)

    def reset(self, start: Mapping[str, float] | None = None) -> None:
        """Back to the start values (or to new ones, which become the start)."""
        if start is not None:
            self.start = {name: float(start[name]) for name in PARAM_NAMES}
        self.params = dict(self.start)

    def curves(self, doses: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every intermediate value of the forward pass for ``doses`` (default: the sweep), each (N,).

        The keys are those of notebook 02's ``forward_steps``: y1, y2, top, bottom, sum, output.
        """
        d = self.sweep if doses is None else doses
        p = self.params
        y1 = F.softplus(d * p["w1"] + p["b1"])  # (N,): the top node after softplus
        y2 = F.softplus(d * p["w2"] + p["b2"])  # (N,): the bottom node
        top, bottom = y1 * p["w3"], y2 * p["w4"]  # (N,), (N,): scaled by w3 and w4
        return {"y1": y1, "y2": y2, "top": top, "bottom": bottom, "sum": top + bottom, "output": top + bottom + p["b3"]}

    def predictions(self) -> torch.Tensor:
        """The network's output at the three training doses, (3,)."""
        return forward(self.doses, self.params)

    def ssr(self) -> float:
        return ssr(self.predictions(), self.observed).item()

    def b3_descent(
        self, lr: float = LEARNING_RATE, min_step_size: float = MIN_STEP_SIZE, max_steps: int = MAX_STEPS
    ) -> Iterator[DescentStep]:
        """Gradient descent on b3 alone, the other six fixed: notebook 02's loop, one step per item.

        The derivative is the chain rule's (``tensorlab.dose.ssr_gradients_by_hand``), not autograd's.
        b3 is updated in ``params`` after every step; the loop stops after the first step smaller than
        ``min_step_size`` (that step is still taken), or after ``max_steps``.
        """
        for step in range(1, max_steps + 1):
            predicted = self.predictions()  # (3,)
            derivative = ssr_gradients_by_hand(self.doses, self.observed, self.params)["b3"]  # ()
            step_size = derivative.item() * lr
            yield DescentStep(
                step, self.params["b3"], derivative.item(), step_size, ssr(predicted, self.observed).item()
            )
            self.params["b3"] = self.params["b3"] - step_size
            if abs(step_size) < min_step_size:
                return

    def fit_b3(self, **options) -> list[DescentStep]:
        """Run :meth:`b3_descent` to the end; return its steps."""
        return list(self.b3_descent(**options))

    def summary(self) -> str:
        values = ", ".join(f"{name}={self.params[name]:.2f}" for name in PARAM_NAMES)
        return f"{values} -> SSR {self.ssr():.4f}"


def _outward(value: float, up: bool) -> float:
    """``value`` rounded away from the data to a coarse grid, so that limits change in rare jumps."""
    magnitude = abs(value)
    unit = (
        0.5
        if magnitude <= 5
        else 2.0
        if magnitude <= 20
        else 10.0
        if magnitude <= 100
        else 10.0 ** math.ceil(math.log10(magnitude)) / 10
    )
    return (math.ceil(value / unit) if up else math.floor(value / unit)) * unit


def _expand(low: float, high: float, values: torch.Tensor, pad: float = 0.1) -> tuple[float, float]:
    """Axis limits: the usual (low, high), widened in coarse steps only when the values leave them."""
    smallest, largest = values.min().item() - pad, values.max().item() + pad
    return (
        low if smallest >= low else _outward(smallest, up=False),
        high if largest <= high else _outward(largest, up=True),
    )


class DoseNetworkExplorer(Explorer):
    """Sliders for the seven parameters, the three-panel figure, the SSR, "fit b3 only" and "reset"."""

    def __init__(
        self, params: Mapping[str, float] = TRAINED_PARAMS, *, interactive: bool = True, frame_delay: float = 0.25
    ) -> None:
        self.model = DoseModel(params)
        self.frame_delay = frame_delay
        self.status = ""
        self._build_figure()
        self.start(interactive)

    # ---- view -------------------------------------------------------------------------------
    def _build_figure(self) -> None:
        fig = self.figure = new_figure(10.5, 3.3)
        self.axes = fig.subplots(1, 3)
        sweep = self.model.sweep.numpy()
        doses = self.model.doses.numpy()
        nodes, scaled, output = self.axes
        self.lines = {
            "y1": nodes.plot(sweep, sweep, color="tab:blue", label="y1 = softplus(dose·w1 + b1)")[0],
            "y2": nodes.plot(sweep, sweep, color="tab:orange", label="y2 = softplus(dose·w2 + b2)")[0],
            "top": scaled.plot(sweep, sweep, color="tab:blue", alpha=0.45, label="y1 × w3")[0],
            "bottom": scaled.plot(sweep, sweep, color="tab:orange", alpha=0.45, label="y2 × w4")[0],
            "sum": scaled.plot(sweep, sweep, color="tab:green", linewidth=2, label="their sum")[0],
            "output": output.plot(sweep, sweep, color="tab:green", linewidth=2, label="sum + b3")[0],
        }
        self.points = {
            "y1": nodes.plot(doses, doses, "o", color="tab:blue", markersize=5)[0],
            "y2": nodes.plot(doses, doses, "o", color="tab:orange", markersize=5)[0],
            "predicted": output.plot(doses, doses, "o", color="tab:green", markersize=5, zorder=3)[0],
        }
        self.residuals = [output.plot([d, d], [0, 0], "--", color="tab:red", linewidth=1.2)[0] for d in doses]
        output.plot(doses, self.model.observed.numpy(), "o", color="black", markersize=7, zorder=4, label="observed")
        scaled.axhline(0, color="0.75", linewidth=0.8)
        titles = (
            "1. hidden nodes after softplus",
            "2. scaled by w3, w4, and added",
            "3. + b3: the output and the data",
        )
        for ax, title in zip(self.axes, titles):
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("dose")
            ax.set_xlim(-0.03, 1.03)
            ax.legend(loc="upper right", fontsize=7.5, framealpha=0.8)
        self.ssr_text = output.text(
            0.03,
            0.96,
            "",
            transform=output.transAxes,
            fontsize=10,
            va="top",
            color="tab:red",
            fontweight="bold",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85},
        )
        fig.tight_layout()
        self.animated = [*self.lines.values(), *self.points.values(), *self.residuals, self.ssr_text]
        self.limits = {}

    def draw(self) -> None:
        model = self.model
        curves = model.curves()
        at_doses = model.curves(model.doses)
        for name, line in self.lines.items():
            line.set_ydata(curves[name].numpy())
        self.points["y1"].set_ydata(at_doses["y1"].numpy())
        self.points["y2"].set_ydata(at_doses["y2"].numpy())
        predicted = at_doses["output"]
        self.points["predicted"].set_ydata(predicted.numpy())
        for line, p, o in zip(self.residuals, predicted.tolist(), model.observed.tolist()):
            line.set_ydata([o, p])
        self.ssr_text.set_text(f"SSR = {model.ssr():.4f}")
        # Axis limits stay put while the curves fit in them (the background is then reused) and widen
        # in coarse steps when they do not; they shrink back only on "reset" or a new start, so that a
        # slider moving back and forth never makes them jump to and fro.
        nodes, scaled, output = self.axes
        needed = {
            nodes: torch.cat([curves["y1"], curves["y2"]]),
            scaled: torch.cat([curves["top"], curves["bottom"], curves["sum"]]),
            output: torch.cat([curves["output"], predicted]),
        }
        for ax, values in needed.items():
            low, high = self.limits.get(ax, DEFAULT_LIMITS[self.axes.tolist().index(ax)])
            self.limits[ax] = _expand(low, high, values)
            ax.set_ylim(*self.limits[ax])

    def background_key(self):
        return tuple(self.limits.values())

    def summary(self) -> str:
        return f"dose network explorer: {self.model.summary()}"

    # ---- controls ---------------------------------------------------------------------------
    def build_controls(self, widgets):
        self.sliders = {}
        for name in PARAM_NAMES:
            low, high = SLIDER_RANGES[name]
            slider = widgets.FloatSlider(
                value=self.model.params[name],
                min=low,
                max=high,
                step=SLIDER_STEP,
                description=name,
                readout_format=".2f",
                continuous_update=True,
                layout=widgets.Layout(width="300px"),
            )
            slider.add_class(f"tensorlab-slider-{name}")
            slider.observe(self._on_slider, names="value")
            self.sliders[name] = slider
        start_name = next((label for label, values in STARTS.items() if values == self.model.start), None)
        self.start_choice = widgets.Dropdown(
            options=list(STARTS), value=start_name, description="start", layout=widgets.Layout(width="300px")
        )
        self.start_choice.observe(self._on_start, names="value")
        self.fit_button = widgets.Button(
            description="fit b3 only", icon="play", tooltip="gradient descent on b3, learning rate 0.1"
        )
        self.reset_button = widgets.Button(description="reset", icon="undo")
        self.fit_button.on_click(lambda _: self.fit_b3())
        self.reset_button.on_click(lambda _: self.reset())
        self.ssr_label = widgets.HTML()
        self.ssr_label.add_class("tensorlab-ssr")
        self.status_label = widgets.HTML()
        self.status_label.add_class("tensorlab-status")
        self.update_text()
        columns = widgets.HBox(
            [
                widgets.VBox([self.sliders[n] for n in ("w1", "b1", "w2", "b2")]),
                widgets.VBox([self.sliders[n] for n in ("w3", "w4", "b3")]),
                widgets.VBox(
                    [
                        self.start_choice,
                        widgets.HBox([self.fit_button, self.reset_button]),
                        self.ssr_label,
                        self.status_label,
                    ]
                ),
            ]
        )
        return widgets.VBox([columns, self.image])

    def update_text(self) -> None:
        if self.image is None:
            return
        predicted = ", ".join(f"{v:.3f}" for v in self.model.predictions().tolist())
        self.ssr_label.value = f"<b>SSR = {self.model.ssr():.4f}</b><br>" f"predicted: {predicted}<br>observed: 0, 1, 0"
        self.status_label.value = self.status

    def _on_slider(self, change) -> None:
        if self._quiet:
            return
        name = change.owner.description
        if abs(change.new - self.model.params[name]) < SLIDER_STEP / 2:
            # The browser's slider snaps a value set from here (b3 during "fit b3 only") to its step and
            # sends it back; that echo must not move the model off the value it already has.
            return
        self.model.set(**{name: change.new})
        self.status = ""
        self.refresh()

    def _on_start(self, change) -> None:
        self.reset(STARTS[change.new])

    def _show_params(self) -> None:
        """Move the sliders to the model's values (widening a range if a value left it)."""
        if self.image is None:
            return
        for name, slider in self.sliders.items():
            value = self.model.params[name]
            slider.min, slider.max = min(slider.min, value), max(slider.max, value)
            slider.value = value

    # ---- actions (the buttons call these; so can code) ----------------------------------------
    def reset(self, start: Mapping[str, float] | None = None) -> None:
        """Back to the start values (or to ``start``, which becomes the new start)."""
        with self.batch():
            self.model.reset(start)
            self.status = ""
            self.limits = {}  # back to the usual axis limits
            self._show_params()

    def fit_b3(self) -> list[DescentStep]:
        """Gradient descent on b3, one redraw per step (``frame_delay`` apart); returns the steps."""
        steps = []
        for step in self.model.b3_descent():
            steps.append(step)
            with self.batch():
                self.status = (
                    f"step {step.step}: b3 = {step.b3:.4f}, dSSR/db3 = {step.derivative:.4f}, "
                    f"step size = {step.step_size:.5f}"
                )
                self._show_params()
            self.pause()
        with self.batch():
            self._show_params()
            self.status = (
                f"stopped after {len(steps)} steps: <b>b3 = {self.model.params['b3']:.4f}</b>"
                f" (step size under {MIN_STEP_SIZE})"
            )
        return steps


def dose_network_explorer(params: Mapping[str, float] = TRAINED_PARAMS, **options) -> DoseNetworkExplorer:
    """Notebook 02: the single-dose network with a slider per parameter (see the module docstring).

    ``params``: where the sliders start and where "reset" returns (default: the lecture's trained
    values; ``tensorlab.dose.BACKPROP_PARAMS`` is the backpropagation lesson's start, b3 = 0).
    Without ipywidgets (or with ``interactive=False``) it shows the figure for ``params`` only.
    """
    return DoseNetworkExplorer(params, **options)
