"""Sweeps: run the pipeline over a grid of parameters (or seeds) and collect every run's metrics.

``python -m gan_ad sweep GRID.yaml`` with a file like::

    name: lam            # folder under runs/ (default: the file's name)
    fixed:               # parameters shared by every run (optional)
      epochs: 5
    grid:                # every combination of these values is one run
      lam: [0.0, 0.1, 0.5]
      seed: [0, 1, 2]

A failed run is recorded with its error and the sweep goes on. ``results.csv`` holds one row
per run and detector: its test metrics, its validation AUROC (``val_auroc``) and the validation
AUROC of the GAN's feature monitor at the kept epoch (``gan_val_auroc_features``, the same for every
detector of a run), so that a sweep can choose on validation, and what decided its floats (``threads``,
``cpu``, ``tensorflow``: see :mod:`gan_ad.environment`); ``summary.csv`` the mean and standard
deviation over seeds. Both, and the plot, are rewritten as each run finishes.

Runs go one after another in this process (``workers=1``: the notebooks' output streams to the
terminal), in ``workers`` processes on this machine (each run in a fresh process with
``cores // workers`` threads), or as tasks of a Dask cluster (``cluster=ADDRESS``). All three
call :func:`run_point` through :func:`gan_ad.parallel.run` and are collected by one loop in :func:`run_grid`. A sweep is resumable:
a run whose folder holds a complete ``metrics.json`` made with the same parameters is skipped
and its metrics are read back; failed and unfinished runs run again. A lock file in the sweep
folder refuses a second sweep into the same folder while one is running.
"""
import asyncio
import fcntl
import itertools
import json
import os
import socket
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from tqdm import tqdm

from . import parallel
from .environment import cpu_count, thread_environment
from .files import PROJECT_ROOT, RUNS_DIR, MissingStepError, atomic_path, read_json, write_json
from .plots import save_fig
from .parallel import describe
from .params import check_values, read_yaml_mapping
from .runner import ParameterError, check_parameters, pipeline_parameters, run_pipeline
from .runs import Run

METRICS = ("auroc", "auprc", "f1")  # each detector's test metrics
SAMPLE = ("auroc_on_anogan_sample", "n_images")  # ... the AUROC on the test images AnoGAN scored, and how many it scored (NaN
                                                 # for a run made before notebook 05 recorded them)
VALIDATION = ("val_auroc", "gan_val_auroc_features")  # each detector's validation AUROC; the GAN monitor's at the kept epoch
CONNECT_TIMEOUT = 10  # seconds to reach a Dask scheduler and find a worker there
PARAMETERS_FILE = "sweep_parameters.json"  # what a sweep ran a folder with; resuming compares it
LOG_FILE = "run.log"  # a parallel run's terminal output (the kernel's warnings, a dying process's last words)


class SweepError(RuntimeError):
    """Raised before any run starts: the cluster cannot be reached, or another sweep holds the folder."""


def read_grid(path):
    """Read and check a grid file; return ``(name, fixed, grid)``. Errors name the bad entry."""
    path = Path(path)
    spec = read_yaml_mapping(path, "a grid file")
    unknown_keys = sorted(set(spec) - {"name", "fixed", "grid"})
    if unknown_keys:
        raise ParameterError(f"{path}: unknown key(s) {unknown_keys}; a grid file has name, fixed and grid.")
    grid = spec.get("grid") or {}
    if not grid:
        raise ParameterError(f"{path}: 'grid' is missing or empty; give at least one parameter with a list of values.")
    fixed = spec.get("fixed") or {}
    check_grid(fixed, grid)
    return spec.get("name", path.stem), fixed, grid


def check_grid(fixed, grid):
    """Refuse, before any run starts, unknown parameters, empty value lists and a parameter set twice."""
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ParameterError(f"Grid parameter {name} needs a non-empty list of values, got {values!r}.")
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ParameterError(f"{both} are both fixed and in the grid; keep each in one place.")
    check_parameters({**fixed, **grid}, pipeline_parameters())
    check_values(fixed)
    for name, values in grid.items():  # a point takes one value of each list: checking every value checks every point
        for value in values:
            check_values({name: value})


def run_name(point):
    """A folder name for one grid point, e.g. ``lam=0.1,seed=2``."""
    def text(value):  # a dataset's path must not make folders: data/my_images -> data_my_images
        return "-".join(map(str, value)) if isinstance(value, list) else str(value).replace("/", "_").replace("\\", "_")
    return ",".join(f"{k}={text(v)}" for k, v in point.items())


