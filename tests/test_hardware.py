"""tensorlab.hardware: the CPU peak estimate, the GPU table and the matmul measurement (notebook 06).

The parsing and the arithmetic are tested on recorded /proc/cpuinfo and lscpu texts, so every branch
runs on any machine; the measurement runs on the CPU here and, where there is a GPU, on CUDA too
(tools/run_course_on_cuda.py runs this file with TENSORLAB_DEVICE=cuda).
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import matplotlib
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

matplotlib.use("Agg")

from tensorlab import hardware as hw

NO_GPU = "needs a CUDA GPU: torch.cuda.is_available() is False on this machine"


def cpuinfo_block(
    processor: int,
    core: int,
    *,
    vendor: str,
    family: int,
    model: int,
    name: str,
    mhz: float,
    flags: str,
    physical: int = 0,
) -> str:
    return "\n".join(
        [
            f"processor\t: {processor}",
            f"vendor_id\t: {vendor}",
            f"cpu family\t: {family}",
            f"model\t\t: {model}",
            f"model name\t: {name}",
            f"cpu MHz\t\t: {mhz}",
            f"physical id\t: {physical}",
            f"core id\t\t: {core}",
            f"flags\t\t: {flags}",
            "",
        ]
    )


ZEN3_FLAGS = "fpu sse sse2 avx fma avx2 bmi2 sha_ni"
SPR_FLAGS = "fpu sse sse2 avx fma avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8"
ZEN4_FLAGS = "fpu sse sse2 avx fma avx2 avx512f avx512_bf16"

ZEN3 = "\n".join(
    cpuinfo_block(p, p, vendor="AuthenticAMD", family=25, model=1, name="AMD EPYC", mhz=2445.426, flags=ZEN3_FLAGS)
    for p in range(2)
)
# Four logical CPUs on two cores (hyper-threading): core ids 0, 1, 0, 1.
SAPPHIRE_RAPIDS = "\n".join(
    cpuinfo_block(
        p,
        p % 2,
        vendor="GenuineIntel",
        family=6,
        model=143,
        name="Intel(R) Xeon(R) Platinum 8480+",
        mhz=2000.0,
        flags=SPR_FLAGS,
    )
    for p in range(4)
)
SAPPHIRE_RAPIDS_LSCPU = "Model name:            Intel(R) Xeon(R) Platinum 8480+\nCPU max MHz:           3800.0000\n"
ZEN4 = cpuinfo_block(
    0, 0, vendor="AuthenticAMD", family=25, model=17, name="AMD EPYC 9654", mhz=2400.0, flags=ZEN4_FLAGS
)


def test_zen3_two_cores_avx2_gives_32_flops_per_cycle_and_its_peak():
    info = hw.parse_cpu_info(ZEN3)
    assert (info.physical_cores, info.logical_cpus, info.mhz) == (2, 2, 2445.426)
    assert "cpu MHz" in info.mhz_source and info.instruction_sets == ["SSE2", "AVX", "AVX2", "FMA"]
    per_cycle, why = hw.cpu_flops_per_cycle(info, torch.float32)
    assert per_cycle == 32 and "AVX2 + FMA" in why
    peak = hw.estimate_cpu_peak(torch.float32, info)
    assert peak.is_estimate and math.isclose(peak.flops, 2 * 2445.426e6 * 32)
    assert str(peak).startswith("156.5 GFLOP/s (estimate: 2 core(s) x 2.45 GHz x 32 float32")


def test_without_bf16_instructions_bfloat16_is_capped_at_float32_and_float64_is_half():
    info = hw.parse_cpu_info(ZEN3)
    per_cycle, why = hw.cpu_flops_per_cycle(info, torch.bfloat16)
    assert per_cycle == 32 and "no bfloat16 instructions" in why
    assert hw.cpu_flops_per_cycle(info, torch.float64)[0] == 16


def test_sapphire_rapids_counts_hyperthreads_once_and_uses_amx_and_lscpu_max_clock():
    info = hw.parse_cpu_info(SAPPHIRE_RAPIDS, SAPPHIRE_RAPIDS_LSCPU)
    assert (info.physical_cores, info.logical_cpus) == (2, 4)
    assert info.mhz == 3800.0 and "lscpu" in info.mhz_source
    assert hw.cpu_flops_per_cycle(info, torch.float32)[0] == 64  # AVX-512, two FMA units
    assert hw.cpu_flops_per_cycle(info, torch.bfloat16)[0] == 1024  # AMX
    assert math.isclose(hw.estimate_cpu_peak(torch.bfloat16, info).flops, 2 * 3800e6 * 1024)


def test_affinity_limits_the_cores_counted():
    info = hw.parse_cpu_info(SAPPHIRE_RAPIDS, SAPPHIRE_RAPIDS_LSCPU, allowed_cpus={0, 2})  # both on core 0
    assert (info.physical_cores, info.logical_cpus) == (1, 2)


def test_zen4_runs_avx512_as_two_halves():
    info = hw.parse_cpu_info(ZEN4)
    assert hw.cpu_flops_per_cycle(info, torch.float32)[0] == 32
    assert hw.cpu_flops_per_cycle(info, torch.bfloat16)[0] == 64


def test_an_unknown_clock_gives_no_number_but_says_why():
    text = ZEN3.replace("cpu MHz\t\t: 2445.426\n", "")
    peak = hw.estimate_cpu_peak(torch.float32, hw.parse_cpu_info(text))
    assert peak.flops is None and "clock is not reported" in str(peak)
    assert peak.percent(1e9) is None


def test_this_machine_can_be_read():
    info = hw.read_cpu_info()
    assert info.physical_cores >= 1 and info.logical_cpus >= info.physical_cores
    peak = hw.estimate_cpu_peak(torch.float32, info)
    assert peak.flops is None or peak.flops > 1e9  # any CPU that runs PyTorch does more than 1 GFLOP/s


@pytest.mark.parametrize(
    "device_name, expected",
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA H200 NVL", "H200 NVL"),
        ("NVIDIA GH200 480GB", "GH200"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("Tesla T4", "T4"),
        ("Tesla V100-SXM2-16GB", "V100 SXM2"),
        ("Tesla V100-PCIE-32GB", "V100 PCIe"),
        ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"),
        ("NVIDIA GeForce RTX 3090", "GeForce RTX 3090"),
        ("NVIDIA A10G", None),  # not the A10: a different card, not in the table
        ("NVIDIA L40", None),  # not the L4 nor the L40S
        ("NVIDIA GeForce RTX 4090 D", None),  # a cut-down 4090 for China: other figures
        ("Some Future GPU", None),
    ],
)
def test_gpu_table_is_keyed_by_the_name_cuda_reports(device_name, expected):
    row = hw.lookup_gpu_peak(device_name)
    assert (row.name if row else None) == expected


def test_every_gpu_row_is_sourced_and_its_bfloat16_tensor_cores_beat_float32():
    for row in hw.GPU_PEAKS:
        assert row.source and row.float32_tflops > 0, row
        assert row.bfloat16_tflops is None or row.bfloat16_tflops > 1.5 * row.float32_tflops, row


def test_gpu_peak_in_flops_and_the_cards_without_bfloat16():
    h100 = hw.gpu_peak("NVIDIA H100 80GB HBM3", torch.bfloat16)
    assert h100.flops == 989.5e12 and not h100.is_estimate and "data sheet" in h100.how
    assert math.isclose(h100.percent(494.75e12), 50.0)
    t4 = hw.gpu_peak("Tesla T4", torch.bfloat16)
    assert t4.flops is None and "no bfloat16 tensor cores" in str(t4)
    assert hw.gpu_peak("Tesla T4", torch.float64).flops is None
    assert hw.gpu_peak("Some Future GPU").flops is None


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (64, 32, 16), (7, 300, 2)])
def test_matmul_flops_is_what_pytorch_counts(m, k, n):
    with FlopCounterMode(display=False) as counter:
        torch.randn(m, k) @ torch.randn(k, n)
    assert hw.matmul_flops(m, k, n) == counter.get_total_flops() == 2 * m * k * n
    assert hw.matmul_flops(n) == 2 * n**3


def test_measure_matmul_on_the_cpu():
    timing = hw.measure_matmul(64, torch.float32, "cpu", min_run_time=0.02)
    assert timing.n == 64 and timing.dtype == torch.float32 and timing.device == "cpu"
    assert timing.seconds > 0 and timing.runs >= 1
    assert timing.flops_per_second == pytest.approx(2 * 64**3 / timing.seconds)
    sweep = hw.measure_matmul_sweep([32, 8], torch.bfloat16, "cpu", min_run_time=0.01)
    assert [t.n for t in sweep] == [8, 32] and all(t.dtype == torch.bfloat16 for t in sweep)


def test_format_flops():
    assert [hw.format_flops(x) for x in (5.0, 2.5e3, 1.23e9, 989.5e12, 2e15)] == [
        "5.0 FLOP/s",
        "2.5 kFLOP/s",
        "1.2 GFLOP/s",
        "989.5 TFLOP/s",
        "2.0 PFLOP/s",
    ]


def test_plot_draws_one_line_per_dtype_and_one_per_known_peak():
    sweeps = {
        torch.float32: [hw.MatmulTiming(n, torch.float32, "cpu", 1e-3 * n, 3) for n in (8, 16)],
        torch.bfloat16: [hw.MatmulTiming(8, torch.bfloat16, "cpu", 1e-3, 3)],
    }
    peaks = {torch.float32: hw.PeakEstimate(1e11, "test"), torch.bfloat16: hw.PeakEstimate(None, "unknown")}
    ax = hw.plot_matmul_rates(sweeps, peaks, title="test")
    assert len(ax.get_lines()) == 3
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[1] == "float32, estimated peak 100.0 GFLOP/s"
    matplotlib.pyplot.close("all")


# --- on a GPU ---------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_measured_gpu_rate_stays_under_the_table_peak(dtype):
    name = torch.cuda.get_device_name()
    peak = hw.peak_flops("cuda", dtype)
    timing = hw.measure_matmul(4096, dtype, "cuda", min_run_time=0.2)
    assert timing.device.startswith("cuda") and timing.flops_per_second > 1e12  # any data-centre GPU
    if peak.flops is None:
        pytest.skip(f"no {dtype} peak known for '{name}' ({peak.how})")
    assert (
        timing.flops_per_second <= 1.05 * peak.flops
    ), f"{name}: measured {hw.format_flops(timing.flops_per_second)} > table peak {peak}; wrong row?"


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_describe_gpu():
    assert "multiprocessors" in hw.describe_gpu("cuda")


# --- robust measuring, the conditions, the verdicts (notebook 06) -------------------------------


def test_interleaved_sweeps_give_a_median_and_a_spread_for_every_config_and_size():
    configs = [
        hw.SweepConfig("float32, 1 thread", torch.float32, 1, (8, 16)),
        hw.SweepConfig("bfloat16, 1 thread", torch.bfloat16, 1, (8,)),
    ]
    sweeps = hw.measure_matmul_sweeps(configs, "cpu", min_run_time=0.005, rounds=2)
    assert list(sweeps) == ["float32, 1 thread", "bfloat16, 1 thread"]
    assert [t.n for t in sweeps["float32, 1 thread"]] == [8, 16]
    for sweep in sweeps.values():
        for t in sweep:
            assert t.seconds > 0 and t.iqr >= 0 and t.runs >= 2  # at least one block per round


def test_cpu_sweep_configs_end_with_every_thread_and_never_repeat_a_label():
    assert [c.label for c in hw.cpu_sweep_configs(4)] == [
        "float32, 1 thread",
        "bfloat16, 1 thread",
        "float32, 4 threads",
    ]
    assert [c.label for c in hw.cpu_sweep_configs(1)] == ["float32, 1 thread", "bfloat16, 1 thread"]


def conditions(load_before, load_after=None, logical=2, **kw):
    return hw.Conditions(
        datetime(2026, 12, 2, 9, 30), "Some CPU", 2, logical, 2, "2.14.1", load_before, load_after, **kw
    )


def test_conditions_say_when_where_and_how_busy():
    text = str(conditions(5.25, 6.0, nice=-5, scheduling="real-time (SCHED_FIFO, priority 10)"))
    assert text == (
        "measured 2026-12-02 09:30 on Some CPU (2 cores, 2 logical CPUs), PyTorch 2.14.1, 2 threads; "
        "load average 5.2 -> 6.0 (1 min), priority nice -5, scheduled real-time (SCHED_FIFO, priority 10)"
    )
    assert conditions(5.25).busy and not conditions(1.5, 1.9).busy and not conditions(None).busy
    assert conditions(None).short() == "2026-12-02, load unknown on 2 CPUs"
    assert conditions(7.5, scheduling="real-time (SCHED_FIFO, priority 10)").short() == (
        "2026-12-02, load average 7.5 on 2 CPUs, measured at real-time priority"
    )
    now = hw.measurement_conditions()
    assert now.threads == torch.get_num_threads() and now.finished().started == now.started


def test_threads_verdict_never_contradicts_the_numbers():
    busy, idle = conditions(7.0, 6.5), conditions(0.3, 0.4)
    faster = hw.threads_verdict(50e9, 95e9, 2, 2, 1024, idle)
    assert faster.startswith("At n = 1024, 2 threads ran 1.9x as fast as one") and "at most 2x" in faster
    slower = hw.threads_verdict(65e9, 17e9, 2, 2, 1024, busy)
    assert (
        "ran only 0.26x as fast as one" in slower
        and "the machine was busy (load average 7.0 -> 6.5 on 2 CPUs)" in slower
    )
    quiet_but_slow = hw.threads_verdict(65e9, 60e9, 2, 2, 1024, idle)
    assert "ran only 0.92x" in quiet_but_slow and "machine was busy" not in quiet_but_slow
    assert "one thread" in hw.threads_verdict(1e9, 1e9, 1, 1, 1024)


def test_bfloat16_verdict_follows_the_instruction_sets_and_the_numbers():
    def sweeps(bf16_rate):
        return {
            "float32, 1 thread": [hw.MatmulTiming(256, torch.float32, "cpu", 2 * 256**3 / 100e9, 3)],
            "bfloat16, 1 thread": [hw.MatmulTiming(256, torch.bfloat16, "cpu", 2 * 256**3 / bf16_rate, 3)],
        }

    avx2, amx = hw.parse_cpu_info(ZEN3), hw.parse_cpu_info(SAPPHIRE_RAPIDS, SAPPHIRE_RAPIDS_LSCPU)
    assert "0.01x float32's rate: this CPU has no bfloat16 instructions" in hw.bfloat16_verdict(sweeps(1e9), avx2)
    assert "3.0x float32's rate: this CPU has bfloat16 matrix instructions (AMX-BF16, AVX-512-BF16)" in (
        hw.bfloat16_verdict(sweeps(300e9), amx)
    )
    assert "although this CPU has bfloat16 instructions" in hw.bfloat16_verdict(sweeps(50e9), amx)


def test_peak_verdict_explains_a_rate_above_the_estimate_and_says_how_close_otherwise():
    info = hw.parse_cpu_info(ZEN3)
    peak = hw.estimate_cpu_peak(torch.float32, info, cores=1)

    def verdict(fraction_of_peak):
        seconds = 2 * 1024**3 / (fraction_of_peak * peak.flops)
        sweeps = {"float32, 1 thread": [hw.MatmulTiming(1024, torch.float32, "cpu", seconds, 3)]}
        return hw.peak_verdict(sweeps, {"float32, 1 thread": peak}, info)

    above = verdict(1.15)
    assert "reached 115% of the estimated peak: the estimate is low" in above and f"{info.mhz / 1000:.2f} GHz" in above
    assert (
        verdict(0.8) == f"At n = 1024, one thread reached 80% of the estimated peak, which assumes "
        f"{info.mhz / 1000:.2f} GHz from {info.mhz_source}."
    )
    assert "reached only 20%" in verdict(0.2)
    unknown = hw.peak_verdict({"float32, 1 thread": []}, {}, info)
    assert "could not be estimated" in unknown


def test_sweep_table_is_read_back_as_printed():
    sweeps = {
        "float32, 1 thread": [
            hw.MatmulTiming(16, torch.float32, "cpu", 4e-6, 9, 1e-6),
            hw.MatmulTiming(1024, torch.float32, "cpu", 17.267e-3, 9, 9.785e-3),
        ],
        "float32, 2 threads": [hw.MatmulTiming(1024, torch.float32, "cpu", 9.291e-3, 9, 1.156e-3)],
    }
    peaks = {"float32, 1 thread": hw.PeakEstimate(134.4e9, "test"), "float32, 2 threads": hw.PeakEstimate(268.8e9, "t")}
    text = hw.format_sweep_table(sweeps, peaks)
    rows = hw.parse_sweep_table("some line before\n" + text + "\nAt n = 1024, a sentence after")
    assert list(rows) == ["float32, 1 thread", "float32, 2 threads"]
    assert rows["float32, 1 thread"][1] == {
        "n": 1024,
        "ms": 17.267,
        "iqr_ms": 9.785,
        "rate": "124.4 GFLOP/s",
        "percent": 92.5,
    }
    assert rows["float32, 2 threads"][0]["rate"] == "231.1 GFLOP/s"


def test_a_record_is_read_back_as_written(tmp_path):
    info = hw.parse_cpu_info(SAPPHIRE_RAPIDS, SAPPHIRE_RAPIDS_LSCPU)
    configs = hw.cpu_sweep_configs(2)
    sweeps = {
        c.label: [hw.MatmulTiming(n, c.dtype, "cpu", 1e-9 * n**3, 5, 1e-10 * n**3) for n in c.sizes] for c in configs
    }
    when = conditions(3.0, 3.5, scheduling="real-time (SCHED_FIFO, priority 10)")
    path = tmp_path / "record.json"
    path.write_text(json.dumps(hw.record_to_json(info, when, configs, sweeps, {"rounds": 3})))
    record = hw.load_matmul_record(path)
    assert record.conditions == when and record.configs == configs and record.sweeps == sweeps
    assert record.cpu.has("amx_bf16") and record.cpu.mhz == info.mhz and record.settings == {"rounds": 3}
    assert record.peaks()["bfloat16, 1 thread"].flops == hw.estimate_cpu_peak(torch.bfloat16, info, cores=1).flops


def test_the_courses_recorded_sweep_supports_what_notebook_06_says_of_it():
    # Notebook 06 says of the recorded sweep: measured with every thread on its core (real-time priority),
    # the all-thread curve ends well above the one-thread curve, and one thread comes close to its peak.
    record = hw.load_matmul_record()
    assert record.conditions.scheduling.startswith("real-time")
    labels = [c.label for c in record.configs]
    assert labels == [c.label for c in hw.cpu_sweep_configs(record.configs[-1].num_threads)]
    one = {t.n: t.flops_per_second for t in record.sweeps["float32, 1 thread"]}
    every = {t.n: t.flops_per_second for t in record.sweeps[labels[-1]]}
    assert every[1024] > 1.5 * one[1024]
    assert record.peaks()["float32, 1 thread"].percent(one[1024]) > 70
    assert "ran 1." in hw.threads_verdict(
        one[1024], every[1024], record.configs[-1].num_threads, record.cpu.physical_cores, 1024, record.conditions
    )


# --- the published peaks (notebook 06, section 4) ----------------------------------------------


def test_published_peaks_are_the_table_rows_and_googles_tpu_each_with_its_document():
    rows = hw.published_peaks()
    assert [r.name for r in rows] == ["H100 SXM", "A100", "L4", "T4", "Cloud TPU v5e (one chip)"]
    assert rows[0].float32_tflops == 67.0 and rows[0].bfloat16_tflops == 989.5
    assert rows[-1].kind == "TPU" and rows[-1].float32_tflops is None and rows[-1].bfloat16_tflops == 197.0
    for row in list(rows) + list(hw.GPU_PEAKS):
        assert row.url.startswith("https://") and (
            "data sheet" in row.source or "whitepaper" in row.source or "documentation" in row.source
        ), row


# --- the legend stays off the data --------------------------------------------------------------


def test_the_legend_is_drawn_below_the_axes():
    import matplotlib.pyplot as plt

    sweeps = {"float32, 1 thread": [hw.MatmulTiming(n, torch.float32, "cpu", 1e-9 * n**3, 3) for n in (16, 256, 1024)]}
    fig, ax = plt.subplots(figsize=(6.5, 5.2))
    hw.plot_matmul_rates(sweeps, {"float32, 1 thread": hw.PeakEstimate(1e11, "test")}, ax=ax)
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend_box.y1 <= axes_box.y0, "the legend overlaps the axes"
    plt.close(fig)


# --- communication: latency + bytes / bandwidth (notebook 07) -----------------------------------


def test_fit_recovers_latency_and_bandwidth_from_exact_times():
    sizes = [4 * 10**k for k in range(2, 8)]
    fit = hw.fit_latency_bandwidth(sizes, [50e-6 + s / 2e9 for s in sizes])
    assert math.isclose(fit.latency_s, 50e-6, rel_tol=1e-9) and math.isclose(
        fit.bandwidth_bytes_per_s, 2e9, rel_tol=1e-9
    )
    assert math.isclose(fit.crossover_bytes, 100_000, rel_tol=1e-9)
    assert math.isclose(fit.predict(1e6), 50e-6 + 1e6 / 2e9)


def test_fit_follows_the_small_sizes_too_and_stays_non_negative():
    sizes = [4 * 10**k for k in range(2, 8)]
    noisy = [(50e-6 + s / 2e9) * (1.3 if i % 2 else 0.8) for i, s in enumerate(sizes)]  # +-30 % noise
    fit = hw.fit_latency_bandwidth(sizes, noisy)
    assert 20e-6 < fit.latency_s < 100e-6 and 1e9 < fit.bandwidth_bytes_per_s < 4e9
    no_latency = hw.fit_latency_bandwidth([100, 1000, 10000], [1e-7, 1e-6, 1e-5])
    assert no_latency.latency_s >= 0 and math.isclose(no_latency.bandwidth_bytes_per_s, 1e9, rel_tol=1e-6)
    flat = hw.fit_latency_bandwidth([100, 1000, 10000], [2e-3, 1.5e-3, 1e-3])  # time falls as the size grows
    assert flat.latency_s == 1.5e-3 and flat.bandwidth_bytes_per_s > 1e12  # all latency: the median
    with pytest.raises(ValueError):
        hw.fit_latency_bandwidth([100], [1e-3])
