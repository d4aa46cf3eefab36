"""Runner: execute the pipeline notebooks in order with papermill into ``runs/NAME/``.

Every notebook gets the parameters it declares in its ``parameters`` cell and the run
folder. Unlike papermill, which only warns, a parameter that no notebook declares is an error
that lists the valid ones. A ``dataset`` given as a path (anything but ``mnist`` and
``fashion_mnist``) is made absolute first, from the working directory of the caller: the notebooks
run with ``notebooks/`` as theirs.

Run again into the same folder (after a kill, a crash, a full disk), the runner skips the notebooks that
finished earlier, as long as they would be given the same parameters, their source is unchanged and every
file they wrote is still there as they wrote it (``pipeline.json`` holds their SHA-256 digests); it runs
the rest. Once one notebook runs, all those after it run too.
"""
import hashlib
import json
import sys
from pathlib import Path

import nbformat
import papermill as pm

from .data import DATASETS
from .files import DETECTOR_NOTEBOOKS, NOTEBOOK_DIR, RUNS_DIR, write_json
from .params import PIPELINE, ParameterError, check_values
from .runs import Run

# The kernel's own log (a warning about TCP on loopback at start, "KeyboardInterrupt caught in kernel" when
# papermill stops it) is about the kernel, not the notebook; kept off the terminal of `make run`.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
LEDGER = "pipeline.json"  # notebook -> the parameters it was given, its source's and its files' digests
RECORDS = {"parameters.json"}  # written by every notebook, each adding its own part: not a notebook's output


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


def recorded_parameters(run_dir):
    """The parameters a run was made with, as papermill recorded them in its executed notebooks (not ``run_dir``)."""
    found = {}
    for notebook in PIPELINE:
        path = Path(run_dir) / f"{notebook}.ipynb"
        if path.exists():
            found.update(nbformat.read(path, as_version=4).metadata.get("papermill", {}).get("parameters", {}))
    found.pop("run_dir", None)
    return found


def resolve_dataset(params):
    """``params`` with a path-valued ``dataset`` made absolute from the current working directory."""
    dataset = params.get("dataset")
    if isinstance(dataset, (str, Path)) and str(dataset) not in DATASETS:
        return {**params, "dataset": str(Path(dataset).expanduser().resolve())}
    return params


def digest(path):
    """The SHA-256 of a file, in hex."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def snapshot(run_dir):
    """Every file of a run folder but the ledger: relative path -> (size, modification time)."""
    return {p.relative_to(run_dir).as_posix(): (s.st_size, s.st_mtime_ns) for p in Path(run_dir).rglob("*")
            if p.is_file() and p.name != LEDGER for s in [p.stat()]}


def read_ledger(run_dir):
    """The run's ledger; an absent or damaged one is empty (every notebook runs again, which is always safe)."""
    try:
        ledger = json.loads((Path(run_dir) / LEDGER).read_text())
    except (OSError, ValueError):
        return {}
    return ledger if isinstance(ledger, dict) else {}


def ledger_entry(run_dir, notebook, parameters, before):
    """What a notebook that just finished was given and wrote (the files new or changed since ``before``)."""
    written = sorted(rel for rel, stat in snapshot(run_dir).items() if before.get(rel) != stat and rel not in RECORDS)
    return {"parameters": parameters, "source": digest(NOTEBOOK_DIR / f"{notebook}.ipynb"),
            "files": {rel: digest(Path(run_dir) / rel) for rel in written}}


def finished_earlier(run_dir, notebook, parameters, ledger):
    """Whether ``notebook`` finished in ``run_dir`` with ``parameters`` and its source and files are unchanged."""
    entry = ledger.get(notebook)
    if not isinstance(entry, dict) or entry.get("parameters") != parameters or not entry.get("files"):
        return False
    if entry.get("source") != digest(NOTEBOOK_DIR / f"{notebook}.ipynb"):
        return False
    return all((Path(run_dir) / rel).is_file() and digest(Path(run_dir) / rel) == sha for rel, sha in entry["files"].items())


