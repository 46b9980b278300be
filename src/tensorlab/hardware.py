"""How fast can this machine multiply matrices, and how fast does it? (introduced in notebook 06).

Three things, kept apart so that each can be tested on any machine:

- **the CPU's theoretical peak, estimated** from what Linux says about the processor
  (``/proc/cpuinfo``, or ``lscpu``): physical cores x clock x floating-point operations per cycle,
  where the last number follows from the vector instructions found (AVX2 + FMA, AVX-512,
  AVX-512-BF16, AMX). It is an *estimate*: real clocks drop under wide vector work, some chips have
  one FMA unit where this assumes two, and a virtual machine may report a nominal clock.
- **a GPU's theoretical peak, looked up** in a small table of known NVIDIA cards (dense float32 and
  bfloat16 TFLOP/s from NVIDIA's data sheets), keyed by the name CUDA reports.
- **the achieved rate, measured**: a matrix product of two (n, n) matrices costs 2·n³ floating-point
  operations (n³ multiplications and n³ additions); :func:`measure_matmul` times it with
  ``torch.utils.benchmark.Timer``, which warms up and waits for the GPU (``torch.cuda.synchronize``)
  before reading the clock.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch

# Importing torch.utils.benchmark loads torch.utils.cpp_extension, which logs a warning on stderr
# ("No CUDA runtime is found, using CUDA_HOME=...") on machines that have a CUDA toolkit folder but
# no GPU. It says nothing about timing; silence it at its source so notebooks keep a clean stderr.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch.utils import benchmark  # noqa: E402

__all__ = [
    "CpuInfo",
    "PeakEstimate",
    "GpuPeak",
    "MatmulTiming",
    "GPU_PEAKS",
    "read_cpu_info",
    "parse_cpu_info",
    "cpu_flops_per_cycle",
    "estimate_cpu_peak",
    "lookup_gpu_peak",
    "gpu_peak",
    "peak_flops",
    "matmul_flops",
    "measure_matmul",
    "measure_matmul_sweep",
    "describe_gpu",
    "plot_matmul_rates",
    "format_flops",
]


# ---------------------------------------------------------------------------------------------
# The CPU: what Linux says about it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuInfo:
    """What the peak estimate needs to know about the processor."""

    model_name: str
    vendor: str  # "GenuineIntel", "AuthenticAMD", ... ("" if unknown)
    family: int | None  # the "cpu family" number (AMD: 23 = Zen 1/2, 25 = Zen 3/4, 26 = Zen 5)
    model: int | None
    physical_cores: int  # cores this process may use, counting each hyper-thread pair once
    logical_cpus: int  # CPUs this process may use (hyper-threads counted)
    mhz: float | None  # the clock the estimate uses
    mhz_source: str  # where ``mhz`` came from, in words
    flags: frozenset[str]

    def has(self, *flags: str) -> bool:
        return all(flag in self.flags for flag in flags)

    @property
    def instruction_sets(self) -> list[str]:
        """The vector instruction sets that matter for matrix products, as found."""
        names = [
            ("sse2", "SSE2"),
            ("avx", "AVX"),
            ("avx2", "AVX2"),
            ("fma", "FMA"),
            ("avx512f", "AVX-512"),
            ("avx512_bf16", "AVX-512-BF16"),
            ("amx_tile", "AMX"),
            ("amx_bf16", "AMX-BF16"),
        ]
        return [label for flag, label in names if flag in self.flags]


def _fields(block: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _as_int(text: str | None) -> int | None:
    try:
        return int(text, 0) if text is not None else None
    except ValueError:
        return None


def _as_float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def parse_cpu_info(cpuinfo_text: str, lscpu_text: str = "", allowed_cpus: Iterable[int] | None = None) -> CpuInfo:
    """Build a :class:`CpuInfo` from the text of ``/proc/cpuinfo`` (and of ``lscpu``, if any).

    ``allowed_cpus`` are the logical CPU numbers this process may run on (its affinity); by default
    every processor listed. Cores are counted as distinct (physical id, core id) pairs among them;
    without core ids, each logical CPU counts as a core. The clock is lscpu's "CPU max MHz" (the
    highest the chip reports), else the highest "cpu MHz" in /proc/cpuinfo (the current clock, which
    in a virtual machine is often the nominal one).
    """
    blocks = [_fields(b) for b in re.split(r"\n\s*\n", cpuinfo_text) if "processor" in b]
    allowed = set(allowed_cpus) if allowed_cpus is not None else None
    if allowed is not None:
        blocks = [b for b in blocks if _as_int(b.get("processor")) in allowed] or blocks
    first = blocks[0] if blocks else {}
    lscpu = _fields(lscpu_text)
    cores = {(b.get("physical id", "0"), b["core id"]) for b in blocks if "core id" in b}
    logical = len(blocks) or (len(allowed) if allowed else 1)
    flags = frozenset((first.get("flags") or lscpu.get("flags", "")).split())
    max_mhz = _as_float(lscpu.get("cpu max mhz"))
    current = [m for m in (_as_float(b.get("cpu mhz")) for b in blocks) if m]
    if max_mhz:
        mhz, source = max_mhz, "lscpu 'CPU max MHz'"
    elif current:
        mhz, source = max(current), "/proc/cpuinfo 'cpu MHz' (the current clock)"
    else:
        mhz, source = None, "not reported"
    return CpuInfo(
        model_name=first.get("model name") or lscpu.get("model name", "unknown CPU"),
        vendor=first.get("vendor_id") or lscpu.get("vendor id", ""),
        family=_as_int(first.get("cpu family") or lscpu.get("cpu family")),
        model=_as_int(first.get("model") or lscpu.get("model")),
        physical_cores=len(cores) or logical,
        logical_cpus=logical,
        mhz=mhz,
        mhz_source=source,
        flags=flags,
    )


def read_cpu_info() -> CpuInfo:
    """Read this machine's processor from /proc/cpuinfo (and lscpu when it is installed)."""
    path = Path("/proc/cpuinfo")
    cpuinfo = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    lscpu = ""
    if shutil.which("lscpu"):
        try:
            lscpu = subprocess.run(
                ["lscpu"], capture_output=True, text=True, timeout=10, env={**os.environ, "LC_ALL": "C"}
            ).stdout
        except (OSError, subprocess.SubprocessError):
            lscpu = ""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        allowed = None
    if not cpuinfo and not lscpu:  # not Linux: only the CPU count is known
        count = len(allowed) if allowed else (os.cpu_count() or 1)
        return CpuInfo("unknown CPU", "", None, None, count, count, None, "not reported", frozenset())
    return parse_cpu_info(cpuinfo, lscpu, allowed)


