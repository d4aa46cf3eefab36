import fcntl
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gan_ad import sweep
from gan_ad.__main__ import main
from gan_ad.assignments import TINY_FILE
from gan_ad.detectors import NOTEBOOKS
from gan_ad.runs import Run
from gan_ad.runner import ParameterError


def write_grid(tmp_path, spec):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("spec, message", [
    ({"grid": {"lamda": [0.1]}}, r"Unknown parameter\(s\) lamda"),
    ({"grid": {"lam": []}}, "lam needs a non-empty list"),
    ({"grid": {"lam": 0.1}}, "lam needs a non-empty list"),
    ({}, "'grid' is missing or empty"),
    ({"fixed": {"lam": 0.1}, "grid": {"lam": [0.2]}}, "both fixed and in the grid"),
    ({"grids": {"lam": [0.1]}}, "unknown key"),
])
def test_bad_grids_fail_before_any_run(tmp_path, spec, message):
    with pytest.raises(ParameterError, match=message):
        sweep.read_grid(write_grid(tmp_path, spec))


def test_cli_refuses_a_bad_grid_without_running(tmp_path, capsys):
    assert main(["sweep", str(write_grid(tmp_path, {"grid": {"epoch": [1, 2]}}))]) == 2
    assert "Unknown parameter(s) epoch" in capsys.readouterr().err
    assert main(["run", "--seeds", "2", "-p", "seed", "1"]) == 2


def test_run_name():
    assert sweep.run_name({"lam": 0.1, "normal_digits": [0, 1], "seed": 2}) == "lam=0.1,normal_digits=0-1,seed=2"


def test_list_valued_grids_are_summarised(tmp_path, monkeypatch):
    metrics = {"detectors": {"AnoGAN": {"auroc": 0.7, "auprc": 0.6, "f1": 0.2}}}
    def fake_run(name, params, runs_dir, echo):
        from gan_ad.files import write_json
        return write_json(Path(runs_dir) / name / "metrics.json", metrics).parent
    monkeypatch.setattr(sweep, "run_pipeline", fake_run)
    results = sweep.run_grid("s", {}, {"normal_digits": [[0, 1], [2]]}, runs_dir=tmp_path, echo=False)
    assert list(results["normal_digits"]) == ["0-1", "2"]
    assert (tmp_path / "s" / "summary.csv").exists() and (tmp_path / "s" / "sweep.png").exists()


def test_summary_gives_mean_and_std_over_seeds():
    results = pd.DataFrame({"lam": [0.1, 0.1, 0.5, 0.5], "seed": [0, 1, 0, 1], "detector": "AnoGAN",
                            "auroc": [0.6, 0.8, 0.9, 0.9], "auprc": 0.5, "f1": 0.2,
                            "val_auroc": [0.5, 0.7, 0.8, 0.8], "gan_val_auroc_features": 0.9})
    table = sweep.mean_std(sweep.summarise(results, ["lam"]))
    assert table.loc[(0.1, "AnoGAN"), "auroc"] == "0.700 ± 0.141"
    assert table.loc[(0.5, "AnoGAN"), "auroc"] == "0.900 ± 0.000"
    assert table.loc[(0.1, "AnoGAN"), "val_auroc"] == "0.600 ± 0.141"
    assert list(table["runs"]) == [2, 2]


def test_results_and_summary_carry_the_validation_aurocs(tmp_path, monkeypatch):
    def metrics(lam):  # as notebook 05 writes them; the pixel kNN has no validation entry (NaN)
        return {"detectors": {"anogan": {"auroc": 0.7, "auprc": 0.6, "f1": 0.2}, "pixel_knn": {"auroc": 0.9, "auprc": 0.8, "f1": 0.5}},
                "validation": {"anogan": {"auroc": 0.6 + lam, "auprc": 0.5}}, "model": {"val_auroc_features": 0.9 - lam}}
    def fake_run(name, params, runs_dir, echo):
        from gan_ad.files import write_json
        return write_json(Path(runs_dir) / name / "metrics.json", metrics(params["lam"])).parent
    monkeypatch.setattr(sweep, "run_pipeline", fake_run)
    results = sweep.run_grid("s", {}, {"lam": [0.0, 0.2]}, runs_dir=tmp_path, echo=False)
    anogan = results[results["detector"] == "anogan"]
    assert anogan["val_auroc"].tolist() == pytest.approx([0.6, 0.8])
    assert results[results["detector"] == "pixel_knn"]["val_auroc"].isna().all()
    assert results.groupby("lam")["gan_val_auroc_features"].first().tolist() == pytest.approx([0.9, 0.7])
    summary = pd.read_csv(tmp_path / "s" / "summary.csv", header=[0, 1], index_col=[0, 1])
    assert summary.loc[(0.2, "anogan"), ("val_auroc", "mean")] == pytest.approx(0.8)
    assert summary.loc[(0.2, "pixel_knn"), ("gan_val_auroc_features", "mean")] == pytest.approx(0.7)


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_grid_files_are_valid(path):
    name, fixed, grid = sweep.read_grid(path)
    assert name == path.stem and grid


