"""Dataset: what every reader of images gives (:class:`Dataset`: 28x28 uint8 images and their labels) and raises
(:class:`DataError`), and the constants they share. The floor below :mod:`gan_ad.image_folders` and
:mod:`gan_ad.data`, which re-exports all of it."""
from dataclasses import dataclass, field

import numpy as np

DATASETS = ("mnist", "fashion_mnist")
KEYS = ("x_train", "y_train", "x_test", "y_test")
NUM_CLASSES = 10  # of MNIST and Fashion-MNIST; a dataset of your own has its own classes (Dataset.classes)
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"),
}
IMAGE_SIZE = 28                  # the models' input: 28x28 pixels, one channel
MIN_IMAGES_PER_CLASS = 10        # a class of your own data needs at least this many images in each part it appears in
CACHE = "dataset.npz"            # a dataset given by path, converted, inside the run folder


class DataError(ValueError):
    """Raised for a missing, corrupt or inconsistent data file or split."""


@dataclass
class Dataset:
    """A dataset as the pipeline uses it: 28x28 uint8 images, integer labels, and what loading did.

    ``classes`` names label 0, 1, ...; ``source`` is ``"mnist"``, ``"fashion_mnist"`` or the
    absolute path read. ``resized`` and ``sizes`` count the images that were not 28x28 (and their
    sizes), ``colour`` those converted from colour, ``skipped`` the unreadable files left out
    (``bad_files = "skip"``). ``files_train``/``files_test`` name each image's file in a folder.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple
    source: str
    resized: int = 0
    sizes: dict = field(default_factory=dict)
    colour: int = 0
    skipped: list = field(default_factory=list)
    files_train: np.ndarray = None
    files_test: np.ndarray = None

    @property
    def arrays(self):
        """``(x_train, y_train, x_test, y_test)``."""
        return self.x_train, self.y_train, self.x_test, self.y_test

    @property
    def is_named(self):
        """True for MNIST and Fashion-MNIST, which later notebooks reload by name."""
        return self.source in DATASETS

    def summary(self):
        """What loading did, for ``split.json``."""
        return {"classes": list(self.classes), "resized": self.resized, "sizes": self.sizes,
                "colour": self.colour, "skipped_files": list(self.skipped)}

    def describe(self, max_listed=20):
        """Sentences on what was read and what loading did to it (notebook 01 prints them)."""
        total = len(self.x_train) + len(self.x_test)
        lines = [f"Source: {self.source}",
                 f"train: {self.x_train.shape} {self.x_train.dtype}, test: {self.x_test.shape} {self.x_test.dtype}",
                 f"{len(self.classes)} classes, labelled 0-{len(self.classes) - 1}"
                 if self.classes == tuple(str(i) for i in range(len(self.classes))) else
                 f"{len(self.classes)} classes (label name): " + ", ".join(f"{i} {c}" for i, c in enumerate(self.classes))]
        if self.resized:
            sizes = ", ".join(f"{size}: {n:,}" for size, n in self.sizes.items())
            lines.append(f"{self.resized:,} of {total:,} images were not 28x28 and were resized to 28x28 "
                         f"(Pillow LANCZOS on the whole image; sizes found, width x height: {sizes}).")
        if self.colour:
            lines.append(f"{self.colour:,} colour images were converted to greyscale (Pillow mode \"L\").")
        if self.skipped:
            more = len(self.skipped) - max_listed
            lines.append(f"bad_files = \"skip\": {len(self.skipped)} unreadable file(s) left out:")
            lines += [f"  {s}" for s in self.skipped[:max_listed]]
            if more > 0:
                lines.append(f"  ... and {more} more (all listed in split.json under skipped_files)")
        return "\n".join(lines)
