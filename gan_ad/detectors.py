"""Detectors: one interface for every anomaly score of the project, in the spirit of scikit-learn and PyOD.

Every scorer, GAN-based or baseline, is a :class:`Detector`:

- ``fit(images)`` learns from training normals (a GAN score has nothing to learn beyond its
  networks, trained in notebooks 02 and 04, so its ``fit`` only checks the images);
- ``score(images)`` gives one anomaly score per image, higher = more anomalous;
- ``calibrate(val_images, val_is_anomaly, false_alarm_rate)`` sets the threshold on *validation*
  normals (and records the validation metrics); ``predict(images)`` then says 1 (anomaly) or 0;
- ``explain(images)`` shows why: a reconstruction and its residual, or the nearest training digits;
- ``save(folder)`` and :func:`load` keep a fitted, calibrated detector, its networks and index included.

The detectors themselves live beside the idea they implement: AnoGAN's search in
``gan_ad.inversion`` (notebook 03), the encoder scores in ``gan_ad.encoder`` and the kNN in the
discriminator's features in ``gan_ad.baselines`` (notebook 04), the baselines in
``gan_ad.baselines`` (notebook 05). A run keeps each in ``RUN/detectors/KEY/``;
:func:`load_run_detectors` and :func:`best_on_validation` are the one way the evaluation, the
benchmark and the demo read them.
"""
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .files import ARTEFACTS, RUNS_DIR, DamagedFileError, MissingStepError, atomic_dir, load_arrays, load_json, load_keras, require

FORMAT = 1  # raised when the saved layout changes, so that older detector folders are refused
GAN, BASELINE = "GAN score", "baseline"
# key -> the notebook that fits and calibrates that detector, in the order tables list them
NOTEBOOKS = {name.split("/")[1]: notebook for name, notebook in ARTEFACTS.items() if name.startswith("detectors/")}
FITTING_NOTEBOOKS = sorted(set(NOTEBOOKS.values()))  # the notebooks that fit detectors, in course order
_CLASSES = {}


class DetectorError(RuntimeError):
    """Raised for a detector that is missing, unreadable, uncalibrated or from another run."""


class DamagedDetectorError(DetectorError, DamagedFileError):
    """Raised for a file of a saved detector that cannot be read; its sentence names the file and the notebook."""


@dataclass
class Explanation:
    """Why a detector scored images as it did; fields a detector does not produce stay ``None``."""

    scores: np.ndarray                          # (N,) the anomaly scores
    reconstructions: np.ndarray = None          # (N, 28, 28, 1) in [-1, 1]: the closest image the model can make
    residuals: np.ndarray = None                # (N, 28, 28, 1) in [0, 2]: |x - reconstruction|
    neighbours: np.ndarray = None               # (N, k, 28, 28, 1) in [-1, 1]: the nearest training images
    neighbour_distances: np.ndarray = None      # (N, k) their distances


def check_images(images):
    """Return ``images`` as float32, or raise unless they are a non-empty batch of shape (N, 28, 28, 1)."""
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1) or len(images) == 0:
        raise ValueError(f"Expected images of shape (N, 28, 28, 1) scaled to [-1, 1], got {images.shape}.")
    return images