def run_grid(name, fixed, grid, runs_dir=RUNS_DIR, echo=True, workers=1, cluster=None):
    """Run every grid point into ``runs_dir/name/POINT`` and return the results (also saved as CSV).

    Returns a DataFrame with one row per run and detector: the grid values, ``status``
    (``ok``/``failed``), ``error``, the test metrics and the validation AUROCs (:data:`VALIDATION`).
    ``workers`` runs that many at once on this machine; ``cluster`` (a Dask scheduler's address)
    makes each run one task there. With ``echo`` and one local worker the notebooks' output streams
    to the terminal; otherwise one line per finished run is printed. Raises :class:`SweepError` before any run starts when the
    cluster cannot be reached or another sweep is writing into the same folder.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"--workers needs a whole number of at least 1, got {workers!r}.")
    if cluster and workers > 1:
        raise ParameterError("Give --workers or --cluster, not both: the cluster's workers decide how many runs go at once.")
    sweep_dir = Path(runs_dir) / name
    keys = list(grid)
    points = [dict(zip(keys, values)) for values in itertools.product(*grid.values())]
    client = connect(cluster) if cluster else None
    try:
        threads = cluster_threads(client) if client is not None else None
        with sweep_lock(sweep_dir):
            return collect(sweep_dir, fixed, keys, points, echo, workers, client, threads)
    finally:
        if client is not None:
            client.close()


def collect(sweep_dir, fixed, keys, points, echo, workers, client, threads):
    """Skip the finished runs, run the others and save the results as each one finishes."""
    rows = {}  # grid index -> that run's rows of results.csv
    todo = []
    done = 0
    for index, point in enumerate(points):
        metrics = finished(sweep_dir / run_name(point), {**fixed, **point})
        if metrics is None:
            todo.append(index)
            continue
        done += 1
        rows[index] = result_rows(point, {"status": "ok", "error": "", "metrics": metrics})
        print(progress_line(done, len(points), point, {"status": "ok", "metrics": metrics}, "done earlier"), flush=True)
    if rows and todo:
        save_results(sweep_dir, rows, keys)
    echo = echo and client is None and workers == 1
    if workers > 1 and todo:  # the cores shared by the runs that go at once
        threads = max(1, cpu_count() // min(workers, len(todo)))
    folder = sweep_dir.resolve()  # inside the project: relative, so that each Dask worker writes under its own copy
    folder = str(folder.relative_to(PROJECT_ROOT) if folder.is_relative_to(PROJECT_ROOT) else folder)
    tasks = [(index, (run_name(points[index]), {**fixed, **points[index]}, folder, echo, threads)) for index in todo]
    bar = tqdm(total=len(points), initial=done, unit="run", desc=sweep_dir.name, disable=True if echo else None,
               file=sys.stderr, dynamic_ncols=True)
    with bar, closing(outcomes(tasks, workers, client, echo)) as finished_runs:  # closed on any exit: the runs stop
        for index, outcome in finished_runs:
            point = points[index]
            if outcome["status"] == "ok":
                keep_metrics(sweep_dir / run_name(point), {**fixed, **point}, outcome["metrics"])
            rows[index] = result_rows(point, outcome)
            save_results(sweep_dir, rows, keys)
            done += 1
            bar.update()
            tqdm.write(progress_line(done, len(points), point, outcome), file=sys.stdout)
            sys.stdout.flush()
    return save_results(sweep_dir, rows, keys)


def outcomes(tasks, workers, client, echo):
    """Yield ``(index, outcome)`` for each task ``(index, arguments of run_point)`` as its run finishes (:func:`gan_ad.parallel.run`).

    Serial: in this process, in grid order. ``workers > 1``: each run in a fresh process on this
    machine (:class:`gan_ad.parallel.Processes`). ``client``: each run a task of the Dask cluster.
    """
    if client is None and workers > 1:
        processes = parallel.Processes()
        tasks = [(index, (run_point, args, Path(PROJECT_ROOT, args[2], args[0], LOG_FILE))) for index, args in tasks]
        return parallel.run(processes.run, tasks, workers, failed=failed_run, on_stop=processes.terminate)
    return parallel.run(echo_point if echo and client is None else run_point, tasks, workers, client, failed=failed_run,
                        key=lambda index, args: f"gan-ad {args[0]}")


def echo_point(*args):
    """:func:`run_point` after a line that names the run (a serial sweep whose notebooks stream to the terminal)."""
    print(f"=== {Path(args[2]).name}: {args[0]}", flush=True)
    return run_point(*args)


def failed_run(index, error, seconds):
    """The outcome of a run that could not finish (its process or Dask worker died, say)."""
    return {"status": "failed", "error": error, "seconds": seconds, "metrics": None}


def run_point(name, params, sweep_dir, echo=False, threads=None):
    """Run one grid point into ``sweep_dir/name``; return its outcome, never raise for a failed run.

    The outcome is a dict: ``status`` (``ok``/``failed``), ``error``, ``seconds`` and ``metrics``
    (the run's ``metrics.json``, None when it failed). A relative ``sweep_dir`` is taken under this
    machine's project folder. ``threads`` (a number, or a map from Dask worker address to number)
    caps the thread pools of the notebook kernels, which start with this process's environment.
    A top-level function, so that spawned processes and Dask workers can unpickle it.
    """
    start = time.perf_counter()
    if isinstance(threads, dict):
        from distributed import get_worker

        worker = get_worker()  # one that joined after the sweep started shares its machine with nobody we know of
        threads = threads.get(worker.address) or max(1, cpu_count() // worker.state.nthreads)
    if threads:
        os.environ.update(thread_environment(threads))
    sweep_dir = Path(PROJECT_ROOT, sweep_dir)
    run_dir = sweep_dir / name
    try:
        run = Run(run_dir)
        run.forget_metrics()
        write_json(run_dir / PARAMETERS_FILE, params)
        run_pipeline(name, params, runs_dir=sweep_dir, echo=echo)
        metrics = run.metrics()
    except Exception as err:  # record and go on: one bad point must not lose the others
        return {"status": "failed", "error": describe(err), "seconds": time.perf_counter() - start, "metrics": None}
    return {"status": "ok", "error": "", "seconds": time.perf_counter() - start, "metrics": metrics}


def finished(run_dir, params):
    """The metrics of a run that finished with ``params``; None if it never ran, failed, was cut off or had others."""
    try:
        same = read_json(Path(run_dir) / PARAMETERS_FILE) == json.loads(json.dumps(params))
        metrics = Run(run_dir).metrics()
        complete = metrics["detectors"] and all(set(METRICS) <= set(m) for m in metrics["detectors"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError, MissingStepError):
        return None
    return metrics if same and complete else None


def keep_metrics(run_dir, params, metrics):
    """Save a run's metrics in this machine's sweep folder when its worker wrote them elsewhere (no shared disk)."""
    if finished(run_dir, params) is None:
        write_json(Path(run_dir) / PARAMETERS_FILE, params)
        Run(run_dir).save_metrics(metrics)


def result_rows(point, outcome):
    """The rows of ``results.csv`` for one run: one per detector, or one with the error."""
    label = {k: run_name({k: v}).split("=", 1)[1] if isinstance(v, list) else v for k, v in point.items()}  # lists cannot be grouped
    if outcome["status"] != "ok":
        return [{**label, "status": "failed", "error": outcome["error"]}]
    validation = validation_metrics(outcome["metrics"])
    made_on = machine_columns(outcome["metrics"])
    return [{**label, "status": "ok", "error": "", "detector": d, **m, **validation[d], **made_on}
            for d, m in detector_metrics(outcome["metrics"]).items()]


def machine_columns(metrics):
    """What decided a run's floats (``metrics.json``'s ``environment``): its ``threads``, ``cpu`` and ``tensorflow``
    version, as columns of ``results.csv``; empty for a run made before notebook 05 recorded them."""
    environment = metrics.get("environment")
    if not isinstance(environment, dict):
        return {}
    return {"threads": environment.get("threads"), "cpu": environment.get("cpu"),
            "tensorflow": environment.get("packages", {}).get("tensorflow")}


def save_results(sweep_dir, rows, keys):
    """Write ``results.csv`` (in grid order), and ``summary.csv`` and the plot of the runs that succeeded."""
    results = pd.DataFrame([row for index in sorted(rows) for row in rows[index]])
    with atomic_path(sweep_dir / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    ok = results[results["status"] == "ok"]
    if len(ok):
        table = summarise(ok, [k for k in keys if k != "seed"])
        with atomic_path(sweep_dir / "summary.csv") as tmp:
            table.to_csv(tmp)
        save_fig(plot_results(ok, keys), "sweep", sweep_dir, close=True)
    return results


def progress_line(done, total, point, outcome, how=None):
    """``[2/4] seed=1: ok in 41 s, best test AUROC 0.912 (Discriminator-feature kNN)`` or the run's error."""
    head = f"[{done}/{total}] {run_name(point)}:"
    took = f" in {outcome['seconds']:.0f} s" if outcome.get("seconds") is not None else ""
    if outcome["status"] != "ok":
        return f"{head} failed{took}: {outcome['error']}"
    best, metrics = max(detector_metrics(outcome["metrics"]).items(), key=lambda item: item[1]["auroc"])
    return f"{head} {how or 'ok' + took}, best test AUROC {metrics['auroc']:.3f} ({best})"