def run_pipeline(name, params=None, runs_dir=RUNS_DIR, prepare_only=False, echo=True, notebooks=PIPELINE, resume=True):
    """Run (or with ``prepare_only`` only parameterise) the pipeline notebooks into ``runs_dir/name``.

    Returns the run folder. With ``echo`` each notebook's name and what it prints (Keras' progress
    bar among it) stream to this terminal. The executed notebooks keep their outputs in the run folder; the
    notebooks in ``notebooks/`` are never changed. ``notebooks`` runs a part of the pipeline, in
    order: the first few (a test that stops early), or the last few in an existing run folder
    (``--from 03_latent_inversion``: keep the GAN, refit the detectors), where the parameters the
    run was made with apply unless ``params`` changes them. With ``resume`` (not for ``--from``) the notebooks
    that finished earlier with the same parameters are skipped (see the module's docstring).
    """
    params = resolve_dataset(dict(params or {}))
    declared = pipeline_parameters()
    check_parameters(params, declared)
    params = check_values(params)  # the declaration's types and ranges (gan_ad/params.py), before anything is written
    run_dir = (Path(runs_dir) / name).resolve()
    first = PIPELINE.index(notebooks[0])
    if first > 0:
        if not (run_dir / f"{PIPELINE[first - 1]}.ipynb").exists():
            raise ParameterError(f"{run_dir} has no executed notebooks before {notebooks[0]}; run the whole pipeline instead.")
        params = check_values({**recorded_parameters(run_dir), **params})
    run_dir.mkdir(parents=True, exist_ok=True)
    ledger = {} if prepare_only else read_ledger(run_dir)
    skipping = resume and not prepare_only
    for notebook, names in declared.items():
        if notebook not in notebooks:
            continue
        chosen = {k: v for k, v in params.items() if k in names}
        recorded = json.loads(json.dumps(chosen))  # as the ledger holds it: lists, not tuples
        if skipping and finished_earlier(run_dir, notebook, recorded, ledger):
            if echo:
                print(f"== {notebook}: finished earlier with these parameters and its files are unchanged; skipped", flush=True)
            continue
        skipping = False  # what follows a notebook that runs depends on it: it runs too
        if echo:
            print(f"== {notebook} {chosen or ''}", flush=True)
        if not prepare_only:
            kept = {k: v for k, v in ledger.items() if k in PIPELINE[:PIPELINE.index(notebook)]}
            if kept != ledger:  # this notebook and those after it: not finished (a fresh run writes nothing yet)
                ledger = kept
                write_json(run_dir / LEDGER, ledger)
            before = snapshot(run_dir)
        pm.execute_notebook(
            str(NOTEBOOK_DIR / f"{notebook}.ipynb"), str(run_dir / f"{notebook}.ipynb"),
            parameters={**chosen, "run_dir": str(run_dir)}, kernel_name="python3", cwd=str(NOTEBOOK_DIR),
            prepare_only=prepare_only, progress_bar=False,
            stdout_file=sys.stdout if echo else None, extra_arguments=KERNEL_ARGUMENTS,
        )
        if not prepare_only:
            entry = ledger_entry(run_dir, notebook, recorded, before)
            for earlier in ledger.values():  # a file written again belongs to the last notebook that wrote it
                earlier["files"] = {rel: sha for rel, sha in earlier.get("files", {}).items() if rel not in entry["files"]}
            ledger[notebook] = entry
            write_json(run_dir / LEDGER, ledger)
    return run_dir


def summary(run_dir):
    """One line with the test AUROC of every detector of a finished run, read from its ``metrics.json``."""
    results = Run(run_dir).metrics()
    rows = [results["detectors"][key] for key in DETECTOR_NOTEBOOKS if key in results["detectors"]]
    best = results["detectors"][results["best_on_validation"]]["label"]
    most = max(r["n_images"] for r in rows)
    on = lambda r: "" if r["n_images"] == most else f" (on {r['n_images']} of them)"  # AnoGAN: its sample
    return (f"Test AUROC on {most} images: " + ", ".join(f"{r['label']} {r['auroc']:.3f}{on(r)}" for r in rows)
            + f". Best on validation: {best}. Results in {run_dir}")
