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
  before reading the clock. :func:`measure_matmul_sweeps` measures several sweeps in interleaved
  rounds, so that a burst of other work on a shared machine hits every configuration alike, and
  reports the median of all the blocks.
- **the conditions of a measurement** (:func:`measurement_conditions`): when, on what, and how busy
  the machine was (the load average), printed with every timing a notebook stores.
- **communication** (notebook 07): :func:`fit_latency_bandwidth` fits time = latency + bytes /
  bandwidth to all-reduce timings.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from datetime import datetime
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
    "SweepConfig",
    "measure_matmul_sweeps",
    "describe_gpu",
    "plot_matmul_rates",
    "format_flops",
    "PublishedPeak",
    "published_peaks",
    "load_average",
    "Conditions",
    "measurement_conditions",
    "threads_verdict",
    "place_legend",
    "LinkFit",
    "fit_latency_bandwidth",
    "cpu_sweep_configs",
    "sweep_peaks",
    "format_sweep_table",
    "parse_sweep_table",
    "MatmulRecord",
    "record_to_json",
    "load_matmul_record",
    "bfloat16_verdict",
    "peak_verdict",
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
    source: str  # the document, by title
    url: str = ""  # where it is published


# The makers' documents, by title and address. The product pages carry the data sheet's
# specification table; "*" there marks figures "with sparsity", twice the dense rate.
_H100 = (
    "NVIDIA H100 Tensor Core GPU data sheet (specifications table: FP32 67 / 51 / 60 TFLOPS, "
    "BFLOAT16 Tensor Core 1,979* / 1,513* / 1,671* TFLOPS for SXM / PCIe / NVL)",
    "https://www.nvidia.com/en-us/data-center/h100/",
)
_H200 = (
    "NVIDIA H200 Tensor Core GPU data sheet (FP32 67 / 60 TFLOPS, BFLOAT16 Tensor Core "
    "1,979* / 1,671* TFLOPS for SXM / NVL)",
    "https://www.nvidia.com/en-us/data-center/h200/",
)
_A100 = (
    "NVIDIA A100 Tensor Core GPU data sheet, 1758950-r4 (FP32 19.5 TFLOPS, BFLOAT16 Tensor Core " "312 | 624* TFLOPS)",
    "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
    "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
)

