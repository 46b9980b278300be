"""The explorers in a real browser: `make lab`, notebooks 02 and 04, Run All, move a slider, watch.

Like tests/test_browser.py (whose settings and helpers this reuses): ``make lab`` on a free port,
Debian's headless Chromium driven by Playwright, the network blocked for JupyterLab and its kernels,
autosave off and the notebooks checked byte for byte afterwards. For each notebook (the student
copies learners open) it runs every cell, checks that the explorer came up as a live widget (not the
still figure of the fallback), moves one slider by typing into its readout as a learner can, and
waits until the text beside the figure shows the value that the explorer's model computes for the
new setting; the figure must have changed. Notebook 02 also resets and presses "fit b3 only", which
must end at notebook 02's b3 = 2.6091. Screenshots of each explorer, before and after, go to
artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from lab_server import running_lab
from test_browser import CHROMIUM, CHROMIUM_FLAGS, lab_for_a_browser, playwright_or_skip

from tensorlab.dose import BACKPROP_PARAMS
from tensorlab.interactive.convolution import ConvModel
from tensorlab.interactive.dose import DoseModel
from tests import offline

ROOT = Path(__file__).resolve().parents[1]
DOSE_NOTEBOOK = "notebooks/02_single_dose_network.ipynb"
FILTER_NOTEBOOK = "notebooks/04_x_or_o_cnn.ipynb"
NEW_W1 = 1.5  # notebook 02: w1 typed into its slider's readout
NEW_POSITION = 7  # notebook 04: the filter's position typed into its slider's readout (window at (1, 3))
TIMINGS: dict[str, object] = {}  # written to artifacts/browser_widgets_timing.json, for a look

pytestmark = pytest.mark.xdist_group(name="browser")


def open_and_run_all(page, lab, notebook: str, workspace: str):
    """Open ``notebook`` in its own workspace, Run All Cells, wait for the explorer and the idle kernel."""
    page.goto(lab.url(f"/lab/workspaces/{workspace}/tree/{notebook}?token={lab.token}"))
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first
    panel.locator(".jp-CodeCell").first.wait_for()
    kernel_idle = page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\(ipykernel\) \| Idle$"))
    kernel_idle.wait_for(timeout=180_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    explorer = panel.locator(".tensorlab-explorer")
    explorer.wait_for(timeout=300_000)  # the widget itself, rendered by JupyterLab's widget manager
    # Every cell has run when every prompt shows a number. (The kernel's status alone is no sign: it
    # reads Idle for a moment between two cells of Run All.)
    page.wait_for_function(
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
        }""",
        timeout=300_000,
        polling=500,
    )
    kernel_idle.wait_for(timeout=300_000)
    explorer.scroll_into_view_if_needed()
    prompts = panel.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts), f"cells not all run: {prompts}"
    errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.all_inner_texts()
    return panel, explorer


def type_into_readout(slider, value) -> None:
    """What a learner can do: click the number beside a slider and type a new one (then press Enter)."""
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.fill(str(value))


def figure_changes(page, explorer, action, timeout_s: float = 60) -> tuple[bytes, bytes, float]:
    """Screenshots of the explorer's figure before and after ``action``, waiting for a new frame; and
    the seconds from the action to the new frame (browser to kernel and back; noted, never judged)."""
    figure = explorer.locator("img.tensorlab-figure")
    before_src, before = figure.get_attribute("src"), figure.screenshot()
    start = time.perf_counter()
    action()
    page.wait_for_function(
        "([el, src]) => el.getAttribute('src') !== src",
        arg=[figure.element_handle(), before_src],
        timeout=timeout_s * 1000,
        polling=10,
    )
    return before, figure.screenshot(), time.perf_counter() - start