class Detector:
    """Base class: subclasses set ``key``, ``kind`` and ``label`` and implement ``_score``.

    Subclasses with learnt state implement ``_fit`` and ``_save_state``/``_load_state``; those that
    can show their reasoning implement ``explain``. ``settings`` holds the constructor arguments
    that are plain values (saved as JSON); ``threshold`` is ``None`` until :meth:`calibrate`.
    """

    key = kind = label = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.key:
            _CLASSES[cls.key] = cls

    def __init__(self, **settings):
        self.settings = settings
        self.threshold = self.false_alarm_rate = None
        self.validation, self.normal_scores, self.info = {}, np.empty(0, "float32"), {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"

    def fit(self, images):
        """Learn from (normal) training images; returns self. The seconds it took go to ``info["fit_seconds"]``."""
        start = time.perf_counter()
        self._fit(images)
        self.info["fit_seconds"] = time.perf_counter() - start
        return self

    def _fit(self, images):
        check_images(images)  # a GAN score learns nothing beyond its networks, trained in notebooks 02 and 04

    def score(self, images):
        """Anomaly score of each image (N, 28, 28, 1) in [-1, 1], shape (N,); higher = more anomalous."""
        return np.asarray(self._score(check_images(images)), dtype="float64")

    def _score(self, images):
        return self.explain(images).scores

    def explain(self, images):
        """An :class:`Explanation` of the scores of ``images``."""
        return Explanation(self.score(images))

    def set_params(self, **changes):
        """Change settings (as scikit-learn's ``set_params``); the threshold is dropped, as it belonged to the old ones."""
        unknown = sorted(set(changes) - set(self.settings))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no setting {unknown}; its settings are {sorted(self.settings)}.")
        self.settings.update(changes)
        self.threshold, self.validation, self.normal_scores = None, {}, np.empty(0, "float32")
        return self

    def calibrate(self, images, is_anomaly, false_alarm_rate=0.05, scores=None):
        """Set the threshold so that ``false_alarm_rate`` of the *validation* normals among ``images`` lie above it.

        ``is_anomaly`` (N,) labels the images; the anomalies only enter the validation metrics
        recorded in ``validation``. ``scores`` may pass this detector's scores of these very images,
        already computed. Returns the scores.
        """
        is_anomaly = np.asarray(is_anomaly)
        scores = self.score(images) if scores is None else np.asarray(scores, "float64")
        if len(scores) != len(is_anomaly):
            raise ValueError(f"{len(scores)} scores for {len(is_anomaly)} labels.")
        normal = np.sort(scores[is_anomaly == 0])
        self.threshold = metrics.threshold_at_false_alarm_rate(normal, false_alarm_rate)
        self.false_alarm_rate, self.normal_scores = false_alarm_rate, normal
        self.validation = metrics.detection_metrics(is_anomaly, scores, self.threshold)  # NaN AUROC without anomalies
        return scores

    def predict(self, images=None, scores=None):
        """1 for an anomaly (score above the validation threshold), else 0, for ``images`` or given ``scores``."""
        if self.threshold is None:
            raise DetectorError(f"{self.label} has no threshold yet: call calibrate() on validation images first.")
        scores = self.score(images) if scores is None else np.asarray(scores)
        return (scores > self.threshold).astype("int32")

    def percentile(self, scores):
        """Share (in %) of the validation normals that score below each of ``scores``."""
        if not len(self.normal_scores):
            raise DetectorError(f"{self.label} has no validation scores yet: call calibrate() first.")
        return 100 * np.searchsorted(self.normal_scores, np.atleast_1d(scores)) / len(self.normal_scores)

    def save(self, folder, split=None):
        """Save the detector into ``folder`` (replaced as a whole, never half-written); returns the folder.

        ``split`` (see :func:`split_fingerprint`) ties it to the data split it was fitted on.
        """
        with atomic_dir(folder) as tmp:
            self._save_state(tmp)
            np.save(tmp / "normal_scores.npy", self.normal_scores)
            (tmp / "detector.json").write_text(json.dumps({
                "format": FORMAT, "key": self.key, "kind": self.kind, "label": self.label, "settings": self.settings,
                "threshold": self.threshold, "false_alarm_rate": self.false_alarm_rate, "validation": self.validation,
                "info": self.info, "split": split}, indent=2, sort_keys=True) + "\n")
        return Path(folder)

    def _save_state(self, folder):
        """Write what ``fit`` learnt (networks, index) into ``folder``."""

    @classmethod
    def _from_folder(cls, folder, settings):
        """A detector with ``settings`` and the state saved in ``folder``."""
        return cls(**settings)


def save_networks(folder, **networks):
    """Save Keras models as ``folder/NAME.keras``."""
    for name, model in networks.items():
        model.save(folder / f"{name}.keras")


def load_networks(folder, *names):
    """The Keras models that :func:`save_networks` wrote, in the order of ``names``."""
    return [load_keras(folder / f"{name}.keras") for name in names]


def load(folder):
    """A detector saved with :meth:`Detector.save`, its threshold and validation record included.

    Raises :class:`DetectorError` for a missing, unreadable or outdated folder.
    """
    from . import baselines, encoder, inversion  # noqa: F401  (they define the detector classes)

    folder = Path(folder)
    refit = "Fit it again (notebook {nb}, or `python -m gan_ad run --name NAME --from {nb}` for a whole run)."
    if not (folder / "detector.json").exists():
        raise DetectorError(f"{folder} holds no detector (no detector.json).")
    try:
        record = load_json(folder / "detector.json")
    except DamagedFileError as err:
        raise DamagedDetectorError(str(err)) from err
    except (OSError, ValueError) as err:  # a detector folder outside a run
        raise DetectorError(f"{folder}/detector.json cannot be read ({err}).") from err
    key = record.get("key")
    if record.get("format") != FORMAT or key not in _CLASSES:
        raise DetectorError(f"{folder} was saved by another version of gan_ad (format {record.get('format')}, key {key!r}). "
                            + refit.format(nb=NOTEBOOKS.get(key, FITTING_NOTEBOOKS[0])))
    try:
        detector = _CLASSES[key]._from_folder(folder, record["settings"])
        detector.normal_scores = load_arrays(folder / "normal_scores.npy")
    except MissingStepError as err:  # a file of the folder, missing, truncated or garbage: named, with its notebook
        raise DamagedDetectorError(str(err)) from err
    except Exception as err:  # files that load but do not fit together
        raise DetectorError(f"{folder} is damaged ({type(err).__name__}: {err}). " + refit.format(nb=NOTEBOOKS[key])) from err
    detector.threshold, detector.false_alarm_rate = record["threshold"], record["false_alarm_rate"]
    detector.validation, detector.info, detector.split = record["validation"], record["info"], record["split"]
    return detector


def split_fingerprint(run_dir):
    """A short hash of a run's split (dataset, classes and image indices): the same only for the same split."""
    config = load_json(require(run_dir, "split.json"))
    digest = hashlib.sha256(json.dumps([config["dataset"], config["normal_digits"], config["anomaly_digits"]]).encode())
    parts = load_arrays(require(run_dir, "split.npz"), ["train", "val", "test"])
    for part in ("train", "val", "test"):
        digest.update(np.ascontiguousarray(parts[part], dtype="int64").tobytes())
    return digest.hexdigest()[:16]


def save_to_run(detector, run_dir):
    """Save ``detector`` as ``run_dir/detectors/KEY``, tied to the run's split; returns the folder."""
    return detector.save(Path(run_dir) / "detectors" / detector.key, split=split_fingerprint(run_dir))


def load_from_run(run_dir, key, split=None):
    """The fitted detector ``key`` of a run; refuses one from another split with a sentence saying what to do.

    ``split`` is the run's :func:`split_fingerprint`, when the caller has it already.
    """
    run_dir = Path(run_dir)
    check_run(run_dir, [key])
    folder = run_dir / "detectors" / key
    detector = load(folder)
    if detector.split != (split or split_fingerprint(run_dir)):
        raise DetectorError(f"{folder} was fitted on another split than {run_dir}'s (its notebook 01 ran again since). "
                            f"Run notebooks/{NOTEBOOKS[key]}.ipynb again on this run_dir.")
    return detector


def check_run(run_dir, keys=None):
    """Raise :class:`DetectorError` (saying what to run) unless the run has saved each of ``keys`` (default: all)."""
    run_dir = Path(run_dir)
    for key in keys or NOTEBOOKS:
        if key not in NOTEBOOKS:
            raise DetectorError(f"There is no detector {key!r}; the detectors are {', '.join(NOTEBOOKS)}.")
        if not (run_dir / "detectors" / key / "detector.json").exists():
            raise DetectorError(_missing(run_dir, key))


def _missing(run_dir, key):
    if (run_dir / "generator.keras").exists() and not (run_dir / "detectors").exists():
        try:
            how = f"`python -m gan_ad run --name {run_dir.resolve().relative_to(RUNS_DIR)} --from {FITTING_NOTEBOOKS[0]}`"
        except ValueError:  # a run outside runs/
            how = f"notebooks {', '.join(nb[:2] for nb in FITTING_NOTEBOOKS[:-1])} and {FITTING_NOTEBOOKS[-1][:2]} on it again"
        return f"{run_dir} was made before detectors were saved in run folders. Refit them, keeping its GAN, with {how}."
    return (f"{run_dir} has no fitted detector {key!r} ({run_dir / 'detectors' / key / 'detector.json'} does not exist). "
            f"Run notebooks/{NOTEBOOKS[key]}.ipynb first with this "
            f"run_dir, or the whole pipeline with `python -m gan_ad run`.")


def load_run_detectors(run_dir, keys=None):
    """Map key -> fitted detector for ``keys`` (default: all of them), in the order of :data:`NOTEBOOKS`."""
    keys = keys or NOTEBOOKS
    check_run(run_dir, keys)  # a missing one is said before any is loaded
    split = split_fingerprint(run_dir)  # the split is read and hashed once, not once per detector
    return {key: load_from_run(run_dir, key, split) for key in keys}


def best_on_validation(detectors):
    """The key of the detector with the highest *validation* AUROC (never the test set's).

    A validation set without anomalies (notebook 01) gives no AUROC to choose by: then the feature
    kNN, the strongest detector on MNIST, or else the first detector.
    """
    scored = {key: d.validation["auroc"] for key, d in detectors.items() if not np.isnan(d.validation.get("auroc", np.nan))}
    if not detectors:
        raise DetectorError("There are no detectors to choose from.")
    if not scored:
        return "feature_knn" if "feature_knn" in detectors else next(iter(detectors))
    return max(scored, key=scored.get)

