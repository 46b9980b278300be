"""The README's open command: JupyterLab starts headless, answers, lists the course, then stops."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


def stop(server: subprocess.Popen) -> None:
    """Stop make and the JupyterLab it started (the whole process group)."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_make_lab_serves_the_course(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    args = (
        f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={token} "
        f"--ServerApp.root_dir={ROOT} --ServerApp.open_browser=False"
    )
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_PORT={port}", f"LAB_ARGS={args}"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status, body = get(f"http://127.0.0.1:{port}/api/contents/notebooks", token)
                break
            except OSError:
                assert server.poll() is None, "make lab exited:\n" + (tmp_path / "lab.log").read_text()
                assert time.monotonic() < deadline, (
                    "JupyterLab did not answer in 90 s:\n" + (tmp_path / "lab.log").read_text()
                )
                time.sleep(0.5)
        assert status == 200
        names = sorted(item["name"] for item in json.loads(body)["content"])
        expected = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
        assert names == expected and "00_start_here.ipynb" in names
        status, page = get(f"http://127.0.0.1:{port}/lab", token)
        assert status == 200 and b"JupyterLab" in page
    finally:
        stop(server)
        log.close()
    assert server.poll() is not None, "JupyterLab did not stop"
