"""Where a submission's kernel runs: a fresh bubblewrap sandbox for every kernel, with limits that hold.

The kernel is an ordinary Jupyter kernel (``python -m ipykernel_launcher``) whose kernelspec command
is wrapped, from the outside in, in

- ``systemd-run --user --scope`` where that works (a cgroup: memory incl. shared memory and tmpfs,
  process count), and in any case
- ``bwrap``: the repository and the Python installation read-only, with ``solutions/``, ``tests/``,
  ``.git/``, the submissions, the results and the grader's own folder hidden under empty folders; no
  network (``--unshare-net``); its own process namespace, torn down whole when the kernel stops
  (``--unshare-pid --die-with-parent``); a new session (no terminal to type into); no capabilities;
  an environment built from nothing; ``/home/student`` (its working folder), ``/tmp`` and
  ``/dev/shm`` as size-capped tmpfs that exist only for this kernel;
- ``prlimit``: data memory, file size and CPU time.

The kernel talks to the grader over Unix sockets (Jupyter's ``ipc`` transport) in the one folder of
the grader's that the sandbox can write, ``<private>/ipc``; its connection file is mounted read-only.
Each kernel gets a new private folder (a random name from ``mkdtemp``, created by the grader), so
nothing one submission writes is ever read or run by another, and nothing in it is at a path a
submission could predict. The grader removes it with ``shutil.rmtree``, which never follows links.

A :class:`Watchdog` measures the sandbox twice a second -- the proportional memory of its processes,
their memfd files, its tmpfs folders and the socket folder, and its process count -- and stops it
(killing bubblewrap, which takes the whole process namespace with it) when one passes its limit.
With ``trusted=True`` (``--trusted``) the kernel runs without bubblewrap: for an instructor's own files.
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

HOME = "/home/student"                     # the kernel's working folder, inside the sandbox
WRITABLE = (HOME, "/tmp", "/dev/shm")      # its only writable places: one capped tmpfs each
LIBRARIES_MB = 1024                        # what Python, PyTorch & co take before a notebook runs
MAX_MESSAGE = 256 << 20                    # no message from a kernel is larger (answers are capped lower)
INSTALL_HINT = ("bubblewrap is needed to grade work you do not trust: install it "
                "(Debian/Ubuntu: sudo apt install bubblewrap; Fedora: sudo dnf install bubblewrap), "
                "or pass --trusted (make grade ... GRADE_ARGS=--trusted) to grade your own files without it")


@dataclass(frozen=True)
class Limits:
    cell_seconds: float = 120.0        # one cell, or one call of a student's function
    submission_seconds: float = 600.0  # everything for one file: kernels, restarts, cells, judging
    memory_mb: int = 3072              # on top of the libraries: processes, shared memory, tmpfs files
    disk_mb: int = 512                 # each writable folder (they are in memory, so they count there too)
    processes: int = 128               # processes and threads' parents in the sandbox at once
    answer_mb: int = 64                # the answers' data, as sent
    max_restarts: int = 3              # fresh kernels after a crash or a cell that will not stop
    interrupt_grace: float = 5.0       # how long an interrupted cell gets to stop
    startup_seconds: float = 120.0     # starting a kernel


@functools.cache
def bwrap_works() -> bool:
    """True if bubblewrap is installed and can make its namespaces here."""
    exe = shutil.which("bwrap")
    try:
        return bool(exe) and subprocess.run(
            [exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "true"],
            capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def systemd_scope_works() -> bool:
    """True if ``systemd-run --user --scope`` can put a process in a cgroup of its own here."""
    exe = shutil.which("systemd-run")
    try:
        return bool(exe) and subprocess.run([exe, "--user", "--scope", "--quiet", "true"],
                                            capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@dataclass
class Plan:
    """How every kernel of one grading run is sandboxed (the same for all of them)."""

    limits: Limits
    trusted: bool                   # no bubblewrap: for the instructor's own files
    readable: list[str]             # shown read-only inside the sandbox ...
    hidden: list[str]               # ... except these, covered by empty folders
    env: dict[str, str]
    font_cache: str | None = None   # matplotlib's font list, so each kernel need not rebuild it
    warm: tuple[str, ...] = ()      # modules each kernel imports before the first cell (torch ...)
    cgroup: bool = field(default_factory=systemd_scope_works)

    def kernel_command(self, private: Path, program: list[str] | None = None) -> list[str]:
        """The kernelspec's argv for a kernel whose sockets and connection file live in ``private``
        (``program`` instead of the kernel: for the tests)."""
        limits, total_mb = self.limits, self.limits.memory_mb + LIBRARIES_MB
        # a warm kernel: the libraries are imported while it starts, not in the first cell's time
        warm = f"import importlib as _i; [_i.import_module(m) for m in {self.warm!r}]; del _i"
        python = program or [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                             f"--IPKernelApp.exec_lines={warm}"]
        prlimit = shutil.which("prlimit")
        if prlimit:
            python = [prlimit, f"--data={total_mb << 20}", f"--fsize={limits.disk_mb << 20}",
                      f"--cpu={int(2 * limits.submission_seconds) + 60}", "--core=0", "--", *python]
        if self.trusted:
            return python
        command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                   "--clearenv", *[a for k, v in self.env.items() for a in ("--setenv", k, v)],
                   "--proc", "/proc", "--dev", "/dev"]
        for directory in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(directory):
                command += ["--symlink", os.readlink(directory), directory]
            elif os.path.isdir(directory):
                command += ["--ro-bind", directory, directory]
        for path in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd",
                     "/etc/group", "/etc/nsswitch.conf", "/etc/fonts", "/etc/alternatives", "/etc/hosts"):
            command += ["--ro-bind-try", path, path]  # hosts: "localhost", where torchrun's processes meet
        bound = _outermost([p for p in self.readable if not p.startswith("/usr/")])
        for path in bound:
            command += ["--ro-bind", path, path]
        for path in self.hidden:
            if any(path == b or path.startswith(b.rstrip("/") + "/") for b in bound) and os.path.isdir(path):
                command += ["--tmpfs", path]
        for path in WRITABLE:
            command += ["--size", str(limits.disk_mb << 20), "--tmpfs", path]
        if self.font_cache:
            command += ["--ro-bind", self.font_cache, f"{HOME}/.config/matplotlib/{Path(self.font_cache).name}"]
        connection = str(private / "connection.json")
        command += ["--ro-bind", connection, connection, "--bind", str(private / "ipc"), str(private / "ipc"),
                    "--chdir", HOME, "--", *python]
        if self.cgroup:
            command = ["systemd-run", "--user", "--scope", "--quiet", "--collect",
                       "-p", f"MemoryMax={(total_mb + len(WRITABLE) * limits.disk_mb) << 20}",
                       "-p", "MemorySwapMax=0", "-p", f"TasksMax={limits.processes}", "--", *command]
        return command


def _outermost(paths: list[str]) -> list[str]:
    chosen: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == c or path.startswith(c.rstrip("/") + "/") for c in chosen):
            chosen.append(path)
    return chosen


class CappedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse any message over MAX_MESSAGE bytes (ZeroMQ drops it)."""

    @default("context")
    def _capped_context(self) -> zmq.asyncio.Context:
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        self._created_context = True
        return context


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernelspec is made for one sandbox rather than read from disk."""

    spec: KernelSpec | None = None
    client_class = DottedObjectName("tensorlab.grading.sandbox.CappedKernelClient")

    @property
    def kernel_spec(self) -> KernelSpec | None:
        return self.spec


class Sandbox:
    """One kernel's private folder, its kernel manager and its watchdog."""

    def __init__(self, plan: Plan, root: Path):
        self.plan = plan
        self.private = Path(tempfile.mkdtemp(prefix="kernel-", dir=root))  # random: nobody can predict it
        (self.private / "ipc").mkdir()
        (self.private / "connection.json").touch()  # jupyter_client fills it in before the kernel starts
        self.stderr = tempfile.TemporaryFile(dir=self.private)  # what the kernel prints outside Jupyter
        spec = KernelSpec(argv=plan.kernel_command(self.private), display_name="graded notebook",
                          language="python", interrupt_mode="message", env={})
        self.manager = SandboxedKernelManager(transport="ipc", ip=str(self.private / "ipc" / "kernel"),
                                              connection_file=str(self.private / "connection.json"))
        self.manager.spec = spec
        self.watchdog: Watchdog | None = None

    def start_arguments(self) -> dict:
        """Keyword arguments for ``start_kernel``: the environment and where its own output goes."""
        env = dict(self.plan.env)
        if self.plan.trusted:
            (self.private / "home").mkdir(exist_ok=True)
            env["HOME"] = str(self.private / "home")
        return {"env": env, "stdout": subprocess.DEVNULL, "stderr": self.stderr,
                "cwd": env["HOME"] if self.plan.trusted else str(self.private)}

    def started(self) -> None:
        process = self.manager.provisioner.process if self.manager.provisioner else None
        if process is not None:
            self.watchdog = Watchdog(process.pid, self.private / "ipc", self.plan.limits, tmpfs=not self.plan.trusted)

    def exit_status(self) -> str:
        process = self.manager.provisioner.process if self.manager.provisioner else None
        code = process.poll() if process is not None else None
        if code is None:
            return "stopped"
        signal_number = -code if code < 0 else code - 128 if code > 128 else 0  # bubblewrap: 128 + signal
        return f"was killed by signal {signal_number}" if signal_number else f"exited with code {code}"

    def stderr_tail(self) -> str:
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - 1500))
        return self.stderr.read().decode("utf-8", "replace")

    def stop(self) -> list[int]:
        """Stop the kernel and everything it started; remove the private folder. Returns the pids
        of the sandbox's processes that were still there after the kill (none, unless the OS fails)."""
        if self.watchdog is not None:
            self.watchdog.stop()
        survivors = self.watchdog.kill() if self.watchdog is not None else []
        self.stderr.close()
        shutil.rmtree(self.private, ignore_errors=True)  # fd-based: never follows a planted link
        return survivors