# ---------------------------------------------------------------------------------------------
# The CPU: floating-point operations per cycle, and the peak
# ---------------------------------------------------------------------------------------------
# Per core and per cycle, counting a fused multiply-add (FMA) as two operations, assuming two FMA
# units per core (true of Intel cores since Haswell and AMD cores since Zen 2; some Xeon Silver and
# Bronze parts have one AVX-512 unit, which halves the AVX-512 figure):
#   AVX2 + FMA:   2 units x  8 float32 lanes (256 bits) x 2 =   32 float32 FLOP/cycle
#   AVX-512:      2 units x 16 float32 lanes (512 bits) x 2 =   64 float32 FLOP/cycle
#                 (AMD Zen 4 runs 512-bit instructions as two 256-bit halves: 32)
#   AVX-512-BF16: VDPBF16PS does 2 bf16 products per float32 lane: 2 x 16 x 2 x 2 = 128 bf16 FLOP/cycle
#   AMX-BF16:     1024 bf16 FLOP/cycle per core (Intel, Architecture Day 2021, "Sapphire Rapids":
#                 AMX TMUL 1024 BF16 operations/cycle against 64 FP32 operations/cycle for AVX-512)
# Without AVX-512-BF16 or AMX the CPU has no bfloat16 arithmetic: the library converts to float32
# and back, so float32's peak is an upper bound for bfloat16 (and usually far from reached).


