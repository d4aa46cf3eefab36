"""Models: a small DCGAN generator and discriminator for 28x28 greyscale images.

Explained in ``notebooks/02_train_gan.ipynb``. The discriminator names its last hidden layer
``features``; :func:`feature_extractor` exposes it for AnoGAN's feature-matching term.
"""
import keras
from keras import layers

FEATURE_LAYER = "features"


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


def build_discriminator(width=64):
    """DCGAN discriminator: 28x28x1 image -> 14x14 -> 7x7 -> ``features`` -> one logit."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(width, 4, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Conv2D(2 * width, 4, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Flatten(name=FEATURE_LAYER),
        layers.Dense(1),
    ], name="discriminator")


def feature_extractor(discriminator):
    """A model mapping images to the discriminator's ``features`` layer (same weights)."""
    return keras.Model(discriminator.inputs[0], discriminator.get_layer(FEATURE_LAYER).output, name="features")
