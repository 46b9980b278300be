"""pytest plugin: the whole test run happens with the network blocked (see tests/offline.py).

conftest.py loads it (``pytest_plugins = ["tests.offline_plugin"]``). On import it makes every Python
process the tests start -- nbval's kernels, the student-notebook kernels, ``make lab`` and its
kernels, pytest-xdist's workers, whatever those spawn -- install the network guard, and installs it in
this process too. At the end of the run it fails the run, listing them, if anything tried to reach the
network, even where a notebook caught the error and carried on.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests import offline


def enable() -> Path:
    """Set the environment up once per run (pytest-xdist's workers inherit it); return the log."""
    if os.environ.get(offline.ENABLE_VAR) != "1" or not os.environ.get(offline.LOG_VAR):
        workdir = Path(tempfile.mkdtemp(prefix="tensorlab-offline-"))
        os.environ.update(offline.blocked_env(workdir))
    offline.install()
    return Path(os.environ[offline.LOG_VAR])


LOG = enable()


def pytest_report_header(config):
    return f"network: blocked in this run and every process it starts (tests/offline.py; log {LOG})"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the process that started the workers reads the shared log
    refused = offline.refusals(LOG)
    if not refused:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "network access refused: the course must run offline", red=True)
        reporter.write_line(offline.describe(refused))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
