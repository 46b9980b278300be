"""Run a notebook in a fresh kernel for tests (shared by the student-notebook tests)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute_notebook(path: Path, timeout: int = 300, cwd: Path | None = None,
                     env_device: str = "cpu") -> nbformat.NotebookNode:
    """Execute ``path`` top to bottom (not in place) and return the executed notebook.

    Raises AssertionError naming the failing cell and its error if any cell raises.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        raise AssertionError(f"{path.name} failed while running top to bottom:\n{error}") from None
    return notebook


def stream_text(cell: nbformat.NotebookNode, name: str = "stdout") -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == name)
