import numpy as np
import pytest

from gan_ad import models
from gan_ad.inversion import Inverter


@pytest.fixture(scope="module")
def nets():
    import keras
    keras.utils.set_random_seed(0)
    return models.build_generator(8, 4), models.build_discriminator(4)


def generated(generator, n, seed=1):
    z = np.random.default_rng(seed).standard_normal((n, 8)).astype("float32")
    return generator(z, training=False).numpy()


def test_more_steps_bring_generated_images_closer(nets):
    x = generated(nets[0], 6)
    before = Inverter(*nets, steps=0, batch_size=4).invert(x)
    after = Inverter(*nets, steps=60, learning_rate=0.05, batch_size=4).invert(x)
    assert after.scores.mean() < 0.7 * before.scores.mean()


def test_result_shapes_with_a_partial_last_batch(nets):
    x = generated(nets[0], 7)
    r = Inverter(*nets, steps=2, batch_size=3).invert(x)
    assert r.scores.shape == r.residual_scores.shape == r.feature_scores.shape == (7,)
    assert r.reconstructions.shape == r.residuals.shape == (7, 28, 28, 1)
    assert r.z.shape == (7, 8)
    np.testing.assert_allclose(r.residuals, np.abs(x - r.reconstructions))


def test_score_weighs_residual_and_features(nets):
    x = generated(nets[0], 4)
    for lam in (0.0, 0.3, 1.0):
        r = Inverter(*nets, lam=lam, steps=3, batch_size=4).invert(x)
        np.testing.assert_allclose(r.scores, (1 - lam) * r.residual_scores + lam * r.feature_scores, rtol=1e-5)
    np.testing.assert_allclose(r.residual_scores, np.abs(x - r.reconstructions).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_same_seed_same_scores(nets):
    x = generated(nets[0], 5)
    a, b = (Inverter(*nets, steps=5, batch_size=5, seed=2).invert(x) for _ in range(2))
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("images", [np.zeros((3, 28, 28)), np.zeros((3, 1, 28, 28)), np.zeros((0, 28, 28, 1))])
def test_bad_image_shapes_are_refused(nets, images):
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        Inverter(*nets, steps=1).invert(images)


def test_bad_settings_are_refused(nets):
    with pytest.raises(ValueError, match="lam"):
        Inverter(*nets, lam=1.5)
    with pytest.raises(ValueError, match="steps"):
        Inverter(*nets, steps=-1)


def test_search_starts_from_a_given_z(nets):
    z0 = np.random.default_rng(3).standard_normal((5, 8)).astype("float32")
    x = nets[0](z0, training=False).numpy()
    r = Inverter(*nets, steps=0, batch_size=2).invert(x, z0=z0)
    np.testing.assert_array_equal(r.z, z0)
    np.testing.assert_allclose(r.residual_scores, 0, atol=1e-5)  # G(z0) is x itself
    with pytest.raises(ValueError, match="one z per image"):
        Inverter(*nets, steps=0).invert(x, z0=z0[:4])


def test_steps_given_to_invert_override_the_default(nets):
    x = generated(nets[0], 4)
    inverter = Inverter(*nets, steps=0, batch_size=4)
    np.testing.assert_array_equal(inverter.invert(x, steps=7).scores, Inverter(*nets, steps=7, batch_size=4).invert(x).scores)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        inverter.invert(x, steps=-1)


def test_check_images_returns_float32_or_says_the_shape():
    from gan_ad.detectors import check_images
    assert check_images(np.zeros((2, 28, 28, 1), "float64")).dtype == np.float32
    with pytest.raises(ValueError, match=r"got \(2, 28, 28\)"):
        check_images(np.zeros((2, 28, 28)))