# Batch reruns: parallel runs, a Dask cluster, resuming, and the bad inputs.

TINY = yaml.safe_load(TINY_FILE.read_text())
FAKE_METRICS = {"detectors": {"AnoGAN": {"auroc": 0.7, "auprc": 0.6, "f1": 0.2}, "PCA reconstruction": {"auroc": 0.8, "auprc": 0.7, "f1": 0.3}}}


def fake_point(name, params, sweep_dir, echo=False, threads=None):
    """Stands in for sweep.run_point in spawned processes and Dask workers: seed 0's process dies, others succeed."""
    if params["seed"] == 0:
        os._exit(3)
    return {"status": "ok", "error": "", "seconds": 0.0, "metrics": {**FAKE_METRICS, "threads": threads}}


def test_resume_skips_finished_runs_and_reruns_failed_unfinished_and_changed_ones(tmp_path, monkeypatch, capsys):
    calls, failed = [], []
    def fake_run(name, params, runs_dir, echo):
        from gan_ad.files import write_json
        calls.append(name)
        if params["seed"] == 1 and not failed:
            failed.append(name)
            raise RuntimeError("first try fails")
        return write_json(Path(runs_dir) / name / "metrics.json", FAKE_METRICS).parent
    monkeypatch.setattr(sweep, "run_pipeline", fake_run)
    grid = {"seed": [0, 1, 2, 3]}
    first = sweep.run_grid("s", {"lam": 0.1}, grid, runs_dir=tmp_path, echo=False)
    assert list(first["status"]) == ["ok", "ok", "failed", "ok", "ok", "ok", "ok"]
    (tmp_path / "s" / "seed=2" / "metrics.json").unlink()  # cut off before notebook 05 wrote it
    (tmp_path / "s" / "seed=3" / "metrics.json").write_text('{"detectors": {"AnoGAN": {"auroc"')  # not complete
    capsys.readouterr()
    calls.clear()
    again = sweep.run_grid("s", {"lam": 0.1}, grid, runs_dir=tmp_path, echo=False)
    assert calls == ["seed=1", "seed=2", "seed=3"]
    assert (again["status"] == "ok").all() and len(again) == 8
    out = capsys.readouterr().out
    assert "[1/4] seed=0: done earlier, best test AUROC 0.800 (PCA reconstruction)" in out
    assert "[4/4] seed=3: ok in" in out
    assert pd.read_csv(tmp_path / "s" / "results.csv")["seed"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    calls.clear()
    sweep.run_grid("s", {"lam": 0.5}, grid, runs_dir=tmp_path, echo=False)  # other parameters: nothing is reused
    assert calls == ["seed=0", "seed=1", "seed=2", "seed=3"]


def test_a_second_sweep_into_the_same_folder_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep, "run_pipeline", lambda *args, **kwargs: pytest.fail("a run started"))
    (tmp_path / "s").mkdir()
    lock = tmp_path / "s" / ".lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        with pytest.raises(sweep.SweepError, match=r"^Another sweep \(process 4242\) is writing into .*; wait for it"):
            sweep.run_grid("s", {}, {"seed": [0]}, runs_dir=tmp_path, echo=False)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [".lock"]


def test_a_lock_file_left_by_a_dead_sweep_does_not_block(tmp_path, monkeypatch):
    def fake_run(name, params, runs_dir, echo):
        from gan_ad.files import write_json
        assert (Path(runs_dir) / ".lock").read_text() == f"{os.getpid()}\n"
        return write_json(Path(runs_dir) / name / "metrics.json", FAKE_METRICS).parent
    monkeypatch.setattr(sweep, "run_pipeline", fake_run)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / ".lock").write_text("999999999\n")
    assert (sweep.run_grid("s", {}, {"seed": [0]}, runs_dir=tmp_path, echo=False)["status"] == "ok").all()


