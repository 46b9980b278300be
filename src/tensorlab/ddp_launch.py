"""Start a multi-process ``torchrun`` job from Python and always get control back (notebook 07).

Notebook 07 and ``tests/test_ddp.py`` start ``scripts/train_ddp.py`` in two processes with::

    python -m torch.distributed.run --standalone --nproc_per_node=2 scripts/train_ddp.py --out results.json

``--standalone`` lets ``torchrun`` pick a free port for the processes to meet on, so two runs at the same
time (two notebooks, parallel tests) cannot collide. What this module adds is the part a notebook should
not have to teach: the launcher and its worker processes run in their own process group, their output is
captured (``torchrun`` prints start-up messages to stderr), and if the job runs past ``timeout`` the
whole group is killed, so a stuck worker can never hang the notebook or the test suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = REPO_ROOT / "scripts"


def script_path(name: str) -> Path:
    """The path of a script in the repository's ``scripts/`` folder, e.g. ``script_path("train_ddp.py")``."""
    path = SCRIPTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is the course repository complete?")
    return path


def torchrun_command(script: str | os.PathLike, *script_args: str, nproc_per_node: int = 2) -> list[str]:
    """The command line that starts ``script`` in ``nproc_per_node`` processes on this machine.

    ``torchrun`` is run as ``sys.executable -m torch.distributed.run``, so it uses the same Python (and
    the same virtual environment) as the caller.
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc_per_node}",
        str(script),
        *map(str, script_args),
    ]


def run_captured(
    command: Sequence[str], *, timeout: float, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``command`` in a new process group with stdout and stderr captured; kill the group on timeout.

    The command runs with ``TMPDIR`` set to a temporary folder of its own, removed afterwards with
    whatever the job left there. Returns the ``CompletedProcess``. With ``check`` (the default) a
    non-zero exit raises a
    ``RuntimeError`` that quotes the end of the captured stderr. Past ``timeout`` seconds every process
    of the group (the launcher and the workers it started) gets SIGKILL and ``subprocess.TimeoutExpired``
    is raised with whatever output had been captured.
    """
    # The job gets a temporary folder of its own (torchrun keeps its logs in one, torchelastic_*, and
    # never removes it), removed with everything in it when the job is over.
    with tempfile.TemporaryDirectory(prefix="tensorlab-job-") as job_tmp:
        job_env = {**(os.environ if env is None else env), "TMPDIR": job_tmp}
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=job_env,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            stdout, stderr = process.communicate()
            raise subprocess.TimeoutExpired(process.args, timeout, output=stdout, stderr=stderr) from None
        except BaseException:  # e.g. KeyboardInterrupt in a notebook: leave nothing running behind
            _kill_group(process.pid)
            process.wait()
            raise
        # A worker may outlive a launcher that exited: the group goes in every case.
        _kill_group(process.pid)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-25:])
        raise RuntimeError(f"the command exited with status {result.returncode}; end of its stderr:\n{tail}")
    return result


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:  # nothing left in the group
        pass
