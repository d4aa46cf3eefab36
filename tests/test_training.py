import keras
import numpy as np
import pandas as pd
import pytest

from gan_ad import data, models, training
from gan_ad.files import DamagedFileError

CONFIG = {"latent_dim": 8, "width": 4}


def tiny_gan(seed=0, spectral_norm=False, **settings):
    models.seed_everything(seed)
    return training.make_gan(models.build_generator(8, 4), models.build_discriminator(4, spectral_norm), **settings)


def tiny_data(n=64):
    return np.random.default_rng(0).uniform(-1, 1, (n, 28, 28, 1)).astype("float32")


def fit(run_dir, epochs, monitor=None, config=CONFIG, gan=None):
    gan = gan or tiny_gan()
    history = training.fit_gan(gan, data.train_dataset(tiny_data(), 32), run_dir, epochs, config, monitor, verbose=0)
    return gan, history


def test_fit_writes_history_samples_and_checkpoints(tmp_path):
    x = tiny_data(16)
    monitor = training.ValidationAUROC(tiny_data(40), x, np.r_[np.zeros(8), np.ones(8)], np.arange(4, 12), steps=2)
    _, history = fit(tmp_path, 2, monitor)
    assert list(history["epoch"]) == [1, 2]
    assert {"d_loss", "g_loss", "val_auroc_anogan", "val_auroc_features"} <= set(history.columns)
    assert history[["val_auroc_anogan", "val_auroc_features"]].stack().between(0, 1).all()
    assert monitor.inverter.batch_size == 8  # the monitor images go through in one batch, no padding
    assert sorted(training.checkpoints(tmp_path / "checkpoints")) == [1, 2]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]


def test_monitor_indexes_a_seeded_subset_of_the_training_images():
    train, x = tiny_data(40), tiny_data(16)
    make = lambda seed: training.ValidationAUROC(train, x, np.r_[np.zeros(8), np.ones(8)], np.arange(16), index_size=10, seed=seed)
    kept = make(0).train_images
    rows = [int(np.flatnonzero((train == image).all(axis=(1, 2, 3)))[0]) for image in kept]
    assert len(kept) == 10 and len(set(rows)) == 10 and rows == sorted(rows)
    np.testing.assert_array_equal(make(0).train_images, kept)
    assert not np.array_equal(make(1).train_images, kept)
    assert len(training.ValidationAUROC(train, x, np.zeros(16), np.arange(8)).train_images) == 40  # fewer than index_size: all


@pytest.mark.slow  # trains networks for a while
def test_training_resumes_after_the_last_checkpoint(tmp_path):
    fit(tmp_path, 2)
    (tmp_path / "checkpoints" / "epoch_002.keras").unlink()  # as if stopped while saving epoch 2
    gan, history = fit(tmp_path, 3)
    assert list(history["epoch"]) == [1, 2, 3]  # epoch 2 trained again, not logged twice
    assert int(gan.g_optimizer.iterations) == 3 * 2  # optimizer state came back with the weights
    _, again = fit(tmp_path, 3)  # nothing left to do
    pd.testing.assert_frame_equal(again, history)
    gan, shorter = fit(tmp_path, 1)  # fewer epochs than saved: back to epoch 1, no training
    assert list(shorter["epoch"]) == [1] and int(gan.g_optimizer.iterations) == 2
    _, longer = fit(tmp_path, 3)  # and forward again: all three epochs are still there
    pd.testing.assert_frame_equal(longer, history)


@pytest.mark.slow  # trains networks for a while
@pytest.mark.parametrize("gan_loss", ["bce", pytest.param("wgan-gp", marks=pytest.mark.slow)])
def test_a_resumed_training_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, gan_loss):
    straight, history = fit(tmp_path / "straight", 3, gan=tiny_gan(gan_loss=gan_loss))
    fit(tmp_path / "resumed", 1, gan=tiny_gan(gan_loss=gan_loss))  # stopped after epoch 1; the resumed epochs draw the same z and batches
    resumed, resumed_history = fit(tmp_path / "resumed", 3, gan=tiny_gan(gan_loss=gan_loss))
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    pd.testing.assert_frame_equal(resumed_history, history)


