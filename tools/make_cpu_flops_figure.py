"""Draw the README's figure of matrix-product FLOP/s on this CPU (the measurement of notebook 06).

    .venv/bin/python tools/make_cpu_flops_figure.py [--out docs/figures/cpu_matmul_flops.png]

It measures the same sweeps as notebook 06, section 2 (float32 up to n = 1024 and bfloat16 up to
n = 256 on one core, float32 on every PyTorch thread), draws them against the estimated peaks with
tensorlab.hardware.plot_matmul_rates, and prints the table it drew, with the machine, so the README can
quote both. Timings depend on the
machine and on what else runs on it: the figure is a record of one run, not a test.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from tensorlab import hardware as hw

ROOT = Path(__file__).resolve().parents[1]
FLOAT32_SIZES, BFLOAT16_SIZES = [16, 32, 64, 128, 256, 512, 1024], [16, 32, 64, 128, 256]  # as notebook 06


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures" / "cpu_matmul_flops.png")
    parser.add_argument("--min-run-time", type=float, default=0.3, help="seconds per size (Timer)")
    args = parser.parse_args()

    info = hw.read_cpu_info()
    threads = torch.get_num_threads()
    cores = min(threads, info.physical_cores)
    all_cores = f"float32, {threads} threads"
    sweeps = {  # the three sweeps of notebook 06, section 2
        "float32, 1 core": hw.measure_matmul_sweep(FLOAT32_SIZES, torch.float32, "cpu", args.min_run_time, 1),
        "bfloat16, 1 core": hw.measure_matmul_sweep(BFLOAT16_SIZES, torch.bfloat16, "cpu", args.min_run_time, 1),
        all_cores: hw.measure_matmul_sweep(FLOAT32_SIZES, torch.float32, "cpu", args.min_run_time, threads),
    }
    peaks = {
        "float32, 1 core": hw.estimate_cpu_peak(torch.float32, info, cores=1),
        "bfloat16, 1 core": hw.estimate_cpu_peak(torch.bfloat16, info, cores=1),
        all_cores: hw.estimate_cpu_peak(torch.float32, info, cores=cores),
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    fig, ax = plt.subplots(figsize=(6.5, 4))
    hw.plot_matmul_rates(sweeps, peaks, ax=ax, title=f"Matrix products on the CPU ({info.model_name})")
    ax.text(
        0.01,
        0.01,
        f"{date.today()}, PyTorch {torch.__version__.split('+')[0]}, load {load:.1f}",
        transform=ax.transAxes,
        fontsize=7,
        color="gray",
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)

    print(
        f"machine: {info.model_name}, {info.physical_cores} cores, {info.mhz} MHz ({info.mhz_source}), "
        f"{', '.join(info.instruction_sets)}; PyTorch {torch.__version__}, {threads} threads; "
        f"1-minute load average {load:.1f}"
    )
    for label, peak in peaks.items():
        print(f"peak, {label}: {peak}")
    print("| measured | n | time (ms) | achieved | % of estimated peak |")
    print("|---|---:|---:|---:|---:|")
    for label, sweep in sweeps.items():
        for t in sweep:
            print(
                f"| {label} | {t.n} | {t.seconds * 1e3:.3f} | "
                f"{hw.format_flops(t.flops_per_second)} | {peaks[label].percent(t.flops_per_second):.1f} |"
            )
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
