"""Detectors: the registry of every detector (key -> class -> notebook), and a run's fitted detectors.

The protocol every detector follows is :class:`gan_ad.detector_base.Detector` (``fit``, ``score``,
``calibrate``, ``predict``, ``explain``, ``save``); the detectors live beside the idea they implement:
AnoGAN's search in ``gan_ad.inversion`` (notebook 03), the encoder scores in ``gan_ad.encoder`` and
the kNN in the discriminator's features in ``gan_ad.baselines`` (notebook 04), the baselines in
``gan_ad.baselines`` (notebook 05). :data:`CLASSES` lists them all; :data:`NOTEBOOKS` says which
notebook fits each (the run folder's contract, :data:`gan_ad.files.ARTEFACTS`). A run keeps each in
``RUN/detectors/KEY/``; :func:`load` reads one folder back, and :func:`load_run_detectors` and
:func:`best_on_validation` are the one way the evaluation, the benchmark and the demo read them.
"""
import hashlib
import json
from pathlib import Path

import numpy as np

from . import metrics
from .baselines import ConvAutoencoder, FeatureKNN, KNNDistance, PCAReconstruction
from .detector_base import (BASELINE, FORMAT, GAN, DamagedDetectorError, Detector, DetectorError,  # noqa: F401 (the API)
                            Explanation, check_images)
from .encoder import EncoderMemory, EncoderScore, EncoderSearch
from .files import DETECTOR_NOTEBOOKS as NOTEBOOKS, RUNS_DIR, DamagedFileError, MissingStepError, load_arrays, load_json, require
from .inversion import AnoGAN

FITTING_NOTEBOOKS = sorted(set(NOTEBOOKS.values()))  # the notebooks that fit detectors, in course order
# key -> the class of that detector, in the same order
CLASSES = {cls.key: cls for cls in (AnoGAN, EncoderScore, EncoderSearch, EncoderMemory, FeatureKNN,
                                    PCAReconstruction, KNNDistance, ConvAutoencoder)}
if list(CLASSES) != list(NOTEBOOKS):
    raise ImportError(f"gan_ad.detectors.CLASSES lists {list(CLASSES)}, the run folder's contract {list(NOTEBOOKS)}; keep them alike.")


def load(folder):
    """A detector saved with :meth:`Detector.save`, its threshold and validation record included.

    Raises :class:`DetectorError` for a missing, unreadable or outdated folder.
    """
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
    if record.get("format") != FORMAT or key not in CLASSES:
        raise DetectorError(f"{folder} was saved by another version of gan_ad (format {record.get('format')}, key {key!r}). "
                            + refit.format(nb=NOTEBOOKS.get(key, FITTING_NOTEBOOKS[0])))
    try:
        detector = CLASSES[key]._from_folder(folder, record["settings"])
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
    kNN, the strongest detector on MNIST, or else the first detector (:func:`gan_ad.metrics.best_on_validation`).
    """
    if not detectors:
        raise DetectorError("There are no detectors to choose from.")
    fallback = "feature_knn" if "feature_knn" in detectors else next(iter(detectors))
    return metrics.best_on_validation({key: d.validation.get("auroc", np.nan) for key, d in detectors.items()}, fallback)