@pytest.mark.slow  # trains networks for a while
def test_checkpoints_beyond_the_resume_point_are_dropped(tmp_path):
    fit(tmp_path, 3)
    (tmp_path / "checkpoints" / "epoch_002.keras").unlink()
    fit(tmp_path, 2)  # trains epoch 2 again: the old epoch 3 no longer follows from it
    assert sorted(training.checkpoints(tmp_path / "checkpoints")) == [1, 2]


def test_resuming_with_other_settings_is_refused(tmp_path):
    fit(tmp_path, 1)
    with pytest.raises(ValueError, match="delete its checkpoints"):
        fit(tmp_path, 2, config={**CONFIG, "width": 8})


@pytest.mark.slow  # trains networks for a while
def test_unreadable_checkpoint_is_reported(tmp_path):
    fit(tmp_path, 1)
    (tmp_path / "checkpoints" / "epoch_001.keras").write_bytes(b"garbage")
    with pytest.raises(DamagedFileError, match="epoch_001.keras is damaged and cannot be read.*02_train_gan"):
        fit(tmp_path, 2)


@pytest.mark.slow  # trains networks for a while
def test_same_seed_same_weights(tmp_path):
    a, _ = fit(tmp_path / "a", 1, gan=tiny_gan(3))
    b, _ = fit(tmp_path / "b", 1, gan=tiny_gan(3))
    for va, vb in zip(a.generator.weights, b.generator.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


@pytest.mark.slow  # trains networks for a while
def test_export_models_saves_the_chosen_epoch(tmp_path):
    gan, _ = fit(tmp_path, 2)
    training.export_models(gan, tmp_path, 1)
    generator = keras.models.load_model(tmp_path / "generator.keras")
    ckpt = keras.models.load_model(tmp_path / "checkpoints" / "epoch_001.keras")
    for a, b in zip(generator.weights, ckpt.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    generator, discriminator = training.load_models(tmp_path)
    assert (generator.name, discriminator.name) == ("generator", "discriminator")


def test_load_models_before_training_says_what_to_run(tmp_path):
    with pytest.raises(RuntimeError, match="02_train_gan"):
        training.load_models(tmp_path)


@pytest.mark.slow  # trains networks for a while
def test_the_seed_sets_the_noise_stream(tmp_path):
    def losses(seed, folder):
        gan = training.make_gan(*(tiny_gan(0).generator, tiny_gan(0).discriminator), seed=seed)
        return fit(folder, 1, gan=gan)[1][["d_loss", "g_loss"]]
    same = losses(0, tmp_path / "a"), losses(0, tmp_path / "b")
    pd.testing.assert_frame_equal(*same)
    assert not losses(1, tmp_path / "c").equals(same[0])


def test_distribution_strategy_names():
    import tensorflow as tf
    assert training.distribution_strategy("default") is tf.distribute.get_strategy()
    assert isinstance(training.distribution_strategy("mirrored"), tf.distribute.MirroredStrategy)
    assert training.distribution_strategy("auto").num_replicas_in_sync == max(1, len(tf.config.list_logical_devices("GPU")))
    with pytest.raises(ValueError, match="distribute must be"):
        training.distribution_strategy("tpu")


@pytest.mark.slow  # trains networks for a while
def test_training_under_a_mirrored_strategy_on_the_cpu(tmp_path):
    import tensorflow as tf
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        gan = training.make_gan(models.build_generator(8, 4), models.build_discriminator(4))
    _, history = fit(tmp_path, 1, gan=gan)
    assert gan.distribute_strategy is strategy and np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all()
    assert gan.g_optimizer.iterations.numpy() == 2


def test_checkpoints_of_an_older_training_format_are_not_resumed(tmp_path):
    from gan_ad.files import read_json, write_json
    fit(tmp_path, 1)
    saved = read_json(tmp_path / "train_config.json")
    assert saved["format"] == training.CHECKPOINT_FORMAT
    write_json(tmp_path / "train_config.json", {k: v for k, v in saved.items() if k != "format"})  # as an older version wrote it
    with pytest.raises(ValueError, match="delete its checkpoints"):
        fit(tmp_path, 2)


def test_monitor_steps_0_turns_off_anogans_quick_score_and_keeps_the_feature_score(tmp_path, monkeypatch):
    x = tiny_data(16)
    monitor = training.ValidationAUROC(tiny_data(40), x, np.r_[np.zeros(8), np.ones(8)], np.arange(4, 12), steps=0)
    monkeypatch.setattr(training.Inverter, "invert", lambda *a, **k: pytest.fail("the AnoGAN monitor searched"))
    _, history = fit(tmp_path, 1, monitor)
    assert history["val_auroc_anogan"].isna().all()
    assert history["val_auroc_features"].between(0, 1).all()


def test_monitor_logs_nan_without_validation_anomalies(tmp_path, capsys):
    x = tiny_data(16)
    monitor = training.ValidationAUROC(tiny_data(40), x, np.zeros(16), np.arange(8), steps=2)
    _, history = fit(tmp_path, 1, monitor)
    assert history[["val_auroc_anogan", "val_auroc_features"]].isna().all().all()
    assert "no validation AUROC can be computed" in capsys.readouterr().out


def test_monitor_indices_take_as_many_normals_as_anomalies():
    from gan_ad.training import monitor_indices
    is_anomaly = np.r_[np.zeros(30, int), np.ones(8, int)]
    idx = monitor_indices(is_anomaly, 64, seed=1)
    assert len(idx) == 16 and len(set(idx)) == 16 and is_anomaly[idx].sum() == 8
    np.testing.assert_array_equal(idx, monitor_indices(is_anomaly, 64, seed=1))
    assert len(monitor_indices(is_anomaly, 6)) == 6


def test_choose_epoch_by_validation_or_the_last():
    import pandas as pd
    from gan_ad.training import choose_epoch
    history = pd.DataFrame({"epoch": [1, 2, 3], "val_auroc_features": [0.7, 0.9, 0.8], "val_auroc_anogan": [0.6, 0.5, 0.65]})
    assert choose_epoch(history, "features")[0] == 2 and choose_epoch(history, "anogan")[0] == 3
    assert choose_epoch(history, "last")[0] == 3
    no_anomalies = history.assign(val_auroc_features=float("nan"))
    epoch, why = choose_epoch(no_anomalies, "features")
    assert epoch == 3 and "no anomalies" in why
    with pytest.raises(ValueError, match="select_epoch"):
        choose_epoch(history, "best")


# GAN stabilisers: hinge loss, spectral normalisation, a moving average of the generator, WGAN-GP.

def test_losses_on_known_logits():
    real, fake = np.array([[2.0], [0.5], [-1.0]], "float32"), np.array([[-2.0], [0.0], [1.5]], "float32")
    hinge = tiny_gan(gan_loss="hinge")
    assert float(hinge.d_loss(real, fake)) == pytest.approx((0 + 0.5 + 2) / 3 + (0 + 1 + 2.5) / 3)  # margins of 1
    assert float(hinge.g_loss(fake)) == pytest.approx(-(-2 + 0 + 1.5) / 3)
    bce = tiny_gan()
    assert float(bce.d_loss(real, fake)) == pytest.approx(np.mean(np.logaddexp(0, -real)) + np.mean(np.logaddexp(0, fake)), rel=1e-5)
    assert float(bce.g_loss(fake)) == pytest.approx(np.mean(np.logaddexp(0, -fake)), rel=1e-5)
    wgan = tiny_gan(gan_loss="wgan-gp")  # the critic's scores: their difference, the penalty apart
    assert float(wgan.d_loss(real, fake)) == pytest.approx((-2 + 0 + 1.5) / 3 - (2 + 0.5 - 1) / 3)
    assert float(wgan.g_loss(fake)) == pytest.approx(-(-2 + 0 + 1.5) / 3)


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_the_gradient_penalty_of_a_linear_critic_is_its_slope_minus_one_squared(scale):
    """A linear critic s(x) = w . x has the gradient w at every image, so the penalty is (|w| - 1)^2 whatever it mixes."""
    critic = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)])
    w = np.random.default_rng(0).standard_normal((784, 1)).astype("float32")
    critic.layers[-1].set_weights([scale * w / np.linalg.norm(w)])
    gan = training.make_gan(models.build_generator(8, 4), critic, gan_loss="wgan-gp")
    real, fake = tiny_data(8), -tiny_data(8)
    assert float(gan.gradient_penalty(real, fake)) == pytest.approx((scale - 1) ** 2, abs=1e-5)


