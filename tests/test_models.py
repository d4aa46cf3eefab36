import keras
import numpy as np
import pytest

from gan_ad import models


def test_generator_makes_images_in_tanh_range():
    g = models.build_generator(latent_dim=8, width=4)
    out = g(np.random.default_rng(0).standard_normal((3, 8)).astype("float32"), training=False).numpy()
    assert out.shape == (3, 28, 28, 1)
    assert out.min() >= -1 and out.max() <= 1


def test_discriminator_gives_one_logit_and_exposes_features():
    d = models.build_discriminator(width=4)
    x = np.zeros((2, 28, 28, 1), "float32")
    assert d(x).shape == (2, 1)
    f = models.feature_extractor(d)
    assert f(x).shape == (2, 7 * 7 * 8)
    assert f.layers[1] is d.layers[0]  # same weights, not a copy


def test_encoder_maps_images_to_latent_codes():
    e = models.build_encoder(latent_dim=8, width=4)
    assert e(np.zeros((2, 28, 28, 1), "float32")).shape == (2, 8)


def test_spectral_norm_discriminator_normalises_saves_and_exposes_features(tmp_path):
    d = models.build_discriminator(width=4, spectral_norm=True)
    assert sum(isinstance(layer, keras.layers.SpectralNormalization) for layer in d.layers) == 3  # 2 Conv2D, 1 Dense
    x = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    d(x, training=True)  # a training call normalises the kernels; one power iteration is exact for the Dense's
    assert np.linalg.norm(d.layers[-1].layer.kernel.numpy()) == pytest.approx(1, abs=1e-5)
    d.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras")
    np.testing.assert_array_equal(loaded(x).numpy(), d(x).numpy())
    np.testing.assert_array_equal(models.feature_extractor(loaded)(x).numpy(), models.feature_extractor(d)(x).numpy())
    assert models.feature_extractor(loaded)(x).shape == (4, 7 * 7 * 8)
    with pytest.raises(ValueError, match="spectral_norm must be True or False, not 'yes'"):
        models.build_discriminator(width=4, spectral_norm="yes")