# First match wins, so more specific names come first. \b keeps "A10" from matching "A10G" and
# "L4" from matching "L40". Data sheets quote bf16 "with sparsity"; the dense figure is half that.
GPU_PEAKS: tuple[GpuPeak, ...] = (
    # H100: SXM FP32 67, BF16 1,979* (sparse) -> 989.5 dense; PCIe FP32 51, BF16 1,513* -> 756.5;
    # NVL FP32 60, BF16 1,671* -> 835.5.
    GpuPeak(r"\bH100\b.*\bPCIe\b", "H100 PCIe", 51.0, 756.5, *_H100),
    GpuPeak(r"\bH100\b.*\bNVL\b", "H100 NVL", 60.0, 835.5, *_H100),
    GpuPeak(r"\bH100\b", "H100 SXM", 67.0, 989.5, *_H100),
    # H200: SXM FP32 67, BF16 1,979* -> 989.5; NVL FP32 60, BF16 1,671* -> 835.5. GH200 has the same
    # Hopper GPU at H100/H200 SXM rates.
    GpuPeak(r"\bH200\b.*\bNVL\b", "H200 NVL", 60.0, 835.5, *_H200),
    GpuPeak(r"\bH200\b", "H200 SXM", 67.0, 989.5, *_H200),
    GpuPeak(
        r"\bGH200\b",
        "GH200",
        67.0,
        989.5,
        "NVIDIA GH200 Grace Hopper Superchip data sheet (the H100 SXM's FP32 67, BFLOAT16 1,979* TFLOPS)",
        "https://www.nvidia.com/en-us/data-center/grace-hopper-superchip/",
    ),
    # A100: FP32 19.5, BF16 312 dense (624 sparse), the same for the 40 GB and 80 GB, SXM and PCIe cards.
    GpuPeak(r"\bA100\b", "A100", 19.5, 312.0, *_A100),
    GpuPeak(
        r"\bA10\b",
        "A10",
        31.2,
        125.0,
        "NVIDIA A10 Tensor Core GPU data sheet (FP32 31.2 TFLOPS, BFLOAT16 Tensor Core 125 | 250* TFLOPS)",
        "https://www.nvidia.com/en-us/data-center/products/a10-gpu/",
    ),
    GpuPeak(
        r"\bL40S\b",
        "L40S",
        91.6,
        362.05,
        "NVIDIA L40S GPU data sheet (FP32 91.6 TFLOPS, BF16 Tensor Core 362.05 | 733* TFLOPS)",
        "https://www.nvidia.com/en-us/data-center/l40s/",
    ),
    GpuPeak(
        r"\bL4\b",
        "L4",
        30.3,
        121.0,
        "NVIDIA L4 Tensor Core GPU data sheet (FP32 30.3 TFLOPS, BFLOAT16 Tensor Core 242* TFLOPS)",
        "https://www.nvidia.com/en-us/data-center/l4/",
    ),
    # T4: Turing tensor cores have FP16 (65 TFLOPS) but no bfloat16.
    GpuPeak(
        r"\bT4\b",
        "T4",
        8.1,
        None,
        "NVIDIA T4 Tensor Core GPU data sheet (single precision 8.1 TFLOPS, mixed precision FP16/FP32 "
        "65 TFLOPS; no bfloat16)",
        "https://www.nvidia.com/en-us/data-center/tesla-t4/",
    ),
    # V100: FP32 15.7 (SXM2) / 14 (PCIe); Volta has no bfloat16 tensor cores.
    GpuPeak(
        r"\bV100\b.*\bPCIE\b",
        "V100 PCIe",
        14.0,
        None,
        "NVIDIA V100 Tensor Core GPU data sheet (single precision 14 TFLOPS for PCIe; no bfloat16)",
        "https://www.nvidia.com/en-us/data-center/v100/",
    ),
    GpuPeak(
        r"\bV100\b",
        "V100 SXM2",
        15.7,
        None,
        "NVIDIA V100 Tensor Core GPU data sheet (single precision 15.7 TFLOPS for SXM2; no bfloat16)",
        "https://www.nvidia.com/en-us/data-center/v100/",
    ),
    # RTX 4090: FP32 82.6; FP16/BF16 tensor with FP32 accumulate 165.2 dense (GeForce cards run
    # FP32-accumulate at half the FP16-accumulate rate).
    GpuPeak(
        r"\bRTX 4090\b(?! D)",
        "GeForce RTX 4090",
        82.6,
        165.2,
        "NVIDIA Ada GPU Architecture whitepaper, appendix table (RTX 4090: peak FP32 82.6 TFLOPS, "
        "peak BF16 Tensor TFLOPS with FP32 accumulate 165.2 | 330.4*)",
        "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf",
    ),
    # RTX 3090: FP32 35.6; BF16 tensor, FP32 accumulate, 71 dense.
    GpuPeak(
        r"\bRTX 3090\b",
        "GeForce RTX 3090",
        35.6,
        71.0,
        "NVIDIA Ampere GA102 GPU Architecture whitepaper, table 9 (RTX 3090: peak FP32 35.6 TFLOPS, "
        "peak BF16 Tensor TFLOPS with FP32 accumulate 71 | 142*)",
        "https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf",
    ),
)


@dataclass(frozen=True)
class PublishedPeak:
    """An accelerator's published peak, for a table a reader without one can still look at."""

    name: str
    kind: str  # "GPU" or "TPU"
    float32_tflops: float | None  # None: not published
    bfloat16_tflops: float | None  # dense; None: no bfloat16 matrix units (or not published)
    source: str
    url: str


# Google's TPU v5e: one TensorCore per chip with four matrix-multiply units (MXUs); Google
# publishes the bfloat16 rate per chip, not a float32 one.
TPU_V5E = PublishedPeak(
    "Cloud TPU v5e (one chip)",
    "TPU",
    None,
    197.0,
    "Google Cloud TPU documentation, 'TPU v5e' (peak compute per chip (bf16): 197 TFLOPs)",
    "https://cloud.google.com/tpu/docs/v5e",
)


