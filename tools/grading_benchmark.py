"""Time the grader against the yardstick on a class-sized folder, side by side in one run.

    .venv/bin/python tools/grading_benchmark.py                  # 30 submissions of notebook 01, 3 pairs
    .venv/bin/python tools/grading_benchmark.py --pairs 1 --count 10

The yardstick is what any nbconvert-based grader pays at least: ``jupyter nbconvert --to notebook
--execute --allow-errors`` on the same files, one after another. Each *pair* runs the yardstick and then
the grader (``make grade``'s code, default ``--jobs``, bubblewrap) on the same files; the result is the
median over the pairs of each, and of their ratio (the machine's other load changes between pairs, so
pairs, not single runs, are compared). The submissions are made from the committed student notebook
and its solution: a third solved, a third with one exercise wrong, a sixth untouched, a sixth with an
exception in one answer. docs/INSTRUCTORS.md records the figures.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat

from tensorlab import authoring
from tensorlab.grading import GradingOptions, grade_folder, load_course


def make_submissions(folder: Path, notebook_name: str, count: int) -> None:
    course, broken = load_course()
    if notebook_name not in course:
        sys.exit(f"no gradable notebook {notebook_name!r}; have {sorted(course)} (broken: {broken})")
    notebook = course[notebook_name]
    solved = authoring.solved_copy(notebook.student, notebook.solution)
    names = [e.name for e in notebook.exercises]
    for number in range(count):
        kind = number % 6
        if kind in (0, 1):
            submission = solved
        elif kind in (2, 3):  # one answer replaced by a wrong value of another type
            submission = copy.deepcopy(solved)
            exercise = names[number % len(names)]
            index = authoring.tagged_cells(submission, exercise)[0]
            submission.cells[index].source = (
                notebook.student.cells[index]
                .source.replace("...", "42")
                .replace('raise NotImplementedError("your code here")', "return 42")
            )
        elif kind == 4:
            submission = notebook.student
        else:  # an exception in one answer cell
            submission = copy.deepcopy(solved)
            index = authoring.tagged_cells(submission, names[number % len(names)])[0]
            submission.cells[index].source = "1 / 0\n" + submission.cells[index].source
        nbformat.write(submission, folder / f"student{number:03d}.ipynb")


def yardstick(submissions: Path, output: Path) -> float:
    """Seconds for ``jupyter nbconvert --execute`` on every file, one after another."""
    output.mkdir()
    started = time.perf_counter()
    for path in sorted(submissions.glob("*.ipynb")):
        subprocess.run(
            [
                str(Path(sys.executable).parent / "jupyter"),
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                "--allow-errors",
                "--output-dir",
                str(output),
                str(path),
            ],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--notebook", default="01_tensors_0d_to_nd")
    parser.add_argument("--jobs", type=int, default=0, help="default: one per core, as make grade")
    args = parser.parse_args(argv)
    pairs = []
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as tmp:
        submissions = Path(tmp) / "submissions"
        submissions.mkdir()
        make_submissions(submissions, args.notebook, args.count)
        for number in range(args.pairs):
            floor = yardstick(submissions, Path(tmp) / f"nbconvert{number}")
            started = time.perf_counter()
            run = grade_folder(submissions, Path(tmp) / f"out{number}", GradingOptions(jobs=args.jobs, progress=False))
            ours = time.perf_counter() - started
            pairs.append((floor, ours))
            print(
                f"pair {number + 1}: nbconvert one after another {floor:.1f} s, grader {ours:.1f} s, "
                f"ratio {ours / floor:.2f} (load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    floors, ours = [f for f, _ in pairs], [o for _, o in pairs]
    print(
        f"{args.count} submissions of {args.notebook} on {os.cpu_count()} cores, grader jobs "
        f"{args.jobs or os.cpu_count()}: median nbconvert {statistics.median(floors):.1f} s, median grader "
        f"{statistics.median(ours):.1f} s, median ratio {statistics.median(o / f for f, o in pairs):.2f}"
    )
    print("statuses:", ", ".join(f"{n} {s}" for s, n in sorted(Counter(g.status for g in run.grades).items())))
    print("scores:", sorted((g.total for g in run.grades), reverse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
