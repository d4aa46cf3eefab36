"""Data: load MNIST, Fashion-MNIST or your own images, split them into normals and anomalies, feed them to Keras.

Explained in ``notebooks/01_data_prep.ipynb``.

Protocol: the GAN trains on the normal classes of the training set minus a held-out share.
Validation (monitoring, thresholds, model choices) is that held-out share plus training-set
anomalies. The test set is touched only by the evaluation notebook.

Your own data (``dataset`` = a path, see :func:`open_dataset`): an ``.npz`` file with the arrays of
``keras.datasets`` (``x_train, y_train, x_test, y_test``), or a folder ``train/CLASS/*.png`` and
``test/CLASS/*.png`` (read by :mod:`gan_ad.image_folders`). Every image becomes 28x28 greyscale uint8:
colour is converted with Pillow's mode ``"L"`` and any other size is resized, whole image, with
Pillow's LANCZOS filter. Notebook 01
stores the converted arrays in the run folder (``dataset.npz``) and :func:`load_split` reads that copy.
"""
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .files import DATA_DIR, atomic_path, load_arrays, load_json, read_json, require, write_json  # noqa: F401 (read_json: tests)

from .dataset import (CACHE, CLASS_NAMES, DATASETS, IMAGE_SIZE, KEYS, MIN_IMAGES_PER_CLASS,  # noqa: F401 (data's API)
                      NUM_CLASSES, DataError, Dataset)
from .image_folders import BAD_FILES, LAYOUT, read_folder, to_grey28


def open_dataset(dataset="mnist", bad_files="refuse", data_dir=DATA_DIR):
    """Return the :class:`Dataset` that the parameter ``dataset`` names.

    ``dataset`` is ``"mnist"`` or ``"fashion_mnist"`` (see :func:`load_dataset`), or the path of
    your own data, relative to the current working directory (the runner makes paths absolute
    before the notebooks, which run in ``notebooks/``, see them):

    - an ``.npz`` file with ``x_train, y_train, x_test, y_test`` as ``keras.datasets`` gives them:
      uint8 images (N, H, W) or (N, H, W, 1 or 3), integer labels 0, 1, ...; an optional
      ``class_names`` array names the labels (otherwise they are named "0", "1", ...);
    - a folder with ``train/CLASS/`` and ``test/CLASS/`` sub-folders of images. The class names are
      sorted and become labels 0, 1, ... in that order. Files whose name starts with a dot are
      ignored; any other file that Pillow cannot read is refused, or left out and listed with
      ``bad_files="skip"``.

    Each image is made 28x28 greyscale uint8: colour (RGB, palette ...) is converted with Pillow's
    ``convert("L")`` (L = 0.299 R + 0.587 G + 0.114 B), transparent pixels become black first,
    16-bit images are scaled to 8 bits, and an image of any other size is resized, the whole image
    and without keeping the aspect ratio, with Pillow's LANCZOS filter. No other change is made:
    MNIST is light ink on black, and nothing here inverts dark-on-light images.

    Every class (folder or label) needs at least :data:`MIN_IMAGES_PER_CLASS` images in each part
    it appears in. Problems raise :class:`DataError` with one sentence naming the file or folder.
    """
    if bad_files not in BAD_FILES:
        raise DataError(f'bad_files must be "refuse" or "skip", not {bad_files!r}.')
    if dataset in DATASETS:
        return Dataset(*load_dataset(dataset, data_dir), classes=CLASS_NAMES[dataset], source=dataset)
    path = Path(str(dataset)).expanduser().resolve()
    if not path.exists():
        raise DataError(
            f"Unknown dataset {str(dataset)!r}: it is not one of {', '.join(DATASETS)}, and there is no file or "
            f"folder {path}. Give one of those names, an .npz file, or an image folder ({LAYOUT}).")
    if path.is_dir():
        return read_folder(path, bad_files)
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path} is a file but not an .npz file; give an .npz file with {', '.join(KEYS)}, "
                        f"or an image folder ({LAYOUT}).")
    return read_dataset_npz(path)


def load_dataset(name="mnist", data_dir=DATA_DIR):
    """Return ``(x_train, y_train, x_test, y_test)`` as uint8 arrays for dataset ``name``.

    ``name`` is ``"mnist"`` or ``"fashion_mnist"``: reads ``data_dir/NAME.npz`` when present;
    otherwise downloads it with ``keras.datasets`` and caches it there. The arrays are checked
    (keys, shapes, dtype, labels) and a bad file raises :class:`DataError` naming the file and
    the fix. Any other ``name`` is read as a path by :func:`open_dataset`.
    """
    if name not in DATASETS:
        return open_dataset(name, data_dir=data_dir).arrays
    path = data_dir / f"{name}.npz"
    if not path.exists():
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        except Exception as err:  # no internet, a proxy, a full disk: all mean the same to the user
            raise DataError(f"{path} is not there and {name} could not be downloaded ({err}). Copy the Keras file "
                            f"{name}.npz into {data_dir}/ (the arrays of keras.datasets.{name}.load_data()), "
                            "or run once where the internet is reachable.") from err
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return read_npz(path)


def load_mnist(data_dir=DATA_DIR):
    """Return MNIST as ``(x_train, y_train, x_test, y_test)``; see :func:`load_dataset`."""
    return load_dataset("mnist", data_dir)


def read_npz(path):
    """Read and validate a Keras-style dataset file of MNIST's shape; return its four arrays."""
    fix = f"Delete {path} and run again to download a fresh copy (or copy a good one there)."
    found = _dataset_arrays(path, f". {fix}", f". {fix}")
    arrays = tuple(found[k] for k in KEYS)
    for (x, y), part in ((arrays[:2], "train"), (arrays[2:], "test")):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{path}: x_{part} should be uint8 of shape (N, 28, 28), got {x.dtype} {x.shape}. {fix}")
        if y.shape != (len(x),) or y.size == 0 or y.min() < 0 or y.max() >= NUM_CLASSES:
            raise DataError(f"{path}: y_{part} should hold {len(x)} labels in 0-9, got shape {y.shape}. {fix}")
    return arrays


def _dataset_arrays(path, lacks, unreadable):
    """Map name -> array of a dataset's ``.npz`` file (:func:`gan_ad.files.load_arrays`, the one reader of ``.npz``
    files), which must hold :data:`KEYS`; else a :class:`DataError` ending in ``lacks`` or ``unreadable``."""
    try:
        arrays = load_arrays(path)
    except Exception as err:  # zip/pickle/format errors all mean the same to the user
        raise DataError(f"{path} is not a readable .npz file ({err}){unreadable}") from err
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks the arrays {missing}{lacks}")
    return arrays


# ---------------------------------------------------------------- your own data: .npz and folders

def read_dataset_npz(path):
    """Read your own ``.npz`` dataset (see :func:`open_dataset`) into a :class:`Dataset`."""
    path = Path(path)
    arrays = _dataset_arrays(path, f"; a dataset .npz holds {', '.join(KEYS)} (as keras.datasets returns them), and "
                             "optionally class_names.", "; save it with numpy.savez.")
    images, sizes, resized, colour = {}, {}, 0, 0
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.dtype != np.uint8 or not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3))) or len(x) == 0:
            raise DataError(f"{path}: x_{part} should hold uint8 images 0-255 of shape (N, H, W) or (N, H, W, 1 or 3), "
                            f"got {x.dtype} {x.shape}; convert it (e.g. (x * 255).round().astype('uint8') for 0-1 floats).")
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise DataError(f"{path}: y_{part} should hold {len(x)} integer labels 0, 1, ..., got {y.dtype} {y.shape}.")
        is_colour = x.ndim == 4 and x.shape[-1] == 3
        x = x[..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x
        if is_colour or x.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
            if x.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
                size = f"{x.shape[2]}x{x.shape[1]}"
                sizes[size] = sizes.get(size, 0) + len(x)
                resized += len(x)
            colour += len(x) if is_colour else 0
            x = np.stack([to_grey28(Image.fromarray(img))[0] for img in x])
        images[part] = (x, y.astype(np.int64))
    n_labels = int(max(images["train"][1].max(), images["test"][1].max())) + 1
    classes = tuple(str(c) for c in arrays["class_names"]) if "class_names" in arrays else tuple(str(i) for i in range(n_labels))
    if len(classes) < n_labels:
        raise DataError(f"{path}: class_names names {len(classes)} classes, but the labels go up to {n_labels - 1}.")
    for part in ("train", "test"):
        labels, counts = np.unique(images[part][1], return_counts=True)
        few = [(int(c), int(n)) for c, n in zip(labels, counts) if n < MIN_IMAGES_PER_CLASS]
        if few:
            c, n = few[0]
            raise DataError(f"{path}: class {classes[c]!r} (label {c}) has only {n} image(s) in y_{part}; every class needs "
                            f"at least {MIN_IMAGES_PER_CLASS} in each part it appears in (add images, or drop the class).")
    return Dataset(*images["train"], *images["test"], classes=classes, source=str(path), resized=resized,
                   sizes=sizes, colour=colour, files_train=arrays.get("files_train"), files_test=arrays.get("files_test"))


# ---------------------------------------------------------------- classes and the split

def check_digits(normal_digits, anomaly_digits=None, classes=None):
    """Validate the class choice; return ``(normal, anomaly)`` as sorted tuples of class indices.

    ``classes`` names the dataset's classes (default: MNIST's "0" to "9"); a class can be given by
    index (0, 1, ...) or by name (``"cat"``). ``anomaly_digits=None`` means every class that is not normal.
    """
    classes = tuple(classes) if classes is not None else CLASS_NAMES["mnist"]
    normal = _class_tuple(normal_digits, "normal_digits", classes)
    anomaly = (tuple(d for d in range(len(classes)) if d not in normal) if anomaly_digits is None
               else _class_tuple(anomaly_digits, "anomaly_digits", classes))
    overlap = sorted(set(normal) & set(anomaly))
    if overlap:
        raise DataError(f"Classes {overlap} are both normal and anomalous; each class can be only one.")
    if not anomaly:
        raise DataError("Every class is normal, so there is nothing to detect; leave at least one class out of normal_digits.")
    return normal, anomaly


def _class_tuple(digits, what, classes):
    digits = [digits] if isinstance(digits, (str, int, np.integer)) else list(digits)
    if not digits:
        raise DataError(f"{what} is empty; give at least one class index (0-{len(classes) - 1}) or name.")
    index = {name: i for i, name in enumerate(classes)}
    found = [index.get(d) if isinstance(d, str)
             else int(d) if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d < len(classes)
             else None for d in digits]
    bad = [d for d, i in zip(digits, found) if i is None]
    if bad:
        shown = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
        raise DataError(f"{what} holds {bad}, which are not class indices 0-{len(classes) - 1} or class names ({shown}).")
    if len(set(found)) != len(found):
        raise DataError(f"{what} lists a class twice: {digits}.")
    return tuple(sorted(found))


def _place(source, classes, label, part):
    """Where the images of one class and part come from, for error messages."""
    name = classes[label]
    if source and source not in DATASETS and Path(source).is_dir():
        return f"{Path(source) / part / name}"
    return f"class {name!r} (label {label}) in y_{part} of {source or 'the dataset'}"


def make_split(y_train, y_test, normal_digits=(0, 1, 2, 3, 4), anomaly_digits=None,
               val_fraction=0.1, max_val=0, max_train=0, max_test=0, seed=0, classes=None, source=None):
    """Choose the indices of the training, validation and test images.

    - train: normal training-set images minus a held-out ``val_fraction`` (``max_train`` > 0 caps it);
    - val: the held-out normals plus as many training-set anomalies (``max_val`` > 0 caps the
      total at ``max_val // 2`` of each, leaving the other held-out normals unused). When no
      anomalous class has training images, validation holds normals only (``max_val`` caps them);
    - test: all test images of the chosen classes (``max_test`` > 0 takes a random subset).

    ``classes`` and ``source`` (from :class:`Dataset`) name classes and folders in errors. A class
    with test images but no training images is refused unless ``anomaly_digits`` names it: that is
    how to say "this anomaly is never seen in training". Returns a dict of index arrays ``train``,
    ``val``, ``test`` (into the train/test arrays).
    """
    classes = tuple(classes) if classes is not None else CLASS_NAMES["mnist"]
    normal, anomaly = check_digits(normal_digits, anomaly_digits, classes)
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}.")
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    in_train = np.bincount(y_train, minlength=len(classes)) > 0
    in_test = np.bincount(y_test, minlength=len(classes)) > 0
    for c in normal:
        if not in_train[c]:
            raise DataError(f"Normal class {classes[c]!r} has no training images ({_place(source, classes, c, 'train')} is "
                            "missing or empty); the GAN learns normal classes from training images, so add some.")
    if anomaly_digits is None:
        for c in range(len(classes)):
            if in_test[c] and not in_train[c]:
                seen = ", ".join(classes[d] for d in range(len(classes)) if in_train[d])
                raise DataError(
                    f"{_place(source, classes, c, 'test')} holds test images of class {classes[c]!r}, which never appears in "
                    f"training (training classes: {seen}). Add training images of it, or, if it is an anomaly that training "
                    f"never shows, name the anomalous classes in anomaly_digits (e.g. anomaly_digits = [{classes[c]!r}]).")
    rng = np.random.default_rng(seed)
    normals = rng.permutation(np.flatnonzero(np.isin(y_train, normal)))
    n_held = int(round(val_fraction * len(normals)))
    held, train = normals[:n_held], normals[n_held:]
    anomalies = rng.permutation(np.flatnonzero(np.isin(y_train, anomaly)))
    if len(anomalies):
        n_val = min(n_held, max_val // 2) if max_val else n_held
        anomalies = anomalies[:n_val]
    else:  # no anomalous class in the training set: validation is normals only
        n_val = min(n_held, max_val) if max_val else n_held
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
    for kind, chosen in (("anomalous", anomaly), ("normal", normal)):
        if not np.isin(y_test[test], chosen).any():
            raise DataError(f"The test set holds no image of the {kind} classes ({', '.join(classes[c] for c in chosen)}); "
                            "AUROC needs both normal and anomalous test images, so add some (or raise max_test).")
    return split


def balanced_indices(is_anomaly, size, seed=0, fill=False):
    """Indices of at most ``size`` images, drawn at random (seeded): as many normal as anomalous, normals first.

    Each class gives ``size // 2`` or all it has, whichever is fewer, and as many as the other; with
    ``fill`` the other class makes up for a class with too few, up to ``size`` in all. The monitor of
    notebook 02 (:func:`gan_ad.training.monitor_indices`) and AnoGAN's test images in the benchmark
    (:func:`gan_ad.bench.subset`) are drawn by it.
    """
    is_anomaly = np.asarray(is_anomaly)
    normal, anomalous = np.flatnonzero(is_anomaly == 0), np.flatnonzero(is_anomaly == 1)
    if fill:
        n_anomalous = min(len(anomalous), max(size // 2, size - len(normal)))
        n_normal = min(len(normal), size - n_anomalous)
    else:
        n_normal = n_anomalous = min(size // 2, len(normal), len(anomalous))
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(normal, n_normal, replace=False), rng.choice(anomalous, n_anomalous, replace=False)])


def stratified_indices(classes, size, seed=0):
    """Sorted indices of a random sample (seeded) of ``size`` images with each class in its share of the whole.

    Each class gets its share of ``size`` rounded down, and the classes with the largest remainders one more,
    so that the sample has exactly ``size`` images; ``size`` 0, or at least as many as there are: all of them.
    AnoGAN's slow search scores such a sample of validation and test images (``anogan_images``, notebooks 03 and 05).
    """
    classes = np.asarray(classes)
    if size <= 0 or size >= len(classes):
        return np.arange(len(classes))
    names, counts = np.unique(classes, return_counts=True)
    shares = counts * size / len(classes)
    take = np.floor(shares).astype(int)
    take[np.argsort(-(shares - take), kind="stable")[:size - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(classes == name), n, replace=False) for name, n in zip(names, take)]))


def scale(images):
    """Map uint8 images (N, 28, 28) to float32 (N, 28, 28, 1) in [-1, 1], the generator's range."""
    return (images.astype("float32")[..., None] / 127.5) - 1.0


def digest(ds):
    """A short fingerprint of a dataset's arrays: the same images and labels, the same digest."""
    h = hashlib.sha1()
    for a in ds.arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def save_split(run_dir, split, config, dataset=None):
    """Save a split (``split.npz``) and its settings (``split.json``) into ``run_dir``.

    With a ``dataset`` given by path (a :class:`Dataset` that is not MNIST or Fashion-MNIST), its
    converted arrays are saved first as ``run_dir/dataset.npz``, which :func:`load_split` reads.
    """
    run_dir = Path(run_dir)
    cache = run_dir / CACHE
    if dataset is not None and not dataset.is_named:
        extra = {k: v for k, v in (("files_train", dataset.files_train), ("files_test", dataset.files_test)) if v is not None}
        with atomic_path(cache) as tmp:
            np.savez(tmp, x_train=dataset.x_train, y_train=dataset.y_train, x_test=dataset.x_test, y_test=dataset.y_test,
                     class_names=np.array(dataset.classes), **extra)
        config = {**config, "dataset_digest": digest(dataset)}
    elif dataset is not None:
        cache.unlink(missing_ok=True)  # left by an earlier run of notebook 01 on a path dataset
    with atomic_path(run_dir / "split.npz") as tmp:
        np.savez(tmp, **split)
    counts = {k: int(len(v)) for k, v in split.items()}
    write_json(run_dir / "split.json", {**config, "counts": counts})


def load_split(run_dir, part, data_dir=DATA_DIR):
    """Return ``(images, digits, is_anomaly)`` of one part (``train``/``val``/``test``) of a saved split.

    Images are scaled to [-1, 1]; ``digits`` are class labels; ``is_anomaly`` is 1 for anomalous
    classes. MNIST and Fashion-MNIST are reloaded by name; a dataset given by path is read from
    the copy notebook 01 saved in the run folder (``dataset.npz``), so changing the original
    files afterwards does not change the run.
    """
    config = load_json(require(run_dir, "split.json"))
    idx = load_arrays(require(run_dir, "split.npz"), [part])[part]
    if config["dataset"] in DATASETS:
        x_train, y_train, x_test, y_test = load_dataset(config["dataset"], data_dir)
    else:
        cached = load_arrays(require(run_dir, CACHE), KEYS)
        x_train, y_train, x_test, y_test = (cached[k] for k in KEYS)
    x, y = (x_test, y_test) if part == "test" else (x_train, y_train)
    digits = y[idx]
    return scale(x[idx]), digits, np.isin(digits, config["anomaly_digits"]).astype("int32")


def steps_per_epoch(n_images, batch_size):
    """How many batches :func:`train_dataset` makes of ``n_images`` (full batches only): the training steps of an epoch."""
    return n_images // batch_size


def train_dataset(images, batch_size=128, seed=0):
    """A shuffled, batched ``tf.data.Dataset`` of training images (full batches only)."""
    import tensorflow as tf  # here, not at the top: TensorFlow takes seconds to start, and notebook 01 never needs it

    if len(images) < batch_size:
        raise DataError(f"{len(images)} training images are fewer than one batch of {batch_size}; lower batch_size.")
    return (tf.data.Dataset.from_tensor_slices(images)
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))


def export_folder(dataset, folder, max_per_class=0, data_dir=DATA_DIR):
    """Write a dataset as an image folder ``folder/train/CLASS/NNNNN.png``, ``folder/test/CLASS/NNNNN.png``.

    ``dataset`` is anything :func:`open_dataset` reads (e.g. ``"fashion_mnist"``); class folders
    take its class names (Fashion-MNIST: ``t-shirt``, ``trouser``, ...), file names the image's
    index. ``max_per_class`` > 0 keeps only the first that many images of each class in each part.
    The folder is written under a temporary name and renamed when complete; an existing folder
    that is not empty is refused. Returns ``{"train": n, "test": n}``, the images written.
    """
    folder = Path(folder).expanduser().resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise DataError(f"{folder} already exists and is not empty; choose another folder or delete it.")
    ds = open_dataset(dataset, data_dir=data_dir)
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    written = {}
    try:
        for part, (x, y) in (("train", ds.arrays[:2]), ("test", ds.arrays[2:])):
            written[part] = 0
            for label, name in enumerate(ds.classes):
                idx = np.flatnonzero(y == label)
                idx = idx[:max_per_class] if max_per_class else idx
                if not len(idx):
                    continue
                class_dir = tmp / part / name.replace("/", "_").replace(os.sep, "_")
                class_dir.mkdir(parents=True)
                for i in idx:
                    Image.fromarray(x[i], "L").save(class_dir / f"{i:05d}.png")
                written[part] += len(idx)
        if folder.exists():
            folder.rmdir()
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
