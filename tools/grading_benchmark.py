"""Time the grader on a class-sized folder: N submissions of one notebook, graded as `make grade` does.

    .venv/bin/python tools/grading_benchmark.py                 # 30 submissions of notebook 01
    .venv/bin/python tools/grading_benchmark.py --count 60 --notebook 02_single_dose_network --jobs 4

The submissions are made from the committed student notebook and its solution: a third solved, a
third with one exercise wrong (a different one each time), a sixth untouched, a sixth with an
exception in one answer cell -- so every path through the judge is timed, not just the happy one.
Prints the wall time, the time per submission, and the status counts; docs/INSTRUCTORS.md records
the figure.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from tensorlab.grading import GradingOptions, grade_folder, load_course
from tensorlab.grading.course import answer_cell_indices, solved_student_notebook


def make_submissions(folder: Path, notebook_name: str, count: int) -> None:
    course, broken = load_course()
    if notebook_name not in course:
        sys.exit(f"no gradable notebook {notebook_name!r}; have {sorted(course)} (broken: {broken})")
    notebook = course[notebook_name]
    solved = solved_student_notebook(notebook)
    names = [e.name for e in notebook.exercises]
    for number in range(count):
        kind = number % 6
        if kind in (0, 1):
            submission = solved
        elif kind in (2, 3):  # one answer replaced by a wrong value of another type
            submission = copy.deepcopy(solved)
            exercise = names[number % len(names)]
            index = answer_cell_indices(submission, exercise)[0]
            submission.cells[index].source = notebook.student.cells[index].source.replace("...", "42") \
                .replace('raise NotImplementedError("your code here")', "return 42")
        elif kind == 4:
            submission = notebook.student
        else:  # an exception in one answer cell
            submission = copy.deepcopy(solved)
            index = answer_cell_indices(submission, names[number % len(names)])[0]
            submission.cells[index].source = "1 / 0\n" + submission.cells[index].source
        nbformat.write(submission, folder / f"student{number:03d}.ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--notebook", default="01_tensors_0d_to_nd")
    parser.add_argument("--jobs", type=int, default=0, help="default: one per core")
    parser.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "none"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as tmp:
        submissions, out = Path(tmp) / "submissions", Path(tmp) / "out"
        submissions.mkdir()
        make_submissions(submissions, args.notebook, args.count)
        started = time.perf_counter()
        run = grade_folder(submissions, out, GradingOptions(jobs=args.jobs, sandbox=args.sandbox))
        seconds = time.perf_counter() - started
    per = [g.seconds for g in run.grades]
    jobs = args.jobs or os.cpu_count()
    load = os.getloadavg()[0]
    print(f"{len(run.grades)} submissions of {args.notebook} graded in {seconds:.0f} s with {jobs} workers "
          f"on {os.cpu_count()} cores (sandbox: {run.mode}; load average at the end {load:.1f})")
    print(f"per submission: median {statistics.median(per):.1f} s, max {max(per):.1f} s "
          f"(the first on each worker includes starting its zygote)")
    print("statuses:", ", ".join(f"{n} {s}" for s, n in sorted(run.counts().items())))
    print("scores:", sorted((g.total for g in run.grades), reverse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
