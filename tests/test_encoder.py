import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from gan_ad import data, encoder, models
from gan_ad.files import MissingStepError
from gan_ad.inversion import Inverter


def nets(seed=0):
    models.seed_everything(seed)
    return models.build_encoder(8, 4), models.build_generator(8, 4), models.build_discriminator(4)


def generated(generator, n, seed=1):
    z = np.random.default_rng(seed).standard_normal((n, 8)).astype("float32")
    return generator(z, training=False).numpy()


def compiled(e, g, d, lr=0.01):
    training = encoder.EncoderTraining(e, g, d, lam=0.1)
    training.compile(keras.optimizers.Adam(lr))
    return training


@pytest.mark.slow  # trains networks for a while
def test_training_moves_only_the_encoder_and_lowers_the_score(tmp_path):
    e, g, d = nets()
    frozen = [w.copy() for w in g.get_weights() + d.get_weights()]
    x = generated(g, 256)
    score = lambda: Inverter(g, d, steps=0).invert(x[:64], z0=encoder.encode(e, x[:64])).scores.mean()
    before = score()
    history = encoder.fit_encoder(compiled(e, g, d), x, x[:64], tmp_path, epochs=8, batch_size=32, verbose=0)
    after = score()
    assert after < 0.8 * before
    for a, b in zip(frozen, g.get_weights() + d.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert list(history.columns[:3]) == ["epoch", "loss", "val_loss"] and history["epoch"].iloc[0] == 1
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "encoder_history.csv").assign(epoch=lambda h: h["epoch"] + 1), history)


def test_a_cosine_schedule_falls_from_the_learning_rate_to_zero_and_a_constant_one_stays():
    def rate_at(optimizer, step):
        optimizer.iterations.assign(step)
        return float(optimizer.learning_rate)

    cosine, constant = encoder.optimizer(0.01, "cosine", steps=10), encoder.optimizer(0.01, "constant")
    assert [rate_at(cosine, s) for s in (0, 5, 10)] == pytest.approx([0.01, 0.005, 0.0], abs=1e-7)
    assert rate_at(constant, 10) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="cosine"):
        encoder.optimizer(0.01, "linear")
    with pytest.raises(ValueError, match="training steps"):
        encoder.optimizer(0.01, "cosine")


@pytest.mark.slow  # trains networks for a while
def test_the_saved_encoder_is_the_best_validation_epoch(tmp_path):
    e, g, d = nets()
    x = generated(g, 128)
    history = encoder.fit_encoder(compiled(e, g, d, lr=0.05), x, x[:32], tmp_path, epochs=4, batch_size=32, patience=4, verbose=0)
    saved = encoder.load_encoder(tmp_path)
    best = compiled(saved, g, d).evaluate(tf.data.Dataset.from_tensor_slices(x[:32]).batch(500), verbose=0)
    assert best == pytest.approx(history["val_loss"].min(), rel=1e-4)


@pytest.mark.slow  # trains networks for a while
def test_a_cosine_schedule_of_training_steps_ends_at_zero_on_the_last_step(tmp_path):
    e, g, d = nets()
    x = generated(g, 70)  # 2 full batches of 32 an epoch, and 6 images left over
    training = encoder.EncoderTraining(e, g, d, lam=0.1)
    steps = 3 * data.steps_per_epoch(len(x), batch_size=32)
    training.compile(encoder.optimizer(0.01, "cosine", steps))
    encoder.fit_encoder(training, x, x[:32], tmp_path, epochs=3, batch_size=32, patience=3, verbose=0)
    assert steps == int(training.optimizer.iterations) == 6
    assert float(training.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)


def test_search_from_the_encoders_z_refines_its_score():
    e, g, d = nets()
    x = generated(g, 6)
    z = encoder.encode(e, x, batch_size=4)
    np.testing.assert_allclose(z, e(x), rtol=1e-5, atol=1e-6)
    inverter = Inverter(g, d, batch_size=4)
    fast, refined = inverter.invert(x, z0=z, steps=0), inverter.invert(x, z0=z, steps=20)
    np.testing.assert_array_equal(fast.z, z)
    assert refined.scores.mean() < fast.scores.mean()


def test_training_under_a_mirrored_strategy_on_the_cpu(tmp_path):
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        e, g, d = nets()
        training = compiled(e, g, d)
    history = encoder.fit_encoder(training, generated(g, 64), generated(g, 16, 2), tmp_path, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history[["loss", "val_loss"]].to_numpy()).all()


def test_missing_encoder_names_the_notebook(tmp_path):
    with pytest.raises(MissingStepError, match="04_encoder"):
        encoder.load_encoder(tmp_path)


@pytest.mark.parametrize("images", [np.zeros((3, 28, 28)), np.zeros((0, 28, 28, 1))])
def test_encode_refuses_a_wrong_shape(images):
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        encoder.encode(nets()[0], images)


def test_memory_generates_from_the_mean_of_the_nearest_normal_codes():
    e, g, d = nets()
    x_train = np.random.default_rng(4).uniform(-1, 1, (30, 28, 28, 1)).astype("float32")
    codes = encoder.encode(e, x_train)
    memory = encoder.EncoderMemory(e, g, d, k=1, batch_size=16).fit(x_train)
    # a training digit's nearest code is its own: with k = 1 the memory's G(z) is G(E(x))
    np.testing.assert_allclose(memory.explain(x_train[:5]).reconstructions, g(codes[:5], training=False).numpy(), atol=1e-5)
    query = np.random.default_rng(5).uniform(-1, 1, (3, 28, 28, 1)).astype("float32")
    memory.set_params(k=4)  # the same memory, asked for more neighbours
    nearest = np.argsort(((encoder.encode(e, query)[:, None] - codes[None]) ** 2).sum(axis=2), axis=1)[:, :4]
    explained = memory.explain(query)
    np.testing.assert_allclose(explained.reconstructions, g(codes[nearest].mean(axis=1), training=False).numpy(), atol=1e-5)
    assert memory.settings["k"] == 4 and memory.threshold is None
    features = models.feature_extractor(d)(np.concatenate([query, explained.reconstructions]), training=False).numpy()
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    np.testing.assert_allclose(explained.scores, np.linalg.norm(unit[:3] - unit[3:], axis=1), rtol=1e-4)
    # notebook 04's grid: every k at once gives what each k gives alone
    each = memory.draw_and_score(query, [4, 1, 2])
    for k in (1, 2, 4):
        np.testing.assert_allclose(each[k][0], memory.set_params(k=k).score(query), rtol=1e-5)
    with pytest.raises(ValueError, match="between 1 and the 30 codes"):
        memory.draw_and_score(query, [0, 5])
    with pytest.raises(ValueError, match="between 1 and the 30 codes"):
        memory.set_params(k=31).score(query)
