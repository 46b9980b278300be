"""What the instructor gets in OUT: grades.csv, one feedback file per submission (for the student), logs.

grades.csv is written a row at a time as files are graded, then rewritten sorted. File names come from
:func:`report_name`: readable, short, unique. Text that came from a submission is :func:`escape`\\ d (no
control characters, no newlines). The grader never opens an existing file in OUT for writing: it makes
new ones (``O_EXCL | O_NOFOLLOW``, in folders it opened itself) and renames them into place, so that a
link or a FIFO planted in OUT can neither redirect it nor stall it. Feedback holds the checks' sentences
and notes on the run: never a hidden test, a grader traceback or a path of the grader's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tensorlab.checking import ICONS, NOT_ATTEMPTED, PASS
from tensorlab.grading.judge import ExerciseGrade
from tensorlab.grading.status import GRADER_ERROR, IN_WORDS, OK

RESULT_WORDS = {PASS: "passed", NOT_ATTEMPTED: "not attempted"}  # anything else: "not passed"


@dataclass
class SubmissionGrade:
    relpath: str  # the submitted file, relative to SUBMISSIONS, for people
    raw_path: bytes  # the same, as bytes (names need not be UTF-8)
    student: str
    sha256: str = ""
    notebook: str = ""
    status: str = OK
    reason: str = ""  # for the instructor (grades.csv)
    exercises: list[ExerciseGrade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the student: how the notebook ran
    log: list[str] = field(default_factory=list)  # for the instructor only
    output: str = ""  # the beginning and end of what the notebook printed
    seconds: float = 0.0
    survivors: list[int] = field(default_factory=list)  # processes that outlived the sandbox: none

    @property
    def total(self) -> int:
        return sum(e.passed for e in self.exercises)


def escape(text: str) -> str:
    """Control characters (terminal escapes, newlines ...) as visible escapes: one line, no effects."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def report_name(raw_path: bytes) -> str:
    """A name for a submission's feedback and log: readable, at most 91 characters, and unique -- a hash
    of the submitted path is added whenever the readable part alone might not be."""
    readable = os.fsdecode(raw_path).removesuffix(".ipynb").replace("/", "__")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", readable).strip("._")[:80] or "submission"
    return safe if safe == readable else f"{safe}-{hashlib.sha256(raw_path).hexdigest()[:10]}"


class Reports:
    """OUT, opened once: grades.csv a row at a time, feedback and logs as each file is graded."""

    def __init__(self, out: Path, exercises: list[str]):
        self.columns = ["student", "file", "notebook", "status", "reason", *exercises, "total", "max", "seconds"]
        out.mkdir(parents=True, exist_ok=True)
        self.out = _open_folder(out, None)
        self.folders = {sub: _open_folder(sub, self.out) for sub in ("feedback", "logs")}
        for sub, suffix in (("feedback", ".md"), ("logs", ".txt")):  # the grader's outputs of an earlier run
            for name in os.listdir(self.folders[sub]):
                if name.endswith(suffix):
                    os.unlink(name, dir_fd=self.folders[sub])  # unlink never follows a link
        self.grades: list[SubmissionGrade] = []
        self.names: set[str] = set()
        self.csv = _create(self.out, "grades.csv")
        self.csv.write(self._rows([]))

    def add(self, grade: SubmissionGrade) -> None:
        self.grades.append(grade)
        self.csv.write(self._rows([grade], header=False))
        self.csv.flush()
        name = report_name(grade.raw_path)
        while name in self.names:  # "a/b" and "a__b" both read "a__b": the later one gets a suffix
            name = f"{name}-{hashlib.sha256(grade.raw_path + name.encode()).hexdigest()[:10]}"
        self.names.add(name)
        for sub, text in (("feedback", feedback(grade)), ("logs", instructor_log(grade))):
            with _create(self.folders[sub], name + (".md" if sub == "feedback" else ".txt")) as file:
                file.write(text)

    def finish(self) -> None:
        """grades.csv again, complete and sorted by student, replaced in one step."""
        self.csv.close()
        with _create(self.out, ".grades.csv.partial") as file:
            file.write(self._rows(sorted(self.grades, key=lambda g: (g.student, g.relpath))))
        os.replace(".grades.csv.partial", "grades.csv", src_dir_fd=self.out, dst_dir_fd=self.out)
        for fd in (self.out, *self.folders.values()):
            os.close(fd)

    def _rows(self, grades: list[SubmissionGrade], header: bool = True) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([self.columns] if header else [])
        for grade in grades:
            row = {
                "student": grade.student,
                "file": grade.relpath,
                "notebook": grade.notebook,
                "status": grade.status,
                "reason": grade.reason,
                "seconds": f"{grade.seconds:.1f}",
                **{e.name: int(e.passed) for e in grade.exercises},
                **({"total": grade.total, "max": len(grade.exercises)} if grade.exercises else {}),
            }
            writer.writerow([_cell(escape(row.get(column, ""))) for column in self.columns])
        return buffer.getvalue()


