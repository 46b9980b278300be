"""``python -m tensorlab.grading SUBMISSIONS OUT [options]``: the command behind ``make grade``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from tensorlab.grading import GradingOptions, Limits, SandboxMissing, grade_folder


def main(argv: list[str] | None = None) -> int:
    d = Limits()
    parser = argparse.ArgumentParser(
        prog="python -m tensorlab.grading",
        description="Grade a folder of submitted "
        "course notebooks into OUT/grades.csv, feedback/ and logs/ (docs/INSTRUCTORS.md).",
    )
    parser.add_argument("submissions", type=Path, help="folder of submitted notebooks (never written)")
    parser.add_argument("out", type=Path, help="folder for grades.csv, feedback/ and logs/")
    parser.add_argument("--jobs", type=int, default=0, help="notebooks graded at once (default: one per core)")
    parser.add_argument("--cell-timeout", type=float, default=d.cell_seconds, help="seconds a cell may run")
    parser.add_argument(
        "--timeout",
        type=float,
        default=d.submission_seconds,
        help="seconds for everything about one file: kernels, restarts, cells, judging",
    )
    parser.add_argument("--memory-mb", type=int, default=d.memory_mb, help="memory on top of the libraries")
    parser.add_argument("--disk-mb", type=int, default=d.disk_mb, help="size of each folder a notebook may write")
    parser.add_argument("--processes", type=int, default=d.processes, help="processes a notebook may run at once")
    parser.add_argument("--trusted", action="store_true", help="no sandbox: only for files you trust (your own)")
    parser.add_argument("--device", default="cpu", help="device the notebooks run on (default cpu)")
    parser.add_argument("--name-pattern", help="regex whose (?P<student>...) group is the name in a file name")
    parser.add_argument("--solutions", type=Path, help="solution notebooks (default: solutions/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    limits = Limits(
        cell_seconds=args.cell_timeout,
        submission_seconds=args.timeout,
        memory_mb=args.memory_mb,
        disk_mb=args.disk_mb,
        processes=args.processes,
    )
    try:
        run = grade_folder(
            args.submissions,
            args.out,
            GradingOptions(
                limits, args.jobs, args.trusted, args.device, args.name_pattern, args.solutions, not args.no_progress
            ),
        )
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
    print(
        f"graded {len(run.grades)} file(s) in {run.seconds:.0f} s ({counts}); sandbox: "
        f"{'none (--trusted)' if run.trusted else 'bubblewrap'}"
    )
    for name, why in run.broken.items():
        print(f"warning: solution notebook {name} could not be loaded: {why}", file=sys.stderr)
    print(
        f"grades: {run.out / 'grades.csv'}\nfeedback (for the students): {run.out / 'feedback'}/\n"
        f"logs (for you): {run.out / 'logs'}/"
    )
    if run.changed:
        print("ERROR: these submitted files changed while they were graded:", *run.changed, sep="\n  ", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
