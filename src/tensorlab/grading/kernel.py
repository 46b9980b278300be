"""Running one submission's cells in a fresh sandboxed Jupyter kernel, with nbclient.

nbclient runs each cell, interrupts it when its time is up and reports a kernel that died. On top of
that, :class:`NotebookRun` only decides: a cell that will not stop after the interrupt, or that kills
the kernel, is skipped and the notebook run again from the top in another fresh sandbox (at most
``max_restarts`` times); and everything -- kernels, restarts, cells, the calls made while judging --
shares one deadline. :meth:`~NotebookRun.answers` and :meth:`~NotebookRun.call` then send the kernel
one-line cells of the grader's (:mod:`tensorlab.grading.wire`) and read back data.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from tensorlab.checking import one_line
from tensorlab.grading import wire
from tensorlab.grading.sandbox import Plan, Sandbox, destroy_contexts
from tensorlab.grading.status import CRASHED, OVER_LIMIT, TIMED_OUT

TIMEOUT = "CellTimeout"  # the error nbclient reports for a cell whose time ran out (it was interrupted)
QUIET = logging.getLogger("tensorlab.grading.nbclient")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


class GiveUp(Exception):
    """The notebook cannot be run (any more) in this grading; the message says why."""


@dataclass(frozen=True)
class Unavailable:
    type: str  # what evaluating the answer raised (NameError ...), or WireError: unreadable
    message: str


@dataclass
class Cell:
    index: int  # position in the submitted notebook
    source: str
    label: str  # for people: "cell 40 (the answer cell of q3)"


class Printed:
    """What the notebook printed: the beginning and the end, for the instructor's log."""

    def __init__(self, keep: int = 8192):
        self.keep, self.head, self.tail, self.total = keep, "", "", 0

    def add(self, text: str) -> None:
        room = max(self.keep - len(self.head), 0)
        self.total, self.head, self.tail = (
            self.total + len(text),
            self.head + text[:room],
            (self.tail + text[room:])[-self.keep :],
        )

    def text(self) -> str:
        skipped = self.total - len(self.head) - len(self.tail)
        return self.head + (f"\n[... {skipped:,} characters left out ...]\n" if skipped > 0 else "") + self.tail


class Client(NotebookClient):
    """nbclient's client, keeping of the outputs only text for the log and the grader's own answer data:
    a notebook that prints or draws gigabytes costs the grader nothing."""

    def output(self, outs, msg, display_id, cell_index):  # nbclient's hook for every output message
        content = msg["content"]
        if msg["msg_type"] == "stream":
            self.printed.add(str(content.get("text", "")))
        elif msg["msg_type"] == "error":
            self.printed.add(f"{content.get('ename', '')}: {content.get('evalue', '')}\n")
        elif self.reading and wire.MIME in content.get("data", {}):
            outs.append(content["data"][wire.MIME])


