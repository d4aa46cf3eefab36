"""Image folders: read ``train/CLASS/*`` and ``test/CLASS/*`` into a :class:`gan_ad.dataset.Dataset`, and make any
Pillow image the 28x28 greyscale the models learn from (:func:`gan_ad.data.export_folder` writes such a folder).

Explained in ``notebooks/01_data_prep.ipynb`` (section 5, your own data); :func:`gan_ad.data.open_dataset`
says what becomes of each image on the way in.
"""
from pathlib import Path

import numpy as np

from .dataset import IMAGE_SIZE, MIN_IMAGES_PER_CLASS, DataError, Dataset
from .images import GREY_MODES, to_grey

BAD_FILES = ("refuse", "skip")   # what to do with a file in an image folder that Pillow cannot read
LAYOUT = "train/CLASS/*.png and test/CLASS/*.png (any format Pillow reads; one folder per class)"


def _visible(folder):
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def read_folder(root, bad_files="refuse"):
    """Read an image folder ``root/train/CLASS/*`` and ``root/test/CLASS/*`` (see :func:`open_dataset`)."""
    root = Path(root)
    if not _visible(root):
        raise DataError(f"{root} is empty; put the images in it as {LAYOUT}.")
    for part in ("train", "test"):
        if not (root / part).is_dir():
            raise DataError(f"{root} has no {part}/ folder; an image folder holds {LAYOUT}.")
    class_dirs, bad = {}, []
    for part in ("train", "test"):
        entries = _visible(root / part)
        class_dirs[part] = [p for p in entries if p.is_dir()]
        bad += [(p, "lies outside a class folder") for p in entries if not p.is_dir()]
        if not class_dirs[part]:
            raise DataError(f"{root / part} holds no class folders; put each class's images in {root / part}/CLASS/.")
    classes = tuple(sorted({p.name for dirs in class_dirs.values() for p in dirs}))
    label = {name: i for i, name in enumerate(classes)}
    parts, sizes, resized, colour = {}, {}, 0, 0
    for part in ("train", "test"):
        images, labels, names = [], [], []
        for folder in class_dirs[part]:
            n_before = len(images)
            for path in _visible(folder):
                if path.is_dir():
                    bad.append((path, "is a folder; images must lie directly in the class folder"))
                    continue
                try:
                    pixels, size, was_colour = _read_image(path)
                except _Unreadable as err:
                    bad.append((path, str(err)))
                    continue
                images.append(pixels)
                labels.append(label[folder.name])
                names.append(str(path.relative_to(root)))
                if size != (IMAGE_SIZE, IMAGE_SIZE):
                    resized += 1
                    key = f"{size[0]}x{size[1]}"
                    sizes[key] = sizes.get(key, 0) + 1
                colour += was_colour
            parts[part, folder.name] = len(images) - n_before
        parts[part] = (np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
                       np.array(labels, np.int64), np.array(names))
    if bad and bad_files == "refuse":
        path, reason = bad[0]
        more = f" ({len(bad) - 1} more such file(s) in {root})" if len(bad) > 1 else ""
        raise DataError(f"{path} {reason}{more}: remove or fix it, or set bad_files = \"skip\" to leave such files out "
                        "(they are then listed).")
    for part in ("train", "test"):
        for folder in class_dirs[part]:
            n = parts[part, folder.name]
            if n == 0:
                raise DataError(f"{folder} holds no {'readable ' if bad else ''}images; add at least {MIN_IMAGES_PER_CLASS} "
                                "images of that class, or remove the folder.")
            if n < MIN_IMAGES_PER_CLASS:
                raise DataError(f"{folder} holds only {n} image(s); every class folder needs at least {MIN_IMAGES_PER_CLASS} "
                                "(add images, or remove the folder to drop the class).")
    (x_train, y_train, files_train), (x_test, y_test, files_test) = parts["train"], parts["test"]
    return Dataset(x_train, y_train, x_test, y_test, classes=classes, source=str(root), resized=resized,
                   sizes=dict(sorted(sizes.items(), key=lambda kv: -kv[1])), colour=colour,
                   skipped=[f"{p}: {reason}" for p, reason in bad], files_train=files_train, files_test=files_test)


class _Unreadable(Exception):
    """A file in an image folder that is not an image Pillow can read."""




def _read_image(path):
    """Decode one image file into ``(28x28 uint8, (width, height), was_colour)``; raise :class:`_Unreadable`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return to_grey28(image)
    except UnidentifiedImageError as err:
        raise _Unreadable("is not an image (Pillow cannot identify it)") from err
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise _Unreadable(f"cannot be read as an image ({err})") from err


def to_grey28(image):
    """One Pillow image as ``(28x28 greyscale uint8, (width, height), was_colour)``, the way :func:`open_dataset` describes.

    The conversion every image of a dataset given by path goes through; an image scored later (the
    demo's upload, say) should go through it too, to look like what the model learnt.
    """
    from PIL import Image

    size, was_colour = image.size, image.mode not in GREY_MODES
    image = to_grey(image)  # one decoder for every image of the project (gan_ad.images)
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8), size, was_colour
