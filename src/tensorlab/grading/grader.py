"""The grader's flow, top-down: a folder of submissions in, grades.csv, feedback and logs out.

:func:`grade_folder` checks the folders, refuses untrusted grading without bubblewrap, reads the
course, lists the submissions, and grades them in parallel, writing each row as it is done;
:func:`grade_file` is one submission from its bytes to its row. docs/GRADER_FLOW.md follows one
submission through both, step by step.
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
from tensorlab.grading.course import CourseNotebook, load_course, tagged_cells
from tensorlab.grading.judge import ExerciseGrade, judge
from tensorlab.grading.kernel import Cell, GiveUp, NotebookRun
from tensorlab.grading.report import Reports, SubmissionGrade, escape
from tensorlab.grading.sandbox import HOME, INSTALL_HINT, Limits, Plan, bwrap_works
from tensorlab.grading.status import (CELLS_MISSING, CRASHED, GRADER_ERROR, NOT_A_NOTEBOOK, OK, OVER_LIMIT,
                                      UNKNOWN_NOTEBOOK)

MAX_SUBMISSION_BYTES = 64 << 20


@dataclass
class GradingOptions:
    limits: Limits = field(default_factory=Limits)
    jobs: int = 0                    # 0: one per CPU core
    trusted: bool = False            # grade without bubblewrap (the instructor's own files only)
    device: str = "cpu"
    name_pattern: str | None = None  # a regex with a (?P<student>...) group, applied to the file name
    solutions: Path | None = None
    progress: bool = True


@dataclass
class GradingRun:
    grades: list[SubmissionGrade]
    out: Path
    seconds: float
    changed: list[str]               # submitted files that changed while grading (should be none)
    broken: dict[str, str]           # course notebooks whose solution could not be loaded
    trusted: bool
    survivors: list[int]             # processes that outlived their sandbox (should be none)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for grade in self.grades:
            counts[grade.status] = counts.get(grade.status, 0) + 1
        return counts


class SandboxMissing(RuntimeError):
    """Untrusted grading was asked for where bubblewrap cannot run."""


@dataclass
class Submission:
    path: str                        # as the OS gives it (a name that is not UTF-8 holds surrogates)
    raw: bytes                       # relative to SUBMISSIONS, as bytes
    relpath: str                     # the same, for people: undecodable bytes shown as \xNN


# ---------------------------------------------------------------------------------------------
# a folder
# ---------------------------------------------------------------------------------------------

def grade_folder(submissions: Path, out: Path, options: GradingOptions | None = None) -> GradingRun:
    """Grade every file in ``submissions``; write grades.csv, feedback/ and logs/ into ``out``."""
    options = options or GradingOptions()
    started = time.perf_counter()
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"the submissions folder {submissions} does not exist")
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise ValueError("OUT must be a folder outside SUBMISSIONS (and not contain it)")
    if out.exists() and (out.is_symlink() or not out.is_dir()):
        raise ValueError(f"OUT ({out}) exists and is not a folder")
    if not options.trusted and not bwrap_works():
        raise SandboxMissing(INSTALL_HINT)
    course, broken = load_course(options.solutions)
    files = find_submissions(submissions)
    before = {f.relpath: fingerprint(f.path) for f in files}
    columns = sorted({e.name for nb in course.values() for e in nb.exercises}, key=lambda n: (len(n), n))
    reports = Reports(out, columns)
    previous_device = os.environ.get("TENSORLAB_DEVICE")
    os.environ["TENSORLAB_DEVICE"] = options.device  # the grader's checks use the grading device too
    try:
        with tempfile.TemporaryDirectory(prefix="tensorlab-grading-") as root:
            plan = sandbox_plan(options, [submissions, out, Path(root)], course)
            survivors = _grade_all(files, reports, course, broken, plan, Path(root), options)
    finally:
        os.environ.pop("TENSORLAB_DEVICE", None) if previous_device is None else \
            os.environ.__setitem__("TENSORLAB_DEVICE", previous_device)
    changed = sorted(f.relpath for f in files if fingerprint(f.path) != before[f.relpath])
    appeared = sorted({f.relpath for f in find_submissions(submissions)} - set(before))
    for grade in reports.grades:
        if grade.relpath in changed:
            grade.reason = "THE SUBMITTED FILE CHANGED WHILE IT WAS GRADED; " + grade.reason
    for relpath in appeared:
        reports.add(SubmissionGrade(relpath, os.fsencode(relpath), relpath, status=NOT_A_NOTEBOOK,
                                    reason="this file appeared in the submissions folder during grading"))
    reports.finish()
    return GradingRun(reports.grades, out, time.perf_counter() - started, changed + appeared, broken,
                      options.trusted, survivors)


def _grade_all(files, reports: Reports, course, broken, plan: Plan, root: Path, options: GradingOptions) -> list[int]:
    """Grade the files in parallel (``--jobs``), adding each row as it is done; Ctrl-C stops every kernel."""
    runs: set[NotebookRun] = set()
    lock = threading.Lock()

    def one(file: Submission) -> SubmissionGrade:
        return grade_file(file, course, broken, plan, root, options.name_pattern, runs, lock)

    progress = None
    if options.progress:
        from tqdm import tqdm

        progress = tqdm(total=len(files), desc="grading", unit="notebook", file=sys.stderr)
    survivors: list[int] = []
    pool = ThreadPoolExecutor(max_workers=options.jobs or os.cpu_count() or 1)
    try:
        futures = {pool.submit(one, file): file for file in files}
        for future in as_completed(futures):
            grade = future.result()  # grade_file returns a row whatever happens
            reports.add(grade)
            survivors += grade.survivors
            if progress is not None:
                progress.update(1)
    except BaseException:  # Ctrl-C: stop the kernels at once, keep the rows already written
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            for run in list(runs):
                run.close()
        raise
    finally:
        pool.shutdown(wait=True)
        if progress is not None:
            progress.close()
    return survivors


def find_submissions(folder: Path) -> list[Submission]:
    """Every file under ``folder`` (hidden ones such as .ipynb_checkpoints skipped). Links are listed,
    never followed: each gets a row saying so."""
    found = []
    for directory, folders, names in os.walk(folder):
        links = [d for d in folders if os.path.islink(os.path.join(directory, d))]
        folders[:] = sorted(d for d in folders if not d.startswith(".") and d not in links)
        for name in sorted(names + links):
            if not name.startswith("."):
                path = os.path.join(directory, name)
                raw = os.fsencode(os.path.relpath(path, folder))
                found.append(Submission(path, raw, raw.decode("utf-8", "backslashreplace")))
    return found


def read_submission(path: str) -> bytes:
    """The file's bytes, read once; a link, a FIFO or a device is refused (ValueError), never opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ValueError("the file is a symbolic link (not followed)" if os.path.islink(path)
                         else f"the file could not be read ({error.strerror})") from None
    with open(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if info.st_size > MAX_SUBMISSION_BYTES:
            raise ValueError(f"the file is larger than {MAX_SUBMISSION_BYTES >> 20} MB")
        return file.read(MAX_SUBMISSION_BYTES + 1)


def fingerprint(path: str) -> str:
    try:
        return hashlib.sha256(read_submission(path)).hexdigest()
    except ValueError as why:
        return f"{why}: {os.readlink(path) if os.path.islink(path) else ''}"


def sandbox_plan(options: GradingOptions, private: list[Path], course: dict[str, CourseNotebook]) -> Plan:
    """What every kernel sees: the repository and Python read-only, minus the solutions, the tests,
    the git history, the submissions, OUT and the grader's own folder."""
    import matplotlib

    from tensorlab.data import datasets_dir

    repo = authoring.REPO_ROOT.resolve()
    datasets = str(datasets_dir().resolve())
    python = [os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
              os.path.dirname(os.path.realpath(sys.executable))]
    readable = [str(repo), datasets, *python]
    home = os.path.realpath(os.path.expanduser("~"))
    readable += [os.path.realpath(p) for p in sys.path  # e.g. packages installed in editable mode
                 if os.path.isabs(p) and os.path.isdir(p) and os.path.realpath(p) not in (home, "/")]
    hidden = [authoring.SOLUTIONS_DIR.resolve(), repo / "tests", repo / ".git", repo / "artifacts", *private]
    hidden += [Path(options.solutions).resolve()] if options.solutions else []
    fonts = sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin", "HOME": HOME,
           "TMPDIR": "/tmp", "MPLCONFIGDIR": f"{HOME}/.config/matplotlib", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "TERM": "dumb", "TENSORLAB_DEVICE": options.device, "TENSORLAB_DATASETS": datasets,
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    if options.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    if options.trusted:
        env.update(TMPDIR=tempfile.gettempdir(), MPLCONFIGDIR=matplotlib.get_cachedir())
    return Plan(limits=options.limits, trusted=options.trusted, readable=[p for p in readable if os.path.exists(p)],
                hidden=[str(h) for h in hidden if h.exists()], env=env,
                font_cache=str(fonts[-1]) if fonts else None,
                warm=("torch", "numpy", "matplotlib.pyplot", *sorted(nb.module.__name__ for nb in course.values())))


# ---------------------------------------------------------------------------------------------
# one file
# ---------------------------------------------------------------------------------------------

def student_name(relpath: str, pattern: str | None) -> str:
    name = os.path.basename(relpath)
    stem = name.removesuffix(".ipynb") if name.endswith(".ipynb") else Path(name).stem or name
    match = re.search(pattern, stem) if pattern else None
    return match.group("student") if match and match.groupdict().get("student") else stem


def grade_file(file: Submission, course: dict[str, CourseNotebook], broken: dict[str, str], plan: Plan,
               root: Path, name_pattern: str | None = None, runs: set | None = None,
               lock: threading.Lock | None = None) -> SubmissionGrade:
    """One submission, from its bytes to its row; it returns a row whatever happens. ``runs`` holds
    the kernels running now (under ``lock``), so that Ctrl-C can stop them."""
    started = time.perf_counter()
    grade = SubmissionGrade(file.relpath, file.raw, student_name(file.relpath, name_pattern))
    runs, lock = (runs, lock) if runs is not None and lock is not None else (set(), threading.Lock())
    try:
        data = read_submission(file.path)
        grade.sha256 = hashlib.sha256(data).hexdigest()
        notebook, why = parse_notebook(data)
        course_nb = which_notebook(notebook, grade, course, broken) if notebook is not None else None
        if notebook is None:
            grade.status, grade.reason = NOT_A_NOTEBOOK, why
        elif course_nb is not None:
            _run_and_judge(grade, notebook, course_nb, plan, root, runs, lock)
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
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "the file is not text (not a saved notebook)"
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        return None, f"the file is not JSON ({one_line(error)[:120]})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        return None, "the file is JSON but not a notebook (it has no list of cells)"
    try:
        with warnings.catch_warnings():  # e.g. duplicate cell ids from copied cells: nbformat fixes them
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat's many kinds
        return None, f"the file is JSON but not a notebook nbformat can read ({one_line(error)[:120]})"
    if not all(isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw")
               and isinstance(c.get("source", ""), str) and isinstance(c.get("metadata", {}), dict)
               for c in notebook.cells):
        return None, "the file is JSON but its cells are not notebook cells"
    return notebook, ""


def which_notebook(notebook, grade: SubmissionGrade, course, broken) -> CourseNotebook | None:
    """The course notebook a submission answers (from the metadata the student copy carries), or None
    with the row's status and reason set."""
    meta = notebook.metadata.get(authoring.METADATA_KEY)
    name = meta.get("notebook") if isinstance(meta, dict) else None
    grade.status = UNKNOWN_NOTEBOOK
    if not isinstance(name, str):
        grade.reason = "the notebook has no tensorlab metadata saying which course notebook it answers"
        guess = re.search(r"tensorlab\.exercises import (ch\d+)", "\n".join(
            c.get("source", "") for c in notebook.cells if c.get("cell_type") == "code"))
        grade.reason += f" (it imports {guess.group(1)}; was it copied into a new notebook?)" if guess else ""
        return None
    grade.notebook = name
    if name in broken or name not in course:
        grade.reason = (f"the course's solution of {name} could not be loaded: {broken[name]}" if name in broken
                        else f"{name!r} is not a course notebook with exercises")
        return None
    grade.status = OK
    return course[name]


def _run_and_judge(grade: SubmissionGrade, notebook, course_nb: CourseNotebook, plan: Plan, root: Path,
                   runs: set, lock: threading.Lock) -> None:
    missing, other = structure_problems(notebook, course_nb)
    grade.flags = static_flags(notebook, course_nb.student)
    cells = [Cell(i, c.source, _cell_label(notebook, i)) for i, c in enumerate(notebook.cells)
             if c.get("cell_type") == "code" and c.source.strip()]
    run = NotebookRun(cells, plan, root, deadline=time.monotonic() + plan.limits.submission_seconds)
    with lock:
        runs.add(run)
    gave_up = ""
    try:
        run.run()
        expressions = {f"answer:{e.name}": e.expression for e in course_nb.exercises}
        expressions |= {f"name:{n}": n for e in course_nb.exercises for n in e.hidden_names}
        values = run.answers(expressions)
        for exercise in course_nb.exercises:
            grade.exercises.append(judge(exercise, values, run, course_nb, tagged_cells(notebook, exercise.name)))
    except GiveUp as error:
        gave_up = str(error)
    finally:
        with lock:
            runs.discard(run)
        run.close()
    done = {e.name for e in grade.exercises}
    grade.exercises += [ExerciseGrade(e.name, e.label, FAIL, "Not graded: your notebook could not be run to the "
                                      "end in the grader (see the notes below).")
                        for e in course_nb.exercises if e.name not in done]
    summarise(grade, run, notebook, missing, other, gave_up)


def structure_problems(notebook, course_nb: CourseNotebook) -> tuple[list[str], list[str]]:
    """(missing, other): exercise cells deleted, and cells duplicated or out of order."""
    missing, other, order = [], [], []
    counts: dict[tuple, int] = {}
    for cell in notebook.cells:
        tag = authoring.exercise_tag(cell)
        if tag[1] in ("answer", "check"):
            counts[tag] = counts.get(tag, 0) + 1
            order += [tag[0]] if tag[0] not in order else []
    for exercise in course_nb.exercises:
        for role, expected in (("answer", exercise.answer_cells), ("check", 1)):
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


def static_flags(notebook, handed_out) -> list[str]:
    """Hints for the instructor, never used for scoring: code that looks like tampering, in cells
    that differ from the handed-out copy."""
    original = {c.source for c in handed_out.cells}
    flags: dict[str, str] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") == "code" and cell.source not in original:
            for pattern, what in _FLAGS:
                if what not in flags and re.search(pattern, cell.source):
                    flags[what] = f"{what} (cell {index + 1})"
    return list(flags.values())


def _cell_label(notebook, index: int) -> str:
    exercise, role = authoring.exercise_tag(notebook.cells[index])
    if role in ("answer", "check"):
        return f"cell {index + 1} (the {role} cell of {exercise})"
    first = next((line.strip() for line in notebook.cells[index].source.splitlines() if line.strip()), "")
    return f"cell {index + 1} (“{escape(first[:40])}”)"


def summarise(grade: SubmissionGrade, run: NotebookRun, notebook, missing, other, gave_up: str) -> None:
    """The row's status and reason (for the instructor) and the notes (for the student)."""
    memory = {i for i, (kind, text) in run.cell_errors.items()
              if kind == "MemoryError" or "annot allocate memory" in text}
    disk = {i for i, (kind, text) in run.cell_errors.items() if "No space left" in text or "File too large" in text}
    errored = [i for i in run.cell_errors if i not in memory | disk
               and not (i in run.interrupted and run.cell_errors[i][0] == "KeyboardInterrupt")]
    hidden = [e.name for e in grade.exercises if e.detail]
    reasons = [what for _, what in run.events[:3]] + ([f"and {len(run.events) - 3} more"] if len(run.events) > 3 else [])
    reasons += [f"gave up: {gave_up}"] if gave_up else []
    reasons += missing + other
    reasons += [f"{_cell_label(notebook, i)} hit the memory limit" for i in sorted(memory)[:2]]
    reasons += [f"{_cell_label(notebook, i)} hit the disk limit" for i in sorted(disk)[:2]]
    reasons += [f"hidden tests failed: {', '.join(hidden)} (see the log)"] if hidden else []
    if errored:
        kind = run.cell_errors[errored[0]][0]
        reasons.append(f"{len(errored)} cell(s) raised an error, first {_cell_label(notebook, errored[0])}: {kind}")
    if run.survivors:
        reasons.append(f"{len(run.survivors)} process(es) of the sandbox survived it: {run.survivors}")
    grade.status = (run.events[0][0] if run.events else CRASHED if gave_up else CELLS_MISSING if missing else OK)
    if any(status == OVER_LIMIT for status, _ in run.events):
        grade.status = OVER_LIMIT
    grade.reason = "; ".join(reasons)
    grade.notes += [what[0].upper() + what[1:] + "." for _, what in run.events]
    grade.notes += [f"The grader {gave_up}."] if gave_up else []
    grade.notes += [text[0].upper() + text[1:] + "." for text in missing + other]
    for index, (kind, text) in run.cell_errors.items():
        if not (index in run.interrupted and kind == "KeyboardInterrupt"):
            label = _cell_label(notebook, index)
            what = "hit the memory limit:" if index in memory else "raised"
            grade.notes.append(f"{label[0].upper()}{label[1:]} {what} {kind}: {text}".rstrip(": ") + ".")
    grade.output = run.printed.text()
    grade.survivors = run.survivors
    grade.log += run.log + [f"peak memory {run.peak_memory / 2**20:,.0f} MB (proportional, incl. libraries)"]
    grade.log += [f"{e.name}: {e.detail}" for e in grade.exercises if e.detail]
