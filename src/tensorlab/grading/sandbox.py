"""Starting, feeding, watching and stopping the grading kernels (the judge's side).

Each grading worker starts one *zygote* (:mod:`tensorlab.grading.kernel`), a process that imports
the course's libraries once and then forks a fresh kernel for every submission. A kernel runs:

- in its own process group, in a session without a terminal (nothing to type into), with an
  environment built from scratch (no tokens or paths of the instructor's shell), its working
  folder, ``$HOME`` and ``$TMPDIR`` in the submission's fresh scratch folder;
- with resource limits it sets on itself before any student code runs (``RLIMIT_DATA`` for
  memory: unlike ``RLIMIT_AS`` it does not count the large address-space reservations PyTorch and
  CUDA make; ``RLIMIT_FSIZE`` for file size; ``RLIMIT_CPU`` as a backstop), plus a watchdog here
  that kills it if its resident memory grows past the limit anyway (shared memory is not data);
- under bubblewrap when it is installed and works (``sandbox="auto"``): then the zygote and its
  kernels see a read-only file system made of the system, the Python installation and the course
  repository with solutions/, tests/, .git/, the submissions and the results covered by empty
  folders (and no home folder), a private /tmp in which the worker's scratch folders are the only
  writable place, no network but their own loopback, their own process list, and no
  capabilities. Leftover processes are killed after every submission, and each scratch folder is
  emptied before the next one uses it;
- and always behind the in-kernel guard (:mod:`tensorlab.grading.guard`).

The judge talks to it over two pipes with deadlines on every wait; a cell that runs too long is
interrupted (SIGINT, as Jupyter's "interrupt kernel" does) and, if that does not stop it, killed.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psutil

MAX_REPLY_HEADER = 1 << 20


@dataclass
class Limits:
    cell_seconds: float = 120.0      # one cell (or one call of a student's function)
    notebook_seconds: float = 600.0  # all the cells of one run, together
    memory_mb: int = 3072            # data memory of the kernel
    file_mb: int = 256               # largest file the notebook may write
    answer_mb: int = 256             # largest answer data the judge will read
    startup_seconds: float = 180.0   # starting the kernel and importing torch (not the student's time)
    interrupt_grace: float = 3.0     # how long an interrupted cell gets to stop before it is killed
    max_restarts: int = 3            # fresh kernels after a crash or a kill, per submission


class KernelDied(Exception):
    """The kernel process is gone (it exited, crashed, or was killed)."""


class KernelTimeout(Exception):
    """No reply before the deadline."""


class ProtocolError(Exception):
    """The kernel's reply was not what the protocol allows (something wrote into the pipe)."""


# ---------------------------------------------------------------------------------------------
# bubblewrap
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """True if bubblewrap is installed and can make the sandbox here (user namespaces allowed)."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        done = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent",
                               "--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev", "true"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def resolve_mode(requested: str) -> str:
    if requested == "auto":
        return "bwrap" if bwrap_works() else "none"
    if requested == "bwrap" and not bwrap_works():
        raise RuntimeError("--sandbox bwrap was asked for, but bubblewrap is not installed or cannot "
                           "create namespaces here (install the `bubblewrap` package)")
    if requested not in ("bwrap", "none"):
        raise ValueError(f"unknown sandbox {requested!r}: use auto, bwrap or none")
    return requested


_SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
_ETC_FILES = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
              "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/fonts", "/etc/alternatives",
              "/etc/hosts", "/etc/host.conf", "/etc/gai.conf"]  # hosts: "localhost" (torchrun meets there)


def _outermost(paths: list[str]) -> list[str]:
    chosen: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == c or path.startswith(c.rstrip("/") + "/") for c in chosen):
            chosen.append(path)
    return chosen


def bwrap_command(command: list[str], writable: Path, readable: list[str], hidden: list[str]) -> list[str]:
    """bubblewrap around ``command``: the system, ``readable`` (read-only) minus ``hidden`` (each
    covered by an empty folder), ``writable`` read-write, a private /tmp, /proc and /dev, no
    network but its own loopback, its own process list, no capabilities."""
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for directory in _SYSTEM_DIRS:
        if os.path.islink(directory):
            args += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            args += ["--ro-bind", directory, directory]
    for path in _ETC_FILES:
        args += ["--ro-bind-try", path, path]
    bound = _outermost([p for p in readable if not p.startswith("/usr/")])
    for path in bound:
        args += ["--ro-bind", path, path]
    for path in hidden:
        if any(path == b or path.startswith(b.rstrip("/") + "/") for b in bound) and os.path.isdir(path):
            args += ["--tmpfs", path]
    args += ["--bind", str(writable), str(writable), "--chdir", str(writable), "--", *command]
    return args


# ---------------------------------------------------------------------------------------------
# the kernel process
# ---------------------------------------------------------------------------------------------

class OutputTrap:
    """Reads everything the kernel prints (so a flood of output never blocks it) and keeps only
    the beginning and the end, for the instructor's log."""

    def __init__(self, fd: int, keep: int = 8192):
        self.fd, self.keep = fd, keep
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            room = self.keep - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                del self.tail[:-self.keep]
        os.close(self.fd)

    def text(self) -> str:
        self.thread.join(timeout=2)
        head = self.head.decode("utf-8", "replace")
        if not self.tail:
            return head
        skipped = self.total - len(self.head) - len(self.tail)
        gap = f"\n[... {skipped:,} bytes of output left out ...]\n" if skipped > 0 else ""
        return head + gap + self.tail.decode("utf-8", "replace")