class Watchdog(threading.Thread):
    """Twice a second: the sandbox's memory (proportional set size of its processes, their memfd
    files, its tmpfs folders), its socket folder's size and its process count. Over a limit, it
    kills bubblewrap's process group, which ends the sandbox's process namespace and all in it."""

    def __init__(self, pid: int, sockets: Path, limits: Limits, tmpfs: bool):
        super().__init__(daemon=True)
        self.pid, self.sockets, self.limits, self.tmpfs = pid, sockets, limits, tmpfs
        self.memory_limit = (limits.memory_mb + LIBRARIES_MB) << 20
        self.reason = ""            # why it stopped the kernel, if it did
        self.peak = 0               # largest memory seen, bytes
        self.seen: dict[int, psutil.Process] = {}  # every process of the sandbox it saw (pid and start time)
        self._done = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._done.wait(0.5):
            try:
                processes = [psutil.Process(self.pid), *psutil.Process(self.pid).children(recursive=True)]
            except psutil.Error:
                return
            self.seen.update((p.pid, p) for p in processes)
            memory = _memory(processes, self.tmpfs)
            self.peak = max(self.peak, memory)
            socket_bytes = sum(e.stat(follow_symlinks=False).st_blocks * 512 for e in os.scandir(self.sockets))
            if memory > self.memory_limit:
                self.kill(f"used more than {self.limits.memory_mb + LIBRARIES_MB:,} MB of memory "
                          f"({self.limits.memory_mb:,} MB on top of the libraries)")
            elif len(processes) > self.limits.processes:
                self.kill(f"started more than {self.limits.processes} processes")
            elif socket_bytes > self.limits.disk_mb << 20:
                self.kill(f"wrote more than {self.limits.disk_mb} MB into the grader's socket folder")

    def stop(self) -> None:
        self._done.set()

    def kill(self, reason: str = "") -> list[int]:
        """Kill the sandbox, all of it (``reason``: the limit it passed, if any); return the pids of
        its processes still alive afterwards. A psutil.Process never signals a reused pid."""
        self.reason = self.reason or reason
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
        _, alive = psutil.wait_procs(list(self.seen.values()), timeout=10)
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
    inside = processes[1].pid if tmpfs and len(processes) > 1 else None  # one inside the mount namespace
    for folder in WRITABLE if inside else ():
        try:
            stat = os.statvfs(f"/proc/{inside}/root{folder}")
            total += (stat.f_blocks - stat.f_bfree) * stat.f_frsize
        except OSError:
            continue
    return total + sum(size for _, _, size in files)
