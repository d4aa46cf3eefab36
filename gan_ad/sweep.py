"""Sweeps: run the pipeline over a grid of parameters (or seeds) and collect every run's metrics.

``python -m gan_ad sweep GRID.yaml`` with a file like::

    name: lam            # folder under runs/ (default: the file's name)
    fixed:               # parameters shared by every run (optional)
      epochs: 5
    grid:                # every combination of these values is one run
      lam: [0.0, 0.1, 0.5]
      seed: [0, 1, 2]

A failed run is recorded with its error and the sweep goes on. ``results.csv`` holds one row
per run and detector; ``summary.csv`` the mean and standard deviation over seeds.
"""
import itertools
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import papermill as pm
import yaml

from .files import RUNS_DIR, atomic_path, read_json
from .plots import save_fig
from .runner import ParameterError, check_parameters, pipeline_parameters, run_pipeline

METRICS = ("auroc", "auprc", "f1")


def read_grid(path):
    """Read and check a grid file; return ``(name, fixed, grid)``. Errors name the bad entry."""
    path = Path(path)
    spec = yaml.safe_load(path.read_text()) or {}
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


def run_name(point):
    """A folder name for one grid point, e.g. ``lam=0.1,seed=2``."""
    def text(value):  # a dataset's path must not make folders: data/my_images -> data_my_images
        return "-".join(map(str, value)) if isinstance(value, list) else str(value).replace("/", "_").replace("\\", "_")
    return ",".join(f"{k}={text(v)}" for k, v in point.items())


def run_grid(name, fixed, grid, runs_dir=RUNS_DIR, echo=True):
    """Run every grid point into ``runs_dir/name/POINT`` and return the results (also saved as CSV).

    Returns a DataFrame with one row per run and detector: the grid values, ``status``
    (``ok``/``failed``), ``error``, and the test metrics.
    """
    sweep_dir = Path(runs_dir) / name
    keys = list(grid)
    rows = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(keys, values))
        print(f"=== {name}: {run_name(point)}", flush=True)
        label = {k: run_name({k: v}).split("=", 1)[1] if isinstance(v, list) else v for k, v in point.items()}  # lists cannot be grouped
        try:
            run_dir = run_pipeline(run_name(point), {**fixed, **point}, runs_dir=sweep_dir, echo=echo)
            rows += [{**label, "status": "ok", "error": "", "detector": d, **m} for d, m in detector_metrics(run_dir).items()]
        except Exception as err:  # record and go on: one bad point must not lose the others
            error = f"{err.ename}: {err.evalue}" if isinstance(err, pm.PapermillExecutionError) else f"{type(err).__name__}: {err}"
            rows.append({**label, "status": "failed", "error": error})
            print(f"failed: {error}", flush=True)
    results = pd.DataFrame(rows)
    with atomic_path(sweep_dir / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    ok = results[results["status"] == "ok"]
    if len(ok):
        table = summarise(ok, [k for k in keys if k != "seed"])
        with atomic_path(sweep_dir / "summary.csv") as tmp:
            table.to_csv(tmp)
        save_fig(plot_results(ok, keys), "sweep", sweep_dir, close=True)
    return results


def detector_metrics(run_dir):
    """Map detector name -> its test metrics (AUROC, AUPRC, F1) read from a run's ``metrics.json``."""
    return {name: {k: m[k] for k in METRICS} for name, m in read_json(Path(run_dir) / "metrics.json")["detectors"].items()}


def summarise(results, by):
    """Mean and standard deviation (over seeds and any other repeats) of each metric, per detector and ``by``."""
    return results.groupby(by + ["detector"], sort=False)[list(METRICS)].agg(["mean", "std", "count"])


def mean_std(table):
    """Render a :func:`summarise` table as ``mean ± std`` strings (std over n runs)."""
    out = pd.DataFrame(index=table.index)
    for metric in METRICS:
        mean, std = table[(metric, "mean")], table[(metric, "std")].fillna(0)
        out[metric] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean, std)]
    out["runs"] = table[(METRICS[0], "count")]
    return out


def plot_results(results, keys):
    """Test AUROC of each detector against each grid parameter (mean and spread over the rest)."""
    import seaborn as sns

    keys = [k for k in keys if k != "seed"] or ["seed"]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        data = results.assign(**{key: results[key].astype(str)})
        sns.pointplot(data, x=key, y="auroc", hue="detector", errorbar="sd", ax=ax)
        ax.set_title(f"Test AUROC against {key}")
    return fig
