"""Grading one submission: read it, run it in a kernel, judge its answers here.

The judge (this process) never runs student code and never trusts a verdict from the kernel. It
sends the student's cells to a fresh kernel, then asks the kernel for the value of each answer
expression (taken from the solution notebook) as plain data, and judges that data with its own
copy of the exercise (``Exercise.evaluate``). A function answer stays in the kernel: the judge
generates the test cases itself, the kernel only runs the student's function on them and sends the
results back, and the judge compares them with the reference. The hidden tests from the solution
notebook run here too, on the same data.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import shutil
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from tensorlab.checking import FAIL, NOT_ATTEMPTED, PASS, sentence_case
from tensorlab.grading import wire
from tensorlab.grading.course import META, CourseNotebook
from tensorlab.grading.sandbox import (KernelDied, KernelProcess, KernelTimeout, Limits, ProtocolError,
                                      Zygote, ZygoteError)

# statuses (the grades.csv "status" column)
OK, TIMED_OUT, CRASHED = "ok", "timed out", "crashed"
NOT_A_NOTEBOOK, CELLS_MISSING, UNKNOWN_NOTEBOOK = "not a notebook", "exercise cells missing", "unknown notebook"
STATUSES = (OK, TIMED_OUT, CRASHED, NOT_A_NOTEBOOK, CELLS_MISSING, UNKNOWN_NOTEBOOK)

HIDDEN_TEST_MESSAGE = ("your answer passes the check in the notebook, but not the instructor's "
                       "additional tests for this exercise.")


@dataclass
class ExerciseGrade:
    name: str
    label: str
    status: str           # pass / fail / not attempted (as tensorlab.checking.Result)
    message: str          # learner-facing, shown in the feedback
    detail: str = ""      # instructor-only (hidden test failures ...), never in the feedback

    @property
    def passed(self) -> bool:
        return self.status == PASS


@dataclass
class SubmissionGrade:
    path: Path
    relpath: str
    student: str
    sha256: str
    notebook: str = ""
    status: str = OK
    reason: str = ""
    exercises: list[ExerciseGrade] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)      # learner-facing notes about the run
    log: list[str] = field(default_factory=list)        # instructor-only
    output: str = ""
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(e.passed for e in self.exercises)

    @property
    def max(self) -> int:
        return len(self.exercises)


@dataclass
class Context:
    """What every submission's grading needs (shared, read-only, across worker threads)."""

    course: dict[str, CourseNotebook]
    broken: dict[str, str]          # notebooks whose solution could not be loaded, with why
    limits: Limits
    mode: str                       # "bwrap" or "none"
    device: str
    scratch_root: Path
    policy: dict                    # the guard's rules (the scratch folder is filled in per kernel)
    readable: list[str]             # what bubblewrap shows the kernel, read-only ...
    hidden: list[str]               # ... except these, hidden under empty folders
    datasets: str
    font_caches: list[Path]
    keep_scratch: bool = False


def kernel_env(ctx: "Context", home: Path) -> dict:
    """The whole environment of a zygote or kernel: nothing from the instructor's shell."""
    h = str(home)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": h, "TMPDIR": f"{h}/tmp", "MPLCONFIGDIR": f"{h}/.config/matplotlib",
        "IPYTHONDIR": f"{h}/.ipython", "XDG_CACHE_HOME": f"{h}/.cache", "XDG_CONFIG_HOME": f"{h}/.config",
        "TORCH_HOME": f"{h}/.cache/torch", "MPLBACKEND": "Agg", "TERM": "dumb",
        "TENSORLAB_DEVICE": ctx.device, "TENSORLAB_DATASETS": ctx.datasets,
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
    }
    if ctx.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return env


