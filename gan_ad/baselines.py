"""Baselines: plain anomaly scores the GAN has to beat, on the same split and metrics.

Explained in ``notebooks/04_evaluation.ipynb``. Both fit on the GAN's training images (normals
only) and score any images; a higher score means more anomalous.
"""
import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors


def _flat(images):
    return np.asarray(images, dtype="float32").reshape(len(images), -1)


class PCAReconstruction:
    """Score = mean squared error of an image's reconstruction from ``n_components`` principal components."""

    def __init__(self, n_components=32, seed=0):
        self.pca = PCA(n_components, random_state=seed)

    def fit(self, images):
        """Fit the components on (normal) training images; returns self."""
        self.pca.fit(_flat(images))
        return self

    def score(self, images):
        """Reconstruction error of each image, shape (N,)."""
        x = _flat(images)
        return np.mean((x - self.pca.inverse_transform(self.pca.transform(x))) ** 2, axis=1)


class KNNDistance:
    """Score = mean Euclidean distance to the ``k`` nearest training images, in ``n_components`` PCA dimensions."""

    def __init__(self, k=5, n_components=50, seed=0):
        self.pca = PCA(n_components, random_state=seed)
        self.knn = NearestNeighbors(n_neighbors=k)

    def fit(self, images):
        """Index the (normal) training images; returns self."""
        self.knn.fit(self.pca.fit_transform(_flat(images)))
        return self

    def score(self, images):
        """Mean distance of each image to its k nearest training images, shape (N,)."""
        distances, _ = self.knn.kneighbors(self.pca.transform(_flat(images)))
        return distances.mean(axis=1)
