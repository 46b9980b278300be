"""The instructor's grader: a folder of submitted notebooks in, grades and feedback out.

    make grade SUBMISSIONS=path/to/submissions OUT=path/to/results
    python -m tensorlab.grading SUBMISSIONS OUT [--jobs 2] [--cell-timeout 60] ...

Every file in SUBMISSIONS gets one row in ``OUT/grades.csv`` and one feedback file in
``OUT/feedback/``. Which course notebook a file answers is read from the metadata the student-copy
generator writes (``notebook.metadata["tensorlab"]["notebook"]``); its exercises, the answer
expressions and the hidden tests come from the solution notebook (:mod:`.course`).

How a submission is graded (details in docs/INSTRUCTORS.md):

1. The file is read once, never written. Its cells run in a fresh kernel, forked for it from a
   *zygote* that imported PyTorch once per worker (:mod:`.kernel`), with its working folder in a
   scratch folder, time and memory limits, no network, and the solutions, the submissions and the
   results out of its reach: under bubblewrap when it is available, and always behind an
   in-kernel guard (:mod:`.sandbox`, :mod:`.guard`).
2. The kernel sends each answer back as plain data (:mod:`.wire`); a function (or any object that
   is not data) stays in the kernel and is called there on cases the judge makes.
3. The judge (this process) checks that data with its own copy of each exercise and runs the
   hidden tests here (:mod:`.judge`). Whatever the notebook patched in its kernel (``torch``,
   ``numpy``, the check functions), a wrong answer fails.

Introduced for instructors; learners never need it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tensorlab import authoring
from tensorlab.grading.course import CourseError, load_notebook
from tensorlab.grading.judge import (CRASHED, NOT_A_NOTEBOOK, STATUSES, Context, SubmissionGrade,
                                     grade_file, start_zygote)
from tensorlab.grading.report import write_reports
from tensorlab.grading.sandbox import Limits, Zygote, resolve_mode

__all__ = ["GradingOptions", "GradingRun", "grade_folder", "Limits", "STATUSES", "load_course"]


@dataclass
class GradingOptions:
    limits: Limits = field(default_factory=Limits)
    jobs: int = 0                    # 0: one per CPU core
    sandbox: str = "auto"            # auto (bubblewrap if it works), bwrap, none
    device: str = "cpu"
    name_pattern: str | None = None  # regex with a (?P<student>...) group, applied to the file stem
    solutions: Path | None = None
    progress: bool = True
    keep_scratch: bool = False
    allow_processes: bool = False    # without bubblewrap: let notebooks start programs anyway (unsafe)


@dataclass
class GradingRun:
    grades: list[SubmissionGrade]
    out: Path
    mode: str
    seconds: float
    changed: list[str]               # submitted files that changed while grading (should be none)
    broken: dict[str, str]           # course notebooks whose solution could not be loaded

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for grade in self.grades:
            counts[grade.status] = counts.get(grade.status, 0) + 1
        return counts


def load_course(solutions: Path | None = None):
    """(course, broken): the gradable notebooks by name, and those whose solution is unusable."""
    directory = Path(solutions) if solutions else authoring.SOLUTIONS_DIR
    course, broken = {}, {}
    for path in sorted(directory.glob("[0-9][0-9]_*.ipynb")):
        try:
            notebook = load_notebook(path)
        except (CourseError, Exception) as error:  # noqa: BLE001 - one bad notebook must not stop the rest
            broken[path.stem] = f"{type(error).__name__}: {error}"
            continue
        if notebook is not None:
            course[notebook.name] = notebook
    return course, broken


def discover(submissions: Path) -> list[Path]:
    """Every file under ``submissions``, skipping hidden ones (``.ipynb_checkpoints``, ``.DS_Store``)."""
    found = []
    for path in sorted(submissions.rglob("*")):
        relative = path.relative_to(submissions)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_symlink() or path.is_file():
            found.append(path)
    return found


def snapshot(paths: list[Path]) -> dict[str, str]:
    """sha256 of every file (a symbolic link is recorded by its target, never followed)."""
    digests = {}
    for path in paths:
        if path.is_symlink():
            digests[str(path)] = "symlink:" + os.readlink(path)
        elif path.is_file():
            digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digests[str(path)] = "missing"
    return digests


def student_name(path: Path, pattern: str | None) -> str:
    stem = path.name[:-6] if path.name.endswith(".ipynb") else path.stem or path.name
    if pattern:
        match = re.search(pattern, stem)
        if match and match.groupdict().get("student"):
            return match.group("student")
    return stem


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def _context(course, broken, options: GradingOptions, mode: str, submissions: Path, out: Path,
             scratch_root: Path) -> Context:
    import matplotlib
    import matplotlib.font_manager  # noqa: F401 - makes sure the font cache exists to copy

    from tensorlab.data import datasets_dir

    repo = authoring.REPO_ROOT.resolve()
    try:
        datasets = str(datasets_dir().resolve())
    except Exception:  # noqa: BLE001 - a course without datasets still grades
        datasets = str(repo / "datasets")
    python = [os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
              str(Path(os.path.realpath(sys.executable)).parent)]
    # What a notebook must never see: the solutions (and hidden tests), the tests, the git history
    # (it holds the solutions too), the other submissions, the grades, the other scratch folders.
    hidden = [str(authoring.SOLUTIONS_DIR.resolve()), str(repo / "tests"), str(repo / ".git"),
              str(repo / "artifacts"), str(submissions), str(out), str(scratch_root)]
    if options.solutions:
        hidden.append(str(Path(options.solutions).resolve()))
    home = os.path.realpath(os.path.expanduser("~"))
    rules = [(home, False)] if home not in ("/", "") else []
    rules += [(str(repo), True), (datasets, True), *[(p, True) for p in python], *[(h, False) for h in hidden]]
    readable = [str(repo), datasets, *python]
    for entry in sys.path:  # e.g. packages installed in editable mode from elsewhere
        if entry and os.path.isabs(entry) and os.path.exists(entry):
            real = os.path.realpath(entry)
            if real not in readable and real != os.path.realpath(os.getcwd()) and real != home:
                readable.append(real)
    trusted_os = mode == "bwrap" or options.allow_processes
    font_caches = sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    return Context(course=course, broken=broken, limits=options.limits, mode=mode, device=options.device,
                   scratch_root=scratch_root,
                   policy={"rules": rules, "library_roots": python, "processes": trusted_os,
                           "loopback": trusted_os},
                   readable=[p for p in readable if os.path.exists(p)],
                   hidden=[h for h in hidden if os.path.exists(h)], datasets=datasets,
                   font_caches=font_caches, keep_scratch=options.keep_scratch)


def grade_folder(submissions: Path, out: Path, options: GradingOptions | None = None) -> GradingRun:
    """Grade every file in ``submissions``; write grades.csv, feedback/ and logs/ into ``out``."""
    options = options or GradingOptions()
    started = time.perf_counter()
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"the submissions folder {submissions} does not exist")
    if _inside(out, submissions) or _inside(submissions, out):
        raise ValueError("OUT must be a folder outside SUBMISSIONS (and not contain it)")
    if out.exists() and not out.is_dir():
        raise ValueError(f"OUT ({out}) exists and is not a folder")
    files = discover(submissions)
    before = snapshot(files)
    course, broken = load_course(options.solutions)
    mode = resolve_mode(options.sandbox)
    scratch_root = Path(tempfile.mkdtemp(prefix="tensorlab-grading-"))
    previous_device = os.environ.get("TENSORLAB_DEVICE")
    os.environ["TENSORLAB_DEVICE"] = options.device  # the judge's checks use the grading device
    try:
        ctx = _context(course, broken, options, mode, submissions, out, scratch_root)
        grades = _grade_all(files, submissions, ctx, options, scratch_root)
    finally:
        if previous_device is None:
            os.environ.pop("TENSORLAB_DEVICE", None)
        else:
            os.environ["TENSORLAB_DEVICE"] = previous_device
        if not options.keep_scratch:
            shutil.rmtree(scratch_root, ignore_errors=True)
    after = snapshot(files)
    now = {str(p) for p in discover(submissions)}
    changed = sorted({p for p in before if before[p] != after.get(p)} | (now - set(before)))
    for grade in grades:
        if str(grade.path) in changed:
            grade.reason = ("THE SUBMITTED FILE CHANGED WHILE IT WAS GRADED; " + grade.reason).rstrip("; ")
    for extra in sorted(now - set(before)):
        grade = SubmissionGrade(path=Path(extra), relpath=str(Path(extra).relative_to(submissions)),
                                student=student_name(Path(extra), options.name_pattern), sha256="",
                                status=NOT_A_NOTEBOOK,
                                reason="THIS FILE APPEARED IN THE SUBMISSIONS FOLDER DURING GRADING")
        grades.append(grade)
    write_reports(grades, out)
    return GradingRun(grades=grades, out=out, mode=mode, seconds=time.perf_counter() - started,
                      changed=changed, broken=broken)


def _grade_all(files, submissions: Path, ctx: Context, options: GradingOptions, scratch_root: Path):
    jobs = options.jobs or os.cpu_count() or 1
    grades: list[SubmissionGrade] = []

    local = threading.local()
    zygotes: list[Zygote] = []
    lock = threading.Lock()

    def zygote() -> Zygote:
        """This worker thread's zygote, started the first time it is needed."""
        if getattr(local, "zygote", None) is None:
            with lock:
                local.root = scratch_root / f"worker{len(zygotes)}"
                zygotes.append(None)
                slot = len(zygotes) - 1
            local.zygote = zygotes[slot] = start_zygote(ctx, local.root)
        return local.zygote

    def one(number: int, path: Path) -> SubmissionGrade:
        relpath = path.relative_to(submissions).as_posix()
        student = student_name(path, options.name_pattern)
        if path.is_symlink():
            return SubmissionGrade(path=path, relpath=relpath, student=student, sha256="",
                                   status=NOT_A_NOTEBOOK,
                                   reason="the file is a symbolic link (not followed)")

        def scratch_and_zygote() -> tuple[Path, Zygote]:
            worker = zygote()
            return local.root / f"s{number:04d}", worker

        return grade_file(path, relpath, student, ctx, scratch_and_zygote)

    progress = None
    if options.progress:
        from tqdm import tqdm

        progress = tqdm(total=len(files), desc="grading", unit="notebook", file=sys.stderr)
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(one, number, path): path for number, path in enumerate(files)}
        for future in as_completed(futures):
            path = futures[future]
            try:
                grades.append(future.result())
            except Exception as error:  # noqa: BLE001 - a row for every file, whatever happens
                grades.append(SubmissionGrade(
                    path=path, relpath=path.relative_to(submissions).as_posix(),
                    student=student_name(path, options.name_pattern), sha256="", status=CRASHED,
                    reason=f"the grader failed on this file: {type(error).__name__}: {error}"))
            if progress is not None:
                progress.update(1)
    except BaseException:  # Ctrl-C: stop the kernels, so the workers return at once
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in list(zygotes):
            if worker is not None:
                worker.close()
        raise
    finally:
        pool.shutdown(wait=True)
        if progress is not None:
            progress.close()
        for worker in list(zygotes):
            if worker is not None:
                worker.close()
    return grades
