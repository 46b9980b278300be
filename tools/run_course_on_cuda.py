#!/usr/bin/env python3
"""Run the whole course on a GPU and check that it gives the CPU's answers (notebook 06, section 4).

    python tools/run_course_on_cuda.py --device cuda [--results artifacts/cuda_run]
    python tools/run_course_on_cuda.py --device cpu --notebooks solutions/01_tensors_0d_to_nd.ipynb

On the lent GPU machine, which has PyTorch but no Jupyter, run it through ``tools/gpu_run.sh``: that
script installs the carried wheels (ipykernel, nbclient, PyAV ...) and then runs this one.

What it does, in order:

1. Prints the device (the GPU's name), Python and PyTorch versions.
2. Runs every notebook in solutions/ top to bottom in a fresh Jupyter kernel with ``TENSORLAB_DEVICE``
   set to the device, through ``tensorlab.executing`` -- the course's one notebook executor (nbclient),
   the same kernel and markers as nbval in the test suite. ``--cell-timeout`` is nbclient's per-cell
   limit. A cell marked ``nbval-skip`` is not run; one marked ``raises-exception`` may raise; a
   notebook stops at its first other error (later cells depend on it).
3. Compares what each cell printed (stdout and its result's text; pictures are not compared) with the
   output stored in the solution notebook, which was made on the CPU: the words must match exactly,
   integers (counts, shapes, sizes) too, and every other number within tolerance (``--rtol``, default
   1e-3, plus ``--atol``, plus one unit of the last digit the notebook printed, since a value on the
   edge of a rounding step may round the other way). Cells marked ``nbval-ignore-output`` (timings)
   and cells that describe the machine itself (they call ``torch.cuda.is_available()``,
   ``get_device_name``, ``print_environment_report`` ...) are run but not compared. With
   ``--baseline cpu`` each notebook is also run on the CPU of the same machine and the two runs are
   compared instead, which separates device differences from version differences.
4. Runs the device-dependent tests (the files in tests/ that mention ``cuda``, ``pick_device`` or
   ``TENSORLAB_DEVICE``) with pytest and the same ``TENSORLAB_DEVICE``.
5. Prints a summary and writes, to ``--results``: ``results.json``, ``summary.md``, every executed
   notebook (``executed/``, with the GPU's outputs) and the figures of the notebooks ``--figures``
   names (default 06). It exits 1 on an error, a failed test or a number that differs beyond
   tolerance, 2 when the machine cannot run it (no GPU, no Jupyter kernel), 0 otherwise.

A notebook that imports a package missing on the machine is skipped with the reason, and counts as a
failure unless ``--allow-missing`` is given.
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"
sys.path.insert(0, str(SRC))  # the course package, also where it is not installed (the GPU machine)

# The Jupyter side of the executor; main() says how to get it where it is missing.
KERNEL_PACKAGES = ("nbformat", "nbclient", "jupyter_client", "ipykernel")
if all(importlib.util.find_spec(name) for name in KERNEL_PACKAGES):
    from tensorlab import authoring, executing
else:
    authoring = executing = None

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
TOOL_TESTS = ("test_run_course_on_cuda.py", "test_gpu_run.py")
MISSING_HINTS = {
    "av": "PyAV decodes the course's video (notebook 05); tools/gpu_run.sh carries its wheel",
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
# Running one notebook (tensorlab.executing) and reading what each cell did
# ---------------------------------------------------------------------------------------------


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def is_device_dependent(cell: dict) -> bool:
    source = cell_source(cell)
    return any(call in source for call in DEVICE_DEPENDENT_CALLS)


@dataclass
class CellRun:
    index: int
    status: str  # "ok", "error", "skipped", "raised as expected"
    seconds: float
    output: str = ""  # what is compared: stdout and the result's text (executing.printed_text)
    stderr: str = ""
    error: str = ""
    ignored: bool = False
    device_dependent: bool = False


def cell_runs(execution: executing.Execution) -> list[CellRun]:
    """One entry per code cell up to the one the notebook stopped at (later ones did not run)."""
    runs: list[CellRun] = []
    for index, cell in enumerate(execution.notebook.cells):
        if cell.cell_type != "code":
            continue
        markers = executing.nbval_markers(cell)
        run = CellRun(
            index,
            "ok",
            round(execution.cell_seconds(index) or 0.0, 3),
            ignored="ignore-output" in markers,
            device_dependent=is_device_dependent(cell),
        )
        if "skip" in markers or not cell.source.strip():  # nbclient does not run an empty cell either
            run.status = "skipped"
        elif index not in execution.started:
            break
        else:
            run.output = executing.printed_text(cell)
            run.stderr = executing.stream_text(cell, "stderr")[-3000:]
            errors = [o for o in cell.outputs if o.output_type == "error"]
            if index == execution.error_cell:
                run.status, run.error = "error", execution.error
                run.stderr = (run.stderr + "\n" + execution.details)[-3000:]
            elif errors:
                run.status, run.error = "raised as expected", f"{errors[0].ename}: {errors[0].evalue}"
        runs.append(run)
    return runs


def kernel_env(device: str) -> dict[str, str]:
    """The kernel's environment: this one, with the device chosen and the course package importable."""
    env = dict(os.environ)
    env["TENSORLAB_DEVICE"] = device
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("MPLBACKEND", None)  # the kernel's inline backend is what captures figures
    env["PYTHONPATH"] = os.pathsep.join([str(SRC)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run_notebook(
    path: Path,
    device: str,
    cell_timeout: float | None,
    figures_dir: Path | None = None,
    executed_dir: Path | None = None,
) -> dict:
    """Run one notebook on ``device``; return what each cell did (JSON-ready), and keep what was asked."""
    execution = executing.execute(path, timeout=cell_timeout, env=kernel_env(device))
    if executed_dir is not None:
        executed_dir.mkdir(parents=True, exist_ok=True)
        executing.write_notebook(execution.notebook, executed_dir / path.name)
    if figures_dir is not None:
        save_figures(execution.notebook, path.stem[:2], figures_dir)
    crash = execution.error if execution.error and execution.error_cell is None else None
    return {
        "notebook": path.name,
        "seconds": round(execution.seconds, 1),
        "crash": crash,
        "cells": [asdict(run) for run in cell_runs(execution)],
    }


def save_figures(notebook, prefix: str, folder: Path) -> list[Path]:
    """Every PNG the executed notebook shows, as ``<prefix>_cell<index>_<n>.png``."""
    written = []
    for index, cell in enumerate(notebook.cells):
        pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        for number, png in enumerate(pngs, start=1):
            folder.mkdir(parents=True, exist_ok=True)
            written.append(folder / f"{prefix}_cell{index:03d}_{number}.png")
            written[-1].write_bytes(base64.b64decode(png))
    return written


def strip_magics(source: str) -> str:
    """IPython's %magics and !shell lines are not Python: each becomes `pass`, so the cell parses."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append(line[: len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


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


def missing_modules(modules: set[str]) -> list[str]:
    """Modules that cannot be imported here (the kernel sees what this process sees, and src/)."""
    return sorted(m for m in modules if importlib.util.find_spec(m) is None)


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
        expected = base_output.get(index) if baseline is not None else executing.printed_text(cells[index])
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

    The tests of this script and of tools/gpu_run.sh are left out: they check these tools on the CPU,
    whatever the device, and the second would start this run again from within itself.
    """
    pattern = re.compile(r"cuda|pick_device|TENSORLAB_DEVICE")
    return sorted(
        p
        for p in tests_dir.glob("test_*.py")
        if p.name not in TOOL_TESTS and pattern.search(p.read_text(encoding="utf-8"))
    )


def run_device_tests(device: str, timeout: float) -> dict:
    chosen, skipped = [], {}
    local = {"tensorlab", "conftest"} | {p.stem for p in (ROOT / "tests").glob("*.py")}  # the tests' own helpers
    for path in device_tests(ROOT / "tests"):
        missing = missing_modules(file_imports(path) - local)
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
        proc = subprocess.run(
            command,
            env={**kernel_env(device), "MPLBACKEND": "Agg"},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
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
        "- each notebook run in a fresh Jupyter kernel (tensorlab.executing, nbclient)",
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
        help="folder for results.json, summary.md, executed/ and figures/ (default artifacts/cuda_run)",
    )
    parser.add_argument(
        "--baseline",
        choices=("stored", "cpu"),
        default="stored",
        help="compare with the stored CPU outputs (default) or with a CPU run here",
    )
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--atol", type=float, default=1e-6)
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=300,
        help="nbclient's limit for one cell, in seconds (default 300, as nbval's in the tests)",
    )
    parser.add_argument(
        "--tests-timeout", type=float, default=900, help="seconds for the device-dependent tests together (default 900)"
    )
    parser.add_argument("--no-tests", action="store_true", help="skip the device-dependent tests")
    parser.add_argument("--skip-notebooks", action="store_true", help="run only the device-dependent tests")
    parser.add_argument(
        "--allow-missing", action="store_true", help="a notebook skipped for a missing package does not fail the run"
    )
    parser.add_argument(
        "--figures", nargs="*", default=["06"], help="save the figures of these notebooks (by number; default 06)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if executing is None:
        missing = [name for name in KERNEL_PACKAGES if importlib.util.find_spec(name) is None]
        print(
            f"This Python lacks {', '.join(missing)}, which run the notebooks in a Jupyter kernel. On a "
            "machine without Jupyter (the lent GPU machine), run `bash tools/gpu_run.sh`, which installs "
            "them from carried wheels first (README, 'The whole course on a GPU')."
        )
        return 2
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
    results_dir.mkdir(parents=True, exist_ok=True)
    sanitizers = load_sanitizers()
    paths = [p.resolve() for p in (args.notebooks or authoring.solution_paths())]
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
        missing = missing_modules(notebook_imports(path))
        if missing:
            why = "; ".join(MISSING_HINTS.get(m, f"{m} is not installed") for m in missing)
            result = NotebookResult(path.name, status="skipped", reason=f"needs {', '.join(missing)}: {why}")
            print(f"{path.name}: SKIPPED ({result.reason})", flush=True)
            results.append(result)
            continue
        figures = results_dir / "figures" if path.name[:2] in (args.figures or []) else None
        run = run_notebook(path, args.device, args.cell_timeout, figures, results_dir / "executed")
        baseline = run_notebook(path, "cpu", args.cell_timeout) if args.baseline == "cpu" else None
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
        else run_device_tests(args.device, args.tests_timeout)
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
