"""``python -m tensorlab.grading SUBMISSIONS OUT``: the command behind ``make grade``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from tensorlab.grading import GradingOptions, Limits, SandboxMissing, grade_folder


def main(argv: list[str] | None = None) -> int:
    defaults = Limits()
    parser = argparse.ArgumentParser(
        prog="python -m tensorlab.grading",
        description="Grade a folder of submitted course notebooks: OUT/grades.csv, OUT/feedback/, "
                    "OUT/logs/. See docs/INSTRUCTORS.md.")
    parser.add_argument("submissions", type=Path, help="folder of submitted .ipynb files (read only)")
    parser.add_argument("out", type=Path, help="folder for grades.csv, feedback/ and logs/")
    parser.add_argument("--jobs", type=int, default=0, help="notebooks graded at once (default: one per core)")
    parser.add_argument("--cell-timeout", type=float, default=defaults.cell_seconds,
                        help=f"seconds one cell may run (default {defaults.cell_seconds:g})")
    parser.add_argument("--timeout", type=float, default=defaults.submission_seconds,
                        help="seconds for everything about one file: kernels, restarts, cells, judging "
                             f"(default {defaults.submission_seconds:g})")
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb,
                        help=f"memory a notebook may use on top of the libraries (default {defaults.memory_mb})")
    parser.add_argument("--disk-mb", type=int, default=defaults.disk_mb,
                        help=f"size of each folder a notebook may write (default {defaults.disk_mb})")
    parser.add_argument("--processes", type=int, default=defaults.processes,
                        help=f"processes a notebook may run at once (default {defaults.processes})")
    parser.add_argument("--trusted", action="store_true",
                        help="grade without the bubblewrap sandbox: only for files you trust (your own)")
    parser.add_argument("--device", default="cpu", help="device the notebooks run on (default cpu)")
    parser.add_argument("--name-pattern", default=None,
                        help="regex with a (?P<student>...) group taking the name out of the file name")
    parser.add_argument("--solutions", type=Path, default=None, help="solution notebooks (default: solutions/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    limits = Limits(cell_seconds=args.cell_timeout, submission_seconds=args.timeout, memory_mb=args.memory_mb,
                    disk_mb=args.disk_mb, processes=args.processes)
    options = GradingOptions(limits=limits, jobs=args.jobs, trusted=args.trusted, device=args.device,
                             name_pattern=args.name_pattern, solutions=args.solutions,
                             progress=not args.no_progress)
    try:
        run = grade_folder(args.submissions, args.out, options)
    except SandboxMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the kernels were stopped; grades.csv holds the files graded so far", file=sys.stderr)
        return 130
    counts = ", ".join(f"{n} {status}" for status, n in sorted(Counter(g.status for g in run.grades).items()))
    sandbox = "none (--trusted)" if run.trusted else "bubblewrap (read-only, no network, limits)"
    print(f"graded {len(run.grades)} file(s) in {run.seconds:.0f} s ({counts}); sandbox: {sandbox}")
    for name, why in run.broken.items():
        print(f"warning: solution notebook {name} could not be loaded: {why}", file=sys.stderr)
    print(f"grades:   {run.out / 'grades.csv'}")
    print(f"feedback: {run.out / 'feedback'}/ (one file per submission, for the students)")
    print(f"logs:     {run.out / 'logs'}/ (instructor only)")
    if run.changed:
        print("ERROR: these submitted files changed while they were graded:", *run.changed, sep="\n  ",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
