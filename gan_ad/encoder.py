"""Encoder: f-AnoGAN's fast replacement for AnoGAN's search, trained after the GAN.

Explained in ``notebooks/04_encoder.ipynb``. An encoder E learns to map an image x straight to
the latent z that the search of ``gan_ad.inversion`` would look for. It trains on normal digits
with the generator and discriminator frozen (f-AnoGAN's *izi_f* training: image -> z -> image,
compared in pixels and in discriminator features), minimising the very anomaly score that the
search minimises. Scoring then takes one forward pass, or a few search steps started from E(x):
``Inverter(generator, discriminator).invert(images, z0=encode(encoder, images), steps=K)``.
:class:`EncoderScore` and :class:`EncoderSearch` are these two scores as detectors.

The generator can draw many anomalies well (a 7 from a 1's code, a 9 from a 4's), so what G(E(x))
misses says little about them. :class:`EncoderMemory` keeps G to normal digits: it replaces E(x)
by the mean code of its k nearest training normals before generating (a memory of normal codes, as
in MemAE, Gong et al. 2019), and scores what that G(z) misses in the discriminator's features.
"""
import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.neighbors import NearestNeighbors

from .baselines import feature_vectors
from .data import train_dataset
from .files import atomic_path, load_arrays, load_keras, require
from .detector_base import GAN, Detector, Explanation, check_images, load_networks, save_networks
from .inversion import AnoGAN, score_terms
from .models import feature_extractor, predict_batches


class EncoderTraining(keras.Model):
    """izi_f: train ``encoder`` so that G(E(x)) matches x; generator and discriminator stay frozen.

    The loss is the mean anomaly score of :func:`gan_ad.inversion.score_terms` with weight ``lam``.
    ``fit`` takes a dataset of images (no labels); ``validation_data`` gives ``val_loss``.
    Freezing sets ``trainable = False`` on the generator and on the discriminator's layers up to
    its features: train a GAN with fresh copies (``training.load_models``), not with these.
    """

    def __init__(self, encoder, generator, discriminator, lam=0.1, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.generator, self.features = encoder, generator, feature_extractor(discriminator)
        self.generator.trainable = self.features.trainable = False
        self.lam = lam
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, x, training=False):
        return self.generator(self.encoder(x, training=training), training=False)

    def _loss(self, x, training):
        generated = self(x, training=training)
        score, _, _ = score_terms(x, self.features(x, training=False), generated,
                                  self.features(generated, training=False), self.lam)
        return tf.reduce_mean(score)

    def train_step(self, x):
        with tf.GradientTape() as tape:
            loss = self._loss(x, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync  # gradients are summed over replicas
            scaled = loss / replicas
        grads = tape.gradient(scaled, self.encoder.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.encoder.trainable_variables))
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return {"loss": self.loss_tracker.result()}

    def test_step(self, x):
        self.loss_tracker.update_state(self._loss(x, training=False), sample_weight=tf.shape(x)[0])  # a short last batch counts less
        return {"loss": self.loss_tracker.result()}


def optimizer(learning_rate, schedule="constant", steps=None):
    """Adam for :class:`EncoderTraining`: a constant step size, or with ``schedule="cosine"`` one that
    falls from ``learning_rate`` to 0 along a half cosine over ``steps`` training steps (epochs times
    :func:`gan_ad.data.steps_per_epoch`)."""
    if schedule == "cosine":
        if not steps or steps < 1:
            raise ValueError(f"a cosine schedule needs the number of training steps, got {steps!r}.")
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    elif schedule != "constant":
        raise ValueError(f'schedule is "constant" or "cosine", not {schedule!r}.')
    return keras.optimizers.Adam(learning_rate)


def fit_encoder(training, train_images, val_images, run_dir, epochs, batch_size=128, patience=3, seed=0, verbose=1):
    """Train an :class:`EncoderTraining` (compiled) and save its encoder as ``run_dir/encoder.keras``.

    Trains on ``train_images`` for at most ``epochs`` epochs and keeps the encoder of the epoch with
    the lowest loss on ``val_images`` (validation normals); stops after ``patience`` epochs without
    improvement. The losses per epoch go to ``encoder_history.csv``. Returns the history as a DataFrame.
    """
    train_ds = train_dataset(train_images, batch_size, seed)
    val_ds = tf.data.Dataset.from_tensor_slices(np.asarray(val_images, "float32")).batch(500)
    with atomic_path(run_dir / "encoder_history.csv") as tmp:
        callbacks = [keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True),
                     keras.callbacks.CSVLogger(str(tmp))]
        training.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=verbose, shuffle=False)
        history = pd.read_csv(tmp)
    with atomic_path(run_dir / "encoder.keras") as tmp:
        training.encoder.save(tmp)
    history["epoch"] += 1  # CSVLogger counts from 0
    return history


