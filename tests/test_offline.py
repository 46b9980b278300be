"""The course runs offline, and the test suite proves it.

Every notebook run of the suite (nbval on solutions/, the student-notebook runs, JupyterLab in the
browser test) happens with the network blocked by ``tests/offline.py``; these tests show that the
block really refuses what it should, where those runs happen, and lets loopback through.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from notebook_runner import execute_notebook

from tests import offline

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_IP = "93.184.216.34"  # never actually contacted: the guard refuses before any packet leaves

PROBE = textwrap.dedent(f"""
    import json, socket, urllib.request

    def attempt(what):
        try:
            what()
            return "ok"
        except Exception as error:
            return f"{{type(error).__name__}}: {{error}}"

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    print(json.dumps({{
        "connect": attempt(lambda: socket.create_connection(("{PUBLIC_IP}", 80), timeout=1)),
        "dns": attempt(lambda: socket.getaddrinfo("example.com", 443)),
        "urlopen": attempt(lambda: urllib.request.urlopen("http://example.com/data.csv", timeout=1)),
        "udp": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"?", ("8.8.8.8", 53))),
        "reverse": attempt(lambda: socket.gethostbyaddr("8.8.8.8")),
        "loopback": attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close()),
        "localhost": attempt(lambda: socket.create_connection(("localhost", port), timeout=1).close()),
        "unix": attempt(lambda: socket.socketpair()),
    }}))
