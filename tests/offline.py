"""Run Python with the network blocked: how the tests prove that no notebook downloads anything.

The course ships its data (datasets/) or makes it with code; nothing may be fetched at run time. The
test suite checks that by running every notebook -- nbval on solutions/, the student-notebook runs,
JupyterLab in the browser test -- in processes where this guard is installed:

* ``socket.socket.connect``/``connect_ex``/``sendto``/``sendmsg`` refuse any Internet address that is
  not loopback (127.0.0.0/8, ::1), and any host name but ``localhost`` and this machine's own name;
* ``socket.getaddrinfo``/``gethostbyname``/``gethostbyname_ex``/``gethostbyaddr``/``getnameinfo``
  refuse to look up any other name, so not even a DNS query leaves the machine.

A refusal raises :class:`NetworkBlockedError` (an ``OSError``; for a look-up also a
``socket.gaierror``) with a message that says what was attempted, from where, and what to do
instead; it is also appended, as one JSON line, to the file named by ``$TENSORLAB_NETWORK_LOG``, so a
notebook that catches the error and carries on is still caught. Unix sockets and loopback (which
Jupyter's kernels and JupyterLab use) work as usual.

How it gets into the processes: :func:`blocked_env` writes a ``sitecustomize.py`` into a folder of
its own and returns the environment variables (``PYTHONPATH`` first among them) with which every
Python started from that environment -- a kernel, the processes a notebook spawns, JupyterLab --
installs the guard before anything else runs. This file is self-contained (standard library only) so
that ``sitecustomize`` can load it without importing the course package (and torch) into every
Python process.

It guards Python's socket layer; code that opens sockets from C on its own (a C library's HTTP
client, say) is outside its reach.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import traceback
from pathlib import Path

ENABLE_VAR = "TENSORLAB_BLOCK_NETWORK"  # "1": sitecustomize installs the guard
LOG_VAR = "TENSORLAB_NETWORK_LOG"  # where refusals (and installs) are recorded, one JSON line each
_MARK = "_tensorlab_blocks_network"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

_SITECUSTOMIZE = """\
# Written by tests/offline.py (blocked_env): block the network in this Python process (tests only).
import os as _os

if _os.environ.get({enable!r}) == "1":
    import importlib.util as _util
    import sys as _sys

    _spec = _util.spec_from_file_location("_tensorlab_offline_guard", {guard!r})
    _guard = _sys.modules["_tensorlab_offline_guard"] = _util.module_from_spec(_spec)
    _spec.loader.exec_module(_guard)
    _guard.install()
    del _util, _sys, _spec, _guard
