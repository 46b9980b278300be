"""Where a kernel runs: a fresh bubblewrap sandbox per kernel, and limits that hold.

The kernelspec's command is ``[systemd-run --user --scope] bwrap ... prlimit ... python -m
ipykernel_launcher``: a cgroup where systemd offers one; the repository and Python read-only with the
solutions, tests, .git, submissions, results and the grader's folder hidden; no network; its own
process namespace, torn down whole with the kernel; capped tmpfs for its home, /tmp and /dev/shm;
data-memory, file-size and CPU limits. It talks to the grader over Unix sockets in ``<private>/ipc``,
the one host folder it may write. Each kernel gets a new private folder with a random name. A
:class:`Watchdog` stops the sandbox when its memory, process count or socket folder passes a limit.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import zmq
import zmq.asyncio
from jupyter_client import AsyncKernelClient, AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from traitlets import DottedObjectName, default

HOME = "/home/student"  # the kernel's working folder, inside the sandbox
WRITABLE = (HOME, "/tmp", "/dev/shm")  # its only writable places: a capped tmpfs each
LIBRARIES_MB = 1024  # what Python, PyTorch & co take before a notebook runs
MAX_MESSAGE = 256 << 20  # no message from a kernel is read if larger
INSTALL_HINT = (
    "bubblewrap is needed to grade work you do not trust: install it (Debian/Ubuntu: sudo apt "
    "install bubblewrap; Fedora: sudo dnf install bubblewrap), or pass --trusted "
    "(make grade ... GRADE_ARGS=--trusted) to grade your own files without it"
)


@dataclass(frozen=True)
class Limits:
    cell_seconds: float = 120.0  # one cell, or one call of a student's function
    submission_seconds: float = 600.0  # everything for one file: kernels, restarts, cells, judging
    memory_mb: int = 3072  # on top of the libraries: processes, shared memory, tmpfs, memfd
    disk_mb: int = 512  # each writable folder (in memory, so counted there too)
    processes: int = 128  # processes in the sandbox at once
    answer_mb: int = 64  # the answers' data, as sent
    max_restarts: int = 3  # fresh kernels after a crash or a cell that will not stop
    interrupt_grace: float = 5.0  # how long an interrupted cell gets to stop
    startup_seconds: float = 120.0  # starting a kernel


def _runs(command: list[str]) -> bool:
    try:
        return (
            bool(shutil.which(command[0])) and subprocess.run(command, capture_output=True, timeout=30).returncode == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def bwrap_works() -> bool:
    return _runs(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "true"])


@functools.cache
def systemd_scope_works() -> bool:
    return _runs(["systemd-run", "--user", "--scope", "--quiet", "true"])


@dataclass
class Plan:
    """How every kernel of one grading run is sandboxed."""

    limits: Limits
    trusted: bool  # no bubblewrap: for the instructor's own files
    readable: list[str]  # shown read-only inside the sandbox ...
    hidden: list[str]  # ... except these, covered by empty folders
    env: dict[str, str]
    font_cache: str | None = None  # matplotlib's font list, so that no kernel rebuilds it
    warm: tuple[str, ...] = ()  # imported while the kernel starts, not in the first cell's time
    cgroup: bool = field(default_factory=systemd_scope_works)

    def kernel_command(self, private: Path, program: list[str] | None = None) -> list[str]:
        """The kernelspec's argv for a kernel whose sockets live in ``private`` (``program``: for tests)."""
        limits, total_mb = self.limits, self.limits.memory_mb + LIBRARIES_MB
        warm = f"import importlib as _i; [_i.import_module(m) for m in {self.warm!r}]; del _i"
        command = program or [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            f"--IPKernelApp.exec_lines={warm}",
        ]
        if shutil.which("prlimit"):
            command = [
                "prlimit",
                f"--data={total_mb << 20}",
                f"--fsize={limits.disk_mb << 20}",
                f"--cpu={int(2 * limits.submission_seconds) + 60}",
                "--core=0",
                "--",
                *command,
            ]
        if self.trusted:
            return command
        wrap = [
            "bwrap",
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--clearenv",
            *[a for k, v in self.env.items() for a in ("--setenv", k, v)],
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]
        for folder in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            wrap += (
                ["--symlink", os.readlink(folder), folder]
                if os.path.islink(folder)
                else ["--ro-bind", folder, folder]
                if os.path.isdir(folder)
                else []
            )
        for path in (
            "/etc/ld.so.cache",
            "/etc/ld.so.conf",
            "/etc/ld.so.conf.d",
            "/etc/localtime",
            "/etc/passwd",
            "/etc/group",
            "/etc/nsswitch.conf",
            "/etc/fonts",
            "/etc/alternatives",
            "/etc/hosts",
        ):
            wrap += ["--ro-bind-try", path, path]  # hosts: "localhost", where torchrun's processes meet
        bound: list[str] = []
        for path in sorted(set(p for p in self.readable if not p.startswith("/usr/")), key=len):
            if not any(_inside(path, b) for b in bound):
                bound.append(path)
                wrap += ["--ro-bind", path, path]
        wrap += [
            a for h in self.hidden if os.path.isdir(h) and any(_inside(h, b) for b in bound) for a in ("--tmpfs", h)
        ]
        wrap += [a for w in WRITABLE for a in ("--size", str(limits.disk_mb << 20), "--tmpfs", w)]
        if self.font_cache:
            wrap += ["--ro-bind", self.font_cache, f"{HOME}/.config/matplotlib/{Path(self.font_cache).name}"]
        connection, ipc = str(private / "connection.json"), str(private / "ipc")
        wrap += ["--ro-bind", connection, connection, "--bind", ipc, ipc, "--chdir", HOME, "--", *command]
        if self.cgroup:
            wrap = [
                "systemd-run",
                "--user",
                "--scope",
                "--quiet",
                "--collect",
                "-p",
                "MemorySwapMax=0",
                "-p",
                f"MemoryMax={(total_mb + len(WRITABLE) * limits.disk_mb) << 20}",
                "-p",
                f"TasksMax={limits.processes}",
                "--",
                *wrap,
            ]
        return wrap


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


