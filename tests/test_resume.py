"""A tiny run killed with SIGKILL during notebooks 02, 04 and 05, then run again, skips what finished and ends with the
metrics of a run left alone."""
import os
import signal
import subprocess
import sys
import time

import pytest

from gan_ad.assignments import TINY_FILE
from gan_ad.environment import THREAD_VARIABLES
from gan_ad.files import PROJECT_ROOT
from gan_ad.runner import PIPELINE
from gan_ad.runs import Run

TIMEOUT = 1800  # seconds one command of the test may take


def start(home, name, threads):
    """``python -m gan_ad run`` of the tiny run (2 epochs: notebook 02 has a checkpoint to resume from) in its own
    process group, so that killing the group kills the kernels too. ``threads``: the thread variables to run with
    (those the run it is compared with recorded; a Dask cluster started by another test sets some in this process)."""
    env = {**{k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}, **threads, "GAN_AD_HOME": str(home)}
    command = [sys.executable, "-m", "gan_ad", "run", "--name", name, "-f", str(TINY_FILE)]
    log = open(home / f"{name}.log", "ab")
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(process, ready, settle=0.0):
    """SIGKILL ``process``'s group once ``ready()`` holds (then ``settle`` seconds more); fail if it ends first."""
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        assert process.poll() is None, f"the run ended (status {process.returncode}) before the point to kill it"
        assert time.monotonic() < deadline, "the run did not reach the point to kill it"
        time.sleep(0.2)
    time.sleep(settle)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def comparable(metrics):
    """``metrics.json`` without what differs between two runs of the same numbers: timings and folders."""
    if isinstance(metrics, dict):
        return {k: comparable(v) for k, v in metrics.items() if "seconds" not in k and k != "run_dir"}
    if isinstance(metrics, list):
        return [comparable(v) for v in metrics]
    return metrics


@pytest.mark.slow
def test_a_run_killed_in_02_04_and_05_and_run_again_ends_with_the_metrics_of_a_run_left_alone(tmp_path, tiny_run):
    (tmp_path / "data").symlink_to(PROJECT_ROOT / "data")  # MNIST as downloaded for the project
    run = tmp_path / "runs" / "killed"
    alone = Run(tiny_run).metrics()  # the tiny run of the other tests, made on this machine; the same threads here
    threads = alone["environment"]["thread_variables"]
    process = start(tmp_path, "killed", threads)
    kill_when(process, lambda: (run / "checkpoints" / "epoch_001.keras").exists())  # 02, after an epoch's checkpoint
    assert not (run / "checkpoints" / "epoch_002.keras").exists()
    process = start(tmp_path, "killed", threads)
    kill_when(process, lambda: (run / "04_encoder.ipynb").exists(), settle=8)  # 04 started, encoder training
    assert not (run / "encoder.keras").exists() or not (run / "05_evaluation.ipynb").exists()
    finished = {nb: (run / f"{nb}.ipynb").stat().st_mtime_ns for nb in PIPELINE[:3]}
    process = start(tmp_path, "killed", threads)
    kill_when(process, lambda: (run / "05_evaluation.ipynb").exists(), settle=8)
    assert not (run / "metrics.json").exists()
    assert {nb: (run / f"{nb}.ipynb").stat().st_mtime_ns for nb in PIPELINE[:3]} == finished  # skipped, not run again
    assert start(tmp_path, "killed", threads).wait(TIMEOUT) == 0
    killed = Run(run).metrics()
    log = (tmp_path / "killed.log").read_text()
    assert "Resuming from epoch_00" in log
    assert log.count("finished earlier with these parameters") == 1 + 3 + 4  # 01 after the kill in 02, 01-03 after 04, 01-04 after 05
    assert comparable(killed) == comparable(alone)
    print("killed in 02 (after epoch 1), 04 and 05, run again: the finished notebooks skipped, metrics.json equal "
          "to the run left alone, timings aside")
