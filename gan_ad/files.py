"""Files: the ground floor of the package. Atomic writes, JSON, and reading a run's files with clear errors.

Every artefact a notebook saves goes through :func:`atomic_path`, so an interrupted run
never leaves a half-written file behind: the data is written under a temporary name in the
same folder and renamed into place only once it is complete. Every file of a run is opened
through :func:`reading`, which turns what a library raises into a sentence naming the notebook
that writes the file (:data:`ARTEFACTS`, the run folder's contract). This module imports nothing
of ``gan_ad``; the one reader of a whole run folder is :class:`gan_ad.runs.Run`.
"""
import errno
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd


def project_root(package_dir=Path(__file__).resolve().parent, environ=os.environ, cwd=None):
    """The folder that holds ``data/``, ``runs/`` and ``notebooks/``.

    ``GAN_AD_HOME`` when it is set; otherwise the checkout the package sits in (a folder with
    ``pyproject.toml`` beside ``gan_ad/``: a clone, installed with ``pip install -e``); otherwise, for a
    package installed into site-packages (``pip install git+...``), the current working directory, so
    that nothing is looked for or written inside site-packages.
    """
    if environ.get("GAN_AD_HOME"):
        return Path(environ["GAN_AD_HOME"]).expanduser().resolve()
    if (package_dir.parent / "pyproject.toml").exists():
        return package_dir.parent
    return Path(cwd or Path.cwd()).resolve()


PROJECT_ROOT = project_root()
DATA_DIR = PROJECT_ROOT / "data"
RUNS_DIR = PROJECT_ROOT / "runs"
# the runner's notebooks: the checkout's, even when GAN_AD_HOME puts data/ and runs/ elsewhere
NOTEBOOK_DIR = project_root(environ={}) / "notebooks"


class MissingStepError(RuntimeError):
    """Raised when a notebook needs a file that an earlier notebook writes."""


class DamagedFileError(MissingStepError):
    """Raised for a file of a run that is there but cannot be read: truncated, overwritten, from something else."""


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary name keeps the suffix (``.keras``, ``.png``, ``.npz`` ...) so that writers
    which infer the format from it keep working. On error the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as err:  # a full disk, a file-size limit: the previous version stays, and the file is named
            if not _is_write_error(err, tmp, path):
                raise  # an OSError of the block's own reading (a missing input, say) is its own
            sentence = f"{path} could not be written ({err.strerror or err}); its previous version, if any, is left as it was"
            raise (OSError(err.errno, sentence) if err.errno else OSError(sentence)) from err
    finally:
        tmp.unlink(missing_ok=True)


# what writing a file fails with, whichever library writes it (and whether or not it names the file)
WRITE_ERRORS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO)


def _is_write_error(err, tmp, path):
    """True for an OSError of writing ``tmp`` or of renaming it to ``path``: one that names either file, or one
    that only writing raises (a full disk, a file-size limit, a read-only file system)."""
    names = {str(f) for f in (err.filename, err.filename2) if f is not None}
    return bool(names & {str(tmp), str(path)}) or err.errno in WRITE_ERRORS


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return Path(path)


def read_json(path):
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text())


# The run folder's contract: every artefact a notebook leaves in runs/NAME/, and the notebook that writes it.
ARTEFACTS = {
    "split.json": "01_data_prep", "split.npz": "01_data_prep", "dataset.npz": "01_data_prep",
    "checkpoints": "02_train_gan", "history.csv": "02_train_gan", "train_config.json": "02_train_gan",
    "generator.keras": "02_train_gan", "discriminator.keras": "02_train_gan", "model.json": "02_train_gan",
    "detectors/anogan": "03_latent_inversion",
    "encoder.keras": "04_encoder", "encoder_history.csv": "04_encoder",
    "detectors/encoder": "04_encoder", "detectors/encoder_refined": "04_encoder",
    "detectors/encoder_memory": "04_encoder", "detectors/feature_knn": "04_encoder",
    "detectors/pca": "05_evaluation", "detectors/pixel_knn": "05_evaluation", "detectors/autoencoder": "05_evaluation",
    "test_scores.npz": "05_evaluation", "metrics.json": "05_evaluation",
    "parameters.json": "01_data_prep",  # each notebook adds its own parameters (Run.save_parameters)
}
# detector key -> the notebook that fits and calibrates it, in the order tables list them
DETECTOR_NOTEBOOKS = {name.split("/")[1]: notebook for name, notebook in ARTEFACTS.items() if name.startswith("detectors/")}