class KernelProcess:
    """One submission's kernel (forked by a :class:`Zygote`). Every wait has a deadline; every
    failure becomes an exception."""

    def __init__(self, *, zygote: "Zygote", ns_pid: int, pid: int, cmd_write: int, reply_read: int,
                 out_read: int, limits: Limits):
        self.zygote, self.ns_pid, self.pid, self.limits = zygote, ns_pid, pid, limits
        self.cmd_write, self.reply_read = cmd_write, reply_read
        os.set_blocking(self.cmd_write, False)
        os.set_blocking(self.reply_read, False)
        self.output = OutputTrap(out_read)
        self.buffer = bytearray()
        self.dead_reason: str | None = None
        self.memory_limit = limits.memory_mb * 2**20
        self.peak_rss = 0
        # resident memory counts what the kernel shares with the zygote: the limit comes on top. RLIMIT_DATA
        # is the limit for ordinary data (a MemoryError in the cell, the kernel lives on); this watchdog is
        # the backstop for memory it does not count (shared memory), with headroom, so that it never
        # fires first on ordinary data: pages allocated before the start and touched later count here but
        # not against the data limit, and once made the watchdog win the race (a flaky test, 2026-12-02).
        self.rss_limit = self.memory() + self.memory_limit + self.memory_limit // 2

    # -- life ------------------------------------------------------------------------------------
    def _exists(self) -> bool:
        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def alive(self) -> bool:
        return self.dead_reason is None and self._exists()

    def kill(self, reason: str) -> None:
        if self.dead_reason is None:
            self.dead_reason = reason
        for kill in (os.killpg, os.kill):
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for fd in (self.cmd_write, self.reply_read):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.cmd_write = self.reply_read = -1

    def close(self) -> None:
        if self.alive():
            try:
                self.send({"cmd": "exit"}, deadline=time.monotonic() + 2)
                deadline = time.monotonic() + 2
                while self._exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
            except (KernelDied, KernelTimeout, OSError):
                pass
        self.kill("closed")

    def interrupt(self) -> None:
        try:
            os.kill(self.pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            pass

    def memory(self) -> int:
        try:
            root = psutil.Process(self.pid)
            total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, total)
        return total

    def _died(self) -> str:
        status = self.zygote.status(self.ns_pid)
        return status or "stopped"

    def _watch(self) -> None:
        if not self._exists():
            self.kill(self._died())
            raise KernelDied(self.dead_reason)
        if self.memory() > self.rss_limit:
            self.kill(f"used more than {self.limits.memory_mb:,} MB of memory and was stopped")
            raise KernelDied(self.dead_reason)

    # -- messages ----------------------------------------------------------------------------------
    def send(self, header: dict, payload: bytes = b"", *, deadline: float) -> None:
        if self.dead_reason is not None:
            raise KernelDied(self.dead_reason)
        data = memoryview(json.dumps(dict(header, size=len(payload))).encode() + b"\n" + payload)
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelTimeout()
            _, writable, _ = select.select([], [self.cmd_write], [], min(remaining, 0.25))
            if writable:
                try:
                    written = os.write(self.cmd_write, data)
                except BrokenPipeError:
                    self.kill(self._died())
                    raise KernelDied(self.dead_reason) from None
                data = data[written:]
            else:
                self._watch()

    def receive(self, *, deadline: float, max_payload: int) -> tuple[dict, bytes]:
        header, size = None, 0
        while True:
            if header is None and b"\n" in self.buffer:
                end = self.buffer.index(b"\n")
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 1]
                try:
                    header = json.loads(line)
                    size = int(header.get("size", 0))
                except (ValueError, TypeError, AttributeError):
                    self.kill("sent a garbled reply")
                    raise ProtocolError("the kernel's reply was garbled") from None
                if size < 0 or size > max_payload:
                    self.kill("sent a reply larger than the grader accepts")
                    raise ProtocolError(f"a reply of {size:,} bytes is more than the grader reads")
            if header is not None and len(self.buffer) >= size:
                payload = bytes(self.buffer[:size])
                del self.buffer[:size]
                return header, payload
            if header is None and len(self.buffer) > MAX_REPLY_HEADER:
                self.kill("sent a garbled reply")
                raise ProtocolError("the kernel's reply was garbled")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelTimeout()
            readable, _, _ = select.select([self.reply_read], [], [], min(remaining, 0.25))
            if readable:
                try:
                    chunk = os.read(self.reply_read, 1 << 20)
                except OSError:
                    chunk = b""
                if not chunk:
                    wait_until = time.monotonic() + 5
                    while self._exists() and time.monotonic() < wait_until:
                        time.sleep(0.02)
                    self.kill(self._died() if not self._exists() else "closed its reply pipe")
                    raise KernelDied(self.dead_reason)
                self.buffer += chunk
            else:
                self._watch()

    def request(self, header: dict, payload: bytes = b"", *, timeout: float,
                interruptible: bool = True, max_payload: int | None = None) -> tuple[dict, bytes, bool]:
        """Send a command and wait for its reply. Returns (reply, payload, interrupted).

        If no reply comes within ``timeout`` s, the kernel is interrupted (when ``interruptible``)
        and gets ``interrupt_grace`` s to reply; otherwise it is killed and KernelTimeout raised.
        """
        max_payload = max_payload if max_payload is not None else self.limits.answer_mb * 2**20
        deadline = time.monotonic() + timeout
        self.send(header, payload, deadline=deadline)
        try:
            reply, data = self.receive(deadline=deadline, max_payload=max_payload)
            self.memory()  # for the log's peak, even when no wait was long enough to watch
            return reply, data, False
        except KernelTimeout:
            if not interruptible:
                self.kill("did not reply in time")
                raise
        self.interrupt()
        try:
            reply, data = self.receive(deadline=time.monotonic() + self.limits.interrupt_grace,
                                       max_payload=max_payload)
            return reply, data, True
        except KernelTimeout:
            self.kill("did not stop when interrupted and was killed")
            raise