def test_a_wgan_gp_step_trains_the_critic_five_times_per_generator_step():
    gan = tiny_gan(gan_loss="wgan-gp")
    state = gan.seed_generator.state.numpy().copy()
    logs = gan.train_step(tiny_data(32))
    assert (int(gan.d_optimizer.iterations), int(gan.g_optimizer.iterations)) == (5, 1)
    assert gan.noise_draws == 11 and tiny_gan().noise_draws == 2  # z and the mixing shares per critic step, z for G
    assert gan.seed_generator.state.numpy()[1] - state[1] == 11  # what resume_noise counts on
    assert np.isfinite(float(logs["d_loss"])) and np.isfinite(float(logs["g_loss"]))
    assert float(gan.d_optimizer.beta_1) == 0.0 and float(gan.d_optimizer.beta_2) == 0.9  # Gulrajani et al.'s Adam


@pytest.mark.parametrize("settings, message", [
    ({"gan_loss": "wgan"}, "gan_loss must be one of 'bce', 'hinge', 'wgan-gp', not 'wgan'"),
    ({"ema_decay": 1.5}, "ema_decay must be 0 .* between 0 and 1 .*, not 1.5"),
    ({"ema_decay": 1}, "ema_decay must be"),
    ({"ema_decay": -0.1}, "ema_decay must be"),
    ({"ema_decay": "0.9"}, "ema_decay must be"),
    ({"ema_decay": True}, "ema_decay must be"),
])
def test_invalid_gan_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        tiny_gan(**settings)