def published_peaks(names: Sequence[str] = ("H100 SXM", "A100", "L4", "T4")) -> list[PublishedPeak]:
    """The rows of :data:`GPU_PEAKS` named, then Google's TPU v5e: what notebook 06 tabulates."""
    rows = {row.name: row for row in GPU_PEAKS}
    found = [
        PublishedPeak(
            name, "GPU", rows[name].float32_tflops, rows[name].bfloat16_tflops, rows[name].source, rows[name].url
        )
        for name in names
    ]
    return found + [TPU_V5E]


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
    runs: int  # how many timed blocks the median is taken over
    iqr: float = 0.0  # their interquartile range (seconds): the spread, large on a busy machine

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


@dataclass(frozen=True)
class SweepConfig:
    """One curve of a sweep: its label, the dtype, the CPU threads and the sizes n to measure."""

    label: str
    dtype: torch.dtype
    num_threads: int
    sizes: tuple[int, ...]


def measure_matmul_sweeps(
    configs: Sequence[SweepConfig],
    device: torch.device | str = "cpu",
    min_run_time: float = 0.05,
    rounds: int = 3,
    seed: int = 0,
) -> dict[str, list[MatmulTiming]]:
    """Measure several sweeps in interleaved rounds; return each label's timings, smallest n first.

    In every round each size is measured for every configuration that has it, one right after the
    other (``blocked_autorange(min_run_time)``), and the rounds repeat the whole pass. A burst of other
    work on a shared machine then hits every configuration and size alike, instead of one curve or
    one size (which is what made the curves zig-zag). Each timing is the median over the blocks of
    all rounds, with their interquartile range.
    """
    generator = torch.Generator().manual_seed(seed)
    device = torch.device(device)
    inputs: dict[tuple[torch.dtype, int], dict[str, torch.Tensor]] = {}
    for config in configs:
        for n in config.sizes:
            if (config.dtype, n) not in inputs:
                a = torch.randn(n, n, generator=generator).to(device=device, dtype=config.dtype)  # (n, n)
                b = torch.randn(n, n, generator=generator).to(device=device, dtype=config.dtype)  # (n, n)
                inputs[config.dtype, n] = {"a": a, "b": b}
    blocks: dict[tuple[str, int], list[float]] = {(c.label, n): [] for c in configs for n in c.sizes}
    all_sizes = sorted({n for c in configs for n in c.sizes})
    for _ in range(rounds):
        for n in all_sizes:
            for config in configs:
                if n in config.sizes:
                    timer = benchmark.Timer("a @ b", globals=inputs[config.dtype, n], num_threads=config.num_threads)
                    blocks[config.label, n].extend(timer.blocked_autorange(min_run_time=min_run_time).times)
    results: dict[str, list[MatmulTiming]] = {}
    for config in configs:
        results[config.label] = []
        for n in sorted(config.sizes):
            times = blocks[config.label, n]
            quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
            results[config.label].append(
                MatmulTiming(
                    n, config.dtype, str(device), statistics.median(times), len(times), quartiles[2] - quartiles[0]
                )
            )
    return results


def cpu_sweep_configs(threads: int | None = None) -> list[SweepConfig]:
    """Notebook 06's CPU sweep: float32 and bfloat16 on one thread, float32 on ``threads`` threads.

    The same list serves the notebook's own measurement and the course's recorded reference
    (tools/record_cpu_speed.py), so the two are measured alike.
    """
    threads = threads or torch.get_num_threads()
    float32_sizes, bfloat16_sizes = (16, 32, 64, 128, 256, 512, 1024), (16, 32, 64, 128, 256)
    configs = [
        SweepConfig("float32, 1 thread", torch.float32, 1, float32_sizes),
        SweepConfig("bfloat16, 1 thread", torch.bfloat16, 1, bfloat16_sizes),
    ]
    if threads > 1:  # the last sweep is every thread PyTorch uses (with one thread, the first is)
        configs.append(SweepConfig(f"float32, {threads} threads", torch.float32, threads, float32_sizes))
    return configs


def sweep_peaks(configs: Sequence[SweepConfig], info: CpuInfo) -> dict[str, PeakEstimate]:
    """Each sweep's estimated peak: one core per thread, at most the cores there are."""
    return {c.label: estimate_cpu_peak(c.dtype, info, cores=min(c.num_threads, info.physical_cores)) for c in configs}