def check_dose_explorer(page, explorer, artifacts_dir: Path) -> None:
    ssr_text = explorer.locator(".tensorlab-ssr")
    start = DoseModel(BACKPROP_PARAMS)
    assert f"SSR = {start.ssr():.4f}" in ssr_text.inner_text()  # the cell starts at b3 = 0: 20.4236
    explorer.screenshot(path=str(artifacts_dir / "browser_02_dose_explorer_start.png"))
    moved = DoseModel(BACKPROP_PARAMS)
    moved.set(w1=NEW_W1)
    expected = f"SSR = {moved.ssr():.4f}"
    assert expected != f"SSR = {start.ssr():.4f}"  # the text must change to a value only the new w1 gives
    type_into_readout(explorer.locator(".tensorlab-slider-w1"), NEW_W1)
    before, after, seconds = figure_changes(page, explorer, lambda: page.keyboard.press("Enter"))
    TIMINGS["02: Enter after typing w1 -> new frame shown (s)"] = round(seconds, 3)
    ssr_text.filter(has_text=expected).wait_for(timeout=60_000)
    assert before != after, "the figure did not change when w1 moved"
    explorer.screenshot(path=str(artifacts_dir / "browser_02_dose_explorer_w1.png"))
    # reset, then fit b3 only: the animation ends at notebook 02's hand-computed value
    explorer.get_by_role("button", name="reset").click()
    ssr_text.filter(has_text=f"SSR = {start.ssr():.4f}").wait_for(timeout=60_000)
    explorer.get_by_role("button", name="fit b3 only").click()
    fitted = DoseModel(BACKPROP_PARAMS)
    steps = fitted.fit_b3()
    status = explorer.locator(".tensorlab-status")
    status.filter(has_text=f"stopped after {len(steps)} steps: b3 = {fitted.params['b3']:.4f}").wait_for(
        timeout=120_000
    )
    assert f"{fitted.params['b3']:.4f}" == "2.6091"
    ssr_text.filter(has_text=f"SSR = {fitted.ssr():.4f}").wait_for(timeout=60_000)
    explorer.screenshot(path=str(artifacts_dir / "browser_02_dose_explorer_fit_b3.png"))


def check_filter_explorer(page, explorer, artifacts_dir: Path) -> None:
    readout = explorer.locator(".tensorlab-readout")
    start = ConvModel()
    row, col = start.window()
    assert f"window at row {row}, column {col}" in readout.inner_text()
    explorer.screenshot(path=str(artifacts_dir / "browser_04_filter_explorer_start.png"))
    moved = ConvModel(position=NEW_POSITION)
    row, col = moved.window()
    expected = f"= {moved.cell_value():.2f} -> feature-map cell ({row}, {col})"
    # a window whose cell differs from the starting one (-2.00 against 1.00): a readout that kept the
    # old value under the new label would not pass
    assert f"{moved.cell_value():.2f}" != f"{start.cell_value():.2f}"
    type_into_readout(explorer.locator(".tensorlab-position"), NEW_POSITION)
    before, after, seconds = figure_changes(page, explorer, lambda: page.keyboard.press("Enter"))
    TIMINGS["04: Enter after typing the position -> new frame shown (s)"] = round(seconds, 3)
    readout.filter(has_text=expected).wait_for(timeout=60_000)
    assert f"window at row {row}, column {col}" in readout.inner_text()
    assert before != after, "the figure did not change when the filter moved"
    explorer.screenshot(path=str(artifacts_dir / f"browser_04_filter_explorer_position{NEW_POSITION}.png"))


def test_explorers_move_in_make_lab(tmp_path, artifacts_dir):
    sync_playwright = playwright_or_skip()
    notebooks_before = {nb: (ROOT / nb).read_bytes() for nb in (DOSE_NOTEBOOK, FILTER_NOTEBOOK)}
    token, lab_args, env = lab_for_a_browser(tmp_path)
    try:
        with running_lab(tmp_path, token, lab_args, env) as lab, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1400})
                page.set_default_timeout(120_000)
                for notebook, workspace, check in (
                    (DOSE_NOTEBOOK, "dose", check_dose_explorer),
                    (FILTER_NOTEBOOK, "filter", check_filter_explorer),
                ):
                    try:
                        _, explorer = open_and_run_all(page, lab, notebook, workspace)
                        check(page, explorer, artifacts_dir)
                    except Exception:
                        page.screenshot(path=str(artifacts_dir / f"browser_{Path(notebook).stem}_FAILED.png"))
                        raise
            finally:
                browser.close()
                TIMINGS["load average (1, 5, 15 min)"] = [round(x, 1) for x in os.getloadavg()]
                (artifacts_dir / "browser_widgets_timing.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
    finally:
        saved = [nb for nb, content in notebooks_before.items() if (ROOT / nb).read_bytes() != content]
        for nb in saved:  # never leave outputs in the committed copies
            (ROOT / nb).write_bytes(notebooks_before[nb])
        assert not saved, f"JupyterLab saved {saved} during the test (autosave should be off); restored"
    log_file = Path(env[offline.LOG_VAR])
    kernels = [
        e for e in offline.read_log(log_file) if e["event"] == "installed" and "ipykernel" in " ".join(e["argv"])
    ]
    assert len(kernels) >= 2, "the notebooks' kernels did not run with the network blocked"
    assert not offline.refusals(log_file), "JupyterLab or a kernel tried the network:\n" + offline.describe(
        offline.refusals(log_file)
    )
