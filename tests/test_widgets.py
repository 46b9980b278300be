"""The interactive explorers (tensorlab.interactive), driven without a browser.

Each explorer's controls are set the way a learner's browser sets them (a slider's ``value``, a
button's ``click()``), and what the explorer then computes is compared with what the notebook's own
code computes: the notebook's cells are run here, in this process, up to the explorer's cell, and
their functions (``forward_steps``, ``hand_network``) and results (the b3 loop's ``b3`` and
``history``, the ``picture``) are the reference. The still figure and the text that stored notebooks
and static pages show are checked too (tests/test_browser_widgets.py moves the same widgets in a
real browser).
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import types
import warnings
from pathlib import Path

import nbformat
import numpy as np
import PIL.Image
import pytest
import torch

from tensorlab.dose import BACKPROP_PARAMS, PARAM_NAMES, TRAINED_PARAMS
from tensorlab.interactive import dose_network_explorer, filter_explorer, layout_explorer, strip_widget_views
from tensorlab.interactive._base import WIDGET_VIEW_MIMETYPE
from tensorlab.interactive.convolution import NUM_POSITIONS, FilterExplorer
from tensorlab.interactive.dose import DoseModel
from tensorlab.interactive.layout import LayoutModel, as_pictures, parse_args

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXPLORER_CELLS = {
    "02_single_dose_network.ipynb": "explore-dose",
    "04_x_or_o_cnn.ipynb": "explore-filter",
    "05_images_and_video.ipynb": "explore-layout",
}


def run_notebook_until(name: str, cell_id: str) -> dict:
    """Run the solution notebook's code cells before ``cell_id`` here; return their namespace."""
    notebook = nbformat.read(SOLUTIONS / name, as_version=4)
    ids = [cell.get("id") for cell in notebook.cells]
    assert cell_id in ids, f"{name} has no cell {cell_id!r} (the explorer's cell)"
    namespace: dict = {"__name__": "__notebook__"}
    threads = torch.get_num_threads()
    import matplotlib.pyplot as plt

    try:
        with warnings.catch_warnings():  # e.g. notebook 05 hands matplotlib a tensor: its values matter here
            warnings.simplefilter("ignore", DeprecationWarning)
            for cell in notebook.cells[: ids.index(cell_id)]:
                if cell.cell_type == "code":
                    exec(compile(cell.source, f"{name}, cell {cell.get('id')}", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)  # notebook 04 sets one thread
        plt.close("all")
    return namespace


@pytest.fixture(scope="module")
def nb02() -> dict:
    return run_notebook_until("02_single_dose_network.ipynb", "explore-dose")


@pytest.fixture(scope="module")
def nb04() -> dict:
    return run_notebook_until("04_x_or_o_cnn.ipynb", "explore-filter")


@pytest.fixture(scope="module")
def nb05() -> dict:
    return run_notebook_until("05_images_and_video.ipynb", "explore-layout")


def decode(png_or_jpeg: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png_or_jpeg)).convert("RGB"))


# ---- notebook 02: the dose network ----------------------------------------------------------------


def test_dose_sliders_start_at_the_given_lecture_values():
    trained = dose_network_explorer(frame_delay=0)
    assert {name: s.value for name, s in trained.sliders.items()} == pytest.approx(TRAINED_PARAMS)
    assert trained.start_choice.value.startswith("trained")
    backprop = dose_network_explorer(BACKPROP_PARAMS, frame_delay=0)
    assert {name: s.value for name, s in backprop.sliders.items()} == pytest.approx(BACKPROP_PARAMS)
    assert backprop.start_choice.value.startswith("backprop")