def test_an_unreachable_scheduler_fails_before_any_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", 2)
    name = f"unreachable-{os.getpid()}"
    grid = write_grid(tmp_path, {"name": name, "grid": {"seed": [0]}})
    assert main(["sweep", str(grid), "--cluster", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Cannot reach a Dask scheduler at tcp://127.0.0.1:1 (OSError: Timed out")
    assert err.count("\n") == 0 and err.endswith("(see docs/batch-runs.md, Running on a cluster).")
    assert not (sweep.RUNS_DIR / name).exists()


def test_cli_refuses_bad_batch_options(capsys):
    assert main(["run", "--workers", "2"]) == 2
    assert "give --seeds N too" in capsys.readouterr().err
    assert main(["run", "--seeds", "2", "--workers", "0"]) == 2
    assert "--workers needs a whole number of at least 1, got 0" in capsys.readouterr().err
    assert main(["run", "--seeds", "2", "--workers", "2", "--cluster", "tcp://127.0.0.1:1"]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.slow  # two new processes importing the package
def test_a_local_worker_that_dies_fails_only_its_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep, "run_point", fake_point)  # picklable by reference: spawned processes import this module
    results = sweep.run_grid("s", {}, {"seed": [0, 1]}, runs_dir=tmp_path, workers=2)
    assert list(results["status"]) == ["failed", "ok", "ok"]
    assert results["error"].iloc[0] == f"WorkerDied: the run's process exited with code 3; its output is in {tmp_path}/s/seed=0/run.log"
    assert sweep.read_json(tmp_path / "s" / "seed=1" / "metrics.json")["threads"] == max(1, sweep.cpu_count() // 2)
    assert "[2/2]" in capsys.readouterr().out


THREAD_NAMES = """if True:
    import collections, os, tensorflow as tf
    a = tf.random.normal((300, 300))
    for _ in range(3): tf.linalg.matmul(a, a).numpy()
    names = collections.Counter(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
    print(json.dumps(names))"""


def thread_names(**variables):
    """Count the threads of a fresh Python that ran TensorFlow with ``variables`` set, by their names."""
    env = {**os.environ, **{k: str(v) for k, v in variables.items()}}
    out = subprocess.run([sys.executable, "-c", "import json\n" + THREAD_NAMES], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_tensorflow_honours_the_thread_variables():
    """What a parallel run sets for its kernels takes effect: TensorFlow starts as many threads as it is told.

    Its inter-op pool's threads are named ``tf_Compute``; its intra-op pool's keep the process's name, so
    raising ``TF_NUM_INTRAOP_THREADS`` by 3 adds 3 threads. Counted, not timed: the count does not depend
    on the machine's cores or load.
    """
    one = thread_names(**sweep.thread_environment(1))
    assert one["tf_Compute"] == 1
    more = thread_names(**{**sweep.thread_environment(1), "TF_NUM_INTEROP_THREADS": 3, "TF_NUM_INTRAOP_THREADS": 4})
    assert more["tf_Compute"] == 3
    assert sum(more.values()) - more["tf_Compute"] == sum(one.values()) - one["tf_Compute"] + 3


# Across thread counts TensorFlow's CPU kernels sum in another order, so a run's floats differ in their last
# bits. At tiny size (about 100 normal and 100 anomalous test digits: 10,000 pairs) one thread against two
# moved AnoGAN's and the encoder's AUROC by 1e-4 (one pair), the memory's by 2e-4, the others not at all;
# 0.01 allows a hundred pairs. Seeds 0 and 1 of the tiny run differ by 0.02 to 0.11, so the tolerance still
# tells another seed (or other parameters) apart.
THREAD_TOLERANCE = 0.01


def test_tiny_sweep_with_two_workers_runs_them_in_processes_of_their_own(tmp_path, capsys, monkeypatch, tiny_run):
    """Two grid points on two local workers: MNIST's tiny run, and a dataset that does not exist, which fails at
    once (its process is started all the same, with its share of the cores). The MNIST run, made with one thread,
    has the metrics of the shared tiny run, made with all the cores, within :data:`THREAD_TOLERANCE`."""
    started = []  # the processes the sweep started
    start = multiprocessing.context.SpawnProcess.start
    def spy(process):
        start(process)
        started.append(process.pid)
    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", spy)
    results = sweep.run_grid("s", TINY, {"dataset": ["mnist", "cifar"]}, runs_dir=tmp_path, workers=2)
    assert list(results.drop_duplicates("dataset")["status"]) == ["ok", "failed"]
    assert results.groupby("dataset")["detector"].count().to_dict() == {"cifar": 0, "mnist": len(NOTEBOOKS)}
    assert len(set(started)) == 2 and os.getpid() not in started  # a process of its own for each run
    share = max(1, sweep.cpu_count() // 2)  # two runs at once share the cores
    environment = Run(tmp_path / "s" / "dataset=mnist").metrics()["environment"]  # metrics.json's record
    assert environment["threads"] == share and environment["thread_variables"] == sweep.thread_environment(share)
    assert set(results["threads"].dropna()) == {share}
    alone = Run(tiny_run).metrics()  # seed 0 made by itself, with all the cores: equal within the tolerance
    mnist = sweep.detector_metrics(tmp_path / "s" / "dataset=mnist")
    assert mnist == {d: pytest.approx(m, abs=THREAD_TOLERANCE) for d, m in sweep.detector_metrics(alone).items()}
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("[")]  # one per run, in the order they finished
    assert [line[:6] for line in lines] == ["[1/2] ", "[2/2] "]
    assert any("dataset=mnist: ok in" in line and "best test AUROC" in line for line in lines)
    assert any("dataset=cifar: failed in" in line for line in lines)
    assert "== 01_data_prep" not in out  # the notebooks' output stays in their run.log
    log = (tmp_path / "s" / "dataset=mnist" / "run.log").read_text()  # what the kernels said, kept apart
    assert "I0000 " not in log and "absl::InitializeLog" not in log  # and quiet (gan_ad/quiet.py)
    for name in ("results.csv", "summary.csv", "sweep.png"):
        assert (tmp_path / "s" / name).exists()


@pytest.mark.slow
def test_a_dask_worker_that_dies_fails_only_its_run(tmp_path, monkeypatch, cluster):
    monkeypatch.setattr(sweep, "run_point", fake_point)
    results = sweep.run_grid("s", {}, {"seed": [0, 1]}, runs_dir=tmp_path, cluster=cluster.scheduler_address)
    assert list(results["status"]) == ["failed", "ok", "ok"]
    assert results["error"].iloc[0].startswith("KilledWorker:")
    threads = sweep.read_json(tmp_path / "s" / "seed=1" / "metrics.json")["threads"]  # per worker, as the sweep began
    assert len(threads) == 2 and set(threads.values()) == {max(1, sweep.cpu_count() // 2)}  # two workers share the cores


def test_tiny_sweep_on_a_dask_cluster_then_resumed_here(shapes_sweep, capsys):
    results, shapes = shapes_sweep.results, shapes_sweep.shapes  # the image folder of shapes (conftest.py)
    assert list(results.drop_duplicates("dataset")["status"]) == ["ok", "failed"]  # a failed run is recorded, the sweep goes on
    assert results["error"].iloc[-1].startswith(f"DataError: Unknown dataset '{Path.cwd() / 'cifar'}'")  # made absolute
    ok = results[results["status"] == "ok"]
    assert sorted(ok["detector"]) == sorted(NOTEBOOKS) and ok["auroc"].between(0, 1).all()  # a row per detector
    assert "dataset=cifar: failed in" in shapes_sweep.printed and f"{shapes.name}: ok in" in shapes_sweep.printed
    for name in ("results.csv", "summary.csv", "sweep.png"):
        assert (shapes_sweep.dir / name).exists()
    cifar = shapes_sweep.cifar
    before = {path: path.stat().st_mtime_ns for path in (shapes / "05_evaluation.ipynb", cifar / "01_data_prep.ipynb")}

    again = sweep.run_grid("s", shapes_sweep.fixed, shapes_sweep.grid, runs_dir=shapes_sweep.runs_dir, echo=False)  # resumed here
    assert f"[1/2] {shapes.name}: done earlier, best test AUROC" in capsys.readouterr().out
    assert (shapes / "05_evaluation.ipynb").stat().st_mtime_ns == before[shapes / "05_evaluation.ipynb"]  # skipped
    assert (cifar / "01_data_prep.ipynb").stat().st_mtime_ns > before[cifar / "01_data_prep.ipynb"]  # failed: ran again
    pd.testing.assert_frame_equal(again, results)
    assert pd.read_csv(shapes_sweep.dir / "results.csv")["auroc"].dropna().tolist() == again["auroc"].dropna().tolist()
