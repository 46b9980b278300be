"""Hunt flaky tests: run what fails by chance many times on a machine kept busy (``make stress``).

    .venv/bin/python tools/stress.py [--runs 30] [--suites 2] [--busy 2] [--no-suite]

1. Starts ``--busy`` CPU-bound processes (default 2: on the course's 2-core machine, the tests then get
   about half the CPU they get on an idle one, and every timing window a race needs is wider).
2. Runs notebook 07's two-process training (``scripts/train_ddp.py`` under ``torchrun``, as
   tests/test_ddp.py does) ``--runs`` times (default 30), each checked the way the test checks it: exit
   status 0, no traceback, both ranks left the process group, no thread outlived it, the report written.
3. Runs the README's test command (``make test``) ``--suites`` times in a row (default 2) under the same
   load, each with a JUnit report, and collects every failed or erroring test.
4. Prints the failures per test (how often, in which run, the first line of the error), writes them to
   ``artifacts/stress/summary.json``, and exits with status 1 if anything failed at all.

It is not part of ``make test``: on 2 cores it takes about half an hour, and an hour when the machine is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tensorlab.ddp_launch import run_captured, script_path, torchrun_command  # noqa: E402

BUSY_LOOP = "while True: pass"


def describe_machine() -> str:
    """Cores, CPU model and whether it has AVX-512 (the course's machines differ in that)."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = next(line for line in info.splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{os.cpu_count()} cores, {model}, {vector}"


def start_busy(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], start_new_session=True) for _ in range(count)]


def stop_busy(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def one_ddp_run(workdir: Path, index: int) -> str | None:
    """Run train_ddp.py under torchrun once; None if it passed, else why it failed (one line)."""
    out = workdir / f"ddp_{index}.json"
    command = torchrun_command(
        script_path("train_ddp.py"), "--out", str(out), "--epochs", "2", "--timeout", "60", "--timing", nproc_per_node=2
    )  # --timing as notebook 07 runs it: its interleaved rounds meet at a barrier many times
    try:
        result = run_captured(command, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return "timed out after 300 s"
    stderr = result.stderr.strip().splitlines()
    if result.returncode != 0:
        last = next((line for line in reversed(stderr) if line.strip()), "")
        return f"exit status {result.returncode}: {last[:200]}"
    if "Traceback" in result.stderr:
        return "a traceback on stderr"
    if "still run after destroy_process_group" in result.stderr:
        return "the process group's threads outlived destroy_process_group()"
    lines = result.stdout.splitlines()  # whole lines: the ranks' output once interleaved mid-line
    for rank in (0, 1):
        if f"rank {rank}: left the process group" not in lines:
            return f"rank {rank} did not report leaving the process group on a line of its own"
    if not out.is_file():
        return "rank 0 wrote no report"
    return None


def failures_in(junit: Path) -> dict[str, str]:
    """Failed or erroring tests in a JUnit XML report: test id -> first line of the message."""
    if not junit.is_file():
        return {"<the whole run>": "no JUnit report: the run stopped before writing one"}
    failed = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        for kind in ("failure", "error"):
            problem = case.find(kind)
            if problem is not None:
                test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
                message = (problem.get("message") or problem.text or kind).strip().splitlines()
                failed[test_id] = f"{kind}: {message[0][:200] if message else kind}"
    return failed


def one_suite(junit: Path, log: Path) -> tuple[int, float, dict[str, str]]:
    start = time.monotonic()
    with log.open("w") as handle:
        status = subprocess.run(
            ["make", "--no-print-directory", "test", f"PYTEST_ARGS=--junitxml={junit}"],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        ).returncode
    failed = failures_in(junit)
    if status != 0 and not failed:  # e.g. the cleanup or offline check failed the run after the tests
        failed = {"<the whole run>": f"make test exited with status {status}; see {log}"}
    return status, time.monotonic() - start, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="torchrun runs of scripts/train_ddp.py")
    parser.add_argument("--suites", type=int, default=2, help="full test suites in a row")
    parser.add_argument("--busy", type=int, default=2, help="CPU-bound processes running beside them")
    parser.add_argument("--no-suite", action="store_true", help="only the torchrun runs")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "stress")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    machine = describe_machine()
    print(
        f"stress: {args.runs} torchrun runs, then {0 if args.no_suite else args.suites} test suites, "
        f"with {args.busy} busy processes beside them ({machine})",
        flush=True,
    )
    failures: dict[str, list[str]] = defaultdict(list)
    summary = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine,
        "busy": args.busy,
        "ddp": {"runs": args.runs, "failed": 0, "seconds": []},
        "suites": [],
    }
    busy = start_busy(args.busy)
    try:
        with tempfile.TemporaryDirectory(prefix="tensorlab-stress-") as workdir:
            for index in range(1, args.runs + 1):
                start = time.monotonic()
                problem = one_ddp_run(Path(workdir), index)
                seconds = time.monotonic() - start
                summary["ddp"]["seconds"].append(round(seconds, 1))
                print(
                    f"torchrun run {index:>2}/{args.runs}: {'ok' if problem is None else 'FAILED: ' + problem}"
                    f" ({seconds:.1f} s)",
                    flush=True,
                )
                if problem is not None:
                    summary["ddp"]["failed"] += 1
                    failures["scripts/train_ddp.py under torchrun"].append(f"run {index}: {problem}")
        for index in range(1, 0 if args.no_suite else args.suites + 1):
            junit, log = args.out / f"suite_{index}.xml", args.out / f"suite_{index}.log"
            print(f"test suite {index}/{args.suites}: make test (log: {log})", flush=True)
            status, seconds, failed = one_suite(junit, log)
            summary["suites"].append({"exit_status": status, "seconds": round(seconds), "failed": sorted(failed)})
            print(
                f"test suite {index}/{args.suites}: exit status {status}, {len(failed)} failed, "
                f"{seconds / 60:.1f} min",
                flush=True,
            )
            for test_id, message in failed.items():
                failures[test_id].append(f"suite {index}: {message}")
    finally:
        stop_busy(busy)
    summary["failures"] = dict(failures)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print()
    if not failures:
        print(f"stress: no failures ({args.runs} torchrun runs, {len(summary['suites'])} suites)")
        return 0
    print("stress: failures, per test:")
    for test_id, seen in sorted(failures.items()):
        print(f"  {test_id}: {len(seen)}x")
        for line in seen:
            print(f"      {line}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
