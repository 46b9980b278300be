"""The in-kernel guard: a Python audit hook that refuses what a notebook has no business doing.

Installed by :mod:`tensorlab.grading.kernel` after the course's libraries are imported and before
the first student cell runs. ``sys.addaudithook`` hooks cannot be removed from Python, so student
code cannot simply switch it off. It refuses, with a ``PermissionError`` that names the rule:

- starting programs (``subprocess``, ``os.system``, ``os.fork``, ``os.exec*``, ``os.posix_spawn``)
  and sockets (the kernel talks to the grader over pipes, so it needs none) -- except that under
  bubblewrap, where they cannot reach outside the sandbox, programs and loopback sockets are
  allowed (notebook 07 starts ``torchrun``, whose processes meet on 127.0.0.1);
- reading the solutions, the tests, the git history, the submissions folder, the output folder,
  other submissions' scratch folders, the home folder, and other processes' ``/proc`` entries
  (the rules: the longest path that contains a file decides);
- creating, changing, renaming or deleting files anywhere but the submission's scratch folder;
- ``ctypes`` calls, loading native libraries from outside the Python installation, raising
  resource limits, and signalling other processes.

It is a guard rail, not a security boundary: PEP 578 audit hooks only see what Python code does,
and native code (a C extension, or one of the PyTorch functions that open files in C++, which are
wrapped here as well as can be) can go around it. Real isolation comes from running the kernel
under bubblewrap (see :mod:`tensorlab.grading.sandbox`), which the grader does whenever it can.
Either way the grade does not depend on it: answers are judged in the grader's own process.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_TIOCSTI = 0x5412


@dataclass
class Policy:
    scratch: str
    # (path, readable): the longest path that contains a file decides whether it may be read;
    # paths under no rule may be read (the system's libraries ...)
    rules: list[tuple[str, bool]] = field(default_factory=list)
    library_roots: list[str] = field(default_factory=list)  # where ctypes may load libraries from
    processes: bool = False   # may the notebook start programs (only safe inside bubblewrap)
    loopback: bool = False    # may it use sockets on 127.0.0.1 / ::1 (only safe inside bubblewrap)

    @classmethod
    def from_dict(cls, data: dict) -> "Policy":
        return cls(scratch=data["scratch"], rules=[(str(p), bool(a)) for p, a in data.get("rules", [])],
                   library_roots=list(data.get("library_roots", [])),
                   processes=bool(data.get("processes")), loopback=bool(data.get("loopback")))


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::", "", None}


class Guard:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.scratch = os.path.realpath(policy.scratch)
        rules = [(os.path.realpath(p), allowed) for p, allowed in policy.rules] + [(self.scratch, True)]
        # longest first; for the same path a "no" wins
        self.rules = sorted(rules, key=lambda rule: (len(rule[0]), not rule[1]), reverse=True)
        self.library_roots = [os.path.realpath(p) for p in policy.library_roots]
        self.pid = os.getpid()
        self.active = False

    # -- paths ---------------------------------------------------------------------------------
    def _resolve(self, path: Any, dir_fd: Any = None) -> str | None:
        if isinstance(path, int):
            return None  # an already open descriptor: it was checked when it was opened
        try:
            path = os.fsdecode(os.fspath(path))
        except TypeError:
            return None
        if not os.path.isabs(path):
            base = os.getcwd()
            if isinstance(dir_fd, int):
                try:
                    base = os.readlink(f"/proc/self/fd/{dir_fd}")
                except OSError:
                    base = "/nonexistent-dir-fd"
            path = os.path.join(base, path)
        return os.path.realpath(path)

    def readable(self, resolved: str) -> bool:
        for root, allowed in self.rules:
            if resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep):
                return allowed
        return True

    def _check_read(self, path: Any, dir_fd: Any = None) -> None:
        resolved = self._resolve(path, dir_fd)
        if resolved is None:
            return
        if not self.readable(resolved):
            raise PermissionError(f"the grader does not let a notebook read {resolved}")
        if resolved.startswith("/proc/"):
            part = resolved.split("/")[2]
            if part.isdigit() and int(part) != self.pid:
                raise PermissionError("the grader does not let a notebook look at other processes")

    def _check_write(self, path: Any, dir_fd: Any = None) -> None:
        resolved = self._resolve(path, dir_fd)
        if resolved is None or resolved == os.devnull:
            return
        if not _under(resolved, [self.scratch]):
            raise PermissionError(
                f"the grader lets a notebook write only inside its scratch folder, not to {resolved}")

    def _check_socket(self, event: str, args: tuple) -> None:
        if event in ("socket.gethostname", "socket.sethostname"):
            return
        if not self.policy.loopback:
            raise PermissionError("the grader does not allow network access")
        if event == "socket.__new__":
            family = args[1] if len(args) > 1 else None
            if family not in (socket_family("AF_INET"), socket_family("AF_INET6"), -1, None):
                raise PermissionError("the grader allows only loopback network sockets")
            return
        if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
            address = args[1] if len(args) > 1 else None
            host = address[0] if isinstance(address, tuple) and address else address
            if host not in _LOOPBACK_HOSTS:
                raise PermissionError("the grader allows network connections to this machine's "
                                      "loopback address only")
            return
        if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                     "socket.gethostbyaddr", "socket.getnameinfo"):
            host = args[0] if args else None
            if isinstance(host, bytes):
                host = host.decode(errors="replace")
            if host not in _LOOPBACK_HOSTS:
                raise PermissionError("the grader does not allow network access")
            return

    # -- the hook --------------------------------------------------------------------------------
    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        handler = _HANDLERS.get(event)
        if handler is not None:
            if handler in _PROCESS_HANDLERS and self.policy.processes:
                return  # programs are allowed (under bubblewrap), and so is stopping them
            handler(self, args)
        elif event.startswith("socket."):
            self._check_socket(event, args)

    def install(self) -> None:
        sys.addaudithook(self)
        _wrap_native_file_functions(self)
        self.active = True


def socket_family(name: str) -> int:
    import socket

    return int(getattr(socket, name))


def _forbid(message: str):
    def handler(guard: Guard, args: tuple) -> None:
        raise PermissionError(message)
    return handler


def _open(guard: Guard, args: tuple) -> None:
    path, mode, flags = (tuple(args) + (None, None, None))[:3]
    writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
              (isinstance(flags, int) and bool(flags & _WRITE_FLAGS))
    if writing:
        guard._check_write(path)
    guard._check_read(path)


def _paths_written(*positions: int, dir_fd_at: int | None = None):
    def handler(guard: Guard, args: tuple) -> None:
        dir_fd = args[dir_fd_at] if dir_fd_at is not None and len(args) > dir_fd_at else None
        for position in positions:
            if len(args) > position:
                guard._check_write(args[position], dir_fd)
    return handler


def _paths_read(*positions: int):
    def handler(guard: Guard, args: tuple) -> None:
        for position in positions:
            if len(args) > position and args[position] is not None:
                guard._check_read(args[position])
    return handler


def _link(guard: Guard, args: tuple) -> None:
    src, dst = args[0], args[1]
    guard._check_read(src, args[2] if len(args) > 2 else None)
    guard._check_write(src, args[2] if len(args) > 2 else None)
    guard._check_write(dst, args[3] if len(args) > 3 else None)


def _rename(guard: Guard, args: tuple) -> None:
    guard._check_write(args[0], args[2] if len(args) > 2 else None)
    guard._check_write(args[1], args[3] if len(args) > 3 else None)


def _symlink(guard: Guard, args: tuple) -> None:
    guard._check_write(args[1], args[2] if len(args) > 2 else None)


def _copy(guard: Guard, args: tuple) -> None:
    guard._check_read(args[0])
    guard._check_write(args[1])


def _kill(guard: Guard, args: tuple) -> None:
    if args and args[0] not in (0, guard.pid):
        raise PermissionError("the grader does not let a notebook signal other processes")


def _dlopen(guard: Guard, args: tuple) -> None:
    name = args[0] if args else None
    if isinstance(name, (str, bytes)) and os.path.isabs(os.fsdecode(name)):
        if _under(os.path.realpath(os.fsdecode(name)), guard.library_roots):
            return  # a library of an installed package (torchvision's operators ...)
    raise PermissionError("the grader does not let a notebook load native libraries with ctypes")


def _ioctl(guard: Guard, args: tuple) -> None:
    if len(args) > 1 and args[1] == _TIOCSTI:
        raise PermissionError("the grader does not let a notebook type into a terminal")


_NO_PROGRAMS = _forbid("the grader does not let a notebook start other programs")
_NO_SIGNALS = _forbid("the grader does not let a notebook signal other processes")
_NO_CTYPES = _forbid("the grader does not let a notebook call native code through ctypes")
_NO_LIMITS = _forbid("the grader does not let a notebook change its resource limits")

_HANDLERS = {
    "open": _open,
    "os.listdir": _paths_read(0),
    "os.scandir": _paths_read(0),
    "glob.glob": _paths_read(0),
    "os.chdir": _paths_read(0),
    "os.remove": _paths_written(0, dir_fd_at=1),
    "os.rmdir": _paths_written(0, dir_fd_at=1),
    "os.mkdir": _paths_written(0, dir_fd_at=2),
    "os.chmod": _paths_written(0, dir_fd_at=2),
    "os.chown": _paths_written(0, dir_fd_at=3),
    "os.chflags": _paths_written(0),
    "os.lchflags": _paths_written(0),
    "os.utime": _paths_written(0, dir_fd_at=3),
    "os.truncate": _paths_written(0),
    "os.setxattr": _paths_written(0),
    "os.removexattr": _paths_written(0),
    "os.rename": _rename,
    "os.link": _link,
    "os.symlink": _symlink,
    "shutil.rmtree": _paths_written(0),
    "shutil.copyfile": _copy,
    "shutil.copytree": _copy,
    "shutil.move": _rename,
    "shutil.chown": _paths_written(0),
    "shutil.unpack_archive": _paths_written(1),
    "shutil.make_archive": _paths_written(0),
    "tempfile.mkstemp": _paths_written(0),
    "tempfile.mkdtemp": _paths_written(0),
    "os.system": _NO_PROGRAMS,
    "os.exec": _NO_PROGRAMS,
    "os.posix_spawn": _NO_PROGRAMS,
    "os.spawn": _NO_PROGRAMS,
    "os.fork": _NO_PROGRAMS,
    "os.forkpty": _NO_PROGRAMS,
    "os.startfile": _NO_PROGRAMS,
    "subprocess.Popen": _NO_PROGRAMS,
    "pty.spawn": _NO_PROGRAMS,
    "webbrowser.open": _NO_PROGRAMS,
    "os.kill": _kill,
    "os.killpg": _NO_SIGNALS,
    "signal.pthread_kill": _kill,
    "ctypes.dlopen": _dlopen,
    "ctypes.dlsym": _NO_CTYPES,
    "ctypes.dlsym/handle": _NO_CTYPES,
    "ctypes.call_function": _NO_CTYPES,
    "ctypes.cdata": _NO_CTYPES,
    "ctypes.cdata/buffer": _NO_CTYPES,
    "ctypes.string_at": _NO_CTYPES,
    "ctypes.wstring_at": _NO_CTYPES,
    "resource.setrlimit": _NO_LIMITS,
    "resource.prlimit": _NO_LIMITS,
    "fcntl.ioctl": _ioctl,
}


def _wrap_native_file_functions(guard: Guard) -> None:
    """Make the PyTorch entry points that open files in C++ go through the guard's checks."""
    import torch

    writer = torch._C.PyTorchFileWriter

    class GuardedFileWriter(writer):  # torch.save(obj, "path") opens the file here, in C++
        def __init__(self, target, *args, **kwargs):
            if isinstance(target, (str, bytes, os.PathLike)):
                guard._check_write(target)
            super().__init__(target, *args, **kwargs)

    torch._C.PyTorchFileWriter = GuardedFileWriter

    def guarded(function, write_flag_position=None):
        def wrapper(filename, *args, **kwargs):
            shared = kwargs.get("shared", args[write_flag_position] if write_flag_position is not None
                                and len(args) > write_flag_position else False)
            guard._check_read(filename)
            if shared:
                guard._check_write(filename)
            return function(filename, *args, **kwargs)
        wrapper.__name__ = getattr(function, "__name__", "from_file")
        wrapper.__doc__ = getattr(function, "__doc__", None)
        return wrapper

    torch.from_file = guarded(torch.from_file, 0)
    for storage in (torch.UntypedStorage, torch.TypedStorage):
        original = storage.from_file
        storage.from_file = staticmethod(guarded(original, 0))
    # os.open(name, flags, dir_fd=fd) raises the "open" event without dir_fd, so the hook cannot
    # tell which folder a relative name is in: resolve it here and pass an absolute path on.
    original_open = os.open

    def guarded_open(path, flags, mode=0o777, *, dir_fd=None):
        if dir_fd is not None and not isinstance(path, int):
            name = os.fsdecode(os.fspath(path))
            if not os.path.isabs(name):
                path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name)
        return original_open(path, flags, mode)

    guarded_open.__doc__ = original_open.__doc__
    os.open = guarded_open
    import posix

    posix.open = guarded_open
    if not guard.policy.processes:
        import _posixsubprocess

        # subprocess audits itself, but its C helper does not: take the helper away.
        if hasattr(_posixsubprocess, "fork_exec"):
            delattr(_posixsubprocess, "fork_exec")


_PROCESS_HANDLERS = (_NO_PROGRAMS, _NO_SIGNALS, _kill)