CONTEXTS: set[zmq.asyncio.Context] = set()  # destroyed by NotebookRun.close, never by the garbage collector


def _context(owner) -> zmq.asyncio.Context:
    """ZeroMQ for one kernel: no message over MAX_MESSAGE is read; closing never waits for a message to a
    kernel that is gone (LINGER 0). The grader destroys it itself (``destroy_contexts``): pyzmq's own
    clean-up, run by the garbage collector in whatever thread, can block for ever."""
    context, owner._created_context = zmq.asyncio.Context(), False
    context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
    context.setsockopt(zmq.LINGER, 0)
    CONTEXTS.add(context)
    return context


def destroy_contexts(*contexts: zmq.asyncio.Context) -> None:
    for context in contexts:
        if context in CONTEXTS:
            CONTEXTS.discard(context)
            context.destroy(linger=0)


class CappedKernelClient(AsyncKernelClient):
    _context_default = default("context")(_context)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernelspec is made for one sandbox rather than read from disk."""

    spec: KernelSpec | None = None
    client_class = DottedObjectName("tensorlab.grading.sandbox.CappedKernelClient")
    _context_default = default("context")(_context)

    @property
    def kernel_spec(self) -> KernelSpec | None:
        return self.spec


class Sandbox:
    """One kernel's private folder (created by the grader, random name), its manager, its watchdog."""

    def __init__(self, plan: Plan, root: Path):
        self.plan, self.watchdog = plan, None
        self.private = Path(tempfile.mkdtemp(prefix="kernel-", dir=root))
        (self.private / "ipc").mkdir()
        (self.private / "connection.json").touch()  # jupyter_client fills it in before the kernel starts
        self.stderr = tempfile.TemporaryFile(dir=self.private)  # what the kernel prints outside Jupyter
        self.manager = SandboxedKernelManager(
            transport="ipc",
            ip=str(self.private / "ipc" / "kernel"),
            connection_file=str(self.private / "connection.json"),
        )
        self.manager.spec = KernelSpec(
            argv=plan.kernel_command(self.private),
            display_name="graded notebook",
            language="python",
            interrupt_mode="message",
            env={},
        )

    def start_arguments(self) -> dict:
        env = dict(self.plan.env)
        if self.plan.trusted:  # no tmpfs home: a folder of the grader's, private to this kernel
            env["HOME"] = str(self.private / "home")
            os.mkdir(env["HOME"])
        return {
            "env": env,
            "stdout": subprocess.DEVNULL,
            "stderr": self.stderr,
            "cwd": env["HOME"] if self.plan.trusted else str(self.private),
        }

    def started(self) -> None:
        process = self.manager.provisioner.process if self.manager.provisioner else None
        if process is not None:
            self.watchdog = Watchdog(process.pid, self.private / "ipc", self.plan.limits, not self.plan.trusted)

    def exit_status(self) -> str:
        process = self.manager.provisioner.process if self.manager.provisioner else None
        code = process.poll() if process is not None else None
        if code is None:
            return "stopped"
        number = -code if code < 0 else code - 128 if code > 128 else 0  # bubblewrap exits with 128 + signal
        return f"was killed by signal {number}" if number else f"exited with code {code}"

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-1500:].decode("utf-8", "replace")

    def stop(self) -> list[int]:
        """Stop the kernel and all it started, remove the private folder (``shutil.rmtree`` works on
        file descriptors and never follows a link); return the pids that survived (none, we check)."""
        survivors = self.watchdog.kill() if self.watchdog is not None else []
        process = self.manager.provisioner.process if self.manager.provisioner else None
        try:
            process and process.wait(timeout=10)  # reap bubblewrap: no zombie left behind
        except subprocess.TimeoutExpired:
            survivors.append(process.pid)
        self.stderr.close()
        shutil.rmtree(self.private, ignore_errors=True)
        return survivors


