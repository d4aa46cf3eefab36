"""Inversion: AnoGAN's search for the latent z whose generated image is closest to a query.

Explained in ``notebooks/03_latent_inversion.ipynb``. For a batch of images x, Adam
optimises a batch of latent vectors z (one per image, all at once in one ``tf.function``) to
minimise the anomaly score

    score(x, z) = (1 - lam) * mean|x - G(z)| + lam * mean|f(x) - f(G(z))|

where f is the discriminator's feature layer (feature matching). Normal digits, which the
generator has learnt, reach a low score; anomalies do not. Both networks run in inference
mode (BatchNorm uses its moving statistics), so a score does not depend on its batch.

The search can also start from a given z, for example the guess of a trained encoder
(``gan_ad.encoder``, notebook 04): a few steps from a good start replace hundreds from a random one.
:class:`AnoGAN` is the search as a :class:`gan_ad.detector_base.Detector`.
"""
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .detector_base import GAN, Detector, Explanation, check_images, load_networks, save_networks
from .models import feature_extractor


@dataclass
class InversionResult:
    """Scores and images of one inversion: one row per query image."""

    scores: np.ndarray           # (N,) the anomaly score at the last step
    residual_scores: np.ndarray  # (N,) mean |x - G(z)|
    feature_scores: np.ndarray   # (N,) mean |f(x) - f(G(z))|
    reconstructions: np.ndarray  # (N, 28, 28, 1) G(z), the closest generated images
    residuals: np.ndarray        # (N, 28, 28, 1) |x - G(z)|, where the image differs
    z: np.ndarray                # (N, latent_dim) the latent vectors found


def score_terms(x, x_features, generated, generated_features, lam):
    """Per-image ``(score, residual, feature)`` of the anomaly score above, as tensors of shape (N,)."""
    residual = tf.reduce_mean(tf.abs(x - generated), axis=[1, 2, 3])
    feature = tf.reduce_mean(tf.abs(x_features - generated_features), axis=1)
    return (1 - lam) * residual + lam * feature, residual, feature


class Inverter:
    """AnoGAN latent inversion for many images at once.

    ``steps`` Adam steps of size ``learning_rate`` on z, started from one standard normal
    draw seeded by ``seed`` (the same for every image); ``lam`` weighs the feature-matching
    term; images go through in batches of ``batch_size`` (the last one padded, so the graph is traced once).
    """

    def __init__(self, generator, discriminator, lam=0.1, steps=50, learning_rate=0.05, batch_size=500, seed=0):
        if not 0 <= lam <= 1:
            raise ValueError(f"lam weighs two terms and must lie in [0, 1], got {lam}.")
        if steps < 0 or batch_size < 1:
            raise ValueError(f"steps must be >= 0 and batch_size >= 1, got {steps} and {batch_size}.")
        self.generator, self.features = generator, feature_extractor(discriminator)
        self.lam, self.steps, self.batch_size, self.seed = lam, int(steps), int(batch_size), seed
        self.latent_dim = generator.input_shape[-1]
        self.z = keras.Variable(np.zeros((self.batch_size, self.latent_dim), "float32"), name="z")
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.optimizer.build([self.z])
        # what a fresh Adam starts from: step count and moments (the learning rate stays)
        self.optimizer_state = [v for v in self.optimizer.variables if v.name != "learning_rate"]
        def search(x, z0, steps):  # a function of this inverter's own, so that its graph is traced once
            return self._search(x, z0, steps)
        self._invert_batch = tf.function(search)

    def _terms(self, x, x_features, generated):
        return score_terms(x, x_features, generated, self.features(generated, training=False), self.lam)

    def _search(self, x, z0, steps):
        self.z.assign(z0)
        for v in self.optimizer_state:  # a fresh Adam for every batch
            v.assign(tf.zeros_like(v))
        x_features = self.features(x, training=False)  # the query's features do not change with z
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                score, _, _ = self._terms(x, x_features, self.generator(self.z, training=False))
                loss = tf.reduce_sum(score)  # each z only affects its own image's score
            self.optimizer.apply_gradients([(tape.gradient(loss, self.z), self.z)])
        generated = self.generator(self.z, training=False)
        return (*self._terms(x, x_features, generated), generated, self.z)

    def invert(self, images, z0=None, steps=None):
        """Invert ``images`` (N, 28, 28, 1) in [-1, 1]; return an :class:`InversionResult`.

        The search starts from ``z0`` (N, latent_dim) when given, else every image from the same
        seeded random z, and takes ``steps`` steps (default: the inverter's ``steps``).
        """
        steps = self.steps if steps is None else int(steps)
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}.")
        images = check_images(images)
        if z0 is None:  # one seeded draw for all: an image's score does not depend on the others in its batch
            z0 = np.broadcast_to(np.random.default_rng(self.seed).standard_normal(self.latent_dim), (len(images), self.latent_dim))
        z0 = np.asarray(z0, dtype="float32")
        if z0.shape != (len(images), self.latent_dim):
            raise ValueError(f"z0 must have shape {(len(images), self.latent_dim)} (one z per image), got {z0.shape}.")
        parts = []
        for start in range(0, len(images), self.batch_size):
            x, z = images[start:start + self.batch_size], z0[start:start + self.batch_size]
            n = len(x)
            pad = self.batch_size - n
            x, z = np.concatenate([x, np.zeros((pad, 28, 28, 1), "float32")]), np.concatenate([z, np.zeros((pad, self.latent_dim), "float32")])
            parts.append([t.numpy()[:n] for t in self._invert_batch(x, z, tf.constant(steps))])
        scores, residual, feature, generated, z = (np.concatenate(p) for p in zip(*parts))
        return InversionResult(scores, residual, feature, generated, np.abs(images - generated), z)


class AnoGAN(Detector):
    """AnoGAN's score as a detector: ``steps`` search steps from a random z, then what G(z) misses.

    The settings are those of :class:`Inverter`. Images go through in batches of at most
    ``batch_size``; a smaller set (one drawn digit) gets an inverter of its own size, traced once.
    """

    key, kind = "anogan", GAN

    def __init__(self, generator, discriminator, steps=100, learning_rate=0.05, lam=0.1, batch_size=500, seed=0):
        super().__init__(steps=steps, learning_rate=learning_rate, lam=lam, batch_size=batch_size, seed=seed)
        self.generator, self.discriminator, self._inverters = generator, discriminator, {}

    @property
    def label(self):
        return f"AnoGAN ({self.settings['steps']} steps)"

    def set_params(self, **changes):
        self._inverters = {}  # they hold the old settings
        return super().set_params(**changes)

    def _start(self, images):
        """Where the search starts: ``None``, a seeded random z."""
        return None

    def invert(self, images):
        """The whole :class:`InversionResult` (score terms, G(z), residuals, z) of ``images``."""
        images = check_images(images)
        size = min(len(images), self.settings["batch_size"])
        if size not in self._inverters:
            self._inverters[size] = Inverter(self.generator, self.discriminator, **{**self.settings, "batch_size": size})
        return self._inverters[size].invert(images, z0=self._start(images))

    def _explain(self, images):
        """Scores, G(z) (the closest image the generator makes) and the residuals |x - G(z)|."""
        result = self.invert(images)
        return Explanation(result.scores, result.reconstructions, result.residuals)

    def _save_state(self, folder):
        save_networks(folder, generator=self.generator, discriminator=self.discriminator)

    @classmethod
    def _from_folder(cls, folder, settings):
        return cls(*load_networks(folder, "generator", "discriminator"), **settings)