def cpu_flops_per_cycle(info: CpuInfo, dtype: torch.dtype = torch.float32) -> tuple[int, str]:
    """Floating-point operations per cycle per core for ``dtype``, and why, in words."""
    amd = info.vendor == "AuthenticAMD"
    if info.has("avx512f"):
        halves = amd and info.family is not None and info.family < 26  # Zen 4: 2 x 256-bit halves
        fp32 = (
            (32, "AVX-512 run as two 256-bit halves (AMD Zen 4): 2 FMA units x 8 lanes x 2")
            if halves
            else (64, "AVX-512: 2 FMA units x 16 float32 lanes x 2 (multiply + add)")
        )
    elif info.has("avx2", "fma"):
        zen1 = amd and info.family == 23 and (info.model or 0) < 0x30  # Zen 1 splits 256-bit ops
        fp32 = (
            (16, "AVX2 + FMA on AMD Zen 1 (256-bit ops split in two): 2 x 4 lanes x 2")
            if zen1
            else (32, "AVX2 + FMA: 2 FMA units x 8 float32 lanes x 2 (multiply + add)")
        )
    elif info.has("avx"):
        fp32 = (16, "AVX without FMA: 1 multiply + 1 add unit x 8 float32 lanes")
    elif info.has("sse2") or not info.flags:
        fp32 = (8, "SSE2 (or flags unknown): 1 multiply + 1 add unit x 4 float32 lanes")
    else:
        fp32 = (8, "no known vector flags: 1 multiply + 1 add unit x 4 float32 lanes")
    if dtype == torch.float64:
        return fp32[0] // 2, fp32[1].replace("float32", "float64") + ", halved: 64-bit lanes hold half as many"
    if dtype != torch.bfloat16:
        return fp32
    if info.has("amx_bf16", "amx_tile"):
        return 1024, "AMX-BF16: 1024 bfloat16 FLOP/cycle per core (Intel's figure)"
    if info.has("avx512_bf16"):
        if amd and info.family is not None and info.family < 26:
            return 64, "AVX-512-BF16 as two 256-bit halves (AMD Zen 4): 2 x 8 lanes x 2 products x 2"
        return 128, "AVX-512-BF16: 2 units x 16 float32 lanes x 2 bf16 products x 2"
    return fp32[0], (
        f"no bfloat16 instructions (no AVX-512-BF16, no AMX): bfloat16 is converted to "
        f"float32, so float32's {fp32[0]} FLOP/cycle is an upper bound"
    )


@dataclass(frozen=True)
class PeakEstimate:
    """A theoretical peak in FLOP/s (``None`` when it cannot be known) and how it was found."""

    flops: float | None
    how: str
    is_estimate: bool = True

    def percent(self, achieved_flops: float) -> float | None:
        return None if not self.flops else 100.0 * achieved_flops / self.flops

    def __str__(self) -> str:
        if self.flops is None:
            return f"unknown ({self.how})"
        return f"{format_flops(self.flops)} ({'estimate: ' if self.is_estimate else ''}{self.how})"


def estimate_cpu_peak(
    dtype: torch.dtype = torch.float32, info: CpuInfo | None = None, cores: int | None = None
) -> PeakEstimate:
    """Cores x clock x FLOP per cycle: an estimate of the CPU's peak for ``dtype``.

    ``cores`` defaults to the physical cores this process may use.
    """
    info = info or read_cpu_info()
    cores = cores or info.physical_cores
    per_cycle, why = cpu_flops_per_cycle(info, dtype)
    if not info.mhz:
        return PeakEstimate(
            None, f"the clock is not reported; {cores} core(s) x ? GHz x {per_cycle} " f"FLOP/cycle ({why})"
        )
    ghz = info.mhz / 1000
    flops = cores * info.mhz * 1e6 * per_cycle
    return PeakEstimate(
        flops,
        f"{cores} core(s) x {ghz:.2f} GHz x {per_cycle} {_dtype_name(dtype)} "
        f"FLOP/cycle; {why}; clock from {info.mhz_source}",
    )


# ---------------------------------------------------------------------------------------------
# GPUs: a table of known cards
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuPeak:
    """Dense (no sparsity) peak TFLOP/s of one card, from its maker's data sheet."""

    pattern: str  # a regular expression matched against torch.cuda.get_device_name()
    name: str
    float32_tflops: float  # plain float32 on the CUDA cores (PyTorch's default: TF32 is off for matmul)
    bfloat16_tflops: float | None  # bfloat16 on the tensor cores, dense; None: no bf16 tensor cores
    source: str


