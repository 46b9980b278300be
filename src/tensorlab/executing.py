"""The course's one way to run a notebook: nbclient, in a fresh Jupyter kernel.

Everything that executes a notebook goes through :func:`execute` -- ``make execute-solutions``
(``tensorlab.authoring``), the whole-course GPU run (``tools/run_course_on_cuda.py``), the
measurements (``tools/measure_notebooks.py``) and the student-notebook tests
(``tests/notebook_runner.py``) -- or through nbval, which the test suite runs on solutions/ and which
drives the same nbclient and jupyter_client underneath. Starting and stopping the kernel, per-cell
timeouts (and, with ``interrupt_on_timeout``, interrupts), a kernel that dies: all of that is
nbclient's and jupyter_client's, configured through :func:`execute`'s keyword arguments. What this
module adds is small:

* nbval's cell markers are honoured the way nbval reads them (:func:`nbval_markers`): a cell marked
  ``nbval-skip`` / ``# NBVAL_SKIP`` is not run, and one marked ``raises-exception`` /
  ``# NBVAL_RAISES_EXCEPTION`` may raise -- so a notebook runs here exactly as it runs under nbval;
* the notebook is run as a copy with every stored output cleared first, so an output left from an
  earlier run can never pass for a new one, and the file on disk is never touched;
* the outcome comes back as data (:class:`Execution`) rather than an exception: the executed copy,
  which cells were started, how long each took, and the first error in one line.

Needs nbformat, nbclient, jupyter_client and ipykernel (the ``notebooks`` extra in pyproject.toml). A
machine without them -- the lent GPU machine -- gets them as wheels from ``tools/gpu_run.sh``.
"""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

# nbval's markers: a comment line anywhere in the cell, or a cell tag (nbval/plugin.py reads both;
# tests/test_executing.py checks that these tables agree with it).
NBVAL_COMMENTS = {
    "NBVAL_SKIP": "skip",
    "NBVAL_IGNORE_OUTPUT": "ignore-output",
    "PYTEST_VALIDATE_IGNORE_OUTPUT": "ignore-output",
    "NBVAL_CHECK_OUTPUT": "check-output",
    "NBVAL_RAISES_EXCEPTION": "raises-exception",
}
NBVAL_TAGS = {comment.lower().replace("_", "-"): marker for comment, marker in NBVAL_COMMENTS.items()}
NBVAL_TAGS["raises-exception"] = "raises-exception"  # nbclient's own tag, which nbval reads too

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DEFAULT_CELL_TIMEOUT = 300  # seconds, as the test suite gives nbval (pyproject.toml)


def nbval_markers(cell: Mapping) -> frozenset[str]:
    """The nbval markers of one cell: a subset of skip, ignore-output, check-output, raises-exception."""
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    found = set()
    for line in source.splitlines():
        line = line.strip()
        if line.startswith("#") and line.lstrip("#").strip() in NBVAL_COMMENTS:
            found.add(NBVAL_COMMENTS[line.lstrip("#").strip()])
    tags = cell.get("metadata", {}).get("tags", [])
    found.update(NBVAL_TAGS[tag] for tag in tags if tag in NBVAL_TAGS)
    return frozenset(found)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    nbformat.write(notebook, path)


@dataclass
class Execution:
    """What running one notebook gave.

    ``notebook`` is the executed copy: cells that were not run (skipped, or after the first error)
    have no outputs and no execution count. ``error`` is None when every cell ran; otherwise one
    line ("ZeroDivisionError: division by zero", "timed out after 300 s", "the kernel died"), with
    ``error_cell`` the index of the cell (None when the kernel never started) and ``details``
    nbclient's full message (the cell's traceback).
    """

    notebook: nbformat.NotebookNode
    seconds: float
    started: list[int] = field(default_factory=list)  # indices of the cells sent to the kernel
    error: str | None = None
    error_cell: int | None = None
    details: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe_error(self, name: str = "the notebook") -> str:
        where = f"cell {self.error_cell}" if self.error_cell is not None else "starting the kernel"
        return f"{name}, {where}: {self.error}"

    def cell_seconds(self, index: int) -> float | None:
        """Wall time of one cell, from nbclient's timing metadata (None if it did not finish)."""
        timing = self.notebook.cells[index].get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.status.busy"), timing.get("iopub.status.idle")
        if not (start and end):
            return None
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


class _Client(NotebookClient):
    """nbclient, reading nbval's markers as well as its own tags."""

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        markers = nbval_markers(cell)
        if "skip" in markers:
            return cell
        tags = cell.get("metadata", {}).get("tags")
        if "raises-exception" not in markers or "raises-exception" in (tags or []):
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        # nbclient lets a cell raise only by its tag: lend the tag for this run, then put things back.
        cell.setdefault("metadata", {})["tags"] = [*(tags or []), "raises-exception"]
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            if tags is None:
                del cell["metadata"]["tags"]
            else:
                cell["metadata"]["tags"] = tags


def execute(
    notebook: Path | nbformat.NotebookNode,
    *,
    cwd: Path | None = None,
    timeout: int | None = DEFAULT_CELL_TIMEOUT,
    env: Mapping[str, str] | None = None,
    device: str | None = None,
    kernel_name: str = "python3",
    **client_options: Any,
) -> Execution:
    """Run a copy of ``notebook`` top to bottom in a fresh kernel and say what happened.

    ``cwd`` is the kernel's working folder (default: the notebook file's own folder, as in Jupyter; this
    process's for a notebook passed as an object); ``timeout`` is nbclient's per-cell limit in seconds
    (None: no limit); ``env`` is the kernel's whole environment (default: this process's), and
    ``device`` sets ``TENSORLAB_DEVICE`` in it, which ``tensorlab.pick_device`` obeys. Other keyword
    arguments go to ``nbclient.NotebookClient`` (``allow_errors``, ``interrupt_on_timeout``,
    ``startup_timeout``, ``kernel_manager_class``...).
    The kernel is always shut down before this returns.
    """
    if isinstance(notebook, (str, Path)):
        path = Path(notebook)
        cwd = cwd or path.parent
        notebook = read_notebook(path)
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    kernel_env = dict(os.environ if env is None else env)
    if device is not None:
        kernel_env["TENSORLAB_DEVICE"] = device
    started: list[int] = []

    def on_cell_execute(cell, cell_index):
        started.append(cell_index)

    client = _Client(
        notebook,
        timeout=timeout,
        kernel_name=kernel_name,
        on_cell_execute=on_cell_execute,
        resources={"metadata": {"path": str(cwd or Path.cwd())}},
        **client_options,
    )
    result = Execution(notebook, 0.0, started)
    begin = time.perf_counter()
    try:
        client.execute(env=kernel_env)
    except CellExecutionError as error:
        result.error, result.details = _one_line(f"{error.ename}: {error.evalue}"), str(error)
    except CellTimeoutError as error:
        result.error, result.details = f"timed out after {timeout} s", str(error)
    except DeadKernelError as error:
        result.error, result.details = "the kernel died", str(error)
    except (RuntimeError, TimeoutError) as error:  # the kernel did not start, or stopped answering
        result.error, result.details = _one_line(f"{type(error).__name__}: {error}"), str(error)
        if not started:
            result.error = f"the kernel did not start: {result.error}"
    result.seconds = time.perf_counter() - begin
    result.details = _ANSI.sub("", result.details)  # IPython colours its tracebacks
    if result.error is not None and started:
        result.error_cell = started[-1]
    return result


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else text.strip()


def stream_text(cell: Mapping, name: str = "stdout") -> str:
    """Everything a cell printed to one stream (``stdout`` or ``stderr``)."""
    return "".join(
        _text(o.get("text", ""))
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == name
    )


def printed_text(cell: Mapping) -> str:
    """What a cell printed and returned, as text: its stdout, then the ``text/plain`` of its result.

    Pictures and other displayed objects are left out (they vary with fonts and library versions).
    """
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts.append(_text(output.get("text", "")))
        elif output.get("output_type") == "execute_result":
            parts.append(_text(output.get("data", {}).get("text/plain", "")) + "\n")
    return "".join(parts)


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value