class Watchdog(threading.Thread):
    """Twice a second: the sandbox's memory (proportional set size of its processes, their memfd files,
    its tmpfs folders), its process count and its socket folder's size; over a limit, it kills the
    sandbox: bubblewrap's process group, which takes the process namespace and all in it."""

    def __init__(self, pid: int, sockets: Path, limits: Limits, tmpfs: bool):
        super().__init__(daemon=True)
        self.pid, self.sockets, self.limits, self.tmpfs = pid, sockets, limits, tmpfs
        self.reason, self.peak = "", 0  # why it stopped the kernel, if it did; memory high-water mark
        self.seen: dict[int, psutil.Process] = {}  # every process of the sandbox (a pid with its start time)
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                processes = [psutil.Process(self.pid), *psutil.Process(self.pid).children(recursive=True)]
            except psutil.Error:
                return
            self.seen.update((p.pid, p) for p in processes)
            if len(processes) > self.limits.processes:  # counted first: it is cheap, and a fork bomb is fast
                self.kill(f"started more than {self.limits.processes} processes")
                return
            self.peak = max(self.peak, memory := _memory(processes, self.tmpfs))
            sockets = sum(e.stat(follow_symlinks=False).st_blocks * 512 for e in os.scandir(self.sockets))
            if memory > (self.limits.memory_mb + LIBRARIES_MB) << 20:
                self.kill(
                    f"used more than {self.limits.memory_mb + LIBRARIES_MB:,} MB of memory "
                    f"({self.limits.memory_mb:,} MB on top of the libraries)"
                )
            elif sockets > self.limits.disk_mb << 20:
                self.kill(f"wrote more than {self.limits.disk_mb} MB into the grader's socket folder")

    def kill(self, reason: str = "") -> list[int]:
        """Kill the whole sandbox; return the pids of its processes still alive after. A psutil.Process
        never signals a pid that the system has meanwhile given to another process."""
        self.reason = self.reason or reason
        self.done.set()
        try:
            self.seen.update((p.pid, p) for p in psutil.Process(self.pid).children(recursive=True))
        except psutil.Error:
            pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for process in self.seen.values():
            try:
                process.kill()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(list(self.seen.values()), timeout=30)  # exiting takes a while under load
        return [p.pid for p in alive if _running(p)]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _memory(processes: list[psutil.Process], tmpfs: bool) -> int:
    """Proportional memory of the processes, plus their memfd files and the sandbox's tmpfs folders."""
    total, files = 0, set()
    for process in processes:
        try:
            with open(f"/proc/{process.pid}/smaps_rollup") as rollup:
                total += sum(int(line.split()[1]) << 10 for line in rollup if line.startswith("Pss:"))
            for fd in os.listdir(f"/proc/{process.pid}/fd"):
                if os.readlink(f"/proc/{process.pid}/fd/{fd}").startswith("/memfd:"):
                    st = os.stat(f"/proc/{process.pid}/fd/{fd}")
                    files.add((st.st_dev, st.st_ino, st.st_blocks * 512))
        except OSError:  # it ended meanwhile
            continue
    for folder in WRITABLE if tmpfs and len(processes) > 1 else ():  # seen through a process inside
        try:
            stat = os.statvfs(f"/proc/{processes[1].pid}/root{folder}")
            total += (stat.f_blocks - stat.f_bfree) * stat.f_frsize
        except OSError:
            continue
    return total + sum(size for _, _, size in files)