SWEEP_TABLE_HEADER = f"{'measured':<20} {'n':>5} {'median':>11} {'IQR':>10} {'achieved':>15} {'% of peak':>10}"


def format_sweep_table(sweeps: dict[str, list[MatmulTiming]], peaks: dict[str, PeakEstimate]) -> str:
    """The sweep as notebook 06 prints it: one row per size, with the median, its IQR, the rate, % of peak."""
    lines = [SWEEP_TABLE_HEADER]
    for label, sweep in sweeps.items():
        for t in sweep:
            percent = peaks[label].percent(t.flops_per_second) if label in peaks else None
            lines.append(
                f"{label:<20} {t.n:>5} {t.seconds * 1e3:>8.3f} ms {t.iqr * 1e3:>7.3f} ms "
                f"{format_flops(t.flops_per_second):>15} "
                + (f"{percent:>9.1f}%" if percent is not None else f"{'?':>10}")
            )
    return "\n".join(lines)


_SWEEP_ROW = re.compile(
    r"^(?P<label>\S.*?)\s+(?P<n>\d+)\s+(?P<ms>[\d.]+) ms\s+(?P<iqr>[\d.]+) ms\s+"
    r"(?P<rate>[\d.]+ [kMGTP]?FLOP/s)\s+(?P<percent>[\d.]+)%$"
)


def parse_sweep_table(text: str) -> dict[str, list[dict]]:
    """The rows of a printed :func:`format_sweep_table`, read back: {label: [{n, ms, iqr_ms, rate, percent}]}."""
    rows: dict[str, list[dict]] = {}
    for line in text.splitlines():
        found = _SWEEP_ROW.match(line.rstrip())
        if found:
            rows.setdefault(found["label"], []).append(
                {
                    "n": int(found["n"]),
                    "ms": float(found["ms"]),
                    "iqr_ms": float(found["iqr"]),
                    "rate": found["rate"],
                    "percent": float(found["percent"]),
                }
            )
    return rows


# ---------------------------------------------------------------------------------------------
# A recorded sweep: the course's reference measurement on a quiet machine
# ---------------------------------------------------------------------------------------------

