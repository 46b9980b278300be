"""A learner's first minutes, in a real browser: `make lab`, notebook 00, Run All, outputs appear.

Starts the README's open command (``make lab``) on a free port with a token, drives Debian's headless
Chromium with Playwright (``make browser`` installs Chromium; Playwright never downloads a browser
here), opens notebooks/00_start_here.ipynb in JupyterLab, runs every cell from the Run menu, waits for
the kernel to finish, checks the environment report and the first tensor in the output area, and saves
a screenshot to artifacts/browser_00_start_here.png. JupyterLab and its kernel run with the network
blocked (tests/offline.py), and the test fails if either tried to reach it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import pytest
from lab_server import running_lab

from tests import offline

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
NOTEBOOK = "notebooks/00_start_here.ipynb"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# JupyterLab settings for a quiet, deterministic run: no autosave (the committed notebook must not
# gain outputs), every cell rendered (no virtual scrolling), no news or update checks (no network).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}
EXPECTED_OUTPUT = [
    "[ok ] torch",
    "[ok ] pair         torch and torchvision work together",
    "All set: nothing to fix.",
    "shape: (3,) | dtype: torch.float32 | device: cpu",
    "[0.0, 1.0, 0.0]",
]

pytestmark = pytest.mark.xdist_group(name="browser")


def playwright_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: run `make venv` (requirements.txt pins it)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: run `make browser` as root (it runs "
            "`apt-get install chromium`); Playwright may not download a browser of its own here"
        )
    return sync_playwright


def run_all_cells(page, lab) -> tuple[list[str], str, int]:
    """Open notebook 00, wait for its kernel, Run > Run All Cells, wait until every cell has run."""
    page.goto(lab.url(f"/lab/tree/{NOTEBOOK}?token={lab.token}"))
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first
    panel.locator(".jp-CodeCell").first.wait_for()
    kernel_idle = page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\(ipykernel\) \| Idle$"))
    kernel_idle.wait_for(timeout=180_000)  # the kernel has started and is waiting
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    outputs = panel.locator(".jp-OutputArea-output")
    for expected in ("All set", "[0.0, 1.0, 0.0]"):  # the environment report, then the last cell
        outputs.filter(has_text=expected).first.wait_for(timeout=300_000)
    kernel_idle.wait_for(timeout=300_000)  # nothing is still running
    prompts = panel.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    text = "\n".join(outputs.all_inner_texts())
    n_errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
    outputs.filter(has_text="All set").first.scroll_into_view_if_needed()  # the screenshot shows the report
    return prompts, text, n_errors


def lab_for_a_browser(tmp_path: Path) -> tuple[str, str, dict[str, str]]:
    """(token, lab_args, env) for ``running_lab``: JupyterLab's settings and runtime files in this test's
    folder, no update check, no network (``offline.blocked_env``), the CPU as the course's device."""
    config = tmp_path / "config"
    for name, values in LAB_SETTINGS.items():
        path = config / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = offline.blocked_env(
        tmp_path / "offline",
        base={
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(config / "lab" / "user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
            "TENSORLAB_DEVICE": "cpu",
        },
    )
    return secrets.token_hex(16), "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", env


def test_make_lab_runs_notebook_00_in_headless_chromium(tmp_path, artifacts_dir):
    sync_playwright = playwright_or_skip()
    notebook_before = (ROOT / NOTEBOOK).read_bytes()
    token, lab_args, env = lab_for_a_browser(tmp_path)
    screenshot = artifacts_dir / "browser_00_start_here.png"
    with running_lab(tmp_path, token, lab_args, env) as lab, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.set_default_timeout(120_000)
            try:
                prompts, text, n_errors = run_all_cells(page, lab)
                page.screenshot(path=str(screenshot))
            except Exception:
                page.screenshot(path=str(artifacts_dir / "browser_00_start_here_FAILED.png"))
                raise
        finally:
            browser.close()
    if (ROOT / NOTEBOOK).read_bytes() != notebook_before:  # never leave outputs in the committed copy
        (ROOT / NOTEBOOK).write_bytes(notebook_before)
        pytest.fail("JupyterLab saved notebook 00 during the test (autosave should be off); restored it")
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    assert prompts and all(p.strip() not in ("[ ]:", "[*]:") for p in prompts), f"cells not all run: {prompts}"
    for expected in EXPECTED_OUTPUT:
        assert expected in text, f"{expected!r} is not in the output area:\n{text}"
    assert "Traceback" not in text and "FIX" not in text and n_errors == 0, text
    log_file = Path(env[offline.LOG_VAR])
    kernels = [
        e for e in offline.read_log(log_file) if e["event"] == "installed" and "ipykernel" in " ".join(e["argv"])
    ]
    assert kernels, "the notebook's kernel did not run with the network blocked"
    assert not offline.refusals(log_file), "JupyterLab or the kernel tried the network:\n" + offline.describe(
        offline.refusals(log_file)
    )
