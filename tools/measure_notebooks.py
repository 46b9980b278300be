"""Measure each notebook: wall time to run it top to bottom, the kernel's peak memory, and the peak of all
the processes it runs in.

    .venv/bin/python tools/measure_notebooks.py [NOTEBOOK ...] [--write docs/measurements.md]

Each notebook runs in a fresh kernel (``tensorlab.executing``, the course's one notebook executor),
started by a fresh helper process; when the kernel has exited, the helper reads
getrusage(RUSAGE_CHILDREN).ru_maxrss, the peak resident memory of its children, which is the kernel's
(the process where the notebook's tensors live). Meanwhile this process samples, four times a second,
the proportional set size (PSS: shared pages counted once, split between the processes that share them)
of the kernel and everything it starts -- for notebook 07, torchrun and its two workers -- summed; the
largest sum is the figure to hold against Binder's 2 GB. Figures are from one run on the machine it ran
on, stated in the output; nothing here is a pass/fail test, the limits are in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from tensorlab import authoring


def run_one(path: Path) -> dict:
    """Run in the helper process: execute the notebook, then report time and the kernel's peak RSS."""
    from tensorlab import executing

    execution = executing.execute(path, timeout=600)
    if not execution.ok:
        raise SystemExit(f"{execution.describe_error(path.name)}\n{execution.details}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB; the kernel has exited
    return {"notebook": path.name, "seconds": round(execution.seconds, 1), "peak_mib": round(peak_kib / 1024)}


def tree_pss_mib(helper_pid: int) -> tuple[float, int]:
    """Summed PSS (MiB) of the helper's descendants (the kernel and what it started), and their number."""
    import psutil

    total, count = 0, 0
    try:
        processes = psutil.Process(helper_pid).children(recursive=True)
    except psutil.Error:
        return 0.0, 0
    for process in processes:
        try:
            total += process.memory_full_info().pss
            count += 1
        except psutil.Error:  # it exited meanwhile
            pass
    return total / 2**20, count


def measure(path: Path) -> dict:
    env = {**os.environ, "TENSORLAB_DEVICE": os.environ.get("TENSORLAB_DEVICE", "cpu")}
    helper = subprocess.Popen(
        [sys.executable, __file__, "--one", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    peak, peak_processes = 0.0, 0
    with ThreadPoolExecutor(max_workers=1) as pool:  # read the output while sampling, so no pipe fills up
        outputs = pool.submit(helper.communicate)
        while not outputs.done():
            mib, count = tree_pss_mib(helper.pid)
            if mib > peak:
                peak, peak_processes = mib, count
            time.sleep(0.25)
        stdout, stderr = outputs.result()
    if helper.returncode != 0:
        raise SystemExit(f"{path} failed:\n{stderr[-3000:]}")
    row = json.loads(stdout.strip().splitlines()[-1])
    row.update({"tree_pss_mib": round(peak), "tree_processes": peak_processes})
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| notebook | run time (s) | kernel peak memory (MiB) | all its processes, peak PSS (MiB) |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| `{r['notebook']}` | {r['seconds']} | {r['peak_mib']} | {r['tree_pss_mib']} "
        f"({r['tree_processes']} process{'es' if r['tree_processes'] != 1 else ''}) |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one.resolve())))
        return
    paths = [p.resolve() for p in args.notebooks] or authoring.solution_paths()
    rows = []
    for path in paths:
        rows.append(measure(path))
        print(
            f"{rows[-1]['notebook']}: {rows[-1]['seconds']} s, kernel {rows[-1]['peak_mib']} MiB, "
            f"all its processes {rows[-1]['tree_pss_mib']} MiB PSS",
            flush=True,
        )
    import torch

    machine = (
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )
    text = (
        f"Measured on {date.today().isoformat()} ({machine}), one run each, with "
        f"`tools/measure_notebooks.py`:\n\n{table(rows)}\n"
    )
    print("\n" + text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
