"""Metrics: how well scores separate anomalies from normals, with ``sklearn.metrics``.

Explained in ``notebooks/05_evaluation.ipynb``. The threshold comes from validation normals
(a chosen false-alarm rate), never from the test set.
"""
import numpy as np
import pandas as pd
from sklearn import metrics


def threshold_at_false_alarm_rate(normal_scores, rate=0.05):
    """The score above which only ``rate`` of the given (validation) normals lie."""
    if not 0 < rate < 1:
        raise ValueError(f"The false-alarm rate must lie strictly between 0 and 1, got {rate}.")
    if len(normal_scores) == 0:
        raise ValueError("No normal scores to set a threshold on.")
    return float(np.quantile(normal_scores, 1 - rate))


def scored(scores, *arrays):
    """``scores`` and each of ``arrays`` where the scores are not NaN: the images a detector scored.

    Notebook 05 keeps one score per test image for every detector, NaN where it did not score (AnoGAN
    outside its sample), so ``scored(test_scores["anogan"], is_anomaly_test)`` gives what to measure it on.
    """
    scores = np.asarray(scores)
    keep = ~np.isnan(scores)
    return (scores[keep], *(np.asarray(a)[keep] for a in arrays))


def auroc(is_anomaly, scores):
    """AUROC of ``scores`` against ``is_anomaly``, or NaN when only one kind is present.

    A validation set without anomalies (a dataset whose anomalous classes appear only in its
    test set, see notebook 01) has no AUROC; the notebooks say so instead of failing.
    """
    is_anomaly = np.asarray(is_anomaly)
    if len(np.unique(is_anomaly)) != 2:
        return float("nan")
    return float(metrics.roc_auc_score(is_anomaly, scores))


def detection_metrics(is_anomaly, scores, threshold):
    """AUROC, AUPRC, and precision/recall/F1/accuracy/false-alarm rate at ``threshold`` (score > threshold = anomaly).

    Without anomalous examples (validation of normals only) only the accuracy and the false-alarm
    rate exist; the measures that need anomalies are NaN.
    """
    is_anomaly = np.asarray(is_anomaly)
    if not np.any(is_anomaly == 0):
        raise ValueError("Scoring needs normal examples; only anomalous ones were given "
                         "(AUROC needs both normal and anomalous examples).")
    flagged = np.asarray(scores) > threshold
    tn, fp, fn, tp = metrics.confusion_matrix(is_anomaly, flagged, labels=[0, 1]).ravel()
    if not np.any(is_anomaly == 1):
        nan = float("nan")
        return {"auroc": nan, "auprc": nan, "threshold": float(threshold), "precision": nan, "recall": nan, "f1": nan,
                "accuracy": float(tn / len(is_anomaly)), "false_alarm_rate": float(fp / (fp + tn)),
                "n_images": int(len(is_anomaly)), "n_anomalies": 0}
    return {
        "auroc": float(metrics.roc_auc_score(is_anomaly, scores)),
        "auprc": float(metrics.average_precision_score(is_anomaly, scores)),
        "threshold": float(threshold),
        "precision": float(metrics.precision_score(is_anomaly, flagged, zero_division=0)),
        "recall": float(metrics.recall_score(is_anomaly, flagged)),
        "f1": float(metrics.f1_score(is_anomaly, flagged)),
        "accuracy": float(metrics.accuracy_score(is_anomaly, flagged)),
        "false_alarm_rate": float(fp / (fp + tn)),
        "n_images": int(len(is_anomaly)),
        "n_anomalies": int(is_anomaly.sum()),
    }


def auroc_per_class(scores, digits, is_anomaly):
    """AUROC of all normals against each anomalous class alone, as a DataFrame indexed by class."""
    scores, digits, is_anomaly = map(np.asarray, (scores, digits, is_anomaly))
    normal = scores[is_anomaly == 0]
    rows = []
    for digit in np.unique(digits[is_anomaly == 1]):
        anomalous = scores[digits == digit]
        y = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
        rows.append({"digit": int(digit), "n_images": len(anomalous),
                     "auroc": float(metrics.roc_auc_score(y, np.r_[normal, anomalous]))})
    return pd.DataFrame(rows).set_index("digit")


def best_on_validation(values, fallback):
    """The key of ``values`` (key -> a validation measure, such as an AUROC) with the highest value; the first
    of equal ones. NaN values are passed over, and when every value is NaN (a validation set without
    anomalies has no AUROC) there is nothing to choose by: then ``fallback``.

    The one chooser of the project: the epoch of the GAN (notebook 02), the kNN's settings and the
    memory's k (notebook 04), the detector the demo judges with (notebook 05).
    """
    scored = {key: value for key, value in values.items() if not np.isnan(value)}
    return max(scored, key=scored.get) if scored else fallback


def auroc_per_pair(scores, digits, is_anomaly):
    """AUROC of each anomalous class against each normal class alone: a DataFrame, anomalous classes as rows.

    The cell (7, 1) near 0.5 says the scores cannot tell a 7 from a 1; the row's minimum names the normal class an
    anomalous one is most often taken for. A diagnosis beside :func:`auroc_per_class`, which pools the normals.
    """
    scores, digits, is_anomaly = map(np.asarray, (scores, digits, is_anomaly))
    normals, anomalies = np.unique(digits[is_anomaly == 0]), np.unique(digits[is_anomaly == 1])
    table = pd.DataFrame(index=pd.Index(anomalies.astype(int), name="anomalous"),
                         columns=pd.Index(normals.astype(int), name="normal"), dtype=float)
    for a in anomalies:
        for n in normals:
            pair = (digits == a) | (digits == n)
            table.loc[int(a), int(n)] = float(metrics.roc_auc_score(digits[pair] == a, scores[pair]))
    return table