@dataclass(eq=False)  # hashed by identity: the grader keeps a set of the running ones
class NotebookRun:
    cells: list[Cell]
    plan: Plan
    root: Path  # where the sandboxes' private folders go
    deadline: float  # time.monotonic() by which all must be done
    events: list[tuple[str, str]] = field(default_factory=list)  # (status, what happened)
    cell_errors: dict[int, tuple[str, str]] = field(default_factory=dict)  # index -> (type, message)
    interrupted: set[int] = field(default_factory=set)
    skip: set[int] = field(default_factory=set)
    stopped_early: str = ""  # why later cells did not run
    printed: Printed = field(default_factory=Printed)
    log: list[str] = field(default_factory=list)
    peak_memory: int = 0
    survivors: list[int] = field(default_factory=list)  # processes that outlived their sandbox
    kernels: int = 0
    sandbox: Sandbox | None = None
    client: Client | None = None

    def run(self) -> None:
        """Run every cell, restarting without a cell that kills the kernel or will not stop."""
        while True:
            self._start()
            skip = self._run_cells()
            if skip is None:
                return
            self.skip.add(skip)
            self.close()
            if self.kernels > self.plan.limits.max_restarts:
                raise GiveUp(f"gave up after {self.kernels} kernels")

    def _start(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining < 1:
            self.events.append((TIMED_OUT, "the time for this notebook ran out before a kernel started"))
            raise GiveUp("ran out of time")
        self.sandbox, self.kernels = Sandbox(self.plan, self.root), self.kernels + 1
        self.client = Client(
            nbformat.v4.new_notebook(),
            km=self.sandbox.manager,
            allow_errors=True,
            startup_timeout=int(min(self.plan.limits.startup_seconds, remaining)),
            timeout_func=self._timeout,
            interrupt_on_timeout=True,
            iopub_timeout=2,
            log=QUIET,
            error_on_timeout={"ename": TIMEOUT, "evalue": "", "traceback": []},
        )
        self.client.printed, self.client.reading, self.client.on_cell_executed = self.printed, False, self._record
        try:
            self.client.start_new_kernel(**self.sandbox.start_arguments())
            self.sandbox.started()
            self.client.start_new_kernel_client()
        except Exception as error:
            self.log.append(
                f"kernel {self.kernels} did not start: {type(error).__name__}: {one_line(error)}; "
                f"it said: {self.sandbox.stderr_tail()[-600:]!r}"
            )
            self.close()
            raise GiveUp("could not start a kernel") from None
        self.log.append(
            f"kernel {self.kernels} started ({'trusted: no sandbox' if self.plan.trusted else 'bubblewrap'})"
        )

    def close(self) -> None:
        if self.client is not None:
            kc, km = self.client.kc, self.client.km
            try:
                if kc is not None:
                    kc.stop_channels()
                run_sync(km.shutdown_kernel)(now=True)
            except Exception as error:  # the sandbox below is killed whole anyway
                self.log.append(f"shutting the kernel down: {type(error).__name__}: {one_line(error)}")
            finally:
                destroy_contexts(*[c.context for c in (kc, km) if c is not None])
        if self.sandbox is not None:
            self.peak_memory = max(self.peak_memory, self.sandbox.watchdog.peak if self.sandbox.watchdog else 0)
            self.survivors += self.sandbox.stop()
        self.client = self.sandbox = None

    def _timeout(self, cell) -> int:
        return max(1, int(min(self.plan.limits.cell_seconds, self.deadline - time.monotonic())))

    def _record(self, cell, cell_index, execute_reply) -> None:  # nbclient's hook after every cell
        content = (execute_reply or {}).get("content", {})
        if content.get("status") == "error":
            cell.metadata["error"] = (str(content.get("ename", "")), str(content.get("evalue", "")))

    def _why_dead(self) -> tuple[str, str]:
        reason = self.sandbox.watchdog.reason if self.sandbox.watchdog else ""
        return (OVER_LIMIT, reason) if reason else (CRASHED, self.sandbox.exit_status())

    def _execute(self, source: str, store_history: bool = True) -> nbformat.NotebookNode:
        """Run one cell; its metadata["error"] says what it raised, or that its time ran out."""
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.client.nb.cells) - 1, store_history=store_history)
        return cell

    def _stopped(self) -> bool:
        """After an interrupt: did the kernel stop and answer within the grace period?"""
        grace = self.plan.limits.interrupt_grace
        self.client.timeout_func = lambda cell: max(1, int(min(grace, self.deadline - time.monotonic())))
        try:
            return self._execute("pass", store_history=False).metadata.get("error", ("",))[0] != TIMEOUT
        finally:
            self.client.timeout_func = self._timeout

    def _run_cells(self) -> int | None:
        """Run the cells; None when done, or the index of a cell to skip in a fresh kernel."""
        self.cell_errors, self.stopped_early = {}, ""
        for cell in [c for c in self.cells if c.index not in self.skip]:
            if self.deadline - time.monotonic() < 1:
                self.stopped_early = "the time for this notebook ran out"
                self.events.append((TIMED_OUT, f"{self.stopped_early} before {cell.label}"))
                return None
            try:
                error = self._execute(cell.source).metadata.get("error")
                if error and error[0] == TIMEOUT:
                    self.interrupted.add(cell.index)
                    if not self._stopped():
                        self.events.append(
                            (
                                TIMED_OUT,
                                f"{cell.label} ran too long, did not stop when interrupted, "
                                "and was skipped in a fresh kernel",
                            )
                        )
                        return cell.index
                    self.events.append((TIMED_OUT, f"{cell.label} ran too long and was interrupted"))
                elif error:
                    self.cell_errors[cell.index] = error
            except DeadKernelError:
                status, reason = self._why_dead()
                self.events.append(
                    (status, f"the kernel {reason} in {cell.label}; that cell was skipped in a fresh kernel")
                )
                return cell.index
        return None

    def _ask(self, source: str) -> Any:
        """Run a grader cell that publishes wire data; return it as the safe unpickler read it."""
        if self.client is None or self.deadline - time.monotonic() < 1:
            raise (
                GiveUp("the kernel is gone")
                if self.client is None
                else TimeoutError("the time for this notebook ran out")
            )
        # the data comes on iopub: wait for it, but never past the notebook's deadline
        self.client.reading = True
        self.client.iopub_timeout = int(max(2, min(30, self.deadline - time.monotonic())))
        try:
            cell = self._execute(source, store_history=False)
        except DeadKernelError:
            status, reason = self._why_dead()
            self.events.append((status, f"the kernel {reason} while the grader read the answers"))
            self.close()
            raise GiveUp(f"the kernel {reason}") from None
        finally:
            if self.client is not None:
                self.client.reading, self.client.iopub_timeout = False, 2
        error = cell.metadata.get("error")
        if error and error[0] == TIMEOUT:
            if not self._stopped():
                self.close()
            raise TimeoutError(f"it ran longer than {self._timeout(None)} s")
        if not cell.outputs or len(cell.outputs[-1]) > (self.plan.limits.answer_mb << 20) * 4 // 3 + 4:
            raise wire.WireError(
                f"it is more than {self.plan.limits.answer_mb} MB of data"
                if cell.outputs
                else f"nothing came back ({error[0] if error else 'no data'})"
            )
        return wire.loads(base64.b64decode(cell.outputs[-1]))

    def answers(self, expressions: dict[str, str]) -> dict[str, Any]:
        """key -> the value of each expression in the notebook's namespace, as data, or Unavailable."""
        try:
            reply = self._ask(f"__import__('tensorlab.grading.wire').grading.wire.send_answers({expressions!r})")
        except (TimeoutError, wire.WireError) as error:
            self.log.append(f"the answers could not be read: {type(error).__name__}: {one_line(error)}")
            raise GiveUp("its answers could not be read") from None
        items = dict(i for i in reply if type(i) is tuple and len(i) == 2) if type(reply) is list else {}
        values: dict[str, Any] = {}
        for key in expressions:
            try:  # each answer read on its own: an unreadable one costs only itself
                item = wire.loads(items[key]) if type(items.get(key)) is bytes else None
                if type(item) is tuple and len(item) == 2 and item[0] == "value":
                    values[key] = wire.decode(item[1], self.call)
                elif type(item) is tuple and len(item) == 3 and item[0] == "error":
                    values[key] = Unavailable(str(item[1]), str(item[2]))
                else:
                    values[key] = Unavailable("WireError", "the answer did not come back")
            except Exception as error:
                values[key] = Unavailable(
                    "WireError",
                    str(error) if isinstance(error, wire.WireError) else "it is not data the grader can read",
                )
        return values

    def call(self, oid: int, args: tuple, kwargs: dict) -> Any:
        """Run the student's kept object ``oid`` in the kernel on the grader's arguments; the result as data."""
        try:
            reply = self._ask(
                f"__import__('tensorlab.grading.wire').grading.wire.send_call("
                f"{oid!r}, {wire.dumps_arguments(args, kwargs)!r})"
            )
        except GiveUp as error:
            raise RuntimeError(f"the kernel stopped while running it ({error})") from None
        if type(reply) is tuple and len(reply) == 3 and reply[0] == "error":
            raise wire.remote_exception(str(reply[1]), str(reply[2]))
        if type(reply) is not tuple or len(reply) != 3 or reply[0] != "value":
            raise wire.WireError("its result did not come back")
        try:
            result, after = wire.decode(reply[1], self.call), wire.decode(reply[2], self.call)
        except Exception as error:
            raise wire.WireError(
                str(error) if isinstance(error, wire.WireError) else "its result is not data"
            ) from None
        wire.sync([list(args), dict(kwargs)], after)
        return result