del _os
"""


class NetworkBlockedError(OSError):
    """Raised instead of reaching the network while the guard is installed."""


class NetworkLookupBlockedError(NetworkBlockedError, socket.gaierror):
    """Raised instead of looking a host name up (DNS) while the guard is installed."""


# sitecustomize loads this file under another name; when that copy is already guarding this process,
# ``tests/offline.py`` shares its error classes, so ``except offline.NetworkBlockedError`` works.
_active = getattr(socket.socket.connect, "_tensorlab_guard", None)
if _active is not None:
    NetworkBlockedError = _active.NetworkBlockedError
    NetworkLookupBlockedError = _active.NetworkLookupBlockedError


def is_installed() -> bool:
    return getattr(socket.socket.connect, _MARK, False)


def _is_local_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name in _LOCAL_NAMES or name.endswith(".localhost") or name == socket.gethostname().lower()


def _is_loopback_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified  # 0.0.0.0 and :: mean this machine


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _where() -> str:
    """Who tried: the innermost frame of the caller's own code (a notebook cell, the course package),
    past the standard library and installed packages; else the innermost frame outside this guard."""
    library = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    frames = [
        f
        for f in reversed(traceback.extract_stack()[:-2])
        if f.filename != __file__ and "_tensorlab_offline_guard" not in f.filename
    ]
    own = [f for f in frames if not f.filename.startswith(library) and not f.filename.startswith("<frozen")]
    frame = (own or frames or [None])[0]
    return f"{frame.filename}:{frame.lineno} ({frame.name})" if frame else "unknown"


def _record(event: str, **details) -> None:
    path = os.environ.get(LOG_VAR)
    if not path:
        return
    entry = {"event": event, "pid": os.getpid(), "argv": getattr(sys, "orig_argv", sys.argv)[:4], **details}
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
    except OSError:
        pass  # the log is a help, never a reason to fail


def _refuse(what: str, target: str, error: type[NetworkBlockedError] = NetworkBlockedError):
    where = _where()
    _record("refused", what=what, target=target, where=where)
    raise error(
        f"network access is blocked here ({what} {target}, from {where}): the course runs offline, so "
        "a notebook must not download anything; ship the file in datasets/ or make it with code "
        "(tests/offline.py)"
    )


def _check_address(sock: socket.socket, address, what: str) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets, netlink, ...: not the network
    if not isinstance(address, tuple) or not address:
        return
    host = str(address[0])
    if _is_ip(host):
        if not _is_loopback_ip(host):
            _refuse(what, repr(address[:2]))
    elif not _is_local_name(host):
        _refuse(what, repr(address[:2]))


def _check_name(host, what: str, reverse: bool = False) -> None:
    """Refuse a look-up that would ask DNS: any name but a local one, and a reverse one of a public IP."""
    if host is None:
        return
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host)
    if host == "" or _is_local_name(host) or (_is_loopback_ip(host) if reverse else _is_ip(host)):
        return
    _refuse(what, repr(host), NetworkLookupBlockedError)


def install() -> None:
    """Block the network in this process (idempotent)."""
    if is_installed():
        return
    cls = socket.socket
    original_connect, original_connect_ex = cls.connect, cls.connect_ex
    original_sendto, original_sendmsg = cls.sendto, cls.sendmsg

    def connect(self, address):
        _check_address(self, address, "connect to")
        return original_connect(self, address)

    def connect_ex(self, address):
        _check_address(self, address, "connect to")
        return original_connect_ex(self, address)

    def sendto(self, data, *args):
        _check_address(self, args[-1] if args else None, "send to")
        return original_sendto(self, data, *args)

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        _check_address(self, address, "send to")
        if address is None:
            return original_sendmsg(self, buffers, ancdata, flags)
        return original_sendmsg(self, buffers, ancdata, flags, address)

    connect._tensorlab_guard = sys.modules[__name__]  # for later copies of this module (see above)
    for name, function in (("connect", connect), ("connect_ex", connect_ex), ("sendto", sendto), ("sendmsg", sendmsg)):
        setattr(function, _MARK, True)
        setattr(cls, name, function)

    def lookup(name):
        original = getattr(socket, name)
        reverse = name in ("gethostbyaddr", "getnameinfo")

        def guarded(*args, **kwargs):
            host = args[0] if args else kwargs.get("host")
            if name == "getnameinfo" and isinstance(host, tuple):
                host = host[0]
            _check_name(host, "look up", reverse)
            return original(*args, **kwargs)

        guarded.__name__ = guarded.__qualname__ = name
        guarded.__doc__ = original.__doc__
        setattr(guarded, _MARK, True)
        setattr(socket, name, guarded)

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
        lookup(name)
    _record("installed")


def write_site_dir(folder: Path) -> Path:
    """Write ``folder/sitecustomize.py``, which installs this guard when ``$TENSORLAB_BLOCK_NETWORK=1``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        _SITECUSTOMIZE.format(enable=ENABLE_VAR, guard=str(Path(__file__).resolve())), encoding="utf-8"
    )
    return folder


def blocked_env(workdir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment variables that make every Python started with them block the network.

    ``workdir`` receives the ``sitecustomize.py`` (in ``workdir/site``) and the log of refusals
    (``workdir/network.jsonl``). Returns ``base`` (default: ``os.environ``) updated, as a new dict.
    """
    env = dict(os.environ if base is None else base)
    site = write_site_dir(Path(workdir) / "site")
    env["PYTHONPATH"] = os.pathsep.join([str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env[ENABLE_VAR] = "1"
    env[LOG_VAR] = str(Path(workdir) / "network.jsonl")
    return env


def read_log(path: str | Path) -> list[dict]:
    """The entries of a guard log (none when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def refusals(path: str | Path) -> list[dict]:
    return [entry for entry in read_log(path) if entry["event"] == "refused"]


def describe(entries: list[dict]) -> str:
    return "\n".join(
        f"  pid {e['pid']} ({' '.join(e['argv'])}): {e['what']} {e['target']} from {e['where']}" for e in entries
    )