@pytest.mark.parametrize("moves", [{}, {"w1": 2.0}, {"w3": -0.5, "b2": 2.5}, {"w1": -12.0, "w4": 4.0, "b3": 1.0}])
def test_dose_sliders_give_the_curves_and_ssr_of_notebook_02(nb02, moves):
    explorer = dose_network_explorer(frame_delay=0)
    before = explorer.frame
    for name, value in moves.items():
        explorer.sliders[name].value = value
    params = {**TRAINED_PARAMS, **moves}
    # notebook 02's forward_steps reads the seven 0-D tensors w1..b3 of its namespace (b3 is also the
    # b3 loop's result there, which another test reads: everything is put back)
    saved = {name: nb02[name] for name in PARAM_NAMES}
    try:
        nb02.update({name: torch.tensor(params[name]) for name in PARAM_NAMES})
        expected = nb02["forward_steps"](nb02["sweep"])
    finally:
        nb02.update(saved)
    got = explorer.model.curves()
    assert set(got) == set(expected)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], check_dtype=False, rtol=1e-5, atol=1e-5)
    ssr = nb02["ssr"](nb02["forward"](nb02["doses64"], params), nb02["efficacy64"]).item()
    assert explorer.model.ssr() == pytest.approx(ssr, rel=1e-12)
    assert f"SSR = {ssr:.4f}" in explorer.ssr_label.value
    assert f"SSR {ssr:.4f}" in explorer.summary()
    assert (explorer.frame != before) == bool(moves)  # the figure was redrawn, and changed


def test_fit_b3_button_ends_at_the_value_notebook_02_computes_by_hand(nb02):
    explorer = dose_network_explorer(BACKPROP_PARAMS, frame_delay=0)
    redraws = explorer.redraw_count
    explorer.fit_button.click()
    history, b3 = nb02["history"], nb02["b3"]  # the notebook's loop: 12 steps, b3 = 2.6091
    assert explorer.model.params["b3"] == pytest.approx(b3.item(), abs=1e-10)
    assert explorer.sliders["b3"].value == pytest.approx(b3.item(), abs=1e-10)
    assert f"stopped after {len(history)} steps: <b>b3 = {b3.item():.4f}</b>" in explorer.status_label.value
    assert explorer.redraw_count - redraws == len(history) + 1  # one frame per step, and the end
    # the browser's slider snaps the value to its step (2.61) and sends it back: the model keeps its own
    explorer.sliders["b3"].value = round(b3.item(), 2)
    assert explorer.model.params["b3"] == pytest.approx(b3.item(), abs=1e-10)
    fresh = DoseModel(BACKPROP_PARAMS)
    got = [(s.b3, s.derivative, s.step_size, s.ssr) for s in fresh.b3_descent()]
    assert np.allclose(got, history, rtol=0, atol=1e-10)  # every step: b3, derivative, step size, SSR


def test_fit_b3_after_bending_moves_the_slider_beyond_its_range():
    explorer = dose_network_explorer(BACKPROP_PARAMS, frame_delay=0)
    explorer.sliders["w3"].value = -5.0
    explorer.sliders["w4"].value = -5.0
    explorer.fit_b3()
    b3 = explorer.model.params["b3"]
    assert b3 > explorer.sliders["b3"].max - 1e-9 >= 4.0  # the range widened to the fitted value
    assert explorer.sliders["b3"].value == pytest.approx(b3)


def test_reset_and_start_choice():
    explorer = dose_network_explorer(frame_delay=0)
    explorer.sliders["w1"].value = 1.5
    explorer.sliders["b3"].value = 2.0
    explorer.reset_button.click()
    assert explorer.model.params == pytest.approx(TRAINED_PARAMS)
    assert explorer.sliders["w1"].value == pytest.approx(TRAINED_PARAMS["w1"])
    explorer.start_choice.value = "backprop start (b3 = 0)"
    assert explorer.model.params == pytest.approx(BACKPROP_PARAMS)
    assert explorer.sliders["w2"].value == pytest.approx(BACKPROP_PARAMS["w2"])
    explorer.sliders["w2"].value = 0.0
    explorer.reset_button.click()  # back to the chosen start
    assert explorer.model.params == pytest.approx(BACKPROP_PARAMS)


# ---- notebook 04: the sliding filter --------------------------------------------------------------