@contextmanager
def sweep_lock(sweep_dir):
    """Hold ``sweep_dir/.lock`` (``flock``, with this process's id in it) for the sweep, or raise :class:`SweepError`.

    The operating system releases the lock when the process ends, however it ends, so a stale
    file left by a killed sweep does not block the next one.
    """
    sweep_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sweep_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SweepError(f"Another sweep (process {holder}) is writing into {sweep_dir}; "
                         "wait for it to finish or give this sweep another name.") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def connect(address, timeout=None):
    """A Dask client of the scheduler at ``address`` with at least one worker, or :class:`SweepError` in one sentence."""
    from distributed import Client  # Dask's client, as its other imports here, only for --cluster: it takes a second to import
    from distributed.comm import connect as open_comm

    timeout = timeout or CONNECT_TIMEOUT
    hint = "start one with `dask scheduler` and give the address it prints (see docs/batch-runs.md, Running on a cluster)"

    async def probe():  # fails fast and quietly, unlike a Client that cannot connect
        comm = await open_comm(address, timeout=timeout)
        await comm.close()

    try:
        if "://" not in address or address.startswith("tcp://"):
            asyncio.run(probe())
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as err:
        raise SweepError(f"Cannot reach a Dask scheduler at {address} ({describe(err)}); {hint}.") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception:
        client.close()
        raise SweepError(f"The Dask scheduler at {address} has no worker after {timeout} s; "
                         f"start some with `dask worker {address}`.") from None
    return client