# First match wins, so more specific names come first. \b keeps "A10" from matching "A10G" and
# "L4" from matching "L40". Data sheets quote bf16 "with sparsity"; the dense figure is half that.
GPU_PEAKS: tuple[GpuPeak, ...] = (
    # NVIDIA H100 Tensor Core GPU data sheet (2023): SXM FP32 67, BF16 1,979* (sparse) -> 989.5 dense;
    # PCIe FP32 51, BF16 1,513* -> 756.5; NVL FP32 60, BF16 1,671* -> 835.5.
    GpuPeak(r"\bH100\b.*\bPCIe\b", "H100 PCIe", 51.0, 756.5, "NVIDIA H100 data sheet"),
    GpuPeak(r"\bH100\b.*\bNVL\b", "H100 NVL", 60.0, 835.5, "NVIDIA H100 data sheet"),
    GpuPeak(r"\bH100\b", "H100 SXM", 67.0, 989.5, "NVIDIA H100 data sheet (SXM5, 'H100 80GB HBM3')"),
    # NVIDIA H200 Tensor Core GPU data sheet (2024): SXM FP32 67, BF16 1,979* -> 989.5;
    # NVL FP32 60, BF16 1,671* -> 835.5. GH200 has the same Hopper GPU at H100/H200 SXM rates.
    GpuPeak(r"\bH200\b.*\bNVL\b", "H200 NVL", 60.0, 835.5, "NVIDIA H200 data sheet"),
    GpuPeak(r"\bH200\b", "H200 SXM", 67.0, 989.5, "NVIDIA H200 data sheet"),
    GpuPeak(r"\bGH200\b", "GH200", 67.0, 989.5, "NVIDIA GH200 Grace Hopper data sheet"),
    # NVIDIA A100 Tensor Core GPU data sheet (2021): FP32 19.5, BF16 312 dense (624 sparse),
    # the same for the 40 GB and 80 GB, SXM and PCIe cards.
    GpuPeak(r"\bA100\b", "A100", 19.5, 312.0, "NVIDIA A100 data sheet"),
    # NVIDIA A10 data sheet: FP32 31.2, BF16 125 dense (250 sparse).
    GpuPeak(r"\bA10\b", "A10", 31.2, 125.0, "NVIDIA A10 data sheet"),
    # NVIDIA L40S data sheet: FP32 91.6, BF16 362.05 dense (733 with sparsity).
    GpuPeak(r"\bL40S\b", "L40S", 91.6, 362.05, "NVIDIA L40S data sheet"),
    # NVIDIA L4 data sheet: FP32 30.3, BF16 242* -> 121 dense.
    GpuPeak(r"\bL4\b", "L4", 30.3, 121.0, "NVIDIA L4 data sheet"),
    # NVIDIA T4 data sheet: FP32 8.1; Turing tensor cores have FP16 (65) but no bfloat16.
    GpuPeak(r"\bT4\b", "T4", 8.1, None, "NVIDIA T4 data sheet"),
    # NVIDIA V100 data sheet: FP32 15.7 (SXM2) / 14 (PCIe); Volta has no bfloat16 tensor cores.
    GpuPeak(r"\bV100\b.*\bPCIE\b", "V100 PCIe", 14.0, None, "NVIDIA V100 data sheet"),
    GpuPeak(r"\bV100\b", "V100 SXM2", 15.7, None, "NVIDIA V100 data sheet"),
    # NVIDIA Ada GPU architecture whitepaper, RTX 4090: FP32 82.6; FP16/BF16 tensor with FP32
    # accumulate 165.2 dense (GeForce cards run FP32-accumulate at half the FP16-accumulate rate).
    GpuPeak(r"\bRTX 4090\b(?! D)", "GeForce RTX 4090", 82.6, 165.2, "NVIDIA Ada architecture whitepaper"),
    # NVIDIA Ampere GA102 whitepaper, RTX 3090: FP32 35.6; BF16 tensor, FP32 accumulate, 71 dense.
    GpuPeak(r"\bRTX 3090\b", "GeForce RTX 3090", 35.6, 71.0, "NVIDIA Ampere GA102 whitepaper"),
)


def lookup_gpu_peak(device_name: str) -> GpuPeak | None:
    """The table row whose pattern matches ``device_name`` (case-insensitive), or None."""
    for row in GPU_PEAKS:
        if re.search(row.pattern, device_name, flags=re.IGNORECASE):
            return row
    return None


def gpu_peak(device_name: str, dtype: torch.dtype = torch.float32) -> PeakEstimate:
    """A known card's data-sheet peak for ``dtype`` (float32 or bfloat16), or an unknown peak."""
    row = lookup_gpu_peak(device_name)
    if row is None:
        return PeakEstimate(None, f"'{device_name}' is not in tensorlab.hardware.GPU_PEAKS", False)
    tflops = row.bfloat16_tflops if dtype == torch.bfloat16 else row.float32_tflops
    if dtype not in (torch.float32, torch.bfloat16):
        return PeakEstimate(None, f"the table holds float32 and bfloat16 only, not {dtype}", False)
    if tflops is None:
        return PeakEstimate(None, f"{row.name} has no bfloat16 tensor cores ({row.source})", False)
    kind = "tensor cores, dense" if dtype == torch.bfloat16 else "CUDA cores, no TF32"
    return PeakEstimate(tflops * 1e12, f"{row.name}, {_dtype_name(dtype)} on the {kind}: {row.source}", False)


