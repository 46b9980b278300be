"""Time one slider move of the explorers of notebooks 02 and 04 (the course wants under 100 ms).

    .venv/bin/python tools/widget_benchmark.py                 # 300 moves of each kind
    .venv/bin/python tools/widget_benchmark.py --moves 1000 --json artifacts/widget_benchmark.json

A move is what the kernel does when the browser sends a slider's new value: the slider's observer
updates the model, the figure is redrawn (blitting: only what changed), the frame is encoded and
handed to the ``Image`` widget. Here there is no browser: outside a kernel ipywidgets sends through a
stand-in comm, so the time does not include the trip to the browser and its drawing of the image
(JPEG of about 50 kB, decoded by the browser in a few milliseconds).

Kinds of move timed (every move changes the figure):
- notebook 02, a parameter slider: the seven sliders in turn, each nudged by +-0.05;
- notebook 04, the filter's position: 0, 1, ..., 15, 0, ...;
- notebook 04, a filter weight: the centre weight between 1.0, 0.5 and -0.5.

For each it prints the median and the 90th percentile of the wall-clock time and of this process's
CPU time per move, and the machine's load average before and after. On a machine that other work
keeps busy, the wall-clock time is the CPU time plus the time spent waiting for a core; the CPU time
is close to what the same move takes on an idle machine. Not a test: nothing here passes or fails;
the README records the figures with where and when they were measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_moves(move, count: int) -> dict:
    wall, cpu = [], []
    for index in range(count):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        move(index)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)

    def summary(values):
        values = sorted(values)
        return {
            "median_ms": round(statistics.median(values) * 1000, 1),
            "p90_ms": round(values[int(0.9 * (len(values) - 1))] * 1000, 1),
        }

    return {"moves": count, "wall": summary(wall), "cpu": summary(cpu)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=300, help="moves of each kind (default 300)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)

    from tensorlab.dose import PARAM_NAMES, TRAINED_PARAMS
    from tensorlab.interactive import dose_network_explorer, filter_explorer

    load_before = os.getloadavg()
    dose = dose_network_explorer(frame_delay=0)
    conv = filter_explorer()
    assert dose.widget is not None and conv.widget is not None, "ipywidgets is needed (make venv)"

    def move_dose(index: int) -> None:
        name = PARAM_NAMES[index % len(PARAM_NAMES)]
        dose.sliders[name].value = TRAINED_PARAMS[name] + (0.05 if (index // len(PARAM_NAMES)) % 2 else -0.05)

    def move_position(index: int) -> None:
        conv.position_slider.value = (index + 1) % 16

    def edit_weight(index: int) -> None:
        conv.weight_boxes[4].value = (1.0, 0.5, -0.5)[index % 3]

    for move in (move_dose, move_position, edit_weight):  # warm up: caches, first full draws
        for index in range(20):
            move(index)
    results = {
        "02 parameter slider": time_moves(move_dose, args.moves),
        "04 filter position": time_moves(move_position, args.moves),
        "04 filter weight": time_moves(edit_weight, args.moves),
    }
    load_after = os.getloadavg()
    report = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "load_average_1_5_15_before": [round(x, 1) for x in load_before],
        "load_average_1_5_15_after": [round(x, 1) for x in load_after],
        "full_redraws": {"02": dose.full_redraw_count, "04": conv.full_redraw_count},
        "results": results,
    }
    print(f"{report['when']} | {report['machine']} | Python {report['python']}")
    print(
        f"load average (1, 5, 15 min): before {report['load_average_1_5_15_before']}, "
        f"after {report['load_average_1_5_15_after']}"
    )
    print(f"{'move':<22}{'moves':>7}{'wall median':>13}{'wall p90':>10}{'CPU median':>12}{'CPU p90':>9}  (ms)")
    for name, r in results.items():
        print(
            f"{name:<22}{r['moves']:>7}{r['wall']['median_ms']:>13}{r['wall']['p90_ms']:>10}"
            f"{r['cpu']['median_ms']:>12}{r['cpu']['p90_ms']:>9}"
        )
    print(
        f"full matplotlib redraws (axis limits changed): 02 {dose.full_redraw_count}, "
        f"04 {conv.full_redraw_count}; every other move redrew only what changed"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
