"""Models: a small DCGAN generator and discriminator for 28x28 greyscale images, and an encoder.

Explained in ``notebooks/02_train_gan.ipynb`` (the encoder in ``04_encoder.ipynb``). The
discriminator names its last hidden layer ``features``; :func:`feature_extractor` exposes it for
AnoGAN's feature-matching term and for the kNN in feature space.
"""
import keras
import numpy as np
import tensorflow as tf
from keras import layers

FEATURE_LAYER = "features"


def seed_everything(seed):
    """Seed Python, NumPy and TensorFlow and make TensorFlow's ops deterministic: the same seed gives the same run
    on the same machine with the same number of threads (see gan_ad/environment.py)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_generator(latent_dim=64, width=64):
    """DCGAN generator: z (latent_dim) -> 7x7 -> 14x14 -> 28x28x1 image in [-1, 1] (tanh)."""
    return keras.Sequential([
        keras.Input((latent_dim,)),
        layers.Dense(7 * 7 * 2 * width, use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Reshape((7, 7, 2 * width)),
        layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh"),
    ], name="generator")


def _downsampling(width, wrap=lambda layer: layer):
    """28x28x1 image -> 14x14 -> 7x7 with strided convolutions: the body of discriminator and encoder.

    ``wrap`` is applied to each convolution (the discriminator's spectral normalisation).
    """
    return [keras.Input((28, 28, 1)),
            wrap(layers.Conv2D(width, 4, strides=2, padding="same")), layers.LeakyReLU(0.2),
            wrap(layers.Conv2D(2 * width, 4, strides=2, padding="same")), layers.LeakyReLU(0.2)]


def build_discriminator(width=64, spectral_norm=False):
    """DCGAN discriminator: 28x28x1 image -> 14x14 -> 7x7 -> ``features`` -> one logit.

    ``spectral_norm=True`` wraps each Conv2D and the Dense in :class:`keras.layers.SpectralNormalization`
    (Miyato et al., 2018): in every training call the kernel is divided by its largest singular value,
    estimated by one power iteration, so no layer can stretch its input by more than a factor 1.
    """
    if not isinstance(spectral_norm, bool):
        raise ValueError(f"spectral_norm must be True or False, not {spectral_norm!r}.")
    wrap = layers.SpectralNormalization if spectral_norm else (lambda layer: layer)
    return keras.Sequential([*_downsampling(width, wrap), layers.Flatten(name=FEATURE_LAYER), wrap(layers.Dense(1))],
                            name="discriminator")


def build_encoder(latent_dim=64, width=64):
    """Encoder for f-AnoGAN (notebook 04): the discriminator's body, ending in a latent code z instead of a logit."""
    return keras.Sequential([*_downsampling(width), layers.Flatten(), layers.Dense(latent_dim)], name="encoder")


ROTATIONS = 4  # quarter turns: 0, 90, 180 and 270 degrees


def build_rotation_head(discriminator):
    """The self-supervised head of notebook 02's rotation task: the discriminator's ``features`` -> one logit per quarter turn."""
    size = discriminator.get_layer(FEATURE_LAYER).output.shape[-1]
    return keras.Sequential([keras.Input((size,)), layers.Dense(ROTATIONS)], name="rotation_head")


def rotate_quarters(images):
    """Image ``i`` of a batch turned by ``i mod 4`` quarter turns counter-clockwise; returns the turned images and
    those numbers (the rotation task's labels). Every batch holds each turn about equally often, with no randomness."""
    turns = tf.range(tf.shape(images)[0]) % ROTATIONS
    every = tf.stack([tf.image.rot90(images, k) for k in range(ROTATIONS)], axis=1)  # (N, 4, 28, 28, 1)
    return tf.gather(every, turns, axis=1, batch_dims=1), turns


SHIFT = 2      # pixels: the contrastive task's views move a digit by at most this much each way
SCALE = 0.1    # ... and draw it at most this much larger or smaller


def build_projection_head(discriminator, width=256, size=128):
    """The head of notebook 02's contrastive task: the discriminator's ``features`` -> a ``size``-number code
    (SimCLR's projection: a hidden layer of ``width``, ReLU, then the code, compared by the cosine of two codes)."""
    features = discriminator.get_layer(FEATURE_LAYER).output.shape[-1]
    return keras.Sequential([keras.Input((features,)), layers.Dense(width, activation="relu"), layers.Dense(size)],
                            name="projection_head")


def augment(images, seed):
    """Each image of a batch moved by up to ``SHIFT`` pixels each way and scaled by a factor between
    ``1 - SCALE`` and ``1 + SCALE``, both drawn uniformly per image from the stateless ``seed``; what comes in from
    beyond the border is background (-1). A digit stays the digit it was: no turns, no flips."""
    n = tf.shape(images)[0]
    draws = tf.random.stateless_uniform((n, 3), seed=seed, minval=-1.0, maxval=1.0)
    side = 1.0 + SCALE * draws[:, 0]  # the box read, as a share of the image: smaller zooms in
    steps = images.shape[1] - 1       # crop_and_resize's units: 1 is the distance from the first pixel to the last
    top = 0.5 - side / 2 + SHIFT / steps * draws[:, 1]
    left = 0.5 - side / 2 + SHIFT / steps * draws[:, 2]
    boxes = tf.stack([top, left, top + side, left + side], axis=1)
    return tf.image.crop_and_resize(images, boxes, tf.range(n), images.shape[1:3], extrapolation_value=-1.0)


def feature_extractor(discriminator):
    """A model mapping images to the discriminator's ``features`` layer (same weights)."""
    return keras.Model(discriminator.inputs[0], discriminator.get_layer(FEATURE_LAYER).output, name="features")


def predict_batches(model, images, batch_size=500):
    """``model(images)`` in inference mode, batch by batch, as one NumPy array (no ``predict`` overhead for one image)."""
    return np.concatenate([np.asarray(model(images[i:i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)])
