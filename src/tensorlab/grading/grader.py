"""The grader's flow, top-down: :func:`grade_folder` (a folder in, grades.csv, feedback and logs out)
and :func:`grade_file` (one submission, from its bytes to its row). docs/GRADER_FLOW.md walks through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import tempfile
import threading
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tensorlab import authoring
from tensorlab.checking import FAIL, one_line
from tensorlab.grading.course import CourseNotebook, load_course
from tensorlab.grading.judge import ExerciseGrade, judge
from tensorlab.grading.kernel import Cell, GiveUp, NotebookRun
from tensorlab.grading.report import Reports, SubmissionGrade, escape
from tensorlab.grading.sandbox import HOME, INSTALL_HINT, Limits, Plan, bwrap_works
from tensorlab.grading.status import (
    CELLS_MISSING,
    CRASHED,
    GRADER_ERROR,
    NOT_A_NOTEBOOK,
    OK,
    OVER_LIMIT,
    UNKNOWN_NOTEBOOK,
)

MAX_SUBMISSION_BYTES = 64 << 20


@dataclass
class GradingOptions:
    limits: Limits = field(default_factory=Limits)
    jobs: int = 0  # 0: one per CPU core
    trusted: bool = False  # no bubblewrap: for the instructor's own files only
    device: str = "cpu"
    name_pattern: str | None = None  # a regex with a (?P<student>...) group, applied to the file name
    solutions: Path | None = None
    progress: bool = True


@dataclass
class GradingRun:
    grades: list[SubmissionGrade]
    out: Path
    seconds: float
    changed: list[str]  # submitted files that changed while grading (should be none)
    broken: dict[str, str]  # course notebooks whose solution could not be loaded, and why
    trusted: bool

    @property
    def survivors(self) -> list[int]:
        """Processes that outlived their sandbox (should be none)."""
        return [pid for grade in self.grades for pid in grade.survivors]


class SandboxMissing(RuntimeError):
    """Untrusted grading was asked for where bubblewrap cannot run."""


@dataclass
class Submission:
    path: str  # as the OS gives it (a name that is not UTF-8 holds surrogates)
    raw: bytes  # relative to SUBMISSIONS, as bytes
    relpath: str  # the same for people: bytes that are not UTF-8 shown as \xNN


@dataclass
class Context:
    """What grading any one file needs; shared, read-only, by the worker threads."""

    course: dict[str, CourseNotebook]
    broken: dict[str, str]
    plan: Plan
    root: Path  # the grader's own temporary folder: the sandboxes' private folders
    name_pattern: str | None = None
    running: set = field(default_factory=set)  # the kernels running now, so that Ctrl-C can stop them
    lock: threading.Lock = field(default_factory=threading.Lock)


# ---------------------------------------------------------------------------------------------
# a folder
# ---------------------------------------------------------------------------------------------


def grade_folder(submissions: Path, out: Path, options: GradingOptions | None = None) -> GradingRun:
    """Grade every file in ``submissions``; write grades.csv, feedback/ and logs/ into ``out``."""
    options, started = options or GradingOptions(), time.perf_counter()
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"the submissions folder {submissions} does not exist")
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise ValueError("OUT must be a folder outside SUBMISSIONS (and not contain it)")
    if out.is_symlink() or out.exists() and not out.is_dir():
        raise ValueError(f"OUT ({out}) exists and is not a folder")
    if not options.trusted and not bwrap_works():
        raise SandboxMissing(INSTALL_HINT)
    course, broken = load_course(options.solutions)
    files = find_submissions(submissions)
    before = {f.relpath: fingerprint(f.path) for f in files}
    reports = Reports(out, sorted({e.name for nb in course.values() for e in nb.exercises}, key=lambda n: (len(n), n)))
    device = os.environ.get("TENSORLAB_DEVICE")
    os.environ["TENSORLAB_DEVICE"] = options.device  # the grader's own checks use the grading device
    try:
        base = tempfile.gettempdir()  # the kernels' Unix sockets live in it: their paths may not pass 107 bytes
        with tempfile.TemporaryDirectory(prefix="tlg-", dir=base if len(os.fsencode(base)) <= 60 else "/tmp") as root:
            plan = sandbox_plan(options, [submissions, out, Path(root)], course)
            ctx = Context(course, broken, plan, Path(root), options.name_pattern)
            _grade_all(files, reports, ctx, options)
    finally:
        os.environ.update(TENSORLAB_DEVICE=device) if device is not None else os.environ.pop("TENSORLAB_DEVICE")
    changed = [f.relpath for f in files if fingerprint(f.path) != before[f.relpath]]
    for grade in reports.grades:
        if grade.relpath in changed:
            grade.reason = "THE SUBMITTED FILE CHANGED WHILE IT WAS GRADED; " + grade.reason
    reports.finish()
    return GradingRun(reports.grades, out, time.perf_counter() - started, changed, broken, options.trusted)


def _grade_all(files: list[Submission], reports: Reports, ctx: Context, options: GradingOptions) -> None:
    """Grade the files in parallel (``--jobs``), writing each row when it is done; Ctrl-C stops every kernel."""
    progress = None
    if options.progress:
        from tqdm import tqdm

        progress = tqdm(total=len(files), desc="grading", unit="notebook", file=sys.stderr)
    pool = ThreadPoolExecutor(max_workers=options.jobs or os.cpu_count() or 1)
    try:
        for future in as_completed([pool.submit(grade_file, file, ctx) for file in files]):
            reports.add(future.result())  # grade_file returns a row whatever happens
            if progress is not None:
                progress.update(1)
    except BaseException:  # Ctrl-C: stop the kernels at once; the rows already written stay
        pool.shutdown(wait=False, cancel_futures=True)
        with ctx.lock:
            for run in list(ctx.running):
                run.close()
        raise
    finally:
        pool.shutdown(wait=True)
        if progress is not None:
            progress.close()


def find_submissions(folder: Path) -> list[Submission]:
    """Every file under ``folder`` but hidden ones (.ipynb_checkpoints ...); links are listed, not followed."""
    found = []
    for directory, folders, names in os.walk(folder):
        links = [d for d in folders if os.path.islink(os.path.join(directory, d))]
        folders[:] = sorted(d for d in folders if not d.startswith(".") and d not in links)
        for name in sorted(n for n in names + links if not n.startswith(".")):
            raw = os.fsencode(os.path.relpath(os.path.join(directory, name), folder))
            found.append(Submission(os.path.join(directory, name), raw, raw.decode("utf-8", "backslashreplace")))
    return found


def read_submission(path: str) -> bytes:
    """The file's bytes; a link, a FIFO or a device is refused (ValueError, with why), never opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ValueError(
            "the file is a symbolic link (not followed)"
            if os.path.islink(path)
            else f"the file could not be read ({error.strerror})"
        ) from None
    with open(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SUBMISSION_BYTES:
            raise ValueError(
                "it is not a regular file"
                if not stat.S_ISREG(info.st_mode)
                else f"the file is larger than {MAX_SUBMISSION_BYTES >> 20} MB"
            )
        return file.read(MAX_SUBMISSION_BYTES + 1)


def fingerprint(path: str) -> str:
    try:
        return hashlib.sha256(read_submission(path)).hexdigest()
    except ValueError as why:
        return f"{why} {os.readlink(path) if os.path.islink(path) else ''}"


def sandbox_plan(options: GradingOptions, private: list[Path], course: dict[str, CourseNotebook]) -> Plan:
    """What every kernel sees: the repository and Python read-only, less the solutions, the tests, the git
    history, the submissions, OUT and the grader's own folder; the libraries imported as it starts."""
    import matplotlib

    from tensorlab.data import datasets_dir

    repo, datasets, home = authoring.REPO_ROOT.resolve(), str(datasets_dir().resolve()), os.path.expanduser("~")
    readable = [
        str(repo),
        datasets,
        os.path.realpath(sys.prefix),
        os.path.realpath(sys.base_prefix),
        os.path.dirname(os.path.realpath(sys.executable)),
    ]
    readable += [
        os.path.realpath(p)
        for p in sys.path  # packages installed in editable mode, say
        if os.path.isabs(p) and os.path.isdir(p) and os.path.realpath(p) not in (os.path.realpath(home), "/")
    ]
    hidden = [
        authoring.SOLUTIONS_DIR,
        repo / "tests",
        repo / ".git",
        repo / "artifacts",
        *private,
        *([options.solutions] if options.solutions else []),
    ]
    fonts = sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME,
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "TENSORLAB_DEVICE": options.device,
        "TENSORLAB_DATASETS": datasets,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        **({"CUDA_VISIBLE_DEVICES": ""} if options.device == "cpu" else {}),
        **({"TMPDIR": tempfile.gettempdir(), "MPLCONFIGDIR": matplotlib.get_cachedir()} if options.trusted else {}),
    }
    return Plan(
        options.limits,
        options.trusted,
        [p for p in readable if os.path.exists(p)],
        [str(Path(h).resolve()) for h in hidden if Path(h).exists()],
        env,
        str(fonts[-1]) if fonts else None,
        ("torch", "numpy", "matplotlib.pyplot", *sorted(nb.module.__name__ for nb in course.values())),
    )


