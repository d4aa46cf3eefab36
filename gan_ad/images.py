"""Images from outside MNIST: one decoder and one MNIST-style preprocessing for every way in.

The image folders of your own data (``gan_ad.image_folders``), the demo's uploads (``gan_ad.demo``,
notebook 06) and the web app (``webapp/``, whose ``preprocess.js`` is a port of :func:`mnist_style`)
all go through these functions, so a digit looks the same to the model wherever it comes from.

- :func:`to_grey` decodes any Pillow image to 8-bit greyscale with one rule for transparency
  (transparent pixels are paper: laid on white under dark ink, on black under light ink) and one
  for 16-bit images (divided by 257, so 65535 becomes 255).
- :func:`mnist_style` makes a greyscale image look like MNIST: light ink on black, cropped, scaled
  to 20 px, centred by its centre of mass in 28x28 — and, for a drawing whose strokes are thinner
  than MNIST's, thickened to MNIST's stroke width (:func:`stroke_width`).
"""
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
INK = 0.1  # a pixel brighter than this (on a 0..1 ink scale) counts as ink
SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")
GREY_MODES = ("1", "L", "LA", "F", *SIXTEEN_BIT)
# MNIST's strokes, measured with stroke_width on the 10,000 test digits (mean 2.07 px, 10th percentile
# 1.46; ink 104 on average; tests/test_images.py checks it): a digit thinner than
# MNIST_STROKE_WIDTH - STROKE_SLACK px is thickened (see mnist_style)
MNIST_STROKE_WIDTH = 2.05
STROKE_SLACK = 0.65
# The pads (the web app's and notebook 06's) draw with a pen this share of the drawing's longer side, so that
# once scaled to 20 px a drawing's strokes are as wide as MNIST's, however large it was drawn
PEN_FRACTION = 0.05


class EmptyImageError(ValueError):
    """Raised when an image holds no ink to score."""


def to_grey(image):
    """A Pillow image as an 8-bit greyscale Pillow image ("L"), by the project's one rule for every image.

    16-bit (and 32-bit integer) pixels are divided by 257 when any exceeds 255 (65535 -> 255);
    float pixels in [0, 1] are multiplied by 255. Transparent pixels are paper: they are laid on
    white when the visible ink is dark (its alpha-weighted mean brightness under one half), on black
    when it is light, so that a digit drawn on a transparent layer stays visible either way.
    """
    if image.mode in SIXTEEN_BIT or image.mode == "F":
        pixels = np.asarray(image, dtype="float64")
        if image.mode == "F" and pixels.size and np.nanmax(pixels) <= 1:
            pixels = pixels * 255
        elif image.mode.startswith("I;16") or (pixels.size and pixels.max() > 255):
            pixels = pixels / 257  # 16 bits to 8
        return Image.fromarray(np.clip(np.rint(np.nan_to_num(pixels)), 0, 255).astype(np.uint8), "L")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        grey = np.asarray(rgba.convert("L"), "float64")
        alpha = np.asarray(rgba.getchannel("A"), "float64")
        dark_ink = alpha.sum() == 0 or (grey * alpha).sum() / alpha.sum() < 127.5
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255) if dark_ink else (0, 0, 0, 255))
        image = Image.alpha_composite(paper, rgba)
    return image.convert("L")


def read_image(data):
    """Decode uploaded bytes (PNG, JPEG ...) into a greyscale float array in [0, 1]; refuse what is not an image."""
    if not data:
        raise ValueError("The file is empty; upload a PNG or JPEG of a digit.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"The file is {len(data) / 2**20:.1f} MB; upload an image under 5 MB.")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError("This file is not an image that can be read; upload a PNG or JPEG of a digit.") from err
    return np.asarray(to_grey(image), dtype="float32") / 255


def stroke_width(image, level=0.5):
    """The mean stroke width (px) of a digit in [0, 1]: twice its ink area over its outline's length.

    Ink is what lies above ``level``; the outline counts the pixel edges between ink and background
    (4-neighbours). A long stroke of width w and length L has area w L and outline about 2 L.
    """
    ink = np.pad(np.asarray(image) > level, 1)
    edges = np.count_nonzero(ink[1:] != ink[:-1]) + np.count_nonzero(ink[:, 1:] != ink[:, :-1])
    return 2 * np.count_nonzero(ink) / edges if edges else 0.0


def ink(image):
    """The ink of a digit in [0, 1]: the sum of its pixels."""
    return float(np.asarray(image, "float64").sum())


def dilate(image):
    """Each pixel the maximum of itself and its 4 neighbours (a one-pixel thickening of light ink on black)."""
    padded = np.pad(image, 1)
    return np.maximum.reduce([padded[1:-1, 1:-1], padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]])


def _lanczos_uint8(pixels, width, height):
    """Pillow's Lanczos resize of uint8 pixels to (width, height), as two passes: rows first, then columns.

    One ``resize`` call may take either order (Pillow picks one), and the 8-bit rounding between the
    passes makes the orders differ by a few grey levels; two one-axis calls fix it, so that the web
    app's port (``webapp/preprocess.js``) gives the same pixels.
    """
    image = Image.fromarray(pixels)
    if image.width != width:
        image = image.resize((width, image.height), Image.LANCZOS)
    if image.height != height:
        image = image.resize((width, height), Image.LANCZOS)
    return np.asarray(image, "float32")


def mnist_style(image):
    """Turn a greyscale image (H, W) in [0, 1] into a 28x28 MNIST-like digit in [0, 1].

    Light-background images are inverted to light ink on black; the ink is cropped, its longer
    side scaled to 20 px keeping the aspect ratio (Lanczos), and its centre of mass put at the
    centre of the 28x28 frame. A digit whose strokes are then thinner than MNIST's (by more than
    :data:`STROKE_SLACK` px of :data:`MNIST_STROKE_WIDTH`) is thickened once by :func:`dilate`
    before it is framed. Raises :class:`EmptyImageError` when there is no ink.
    ``webapp/preprocess.js`` is a line-by-line port of this function.
    """
    image = np.asarray(image, dtype="float32")
    if image.ndim != 2 or min(image.shape) < 1:
        raise ValueError(f"Expected a 2-D greyscale image, got shape {image.shape}.")
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    if np.median(border) > 0.5:  # dark ink on light paper
        image = 1 - image
    rows, cols = np.nonzero(image > INK)
    if len(rows) == 0:
        raise EmptyImageError("There is no digit to score yet: draw or upload one.")
    crop = image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = 20 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.clip(_lanczos_uint8((crop * 255).astype("uint8"), *size) / 255, 0, 1)
    if stroke_width(small) < MNIST_STROKE_WIDTH - STROKE_SLACK:
        small = dilate(np.pad(small, 1))  # one pixel wider on every side: the frame below has room (20 + 2 < 28)
    mass = small.sum(dtype="float64")
    cy = (small.sum(axis=1, dtype="float64") * np.arange(small.shape[0])).sum() / mass
    cx = (small.sum(axis=0, dtype="float64") * np.arange(small.shape[1])).sum() / mass
    top = int(np.clip(round(13.5 - cy), 0, 28 - small.shape[0]))
    left = int(np.clip(round(13.5 - cx), 0, 28 - small.shape[1]))
    out = np.zeros((28, 28), "float32")
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out
