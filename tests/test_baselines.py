import keras
import numpy as np
import pytest

from gan_ad import metrics
from gan_ad.baselines import ConvAutoencoder, FeatureKNN, KNNDistance, PCAReconstruction, feature_vectors, knn_grid


def blobs(n, centre, seed):
    """Images near one of two fixed patterns: a stand-in for normal vs anomalous digits."""
    rng = np.random.default_rng(seed)
    pattern = np.zeros((28, 28, 1), "float32")
    pattern[centre[0]:centre[0] + 8, centre[1]:centre[1] + 8] = 1
    return (pattern + 0.1 * rng.standard_normal((n, 28, 28, 1))).astype("float32")


@pytest.mark.parametrize("model", [PCAReconstruction(n_components=4), KNNDistance(k=3, n_components=4),
                                   pytest.param(ConvAutoencoder(code_size=4, epochs=30, batch_size=20), marks=pytest.mark.slow)])
def test_baselines_score_the_unfamiliar_pattern_higher(model):
    model.fit(blobs(100, (4, 4), 0))
    normal, anomalous = model.score(blobs(20, (4, 4), 1)), model.score(blobs(20, (16, 16), 2))
    assert normal.shape == anomalous.shape == (20,)
    assert normal.max() < anomalous.min()


def test_knn_grid_gives_the_auroc_of_one_detector_fitted_per_pair():
    rng = np.random.default_rng(0)
    train, val = rng.standard_normal((60, 12)).astype("float32"), rng.standard_normal((30, 12)).astype("float32")
    is_anomaly = np.r_[np.zeros(15), np.ones(15)].astype(int)
    val[15:] += 0.4  # the anomalies lie a little off
    grid = knn_grid(train, val, is_anomaly, [1, 4], [2, 6], seed=3)
    assert list(grid) == [(1, 2), (1, 6), (4, 2), (4, 6)]  # k by k, as notebook 04's table reads them
    for (k, n), value in grid.items():
        assert value == metrics.auroc(is_anomaly, KNNDistance(k, n, 3).fit(train).score(val)), (k, n)
    assert len(set(grid.values())) > 1


@pytest.mark.slow  # trains networks for a while
def test_autoencoder_same_seed_same_scores():
    x = blobs(40, (4, 4), 0)
    a, b = (ConvAutoencoder(code_size=4, epochs=2, batch_size=20, seed=3).fit(x).score(x) for _ in range(2))
    np.testing.assert_array_equal(a, b)


def identity_discriminator():
    """A 'discriminator' whose feature layer is the flattened image itself."""
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(name="features"), keras.layers.Dense(1)])


def test_knn_in_feature_space_compares_directions_not_lengths():
    x = blobs(30, (4, 4), 0)
    knn = FeatureKNN(identity_discriminator(), k=1, n_components=4).fit(x)
    np.testing.assert_allclose(knn.score(3 * x[:5]), knn.score(x[:5]), atol=1e-5)  # each vector is scaled to unit length
    assert not np.allclose(KNNDistance(k=1, n_components=4).fit(x).score(3 * x[:5]), 0, atol=1e-3)  # in pixels it matters


def test_knn_set_params_changes_the_number_of_neighbours():
    x, y = blobs(30, (4, 4), 0), blobs(5, (16, 16), 1)
    knn = KNNDistance(k=1, n_components=4).fit(x)
    np.testing.assert_allclose(knn.set_params(k=4).score(y), KNNDistance(k=4, n_components=4).fit(x).score(y), rtol=1e-6)
    assert knn.explain(y).neighbour_distances.shape == (5, 4)


def test_knn_on_precomputed_feature_vectors_is_the_knn_in_feature_space():
    discriminator = identity_discriminator()
    flatten = keras.Model(discriminator.inputs[0], discriminator.get_layer("features").output)
    x, y = blobs(30, (4, 4), 0), blobs(10, (16, 16), 1)
    vectors = feature_vectors(flatten, x, batch_size=7)  # a partial last batch
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-5)
    direct = FeatureKNN(discriminator, k=2, n_components=4).fit(x).score(y)
    np.testing.assert_allclose(KNNDistance(k=2, n_components=4).fit(vectors).score(feature_vectors(flatten, y)), direct, rtol=1e-5)