""")

BLOCKED = "network access is blocked here"


def run_probe(env: dict[str, str]) -> dict[str, str]:
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_blocked_python_refuses_the_network_but_not_loopback(tmp_path):
    env = offline.blocked_env(
        tmp_path,
        base={k: v for k, v in os.environ.items() if k not in (offline.ENABLE_VAR, offline.LOG_VAR, "PYTHONPATH")},
    )
    results = run_probe(env)
    assert results["connect"].startswith("NetworkBlockedError: " + BLOCKED)
    assert f"connect to ('{PUBLIC_IP}', 80)" in results["connect"]
    assert results["dns"].startswith("NetworkLookupBlockedError: " + BLOCKED) and "'example.com'" in results["dns"]
    assert results["urlopen"].startswith("URLError") and BLOCKED in results["urlopen"]
    assert results["udp"].startswith("NetworkBlockedError") and "('8.8.8.8', 53)" in results["udp"]
    assert results["reverse"].startswith("NetworkLookupBlockedError")
    assert results["loopback"] == results["localhost"] == results["unix"] == "ok"
    refused = offline.refusals(tmp_path / "network.jsonl")
    assert [e["target"] for e in refused] == [
        f"('{PUBLIC_IP}', 80)",
        "'example.com'",
        "'example.com'",
        "('8.8.8.8', 53)",
        "'8.8.8.8'",
    ]
    assert all(e["where"].startswith("<string>:") for e in refused), "the log names the caller's own line"


def test_without_the_environment_python_is_not_blocked(tmp_path):
    """The block comes from blocked_env alone (so the probe above proves the guard, not the machine)."""
    env = {k: v for k, v in os.environ.items() if k not in (offline.ENABLE_VAR, offline.LOG_VAR, "PYTHONPATH")}
    results = run_probe(env)
    assert BLOCKED not in results["connect"] and BLOCKED not in results["dns"]


def test_this_test_run_blocks_the_network(tmp_path, monkeypatch):
    """tests/offline_plugin.py (loaded by conftest.py) blocks this process and everything it starts."""
    assert (
        os.environ.get(offline.ENABLE_VAR) == "1"
    ), "conftest.py does not load tests/offline_plugin.py: add pytest_plugins = ['tests.offline_plugin']"
    assert offline.is_installed()
    monkeypatch.setenv(offline.LOG_VAR, str(tmp_path / "network.jsonl"))  # keep the run's own log clean
    with pytest.raises(offline.NetworkBlockedError, match="example.com"):
        socket.getaddrinfo("example.com", 80)
    with pytest.raises(OSError, match=BLOCKED):
        socket.create_connection((PUBLIC_IP, 443), timeout=1)
    assert len(offline.refusals(tmp_path / "network.jsonl")) == 2


@pytest.mark.xdist_group(name="offline-kernels")
def test_a_kernel_started_as_nbval_starts_it_is_blocked(tmp_path, monkeypatch):
    """nbval (--nbval-current-env) starts its kernels with this process's environment: blocked."""
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, start_new_kernel

    assert os.environ.get(offline.ENABLE_VAR) == "1", "conftest.py does not load tests/offline_plugin.py"
    monkeypatch.setenv(offline.LOG_VAR, str(tmp_path / "network.jsonl"))  # keep the run's own log clean
    km, kc = start_new_kernel(kernel_name=CURRENT_ENV_KERNEL_NAME, cwd=str(tmp_path))
    outputs = []
    try:
        reply = kc.execute_interactive(
            "import socket\nsocket.getaddrinfo('example.com', 443)",
            output_hook=lambda msg: outputs.append(msg["content"]),
            timeout=60,
        )
        ok = kc.execute_interactive(
            "import urllib.request\ntry:\n    urllib.request.urlopen('https://pypi.org')\n"
            "except OSError as error:\n    print('caught:', error)",
            output_hook=lambda msg: outputs.append(msg["content"]),
            timeout=60,
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "NetworkLookupBlockedError"
    assert BLOCKED in reply["content"]["evalue"] and "example.com" in reply["content"]["evalue"]
    assert ok["content"]["status"] == "ok"
    assert any("caught:" in o.get("text", "") and BLOCKED in o.get("text", "") for o in outputs)
    refused = offline.refusals(tmp_path / "network.jsonl")
    assert [e["target"] for e in refused] == ["'example.com'", "'pypi.org'"]
    assert all("ipykernel" in " ".join(e["argv"]) for e in refused)


def notebook(tmp_path: Path, *cells: str) -> Path:
    path = tmp_path / "probe.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.xdist_group(name="offline-kernels")
def test_the_student_notebook_runner_fails_a_notebook_that_tries_the_network(tmp_path):
    path = notebook(tmp_path, f"import socket\nsocket.create_connection(('{PUBLIC_IP}', 80), timeout=1)")
    with pytest.raises(AssertionError, match="NetworkBlockedError") as failure:
        execute_notebook(path)
    assert BLOCKED in str(failure.value)


@pytest.mark.xdist_group(name="offline-kernels")
def test_the_runner_also_fails_a_notebook_that_catches_the_refusal_but_allows_loopback(tmp_path):
    path = notebook(
        tmp_path,
        "import socket\nserver = socket.create_server(('127.0.0.1', 0))\n"
        "socket.create_connection(server.getsockname(), timeout=1).close()\nprint('loopback works')",
        "import urllib.request\ntry:\n    urllib.request.urlopen('http://example.com/data.csv', timeout=1)\n"
        "except OSError:\n    print('no network: using a fallback')",
    )
    with pytest.raises(AssertionError, match="tried to reach the network") as failure:
        execute_notebook(path)
    message = str(failure.value)
    assert "look up 'example.com'" in message and "127.0.0.1" not in message
    executed = execute_notebook(
        notebook(
            tmp_path,
            "import socket\nserver = socket.create_server(('127.0.0.1', 0))\n"
            "socket.create_connection(server.getsockname()).close()\nprint('ok')",
        )
    )
    assert executed.cells[0].outputs[0]["text"] == "ok\n"


def test_the_plugin_fails_an_nbval_run_whose_notebook_swallowed_a_refusal(tmp_path):
    """End to end: pytest + nbval + tests/offline_plugin.py on two notebooks, in a fresh process."""
    clean = tmp_path / "clean.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)")]), clean)
    sneaky = tmp_path / "sneaky.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(
                    "import socket\ntry:\n    socket.getaddrinfo('files.example.org', 443)\nexcept OSError:\n    pass"
                )
            ]
        ),
        sneaky,
    )
    env = {k: v for k, v in os.environ.items() if k not in (offline.ENABLE_VAR, offline.LOG_VAR)}
    env.update({"PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)})  # its guard's folder is this test's
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.offline_plugin",
        "-c",
        os.devnull,
        "--rootdir",
        str(tmp_path),
        "--nbval-lax",
        "--nbval-current-env",
        "-q",
    ]
    run = subprocess.run(
        args + [str(clean), str(sneaky)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed" in run.stdout  # nbval alone would have let both through: the plugin failed the run
    assert "network access refused" in run.stdout and "look up 'files.example.org'" in run.stdout