def cluster_threads(client):
    """Map each Dask worker's address to the threads one run may use: its machine's cores over the runs the machine takes at once."""
    try:
        machines = client.run(machine)  # also checks that every worker can import gan_ad
    except Exception as err:
        raise SweepError(f"The Dask workers cannot run gan_ad ({describe(err)}); install the project on every "
                         "worker machine (see docs/batch-runs.md, Running on a cluster).") from None
    slots = {}  # host -> runs at once there: one per worker thread
    for address, nthreads in client.nthreads().items():
        if address in machines:
            slots[machines[address][0]] = slots.get(machines[address][0], 0) + nthreads
    return {address: max(1, cores // slots[host]) for address, (host, cores) in machines.items() if host in slots}


def machine():
    """This machine's name and usable cores (run on each Dask worker)."""
    return socket.gethostname(), cpu_count()


def detector_metrics(run):
    """Map detector name -> its test metrics (AUROC, AUPRC, F1, and :data:`SAMPLE`), from a run folder's ``metrics.json`` or its content."""
    metrics = run if isinstance(run, dict) else Run(run).metrics()
    return {name: {**{k: m[k] for k in METRICS}, **{k: m.get(k, float("nan")) for k in SAMPLE}} for name, m in metrics["detectors"].items()}


def validation_metrics(metrics):
    """Map detector name -> ``val_auroc`` and ``gan_val_auroc_features`` (see :data:`VALIDATION`) from a run's metrics, NaN where absent."""
    gan = metrics.get("model", {}).get("val_auroc_features", float("nan"))
    return {name: {"val_auroc": metrics.get("validation", {}).get(name, {}).get("auroc", float("nan")),
                   "gan_val_auroc_features": gan} for name in metrics["detectors"]}


def summarise(results, by):
    """Mean and standard deviation (over seeds and any other repeats) of each metric, per detector and ``by``."""
    present = [k for k in SAMPLE if k in results]
    return results.groupby(by + ["detector"], sort=False)[[*METRICS, *present, *VALIDATION]].agg(["mean", "std", "count"])


def mean_std(table):
    """Render a :func:`summarise` table as ``mean ± std`` strings (std over n runs)."""
    out = pd.DataFrame(index=table.index)
    for metric in (*METRICS, *VALIDATION):
        mean, std = table[(metric, "mean")], table[(metric, "std")].fillna(0)
        out[metric] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean, std)]
    out["runs"] = table[(METRICS[0], "count")]
    return out


def plot_results(results, keys):
    """Test AUROC of each detector against each grid parameter (mean and spread over the rest)."""
    keys = [k for k in keys if k != "seed"] or ["seed"]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        data = results.assign(**{key: results[key].astype(str)})
        sns.pointplot(data, x=key, y="auroc", hue="detector", errorbar="sd", ax=ax)
        ax.set_title(f"Test AUROC against {key}")
    return fig