@pytest.mark.parametrize("image", ["X", "O"])
def test_filter_position_gives_the_patch_and_feature_map_of_notebook_04(nb04, image):
    letter = nb04["letter_x"] if image == "X" else nb04["letter_o"]
    explorer = filter_explorer(image, position=0)
    reference = nb04["hand_network"](letter)
    conv = nb04["conv_torch"](letter, nb04["diagonal"])  # (4, 4), the notebook's F.conv2d way
    for position in range(NUM_POSITIONS):
        explorer.position_slider.value = position
        row, col = divmod(position, 4)
        model = explorer.model
        assert model.window() == (row, col)
        torch.testing.assert_close(model.patch(), letter[row : row + 3, col : col + 3], rtol=0, atol=0)
        torch.testing.assert_close(model.products(), letter[row : row + 3, col : col + 3] * nb04["diagonal"])
        assert model.cell_value() == pytest.approx((conv[row, col] + nb04["bias"]).item(), abs=1e-6)
        assert int(model.filled().sum()) == position + 1
        assert f"= <b>{model.cell_value():.2f}</b> -> feature-map cell ({row}, {col})" in explorer.readout.value
    steps = explorer.model.steps()
    assert list(steps) == list(reference)
    for key in reference:
        torch.testing.assert_close(steps[key], reference[key])


def test_filter_weights_bias_and_image_choice_match_notebook_04(nb04):
    explorer = filter_explorer()
    kernel = torch.tensor([[0.5, 1.0, -0.5], [0.0, 1.5, 0.0], [-1.0, 1.0, 2.0]])
    for box, value in zip(explorer.weight_boxes, kernel.flatten().tolist()):
        box.value = value
    explorer.bias_box.value = -1.5
    explorer.image_choice.value = "X shifted right (0, +1)"
    explorer.position_slider.value = 9
    nb04["diagonal"], nb04["bias"] = kernel, torch.tensor(-1.5)  # hand_network reads these names
    try:
        image = nb04["shift_image"](nb04["letter_x"], 0, 1)
        torch.testing.assert_close(explorer.model.image, image)
        reference = nb04["hand_network"](image)
    finally:
        nb04["diagonal"], nb04["bias"] = torch.eye(3), torch.tensor(-2.0)
    for key, value in reference.items():
        torch.testing.assert_close(explorer.model.steps()[key], value)
    row, col = 2, 1
    patch = image[row : row + 3, col : col + 3]
    assert explorer.model.cell_value() == pytest.approx((patch * kernel).sum().item() - 1.5, abs=1e-6)
    explorer.filter_choice.value = "/ diagonal"  # a preset fills the nine boxes
    assert [box.value for box in explorer.weight_boxes] == torch.eye(3).flip(1).flatten().tolist()
    torch.testing.assert_close(explorer.model.kernel, torch.eye(3).flip(1))


def test_every_example_image_and_filter_runs_the_whole_network():
    explorer = filter_explorer()
    for name in explorer.model.images:
        explorer.image_choice.value = name
        for preset in explorer.model.filters:
            explorer.filter_choice.value = preset
            probabilities = explorer.model.steps()["softmax (O, X)"]
            torch.testing.assert_close(probabilities.sum(), torch.tensor(1.0))
    assert explorer.full_redraw_count == 1  # the background was drawn once, then only blitted


def test_redrawing_only_what_changed_gives_the_same_picture_as_drawing_it_all():
    explorer = filter_explorer()
    for position in (0, 7, 15, 3):
        explorer.position_slider.value = position
    explorer.weight_boxes[4].value = -1.0
    explorer.image_choice.value = "noisy O (2 pixels flipped)"
    explorer.position_slider.value = 10
    fresh = FilterExplorer("noisy O (2 pixels flipped)", 10)
    fresh.set_filter(explorer.model.kernel)
    assert np.array_equal(decode(explorer.png()), decode(fresh.png()))


def test_filter_panels_do_not_overlap():
    panels = list(filter_explorer().panels.values())
    for i, a in enumerate(panels):
        for b in panels[i + 1 :]:
            ra, rb = a.region(), b.region()
            assert ra.x1 <= rb.x0 or rb.x1 <= ra.x0 or ra.y1 <= rb.y0 or rb.y1 <= ra.y0, (ra, rb)