# ---------------------------------------------------------------------------------------------
# one file
# ---------------------------------------------------------------------------------------------


def student_name(relpath: str, pattern: str | None) -> str:
    name = os.path.basename(relpath)
    stem = name.removesuffix(".ipynb") if name.endswith(".ipynb") else Path(name).stem or name
    match = re.search(pattern, stem) if pattern else None
    return match.group("student") if match and match.groupdict().get("student") else stem


def grade_file(file: Submission, ctx: Context) -> SubmissionGrade:
    """One submission, from its bytes to its row; whatever happens, it returns a row."""
    started = time.perf_counter()
    grade = SubmissionGrade(file.relpath, file.raw, student_name(file.relpath, ctx.name_pattern))
    try:
        data = read_submission(file.path)
        grade.sha256 = hashlib.sha256(data).hexdigest()
        notebook, why = parse_notebook(data)
        grade.status, grade.reason = (NOT_A_NOTEBOOK, why) if notebook is None else (OK, "")
        course_nb = which_notebook(notebook, grade, ctx) if notebook is not None else None
        if course_nb is not None:
            _run_and_judge(grade, notebook, course_nb, ctx)
    except ValueError as why:  # not a regular file, too large ...
        grade.status, grade.reason = NOT_A_NOTEBOOK, str(why)
    except Exception as error:  # a bug of the grader's: the row says so, the log has the traceback
        grade.status = GRADER_ERROR
        grade.reason = f"the grader failed on this file: {type(error).__name__}: {one_line(error)}"
        grade.log.append(traceback.format_exc())
    grade.seconds = time.perf_counter() - started
    return grade


