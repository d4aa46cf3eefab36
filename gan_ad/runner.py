"""Runner: execute the pipeline notebooks in order with papermill into ``runs/NAME/``.

Every notebook gets the parameters it declares in its ``parameters`` cell and the run
folder. Unlike papermill, which only warns, a parameter that no notebook declares is an error
that lists the valid ones.
"""
import sys
from pathlib import Path

import papermill as pm
import yaml

from .files import NOTEBOOK_DIR, RUNS_DIR, read_json

PIPELINE = ("01_data_prep", "02_train_gan", "03_latent_inversion", "04_encoder", "05_evaluation")


class ParameterError(ValueError):
    """Raised for a parameter that no notebook of the pipeline declares."""


def notebook_parameters(notebook):
    """Map parameter name -> default (as written in the cell) for one notebook."""
    found = pm.inspect_notebook(str(NOTEBOOK_DIR / f"{notebook}.ipynb"))
    return {name: info["default"] for name, info in found.items()}


def pipeline_parameters():
    """Map notebook -> its parameters (see :func:`notebook_parameters`) for the whole pipeline."""
    return {nb: notebook_parameters(nb) for nb in PIPELINE}


def check_parameters(params, declared):
    """Raise :class:`ParameterError` if ``params`` holds a name no notebook declares, or ``run_dir``."""
    valid = sorted({name for p in declared.values() for name in p} - {"run_dir"})
    if "run_dir" in params:
        raise ParameterError("run_dir is set by the runner from --name; give --name instead.")
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ParameterError(f"Unknown parameter(s) {', '.join(unknown)}. Valid parameters: {', '.join(valid)}.")


def parse_value(text):
    """Read a command-line value as YAML: ``5`` -> 5, ``0.1`` -> 0.1, ``[0, 1]`` -> [0, 1], ``abc`` -> 'abc'."""
    return yaml.safe_load(text)


def run_pipeline(name, params=None, runs_dir=RUNS_DIR, prepare_only=False, echo=True):
    """Run (or with ``prepare_only`` only parameterise) the pipeline notebooks into ``runs_dir/name``.

    Returns the run folder. With ``echo`` each notebook's name and what it prints (Keras' progress
    bar among it) stream to this terminal. The executed notebooks keep their outputs in the run folder; the
    notebooks in ``notebooks/`` are never changed.
    """
    params = dict(params or {})
    declared = pipeline_parameters()
    check_parameters(params, declared)
    run_dir = (Path(runs_dir) / name).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    for notebook, names in declared.items():
        chosen = {k: v for k, v in params.items() if k in names}
        if echo:
            print(f"== {notebook} {chosen or ''}", flush=True)
        pm.execute_notebook(
            str(NOTEBOOK_DIR / f"{notebook}.ipynb"), str(run_dir / f"{notebook}.ipynb"),
            parameters={**chosen, "run_dir": str(run_dir)}, kernel_name="python3", cwd=str(NOTEBOOK_DIR),
            prepare_only=prepare_only, progress_bar=False,
            stdout_file=sys.stdout if echo else None,
        )
    return run_dir


def summary(run_dir):
    """One line with the test AUROC of every detector of a finished run, read from its ``metrics.json``."""
    results = read_json(Path(run_dir) / "metrics.json")
    detectors = results["detectors"]
    n = next(iter(detectors.values()))["n_images"]
    return f"Test AUROC on {n} images: " + ", ".join(f"{name} {m['auroc']:.3f}" for name, m in detectors.items()) + f". Results in {run_dir}"
