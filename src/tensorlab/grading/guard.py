"""The in-kernel guard: a Python audit hook that refuses what a notebook has no business doing.

Installed by :mod:`tensorlab.grading.kernel` after the course's libraries are imported and before
the first student cell runs. It refuses, with a ``PermissionError`` that names the rule:

- starting programs (``subprocess``, ``os.system``, ``os.fork``, ``os.exec*``, ``os.posix_spawn``)
  and sockets (the kernel talks to the grader over pipes, so it needs none) -- except that under
  bubblewrap, where they cannot reach outside the sandbox, programs and loopback sockets are
  allowed (notebook 07 starts ``torchrun``, whose processes meet on 127.0.0.1);
- reading the solutions, the tests, the git history, the submissions folder, the output folder,
  other submissions' scratch folders, the home folder, and other processes' ``/proc`` entries
  (the rules: the longest path that contains a file decides);
- creating, changing, renaming or deleting files anywhere but the submission's scratch folder;
- ``ctypes`` calls, loading native libraries from outside the Python installation, raising
  resource limits, signalling other processes, and walking the garbage collector's object lists.

How it resists the notebook it guards. ``sys.addaudithook`` hooks cannot be removed from Python.
The hook and its helpers are built by :func:`install` as functions that read no global names: every
function, type and constant they use is bound as a default argument when they are made (a test
checks the bytecode), so patching ``os.path.realpath``, ``builtins.isinstance`` or this module
changes nothing, and nothing they hold is mutable (tuples, frozensets, strings, C functions);
replacing their code or defaults is refused. Paths are resolved with the C functions
``posix.lstat``/``posix.readlink`` by code of its own, and only ``str``, ``bytes``, descriptors,
``pathlib`` paths and ``os.DirEntry`` are accepted as paths (a path-like object of the notebook's
own could give one name to the check and another to ``open``).

It is still a guard rail, not a security boundary: PEP 578 audit hooks see only what Python code
does. Native code -- a C extension, or the PyTorch functions that open files in C++
(``torch.save``, ``torch.from_file``, wrapped here, but the originals stay reachable) -- goes around
it. Real isolation comes from running the kernel under bubblewrap (see
:mod:`tensorlab.grading.sandbox`), which the grader does whenever it can. Either way the grade does
not depend on it: answers are judged in the grader's own process.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

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


_WRITE_EVENTS = {  # event -> (positions of paths written, position of dir_fd or None)
    "os.remove": ((0,), 1), "os.rmdir": ((0,), 1), "os.mkdir": ((0,), 2), "os.chmod": ((0,), 2),
    "os.chown": ((0,), 3), "os.chflags": ((0,), None), "os.lchflags": ((0,), None),
    "os.utime": ((0,), 3), "os.truncate": ((0,), None), "os.setxattr": ((0,), None),
    "os.removexattr": ((0,), None), "shutil.rmtree": ((0,), 1), "shutil.chown": ((0,), None),
    "shutil.unpack_archive": ((1,), None), "shutil.make_archive": ((0,), None),
    "tempfile.mkstemp": ((0,), None), "tempfile.mkdtemp": ((0,), None),
    "os.symlink": ((1,), 2), "shutil.move": ((0, 1), None),
}
_READ_EVENTS = {"os.listdir", "os.scandir", "glob.glob", "os.chdir"}
_PROGRAM_EVENTS = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                   "os.startfile", "subprocess.Popen", "pty.spawn", "webbrowser.open"}
_SIGNAL_EVENTS = {"os.kill", "os.killpg", "signal.pthread_kill"}
_CTYPES_EVENTS = {"ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
                  "ctypes.cdata/buffer", "ctypes.string_at", "ctypes.wstring_at"}
_NAME_EVENTS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                "socket.gethostbyaddr", "socket.getnameinfo"}
_ADDRESS_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}
_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::", ""}
_PROTECTED_MODULES = {"_posixsubprocess", "_ctypes"}  # not to be imported afresh once guarded


def install(policy: Policy) -> None:
    """Install the guard in this process (once; it cannot be removed)."""
    import pathlib
    import posix
    import socket

    scratch = _realpath_plain(policy.scratch)
    rules = [(_realpath_plain(p), bool(allowed)) for p, allowed in policy.rules] + [(scratch, True)]
    rules = tuple(sorted(rules, key=lambda rule: (len(rule[0]), not rule[1]), reverse=True))
    libraries = tuple(_realpath_plain(p) for p in policy.library_roots)
    path_types = (pathlib.PurePosixPath, pathlib.PosixPath)
    fspath_of = (pathlib.PurePath.__fspath__, pathlib.PurePath.__str__)

    def text(path, _type=type, _str=str, _bytes=bytes, _int=int, _decode=bytes.decode,
             _copy=str.__str__, _fspath=posix.fspath, _paths=path_types, _entry=posix.DirEntry,
             _methods=fspath_of, _enc=sys.getfilesystemencoding(), _error=PermissionError):
        """The path as an exact str (None for a descriptor); refuses path-likes it cannot trust."""
        kind = _type(path)
        if kind is _int:
            return None
        if kind is _str:
            return path
        if kind is _bytes:
            return _decode(path, _enc, "surrogateescape")
        if kind in _paths and (kind.__fspath__, kind.__str__) == _methods or kind is _entry:
            value = _fspath(path)
            if _type(value) is _bytes:
                value = _decode(value, _enc, "surrogateescape")
            return _copy(value)
        raise _error("the grader accepts str, bytes, pathlib and os.DirEntry paths only")

    def realpath(path, base=None, _getcwd=posix.getcwd, _lstat=posix.lstat, _readlink=posix.readlink,
                 _split=str.split, _join=str.join, _starts=str.startswith, _oserror=OSError,
                 _error=PermissionError, _len=len):
        """Like os.path.realpath, from C functions only (relative to ``base`` or the cwd)."""
        if not _starts(path, "/"):
            path = (base if base is not None else _getcwd()) + "/" + path
        pending = _split(path, "/")
        resolved = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part == "" or part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + _join("/", resolved + [part])
            try:
                mode = _lstat(candidate).st_mode
            except _oserror:
                resolved.append(part)
                continue
            if mode & 0o170000 == 0o120000:  # a symbolic link
                links += 1
                if links > 40:
                    raise _error("too many symbolic links")
                target = _readlink(candidate)
                if _starts(target, "/"):
                    resolved = []
                pending = _split(target, "/") + pending
            else:
                resolved.append(part)
        return "/" + _join("/", resolved)

    def under(path, root, _starts=str.startswith):
        return path == root or _starts(path, root + "/" if root != "/" else "/")

    def resolve(path, dir_fd=None, _text=text, _realpath=realpath, _readlink=posix.readlink,
                _int=int, _str=str, _type=type, _oserror=OSError):
        name = _text(path)
        if name is None:
            return None
        base = None
        if _type(dir_fd) is _int:
            try:
                base = _readlink("/proc/self/fd/" + _str(dir_fd))
            except _oserror:
                base = "/nonexistent-dir-fd"
        return _realpath(name, base)

    def check_read(path, dir_fd=None, _resolve=resolve, _under=under, _rules=rules, _pid=os.getpid(),
                   _split=str.split, _isdigit=str.isdigit, _int=int, _len=len, _error=PermissionError):
        resolved = _resolve(path, dir_fd)
        if resolved is None:
            return
        for root, allowed in _rules:
            if _under(resolved, root):
                if not allowed:
                    raise _error("the grader does not let a notebook read " + resolved)
                break
        parts = _split(resolved, "/")
        if _len(parts) > 2 and parts[1] == "proc" and _isdigit(parts[2]) and _int(parts[2]) != _pid:
            raise _error("the grader does not let a notebook look at other processes")

    def check_write(path, dir_fd=None, _resolve=resolve, _under=under, _scratch=scratch,
                    _error=PermissionError):
        resolved = _resolve(path, dir_fd)
        if resolved is None or resolved == "/dev/null":
            return
        if not _under(resolved, _scratch):
            raise _error("the grader lets a notebook write only inside its scratch folder, not to "
                         + resolved)

    def hook(event, args, _read=check_read, _write=check_write, _text=text, _len=len, _type=type,
             _str=str, _int=int, _tuple=tuple, _bytes=bytes, _decode=bytes.decode, _starts=str.startswith,
             _under=under, _realpath=realpath, _error=PermissionError, _pid=os.getpid(),
             _processes=bool(policy.processes), _loopback=bool(policy.loopback), _libraries=libraries,
             _writes=_WRITE_EVENTS, _reads=frozenset(_READ_EVENTS), _programs=frozenset(_PROGRAM_EVENTS),
             _signals=frozenset(_SIGNAL_EVENTS), _ctypes=frozenset(_CTYPES_EVENTS),
             _names=frozenset(_NAME_EVENTS), _addresses=frozenset(_ADDRESS_EVENTS),
             _loopback_hosts=frozenset(_LOOPBACK_HOSTS), _protected=frozenset(_PROTECTED_MODULES),
             _inet=(int(socket.AF_INET), int(socket.AF_INET6)), _guarded=(), _tiocsti=_TIOCSTI,
             _write_flags=os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND):
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            if mode is None and _type(path) is not _int:  # os.open: the hook is not told dir_fd ...
                name = _text(path)
                if not _starts(name, "/"):  # ... so a relative name must come through the wrapper
                    raise _error("the grader needs an absolute path for os.open")
            writing = (_type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) \
                or (_type(flags) is _int and flags & _write_flags != 0)
            if writing:
                _write(path)
            _read(path)
        elif event in _writes:
            positions, dir_fd_at = _writes[event]
            dir_fd = args[dir_fd_at] if dir_fd_at is not None and _len(args) > dir_fd_at else None
            for position in positions:
                if _len(args) > position:
                    _write(args[position], dir_fd)
        elif event in _reads:
            if args and args[0] is not None:
                _read(args[0])
        elif event == "os.link" or event == "os.rename":  # (src, dst, src_dir_fd, dst_dir_fd)
            _read(args[0], args[2] if _len(args) > 2 else None)
            _write(args[0], args[2] if _len(args) > 2 else None)
            _write(args[1], args[3] if _len(args) > 3 else None)
        elif event in ("shutil.copyfile", "shutil.copytree"):
            _read(args[0])
            _write(args[1])
        elif event in _programs:
            if not _processes:
                raise _error("the grader does not let a notebook start other programs")
        elif event in _signals:
            if not _processes and not (event != "os.killpg" and args and args[0] in (0, _pid)):
                raise _error("the grader does not let a notebook signal other processes")
        elif event == "ctypes.dlopen":
            name = args[0] if args else None
            if _type(name) in (_str, _bytes):
                name = _text(name)
                if _starts(name, "/"):
                    real = _realpath(name)
                    for root in _libraries:
                        if _under(real, root):
                            return
            raise _error("the grader does not let a notebook load native libraries with ctypes")
        elif event in _ctypes:
            raise _error("the grader does not let a notebook call native code through ctypes")
        elif event in ("resource.setrlimit", "resource.prlimit"):
            raise _error("the grader does not let a notebook change its resource limits")
        elif event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
            raise _error("the grader does not let a notebook walk the garbage collector's lists")
        elif event == "object.__setattr__" or event == "object.__delattr__":
            target = args[0]
            for function in _guarded:
                if target is function:
                    raise _error("the grader's guard cannot be changed")
        elif event == "import":
            if args and args[0] in _protected:
                raise _error("the grader does not let a notebook import " + _str(args[0]))
        elif event == "fcntl.ioctl":
            if _len(args) > 1 and args[1] == _tiocsti:
                raise _error("the grader does not let a notebook type into a terminal")
        elif _starts(event, "socket."):
            if event == "socket.gethostname" or event == "socket.sethostname":
                return
            if not _loopback:
                raise _error("the grader does not allow network access")
            if event == "socket.__new__":
                family = args[1] if _len(args) > 1 else None
                if family is not None and family != -1 and family not in _inet:
                    raise _error("the grader allows only loopback network sockets")
            elif event in _addresses:
                address = args[1] if _len(args) > 1 else None
                host = address[0] if _type(address) is _tuple and address else address
                if host not in _loopback_hosts:
                    raise _error("the grader allows network connections to this machine's loopback only")
            elif event in _names:
                host = args[0] if args else None
                if _type(host) is _bytes:
                    host = _decode(host, "ascii", "replace")
                if host is not None and host not in _loopback_hosts:
                    raise _error("the grader does not allow network access")

    functions = (text, realpath, under, resolve, check_read, check_write, hook)
    hook.__defaults__ = tuple(functions if name == "_guarded" else default for name, default in
                              zip(hook.__code__.co_varnames[2:2 + len(hook.__defaults__)], hook.__defaults__))
    _wrap_native(check_read, check_write, policy)
    sys.addaudithook(hook)


def _realpath_plain(path: str) -> str:
    return os.path.realpath(path)


def guard_functions_read_globals() -> list[str]:
    """For the tests: the global names the guard's functions would look up (must be none), and
    that every one of them is checked."""
    import dis

    found = []
    code = install.__code__
    names = {"text", "realpath", "under", "resolve", "check_read", "check_write", "hook"}
    for const in code.co_consts:
        if hasattr(const, "co_code") and const.co_name in names:
            for instruction in dis.get_instructions(const):
                if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                    found.append(f"{const.co_name}: {instruction.argval}")
            names.discard(const.co_name)
    return found + [f"{name}: not found" for name in sorted(names)]


def _wrap_native(check_read, check_write, policy: Policy) -> None:
    """Route the entry points that open files in C++ (or that take a ``dir_fd`` the hook cannot
    see) through the checks. The originals stay reachable to a determined notebook: a guard rail."""
    import posix

    import torch

    writer = torch._C.PyTorchFileWriter

    class GuardedFileWriter(writer):  # torch.save(obj, "path") opens the file here, in C++
        def __init__(self, target, *args, **kwargs):
            if isinstance(target, (str, bytes, os.PathLike)):
                check_write(target)
            super().__init__(target, *args, **kwargs)

    torch._C.PyTorchFileWriter = GuardedFileWriter

    def guarded(function):
        def wrapper(filename, *args, **kwargs):
            shared = kwargs.get("shared", args[0] if args else False)
            check_read(filename)
            if shared:
                check_write(filename)
            return function(filename, *args, **kwargs)
        wrapper.__name__ = getattr(function, "__name__", "from_file")
        wrapper.__doc__ = getattr(function, "__doc__", None)
        return wrapper

    torch.from_file = guarded(torch.from_file)
    for storage in (torch.UntypedStorage, torch.TypedStorage):
        storage.from_file = staticmethod(guarded(storage.from_file))

    original_open = posix.open

    def guarded_open(path, flags, mode=0o777, *, dir_fd=None):
        """os.open, with a relative name made absolute (the audit event does not say dir_fd)."""
        if not isinstance(path, int):
            name = os.fsdecode(os.fspath(path))
            if not name.startswith("/"):
                base = os.readlink(f"/proc/self/fd/{dir_fd}") if dir_fd is not None else os.getcwd()
                path = base.rstrip("/") + "/" + name
        return original_open(path, flags, mode)

    guarded_open.__doc__ = original_open.__doc__
    os.open = posix.open = guarded_open
    if not policy.processes:
        import _posixsubprocess
        import subprocess

        def no_programs(*args, **kwargs):
            raise PermissionError("the grader does not let a notebook start other programs")

        # subprocess audits itself, but its C helper does not: take the helper away.
        subprocess._fork_exec = no_programs
        if hasattr(_posixsubprocess, "fork_exec"):
            delattr(_posixsubprocess, "fork_exec")
