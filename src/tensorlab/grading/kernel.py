"""The grading kernels: a *zygote* that imports the course's libraries once, and the kernels it
forks, one per submission, which run the student's cells inside the sandbox.

Importing PyTorch and friends costs a few seconds of CPU per process; forking a process that has
already done so costs milliseconds. So each grading worker starts one zygote
(``python -m tensorlab.grading.kernel --zygote --fd N``, under bubblewrap when available), and for
each submission asks it for a fresh kernel. The kernel is a forked copy of the pristine zygote:
nothing one submission does reaches the zygote or the next submission's kernel.

A kernel talks to the judge over its own pipes, never over a socket, in frames: one JSON header
line, then ``size`` bytes of payload.

1. Right after the fork it sets its limits, its working folder (the submission's scratch folder)
   and environment, creates an IPython InteractiveShell (the engine inside a Jupyter kernel, so
   magics and ``display`` work), installs the guard (:mod:`tensorlab.grading.guard`) and says
   "ready".
2. ``run``: runs one cell and replies with the error it raised, if any.
3. ``fetch``: evaluates answer expressions in the notebook's namespace and sends each as wire
   data (:mod:`tensorlab.grading.wire`). A function or any other object that is not plain data is
   kept here and sent as an id.
4. ``op``: does one thing with such an object -- calls it on arguments the judge sends, or takes
   an attribute, an item, its length, the next item -- and sends back the result (and, after a
   call, the arguments as the call left them).

Everything the student's code can reach in a kernel -- ``torch``, ``numpy``, the check functions,
this module -- may be patched by it; that only changes the data sent back, which the judge then
judges with its own, untouched copies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import traceback

_read, _write = os.read, os.write  # kept before any student code could patch os
MAX_HEADER = 1 << 20
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36


class Pipe:
    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd
        self.buffer = bytearray()

    def _fill(self) -> None:
        chunk = _read(self.read_fd, 1 << 16)
        if not chunk:
            raise EOFError("the grader closed the pipe")
        self.buffer += chunk

    def receive(self) -> tuple[dict, bytes]:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_HEADER:
                raise ValueError("header too long")
            self._fill()
        end = self.buffer.index(b"\n")
        header = json.loads(bytes(self.buffer[:end]))
        del self.buffer[:end + 1]
        size = int(header.get("size", 0))
        while len(self.buffer) < size:
            self._fill()
        payload = bytes(self.buffer[:size])
        del self.buffer[:size]
        return header, payload

    def send(self, header: dict, payload: bytes = b"") -> None:
        data = json.dumps(dict(header, size=len(payload))).encode() + b"\n" + payload
        view = memoryview(data)
        # an interrupt meant for a cell must not cut a reply in half
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            while view:
                written = _write(self.write_fd, view)
                view = view[written:]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _error(error: BaseException) -> dict:
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a __str__ that raises
        message = ""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return {"type": type(error).__name__[:80], "message": first[:300]}


# ---------------------------------------------------------------------------------------------
# one kernel (a forked child of the zygote)
# ---------------------------------------------------------------------------------------------

class Kernel:
    def __init__(self, pipe: Pipe, shell):
        from tensorlab.grading import wire

        self.pipe, self.shell, self.wire = pipe, shell, wire
        self.objects: dict[int, object] = {}

    def register(self, value) -> int:
        oid = len(self.objects) + 1
        self.objects[oid] = value
        return oid

    def blob(self, value) -> bytes:
        return self.wire.dumps(self.wire.encode(value, self.register))

    def run(self, header: dict) -> None:
        import matplotlib.pyplot as plt

        started = time.perf_counter()
        error = None
        try:
            result = self.shell.run_cell(header["source"], store_history=True, silent=False)
            failure = result.error_before_exec or result.error_in_exec
            if failure is not None:
                error = _error(failure)
        except BaseException as failure:  # noqa: BLE001 - e.g. an interrupt outside the cell's code
            error = _error(failure)
        try:
            plt.close("all")  # what Jupyter's inline backend does after every cell
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001 - the notebook may have replaced or closed them
            pass
        self.pipe.send({"reply": "run", "error": error, "seconds": time.perf_counter() - started})

    def fetch(self, header: dict) -> None:
        blobs, errors = {}, {}
        for key, expression in header["items"].items():
            try:
                value = eval(compile(expression, "<answer>", "eval"), self.shell.user_ns)  # noqa: S307
                blobs[key] = self.blob(value)
            except BaseException as failure:  # noqa: BLE001 - reported per answer
                errors[key] = _error(failure)
        self.pipe.send({"reply": "fetch", "errors": errors}, self.wire.dumps(blobs))

    def op(self, header: dict, payload: bytes) -> None:
        """Do one thing with a kept object: call it, or take an attribute, an item, its length ..."""
        import copy

        wire = self.wire
        try:
            target = self.objects[header["oid"]]
            args, kwargs = wire.from_refs(wire.loads_trusted(payload), self.objects)
            name, after = header.get("op"), None
            if name == "call":
                result = target(*args, **kwargs)
                after = wire.encode((args, kwargs), self.register, modules_as_state=True)
            elif name == "getattr":
                result = getattr(target, args[0])
            elif name == "getitem":
                result = target[args[0]]
            elif name == "len":
                result = len(target)
            elif name == "iter":
                result = iter(target)
            elif name == "next":
                result = next(target)
            elif name == "bool":
                result = bool(target)
            elif name == "deepcopy":
                result = copy.deepcopy(target)
            else:
                raise ValueError(f"unknown operation {name!r}")
            blob = wire.dumps({"result": wire.encode(result, self.register), "after": after})
        except BaseException as failure:  # noqa: BLE001 - the judge reports it like the checks do
            self.pipe.send({"reply": "op", "error": _error(failure)})
            return
        self.pipe.send({"reply": "op", "error": None}, blob)

    def serve(self) -> None:
        while True:
            try:
                header, payload = self.pipe.receive()
            except KeyboardInterrupt:  # an interrupt that arrived just after a cell ended
                continue
            except EOFError:
                return
            command = header.get("cmd")
            try:
                if command == "run":
                    self.run(header)
                elif command == "fetch":
                    self.fetch(header)
                elif command == "op":
                    self.op(header, payload)
                elif command == "exit":
                    return
            except KeyboardInterrupt:
                self.pipe.send({"reply": command, "error": {"type": "KeyboardInterrupt", "message": ""}})


def _vm_data() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _set_limits(settings: dict) -> None:
    import resource

    def limit(kind: int, value: int | None) -> None:
        if value:
            _, hard = resource.getrlimit(kind)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))

    # RLIMIT_DATA counts what the process already has (the zygote's imports): the notebook gets
    # memory_bytes on top of that.
    if settings.get("memory_bytes"):
        limit(resource.RLIMIT_DATA, settings["memory_bytes"] + _vm_data())
    limit(resource.RLIMIT_FSIZE, settings.get("file_bytes"))
    if settings.get("cpu_seconds"):
        used = int(sum(os.times()[:2]))
        limit(resource.RLIMIT_CPU, settings["cpu_seconds"] + used)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file write fails instead of killing


def _make_shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class GradingShell(InteractiveShell):
        """IPython without a GUI: ``%matplotlib inline`` (or any backend) keeps the Agg backend,
        which draws nothing; figures are closed after every cell as the inline backend does."""

        def enable_gui(self, gui=None):
            return None

        def enable_matplotlib(self, gui=None):
            return gui, "agg"

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.xmode = "Plain"
    return GradingShell.instance(config=config)


def _kernel_main(settings: dict, fds: list[int], zygote_cwd: str, prctl) -> None:
    """In the forked child: become the submission's kernel, serve the judge, never return."""
    code = 0
    try:
        cmd_read, reply_write, out_write = fds
        os.setpgid(0, 0)  # its own process group: the judge can stop it and all it started at once
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_write, 1)
        os.dup2(out_write, 2)
        for fd in (null, out_write):
            os.close(fd)
        pipe = Pipe(cmd_read, reply_write)
        try:
            scratch = settings["scratch"]
            os.chdir(scratch)
            os.environ.clear()
            os.environ.update(settings["env"])
            import tempfile

            tempfile.tempdir = None  # recomputed from $TMPDIR (the scratch folder)
            sys.path[:] = [scratch if p in ("", zygote_cwd) else p for p in sys.path]
            _set_limits(settings)
            shell = _make_shell()
            from tensorlab.grading import guard

            guard.install(guard.Policy.from_dict(settings["policy"]))
        except BaseException:  # noqa: BLE001 - tell the judge why the kernel could not start
            pipe.send({"reply": "ready", "error": traceback.format_exc()[-2000:]})
            code = 1
            return
        pipe.send({"reply": "ready", "error": None})
        Kernel(pipe, shell).serve()
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)  # never back into the zygote's loop; do not wait for the notebook's threads


