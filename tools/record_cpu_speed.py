"""Record notebook 06's matrix-product sweep once, on a machine as quiet as it can be made.

    chrt --fifo 10 timeout 120 .venv/bin/python tools/record_cpu_speed.py   # as root: see below
    .venv/bin/python tools/record_cpu_speed.py --out /tmp/check.json       # anywhere, normal priority

It measures exactly what notebook 06 measures (``tensorlab.hardware.cpu_sweep_configs``, the same
interleaved rounds and ``blocked_autorange``), with longer runs, and writes the timings, the CPU (model,
cores, clock, instruction sets) and the conditions (date, PyTorch, threads, load average before and after,
how the process was scheduled) to ``datasets/cpu_matmul_reference.json``. Notebook 06 draws that record
beside the learner's own measurement, and the README's "Speed, measured" takes its figure and numbers
from the notebook's stored output of it (tools/export_readme_numbers.py, tools/export_readme_figures.py).

On a machine shared with other work, a measurement is only as quiet as the scheduler lets it be: the
development machine's two cores usually have several other jobs waiting, and two PyTorch threads that
wait for each other lose the most. Started with ``chrt --fifo 10`` (real-time scheduling, root only), the
measuring process runs whenever it is ready, and the other jobs wait for the few seconds it takes
(Linux still leaves them 5 % of each second, kernel.sched_rt_runtime_us). The record says how it was
scheduled. ``timeout`` bounds the run in case anything goes wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from tensorlab import hardware as hw

ROOT = Path(__file__).resolve().parents[1]


def scheduling() -> str:
    """How this process is scheduled, in words ("" for Linux's normal scheduler)."""
    try:
        policy = os.sched_getscheduler(0)
    except (AttributeError, OSError):
        return ""
    if policy == getattr(os, "SCHED_FIFO", None):
        return f"real-time (SCHED_FIFO, priority {os.sched_getparam(0).sched_priority})"
    if policy == getattr(os, "SCHED_RR", None):
        return f"real-time (SCHED_RR, priority {os.sched_getparam(0).sched_priority})"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "datasets" / hw.REFERENCE_FILE)
    parser.add_argument("--min-run-time", type=float, default=0.1, help="seconds per size and round (Timer)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    info = hw.read_cpu_info()
    configs = hw.cpu_sweep_configs()
    conditions = hw.measurement_conditions(info)
    conditions = hw.Conditions(
        conditions.started,
        conditions.cpu,
        conditions.cores,
        conditions.logical_cpus,
        conditions.threads,
        conditions.torch_version,
        conditions.load_before,
        nice=conditions.nice,
        scheduling=scheduling(),
    )
    sweeps = hw.measure_matmul_sweeps(configs, "cpu", min_run_time=args.min_run_time, rounds=args.rounds)
    conditions = conditions.finished()
    record = hw.record_to_json(
        info, conditions, configs, sweeps, {"min_run_time": args.min_run_time, "rounds": args.rounds}
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(conditions)
    print(hw.format_sweep_table(sweeps, hw.sweep_peaks(configs, info)))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())  # the pool is created here, under this process's policy
    main()
