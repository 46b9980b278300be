#!/usr/bin/env python3
"""Run the whole course on a GPU and check that it gives the CPU's answers (notebook 06, section 4).

    python tools/run_course_on_cuda.py --device cuda [--results artifacts/cuda_run]
    python tools/run_course_on_cuda.py --device cpu --notebooks solutions/01_tensors_0d_to_nd.ipynb

What it does, in order:

1. Prints the device (the GPU's name), Python and PyTorch versions.
2. Runs every notebook in solutions/ with ``TENSORLAB_DEVICE`` set to the device, each in a fresh Python
   process, cell by cell with ``exec`` -- no Jupyter kernel is needed, so it runs on a GPU machine that
   has PyTorch but no Jupyter, ipykernel or IPython (``IPython.display`` is replaced by a small stand-in
   when missing; figures are drawn with the Agg backend and not compared).
3. Compares what each cell printed with the output stored in the solution notebook, which was made on
   the CPU: the words must match exactly, integers (counts, shapes, sizes) too, and every other number
   within tolerance (``--rtol``, default 1e-3, plus ``--atol``, plus one unit of the last digit the
   notebook printed, since a value on the edge of a rounding step may round the other way). Cells
   marked ``# NBVAL_IGNORE_OUTPUT`` (timings) and cells that describe the machine itself (they call
   ``torch.cuda.is_available()``, ``get_device_name``, ``print_environment_report`` ...) are run but not
   compared; ``# NBVAL_SKIP`` cells are not run.
   With ``--baseline cpu`` each notebook is also run on the CPU of the same machine and the two runs are
   compared instead, which separates device differences from version differences.
4. Runs the device-dependent tests (the files in tests/ that mention ``cuda``, ``pick_device`` or
   ``TENSORLAB_DEVICE``) with pytest and the same ``TENSORLAB_DEVICE``.
5. Prints a summary, writes ``results.json`` and ``summary.md`` (and, with ``--figures``, the figures of
   the notebooks named) to ``--results``, and exits 1 on an error, a failed test or a number that differs
   beyond tolerance, 0 otherwise.

A notebook that imports a package missing on the machine is skipped with the reason, and counts as a
failure unless ``--allow-missing`` is given. Notebook 05 needs PyAV (``av``), which a bare GPU image
may lack: carry its wheel, e.g. ``pip download --no-deps --only-binary=:all: --python-version 3.12
--platform manylinux_2_28_x86_64 -d .whl av==18.1.0`` here and ``pip install --no-index --target
/tmp/site .whl/*.whl`` there, with /tmp/site on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"

IGNORE_MARKERS = ("# NBVAL_IGNORE_OUTPUT",)
IGNORE_TAGS = ("nbval-ignore-output",)
SKIP_MARKERS, SKIP_TAGS = ("# NBVAL_SKIP",), ("nbval-skip",)
RAISES_MARKERS, RAISES_TAGS = ("# NBVAL_RAISES_EXCEPTION",), ("raises-exception",)
# A cell that asks what machine it runs on prints something different on every machine, by design.
DEVICE_DEPENDENT_CALLS = (
    "torch.cuda.is_available",
    "get_device_name",
    "get_device_properties",
    "print_environment_report",
    "describe_device",
    "describe_gpu",
    "torch.__version__",
    "platform.",
)
# Device names in printed text: "device='cuda:0'" in a tensor's repr, "device=cuda" in a table.
DEVICE_SANITIZERS = (
    (re.compile(r",\s*device='(cuda|mps)(:\d+)?'"), ""),
    (re.compile(r"\b(cuda|cpu|mps)(:\d+)?\b"), "<device>"),
)
NUMBER_IS_INTEGER = re.compile(r"[-+]?[\d,]+")
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?")
MISSING_HINTS = {
    "av": "PyAV decodes the course's video (notebook 05); carry its wheel: see this script's docstring",
    "IPython": "IPython is only needed for rich display; this script stubs IPython.display",
}


# ---------------------------------------------------------------------------------------------
# Comparing printed text
# ---------------------------------------------------------------------------------------------


def load_sanitizers(path: Path = SANITIZE_FILE) -> list[tuple[re.Pattern, str]]:
    """The regex/replace pairs of tests/nbval_sanitize.cfg (the ones nbval applies)."""
    pairs: list[tuple[re.Pattern, str]] = []
    if not path.exists():
        return pairs
    regex = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("regex:"):
            regex = line[len("regex:") :].strip()
        elif line.startswith("replace:") and regex is not None:
            pairs.append((re.compile(regex), line[len("replace:") :].strip()))
            regex = None
    return pairs


def sanitize(text: str, sanitizers: list[tuple[re.Pattern, str]] | None = None) -> str:
    for pattern, replacement in list(sanitizers or []) + list(DEVICE_SANITIZERS):
        text = pattern.sub(replacement, text)
    return text


def _number_value(token: str) -> float:
    return float(token.replace(",", ""))


def last_digit_unit(token: str) -> float:
    """One unit of the last printed digit: '0.1235' -> 1e-4, '2.5e-07' -> 1e-8, '42' -> 0."""
    mantissa, _, exponent = token.lower().partition("e")
    if "." not in mantissa:
        return 0.0 if not exponent else 10.0 ** int(exponent)
    decimals = len(mantissa.split(".")[1])
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def split_numbers(text: str) -> tuple[str, list[str]]:
    """('loss # at step #', ['0.25', '3']): the words with numbers replaced by '#', and the numbers."""
    numbers = NUMBER.findall(text)
    skeleton = " ".join(NUMBER.sub("#", text).split())  # whitespace-insensitive
    return skeleton, numbers


@dataclass
class Difference:
    what: str
    expected: str
    got: str


def compare_text(
    expected: str,
    got: str,
    rtol: float = 1e-3,
    atol: float = 1e-6,
    sanitizers: list[tuple[re.Pattern, str]] | None = None,
) -> list[Difference]:
    """What differs between two printed outputs: words exactly, numbers within tolerance.

    A number printed with a decimal point or an exponent agrees when |got - expected| <= atol +
    rtol * |expected| + one unit of the last digit printed. An integer (a count, a shape, a size in
    bytes) must be equal.
    """
    expected_s, got_s = sanitize(expected, sanitizers), sanitize(got, sanitizers)
    skeleton_e, numbers_e = split_numbers(expected_s)
    skeleton_g, numbers_g = split_numbers(got_s)
    if skeleton_e != skeleton_g or len(numbers_e) != len(numbers_g):
        return [Difference("text", _excerpt(expected_s), _excerpt(got_s))]
    differences = []
    for want, have in zip(numbers_e, numbers_g):
        a, b = _number_value(want), _number_value(have)
        if math.isnan(a) and math.isnan(b):
            continue
        exact = bool(NUMBER_IS_INTEGER.fullmatch(want))
        if exact != bool(NUMBER_IS_INTEGER.fullmatch(have)):  # 7 against 7.0: the type changed
            differences.append(Difference("number format", want, have))
            continue
        allowed = 0.0 if exact else atol + rtol * abs(a) + max(last_digit_unit(want), last_digit_unit(have))
        if not abs(a - b) <= allowed:
            differences.append(Difference(f"number off by {abs(a - b):.3g} (allowed {allowed:.3g})", want, have))
    return differences


def _excerpt(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " ..."


# ---------------------------------------------------------------------------------------------
# Running a notebook cell by cell in this process (the child side)
# ---------------------------------------------------------------------------------------------


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _has(cell: dict, markers: tuple[str, ...], tags: tuple[str, ...]) -> bool:
    source = cell_source(cell)
    first_lines = [line.strip() for line in source.splitlines()[:3]]
    cell_tags = cell.get("metadata", {}).get("tags", [])
    return any(m in first_lines for m in markers) or any(t in cell_tags for t in tags)


def is_ignored(cell: dict) -> bool:
    return _has(cell, IGNORE_MARKERS, IGNORE_TAGS)


def is_device_dependent(cell: dict) -> bool:
    source = cell_source(cell)
    return any(call in source for call in DEVICE_DEPENDENT_CALLS)


def stored_text(cell: dict) -> str:
    """What nbval compares of a stored cell, less figures: stdout and the text of a result."""
    parts = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stdout":
            text = output.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else text)
        elif kind == "execute_result":
            text = output.get("data", {}).get("text/plain", "")
            parts.append(("".join(text) if isinstance(text, list) else text) + "\n")
    return "".join(parts)


def strip_magics(source: str) -> str:
    """IPython's %magics and !shell lines have no meaning in plain Python: each becomes `pass`."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append(line[: len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def _install_ipython_stand_in(displayed: list[str]) -> None:
    """A minimal IPython.display for machines without IPython: display() prints the object, as
    IPython's own display() does outside a notebook."""
    if importlib.util.find_spec("IPython") is not None:
        return
    import types

    class _Rich:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

        def __repr__(self):
            return f"<{type(self).__name__}>"

    display_module = types.ModuleType("IPython.display")
    display_module.display = lambda *objects, **_: displayed.extend(str(o) for o in objects)
    for name in ("HTML", "Image", "Video", "Markdown", "Audio", "SVG", "Math", "Latex"):
        setattr(display_module, name, type(name, (_Rich,), {}))
    package = types.ModuleType("IPython")
    package.display = display_module
    package.get_ipython = lambda: None
    sys.modules.setdefault("IPython", package)
    sys.modules.setdefault("IPython.display", display_module)


