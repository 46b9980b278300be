"""scripts/train_ddp.py in two processes (torchrun, gloo, CPU) agrees with one process, and cannot hang.

The two-process run happens once per test session (about 10 s on an idle 2-core machine, most of it three
Python processes importing torch); the tests below read its JSON report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest
import torch

from tensorlab.data.xo import make_xo_dataset
from tensorlab.ddp_launch import run_captured, script_path, torchrun_command
from tensorlab.xo_net import XONet

TOLERANCE = 1e-12  # float64: only rounding separates two processes from one (differences near 1e-17)
EPOCHS = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "results.json"
    command = torchrun_command(
        script_path("train_ddp.py"), "--out", str(out), "--epochs", str(EPOCHS), "--timeout", "60", nproc_per_node=2
    )
    result = run_captured(command, timeout=240)
    assert "Traceback" not in result.stderr, result.stderr
    return result, json.loads(out.read_text())


@pytest.fixture(scope="module")
def report(run):
    return run[1]


def test_every_rank_leaves_the_group_and_its_threads_stop_before_rank_0_writes(run):
    # The script's exit protocol (barrier, destroy_process_group, gloo's threads gone before the
    # interpreter exits; see leave_process_group in scripts/train_ddp.py). If anything still held the
    # group after destroy_process_group(), its threads would outlive it and the script warns on stderr.
    result, _ = run
    lines = result.stdout.splitlines()
    assert "rank 0: left the process group" in lines and "rank 1: left the process group" in lines, result.stdout
    assert "still run after destroy_process_group" not in result.stderr, result.stderr
    wrote = next(i for i, line in enumerate(lines) if line.startswith("rank 0: wrote"))
    assert lines.index("rank 0: left the process group") < wrote  # the reference runs after leaving


def test_the_run_used_two_gloo_processes_on_the_cpu_in_float64(report):
    assert (report["world_size"], report["backend"], report["device"]) == (2, "gloo", "cpu")
    assert report["dtype"] == "torch.float64"
    assert report["local_batch"] * report["world_size"] == report["global_batch"] == 10
    assert report["num_parameters"] == sum(p.numel() for p in XONet().parameters())


def test_all_reduce_leaves_the_sum_in_every_process(report):
    demo = report["all_reduce_demo"]
    total = torch.tensor([d["before"] for d in demo]).sum(dim=0).tolist()  # (2,)
    assert [d["after_sum"] for d in demo] == [total, total] == [[3.0, 30.0], [3.0, 30.0]]


def test_ddp_copies_rank_0s_weights_to_every_process(report):
    rank0, rank1 = (r["init"] for r in report["per_rank"])
    assert rank1["param_sum_before_ddp"] != rank0["param_sum_before_ddp"]  # built from another seed
    assert rank1["param_sum_after_ddp"] == rank0["param_sum_after_ddp"] == rank0["param_sum_before_ddp"]


def test_each_rank_sees_its_own_disjoint_slice_and_together_they_see_every_sample(report):
    count = make_xo_dataset(seed=0).train_images.shape[0]
    steps, local_batch = report["steps_per_epoch"], report["local_batch"]
    assert steps == (count // 2) // local_batch  # each rank gets half; incomplete local batches are dropped
    rank0, rank1 = (r["indices"] for r in report["per_rank"])
    assert len(rank0) == len(rank1) == EPOCHS * steps
    for epoch in range(EPOCHS):
        seen0 = [i for batch in rank0[epoch * steps : (epoch + 1) * steps] for i in batch]
        seen1 = [i for batch in rank1[epoch * steps : (epoch + 1) * steps] for i in batch]
        assert len(seen0) == len(set(seen0)) == len(seen1) == len(set(seen1)) == steps * local_batch
        assert not set(seen0) & set(seen1)
        assert set(seen0) | set(seen1) <= set(range(count))
    assert rank0[0] != rank0[steps]  # set_epoch reshuffles: another slice in the next epoch


def test_ddp_gradient_is_the_mean_of_the_local_gradients_and_the_global_batch_gradient(report):
    local = torch.tensor([r["first_step"]["local_grad"] for r in report["per_rank"]], dtype=torch.float64)  # (2, P)
    ddp0, ddp1 = (torch.tensor(r["first_step"]["ddp_grad"], dtype=torch.float64) for r in report["per_rank"])
    reference = torch.tensor(report["reference"]["first_grad"], dtype=torch.float64)  # (P,)
    assert not torch.allclose(local[0], local[1])  # the slices differ, so do their gradients
    assert torch.equal(ddp0, ddp1)
    torch.testing.assert_close(ddp0, local.mean(dim=0), rtol=0, atol=TOLERANCE)
    torch.testing.assert_close(ddp0, reference, rtol=0, atol=TOLERANCE)


def test_two_processes_equal_one_process_after_every_step(report):
    diffs = report["param_max_diff"]
    assert len(diffs) == EPOCHS * report["steps_per_epoch"]
    assert diffs[0] < TOLERANCE, f"after one step the models differ by {diffs[0]:.2e}"
    assert max(diffs) < TOLERANCE, f"the models differ by up to {max(diffs):.2e}"
    final0, final1 = (torch.tensor(r["final_params"], dtype=torch.float64) for r in report["per_rank"])
    assert torch.equal(final0, final1)  # the copies are identical, bit for bit
    initial = torch.cat([p.detach().flatten() for p in XONet(seed=0).double().parameters()])  # (P,)
    assert (final0 - initial).abs().max() > 0.1  # and they did train
    torch.testing.assert_close(
        final0, torch.tensor(report["reference"]["final_params"], dtype=torch.float64), rtol=0, atol=TOLERANCE
    )
    assert report["accuracy"]["ddp"] == report["accuracy"]["reference"]


def test_a_stuck_job_is_killed_with_all_its_processes():
    # A parent that starts a child and both sleep: run_captured must kill the whole group and return.
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        "print(child.pid, flush=True); time.sleep(120)"
    )
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as caught:
        run_captured([sys.executable, "-c", code], timeout=5)
    assert time.monotonic() - start < 60
    child_pid = int(caught.value.output.split()[0])
    for _ in range(50):  # SIGKILL takes effect at once; "gone" includes a zombie not yet reaped
        if not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the child process {child_pid} survived the timeout")


def test_a_job_runs_in_a_temporary_folder_of_its_own_that_goes_with_it():
    code = "import os, tempfile; print(tempfile.gettempdir()); open(os.path.join(tempfile.gettempdir(), 'log'), 'w')"
    job_tmp = run_captured([sys.executable, "-c", code], timeout=60).stdout.strip()
    assert os.path.basename(job_tmp).startswith("tensorlab-job-")
    assert not os.path.exists(job_tmp)  # removed, with the file the job left there


def test_a_failing_command_raises_with_its_stderr():
    with pytest.raises(RuntimeError, match="(?s)status 3.*boom"):
        run_captured([sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"], timeout=60)
