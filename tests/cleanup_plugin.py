"""pytest plugin: a test run leaves nothing behind -- no process it started, no stray file.

conftest.py loads it first (before the offline plugin, whose folder then lands in the run's own temp
folder). What it guarantees, and how, in the process that controls the run (with pytest-xdist, the
controller; its workers only inherit the environment):

* **Processes.** The controller makes itself a *child subreaper* (Linux ``prctl``): every process that
  the run starts, however deeply nested, stays its descendant even when its parent dies first (a
  kernel whose launcher crashed, a daemon that forked twice, a torchrun worker whose launcher was
  killed). After the run, once pytest-xdist has stopped its workers, every descendant still alive is a
  leftover: the run fails and lists them (pid and command line), and then they are killed so that the
  machine is clean for whatever runs next.
* **Files.** The run gets a temporary folder of its own (``TMPDIR``, and Jupyter's runtime folder for
  kernel connection files inside it); pytest's ``tmp_path`` folders live there too. After the run it may
  hold nothing but pytest's folders, the offline guard's log folder and caches that libraries make there
on their own (PyTorch's compiler cache), and the repository may hold
  nothing new but ``artifacts/`` (and Python's ``__pycache__`` byte-code caches). Otherwise the run fails
  and lists what was left. When the run passed, its temporary folder is removed; when anything failed,
  it is kept for a look and its path printed.

``tests/test_cleanup.py`` runs a nested pytest with a test that leaks a process and a file, and checks
that this plugin fails that run.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_TMP_VAR = "TENSORLAB_TEST_RUN_TMP"  # the run's own temporary folder (set by the controller)
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
# How long processes may take to exit after the last test (kernels shutting down, under load).
GRACE_SECONDS = float(os.environ.get("TENSORLAB_CLEANUP_GRACE", "15"))
ALLOWED_IN_REPO = ("artifacts/",)  # what tests may write into the repository
# Caches that libraries make in the temporary folder on their own, not leftovers of a test:
# importing torchvision makes PyTorch create its compiler cache, torchinductor_<user>.
LIBRARY_CACHES = ("torchinductor_",)


def _is_controller() -> bool:
    return "PYTEST_XDIST_WORKER" not in os.environ


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def _repo_state() -> set[str]:
    """Untracked and ignored paths (folders collapsed) and changed tracked files, one line each."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=normal"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked archive)
        return set()
    return {line for line in out.splitlines() if line.strip()}


def _set_up_run_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="tensorlab-test-run-"))
    runtime = folder / "jupyter-runtime"
    runtime.mkdir()
    os.environ.update({RUN_TMP_VAR: str(folder), "TMPDIR": str(folder), "JUPYTER_RUNTIME_DIR": str(runtime)})
    tempfile.tempdir = None  # tempfile caches the old answer; pytest's tmp_path asks it later
    return folder


IS_CONTROLLER = _is_controller()
if IS_CONTROLLER:
    SUBREAPER = _become_subreaper()
    RUN_TMP = _set_up_run_folder()
    REPO_BEFORE = _repo_state()
else:
    SUBREAPER, RUN_TMP, REPO_BEFORE = False, Path(os.environ.get(RUN_TMP_VAR, tempfile.gettempdir())), set()


def _describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline())[:200] or process.name()
    except psutil.Error:
        command = "?"
    return f"pid {process.pid}: {command}"


def _reap_zombies() -> None:
    """Collect the exit status of orphans that were re-parented to this process and have exited."""
    for child in psutil.Process().children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
            pass


def leftover_processes(grace: float = GRACE_SECONDS) -> list[str]:
    """Descendants of this process still running after ``grace`` seconds; they are then killed."""
    deadline = time.monotonic() + grace
    while True:
        _reap_zombies()
        alive = [
            p
            for p in psutil.Process().children(recursive=True)
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        ]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    described = [_describe(p) for p in alive]
    for process in alive:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    _reap_zombies()
    return described


def leftover_files() -> list[str]:
    """What the run left in its temporary folder and in the repository (relative paths)."""
    offline_folder = Path(os.environ.get("TENSORLAB_NETWORK_LOG", "/nonexistent")).parent
    left = []
    for entry in sorted(RUN_TMP.iterdir()) if RUN_TMP.is_dir() else []:
        if entry.name.startswith(("pytest-of-", *LIBRARY_CACHES)) or entry == offline_folder:
            continue
        if entry.name == "jupyter-runtime":
            left += [f"{RUN_TMP.name}/jupyter-runtime/{p.name}" for p in sorted(entry.iterdir())]
            continue
        left.append(f"{RUN_TMP.name}/{entry.name}")
    for line in sorted(_repo_state() - REPO_BEFORE):
        path = line[3:]
        if path.startswith(ALLOWED_IN_REPO) or "__pycache__/" in path:
            continue
        left.append(f"repository: {line}")
    return left


@pytest.hookimpl(trylast=True)  # after pytest-xdist has stopped its workers
def pytest_sessionfinish(session, exitstatus):
    if not IS_CONTROLLER:
        return
    processes = leftover_processes() if SUBREAPER else []
    files = leftover_files()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if processes or files:
        if reporter is not None:
            reporter.write_sep("=", "the test run left things behind", red=True)
            if processes:
                reporter.write_line("processes still running after the run (now killed):")
                for line in processes:
                    reporter.write_line(f"  {line}")
            if files:
                reporter.write_line("files outside pytest's temporary folders and artifacts/:")
                for line in files:
                    reporter.write_line(f"  {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if session.exitstatus == pytest.ExitCode.OK:
        shutil.rmtree(RUN_TMP, ignore_errors=True)
    elif reporter is not None:
        reporter.write_line(f"(the run's temporary folder is kept for a look: {RUN_TMP})")
