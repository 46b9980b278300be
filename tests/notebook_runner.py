"""Run a notebook in a fresh kernel for tests (shared by the student-notebook tests).

It is the course's one notebook executor (``tensorlab.executing``), with the kernel's network
blocked (``tests/offline.py``): a cell that tries to connect anywhere but this machine, or to look a
host name up, gets a clear error, and the run fails even if the notebook caught that error and
carried on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat

from tensorlab import executing
from tensorlab.executing import stream_text
from tests import offline

__all__ = ["execute_notebook", "assert_ran_offline", "stream_text"]  # stream_text: the tests read outputs


def execute_notebook(
    path: Path, timeout: int = 300, cwd: Path | None = None, env_device: str = "cpu", block_network: bool = True
) -> nbformat.NotebookNode:
    """Execute ``path`` top to bottom (not in place) and return the executed notebook.

    Raises AssertionError naming the failing cell and its error if any cell raises, and (with
    ``block_network``, the default) if the notebook tried to reach the network at all.
    """
    with tempfile.TemporaryDirectory(prefix="tensorlab-offline-") as workdir:
        env = offline.blocked_env(Path(workdir)) if block_network else None
        execution = executing.execute(path, cwd=cwd, timeout=timeout, env=env, device=env_device)
        if not execution.ok:
            raise AssertionError(
                f"{execution.describe_error(path.name)} (running top to bottom)\n" f"{execution.details}"
            )
        if block_network:
            assert_ran_offline(Path(env[offline.LOG_VAR]), path.name)
    return execution.notebook


def assert_ran_offline(log: Path, name: str) -> None:
    """The kernel had the network guard installed, and nothing in it tried to reach the network."""
    entries = offline.read_log(log)
    kernels = [e for e in entries if e["event"] == "installed" and "ipykernel" in " ".join(e["argv"])]
    assert kernels, f"{name}: the kernel ran without the network guard (tests/offline.py); log: {entries}"
    refused = offline.refusals(log)
    assert not refused, (
        f"{name} tried to reach the network (refused; the course must run offline):\n" + offline.describe(refused)
    )