def start_zygote(ctx: "Context", root: Path) -> Zygote:
    """A worker's zygote, with the libraries and exercise modules of every course notebook loaded."""
    home = root / "zygote"
    for sub in ("tmp", ".config/matplotlib", ".ipython", ".cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    for cache in ctx.font_caches:
        shutil.copy2(cache, home / ".config/matplotlib" / cache.name)
    preload = ["tensorlab.plotting", *sorted(nb.module.__name__ for nb in ctx.course.values())]
    statements = []
    for notebook in ctx.course.values():
        statements += [s for s in notebook.imports if s not in statements]
    zygote = Zygote(mode=ctx.mode, root=root, readable=ctx.readable, hidden=ctx.hidden,
                    env=kernel_env(ctx, home),
                    limits=ctx.limits, preload=preload, statements=statements)
    zygote.start()
    return zygote


# ---------------------------------------------------------------------------------------------
# reading the file
# ---------------------------------------------------------------------------------------------

def parse_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """(notebook, "") or (None, why it is not a notebook)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "the file is not text (not a saved notebook)"
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        what = f"line {error.lineno}: {error.msg}" if isinstance(error, json.JSONDecodeError) else "nested too deep"
        return None, f"the file is not JSON ({what})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        return None, "the file is JSON but not a notebook (it has no list of cells)"
    try:
        with warnings.catch_warnings():  # e.g. duplicate cell ids from copied cells: nbformat fixes them
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds
        return None, f"the file is JSON but not a notebook nbformat can read ({_first_line(error)})"
    for cell in notebook.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw") \
                or not isinstance(cell.get("source", ""), str):
            return None, "the file is JSON but its cells are not notebook cells"
        if not isinstance(cell.get("metadata", {}), dict):
            cell["metadata"] = nbformat.NotebookNode()
    return notebook, ""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:160]


def cell_tag(cell: Any) -> dict:
    tag = cell.get("metadata", {}).get(META, {})
    return tag if isinstance(tag, dict) else {}


def structure_problems(notebook: nbformat.NotebookNode, course_nb: CourseNotebook) -> tuple[list[str], list[str]]:
    """(missing, other): exercise cells deleted, and cells duplicated or out of order."""
    missing, other = [], []
    order: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    for cell in notebook.cells:
        tag = cell_tag(cell)
        name, role = tag.get("exercise"), tag.get("role")
        if role in ("answer", "check") and isinstance(name, str):
            counts[(name, role)] = counts.get((name, role), 0) + 1
            if name not in order:
                order.append(name)
    for exercise in course_nb.exercises:
        for role, expected in (("answer", exercise.answer_cells), ("check", exercise.check_cells)):
            found = counts.get((exercise.name, role), 0)
            if expected and not found:
                missing.append(f"the {role} cell of {exercise.name} is missing")
            elif found > expected:
                other.append(f"the {role} cell of {exercise.name} appears {found} times (the last one run counts)")
    known = [e.name for e in course_nb.exercises]
    seen = [n for n in order if n in known]
    if seen != sorted(seen, key=known.index):
        other.append("exercise cells are not in the handed-out order (graded as they ran)")
    return missing, other


_FLAGS = [
    (r"\b(torch|np|numpy|math)(\.testing)?\.(allclose|isclose|equal|array_equal|assert_close)\s*=(?!=)",
     "replaces a comparison function"),
    (r"\bsetattr\(\s*(torch|np|numpy|ex|tensorlab)\b", "patches a library with setattr"),
    (r"\bex\.q\w+\.\w+\s*=(?!=)", "changes an exercise object"),
    (r"\btensorlab\.(checking|grading)\b", "uses the checking machinery directly"),
    (r"\bex\.q\w+\.(expected|reference|cases|judge|evaluate)\b", "reads an exercise's expected answer"),
    (r"_reference_\w+", "uses a reference solution from the exercise module"),
    (r"solutions/|BEGIN HIDDEN TESTS|BEGIN SOLUTION", "looks for the solutions"),
    (r"\b(subprocess|socket|ctypes|urllib|requests|http\.client)\b", "uses processes, network or ctypes"),
]


def static_flags(notebook: nbformat.NotebookNode, handed_out: nbformat.NotebookNode | None = None) -> list[str]:
    """Hints for the instructor (never used for scoring): code that looks like tampering, in
    cells that differ from the handed-out copy."""
    original = {c.source for c in handed_out.cells} if handed_out is not None else set()
    flags = []
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code" or cell.get("source", "") in original:
            continue
        for pattern, what in _FLAGS:
            if re.search(pattern, cell.get("source", "")) and what not in [f.split(" (cell")[0] for f in flags]:
                flags.append(f"{what} (cell {index + 1})")
    return flags


# ---------------------------------------------------------------------------------------------
# the kernel session: runs the cells, restarts after a crash, serves fetches and calls
# ---------------------------------------------------------------------------------------------

@dataclass
class Cell:
    index: int      # position in the notebook (0-based)
    source: str
    label: str      # for people: "cell 40 (the answer cell of q3)"


class GiveUp(Exception):
    """The notebook cannot be run (any more) in this grading."""


class RemoteError(Exception):
    """Base of the exceptions that stand for an exception raised in the student's kernel."""


def remote_exception(error: dict) -> Exception:
    name = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except TypeError:
            pass
    safe = name if name.isidentifier() else "Exception"
    return type(safe, (RemoteError,), {})(message)


class Session:
    def __init__(self, grade: SubmissionGrade, cells: list[Cell], ctx: Context, zygote: Zygote,
                 scratch: Path, submission_bytes: bytes, filename: str):
        self.grade, self.cells, self.ctx, self.zygote, self.scratch = grade, cells, ctx, zygote, scratch
        self.submission_bytes, self.filename = submission_bytes, filename
        self.kernel: KernelProcess | None = None
        self.skip: set[int] = set()
        self.generation = 0
        self.restarts = 0
        self.events: list[tuple[str, str]] = []   # (status, what happened), in order
        self.cell_errors: dict[int, dict] = {}
        self.interrupted: set[int] = set()         # cells stopped for running too long
        self.stopped_early = ""                    # why later cells did not run in the final run
        self.outputs: list[str] = []
        self.peak_rss = 0
        self.keys: dict[str, str] = {}             # fetch key -> expression (to re-find functions)
        self.judge_deadline = float("inf")         # calls into the kernel while judging stop here

    # -- kernel life ---------------------------------------------------------------------------
    def _prepare_scratch(self) -> None:
        if self.scratch.exists():
            shutil.rmtree(self.scratch, ignore_errors=True)
        for sub in ("tmp", ".config/matplotlib", ".ipython", ".cache"):
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
        (self.scratch / self.filename).write_bytes(self.submission_bytes)  # a scratch copy

    def _start(self) -> None:
        self._prepare_scratch()
        limits = self.ctx.limits
        settings = {
            "scratch": str(self.scratch), "env": kernel_env(self.ctx, self.scratch),
            "memory_bytes": limits.memory_mb * 2**20, "file_bytes": limits.file_mb * 2**20,
            "cpu_seconds": int(2 * limits.notebook_seconds + 60),
            "policy": dict(self.ctx.policy, scratch=str(self.scratch)),
        }
        try:
            self.kernel = self.zygote.spawn(settings)
            ready, _ = self.kernel.receive(deadline=time.monotonic() + limits.startup_seconds,
                                           max_payload=0)
        except (ZygoteError, KernelDied, KernelTimeout, ProtocolError) as error:
            self._stop_kernel()
            raise GiveUp(f"could not start a kernel ({error or 'no reply'})") from None
        if ready.get("error"):
            self._stop_kernel()
            raise GiveUp(f"could not start a kernel: {str(ready['error']).strip()[-300:]}")
        self.generation += 1
        self.grade.log.append(f"kernel {self.generation} ready (sandbox: {self.ctx.mode})")

    def _stop_kernel(self) -> None:
        if self.kernel is not None:
            self.kernel.close()
            self.peak_rss = max(self.peak_rss, self.kernel.peak_rss)
            self.outputs.append(self.kernel.output.text())
            self.kernel = None
        killed = self.zygote.kill_strays()
        if killed:
            self.grade.log.append(f"killed {killed} process(es) the notebook left behind")

    def close(self) -> None:
        self._stop_kernel()
        if not self.ctx.keep_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _alive(self) -> bool:
        return self.kernel is not None and self.kernel.alive()

    def _restart(self) -> None:
        self._stop_kernel()
        if self.restarts >= self.ctx.limits.max_restarts:
            raise GiveUp(f"gave up after {self.restarts} fresh kernels")
        self.restarts += 1
        self.grade.log.append(f"restarting (fresh kernel {self.restarts} of at most "
                              f"{self.ctx.limits.max_restarts}), skipping cells {sorted(self.skip)}")

    # -- running the notebook ------------------------------------------------------------------
    def run_notebook(self) -> None:
        """Run every cell (in a fresh kernel), restarting without a cell that kills the kernel or
        hangs; returns with a live kernel, or raises GiveUp."""
        while True:
            self._start()
            self.cell_errors = {}
            self.stopped_early = ""
            if self._run_cells():
                return
            self._restart()

    def _run_cells(self) -> bool:
        limits = self.ctx.limits
        deadline = time.monotonic() + limits.notebook_seconds
        for cell in self.cells:
            if cell.index in self.skip:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stopped_early = f"the notebook reached its {limits.notebook_seconds:g} s limit"
                self.events.append((TIMED_OUT, f"{self.stopped_early} before {cell.label}"))
                return True
            timeout = min(limits.cell_seconds, remaining)
            try:
                reply, _, interrupted = self.kernel.request(
                    {"cmd": "run", "source": cell.source}, timeout=timeout, max_payload=0)
            except KernelTimeout:
                self.events.append((TIMED_OUT, f"{cell.label} ran past {timeout:.0f} s, did not stop "
                                               "when interrupted, and was skipped in a fresh kernel"))
                self.skip.add(cell.index)
                return False
            except (KernelDied, ProtocolError) as error:
                reason = self.kernel.dead_reason or str(error)
                self.events.append((CRASHED, f"the kernel {reason} in {cell.label}; that cell was "
                                             "skipped in a fresh kernel"))
                self.skip.add(cell.index)
                return False
            if interrupted:
                self.interrupted.add(cell.index)
                if timeout < limits.cell_seconds:
                    self.stopped_early = f"the notebook reached its {limits.notebook_seconds:g} s limit"
                    self.events.append((TIMED_OUT, f"{self.stopped_early} in {cell.label}, which was "
                                                   "interrupted"))
                    return True
                self.events.append((TIMED_OUT, f"{cell.label} ran past {timeout:.0f} s and was interrupted"))
            if reply.get("error"):
                self.cell_errors[cell.index] = reply["error"]
        return True

    # -- answers ---------------------------------------------------------------------------------
    def _ensure_kernel(self) -> None:
        if not self._alive():
            self._restart()
            self.run_notebook()

    def fetch(self, items: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        """(values, errors) of the expressions ``items`` (key -> expression) in the kernel."""
        self._ensure_kernel()
        self.keys.update(items)
        limits = self.ctx.limits
        try:
            reply, payload, interrupted = self.kernel.request(
                {"cmd": "fetch", "items": items}, timeout=limits.cell_seconds)
        except (KernelTimeout, KernelDied, ProtocolError) as error:
            reason = self.kernel.dead_reason or str(error) or "did not reply"
            self.events.append((CRASHED, f"the kernel {reason} while the answers were read"))
            raise GiveUp(f"the answers could not be read (the kernel {reason})") from None
        if interrupted:
            raise GiveUp("reading the answers took too long")
        values, errors = {}, {}
        for key, error in (reply.get("errors") or {}).items():
            errors[str(key)] = error if isinstance(error, dict) else {"type": "Error", "message": str(error)}
        try:
            blobs = wire.loads(payload)
            if not isinstance(blobs, dict):
                raise wire.WireError("not a set of answers")
        except wire.WireError as error:
            raise GiveUp(f"the answers could not be read ({error})") from None
        for key in items:
            if key in errors:
                continue
            blob = blobs.get(key)
            if not isinstance(blob, bytes):
                errors[key] = {"type": "WireError", "message": "the answer did not come back"}
                continue
            try:
                values[key] = wire.decode(wire.loads(blob), self._object_maker(key))
            except (wire.WireError, Exception) as error:  # noqa: BLE001 - judged as unreadable
                errors[key] = {"type": "WireError", "message": _first_line(error)}
        return values, errors

    def _object_maker(self, key: str | None):
        def make(tag: dict) -> wire.RemoteObject:
            obj = wire.remote_class(tag["type"])(tag["oid"] or 0, tag["type"], tag["text"], tag["callable"],
                                                 tag["name"], session=self._op if tag["oid"] else None)
            obj.key, obj.generation = key, self.generation
            return obj
        return make

    def _refresh(self, obj: wire.RemoteObject) -> None:
        """After a fresh kernel: find the object again by the expression that gave it."""
        try:
            self._ensure_kernel()
        except GiveUp as error:
            raise KernelCrash(f"the notebook could not be run again to use it: {error}") from None
        if obj.key is None:
            raise KernelCrash("the kernel that made it has stopped")
        values, _ = self.fetch({obj.key: self.keys[obj.key]})
        fresh = values.get(obj.key)
        if not isinstance(fresh, wire.RemoteObject):
            raise KernelCrash("after a fresh run of the notebook it is something else")
        obj._oid, obj.generation = fresh._oid, self.generation

    def _op(self, obj: wire.RemoteObject, op: str, args: tuple, kwargs: dict) -> Any:
        """Do ``op`` with the kernel's object behind ``obj``; the result comes back as data."""
        if not self._alive() or obj.generation != self.generation:
            self._refresh(obj)
        payload = wire.dumps_trusted(wire.to_refs((list(args), dict(kwargs))))
        limits = self.ctx.limits
        what = obj.__name__ if op == "call" else f"{op} on {obj.__name__}"
        timeout = min(limits.cell_seconds, self.judge_deadline - time.monotonic())
        if timeout <= 0:
            raise TimeoutError(f"the grader's {limits.notebook_seconds:g} s for judging this notebook are up")
        try:
            reply, data, interrupted = self.kernel.request(
                {"cmd": "op", "oid": obj._oid, "op": op}, payload, timeout=timeout)
        except KernelTimeout:
            self.events.append((TIMED_OUT, f"running {what} took longer than {timeout:.0f} s"))
            raise TimeoutError(f"it ran longer than {timeout:.0f} s") from None
        except (KernelDied, ProtocolError) as error:
            reason = self.kernel.dead_reason or str(error)
            self.events.append((CRASHED, f"the kernel {reason} while running {what}"))
            raise KernelCrash(f"the kernel {reason} while running it") from None
        if interrupted:
            self.events.append((TIMED_OUT, f"running {what} took longer than {timeout:.0f} s"))
            raise TimeoutError(f"it ran longer than {timeout:.0f} s")
        if reply.get("error"):
            raise remote_exception(reply["error"])
        try:
            raw = wire.loads(data)
            if type(raw) is not dict or set(raw) != {"result", "after"}:
                raise wire.WireError("not a result")
            result = wire.decode(raw["result"], self._object_maker(None))
            after = wire.decode(raw["after"], self._object_maker(None)) if op == "call" else None
        except wire.WireError as error:
            raise ValueError(f"its result could not be read: {error}") from None
        if isinstance(after, tuple) and len(after) == 2:
            wire.sync(list(args), after[0])
            wire.sync(dict(kwargs), after[1])
        return result


class KernelCrash(Exception):
    """The student's function stopped the kernel (or the kernel is gone)."""


# ---------------------------------------------------------------------------------------------
# grading one file
# ---------------------------------------------------------------------------------------------

def _cell_label(notebook: nbformat.NotebookNode, index: int) -> str:
    cell = notebook.cells[index]
    tag = cell_tag(cell)
    if tag.get("role") in ("answer", "check") and tag.get("exercise"):
        return f"cell {index + 1} (the {tag['role']} cell of {tag['exercise']})"
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index + 1} (“{first[:40]}”)" if first else f"cell {index + 1}"


def _is_memory_error(error: dict) -> bool:
    text = f"{error.get('type', '')} {error.get('message', '')}"
    return "MemoryError" in text or "can't allocate memory" in text or "Cannot allocate memory" in text


def grade_file(path: Path, relpath: str, student: str, ctx: Context,
               workspace: Callable[[], tuple[Path, Zygote]]) -> SubmissionGrade:
    """Grade one file. ``workspace()`` gives a scratch folder and the worker's zygote; it is called
    only for a file that is a notebook of the course (so a folder of junk starts no kernel)."""
    started = time.perf_counter()
    data = path.read_bytes()
    grade = SubmissionGrade(path=path, relpath=relpath, student=student,
                            sha256=hashlib.sha256(data).hexdigest())
    try:
        _grade(grade, data, ctx, workspace)
    except Exception as error:  # noqa: BLE001 - a grader bug must still give the file a row
        grade.status = CRASHED
        grade.reason = f"the grader failed on this file: {type(error).__name__}: {_first_line(error)}"
        grade.log.append(traceback.format_exc())
    grade.seconds = time.perf_counter() - started
    return grade


def _grade(grade: SubmissionGrade, data: bytes, ctx: Context, workspace) -> None:
    notebook, problem = parse_notebook(data)
    if notebook is None:
        grade.status, grade.reason = NOT_A_NOTEBOOK, problem
        return
    meta = notebook.metadata.get(META)
    name = meta.get("notebook") if isinstance(meta, dict) else None
    if not isinstance(name, str):
        grade.status = UNKNOWN_NOTEBOOK
        grade.reason = "the notebook has no tensorlab metadata saying which course notebook it answers"
        guess = re.search(r"tensorlab\.exercises import (ch\d+)", "\n".join(
            c.get("source", "") for c in notebook.cells if c.get("cell_type") == "code"))
        if guess:
            grade.reason += f" (it imports {guess.group(1)}; was it copied into a new notebook?)"
        return
    grade.notebook = name
    if name in ctx.broken:
        grade.status = UNKNOWN_NOTEBOOK
        grade.reason = f"the course's solution of {name} could not be loaded: {ctx.broken[name]}"
        return
    course_nb = ctx.course.get(name)
    if course_nb is None:
        grade.status = UNKNOWN_NOTEBOOK
        grade.reason = f"{name!r} is not a course notebook with exercises"
        return
    missing, other = structure_problems(notebook, course_nb)
    grade.flags = static_flags(notebook, course_nb.student)
    cells = [Cell(i, c.source, _cell_label(notebook, i)) for i, c in enumerate(notebook.cells)
             if c.cell_type == "code" and c.source.strip()]
    try:
        scratch, zygote = workspace()
    except ZygoteError as error:
        grade.status, grade.reason = CRASHED, f"the grader could not start a kernel: {error}"[:600]
        return
    session = Session(grade, cells, ctx, zygote, scratch, data, Path(grade.relpath).name)
    gave_up = ""
    values: dict[str, Any] = {}
    errors: dict[str, dict] = {}
    try:
        session.run_notebook()
        items = {f"answer:{e.name}": e.expression for e in course_nb.exercises}
        for exercise in course_nb.exercises:
            for hidden_name in exercise.hidden_names:
                items[f"name:{hidden_name}"] = hidden_name
        values, errors = session.fetch(items)
        session.judge_deadline = time.monotonic() + ctx.limits.notebook_seconds
        grade.exercises = [_judge(exercise, values, errors, session, course_nb, notebook)
                           for exercise in course_nb.exercises]
    except GiveUp as error:
        gave_up = str(error)
    finally:
        session.close()
    if gave_up:
        done = {e.name for e in grade.exercises}
        for exercise in course_nb.exercises:
            if exercise.name not in done:
                grade.exercises.append(ExerciseGrade(
                    exercise.name, exercise.label, FAIL,
                    "not graded: your notebook could not be run to the end in the grader "
                    "(see the notes below)."))
    _summarise(grade, session, notebook, missing, other, gave_up)


def _answer_cells(notebook, exercise_name: str) -> list[int]:
    return [i for i, cell in enumerate(notebook.cells)
            if cell_tag(cell).get("exercise") == exercise_name and cell_tag(cell).get("role") == "answer"]


def _answer_cell_errors(session: Session, notebook, exercise_name: str) -> list[dict]:
    found = []
    for index, error in session.cell_errors.items():
        tag = cell_tag(notebook.cells[index])
        if tag.get("exercise") == exercise_name and tag.get("role") == "answer":
            found.append(error)
    return found


def _judge(exercise, values, errors, session: Session, course_nb: CourseNotebook, notebook) -> ExerciseGrade:
    key = f"answer:{exercise.name}"
    label = exercise.label
    if key in errors:
        error = errors[key]
        cell_errors = _answer_cell_errors(session, notebook, exercise.name)
        skipped = [c for c in session.cells if c.index in session.skip
                   and cell_tag(notebook.cells[c.index]).get("exercise") == exercise.name]
        if error.get("type") == "NameError":
            if skipped:
                why = "its cell was stopped by the grader (it ran too long or stopped the kernel)"
            elif any(i in session.interrupted for i in _answer_cells(notebook, exercise.name)):
                why = "its cell ran past the time limit and was interrupted"
            elif cell_errors:
                why = f"its cell raised {cell_errors[0]['type']}: {cell_errors[0]['message']}".rstrip(": ")
            elif session.stopped_early:
                why = f"{session.stopped_early} before it ran"
            else:
                why = "its cell was deleted, or did not define it"
            message = f"`{exercise.expression}` was not defined after your notebook ran: {why}."
        elif error.get("type") == "WireError":
            message = f"the grader could not read your answer: {error.get('message', '')}."
        else:
            message = (f"evaluating `{exercise.expression}` raised {error.get('type')}: "
                       f"{error.get('message', '')}".rstrip(": ") + ".")
        return ExerciseGrade(exercise.name, label, FAIL, sentence_case(message))
    result = exercise.exercise.evaluate(values[key])
    grade = ExerciseGrade(exercise.name, label, result.status, result.message)
    if result.status == PASS and exercise.hidden_code:
        failure = _run_hidden_tests(exercise, values, errors, course_nb)
        if failure:
            grade.status, grade.message, grade.detail = FAIL, sentence_case(HIDDEN_TEST_MESSAGE), failure
    return grade


def _run_hidden_tests(exercise, values, errors, course_nb: CourseNotebook) -> str:
    """Run the hidden tests here, on the fetched data; '' if they pass, else an instructor note."""
    namespace = course_nb.trusted_namespace()
    for hidden_name in exercise.hidden_names:
        key = f"name:{hidden_name}"
        if key in values:
            namespace[hidden_name] = values[key]
    try:
        exec(compile(exercise.hidden_code, f"<hidden tests of {exercise.name}>", "exec"), namespace)  # noqa: S102
    except Exception as error:  # noqa: BLE001 - any failure of the hidden tests fails the exercise
        line = ""
        tb = error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.startswith("<hidden tests"):
                line = exercise.hidden_code.splitlines()[tb.tb_lineno - 1].strip()
            tb = tb.tb_next
        return f"hidden test failed: {type(error).__name__} at `{line}`"
    return ""


def _summarise(grade: SubmissionGrade, session: Session, notebook, missing, other, gave_up) -> None:
    reasons = []
    statuses = [status for status, _ in session.events]
    for status, what in session.events[:3]:
        reasons.append(what)
    if len(session.events) > 3:
        reasons.append(f"and {len(session.events) - 3} more")
    if gave_up:
        reasons.append(gave_up)
    reasons += missing + other
    memory = [i for i, e in session.cell_errors.items() if _is_memory_error(e)]
    for index in memory[:2]:
        reasons.append(f"{_cell_label(notebook, index)} hit the memory limit "
                       f"({session.ctx.limits.memory_mb:,} MB)")
    hidden_failures = [e.name for e in grade.exercises if e.detail.startswith("hidden test failed")]
    if hidden_failures:
        reasons.append(f"hidden tests failed: {', '.join(hidden_failures)} (see the log)")
    if any("start other programs" in str(e.get("message")) for e in session.cell_errors.values()):
        reasons.append("the notebook starts programs, which the grader allows only under bubblewrap "
                       "(or with --allow-processes)")
    errored = [i for i, e in session.cell_errors.items() if i not in memory
               and not (i in session.interrupted and e.get("type") == "KeyboardInterrupt")]
    if errored:
        first = errored[0]
        error = session.cell_errors[first]
        reasons.append(f"{len(errored)} cell(s) raised an error, first {_cell_label(notebook, first)}: "
                       f"{error.get('type')}")
    if statuses:
        grade.status = statuses[0]
    elif gave_up:
        grade.status = CRASHED
    elif missing:
        grade.status = CELLS_MISSING
    else:
        grade.status = OK
    grade.reason = "; ".join(reasons)
    # learner-facing notes: what happened to the run, in words, without hidden details
    for _, what in session.events:
        grade.notes.append(what[0].upper() + what[1:] + ".")
    if gave_up:
        grade.notes.append(f"The grader {gave_up}.")
    for text in missing + other:
        grade.notes.append(text[0].upper() + text[1:] + ".")
    for index, error in session.cell_errors.items():
        if index in session.interrupted and error.get("type") == "KeyboardInterrupt":
            continue  # already said: it ran too long and was interrupted
        what = "hit the memory limit" if index in memory else "raised"
        grade.notes.append(f"{_cell_label(notebook, index)[0].upper()}{_cell_label(notebook, index)[1:]} "
                           f"{what} {error.get('type')}: {error.get('message', '')}".rstrip(": ") + ".")
    grade.output = "\n".join(o for o in session.outputs if o)
    grade.log.append(f"peak memory {session.peak_rss / 2**20:,.0f} MB (resident, incl. libraries)")
    for exercise in grade.exercises:
        if exercise.detail:
            grade.log.append(f"{exercise.name}: {exercise.detail}")


__all__ = ["grade_file", "Context", "SubmissionGrade", "ExerciseGrade", "STATUSES", "parse_notebook",
           "structure_problems", "static_flags", "start_zygote", "kernel_env"]
