"""Files of a run: the run folder's contract (:data:`ARTEFACTS`, :class:`Run`), atomic writes, JSON.

Every artefact a notebook saves goes through :func:`atomic_path`, so an interrupted run
never leaves a half-written file behind: the data is written under a temporary name in the
same folder and renamed into place only once it is complete. Every reader of a run (the
notebooks, the benchmark, the demo, the sweep) goes through :class:`Run`.
"""
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


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
        yield tmp
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a file-size limit: the previous version stays, and the file is named
        sentence = f"{path} could not be written ({err.strerror or err}); its previous version, if any, is left as it was"
        raise (OSError(err.errno, sentence) if err.errno else OSError(sentence)) from err
    finally:
        tmp.unlink(missing_ok=True)


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
    import numpy as np

    with reading(path):
        if Path(path).suffix == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in (keys or f.files)}


def load_table(path):
    """A CSV of a run with one row per epoch (``history.csv``, ``encoder_history.csv``), read through :func:`reading`;
    a file cut short or without its ``epoch`` column is refused."""
    import pandas as pd

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
    import keras

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


class Run:
    """A run folder, read through its contract: what the notebooks left in it, and how to read each thing.

    ``Run("runs/default").split("val")`` gives the validation images, digits and labels;
    ``models()`` the generator and discriminator; ``encoder()``; ``detector("anogan")`` and
    ``detectors()`` the fitted detectors; ``settings("model.json")`` a notebook's record of what
    it did; ``parameters()`` the parameters each notebook ran with, under their names in its
    ``parameters`` cell; ``metrics()`` notebook 05's results (``save_metrics`` writes them). What is
    missing is refused with a sentence naming the notebook that writes it.
    """

    def __init__(self, run_dir):
        self.dir = Path(run_dir).resolve()

    def __repr__(self):
        return f"Run({str(self.dir)!r})"

    def path(self, name):
        """The path of artefact ``name`` (a key of :data:`ARTEFACTS`), which must exist."""
        return require(self.dir, name)

    def settings(self, name):
        """The content of a JSON artefact: ``split.json``, ``model.json``, ``train_config.json``, ``metrics.json``."""
        return load_json(self.path(name))

    def table(self, name):
        """A CSV artefact with one row per epoch: ``history.csv`` (notebook 02), ``encoder_history.csv`` (04)."""
        return load_table(self.path(name))

    def arrays(self, name):
        """Map name -> array of an ``.npz`` artefact, e.g. ``test_scores.npz`` (notebook 05's scores of every detector)."""
        return load_arrays(self.path(name))

    def split(self, part):
        """``(images, digits, is_anomaly)`` of ``train``, ``val`` or ``test`` (:func:`gan_ad.data.load_split`)."""
        from .data import load_split

        return load_split(self.dir, part)

    def models(self):
        """The ``(generator, discriminator)`` of the epoch notebook 02 kept."""
        from .training import load_models

        return load_models(self.dir)

    def encoder(self):
        """The encoder notebook 04 trained."""
        from .encoder import load_encoder

        return load_encoder(self.dir)

    def detector(self, key):
        """The fitted, calibrated detector ``key`` (:func:`gan_ad.detectors.load_from_run`)."""
        from .detectors import load_from_run

        return load_from_run(self.dir, key)

    def detectors(self, keys=None):
        """Map key -> fitted detector for ``keys`` (default: all), in the order of the tables."""
        from .detectors import load_run_detectors

        return load_run_detectors(self.dir, keys)

    def metrics(self):
        """Notebook 05's test and validation metrics (``metrics.json``); it is written last, so it marks a finished run."""
        return self.settings("metrics.json")

    def forget_metrics(self):
        """Remove ``metrics.json``, so that the run counts as unfinished until notebook 05 writes it again."""
        (self.dir / "metrics.json").unlink(missing_ok=True)

    def save_metrics(self, metrics):
        """Write ``metrics`` as this run's ``metrics.json`` (notebook 05; a sweep's copy of what a remote worker computed)
        and return its path."""
        return write_json(self.dir / "metrics.json", metrics)

    def parameters(self):
        """Map notebook -> the parameters it ran with (``parameters.json``)."""
        return self.settings("parameters.json")

    def save_parameters(self, notebook, namespace):
        """Record the parameters of ``notebook`` (the names its ``parameters`` cell declares, their values in
        ``namespace``, e.g. ``globals()``) in ``parameters.json``. The records of later notebooks are dropped:
        what they made belongs to the run before this one."""
        from .runner import PIPELINE, notebook_parameters

        path = self.dir / "parameters.json"
        earlier = PIPELINE[:PIPELINE.index(notebook)]
        recorded = {nb: p for nb, p in (load_json(require(self.dir, "parameters.json")) if earlier else {}).items() if nb in earlier}
        recorded[notebook] = {name: namespace[name] for name in notebook_parameters(notebook) if name != "run_dir"}
        write_json(path, recorded)
