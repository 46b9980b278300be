"""Shared test set-up for tests/ and for nbval on solutions/ (so it sits at the repository root).

Tests run under pytest-xdist with ``--dist loadgroup``: every cell of one notebook must run in
the same worker (nbval runs a notebook's cells in one kernel, in order), so each notebook's items
are put in one xdist group here; plain unit tests are spread freely.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent
ARTIFACTS_DIR = REPO_ROOT / "artifacts"

# The run leaves nothing behind: no process it started, no file outside pytest's temporary folders
# and artifacts/ (tests/cleanup_plugin.py; first, so that the run's temporary folder is set up before
# anything else makes one). Every process the tests start -- nbval's kernels, the student-notebook
# kernels, `make lab` in the browser test, pytest-xdist's workers -- runs with the network blocked, and
# the run fails if any of them tried to reach it (tests/offline_plugin.py, tests/offline.py).
pytest_plugins = ["tests.cleanup_plugin", "tests.offline_plugin"]

# Tests must never pick a GPU by accident: the stored outputs were made on the CPU. The CUDA run
# (tools/run_course_on_cuda.py) sets TENSORLAB_DEVICE=cuda itself.
os.environ.setdefault("TENSORLAB_DEVICE", "cpu")
# (MPLBACKEND is deliberately left alone: kernels inherit it, and nbval needs their inline backend.)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":  # an nbval cell: keep the notebook together
            item.add_marker(pytest.mark.xdist_group(name=f"nbval:{path.name}"))


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep what a person may want to look at afterwards (screenshots, timings)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR
