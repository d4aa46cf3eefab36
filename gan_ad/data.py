"""Data: load MNIST (or Fashion-MNIST), split it into normals and anomalies, feed it to Keras.

Explained in ``notebooks/01_data_prep.ipynb``.

Protocol: the GAN trains on the normal classes of the training set minus a held-out share.
Validation (monitoring, thresholds, model choices) is that held-out share plus training-set
anomalies. The test set is touched only by the evaluation notebook.
"""
import numpy as np
import tensorflow as tf

from .files import DATA_DIR, atomic_path, read_json, require, write_json

DATASETS = ("mnist", "fashion_mnist")
KEYS = ("x_train", "y_train", "x_test", "y_test")
NUM_CLASSES = 10


class DataError(ValueError):
    """Raised for a missing, corrupt or inconsistent data file or split."""


def load_dataset(name="mnist", data_dir=DATA_DIR):
    """Return ``(x_train, y_train, x_test, y_test)`` as uint8 arrays for dataset ``name``.

    Reads ``data_dir/NAME.npz`` when present; otherwise downloads it with
    ``keras.datasets`` and caches it there. The arrays are checked (keys, shapes, dtype,
    labels) and a bad file raises :class:`DataError` naming the file and the fix.
    """
    if name not in DATASETS:
        raise DataError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    path = data_dir / f"{name}.npz"
    if not path.exists():
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return read_npz(path)


def load_mnist(data_dir=DATA_DIR):
    """Return MNIST as ``(x_train, y_train, x_test, y_test)``; see :func:`load_dataset`."""
    return load_dataset("mnist", data_dir)


def read_npz(path):
    """Read and validate a Keras-style dataset file; return its four arrays."""
    fix = f"Delete {path} and run again to download a fresh copy (or copy a good one there)."
    try:
        with np.load(path) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path} lacks the arrays {missing}. {fix}")
            arrays = tuple(f[k] for k in KEYS)
    except DataError:
        raise
    except Exception as err:  # zip/pickle/format errors all mean the same to the user
        raise DataError(f"{path} is not a readable .npz file ({err}). {fix}") from err
    for (x, y), part in ((arrays[:2], "train"), (arrays[2:], "test")):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{path}: x_{part} should be uint8 of shape (N, 28, 28), got {x.dtype} {x.shape}. {fix}")
        if y.shape != (len(x),) or y.size == 0 or y.min() < 0 or y.max() >= NUM_CLASSES:
            raise DataError(f"{path}: y_{part} should hold {len(x)} labels in 0-9, got shape {y.shape}. {fix}")
    return arrays


def check_digits(normal_digits, anomaly_digits=None):
    """Validate the class choice; return ``(normal, anomaly)`` as sorted tuples.

    ``anomaly_digits=None`` means every class that is not normal.
    """
    normal = _class_tuple(normal_digits, "normal_digits")
    anomaly = tuple(d for d in range(NUM_CLASSES) if d not in normal) if anomaly_digits is None else _class_tuple(anomaly_digits, "anomaly_digits")
    overlap = sorted(set(normal) & set(anomaly))
    if overlap:
        raise DataError(f"Classes {overlap} are both normal and anomalous; each class can be only one.")
    if not anomaly:
        raise DataError("Every class is normal, so there is nothing to detect; leave at least one class out of normal_digits.")
    return normal, anomaly


def _class_tuple(digits, what):
    digits = list(digits)
    if not digits:
        raise DataError(f"{what} is empty; give at least one class index (0-9).")
    bad = [d for d in digits if not isinstance(d, (int, np.integer)) or not 0 <= d < NUM_CLASSES]
    if bad:
        raise DataError(f"{what} holds {bad}, which are not class indices 0-9.")
    if len(set(digits)) != len(digits):
        raise DataError(f"{what} lists a class twice: {digits}.")
    return tuple(sorted(int(d) for d in digits))


def make_split(y_train, y_test, normal_digits=(0, 1, 2, 3, 4), anomaly_digits=None,
               val_fraction=0.1, max_val=0, max_train=0, max_test=0, seed=0):
    """Choose the indices of the training, validation and test images.

    - train: normal training-set images minus a held-out ``val_fraction`` (``max_train`` > 0 caps it);
    - val: the held-out normals plus as many training-set anomalies (``max_val`` > 0 caps the
      total at ``max_val // 2`` of each, leaving the other held-out normals unused);
    - test: all test images of the chosen classes (``max_test`` > 0 takes a random subset).

    Returns a dict of index arrays ``train``, ``val``, ``test`` (into the train/test arrays).
    """
    normal, anomaly = check_digits(normal_digits, anomaly_digits)
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}.")
    rng = np.random.default_rng(seed)
    normals = rng.permutation(np.flatnonzero(np.isin(y_train, normal)))
    n_held = int(round(val_fraction * len(normals)))
    held, train = normals[:n_held], normals[n_held:]
    n_val = min(n_held, max_val // 2) if max_val else n_held
    anomalies = rng.permutation(np.flatnonzero(np.isin(y_train, anomaly)))[:n_val]
    test = np.flatnonzero(np.isin(y_test, normal + anomaly))
    if max_test:
        test = np.sort(rng.choice(test, size=min(max_test, len(test)), replace=False))
    split = {
        "train": np.sort(train[:max_train] if max_train else train),
        "val": np.sort(np.concatenate([held[:n_val], anomalies])),
        "test": test,
    }
    empty = [k for k, v in split.items() if len(v) == 0]
    if empty or n_val == 0:
        raise DataError(f"The split leaves {empty or ['val']} empty; raise val_fraction, max_val or the size caps.")
    return split


def scale(images):
    """Map uint8 images (N, 28, 28) to float32 (N, 28, 28, 1) in [-1, 1], the generator's range."""
    return (images.astype("float32")[..., None] / 127.5) - 1.0


def save_split(run_dir, split, config):
    """Save a split (``split.npz``) and its settings (``split.json``) into ``run_dir``."""
    with atomic_path(run_dir / "split.npz") as tmp:
        np.savez(tmp, **split)
    counts = {k: int(len(v)) for k, v in split.items()}
    write_json(run_dir / "split.json", {**config, "counts": counts})


def load_split(run_dir, part, data_dir=DATA_DIR):
    """Return ``(images, digits, is_anomaly)`` of one part (``train``/``val``/``test``) of a saved split.

    Images are scaled to [-1, 1]; ``is_anomaly`` is 1 for anomalous classes.
    """
    config = read_json(require(run_dir, "split.json", "01_data_prep"))
    with np.load(require(run_dir, "split.npz", "01_data_prep")) as f:
        idx = f[part]
    x_train, y_train, x_test, y_test = load_dataset(config["dataset"], data_dir)
    x, y = (x_test, y_test) if part == "test" else (x_train, y_train)
    digits = y[idx]
    return scale(x[idx]), digits, np.isin(digits, config["anomaly_digits"]).astype("int32")


def train_dataset(images, batch_size=128, seed=0):
    """A shuffled, batched ``tf.data.Dataset`` of training images (full batches only)."""
    if len(images) < batch_size:
        raise DataError(f"{len(images)} training images are fewer than one batch of {batch_size}; lower batch_size.")
    return (tf.data.Dataset.from_tensor_slices(images)
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
