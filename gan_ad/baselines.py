"""Baselines, and the kNN in the discriminator's features: detectors without a generator.

Explained in ``notebooks/05_evaluation.ipynb`` (PCA reconstruction, kNN distance in pixels, a
convolutional autoencoder: the plain scores the GAN has to beat) and ``04_encoder.ipynb`` (the
kNN in the GAN discriminator's feature space). Each is a :class:`gan_ad.detector_base.Detector`: it
fits on the GAN's training images (normals only) and scores any images; higher = more anomalous.
"""
import keras
import numpy as np
from keras import layers
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from . import metrics
from .files import load_arrays, reading
from .detector_base import BASELINE, GAN, Detector, Explanation, check_images, load_networks, save_networks
from .models import feature_extractor, predict_batches, seed_everything

FEATURE_KNN = {"k": 5, "n_components": 32}  # the fixed settings of the per-epoch monitor (notebook 02); notebook 04 chooses its own


def _flat(images):
    return np.array(images, dtype="float32").reshape(len(images), -1)  # a copy: the PCA centres it in place


class _Projection:
    """A fitted PCA kept as plain arrays, so that scores are the same before and after saving."""

    def __init__(self, mean, components):
        self.mean, self.components = mean.astype("float32"), components.astype("float32")

    @classmethod
    def fit(cls, vectors, n_components, seed):
        """The projection fitted on ``vectors`` (overwritten: they are ours) and their codes."""
        pca = PCA(n_components, copy=False, random_state=seed)
        codes = pca.fit_transform(vectors)
        return cls(pca.mean_, pca.components_), codes

    def transform(self, vectors):
        return (vectors - self.mean) @ self.components.T

    def inverse(self, codes):
        return codes @ self.components + self.mean


def to_uint8(images):
    """Images in [-1, 1] back to the uint8 they were scaled from (exactly), for compact storage."""
    return np.rint((np.asarray(images) + 1) * 127.5).astype("uint8")


class PCAReconstruction(Detector):
    """Score = mean squared error of an image's reconstruction from ``n_components`` principal components."""

    key, kind, label = "pca", BASELINE, "PCA reconstruction"

    def __init__(self, n_components=32, seed=0):
        super().__init__(n_components=n_components, seed=seed)

    def _fit(self, images):
        self.pca, _ = _Projection.fit(_flat(check_images(images)), self.settings["n_components"], self.settings["seed"])

    def _explain(self, images):
        """Scores, the reconstructions from the components and the residuals."""
        x = check_images(images)
        reconstructions = self.pca.inverse(self.pca.transform(_flat(x))).reshape(x.shape)
        residuals = np.abs(x - reconstructions)
        return Explanation(np.mean((x - reconstructions) ** 2, axis=(1, 2, 3)), reconstructions, residuals)

    def _save_state(self, folder):
        np.savez(folder / "pca.npz", mean=self.pca.mean, components=self.pca.components)

    @classmethod
    def _from_folder(cls, folder, settings):
        detector = cls(**settings)
        f = load_arrays(folder / "pca.npz", ["mean", "components"])
        detector.pca = _Projection(f["mean"], f["components"])
        return detector


def feature_vectors(features, images, batch_size=500):
    """Each image's ``features`` vector (a Keras model's output) scaled to unit length, shape (N, D).

    Filled batch by batch into one float32 array, so a large set is never held twice.
    """
    images = np.asarray(images, dtype="float32")
    vectors = np.empty((len(images), features.output_shape[-1]), "float32")
    for start in range(0, len(images), batch_size):
        v = np.asarray(features(images[start:start + batch_size], training=False))
        vectors[start:start + len(v)] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return vectors