class ZygoteError(RuntimeError):
    """The worker's zygote could not start or stopped answering."""


class Zygote:
    """One per grading worker: imports the libraries once, forks a kernel per submission."""

    def __init__(self, *, mode: str, root: Path, readable: list[str], hidden: list[str], env: dict,
                 limits: Limits, preload: list[str], statements: list[str]):
        self.mode, self.root, self.readable, self.hidden = mode, root, readable, hidden
        self.env, self.limits = env, limits
        self.preload, self.statements = preload, statements
        self.process: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.output: OutputTrap | None = None
        self.ns_pid = 0
        self.pid = 0
        self.info: dict = {}
        self.closed = False  # closed on purpose (the end, or Ctrl-C): no restart

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        out_read, out_write = os.pipe()
        command = [sys.executable, "-s", "-m", "tensorlab.grading.kernel", "--zygote",
                   "--fd", str(theirs.fileno())]
        if self.mode == "bwrap":
            command = bwrap_command(command, self.root, self.readable, self.hidden)
        try:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL, stdout=out_write,
                stderr=out_write, pass_fds=(theirs.fileno(),), start_new_session=True)
        finally:
            theirs.close()
            os.close(out_write)
        self.sock = ours
        self.output = OutputTrap(out_read)
        self.sock.settimeout(self.limits.startup_seconds)
        try:
            self.sock.send(json.dumps({"preload": self.preload, "statements": self.statements}).encode())
            ready = self._receive()
        except (OSError, ValueError, ZygoteError) as error:
            self._shutdown()
            raise ZygoteError(f"the grading kernel could not start ({error}): "
                              f"{self.output.text()[-1500:] if self.output else ''}") from None
        self.info = ready
        self.ns_pid = int(ready["pid"])
        self.pid = self._outer_pid(self.ns_pid) or self.process.pid

    def _receive(self) -> dict:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ZygoteError("the zygote closed its socket")
        return json.loads(data)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _outer_pid(self, ns_pid: int) -> int | None:
        """The host's pid of a process the zygote knows by its pid inside the sandbox."""
        if self.mode != "bwrap":
            return ns_pid
        for _ in range(50):
            for process in self._descendants():
                try:
                    with open(f"/proc/{process.pid}/status") as status:
                        for line in status:
                            if line.startswith("NSpid:"):
                                if int(line.split()[-1]) == ns_pid:
                                    return process.pid
                except (OSError, ValueError):
                    continue
            time.sleep(0.01)
        return None

    def spawn(self, settings: dict) -> KernelProcess:
        """A fresh kernel, ready to run cells (or ZygoteError)."""
        if self.closed:
            raise ZygoteError("grading was stopped")
        if not self.alive():  # something killed the zygote: start a new one
            self._shutdown()
            self.start()
        cmd_read, cmd_write = os.pipe()
        reply_read, reply_write = os.pipe()
        out_read, out_write = os.pipe()
        try:
            self.sock.settimeout(30)
            socket.send_fds(self.sock, [json.dumps(dict(settings, cmd="spawn")).encode()],
                            [cmd_read, reply_write, out_write])
            reply = self._receive()
        except (OSError, ValueError, ZygoteError) as error:
            for fd in (cmd_write, reply_read, out_read):
                os.close(fd)
            self._shutdown()
            raise ZygoteError(f"the grading kernel could not be forked ({error})") from None
        finally:
            for fd in (cmd_read, reply_write, out_write):
                os.close(fd)
        if reply.get("error"):
            for fd in (cmd_write, reply_read, out_read):
                os.close(fd)
            raise ZygoteError(str(reply["error"]))
        ns_pid = int(reply["pid"])
        pid = self._outer_pid(ns_pid)
        if pid is None:
            for fd in (cmd_write, reply_read, out_read):
                os.close(fd)
            raise ZygoteError("the forked kernel could not be found")
        return KernelProcess(zygote=self, ns_pid=ns_pid, pid=pid, cmd_write=cmd_write,
                             reply_read=reply_read, out_read=out_read, limits=self.limits)

    def status(self, ns_pid: int) -> str | None:
        """How a kernel ended (its exit code or signal), as far as the zygote saw it."""
        if not self.alive():
            return None
        try:
            self.sock.settimeout(5)
            for _ in range(20):
                self.sock.send(json.dumps({"cmd": "status", "pid": ns_pid}).encode())
                status = self._receive().get("status")
                if status:
                    return status
                time.sleep(0.05)
        except (OSError, ValueError, ZygoteError):
            return None
        return None

    def kill_strays(self) -> int:
        """Kill every process in the worker's sandbox except the zygote (and bubblewrap itself)."""
        keep = {self.process.pid, self.pid}
        try:
            keep.update(p.pid for p in psutil.Process(self.pid).parents())
        except psutil.Error:
            pass
        killed = 0
        for process in self._descendants():
            if process.pid not in keep:
                try:
                    process.kill()
                    killed += 1
                except psutil.Error:
                    pass
        return killed

    def close(self) -> None:
        self.closed = True
        self._shutdown()

    def _shutdown(self) -> None:
        if self.process is not None:
            self.kill_strays()  # kernels first: once the zygote is gone they are out of reach
        if self.sock is not None:
            try:
                self.sock.settimeout(2)
                self.sock.send(json.dumps({"cmd": "exit"}).encode())
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        if self.process is not None:
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
            for process in self._descendants():
                try:
                    process.kill()
                except psutil.Error:
                    pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
