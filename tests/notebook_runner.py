"""Run a notebook in a fresh kernel for tests (shared by the student-notebook tests).

The kernel runs with the network blocked (``tensorlab.offline``): a cell that tries to connect
anywhere but this machine, or to look a host name up, gets a clear error, and the run fails even if
the notebook caught that error and carried on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tensorlab import offline


def execute_notebook(
    path: Path, timeout: int = 300, cwd: Path | None = None, env_device: str = "cpu", block_network: bool = True
) -> nbformat.NotebookNode:
    """Execute ``path`` top to bottom (not in place) and return the executed notebook.

    Raises AssertionError naming the failing cell and its error if any cell raises, and (with
    ``block_network``, the default) if the notebook tried to reach the network at all.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd or path.parent)}}
    )
    with tempfile.TemporaryDirectory(prefix="tensorlab-offline-") as workdir:
        env = offline.blocked_env(Path(workdir)) if block_network else None
        try:
            client.execute(**({"env": env} if env else {}))
        except CellExecutionError as error:
            raise AssertionError(f"{path.name} failed while running top to bottom:\n{error}") from None
        if block_network:
            assert_ran_offline(Path(env[offline.LOG_VAR]), path.name)
    return notebook


def assert_ran_offline(log: Path, name: str) -> None:
    """The kernel had the network guard installed, and nothing in it tried to reach the network."""
    entries = offline.read_log(log)
    kernels = [e for e in entries if e["event"] == "installed" and "ipykernel" in " ".join(e["argv"])]
    assert kernels, f"{name}: the kernel ran without the network guard (tensorlab.offline); log: {entries}"
    refused = offline.refusals(log)
    assert not refused, (
        f"{name} tried to reach the network (refused; the course must run offline):\n" + offline.describe(refused)
    )


def stream_text(cell: nbformat.NotebookNode, name: str = "stdout") -> str:
    return "".join(
        o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == name
    )