class KNNDistance(Detector):
    """Score = mean Euclidean distance to the ``k`` nearest training images, in ``n_components`` PCA dimensions.

    Inputs are compared as they are: images pixel by pixel, or vectors (N, D) already made by
    :func:`feature_vectors`. Fitted on images, it keeps them (as uint8) so that :meth:`explain`
    can show the nearest ones.
    """

    key, kind, label = "pixel_knn", BASELINE, "kNN distance in pixels"

    def __init__(self, k=5, n_components=50, seed=0):
        super().__init__(k=k, n_components=n_components, seed=seed)

    def _check(self, images):
        """Images (N, 28, 28, 1) as the base class checks them, or vectors (N, D) already made by :func:`feature_vectors`."""
        vectors = np.asarray(images, "float32")
        if vectors.ndim == 2 and len(vectors) and vectors.shape[1]:
            return vectors
        return check_images(images)

    def _vectors(self, images):
        return _flat(images)

    def _fit(self, images):
        self.pca, codes = _Projection.fit(self._vectors(images), self.settings["n_components"], self.settings["seed"])
        self._index(codes.astype("float32"), to_uint8(images) if np.ndim(images) == 4 else None)

    def _index(self, codes, train_images):
        self.codes, self.train_images = codes, train_images
        self.knn = NearestNeighbors().fit(codes)  # any k: kneighbors is asked for the setting's (set_params may change it)

    def _nearest(self, images):
        """Distances to the k nearest training images (the setting's k) and their indices, each (N, k)."""
        return self.knn.kneighbors(self.pca.transform(self._vectors(images)), n_neighbors=self.settings["k"])

    def _score(self, images):
        """Mean distance of each image (or vector) to its k nearest training images, shape (N,)."""
        distances, _ = self._nearest(images)
        return distances.mean(axis=1)

    def _explain(self, images):
        """Scores, the k nearest training images and their distances."""
        distances, idx = self._nearest(images)
        neighbours = None if self.train_images is None else self.train_images[idx] / 127.5 - 1
        return Explanation(distances.mean(axis=1), neighbours=neighbours, neighbour_distances=distances)

    def _save_state(self, folder):
        np.savez_compressed(folder / "index.npz", mean=self.pca.mean, components=self.pca.components, codes=self.codes,
                            **({} if self.train_images is None else {"train_images": self.train_images}))

    def _load_state(self, folder):
        f = load_arrays(folder / "index.npz")
        with reading(folder / "index.npz"):
            self.pca = _Projection(f["mean"], f["components"])
        self._index(f["codes"], f.get("train_images"))
        return self

    @classmethod
    def _from_folder(cls, folder, settings):
        return cls(**settings)._load_state(folder)


def knn_grid(train, val, is_anomaly, ks, dimensions, seed=0):
    """Validation AUROC of :class:`KNNDistance` for every ``(k, n)`` of ``ks`` x ``dimensions``, as a dict (notebook 04).

    ``train`` and ``val`` are vectors already made (:func:`feature_vectors`) or images. One projection and
    index per number of dimensions serves every k (a query of the same index): the numbers of fitting one
    detector per pair, with a third of the fits for three ks.
    """
    fitted = {n: KNNDistance(n_components=n, seed=seed).fit(train) for n in dimensions}
    return {(k, n): metrics.auroc(is_anomaly, fitted[n].set_params(k=k).score(val)) for k in ks for n in dimensions}


class FeatureKNN(KNNDistance):
    """kNN distance in the GAN discriminator's feature space (notebook 04): images become their :func:`feature_vectors`."""

    key, kind, label = "feature_knn", GAN, "Discriminator-feature kNN"

    def __init__(self, discriminator, k=5, n_components=32, seed=0):
        super().__init__(k, n_components, seed)
        self.discriminator, self.features = discriminator, feature_extractor(discriminator)

    def _check(self, images):
        return check_images(images)  # images only: their feature vectors are made here

    def _vectors(self, images):
        return feature_vectors(self.features, images)

    def _save_state(self, folder):
        super()._save_state(folder)
        save_networks(folder, discriminator=self.discriminator)

    @classmethod
    def _from_folder(cls, folder, settings):
        return cls(*load_networks(folder, "discriminator"), **settings)._load_state(folder)


class ConvAutoencoder(Detector):
    """Score = mean squared error of a convolutional autoencoder's reconstruction.

    Encoder and decoder mirror the DCGAN's networks around a ``code_size`` bottleneck; trained
    for ``epochs`` epochs with Adam on (normal) training images.
    """

    key, kind, label = "autoencoder", BASELINE, "Convolutional autoencoder"

    def __init__(self, code_size=32, epochs=15, batch_size=128, seed=0):
        super().__init__(code_size=code_size, epochs=epochs, batch_size=batch_size, seed=seed)
        seed_everything(seed)  # the weights are drawn here: same seed, same autoencoder
        self.model = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 4, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 4, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(code_size),
            layers.Dense(7 * 7 * 64, activation="relu"),
            layers.Reshape((7, 7, 64)),
            layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh"),
        ], name="autoencoder")
        self.model.compile(keras.optimizers.Adam(1e-3), loss="mse")

    def _fit(self, images):
        images = check_images(images)
        self.model.fit(images, images, epochs=self.settings["epochs"], batch_size=self.settings["batch_size"], verbose=0)

    def _explain(self, images):
        """Scores, the reconstructions and the residuals."""
        x = check_images(images)
        reconstructions = predict_batches(self.model, x)
        return Explanation(np.mean((x - reconstructions) ** 2, axis=(1, 2, 3)), reconstructions, np.abs(x - reconstructions))

    def _save_state(self, folder):
        save_networks(folder, autoencoder=self.model)

    @classmethod
    def _from_folder(cls, folder, settings):
        detector = cls.__new__(cls)  # not __init__: it would draw fresh weights only to replace them
        Detector.__init__(detector, **settings)
        detector.model, = load_networks(folder, "autoencoder")
        return detector
