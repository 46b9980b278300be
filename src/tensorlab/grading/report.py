"""What the instructor gets: grades.csv, one feedback file per submission, and logs.

- ``grades.csv``: one row per submitted file: student, file, notebook, status, reason, one column
  per exercise (1 passed, 0 not; empty where the notebook has no such exercise or could not be
  read), total, max, flags (code that looks like tampering, for a human to look at; never used for
  the score) and the seconds grading took.
- ``feedback/<file>.md``: for the student: per exercise passed or not and the same one-sentence
  message the notebook's check gives, plus what went wrong when the notebook ran. It never holds
  hidden test code, instructor details or the kernel's output.
- ``logs/<file>.txt``: for the instructor only: the run's events, hidden-test failures (which line),
  and the beginning and end of what the notebook printed.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from tensorlab.checking import FAIL, NOT_ATTEMPTED, PASS
from tensorlab.grading.judge import SubmissionGrade

_ICON = {PASS: "✅", FAIL: "❌", NOT_ATTEMPTED: "⏳"}
_STATUS_WORDS = {
    "ok": "graded",
    "timed out": "graded, but part of the notebook ran too long",
    "crashed": "graded, but the notebook stopped the grader's kernel",
    "not a notebook": "not graded: the file is not a notebook",
    "exercise cells missing": "graded, but some exercise cells are missing",
    "unknown notebook": "not graded: the grader could not tell which course notebook this is",
}


def safe_name(relpath: str) -> str:
    stem = relpath[:-6] if relpath.endswith(".ipynb") else relpath
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem.replace("/", "__")).strip("._") or "submission"


def exercise_columns(grades: list[SubmissionGrade]) -> list[str]:
    names: list[str] = []
    for grade in grades:
        for exercise in grade.exercises:
            if exercise.name not in names:
                names.append(exercise.name)
    return sorted(names, key=lambda n: (len(n), n))


def _cell(text: str) -> str:
    """A CSV field that a spreadsheet will not run as a formula (a file named "=HYPERLINK(...)")."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def grades_csv(grades: list[SubmissionGrade]) -> str:
    columns = exercise_columns(grades)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "file", "notebook", "status", "reason", *columns, "total", "max",
                     "flags", "seconds"])
    for grade in sorted(grades, key=lambda g: (g.student, g.relpath)):
        scores = {e.name: int(e.passed) for e in grade.exercises}
        writer.writerow([_cell(grade.student), _cell(grade.relpath), _cell(grade.notebook), grade.status,
                         _cell(grade.reason), *[scores.get(c, "") for c in columns], grade.total, grade.max,
                         "; ".join(grade.flags), f"{grade.seconds:.1f}"])
    return buffer.getvalue()


def feedback_markdown(grade: SubmissionGrade) -> str:
    lines = [f"# Feedback: {grade.notebook or 'unknown notebook'}", "",
             f"- Student: {grade.student}", f"- File: `{grade.relpath}`",
             f"- Result: {_STATUS_WORDS.get(grade.status, grade.status)}"]
    if grade.exercises:
        lines.append(f"- Score: **{grade.total} / {grade.max}**")
    lines.append("")
    if grade.exercises:
        lines += ["| exercise | result | message |", "|---|---|---|"]
        for exercise in grade.exercises:
            word = {PASS: "passed", FAIL: "not passed", NOT_ATTEMPTED: "not attempted"}[exercise.status]
            message = exercise.message.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {exercise.label} | {_ICON[exercise.status]} {word} | {message} |")
        lines.append("")
    if not grade.exercises:
        why = grade.reason or "the grader could not grade it."
        lines += ["## Why it was not graded", "", why[0].upper() + why[1:].rstrip(".") + ".", "",
                  "Submit the course notebook you worked in (the .ipynb file made from the course's "
                  "student copy), and ask your instructor if you are unsure.", ""]
        return "\n".join(lines)
    notes = list(grade.notes)
    if notes:
        lines += ["## Notes on running your notebook", ""]
        lines += [f"- {note}" for note in notes[:20]]
        if len(notes) > 20:
            lines.append(f"- ... and {len(notes) - 20} more.")
        lines.append("")
    lines.append("*Your notebook was run from top to bottom in a fresh kernel; each answer was then "
                 "judged by the same check as in the notebook, plus the instructor's own tests.*")
    return "\n".join(lines) + "\n"


def instructor_log(grade: SubmissionGrade) -> str:
    lines = [f"file: {grade.relpath}", f"student: {grade.student}", f"sha256: {grade.sha256}",
             f"notebook: {grade.notebook}", f"status: {grade.status}", f"reason: {grade.reason}",
             f"score: {grade.total} / {grade.max}", f"seconds: {grade.seconds:.1f}"]
    if grade.flags:
        lines.append("flags: " + "; ".join(grade.flags))
    lines.append("")
    lines += [f"{e.name}: {e.status}: {e.message}" + (f"  [{e.detail}]" if e.detail else "")
              for e in grade.exercises]
    lines += ["", "events:"] + [f"  {line}" for line in grade.log]
    lines += ["", "what the notebook printed (beginning and end):", grade.output or "(nothing)"]
    return "\n".join(lines) + "\n"


def write_reports(grades: list[SubmissionGrade], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("feedback", "logs"):
        folder = out / sub
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.md" if sub == "feedback" else "*.txt"):
            old.unlink()  # only the grader's own outputs from an earlier run
    (out / "grades.csv").write_text(grades_csv(grades), encoding="utf-8")
    used: set[str] = set()
    for grade in sorted(grades, key=lambda g: g.relpath):
        name = safe_name(grade.relpath)
        while name in used:
            name += "_"
        used.add(name)
        (out / "feedback" / f"{name}.md").write_text(feedback_markdown(grade), encoding="utf-8")
        (out / "logs" / f"{name}.txt").write_text(instructor_log(grade), encoding="utf-8")