# ---------------------------------------------------------------------------------------------
# the zygote
# ---------------------------------------------------------------------------------------------

def _libc_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _preload(modules: list[str], statements: list[str]) -> list[str]:
    """Import what the notebooks will import, and warm up what is slow the first time."""
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    problems = []
    for name in ["torch", "numpy", "matplotlib.pyplot", "PIL.Image", "IPython",
                 "IPython.core.interactiveshell", "traitlets.config", "tensorlab",
                 "tensorlab.grading.wire", "tensorlab.grading.guard", *modules]:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - the notebook will meet the same error itself
            problems.append(f"import {name}: {type(error).__name__}: {error}")
    for statement in statements:  # the course notebooks' own top-level imports (instructor code)
        try:
            exec(statement, {})  # noqa: S102
        except Exception as error:  # noqa: BLE001
            problems.append(f"{statement}: {type(error).__name__}: {error}")
    try:
        import matplotlib.pyplot as plt
        import torch

        torch.testing.assert_close(torch.zeros(2), torch.zeros(2))  # imports a lot the first time
        torch.nn.Linear(2, 3)(torch.ones(2))
        figure, axes = plt.subplots()
        axes.plot([0, 1])
        figure.canvas.draw()
        plt.close("all")
    except Exception as error:  # noqa: BLE001
        problems.append(f"warm-up: {type(error).__name__}: {error}")
    return problems


