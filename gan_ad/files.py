"""Files of a run: atomic writes, JSON, and the check that an earlier notebook ran.

Every artefact a notebook saves goes through :func:`atomic_path`, so an interrupted run
never leaves a half-written file behind: the data is written under a temporary name in the
same folder and renamed into place only once it is complete.
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
}


def require(run_dir, name):
    """Return ``run_dir/name`` (an entry of :data:`ARTEFACTS`), or stop with a sentence naming the notebook that writes it."""
    path = Path(run_dir) / name
    if not path.exists():
        notebook = ARTEFACTS[name]
        raise MissingStepError(
            f"{path} does not exist. Run notebooks/{notebook}.ipynb first with the same "
            f"run_dir ({run_dir}), or run the pipeline up to it with `python -m gan_ad run --to {notebook}` "
            f"(in a notebook, as in a fresh Colab runtime: `!python -m gan_ad run --to {notebook}`)."
        )
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