def peak_flops(device: torch.device | str, dtype: torch.dtype = torch.float32) -> PeakEstimate:
    """The theoretical peak of ``device`` for ``dtype``: estimated for a CPU, looked up for CUDA."""
    device = torch.device(device)
    if device.type == "cpu":
        return estimate_cpu_peak(dtype)
    if device.type == "cuda":
        return gpu_peak(torch.cuda.get_device_name(device), dtype)
    return PeakEstimate(None, f"no peak is known for the device type '{device.type}'", False)


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def matmul_flops(m: int, k: int | None = None, n: int | None = None) -> int:
    """Floating-point operations of an (m, k) @ (k, n) product: 2·m·k·n (``matmul_flops(n)``: 2·n³).

    Each of the m·n outputs is a sum of k products: k multiplications and k - 1 additions, counted
    as 2·k by convention (one fused multiply-add is two operations).
    """
    k = m if k is None else k
    n = m if n is None else n
    return 2 * m * k * n


@dataclass(frozen=True)
class MatmulTiming:
    """One measured matrix product: the median time of (n, n) @ (n, n) and the rate it implies."""

    n: int
    dtype: torch.dtype
    device: str
    seconds: float
    runs: int

    @property
    def flops(self) -> int:
        return matmul_flops(self.n)

    @property
    def flops_per_second(self) -> float:
        return self.flops / self.seconds


def measure_matmul(
    n: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    min_run_time: float = 0.2,
    seed: int = 0,
    num_threads: int | None = None,
) -> MatmulTiming:
    """Time ``a @ b`` for two random (n, n) matrices on ``device`` with ``benchmark.Timer``.

    ``blocked_autorange`` runs the product in blocks until ``min_run_time`` seconds have passed and
    returns the median time per product; the Timer synchronizes CUDA around each block.
    ``num_threads`` defaults to ``torch.get_num_threads()``, the threads PyTorch uses anyway
    (``benchmark.Timer`` itself defaults to one thread, which would hide the other cores).
    """
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)  # (n, n)
    b = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)  # (n, n)
    timer = benchmark.Timer(
        stmt="a @ b",
        globals={"a": a, "b": b},
        num_threads=num_threads or torch.get_num_threads(),
        label="matmul",
        sub_label=f"n={n}",
        description=str(dtype),
    )
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    return MatmulTiming(
        n=n,
        dtype=dtype,
        device=str(torch.device(device)),
        seconds=float(measurement.median),
        runs=len(measurement.times),
    )


def measure_matmul_sweep(
    sizes: Sequence[int],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    min_run_time: float = 0.1,
    num_threads: int | None = None,
) -> list[MatmulTiming]:
    """:func:`measure_matmul` for each size, smallest first."""
    return [measure_matmul(n, dtype, device, min_run_time, num_threads=num_threads) for n in sorted(sizes)]


def describe_gpu(device: torch.device | str = "cuda") -> str:
    """One line on a CUDA device: multiprocessors, memory, compute capability."""
    props = torch.cuda.get_device_properties(torch.device(device))
    return (
        f"{props.multi_processor_count} multiprocessors, {props.total_memory / 2**30:.0f} GiB, "
        f"compute capability {props.major}.{props.minor}"
    )


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


def plot_matmul_rates(sweeps: dict, peaks: dict | None = None, ax=None, title: str | None = None):
    """Achieved GFLOP/s against n (log-log), one line per sweep, each known peak as a dashed line.

    ``sweeps`` maps a label (a string, or a dtype whose name is used) to a list of
    :class:`MatmulTiming`; ``peaks`` maps the same keys to :class:`PeakEstimate`. Used by notebook 06
    and by tools/make_cpu_flops_figure.py (the README's figure).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for index, (key, sweep) in enumerate(sweeps.items()):
        color, label = f"C{index}", _label(key)
        ax.plot(
            [t.n for t in sweep],
            [t.flops_per_second / 1e9 for t in sweep],
            "o-",
            color=color,
            label=f"{label}, achieved",
        )
        peak = (peaks or {}).get(key)
        if peak is not None and peak.flops:
            word = "estimated peak" if peak.is_estimate else "peak (data sheet)"
            ax.axhline(
                peak.flops / 1e9,
                color=color,
                linestyle="--",
                linewidth=1,
                label=f"{label}, {word} {format_flops(peak.flops)}",
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("n (product of two n x n matrices)")
    ax.set_ylabel("GFLOP/s (2 n³ / time)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def _label(key) -> str:
    return _dtype_name(key) if isinstance(key, torch.dtype) else str(key)


# ---------------------------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------------------------


def format_flops(flops_per_second: float) -> str:
    """1.2e11 -> '120.0 GFLOP/s' (k, M, G, T, P)."""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(flops_per_second) >= scale:
            return f"{flops_per_second / scale:.1f} {prefix}FLOP/s"
    return f"{flops_per_second:.1f} FLOP/s"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