@dataclass
class CellRun:
    index: int
    status: str  # "ok", "error", "skipped", "raised as expected"
    seconds: float
    output: str = ""
    stderr: str = ""
    error: str = ""
    ignored: bool = False
    device_dependent: bool = False


def run_notebook_cells(path: Path, figures_dir: Path | None = None) -> list[CellRun]:
    """Execute the code cells of ``path`` in order in one namespace, capturing what each prints.

    Stops at the first unexpected error (later cells depend on earlier ones).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notebook = json.loads(path.read_text(encoding="utf-8"))
    namespace: dict = {"__name__": "__main__", "__file__": str(path)}
    displayed: list[str] = []
    _install_ipython_stand_in(displayed)
    namespace["display"] = lambda *objects, **_: displayed.extend(str(o) for o in objects)
    figure_count = [0]
    current_cell = [0]

    def show(*_args, **_kwargs):
        for number in plt.get_fignums():
            if figures_dir is not None:
                figures_dir.mkdir(parents=True, exist_ok=True)
                figure_count[0] += 1
                name = f"{path.stem[:2]}_cell{current_cell[0]:03d}_{figure_count[0]}.png"
                plt.figure(number).savefig(figures_dir / name, dpi=80)
        plt.close("all")

    plt.show = show
    plt.close("all")  # figures left open by whoever called us are not this notebook's
    runs: list[CellRun] = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        current_cell[0] = index
        source = cell_source(cell)
        run = CellRun(index, "ok", 0.0, ignored=is_ignored(cell), device_dependent=is_device_dependent(cell))
        if _has(cell, SKIP_MARKERS, SKIP_TAGS):
            run.status = "skipped"
            runs.append(run)
            continue
        stdout, stderr = io.StringIO(), io.StringIO()
        displayed.clear()
        start = time.perf_counter()
        try:
            tree = ast.parse(strip_magics(source), filename=f"{path.name}, cell {index}")
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                exec(compile(tree, f"{path.name}, cell {index}", "exec"), namespace)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), f"{path.name}, cell {index}", "eval"), namespace)
                    if value is not None and not source.rstrip().endswith(";"):
                        displayed.append(repr(value))
        except BaseException as error:  # a cell may raise anything, SystemExit too
            run.error = "".join(traceback.format_exception_only(type(error), error)).strip()
            run.status = "raised as expected" if _has(cell, RAISES_MARKERS, RAISES_TAGS) else "error"
            if run.status == "error":
                run.stderr = traceback.format_exc()[-3000:]
        run.seconds = time.perf_counter() - start
        run.output = stdout.getvalue() + "".join(text + "\n" for text in displayed)
        run.stderr = (stderr.getvalue() + run.stderr)[-3000:]
        runs.append(run)
        if run.status == "error":
            break
    show()
    return runs


def child_main(path: Path, out: Path, figures_dir: Path | None) -> int:
    os.chdir(path.parent)  # as Jupyter does: relative paths start at the notebook's folder
    started = time.perf_counter()
    runs = run_notebook_cells(path, figures_dir)
    out.write_text(
        json.dumps(
            {"notebook": path.name, "seconds": time.perf_counter() - started, "cells": [asdict(r) for r in runs]}
        ),
        encoding="utf-8",
    )
    return 0


# ---------------------------------------------------------------------------------------------
# The parent: one child process per notebook, then comparison and summary
# ---------------------------------------------------------------------------------------------


def notebook_imports(path: Path) -> set[str]:
    """Top-level modules that the notebook's code cells import (at any depth in the cell)."""
    modules: set[str] = set()
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(strip_magics(cell_source(cell)))
        except SyntaxError:
            continue
        modules |= _imported_modules(tree)
    return modules


