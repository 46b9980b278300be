"""The README's open command: JupyterLab starts headless, answers, lists the course, then stops."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from lab_server import running_lab

ROOT = Path(__file__).resolve().parents[1]


def test_make_lab_serves_the_course(tmp_path):
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    with running_lab(tmp_path, token, "", env, timeout=90) as lab:
        status, body = lab.get("/api/contents/notebooks")
        assert status == 200
        names = sorted(item["name"] for item in json.loads(body)["content"])
        expected = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
        assert names == expected and "00_start_here.ipynb" in names
        status, page = lab.get("/lab")
        assert status == 200 and b"JupyterLab" in page
    assert lab.process.poll() is not None, "JupyterLab did not stop"
