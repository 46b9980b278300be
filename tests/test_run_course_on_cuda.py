"""tools/run_course_on_cuda.py, checked on the CPU: its comparison, its notebook runs and its verdicts.

The script's job is to run the course on a GPU; everything it does except choosing the device runs
the same way on the CPU, so it is tested here: on small notebooks made for the test (each run in a
real Jupyter kernel through tensorlab.executing, as on the GPU), and end to end on notebook 01 with
``--device cpu`` against the outputs stored in solutions/. tests/test_gpu_run.py runs it the way the
GPU machine does, from a Python without Jupyter.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "run_course_on_cuda.py"


def load_script():
    spec = importlib.util.spec_from_file_location("run_course_on_cuda", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


rc = load_script()


def code_cell(source: str, stdout: str | None = None) -> dict:
    outputs = [] if stdout is None else [{"output_type": "stream", "name": "stdout", "text": stdout}]
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": outputs, "execution_count": 1}


def write_notebook(path: Path, cells: list[dict]) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
    return path


# --- comparing printed text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expected, got",
    [
        ("loss 0.1235 after 3 steps\n", "loss 0.1235 after 3 steps\n"),
        ("loss 0.1235\n", "loss 0.1236\n"),  # the last printed digit may round the other way
        ("loss 0.1235\n", "loss 0.12351\n"),  # within rtol
        ("a  b\n c\n", "a b c"),  # whitespace does not count
        ("tensor([0.5000, 1.0000])\n", "tensor([0.5000, 1.0000], device='cuda:0')\n"),
        ("shape=(3,)  device=cpu  bytes=12", "shape=(3,)  device=cuda  bytes=12"),
        ("values 196,608", "values 196,608"),
        ("-0.0000", "0.0000"),
        ("ssr 2.87e-07", "ssr 2.88e-07"),
        ("<object at 0x7f3a2c1b5e50>", "<object at 0x7f00000000ab>"),  # tests/nbval_sanitize.cfg
    ],
)
def test_outputs_that_agree(expected, got):
    assert rc.compare_text(expected, got, sanitizers=rc.load_sanitizers()) == []


@pytest.mark.parametrize(
    "expected, got, what",
    [
        ("loss 0.1235\n", "loss 0.2235\n", "number off by 0.1"),
        ("accuracy 36/36", "accuracy 35/36", "number off by 1"),  # counts have no rounding slack
        ("values 196,608", "values 196,609", "number off by 1"),  # integers must be equal
        ("7 steps", "7.0 steps", "number format"),
        ("equal: True", "equal: False", "text"),
        ("[1.0, 2.0]", "[1.0, 2.0, 3.0]", "text"),
        ("ssr 2.87e-07", "ssr 3.5e-07", "number off by 6.3e-08"),
    ],
)
def test_outputs_that_differ(expected, got, what):
    differences = rc.compare_text(expected, got, atol=0.0)
    assert differences and differences[0].what.startswith(what), differences


def test_last_digit_unit():
    assert [rc.last_digit_unit(t) for t in ("0.1235", "12.5", "42", "196,608", "2.87e-07", "1e3")] == pytest.approx(
        [1e-4, 0.1, 0.0, 0.0, 1e-9, 1e3]
    )


# --- running cells (in a real kernel, through tensorlab.executing) ----------------------------------


def test_cells_run_in_a_kernel_with_markers_magics_results_figures_and_a_stop_at_the_first_error(tmp_path):
    path = write_notebook(
        tmp_path / "99_made_up.ipynb",
        [
            {"cell_type": "markdown", "metadata": {}, "source": "# title"},
            code_cell("x = 2\nprint('x is', x)"),
            code_cell("%matplotlib inline\nx * 21"),
            code_cell("# NBVAL_IGNORE_OUTPUT\nimport time\nprint(time.time())"),
            code_cell("# NBVAL_SKIP\nraise RuntimeError('never run')"),
            {**code_cell("1 / 0"), "metadata": {"tags": ["raises-exception"]}},
            code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"),
            code_cell("import os, torch\nprint(torch.cuda.is_available(), os.environ['TENSORLAB_DEVICE'])"),
            code_cell("from IPython.display import display\ndisplay('shown')\nprint('printed')"),
            code_cell("raise ValueError('boom')"),
            code_cell("print('never reached')", "stale output that must not count as run\n"),
        ],
    )
    run = rc.run_notebook(
        path, "cpu", cell_timeout=120, figures_dir=tmp_path / "figures", executed_dir=tmp_path / "executed"
    )
    assert run["crash"] is None
    by_index = {r["index"]: r for r in run["cells"]}
    assert by_index[1]["output"] == "x is 2\n" and by_index[1]["status"] == "ok"
    assert by_index[2]["output"] == "42\n"  # the last expression is shown, as Jupyter does
    assert by_index[3]["ignored"] and not by_index[1]["ignored"]
    assert by_index[4]["status"] == "skipped"
    assert by_index[5]["status"] == "raised as expected" and "ZeroDivisionError" in by_index[5]["error"]
    assert by_index[7]["device_dependent"] and by_index[7]["output"] == "False cpu\n"
    assert by_index[8]["output"] == "printed\n"  # displayed objects are not compared, prints are
    assert by_index[9]["status"] == "error" and by_index[9]["error"] == "ValueError: boom"
    assert "raise ValueError('boom')" in by_index[9]["stderr"]  # the traceback comes with it
    assert 10 not in by_index  # later cells depend on the failed one
    assert [p.name for p in (tmp_path / "figures").iterdir()] == ["99_cell006_1.png"]
    executed = json.loads((tmp_path / "executed" / "99_made_up.ipynb").read_text())
    assert executed["cells"][10]["outputs"] == [] and "".join(executed["cells"][1]["outputs"][0]["text"]) == "x is 2\n"


def test_a_cell_that_runs_too_long_is_stopped_by_nbclient_and_reported(tmp_path):
    path = write_notebook(
        tmp_path / "97_slow.ipynb", [code_cell("print('first')", "first\n"), code_cell("import time\ntime.sleep(60)")]
    )
    run = rc.run_notebook(path, "cpu", cell_timeout=2)
    assert [(c["index"], c["status"]) for c in run["cells"]] == [(0, "ok"), (1, "error")]
    assert run["cells"][1]["error"] == "timed out after 2 s"


def test_judging_a_run_against_stored_outputs(tmp_path):
    path = write_notebook(
        tmp_path / "98_judged.ipynb",
        [
            code_cell("print(round(2 / 3, 4))", "0.6667\n"),
            code_cell("print(round(2 / 3, 4))", "0.6767\n"),  # a stored number that is wrong
            code_cell("# NBVAL_IGNORE_OUTPUT\nprint(round(2 / 3, 4))", "123\n"),  # ignored: not compared
            code_cell("print('same words')", "other words\n"),
            {**code_cell("print('never executed')"), "execution_count": None},  # no stored output at all
        ],
    )
    run = rc.run_notebook(path, "cpu", cell_timeout=120)
    result = rc.judge_notebook(path, run, None, rtol=1e-3, atol=1e-6, sanitizers=[])
    assert result.status == "failed"
    assert (result.cells_run, result.cells_compared, result.cells_not_compared) == (5, 3, 1)
    assert [(p["cell"], p["kind"]) for p in result.problems] == [(1, "mismatch"), (3, "mismatch"), (4, "not executed")]
    assert result.problems[0]["expected"] == "0.6767" and result.problems[0]["got"] == "0.6667"


def test_device_dependent_tests_are_found_and_the_tools_own_tests_are_not_among_them():
    names = [p.name for p in rc.device_tests(ROOT / "tests")]
    assert "test_hardware.py" in names
    assert "test_run_course_on_cuda.py" not in names and "test_gpu_run.py" not in names  # no run within a run


# --- the command ---------------------------------------------------------------------------------


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_the_command_fails_on_a_wrong_number_and_skips_a_notebook_whose_package_is_missing(tmp_path):
    good = write_notebook(tmp_path / "90_good.ipynb", [code_cell("print(round(2 / 3, 4))", "0.6667\n")])
    bad = write_notebook(tmp_path / "91_bad.ipynb", [code_cell("print(round(2 / 3, 4))", "0.6767\n")])
    needs = write_notebook(tmp_path / "92_needs.ipynb", [code_cell("import surely_not_installed_pkg", "")])
    out = run_script(
        "--device", "cpu", "--no-tests", "--results", str(tmp_path / "r1"), "--notebooks", str(good), str(bad)
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "90_good.ipynb: PASSED" in out.stdout and "91_bad.ipynb: FAILED" in out.stdout
    assert "expected '0.6767', got '0.6667'" in out.stdout
    results = json.loads((tmp_path / "r1" / "results.json").read_text())
    assert results["ok"] is False and [n["status"] for n in results["notebooks"]] == ["passed", "failed"]
    assert "FAILED" in (tmp_path / "r1" / "summary.md").read_text()

    out = run_script("--device", "cpu", "--no-tests", "--results", str(tmp_path / "r2"), "--notebooks", str(needs))
    assert out.returncode == 1 and "SKIPPED (needs surely_not_installed_pkg" in out.stdout
    out = run_script(
        "--device",
        "cpu",
        "--no-tests",
        "--allow-missing",
        "--results",
        str(tmp_path / "r3"),
        "--notebooks",
        str(needs),
        str(good),
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU, so --device cuda would run")
def test_asking_for_cuda_without_a_gpu_says_so(tmp_path):
    out = run_script("--device", "cuda", "--results", str(tmp_path))
    assert out.returncode == 2 and "no CUDA GPU is visible" in out.stdout


def test_notebook_01_on_the_cpu_reproduces_its_stored_outputs(tmp_path):
    notebook = ROOT / "solutions" / "01_tensors_0d_to_nd.ipynb"
    out = run_script("--device", "cpu", "--no-tests", "--results", str(tmp_path), "--notebooks", str(notebook))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    (entry,) = results["notebooks"]
    code_cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    assert results["ok"] and entry["status"] == "passed" and entry["cells_compared"] >= 20
    assert entry["cells_run"] == len(code_cells)  # every cell ran, none was left out
    assert results["machine"]["device"] == "cpu"
    assert (tmp_path / "executed" / notebook.name).exists()