# ---- notebook 05: the layout explorer -------------------------------------------------------------


def test_layout_image_is_notebook_05_picture_and_results_match_its_code(nb05):
    picture = nb05["picture"]  # (3, 256, 256), read from the shipped file
    explorer = layout_explorer()
    torch.testing.assert_close(explorer.model.source, picture, rtol=0, atol=0)
    torch.testing.assert_close(explorer.model.result(), picture.reshape(256, 256, 3), rtol=0, atol=0)
    explorer.operation_choice.value = "permute"
    assert explorer.args_text.value == "1, 2, 0"
    torch.testing.assert_close(explorer.model.result(), picture.permute(1, 2, 0), rtol=0, atol=0)
    assert "(256, 256, 3), strides (256, 1, 65536), contiguous: no, a view" in explorer.readout.value


def test_layout_channel_map_shows_the_scramble():
    explorer = layout_explorer()  # the picture's reshape(256, 256, 3)
    rows = as_pictures(explorer.model.channel_origin())[0][0]  # (256, 256, 3): channel of each R, G, B
    assert (rows[:85] == 0).all() and (rows[86:170] == 1).all() and (rows[171:] == 2).all()
    explorer.operation_choice.value = "permute"
    pixels = as_pictures(explorer.model.channel_origin())[0][0]
    assert (pixels == torch.arange(3)).all()  # every pixel: R from red, G from green, B from blue


@pytest.mark.parametrize("tensor", ["image (C, H, W)", "batch (N, C, H, W)", "clip (T, C, H, W)"])
@pytest.mark.parametrize("operation", ["reshape", "permute", "transpose", "unsqueeze"])
def test_layout_origin_maps_say_where_each_value_came_from(tensor, operation):
    model = LayoutModel(tensor, operation)
    result = model.result()
    where = [model.origin(dim) for dim in range(model.source.ndim)]  # each result-shaped
    assert all(w.shape == result.shape for w in where)
    torch.testing.assert_close(model.source[tuple(where)], result, rtol=0, atol=0)


def test_layout_clip_permute_keeps_frames_and_reshape_scrambles_them():
    explorer = layout_explorer("clip (T, C, H, W)", "permute")
    clip = explorer.model.source  # (8, 3, 64, 64)
    frames = as_pictures(explorer.model.result())[0]  # read as (C, T, H, W): 8 frames
    assert torch.equal(frames, clip.permute(0, 2, 3, 1))  # each frame as (H, W, C)
    explorer.operation_choice.value = "reshape"
    scrambled = as_pictures(explorer.model.result())[0]
    assert scrambled.shape == frames.shape and not torch.equal(scrambled, frames)


def test_layout_arguments_and_errors():
    explorer = layout_explorer()
    explorer.args_text.value = "256, 256, 4"
    assert explorer.model.error().startswith("RuntimeError: shape '[256, 256, 4]' is invalid")
    assert "RuntimeError" in explorer.readout.value and explorer.frame  # still draws
    explorer.args_text.value = "1, x"
    assert "whole numbers" in explorer.readout.value and explorer.model.args == (256, 256, 4)
    assert parse_args("(1, 2, 0)") == parse_args("1, 2, 0") == (1, 2, 0) and parse_args("0") == (0,)
    with pytest.raises(ValueError):
        parse_args("1.5")
    explorer.tensor_choice.value = "batch (N, C, H, W)"  # a new tensor takes its default arguments
    assert explorer.model.args == (4, 64, 64, 3) and explorer.args_text.value == "4, 64, 64, 3"


# ---- what every reader sees: the bundle, the still figure, the stored notebooks --------------------