def test_one_train_step_moves_the_moving_average_by_the_formula():
    gan = tiny_gan(ema_decay=0.9)
    before = [w.numpy() for w in gan.generator.weights]
    for average, weight in zip(gan.ema_generator.weights, before):
        np.testing.assert_array_equal(average.numpy(), weight)  # the average starts at the initial weights
    gan.train_step(tiny_data(32))
    after = [w.numpy() for w in gan.generator.weights]
    averages = [w.numpy() for w in gan.ema_generator.weights]
    for average, w0, w1 in zip(averages, before, after):  # BatchNorm statistics included
        np.testing.assert_allclose(average, 0.9 * w0 + 0.1 * w1, rtol=1e-5, atol=1e-7)
    assert not np.allclose(averages[0], after[0])  # the first Dense kernel: the average lags the trained weights
    assert gan.inference_generator is gan.ema_generator and tiny_gan().inference_generator.name == "generator"


def test_checkpoints_keep_the_moving_average_and_export_it(tmp_path):
    trained, _ = fit(tmp_path, 1, gan=tiny_gan(ema_decay=0.9))
    resumed, _ = fit(tmp_path, 1, gan=tiny_gan(seed=5, ema_decay=0.9))  # nothing to train: loads epoch 1
    for a, b in zip(trained.ema_generator.weights, resumed.ema_generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    training.export_models(resumed, tmp_path, 1)
    generator, _ = training.load_models(tmp_path)
    z = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    np.testing.assert_array_equal(generator(z).numpy(), trained.ema_generator(z, training=False).numpy())
    assert not np.allclose(generator(z).numpy(), trained.generator(z, training=False).numpy())


@pytest.mark.slow  # trains networks for a while
@pytest.mark.parametrize("gan_loss, spectral_norm, ema_decay", [
    ("hinge", False, 0.0), ("bce", True, 0.0), ("bce", False, 0.999), ("hinge", True, 0.9), ("wgan-gp", False, 0.0)])
def test_each_stabiliser_trains_with_fit(tmp_path, gan_loss, spectral_norm, ema_decay):
    gan = tiny_gan(spectral_norm=spectral_norm, gan_loss=gan_loss, ema_decay=ema_decay)
    x = np.random.default_rng(1).uniform(-1, 1, (256, 28, 28, 1)).astype("float32")
    monitor = training.ValidationAUROC(x[:64], x[:16], np.r_[np.zeros(8), np.ones(8)], np.arange(4, 12), steps=2)
    history = training.fit_gan(gan, data.train_dataset(x, 32), tmp_path, 1, CONFIG, monitor, verbose=0)
    assert int(gan.g_optimizer.iterations) == 8 and np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all()
    assert int(gan.d_optimizer.iterations) == 8 * gan.critic_steps
    assert monitor.inverter.generator is gan.inference_generator and (tmp_path / "samples" / "epoch_001.png").exists()
    restored = keras.models.load_model(tmp_path / "checkpoints" / "epoch_001.keras")
    assert (restored.gan_loss, restored.ema_decay) == (gan_loss, ema_decay)
    np.testing.assert_array_equal(restored.discriminator(x[:4]).numpy(), gan.discriminator(x[:4]).numpy())


# The self-supervised rotation task on the discriminator (SS-GAN).

def test_rotate_quarters_turns_image_i_by_i_mod_4_quarter_turns():
    x = tiny_data(6)
    turned, turns = models.rotate_quarters(x)
    assert turns.numpy().tolist() == [0, 1, 2, 3, 0, 1]
    for image, result, k in zip(x, turned.numpy(), turns.numpy()):
        np.testing.assert_array_equal(result, np.rot90(image, k, axes=(0, 1)))


def test_the_rotation_task_joins_both_losses_and_its_head_is_trained_with_the_discriminator():
    gan = tiny_gan(rotation_weight=1.0)
    x = tiny_data(32)
    head_before = [w.numpy() for w in gan.rotation_head.weights]
    turned, turns = models.rotate_quarters(x)  # the task's loss, by hand: cross-entropy of the head's logits
    logits = gan.rotation_head(models.feature_extractor(gan.discriminator)(turned)).numpy()
    expected = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(32), turns.numpy()])
    assert float(gan.rotation_loss(x)) == pytest.approx(expected, rel=1e-5)
    logs = gan.train_step(x)
    assert set(logs) == {"d_loss", "g_loss", "rotation_loss"} and float(logs["rotation_loss"]) == pytest.approx(expected, rel=1e-5)
    assert not np.allclose(head_before[0], gan.rotation_head.weights[0].numpy())
    assert set(tiny_gan().train_step(x)) == {"d_loss", "g_loss"}  # off: no head, no column
    assert tiny_gan().rotation_head is None