def _send_json(sock: socket.socket, message: dict) -> None:
    sock.send(json.dumps(message).encode())  # a SOCK_SEQPACKET socket: one message per send


def zygote_main(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    settings = json.loads(sock.recv(MAX_HEADER))
    prctl = _libc_prctl()
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)      # die with the judge
        prctl(PR_SET_CHILD_SUBREAPER, 1)             # orphans of kernels stay in reach
        prctl(PR_SET_DUMPABLE, 0)                    # other processes of the user cannot trace us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    statuses: dict[int, str] = {}

    def reap(*_):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            statuses[pid] = (f"was killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                             else f"exited with code {os.WEXITSTATUS(status)}")

    signal.signal(signal.SIGCHLD, reap)
    started = time.perf_counter()
    problems = _preload(settings.get("preload", []), settings.get("statements", []))
    threads = len(os.listdir("/proc/self/task"))
    _send_json(sock, {"reply": "ready", "pid": os.getpid(), "seconds": time.perf_counter() - started,
                      "problems": problems, "threads": threads})
    zygote_cwd = os.getcwd()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, MAX_HEADER, 3)
        except (ConnectionError, OSError):
            return 0
        if not message:
            return 0
        header = json.loads(message)
        if header.get("cmd") == "spawn":
            if len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                _send_json(sock, {"reply": "spawn", "error": "expected three pipes"})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                sock.close()
                _kernel_main(header, fds, zygote_cwd, prctl)
            for fd in fds:
                os.close(fd)
            _send_json(sock, {"reply": "spawn", "pid": pid, "threads": threading.active_count()})
        elif header.get("cmd") == "status":
            reap()
            _send_json(sock, {"reply": "status", "status": statuses.pop(int(header.get("pid", -1)), None)})
        elif header.get("cmd") == "exit":
            return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "--zygote" or argv[1] != "--fd":
        print("usage: python -m tensorlab.grading.kernel --zygote --fd N", file=sys.stderr)
        return 2
    return zygote_main(int(argv[2]))


if __name__ == "__main__":
    sys.exit(main())