@pytest.mark.parametrize("make", [lambda: dose_network_explorer(frame_delay=0), filter_explorer, layout_explorer])
def test_display_bundle_has_widget_still_figure_and_deterministic_text(make):
    explorer = make()
    bundle = explorer._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "image/png", WIDGET_VIEW_MIMETYPE}
    assert bundle[WIDGET_VIEW_MIMETYPE]["model_id"] == explorer.widget.model_id
    text = bundle["text/plain"]
    assert explorer.widget.model_id not in text and "0x" not in text and "\n" not in text
    assert text == make()._repr_mimebundle_()["text/plain"] == repr(explorer)
    png = decode(base64.b64decode(bundle["image/png"]))
    width, height = explorer.figure.canvas.get_width_height()
    assert png.shape == (height, width, 3) and png.std() > 10  # a real picture, not a blank one
    # the live frame (JPEG) shows the same picture as the still one
    assert np.abs(decode(explorer.frame).astype(int) - png).mean() < 3


def test_no_widget_view_without_widgets_and_no_png_in_colab(monkeypatch):
    still = dose_network_explorer(interactive=False)
    assert still.widget is None and set(still._repr_mimebundle_()) == {"text/plain", "image/png"}
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    live = dose_network_explorer()
    assert set(live._repr_mimebundle_()) == {"text/plain", WIDGET_VIEW_MIMETYPE}


def test_explorers_work_without_ipywidgets_installed():
    code = (
        "import sys; sys.modules['ipywidgets'] = None\n"  # import ipywidgets -> ImportError
        "from tensorlab.dose import BACKPROP_PARAMS\n"
        "from tensorlab.interactive import dose_network_explorer\n"
        "e = dose_network_explorer(BACKPROP_PARAMS, frame_delay=0)\n"
        "assert e.widget is None and sorted(e._repr_mimebundle_()) == ['image/png', 'text/plain']\n"
        "e.fit_b3()\n"
        "print(round(e.model.params['b3'], 4))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.6091"


def test_strip_widget_views():
    view = {WIDGET_VIEW_MIMETYPE: {"version_major": 2, "version_minor": 0, "model_id": "ab" * 16}}
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data=dict(view)),
        nbformat.v4.new_output("execute_result", data={**view, "text/plain": "t", "image/png": "AA"}),
        nbformat.v4.new_output("stream", text="hello\n"),
    ]
    notebook.cells = [cell, nbformat.v4.new_markdown_cell("m")]
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    assert strip_widget_views(notebook) == 2
    assert [o.output_type for o in cell.outputs] == ["execute_result", "stream"]
    assert set(cell.outputs[0].data) == {"text/plain", "image/png"} and "widgets" not in notebook.metadata


@pytest.mark.parametrize("name", sorted(EXPLORER_CELLS))
def test_stored_explorer_output_is_the_still_figure_and_text(name):
    notebook = nbformat.read(SOLUTIONS / name, as_version=4)
    assert "widgets" not in notebook.metadata, "widget state stored (make execute-solutions drops it)"
    cell = next(c for c in notebook.cells if c.get("id") == EXPLORER_CELLS[name])
    outputs = [o for o in cell.outputs if o.output_type in ("execute_result", "display_data")]
    assert len(outputs) == 1 and set(outputs[0].data) == {"text/plain", "image/png"}, outputs
    for other in notebook.cells:
        for output in other.get("outputs", []):
            assert WIDGET_VIEW_MIMETYPE not in output.get("data", {}), f"{name}: a stored widget view"


def test_static_html_shows_the_still_figure_even_with_a_widget_view():
    """nbconvert's HTML (what a static page of a notebook is) skips a widget view that has no saved
    state and shows the next representation, the PNG."""
    from nbconvert import HTMLExporter

    bundle = dose_network_explorer(BACKPROP_PARAMS)._repr_mimebundle_()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("dose_network_explorer(BACKPROP_PARAMS)")
    cell.outputs = [nbformat.v4.new_output("execute_result", data=bundle, execution_count=1)]
    notebook.cells = [cell]
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert f'src="data:image/png;base64,{bundle["image/png"][:40]}' in html
    assert bundle[WIDGET_VIEW_MIMETYPE]["model_id"] not in html


def test_importing_the_explorers_does_not_import_torchvision():
    """Notebooks 02 and 04 import tensorlab.interactive; torchvision (seconds to import) is for 05's clip."""
    code = "import sys, tensorlab.interactive; print('torchvision' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