REFERENCE_FILE = "cpu_matmul_reference.json"  # in datasets/, written by tools/record_cpu_speed.py
_RECORDED_FLAGS = ("sse2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}


@dataclass(frozen=True)
class MatmulRecord:
    """A sweep measured once and kept: the CPU, the conditions, every timing."""

    cpu: CpuInfo
    conditions: "Conditions"
    sweeps: dict[str, list[MatmulTiming]]
    configs: list[SweepConfig]
    settings: dict

    def peaks(self) -> dict[str, PeakEstimate]:
        return sweep_peaks(self.configs, self.cpu)


def record_to_json(
    cpu: CpuInfo,
    conditions: "Conditions",
    configs: Sequence[SweepConfig],
    sweeps: dict[str, list[MatmulTiming]],
    settings: dict,
) -> dict:
    """What tools/record_cpu_speed.py writes (see :func:`load_matmul_record`)."""
    return {
        "what": "notebook 06's matrix-product sweep, measured once and kept (tools/record_cpu_speed.py)",
        "conditions": {
            "started": conditions.started.isoformat(timespec="seconds"),
            "cpu": conditions.cpu,
            "cores": conditions.cores,
            "logical_cpus": conditions.logical_cpus,
            "threads": conditions.threads,
            "torch_version": conditions.torch_version,
            "load_before": conditions.load_before,
            "load_after": conditions.load_after,
            "nice": conditions.nice,
            "scheduling": conditions.scheduling,
        },
        "cpu": {
            "model_name": cpu.model_name,
            "vendor": cpu.vendor,
            "family": cpu.family,
            "model": cpu.model,
            "physical_cores": cpu.physical_cores,
            "logical_cpus": cpu.logical_cpus,
            "mhz": cpu.mhz,
            "mhz_source": cpu.mhz_source,
            "flags": sorted(f for f in cpu.flags if f in _RECORDED_FLAGS),
        },
        "settings": dict(settings),
        "sweeps": [
            {
                "label": c.label,
                "dtype": _dtype_name(c.dtype),
                "num_threads": c.num_threads,
                "timings": [{"n": t.n, "seconds": t.seconds, "runs": t.runs, "iqr": t.iqr} for t in sweeps[c.label]],
            }
            for c in configs
        ],
    }


def load_matmul_record(path: str | os.PathLike | None = None) -> MatmulRecord:
    """Read the recorded reference sweep (by default ``datasets/cpu_matmul_reference.json``)."""
    import json

    if path is None:
        from tensorlab.data import datasets_dir

        path = datasets_dir() / REFERENCE_FILE
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    c, p = data["conditions"], data["cpu"]
    cpu = CpuInfo(
        p["model_name"],
        p["vendor"],
        p["family"],
        p["model"],
        p["physical_cores"],
        p["logical_cpus"],
        p["mhz"],
        p["mhz_source"],
        frozenset(p["flags"]),
    )
    conditions = Conditions(
        datetime.fromisoformat(c["started"]),
        c["cpu"],
        c["cores"],
        c["logical_cpus"],
        c["threads"],
        c["torch_version"],
        c["load_before"],
        c["load_after"],
        c["nice"],
        c["scheduling"],
    )
    configs, sweeps = [], {}
    for sweep in data["sweeps"]:
        dtype = _DTYPES[sweep["dtype"]]
        timings = [MatmulTiming(t["n"], dtype, "cpu", t["seconds"], t["runs"], t["iqr"]) for t in sweep["timings"]]
        configs.append(SweepConfig(sweep["label"], dtype, sweep["num_threads"], tuple(t.n for t in timings)))
        sweeps[sweep["label"]] = timings
    return MatmulRecord(cpu, conditions, sweeps, configs, data.get("settings", {}))


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


def plot_matmul_rates(
    sweeps: dict, peaks: dict | None = None, ax=None, title: str | None = None, legend: str = "below"
):
    """Achieved GFLOP/s against n (log-log), one line per sweep, each known peak as a dashed line.

    ``sweeps`` maps a label (a string, or a dtype whose name is used) to a list of
    :class:`MatmulTiming`; ``peaks`` maps the same keys to :class:`PeakEstimate`. The legend goes
    below the axes (``legend="below"``, the default), where it cannot hide a curve; ``"inside"``
    lets matplotlib pick a corner. Used by notebook 06.
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
    place_legend(ax, legend)
    return ax


def place_legend(ax, where: str = "below", fontsize: float = 8, ncol: int = 2):
    """A legend below the axes (off the data), or inside where matplotlib finds room."""
    if where == "below":
        return ax.legend(fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=ncol, frameon=False)
    return ax.legend(fontsize=fontsize)


def _label(key) -> str:
    return _dtype_name(key) if isinstance(key, torch.dtype) else str(key)


# ---------------------------------------------------------------------------------------------
# The conditions of a measurement
# ---------------------------------------------------------------------------------------------


def load_average() -> float | None:
    """The 1-minute load average: how many processes wanted a CPU, on average (None where unknown)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


@dataclass(frozen=True)
class Conditions:
    """When and where a measurement ran, and how busy the machine was meanwhile."""

    started: datetime
    cpu: str
    cores: int
    logical_cpus: int
    threads: int
    torch_version: str
    load_before: float | None
    load_after: float | None = None
    nice: int = 0
    scheduling: str = ""  # "" for the normal scheduler; e.g. "real-time (SCHED_FIFO)" when it was not

    def finished(self) -> "Conditions":
        """The same, with the load average read now (call it when the measurement is over)."""
        return Conditions(
            self.started,
            self.cpu,
            self.cores,
            self.logical_cpus,
            self.threads,
            self.torch_version,
            self.load_before,
            load_average(),
            self.nice,
            self.scheduling,
        )

    @property
    def busy(self) -> bool:
        """Was the load above one process per CPU at the start or the end (other work running)?"""
        loads = [x for x in (self.load_before, self.load_after) if x is not None]
        return bool(loads) and max(loads) > self.logical_cpus

    def short(self) -> str:
        """'2026-12-03, load average 1.2 on 2 CPUs': for the corner of a figure."""
        load = f"load average {self.load_before:.1f}" if self.load_before is not None else "load unknown"
        priority = ", measured at real-time priority" if self.scheduling.startswith("real-time") else ""
        return f"{self.started:%Y-%m-%d}, {load} on {self.logical_cpus} CPUs{priority}"

    def __str__(self) -> str:
        load = "unknown"
        if self.load_before is not None:
            load = f"{self.load_before:.1f}" + (f" -> {self.load_after:.1f}" if self.load_after is not None else "")
        nice = f", priority nice {self.nice:+d}" if self.nice else ""
        scheduling = f", scheduled {self.scheduling}" if self.scheduling else ""
        return (
            f"measured {self.started:%Y-%m-%d %H:%M} on {self.cpu} ({self.cores} cores, "
            f"{self.logical_cpus} logical CPUs), PyTorch {self.torch_version}, {self.threads} threads; "
            f"load average {load} (1 min){nice}{scheduling}"
        )


def measurement_conditions(info: CpuInfo | None = None) -> Conditions:
    """The conditions now: the date, the CPU, PyTorch, its threads, the load, this process's nice value."""
    info = info or read_cpu_info()
    try:
        nice = os.nice(0)
    except (AttributeError, OSError):
        nice = 0
    return Conditions(
        datetime.now(),
        info.model_name,
        info.physical_cores,
        info.logical_cpus,
        torch.get_num_threads(),
        torch.__version__.split("+")[0],
        load_average(),
        nice=nice,
    )


def threads_verdict(
    one_thread_rate: float,
    all_threads_rate: float,
    threads: int,
    cores: int,
    n: int,
    conditions: Conditions | None = None,
) -> str:
    """One sentence on what PyTorch's threads did for an (n, n) product, true whatever was measured.

    On an idle machine with several cores, all threads beat one thread at large n (up to ``cores``
    times). On a busy one they may not: other programs hold the cores, and the threads of one product
    wait for each other at every step. The sentence says which of the two the numbers show, so a curve
    can never contradict the words beside it.
    """
    if threads <= 1 or cores <= 1:
        return (
            f"PyTorch uses one thread on this machine ({cores} core(s) for it), so there is no second "
            "thread to compare."
        )
    ratio = all_threads_rate / one_thread_rate
    if ratio >= 1.3:
        return (
            f"At n = {n}, {threads} threads ran {ratio:.1f}x as fast as one: the product used several cores "
            f"(at most {min(threads, cores)}x is possible)."
        )
    load = ""
    if conditions is not None and conditions.load_before is not None:
        load = (
            f" (load average {conditions.load_before:.1f}"
            + (f" -> {conditions.load_after:.1f}" if conditions.load_after is not None else "")
            + f" on {conditions.logical_cpus} CPUs)"
        )
    busy = conditions is not None and conditions.busy
    why = (
        "the machine was busy" + load + ": other programs held the cores, and the threads of one product, "
        "which wait for each other at every step, lost the most"
        if busy
        else "the cores were not all free for this process" + load + ", or PyTorch's threads cost more than they "
        "gained at this size"
    )
    return (
        f"At n = {n}, {threads} threads ran only {ratio:.2f}x as fast as one, where an idle machine gives close "
        f"to {min(threads, cores)}x: {why}. Run the cell again when the machine is quieter."
    )


def peak_verdict(sweeps: dict[str, list[MatmulTiming]], peaks: dict[str, PeakEstimate], info: CpuInfo) -> str:
    """One sentence on float32's one-thread rate at the largest size against its estimated peak.

    The peak is an estimate from the reported clock, so a core that runs faster than that clock (turbo,
    or a virtual machine that reports a nominal clock) passes it: the sentence says so rather than let a
    curve above its dashed line contradict "levels off below its peak"."""
    sweep, peak = sweeps.get("float32, 1 thread", []), peaks.get("float32, 1 thread")
    percent = peak.percent(sweep[-1].flops_per_second) if sweep and peak else None
    if percent is None:
        return "The peak of this CPU could not be estimated (its clock is not reported), so no percentage."
    n = sweep[-1].n
    clock = f"{info.mhz / 1000:.2f} GHz from {info.mhz_source}" if info.mhz else "an unknown clock"
    if percent > 100:
        return (
            f"At n = {n}, one thread reached {percent:.0f}% of the estimated peak: the estimate is low, not the "
            f"measurement. It assumes {clock}, and this core ran faster (a turbo clock, or a virtual machine "
            "that reports a nominal one)."
        )
    if percent >= 50:
        return f"At n = {n}, one thread reached {percent:.0f}% of the estimated peak, which assumes {clock}."
    return (
        f"At n = {n}, one thread reached only {percent:.0f}% of the estimated peak, which assumes {clock}: the "
        "clock drops under heavy vector work, the chip may have fewer FMA units than assumed, or the machine "
        "was busy."
    )


def bfloat16_verdict(sweeps: dict[str, list[MatmulTiming]], info: CpuInfo) -> str:
    """One sentence on bfloat16 against float32 (one thread each) at the largest size both measured."""
    bf16 = {t.n: t.flops_per_second for t in sweeps.get("bfloat16, 1 thread", [])}
    f32 = {t.n: t.flops_per_second for t in sweeps.get("float32, 1 thread", [])}
    common = sorted(set(bf16) & set(f32))
    if not common:
        return "bfloat16 and float32 were not measured at the same size."
    n = common[-1]
    ratio = bf16[n] / f32[n]
    names = [label for flag, label in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX-512-BF16")) if flag in info.flags]
    if not names:
        return (
            f"At n = {n}, bfloat16 ran at {ratio:.2f}x float32's rate: this CPU has no bfloat16 instructions "
            "(no AVX-512-BF16, no AMX), so every number is converted to float32 and back."
        )
    if ratio > 1:
        return (
            f"At n = {n}, bfloat16 ran at {ratio:.1f}x float32's rate: this CPU has bfloat16 matrix instructions "
            f"({', '.join(names)}), and at this size they pay off."
        )
    return (
        f"At n = {n}, bfloat16 ran at {ratio:.2f}x float32's rate although this CPU has bfloat16 instructions "
        f"({', '.join(names)}): at this size the conversions and the fixed cost per call outweigh them."
    )


# ---------------------------------------------------------------------------------------------
# Communication: latency and bandwidth (notebook 07)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkFit:
    """time(bytes) = latency + bytes / bandwidth, fitted to measured times."""

    latency_s: float
    bandwidth_bytes_per_s: float

    def predict(self, size_bytes: float) -> float:
        return self.latency_s + size_bytes / self.bandwidth_bytes_per_s

    @property
    def crossover_bytes(self) -> float:
        """The size at which both terms are equal: smaller messages cost mostly latency, larger ones bytes."""
        return self.latency_s * self.bandwidth_bytes_per_s


def fit_latency_bandwidth(size_bytes: Sequence[float], seconds: Sequence[float]) -> LinkFit:
    """Fit time = latency + bytes / bandwidth, minimising the squared *relative* errors.

    Relative errors, because the times span several powers of ten: an ordinary least-squares fit
    would follow the largest sizes and leave the latency to chance. Both parameters are kept
    non-negative (a negative latency or bandwidth means nothing); with a latency of 0 the bandwidth is
    refitted alone.
    """
    x = torch.tensor([float(v) for v in size_bytes], dtype=torch.float64)  # (K,)
    t = torch.tensor([float(v) for v in seconds], dtype=torch.float64)  # (K,)
    if x.numel() < 2 or bool((t <= 0).any()):
        raise ValueError("need at least two sizes, each with a positive time")
    design = torch.stack([1 / t, x / t], dim=1)  # (K, 2): each row / its time
    latency, per_byte = torch.linalg.lstsq(design, torch.ones_like(t).unsqueeze(1)).solution.flatten().tolist()
    if latency < 0:  # no latency at all fits best: time = bytes * per_byte
        latency, per_byte = 0.0, float((x / t).sum() / (x * x / (t * t)).sum())
    if per_byte <= 0:  # the time does not grow with the size: all latency
        per_byte = math.ulp(1.0)
        latency = float(statistics.median(t.tolist()))
    return LinkFit(latency, 1.0 / per_byte)


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