def parse_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """(notebook, "") or (None, why it is not a notebook)."""
    try:
        raw = json.loads(text := data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, "the file is not text (not a saved notebook)"
    except (json.JSONDecodeError, RecursionError) as error:
        return None, f"the file is not JSON ({one_line(error)[:120]})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        return None, "the file is JSON but not a notebook (it has no list of cells)"
    try:
        with warnings.catch_warnings():  # duplicate cell ids from copied cells, say: nbformat fixes them
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat's many kinds
        return None, f"the file is JSON but not a notebook nbformat can read ({one_line(error)[:120]})"
    if not all(
        isinstance(c, dict)
        and c.get("cell_type") in ("code", "markdown", "raw")
        and isinstance(c.get("source", ""), str)
        and isinstance(c.get("metadata", {}), dict)
        for c in notebook.cells
    ):
        return None, "the file is JSON but its cells are not notebook cells"
    return notebook, ""


def which_notebook(notebook, grade: SubmissionGrade, ctx: Context) -> CourseNotebook | None:
    """The course notebook a submission answers (named in the metadata of the student copy), or None
    with the row's status and reason set."""
    meta = notebook.metadata.get(authoring.METADATA_KEY)
    name = meta.get("notebook") if isinstance(meta, dict) else None
    grade.notebook = name = name if isinstance(name, str) else ""
    if name in ctx.course:
        return ctx.course[name]
    grade.status = UNKNOWN_NOTEBOOK
    if name in ctx.broken:
        grade.reason = f"the course's solution of {name} could not be loaded: {ctx.broken[name]}"
    elif name:
        grade.reason = f"{name!r} is not a course notebook with exercises"
    else:
        grade.reason = "the notebook has no tensorlab metadata saying which course notebook it answers"
        guess = re.search(r"tensorlab\.exercises import (ch\d+)", "\n".join(c.source for c in notebook.cells))
        grade.reason += f" (it imports {guess.group(1)}; was it copied into a new notebook?)" if guess else ""
    return None


def _run_and_judge(grade: SubmissionGrade, notebook, course_nb: CourseNotebook, ctx: Context) -> None:
    """Run the notebook in a fresh sandboxed kernel, fetch the answers as data, judge them here."""
    cells = [
        Cell(i, c.source, _cell_label(notebook, i))
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and c.source.strip()
    ]
    run = NotebookRun(cells, ctx.plan, ctx.root, deadline=time.monotonic() + ctx.plan.limits.submission_seconds)
    with ctx.lock:
        ctx.running.add(run)
    gave_up = ""
    try:
        run.run()
        expressions = {f"answer:{e.name}": e.expression for e in course_nb.exercises}
        values = run.answers(expressions | {f"name:{n}": n for e in course_nb.exercises for n in e.hidden_names})
        for exercise in course_nb.exercises:
            answer_cells = authoring.tagged_cells(notebook, exercise.name)
            grade.exercises.append(judge(exercise, values, run, course_nb, answer_cells))
    except GiveUp as error:
        gave_up = str(error)
    finally:
        with ctx.lock:
            ctx.running.discard(run)
        run.close()
    done = {e.name for e in grade.exercises}
    grade.exercises += [
        ExerciseGrade(
            e.name,
            e.label,
            FAIL,
            "Not graded: your notebook could not be run to the end in the grader (see the notes below).",
        )
        for e in course_nb.exercises
        if e.name not in done
    ]
    summarise(grade, run, notebook, *structure_problems(notebook, course_nb), gave_up)


def structure_problems(notebook, course_nb: CourseNotebook) -> tuple[list[str], list[str]]:
    """(missing, other): exercise cells deleted, and cells duplicated or out of order."""
    tags = [authoring.exercise_tag(cell) for cell in notebook.cells]
    missing, other, known = [], [], [e.name for e in course_nb.exercises]
    for exercise in course_nb.exercises:
        for role, expected in (("answer", exercise.answer_cells), ("check", 1)):
            found = tags.count((exercise.name, role))
            if expected and not found:
                missing.append(f"the {role} cell of {exercise.name} is missing")
            elif found > expected:
                other.append(f"the {role} cell of {exercise.name} appears {found} times (the last one run counts)")
    seen = list(dict.fromkeys(name for name, role in tags if name in known and role in ("answer", "check")))
    if seen != sorted(seen, key=known.index):
        other.append("exercise cells are not in the handed-out order (graded as they ran)")
    return missing, other


def _cell_label(notebook, index: int) -> str:
    exercise, role = authoring.exercise_tag(notebook.cells[index])
    if role in ("answer", "check"):
        return f"cell {index + 1} (the {role} cell of {exercise})"
    first = next((line.strip() for line in notebook.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index + 1} (“{escape(first[:40])}”)"


def summarise(
    grade: SubmissionGrade, run: NotebookRun, notebook, missing: list[str], other: list[str], gave_up: str
) -> None:
    """The row's status and reason (for the instructor) and the notes on the run (for the student)."""
    limit_hit = {
        i: ("memory" if kind == "MemoryError" or "annot allocate memory" in text else "disk")
        for i, (kind, text) in run.cell_errors.items()
        if kind == "MemoryError" or any(w in text for w in ("annot allocate memory", "No space left", "File too large"))
    }
    errored = [
        i
        for i, (kind, _) in run.cell_errors.items()
        if i not in limit_hit and not (i in run.interrupted and kind == "KeyboardInterrupt")
    ]
    hidden = [e.name for e in grade.exercises if e.detail]
    reasons = [what for _, what in run.events[:3]] + (
        [f"and {len(run.events) - 3} more"] if len(run.events) > 3 else []
    )
    reasons += ([f"gave up: {gave_up}"] if gave_up else []) + missing + other
    reasons += [f"{_cell_label(notebook, i)} hit the {what} limit" for i, what in sorted(limit_hit.items())[:3]]
    reasons += [f"hidden tests failed: {', '.join(hidden)} (see the log)"] if hidden else []
    if errored:
        reasons.append(
            f"{len(errored)} cell(s) raised an error, first {_cell_label(notebook, errored[0])}: "
            f"{run.cell_errors[errored[0]][0]}"
        )
    reasons += [f"{len(run.survivors)} process(es) outlived the sandbox: {run.survivors}"] if run.survivors else []
    statuses = [status for status, _ in run.events]
    grade.status = (
        OVER_LIMIT
        if OVER_LIMIT in statuses
        else statuses[0]
        if statuses
        else CRASHED
        if gave_up
        else CELLS_MISSING
        if missing
        else OK
    )
    grade.reason = "; ".join(reasons)
    grade.notes += [what[0].upper() + what[1:] + "." for what in [w for _, w in run.events] + missing + other]
    grade.notes += [f"The grader {gave_up}."] if gave_up else []
    for index, (kind, text) in run.cell_errors.items():
        if not (index in run.interrupted and kind == "KeyboardInterrupt"):
            label = _cell_label(notebook, index)
            what = f"hit the {limit_hit[index]} limit:" if index in limit_hit else "raised"
            grade.notes.append(f"{label[0].upper()}{label[1:]} {what} {kind}: {text}".rstrip(": ") + ".")
    grade.output, grade.survivors = run.printed.text(), run.survivors
    grade.log += run.log + [f"peak memory {run.peak_memory / 2**20:,.0f} MB (proportional, incl. libraries)"]
    grade.log += [f"{e.name}: {e.detail}" for e in grade.exercises if e.detail]
