"""Measure each notebook: wall time to run it top to bottom, and the kernel's peak memory.

    .venv/bin/python tools/measure_notebooks.py [NOTEBOOK ...] [--write docs/measurements.md]

Each notebook runs in a fresh kernel, started by a fresh helper process; when the kernel has exited,
the helper reads getrusage(RUSAGE_CHILDREN).ru_maxrss, the peak resident memory of its children, which is
the kernel's (the process where the notebook's tensors live). Figures are from one run on the machine
it ran on, stated in the output; nothing here is a pass/fail test, the limits are in the README.
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
from datetime import date
from pathlib import Path

from tensorlab import authoring

ROOT = Path(__file__).resolve().parents[1]


def run_one(path: Path) -> dict:
    """Run in the helper process: execute the notebook, then report time and the kernel's peak RSS."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    return {"notebook": path.name, "seconds": round(seconds, 1), "peak_mib": round(peak_kib / 1024)}


def measure(path: Path) -> dict:
    env = {**os.environ, "TENSORLAB_DEVICE": os.environ.get("TENSORLAB_DEVICE", "cpu")}
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(path)], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{path} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| notebook | run time (s) | kernel peak memory (MiB) |", "|---|---:|---:|"]
    lines += [f"| `{r['notebook']}` | {r['seconds']} | {r['peak_mib']} |" for r in rows]
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
        print(f"{rows[-1]['notebook']}: {rows[-1]['seconds']} s, {rows[-1]['peak_mib']} MiB", flush=True)
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    text = (
        f"Measured on {date.today().isoformat()} ({machine}), one run each, with "
        f"`tools/measure_notebooks.py`:\n\n{table(rows)}\n"
    )
    print("\n" + text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
