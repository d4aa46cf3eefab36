"""Runs: :class:`Run`, the one reader of a run folder, and the writer of its records (``model.json``, ``metrics.json``).

A run folder holds what the notebooks left in it (:data:`gan_ad.files.ARTEFACTS`). Every reader of
a run (the notebooks, the benchmark, the demo, the sweep) goes through :class:`Run`; it stands above
everything it reads (the split, the networks, the encoder, the detectors), so nothing below it
imports it. The parameters of a run are recorded once, in ``parameters.json``
(:meth:`Run.save_parameters`); ``metrics.json`` names that file instead of copying it.
"""
from pathlib import Path

from . import environment
from .data import load_split
from .files import load_arrays, load_json, load_table, require, write_json
from .params import PIPELINE, notebook_names

# The readers of networks (models, encoder, detectors) start TensorFlow, which takes seconds and hundreds of MB; they are
# imported by the methods that need them, so that what only reads records (notebook 01, the runner, a sweep, grading)
# starts without it. They are floors below this one (pyproject.toml), so this defers weight and dodges no circle.

PARAMETERS_FILE = "parameters.json"  # the one record of the parameters each notebook ran with
MONITORS = ("val_auroc_anogan", "val_auroc_features")  # the columns of history.csv that model.json keeps for the kept epoch


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
        """The path of artefact ``name`` (a key of :data:`gan_ad.files.ARTEFACTS`), which must exist."""
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
        return load_split(self.dir, part)

    def models(self):
        """The ``(generator, discriminator)`` of the epoch notebook 02 kept."""
        from .training import load_models  # TensorFlow (see the imports above)

        return load_models(self.dir)

    def encoder(self):
        """The encoder notebook 04 trained."""
        from .encoder import load_encoder  # TensorFlow (see the imports above)

        return load_encoder(self.dir)

    def detector(self, key):
        """The fitted, calibrated detector ``key`` (:func:`gan_ad.detectors.load_from_run`)."""
        from .detectors import load_from_run  # TensorFlow (see the imports above)

        return load_from_run(self.dir, key)

    def detectors(self, keys=None):
        """Map key -> fitted detector for ``keys`` (default: all), in the order of the tables."""
        from .detectors import load_run_detectors  # TensorFlow (see the imports above)

        return load_run_detectors(self.dir, keys)

    def save_model(self, history, epoch, select_epoch, config):
        """Write ``model.json`` (notebook 02): the kept ``epoch``, how it was chosen (``select_epoch``), the epochs trained,
        the monitors' validation AUROCs at that epoch (from ``history``, the DataFrame of :func:`gan_ad.training.fit_gan`)
        and the training ``config``. Returns the record."""
        record = {"epoch": epoch, "select_epoch": select_epoch, "epochs": int(history["epoch"].max()),
                  **history.set_index("epoch").loc[epoch, list(MONITORS)].to_dict(), **config}
        write_json(self.dir / "model.json", record)
        return record

    def metrics(self):
        """Notebook 05's test and validation metrics (``metrics.json``); it is written last, so it marks a finished run."""
        return self.settings("metrics.json")

    def forget_metrics(self):
        """Remove ``metrics.json``, so that the run counts as unfinished until notebook 05 writes it again."""
        (self.dir / "metrics.json").unlink(missing_ok=True)

    def save_metrics(self, metrics):
        """Write ``metrics`` as this run's ``metrics.json`` (a sweep's copy of what a remote worker computed) and return its path."""
        return write_json(self.dir / "metrics.json", metrics)

    def save_evaluation(self, detectors, rows, best, per_digit):
        """Write ``metrics.json`` (notebook 05) and return its path; its schema is defined here, once.

        ``detectors``: key -> fitted detector; ``rows``: key -> its test metrics (label, kind, AUROC ...);
        ``best``: the key chosen on validation; ``per_digit``: the test AUROC per anomalous class (a DataFrame, one
        column per key). Beside them it keeps each detector's validation metrics and settings, notebook 02's
        ``model.json``, notebook 01's ``split.json`` and what decides the floats (:func:`gan_ad.environment.describe`).
        The parameters stay in ``parameters.json``, which ``"parameters"`` names.
        """
        return self.save_metrics({
            "detectors": rows, "best_on_validation": best, "validation": {k: d.validation for k, d in detectors.items()},
            "settings": {k: d.settings for k, d in detectors.items()}, "auroc_per_digit": per_digit.to_dict(),
            "model": self.settings("model.json"), "split": self.settings("split.json"),
            "environment": environment.describe(), "parameters": PARAMETERS_FILE})

    def parameters(self):
        """Map notebook -> the parameters it ran with (``parameters.json``)."""
        return self.settings(PARAMETERS_FILE)

    def save_parameters(self, notebook, namespace):
        """Record the parameters of ``notebook`` (the names its ``parameters`` cell declares, their values in
        ``namespace``, e.g. ``globals()``) in ``parameters.json``. The records of later notebooks are dropped:
        what they made belongs to the run before this one."""
        earlier = PIPELINE[:PIPELINE.index(notebook)]
        recorded = {nb: p for nb, p in (self.parameters() if earlier else {}).items() if nb in earlier}
        recorded[notebook] = {name: namespace[name] for name in notebook_names(notebook) if name != "run_dir"}
        write_json(self.dir / PARAMETERS_FILE, recorded)