# The contrastive task on the discriminator (the real-digit half of ContraD).

def one_stroke():
    image = np.full((1, 28, 28, 1), -1.0, "float32")
    image[0, 8:20, 13:15] = 1.0  # a vertical bar: a 1
    return image


def ink_centre(image):
    ink = (image[..., 0] + 1) / 2
    rows, cols = np.indices(ink.shape)
    return np.array([(rows * ink).sum(), (cols * ink).sum()]) / ink.sum()


def row_spread(image):
    """The standard deviation of the rows of an image's ink: its height, up to a constant."""
    ink = ((image[..., 0] + 1) / 2).sum(axis=1)
    rows = np.arange(len(ink))
    mean = (rows * ink).sum() / ink.sum()
    return np.sqrt(((rows - mean) ** 2 * ink).sum() / ink.sum())


def test_augment_without_shift_or_scale_changes_nothing(monkeypatch):
    monkeypatch.setattr(models, "SHIFT", 0)
    monkeypatch.setattr(models, "SCALE", 0.0)
    x = tiny_data(8)
    np.testing.assert_allclose(models.augment(x, [1, 2]).numpy(), x, atol=1e-6)


def test_augment_moves_a_digit_at_most_shift_pixels_and_scales_it_within_scale():
    images = np.repeat(one_stroke(), 200, axis=0)
    views = models.augment(images, [3, 4]).numpy()
    moves = np.array([ink_centre(view) - ink_centre(images[0]) for view in views])
    assert np.abs(moves).max() <= models.SHIFT + 0.5  # the scale moves the centre too: by at most 0.1 * 6 px here
    assert np.abs(moves).max() > 1  # it does move them
    sizes = np.array([row_spread(view) for view in views]) / row_spread(images[0])  # how much longer the bar got
    assert (sizes >= 1 / (1 + models.SCALE) - 0.03).all() and (sizes <= 1 / (1 - models.SCALE) + 0.03).all()
    assert sizes.max() - sizes.min() > 0.1  # it does scale them
    assert views.min() >= -1 - 1e-6 and views.max() <= 1 + 1e-6
    np.testing.assert_array_equal(models.augment(images, [3, 4]).numpy(), views)  # the seed decides the views
    assert not np.array_equal(models.augment(images, [3, 5]).numpy(), views)