def load_encoder(run_dir):
    """Return the encoder that :func:`fit_encoder` saved in ``run_dir``."""
    return load_keras(require(run_dir, "encoder.keras"))


def encode(encoder, images, batch_size=500):
    """The encoder's z for each image (N, 28, 28, 1) in [-1, 1], shape (N, latent_dim)."""
    return predict_batches(encoder, check_images(images), batch_size)


class EncoderSearch(AnoGAN):
    """f-AnoGAN's score with a search: ``steps`` search steps started from the encoder's z instead of a random one."""

    key = "encoder_refined"

    def __init__(self, encoder, generator, discriminator, steps=10, learning_rate=0.05, lam=0.1, batch_size=500, seed=0):
        super().__init__(generator, discriminator, steps, learning_rate, lam, batch_size, seed)
        self.encoder = encoder

    @property
    def label(self):
        return f"Encoder + {self.settings['steps']} steps"

    def _start(self, images):
        return encode(self.encoder, images)

    def _save_state(self, folder):
        super()._save_state(folder)
        save_networks(folder, encoder=self.encoder)

    @classmethod
    def _from_folder(cls, folder, settings):
        return cls(*load_networks(folder, "encoder", "generator", "discriminator"), **settings)


class EncoderScore(EncoderSearch):
    """f-AnoGAN's score in one pass: the anomaly score of G(E(x)), no search (``steps`` = 0)."""

    key = "encoder"

    def __init__(self, encoder, generator, discriminator, steps=0, learning_rate=0.05, lam=0.1, batch_size=500, seed=0):
        super().__init__(encoder, generator, discriminator, steps, learning_rate, lam, batch_size, seed)

    @property
    def label(self):
        return "Encoder (f-AnoGAN)" if self.settings["steps"] == 0 else super().label


class EncoderMemory(Detector):
    """The encoder's score with a memory of normal codes: x -> E(x) -> z = mean of its ``k`` nearest normal codes -> G(z).

    ``fit`` encodes the training normals (the memory). The score is what G(z) misses in the
    discriminator's features: the distance between the unit-length feature vectors of x and of
    G(z) (:func:`gan_ad.baselines.feature_vectors`, as the feature kNN uses). An anomaly's nearest
    normal codes make a normal digit, far from it; a normal digit's make one close to it.
    """

    key, kind, label = "encoder_memory", GAN, "Encoder + memory of normals"

    def __init__(self, encoder, generator, discriminator, k=10, batch_size=500):
        super().__init__(k=k, batch_size=batch_size)
        self.encoder, self.generator, self.discriminator = encoder, generator, discriminator
        self.features = feature_extractor(discriminator)

    def _fit(self, images):
        self._index(encode(self.encoder, check_images(images), self.settings["batch_size"]))

    def _index(self, codes):
        self.codes = codes.astype("float32")
        self.knn = NearestNeighbors().fit(self.codes)  # any k: kneighbors is asked for the number it needs

    def _explain(self, images):
        """Scores, G(z) from the memory's codes, and the residuals |x - G(z)|."""
        x = check_images(images)
        (scores, generated), = self.draw_and_score(x, [self.settings["k"]]).values()
        return Explanation(scores, generated, np.abs(x - generated))

    def draw_and_score(self, images, ks):
        """Map k -> (scores, G(z)) with z the mean of the k nearest normal codes, for each k of ``ks``.

        The images are encoded, and their features computed, once for all k: notebook 04 chooses k
        on validation with it.
        """
        x, batch = check_images(images), self.settings["batch_size"]
        if not all(1 <= k <= len(self.codes) for k in ks):
            raise ValueError(f"Each k must lie between 1 and the {len(self.codes)} codes of the memory, got {list(ks)}.")
        nearest = self.knn.kneighbors(encode(self.encoder, x, batch), n_neighbors=max(ks), return_distance=False)
        features = feature_vectors(self.features, x, batch)
        out = {}
        for k in ks:  # neighbours come nearest first: the k nearest are the first k columns
            generated = predict_batches(self.generator, self.codes[nearest[:, :k]].mean(axis=1), batch)
            out[k] = np.linalg.norm(features - feature_vectors(self.features, generated, batch), axis=1), generated
        return out

    def _save_state(self, folder):
        save_networks(folder, encoder=self.encoder, generator=self.generator, discriminator=self.discriminator)
        np.save(folder / "codes.npy", self.codes)

    @classmethod
    def _from_folder(cls, folder, settings):
        detector = cls(*load_networks(folder, "encoder", "generator", "discriminator"), **settings)
        detector._index(load_arrays(folder / "codes.npy"))
        return detector