def file_imports(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    return _imported_modules(tree)


def _imported_modules(tree: ast.AST) -> set[str]:
    """Top-level names of the modules a parsed piece of code imports (absolute imports only)."""
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def missing_modules(modules: set[str], env_paths: list[str]) -> list[str]:
    """Modules that cannot be imported here (IPython is stubbed, so never counts as missing)."""
    extra = [p for p in env_paths if p and p not in sys.path]
    sys.path[:0] = extra
    try:
        return sorted(m for m in modules if m != "IPython" and importlib.util.find_spec(m) is None)
    finally:
        for p in extra:
            sys.path.remove(p)


def child_env(device: str) -> dict[str, str]:
    env = dict(os.environ)
    env["TENSORLAB_DEVICE"] = device
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join([src] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run_in_child(path: Path, device: str, work: Path, timeout: float, figures_dir: Path | None) -> dict:
    out = work / f"{path.stem}.{device.replace(':', '_')}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(path.resolve()), "--child-out", str(out)]
    if figures_dir is not None:
        command += ["--child-figures", str(figures_dir)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(command, env=child_env(device), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"notebook": path.name, "seconds": timeout, "cells": [], "crash": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out.exists():
        return {
            "notebook": path.name,
            "seconds": time.perf_counter() - started,
            "cells": [],
            "crash": f"the runner exited with {proc.returncode}: {proc.stderr[-2000:]}",
        }
    return json.loads(out.read_text(encoding="utf-8"))


@dataclass
class NotebookResult:
    notebook: str
    status: str = "passed"  # "passed", "failed", "skipped"
    reason: str = ""
    seconds: float = 0.0
    cells_run: int = 0
    cells_compared: int = 0
    cells_not_compared: int = 0
    problems: list[dict] = field(default_factory=list)


def judge_notebook(
    path: Path, run: dict, baseline: dict | None, rtol: float, atol: float, sanitizers: list[tuple[re.Pattern, str]]
) -> NotebookResult:
    """Compare one run with the stored outputs (or with a baseline run) and list what is wrong."""
    result = NotebookResult(path.name, seconds=round(run.get("seconds", 0.0), 1))
    if run.get("crash"):
        result.status, result.reason = "failed", run["crash"]
        return result
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    base_output = {c["index"]: c["output"] for c in (baseline or {}).get("cells", [])}
    for cell_run in run["cells"]:
        index = cell_run["index"]
        if cell_run["status"] == "skipped":
            continue
        result.cells_run += 1
        if cell_run["status"] == "error":
            result.problems.append(
                {"cell": index, "kind": "error", "detail": cell_run["error"], "traceback": cell_run["stderr"]}
            )
            continue
        if cell_run["ignored"] or cell_run["device_dependent"]:
            result.cells_not_compared += 1
            continue
        if baseline is None and cells[index].get("execution_count") is None:
            result.problems.append(
                {
                    "cell": index,
                    "kind": "not executed",
                    "detail": "the solution notebook stores no output for this cell: "
                    "run `make execute-solutions` first",
                }
            )
            continue
        expected = base_output.get(index) if baseline is not None else stored_text(cells[index])
        if expected is None:
            result.problems.append(
                {"cell": index, "kind": "missing", "detail": "the baseline run did not reach this cell"}
            )
            continue
        result.cells_compared += 1
        for difference in compare_text(expected, cell_run["output"], rtol, atol, sanitizers):
            result.problems.append({"cell": index, "kind": "mismatch", **asdict(difference)})
    code_cells = sum(1 for c in cells if c.get("cell_type") == "code")
    if len(run["cells"]) < code_cells and not any(p["kind"] == "error" for p in result.problems):
        result.problems.append(
            {"cell": None, "kind": "incomplete", "detail": f"ran {len(run['cells'])} of {code_cells} code cells"}
        )
    if result.problems:
        result.status = "failed"
        result.reason = f"{len(result.problems)} problem(s)"
    return result


def device_tests(tests_dir: Path) -> list[Path]:
    """The test files that depend on the device: they mention cuda, pick_device or TENSORLAB_DEVICE.

    This script's own test is left out: it checks the script on the CPU, whatever the device.
    """
    pattern = re.compile(r"cuda|pick_device|TENSORLAB_DEVICE")
    return sorted(
        p
        for p in tests_dir.glob("test_*.py")
        if p.name != "test_run_course_on_cuda.py" and pattern.search(p.read_text(encoding="utf-8"))
    )


def run_device_tests(device: str, env_paths: list[str], timeout: float) -> dict:
    chosen, skipped = [], {}
    for path in device_tests(ROOT / "tests"):
        missing = missing_modules(file_imports(path) - {"tensorlab", "notebook_runner", "conftest"}, env_paths)
        if missing:
            skipped[path.name] = f"needs {', '.join(missing)}, not installed here"
        else:
            chosen.append(path)
    if importlib.util.find_spec("pytest") is None:
        return {"status": "skipped", "reason": "pytest is not installed", "files": [], "skipped_files": skipped}
    if not chosen:
        return {
            "status": "passed",
            "reason": "no device-dependent test file can run here",
            "files": [],
            "skipped_files": skipped,
        }
    # -o addopts= drops the project's nbval options (nbval may not be installed on the GPU machine).
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--rootdir",
        str(ROOT),
    ] + [str(p) for p in chosen]
    try:
        proc = subprocess.run(command, env=child_env(device), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {
            "status": "failed",
            "reason": f"timed out after {timeout:.0f} s",
            "files": [p.name for p in chosen],
            "skipped_files": skipped,
        }
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    return {
        "status": "passed" if proc.returncode == 0 else "failed",
        "reason": lines[-1] if lines else f"pytest exited with {proc.returncode}",
        "files": [p.name for p in chosen],
        "skipped_files": skipped,
        "output_tail": proc.stdout[-4000:] if proc.returncode else "",
    }


def describe_machine(device: str) -> dict:
    import torch

    info = {
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
        props = torch.cuda.get_device_properties(torch.device(device))
        info["device_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    else:
        info["device_name"] = platform.processor() or "cpu"
        with contextlib.suppress(Exception):
            sys.path.insert(0, str(ROOT / "src"))
            from tensorlab.hardware import read_cpu_info

            info["device_name"] = read_cpu_info().model_name
    return info


def summary_markdown(machine: dict, results: list[NotebookResult], tests: dict, ok: bool, args) -> str:
    baseline = "a CPU run on the same machine" if args.baseline == "cpu" else "the CPU outputs stored in solutions/"
    lines = [
        f"# The course on `{machine['device']}`: {'PASSED' if ok else 'FAILED'}",
        "",
        f"- device: **{machine['device_name']}**"
        + (f" ({machine.get('device_memory_gib')} GiB, " f"CUDA {machine.get('cuda')})" if "cuda" in machine else ""),
        f"- Python {machine['python']}, PyTorch {machine['torch']}; {machine['platform']}",
        f"- compared with: {baseline}; integers equal, other numbers within rtol={args.rtol} + "
        f"atol={args.atol} + one unit of the last printed digit",
        "",
        "| notebook | result | cells run | compared | not compared (timings, machine info) | seconds | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| `{r.notebook}` | {r.status} | {r.cells_run} | {r.cells_compared} | "
            f"{r.cells_not_compared} | {r.seconds} | {r.reason} |"
        )
    lines += [
        "",
        f"Device-dependent tests ({', '.join(tests.get('files', [])) or 'none'}): "
        f"**{tests['status']}** ({tests.get('reason', '')})",
    ]
    for name, why in tests.get("skipped_files", {}).items():
        lines.append(f"- not run: `{name}`: {why}")
    problems = [(r.notebook, p) for r in results for p in r.problems]
    if problems:
        lines += ["", "## Problems", ""]
        for notebook, p in problems[:50]:
            detail = p.get("detail") or f"{p.get('what')}: expected `{p.get('expected')}`, got `{p.get('got')}`"
            lines.append(f"- `{notebook}` cell {p.get('cell')}: {p['kind']}: {detail}")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:1, or cpu to test this script")
    parser.add_argument("--notebooks", nargs="*", type=Path, help="default: every notebook in solutions/")
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "artifacts" / "cuda_run",
        help="folder for results.json, summary.md and figures (default artifacts/cuda_run)",
    )
    parser.add_argument(
        "--baseline",
        choices=("stored", "cpu"),
        default="stored",
        help="compare with the stored CPU outputs (default) or with a CPU run here",
    )
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--atol", type=float, default=1e-6)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per notebook and for the tests")
    parser.add_argument("--no-tests", action="store_true", help="skip the device-dependent tests")
    parser.add_argument("--skip-notebooks", action="store_true", help="run only the device-dependent tests")
    parser.add_argument(
        "--allow-missing", action="store_true", help="a notebook skipped for a missing package does not fail the run"
    )
    parser.add_argument(
        "--figures", nargs="*", default=["06"], help="save the figures of these notebooks (by number; default 06)"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-figures", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, args.child_out, args.child_figures)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"--device {args.device}: no CUDA GPU is visible to PyTorch {torch.__version__} on this "
            "machine (torch.cuda.is_available() is False). Run it on a GPU machine, or use --device cpu "
            "to check this script against the stored outputs."
        )
        return 2
    machine = describe_machine(args.device)
    print(
        f"device: {args.device} = {machine['device_name']} | Python {machine['python']} | "
        f"PyTorch {machine['torch']}",
        flush=True,
    )
    results_dir = args.results.resolve()
    work = results_dir / "runs"
    work.mkdir(parents=True, exist_ok=True)
    sanitizers = load_sanitizers()
    env_paths = child_env(args.device)["PYTHONPATH"].split(os.pathsep)
    paths = [p.resolve() for p in (args.notebooks or sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")))]
    if args.skip_notebooks:
        paths = []

    def write_results(results: list[NotebookResult], tests: dict | None, ok: bool | None) -> None:
        """Written after every notebook, so a run cut short still leaves what it found."""
        (results_dir / "results.json").write_text(
            json.dumps(
                {
                    "ok": ok,
                    "complete": ok is not None,
                    "machine": machine,
                    "settings": {"rtol": args.rtol, "atol": args.atol, "baseline": args.baseline},
                    "notebooks": [asdict(r) for r in results],
                    "tests": tests,
                },
                indent=2,
            ),
            encoding="utf-8",
        )

    results: list[NotebookResult] = []
    for path in paths:
        missing = missing_modules(notebook_imports(path), env_paths)
        if missing:
            why = "; ".join(MISSING_HINTS.get(m, f"{m} is not installed") for m in missing)
            result = NotebookResult(path.name, status="skipped", reason=f"needs {', '.join(missing)}: {why}")
            print(f"{path.name}: SKIPPED ({result.reason})", flush=True)
            results.append(result)
            continue
        figures = results_dir / "figures" if path.name[:2] in (args.figures or []) else None
        run = run_in_child(path, args.device, work, args.timeout, figures)
        baseline = run_in_child(path, "cpu", work, args.timeout, None) if args.baseline == "cpu" else None
        result = judge_notebook(path, run, baseline, args.rtol, args.atol, sanitizers)
        results.append(result)
        write_results(results, None, None)
        print(
            f"{path.name}: {result.status.upper()} in {result.seconds} s ({result.cells_compared} cells "
            f"compared, {result.cells_not_compared} not compared)" + (f": {result.reason}" if result.reason else ""),
            flush=True,
        )
        for problem in result.problems[:10]:
            detail = (
                problem.get("detail") or f"{problem['what']}: expected {problem['expected']!r}, got {problem['got']!r}"
            )
            print(f"    cell {problem['cell']}: {problem['kind']}: {detail}", flush=True)

    tests = (
        {"status": "skipped", "reason": "--no-tests", "files": []}
        if args.no_tests
        else run_device_tests(args.device, env_paths, args.timeout)
    )
    print(f"device-dependent tests: {tests['status'].upper()} ({tests.get('reason', '')})", flush=True)

    failed = [r for r in results if r.status == "failed" or (r.status == "skipped" and not args.allow_missing)]
    ok = not failed and tests["status"] != "failed"
    write_results(results, tests, ok)
    summary = summary_markdown(machine, results, tests, ok, args)
    (results_dir / "summary.md").write_text(summary, encoding="utf-8")
    print()
    print(summary)
    print(f"results: {results_dir / 'results.json'} and summary.md")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