def _cell(text: str) -> str:
    """A CSV field that a spreadsheet will not run as a formula (a file named "=HYPERLINK(...)")."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _open_folder(path: Path | str, parent: int | None) -> int:
    """Open (after creating it if need be) a folder that must be a real folder, not a link."""
    try:
        os.mkdir(path, dir_fd=parent)
    except FileExistsError:
        pass
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)


def _create(folder: int, name: str) -> io.TextIOWrapper:
    """A new file in a folder the grader opened: whatever was there (a link, a FIFO) is removed, not opened."""
    try:
        os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        pass
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=folder)
    return open(fd, "w", encoding="utf-8", newline="")


def feedback(grade: SubmissionGrade) -> str:
    """For the student: the checks' sentences and notes on how the notebook ran, escaped."""
    lines = [
        f"# Feedback: {escape(grade.notebook) or 'unknown notebook'}",
        "",
        f"- Student: {escape(grade.student)}",
        f"- File: `{escape(grade.relpath)}`",
        f"- Result: {IN_WORDS[grade.status]}",
    ]
    if grade.exercises:
        lines += [
            f"- Score: **{grade.total} / {len(grade.exercises)}**",
            "",
            "| exercise | result | message |",
            "|---|---|---|",
        ]
        lines += [
            f"| {escape(e.label)} | {ICONS[e.status]} {RESULT_WORDS.get(e.status, 'not passed')}"
            f" | {escape(e.message).replace('|', chr(92) + '|')} |"
            for e in grade.exercises
        ]
        notes = [f"- {escape(note)}" for note in grade.notes[:20]] + (
            [f"- ... and {len(grade.notes) - 20} more."] if len(grade.notes) > 20 else []
        )
        lines += ["", "## Notes on running your notebook", "", *notes] if notes else []
        lines += [
            "",
            "*Your notebook was run from top to bottom in a fresh kernel; each answer was then judged by "
            "the same check as in the notebook, plus the instructor's own tests.*",
        ]
    else:
        why = (
            "the grader failed on this file; your instructor has the details"
            if grade.status == GRADER_ERROR
            else escape(grade.reason) or "the grader could not grade it"
        )
        lines += [
            "",
            "## Why it was not graded",
            "",
            why[0].upper() + why[1:].rstrip(".") + ".",
            "",
            "Submit the course notebook you worked in (the .ipynb file made from the course's student copy), "
            "and ask your instructor if you are unsure.",
        ]
    return "\n".join(lines) + "\n"


def instructor_log(grade: SubmissionGrade) -> str:
    lines = [
        f"file: {escape(grade.relpath)}",
        f"student: {escape(grade.student)}",
        f"sha256: {grade.sha256}",
        f"notebook: {escape(grade.notebook)}",
        f"status: {grade.status}",
        f"reason: {escape(grade.reason)}",
        f"score: {grade.total} / {len(grade.exercises)}",
        f"seconds: {grade.seconds:.1f}",
        "",
    ]
    lines += [
        escape(f"{e.name}: {e.status}: {e.message}" + (f"  [{e.detail}]" if e.detail else "")) for e in grade.exercises
    ]
    lines += [
        "",
        "events:",
        *[f"  {escape(line)}" for line in grade.log],
        "",
        "what the notebook printed (beginning and end), each line behind '| ':",
    ]
    lines += [f"| {escape(line)}" for line in grade.output.splitlines() or ["(nothing)"]]
    return "\n".join(lines) + "\n"
