"""The end-of-run check (tests/cleanup_plugin.py) fails a run that leaves a process or a file behind.

Each test runs a small pytest of its own, in a fresh folder, with only the cleanup plugin loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]

LEAKY_TESTS = """
import os, subprocess, sys, tempfile, time


def test_leaves_a_daemon_behind():
    # A child that forks a grandchild and exits at once: the grandchild is an orphan in a session of
    # its own, the kind of process a plain "kill what I started" misses. The plugin's subreaper sees it.
    code = ("import os, sys, time\\n"
            "if os.fork() == 0:\\n"
            "    os.setsid()\\n"
            "    null = os.open(os.devnull, os.O_RDWR)\\n"
            "    for fd in (0, 1, 2): os.dup2(null, fd)\\n"
            "    with open(sys.argv[1], 'w') as f: f.write(str(os.getpid()))\\n"
            "    time.sleep(600)\\n")
    subprocess.run([sys.executable, "-c", code, os.environ["LEAK_PID_FILE"]], check=True, timeout=60)
    pid_file = os.environ["LEAK_PID_FILE"]
    for _ in range(100):  # the grandchild writes its pid a moment later
        if os.path.exists(pid_file) and os.path.getsize(pid_file):
            break
        time.sleep(0.1)


def test_leaves_a_temporary_file_behind():
    handle, path = tempfile.mkstemp(prefix="forgotten-")
    os.close(handle)
"""

CLEAN_TESTS = """
import subprocess, sys


def test_starts_and_waits_for_its_process(tmp_path):
    subprocess.run([sys.executable, "-c", "print('hello')"], check=True)
    (tmp_path / "fine.txt").write_text("files under tmp_path are pytest's own")
"""


def run_nested(tmp_path: Path, tests: str, env_extra: dict[str, str] | None = None):
    (tmp_path / "test_nested.py").write_text(textwrap.dedent(tests))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "TENSORLAB_TEST_RUN"))}
    # The nested run makes its own temporary folder; inside tmp_path, it is this test's to keep.
    # The leak test's daemon never exits by itself: no need to give it the whole grace period.
    env.update(
        {"PYTHONPATH": str(REPO_ROOT), "TMPDIR": str(tmp_path), "TENSORLAB_CLEANUP_GRACE": "2", **(env_extra or {})}
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.cleanup_plugin",
            "-p",
            "no:cacheprovider",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            "-q",
            str(tmp_path / "test_nested.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_that_leaves_a_process_and_a_file_fails_and_names_them(tmp_path):
    pid_file = tmp_path / "leaked.pid"
    result = run_nested(tmp_path, LEAKY_TESTS, {"LEAK_PID_FILE": str(pid_file)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 passed" in result.stdout  # the tests themselves passed: the plugin failed the run
    assert "the test run left things behind" in result.stdout
    leaked = int(pid_file.read_text())
    assert f"pid {leaked}:" in result.stdout
    assert "forgotten-" in result.stdout
    # ... and the leaked process was killed, not left running.
    assert not psutil.pid_exists(leaked) or psutil.Process(leaked).status() == psutil.STATUS_ZOMBIE


def test_a_clean_run_passes_and_removes_its_temporary_folder(tmp_path):
    result = run_nested(tmp_path, CLEAN_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "left things behind" not in result.stdout
    assert "kept for a look" not in result.stdout
