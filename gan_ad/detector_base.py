"""The detector protocol: one interface for every anomaly score of the project, in the spirit of scikit-learn and PyOD.

Every scorer, GAN-based or baseline, is a :class:`Detector`:

- ``fit(images)`` learns from training normals (a GAN score has nothing to learn beyond its
  networks, trained in notebooks 02 and 04, so its ``fit`` only checks the images);
- ``score(images)`` gives one anomaly score per image, higher = more anomalous;
- ``calibrate(val_images, val_is_anomaly, false_alarm_rate)`` sets the threshold on *validation*
  normals (and records the validation metrics); ``predict(images)`` then says 1 (anomaly) or 0;
- ``explain(images)`` shows why: a reconstruction and its residual, or the nearest training digits;
- ``save(folder)`` keeps a fitted, calibrated detector, its networks and index included
  (:func:`gan_ad.detectors.load` reads it back).

A subclass implements exactly one of two methods: ``_score(images)`` (the scores) or
``explain(images)`` (an :class:`Explanation`, whose scores ``score`` then returns). Either way,
``score`` and ``explain`` check the images first. The detectors themselves live beside the idea they
implement: AnoGAN's search in ``gan_ad.inversion``, the encoder scores in ``gan_ad.encoder``, the kNN
and the baselines in ``gan_ad.baselines``; ``gan_ad.detectors`` lists them all (key -> class -> notebook).
"""
import abc
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .files import DamagedFileError, atomic_dir, load_keras

FORMAT = 1  # raised when the saved layout changes, so that older detector folders are refused
GAN, BASELINE = "GAN score", "baseline"


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


class Detector(abc.ABC):
    """Base class: subclasses set ``key``, ``kind`` and ``label`` and implement :meth:`_explain`.

    ``_explain(images)`` gets checked images and returns an :class:`Explanation` (at least its
    ``scores``); it is the one method a subclass must implement; a class without it cannot be made
    (``TypeError``). A subclass may also implement ``_score`` when the scores alone come cheaper than
    an explanation; ``_check`` when it takes other inputs than images (the kNN takes feature vectors
    too); ``_fit`` and ``_save_state``/``_from_folder`` when it has learnt state. The public
    ``fit``, ``score`` and ``explain`` always check their input with ``_check`` first.
    ``settings`` holds the constructor arguments that are plain values (saved as JSON);
    ``threshold`` is ``None`` until :meth:`calibrate`.
    """

    key = kind = label = None

    def __init__(self, **settings):
        self.settings = settings
        self.threshold = self.false_alarm_rate = None
        self.validation, self.normal_scores, self.info = {}, np.empty(0, "float32"), {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"

    def fit(self, images):
        """Learn from (normal) training images; returns self. The seconds it took go to ``info["fit_seconds"]``."""
        start = time.perf_counter()
        self._fit(self._check(images))
        self.info["fit_seconds"] = time.perf_counter() - start
        return self

    def score(self, images):
        """Anomaly score of each image (N, 28, 28, 1) in [-1, 1], shape (N,); higher = more anomalous."""
        return np.asarray(self._score(self._check(images)), dtype="float64")

    def explain(self, images):
        """An :class:`Explanation` of the scores of ``images``."""
        return self._explain(self._check(images))

    def _check(self, images):
        """The input as the detector takes it (float32 images of shape (N, 28, 28, 1)), or ``ValueError``."""
        return check_images(images)

    def _fit(self, images):
        """Learn from checked training images; a GAN score learns nothing beyond its networks (notebooks 02 and 04)."""

    def _score(self, images):
        """The scores of checked images: by default, those of :meth:`_explain`."""
        return self._explain(images).scores

    @abc.abstractmethod
    def _explain(self, images):
        """An :class:`Explanation` of checked images: the scores, and what the detector can show of why."""

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

        ``split`` (see :func:`gan_ad.detectors.split_fingerprint`) ties it to the data split it was fitted on.
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