def artefact_of(path):
    """``(run_dir, name, notebook)`` for a path inside a run folder: the entry of :data:`ARTEFACTS` it is or lies in."""
    path = Path(path)
    found = [(len(relative), (run_dir, name, notebook)) for run_dir in path.parents for name, notebook in ARTEFACTS.items()
             if (relative := path.relative_to(run_dir).as_posix()) == name or relative.startswith(name + "/")]
    return max(found, key=lambda f: f[0])[1] if found else None  # detectors/anogan/generator.keras: the detector's


@contextmanager
def reading(path):
    """The one place a file of a run is opened: what a library raises for it (JSON, NumPy, zip, HDF5, Keras, pandas),
    missing, truncated or garbage, becomes a :class:`MissingStepError` or :class:`DamagedFileError` sentence that
    names the file and the notebook that writes it again.

    ``with reading(path): value = library.load(path)``; the block may raise ``ValueError`` itself for content
    that parses but is not what was written (a JSON list instead of a mapping, a table without its columns).
    """
    path = Path(path)
    try:
        yield path
    except MissingStepError:
        raise
    except FileNotFoundError:
        found = artefact_of(path)
        if found is None:
            raise
        raise MissingStepError(_missing_sentence(path, found[0], found[2])) from None
    except Exception as err:
        found = artefact_of(path)
        if found is None:
            raise
        run_dir, _, notebook = found
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        if "File not found" in reason and path.exists():  # what Keras says of a file that is there but not a .keras
            reason = "not a file Keras can open"
        reason = reason if len(reason) <= 120 else reason[:117] + "..."
        raise DamagedFileError(
            f"{path} is damaged and cannot be read ({reason}); notebooks/{notebook}.ipynb writes it: delete it and run "
            f"that notebook again with the same run_dir ({run_dir}), or `python -m gan_ad run --name NAME --from {notebook}`."
        ) from err


def load_json(path):
    """The mapping a JSON file of a run holds, read through :func:`reading`."""
    with reading(path):
        value = json.loads(Path(path).read_bytes())
        if not isinstance(value, dict):
            raise ValueError(f"a JSON {type(value).__name__}, not the mapping that was written")
    return value


def load_arrays(path, keys=None):
    """Map name -> array of an ``.npz`` file of a run (all of them, or ``keys``), read whole through :func:`reading`;
    an ``.npy`` file gives its one array."""
    with reading(path):
        if Path(path).suffix == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in (keys or f.files)}


def load_table(path):
    """A CSV of a run with one row per epoch (``history.csv``, ``encoder_history.csv``), read through :func:`reading`;
    a file cut short or without its ``epoch`` column is refused."""
    with reading(path):
        text = Path(path).read_bytes()
        if text and not text.endswith(b"\n"):
            raise ValueError("it ends in the middle of a line")
        table = pd.read_csv(path)
        if "epoch" not in table.columns or list(table["epoch"]) != list(range(len(table))):
            raise ValueError("not a table with one row per epoch from epoch 0")
    return table


def load_keras(path):
    """A Keras model saved as ``.keras`` in a run, read through :func:`reading`."""
    import keras  # here, not at the top: importing Keras starts TensorFlow, which the ground floor must not do for all

    with reading(path):
        if not Path(path).exists():
            raise FileNotFoundError(path)  # Keras says "File not found" for a file that is there but not a .keras
        return keras.models.load_model(path)


def _missing_sentence(path, run_dir, notebook):
    return (f"{path} does not exist. Run notebooks/{notebook}.ipynb first with the same "
            f"run_dir ({run_dir}), or run the pipeline up to it with `python -m gan_ad run --to {notebook}` "
            f"(in a notebook, as in a fresh Colab runtime: `!python -m gan_ad run --to {notebook}`).")


def require(run_dir, name):
    """Return ``run_dir/name`` (an entry of :data:`ARTEFACTS`), or stop with a sentence naming the notebook that writes it."""
    path = Path(run_dir) / name
    if not path.exists():
        raise MissingStepError(_missing_sentence(path, run_dir, ARTEFACTS[name]))
    return path


@contextmanager
def atomic_dir(path):
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` as a whole when the block succeeds.

    On error the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = path.with_name(f".tmp-{path.name}"), path.with_name(f".old-{path.name}")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
