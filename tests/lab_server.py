"""Start the README's open command, ``make lab``, for a test; always stop it (the lab tests share this).

JupyterLab is asked for port 0, so the operating system gives it a free port as it binds. (Picking a
free port first and passing it on is a race: another process can take the port in between, and
JupyterLab would then quietly move to the next one.) The port it got is read from the server's own
runtime file, ``jpserver-<pid>.json``, in the test's private runtime folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Lab:
    port: int
    token: str
    process: subprocess.Popen
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str):
        request = urllib.request.Request(self.url(path), headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()


def _server_port(runtime_dir: Path) -> int | None:
    for info in runtime_dir.glob("jpserver-*.json"):
        try:
            return int(json.loads(info.read_text())["port"])
        except (OSError, ValueError, KeyError):  # being written
            pass
    return None


def stop(process: subprocess.Popen) -> None:
    """Stop make and the JupyterLab it started (the whole process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running_lab(tmp_path: Path, token: str, lab_args: str, env: dict[str, str], timeout: float = 180):
    """``make lab`` on a free port, answering with ``token``; yields a :class:`Lab`, then stops it.

    ``env`` must set ``JUPYTER_RUNTIME_DIR`` to a folder of this test's own.
    """
    runtime_dir = Path(env["JUPYTER_RUNTIME_DIR"])
    runtime_dir.mkdir(parents=True, exist_ok=True)
    # Checkpoints (which JupyterLab makes when it opens a notebook) go to the test's folder, not into
    # notebooks/.ipynb_checkpoints.
    args = (
        f"--no-browser --ip=127.0.0.1 --ServerApp.port_retries=0 --IdentityProvider.token={token} "
        f"--ServerApp.root_dir={ROOT} --ServerApp.open_browser=False "
        f"--FileCheckpoints.checkpoint_dir={tmp_path / 'checkpoints'} {lab_args}"
    )
    log_path = tmp_path / "lab.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "lab", "LAB_PORT=0", f"LAB_ARGS={args}"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            lab = Lab(_wait_until_serving(process, runtime_dir, token, log_path, timeout), token, process, log_path)
            yield lab
        finally:
            stop(process)


def _wait_until_serving(process, runtime_dir: Path, token: str, log: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        port = _server_port(runtime_dir)
        if port is not None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return port
            except OSError:
                pass
        assert process.poll() is None, "make lab exited:\n" + log.read_text()
        assert time.monotonic() < deadline, f"JupyterLab did not answer in {timeout:.0f} s:\n" + log.read_text()
        time.sleep(0.5)