def test_the_contrastive_loss_is_simclrs_cross_entropy_of_finding_each_views_twin():
    gan = tiny_gan(contrastive_weight=1.0)
    x = tiny_data(6)
    start = gan.seed_generator.state.numpy().copy()
    loss = float(gan.contrastive_loss(x))
    gan.seed_generator.state.assign(start)  # the same views again, by hand
    views = models.augment(np.concatenate([x, x]), gan.replica_seed())
    codes = gan.projection_head(models.feature_extractor(gan.discriminator)(views)).numpy()
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    logits = codes @ codes.T / training.GAN.CONTRASTIVE_TEMPERATURE
    np.fill_diagonal(logits, -np.inf)
    twins = np.r_[np.arange(6, 12), np.arange(6)]
    expected = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(12), twins])
    assert loss == pytest.approx(expected, rel=1e-4)


def test_the_contrastive_task_joins_the_discriminators_loss_and_its_head_is_trained_with_it():
    gan = tiny_gan(contrastive_weight=1.0)
    head_before = [w.numpy() for w in gan.projection_head.weights]
    logs = gan.train_step(tiny_data(32))
    assert set(logs) == {"d_loss", "g_loss", "contrastive_loss"} and float(logs["contrastive_loss"]) > 0
    assert not np.allclose(head_before[0], gan.projection_head.weights[0].numpy())
    assert gan.noise_draws == 3  # z, the views, z for G
    assert tiny_gan().projection_head is None
    both = tiny_gan(rotation_weight=1.0, contrastive_weight=1.0)
    assert set(both.train_step(tiny_data(32))) == {"d_loss", "g_loss", "rotation_loss", "contrastive_loss"}


# Both tasks of the discriminator: checkpoints and bad weights.

TASKS = [("rotation_weight", "rotation_head", "rotation_loss"), ("contrastive_weight", "projection_head", "contrastive_loss")]


@pytest.mark.parametrize("weight, head, loss", TASKS)
def test_a_checkpoint_keeps_the_tasks_head_and_resumes_like_an_uninterrupted_training(tmp_path, weight, head, loss):
    whole, _ = fit(tmp_path / "whole", 2, gan=tiny_gan(**{weight: 0.5}))
    fit(tmp_path / "parts", 1, gan=tiny_gan(**{weight: 0.5}))
    resumed, history = fit(tmp_path / "parts", 2, gan=tiny_gan(**{weight: 0.5}))
    assert loss in history.columns and history[loss].notna().all()
    for a, b in zip(getattr(whole, head).weights + whole.discriminator.weights,
                    getattr(resumed, head).weights + resumed.discriminator.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    restored = keras.models.load_model(tmp_path / "whole" / "checkpoints" / "epoch_002.keras")
    assert getattr(restored, weight) == 0.5


@pytest.mark.parametrize("weight", [name for name, _, _ in TASKS])
@pytest.mark.parametrize("value", [-1, True, "1", float("inf")])
def test_a_bad_task_weight_is_refused(weight, value):
    with pytest.raises(ValueError, match=f"{weight} must be 0 .* or a positive number"):
        tiny_gan(**{weight: value})
