"""Training: the GAN as a ``keras.Model`` with its own ``train_step``, trained with ``fit``.

Explained in ``notebooks/02_train_gan.ipynb``. :func:`fit_gan` adds the callbacks a run
keeps (sample grids, a CSV of losses, the validation AUROC, a ``.keras`` checkpoint per
epoch) and resumes from the last checkpoint when the run folder already has some.
"""
import re

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .baselines import FEATURE_KNN, FeatureKNN
from .data import balanced_indices
from .files import DamagedFileError, atomic_path, load_json, load_keras, load_table, reading, require, write_json
from .inversion import Inverter
from .metrics import auroc, best_on_validation
from .models import augment, build_projection_head, build_rotation_head, feature_extractor, rotate_quarters
from .plots import image_grid, save_fig


GAN_LOSSES = ("bce", "hinge", "wgan-gp")


def check_gan_settings(gan_loss, ema_decay, rotation_weight=0.0, contrastive_weight=0.0):
    """Raise a ValueError saying what is allowed unless ``gan_loss``, ``ema_decay``, ``rotation_weight`` and
    ``contrastive_weight`` are valid :class:`GAN` settings."""
    for name, weight, task in (("rotation_weight", rotation_weight, "rotation"), ("contrastive_weight", contrastive_weight, "contrastive")):
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
            raise ValueError(f"{name} must be 0 (no {task} task) or a positive number such as 1, not {weight!r}.")
    if gan_loss not in GAN_LOSSES:
        raise ValueError(f"gan_loss must be one of {', '.join(map(repr, GAN_LOSSES))}, not {gan_loss!r}.")
    if isinstance(ema_decay, bool) or not isinstance(ema_decay, (int, float)) or not 0 <= ema_decay < 1:
        raise ValueError(f"ema_decay must be 0 (no average) or a number between 0 and 1 such as 0.999, not {ema_decay!r}.")


@keras.saving.register_keras_serializable(package="gan_ad")
class GAN(keras.Model):
    """Generator and discriminator trained against each other.

    ``gan_loss``: ``"bce"``, the non-saturating DCGAN loss (binary cross-entropy); ``"hinge"``, the
    hinge loss of SN-GAN (Lim & Ye, 2017; Miyato et al., 2018); or ``"wgan-gp"``, the Wasserstein GAN with
    gradient penalty of Gulrajani et al. (2017), f-AnoGAN's GAN: the discriminator is a critic whose score
    difference between real and generated digits estimates their Wasserstein distance, kept 1-Lipschitz by
    a penalty ``GP_WEIGHT * (|grad critic(x_hat)| - 1)^2`` on random mixes ``x_hat`` of a real and a generated
    digit, and trained ``N_CRITIC`` times per generator step (each with fresh noise, on the step's real batch).
    The critic must have no batch normalisation (the penalty is per image): this discriminator has none.
    ``ema_decay`` > 0 keeps
    ``ema_generator``, a second copy of the generator whose weights (BatchNorm statistics included) are
    an exponential moving average of the trained generator's, ``w_ema <- decay * w_ema + (1 - decay) * w``
    after every generator step (Yazici et al., 2019). The average starts at the initial weights, which
    keep a share ``decay ** steps`` of it: pick ``1 / (1 - decay)`` well below the steps of the training.
    A copy rather than Adam's ``use_ema``: the trained weights never have to be swapped out, and the
    average is one more network that checkpoints save and :func:`export_models` exports.
    ``inference_generator`` is the generator to sample from.

    ``rotation_weight`` > 0 adds the self-supervised task of the SS-GAN (Chen et al., 2019): a small head
    (``rotation_head``) on the discriminator's ``features`` says by how many quarter turns a real digit was
    rotated (:func:`gan_ad.models.rotate_quarters`); its cross-entropy, times ``rotation_weight``, joins the
    discriminator's loss, and ``ROTATION_G_SHARE`` of that weight joins the generator's, for its generated
    digits (their turns must be as recognisable as a real digit's). The features must then describe how a
    digit is drawn, upright or not, and not only whether it looks real.

    ``contrastive_weight`` > 0 adds a contrastive task on the discriminator, the real-digit half of ContraD
    (Jeong & Shin, 2021), which is SimCLR's loss (Chen et al., 2020): every real digit of a batch is drawn twice,
    each time moved and scaled a little at random (:func:`gan_ad.models.augment`), and a head on D's ``features``
    (``projection_head``) must give the two views of one digit codes closer (in cosine, over
    ``CONTRASTIVE_TEMPERATURE``) than to the views of every other digit of the batch. Its cross-entropy, times
    ``contrastive_weight``, joins the discriminator's loss. The features must then tell digits apart from each
    other, whatever their exact place and size, and not only from generated ones.
    """

    ROTATION_G_SHARE = 0.2  # alpha / beta of Chen et al. (0.2 and 1)
    CONTRASTIVE_TEMPERATURE = 0.1  # ContraD's

    def __init__(self, generator, discriminator, seed=0, gan_loss="bce", ema_decay=0.0, rotation_weight=0.0,
                 contrastive_weight=0.0, **kwargs):
        check_gan_settings(gan_loss, ema_decay, rotation_weight, contrastive_weight)
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = generator.input_shape[-1]
        self.seed = seed
        self.gan_loss, self.ema_decay, self.rotation_weight = gan_loss, ema_decay, rotation_weight
        self.contrastive_weight = contrastive_weight
        self.rotation_head = self.projection_head = self.features = None
        if rotation_weight or contrastive_weight:
            self.features = feature_extractor(discriminator)
        if rotation_weight:
            self.rotation_head = build_rotation_head(discriminator)
        if contrastive_weight:
            self.projection_head = build_projection_head(discriminator)
        self.seed_generator = keras.random.SeedGenerator(seed)  # the noise z fed to the generator
        self.noise_start = self.seed_generator.state.numpy().copy()  # see resume_noise
        self.ema_generator = None
        if ema_decay:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        self.built = True  # both networks are built already; nothing is created on first call

    @property
    def inference_generator(self):
        """The generator that draws the samples and is exported: the moving average if there is one."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def compile(self, d_optimizer, g_optimizer):
        """Set one optimizer per network and build their slots (so checkpoints restore them)."""
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.critic_variables)
        g_optimizer.build(self.generator.trainable_variables)
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.task_trackers = {name: keras.metrics.Mean(name=name) for name in self.tasks}

    @property
    def tasks(self):
        """The names of the logged losses of the self-supervised tasks switched on, in order."""
        return [name for name, weight in (("rotation_loss", self.rotation_weight), ("contrastive_loss", self.contrastive_weight))
                if weight]

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, *self.task_trackers.values()]

    @property
    def critic_variables(self):
        """What the discriminator's optimizer trains: the discriminator, and the heads of its tasks if there are some."""
        heads = [head for head in (self.rotation_head, self.projection_head) if head is not None]
        return self.discriminator.trainable_variables + [v for head in heads for v in head.trainable_variables]

    def rotation_loss(self, images):
        """The rotation task's cross-entropy on ``images``, each turned by its place in the batch (:class:`GAN`)."""
        turned, turns = rotate_quarters(images)
        logits = self.rotation_head(self.features(turned, training=True), training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(turns, logits))
        return loss / tf.distribute.get_strategy().num_replicas_in_sync

    def contrastive_loss(self, images):
        """The contrastive task's loss on ``images`` (:class:`GAN`): two random views of each, and for each view the
        cross-entropy of finding its twin among the other ``2 n - 1`` views by the cosine of their codes."""
        n = tf.shape(images)[0]
        views = augment(tf.concat([images, images], axis=0), self.replica_seed())  # view i and view n + i: one digit
        codes = tf.math.l2_normalize(self.projection_head(self.features(views, training=True), training=True), axis=1)
        logits = tf.matmul(codes, codes, transpose_b=True) / self.CONTRASTIVE_TEMPERATURE
        logits -= 1e9 * tf.eye(2 * n)  # a view is not its own twin
        twins = tf.concat([tf.range(n, 2 * n), tf.range(n)], axis=0)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(twins, logits))
        return loss / tf.distribute.get_strategy().num_replicas_in_sync

    def noise(self, batch):
        """A batch of latent vectors z ~ N(0, 1); under ``tf.distribute`` each replica draws its own."""
        return tf.random.stateless_normal((batch, self.latent_dim), seed=self.replica_seed())

    GP_WEIGHT = 10.0  # lambda of Gulrajani et al.
    N_CRITIC = 5      # critic steps per generator step, as there

    @property
    def critic_steps(self):
        """Discriminator (critic) updates per ``train_step``."""
        return self.N_CRITIC if self.gan_loss == "wgan-gp" else 1

    @property
    def noise_draws(self):
        """Draws of the seed generator per ``train_step``: z for each critic step (and, for WGAN-GP, the mixing
        weights; for the contrastive task, the views), then z for the generator."""
        return self.critic_steps * (1 + (self.gan_loss == "wgan-gp") + bool(self.contrastive_weight)) + 1

    def resume_noise(self):
        """Put the noise where it stood after the steps trained so far (after ``load_weights`` of a checkpoint).

        A checkpoint keeps the optimizers' step count but not the seed generator's state, so a resumed
        training would draw again the z of the first steps; with this it draws those an uninterrupted one would.
        """
        steps = int(self.g_optimizer.iterations.numpy())
        self.seed_generator.state.assign(self.noise_start + np.array([0, self.noise_draws * steps], self.noise_start.dtype))

    def replica_seed(self):
        """The next seed of the seed generator, offset by the replica's number (each replica draws its own)."""
        seed = self.seed_generator.next()
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.cast(tf.math.floormod(seed + tf.cast(tf.stack([0, replica]), seed.dtype), tf.int32.max - 1), "int32")

    def gradient_penalty(self, real, fake):
        """WGAN-GP's penalty: the mean of ``(|grad critic(x_hat)| - 1)^2`` over mixes ``x_hat = e real + (1 - e) fake``,
        ``e ~ U(0, 1)`` per image; zero for a critic whose gradient has norm 1 everywhere between the two."""
        e = tf.random.stateless_uniform((tf.shape(real)[0], 1, 1, 1), seed=self.replica_seed())
        mixed = e * real + (1 - e) * fake
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            scores = self.discriminator(mixed, training=True)
        grads = tape.gradient(scores, mixed)
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        return tf.reduce_mean(tf.square(norms - 1.0))

    def d_loss(self, real_logits, fake_logits):
        """The discriminator's loss: say *real* to real digits and *fake* to generated ones."""
        if self.gan_loss == "wgan-gp":  # the critic: score real digits high, generated ones low (the penalty apart)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            return (tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)) / replicas
        if self.gan_loss == "hinge":  # a margin: logits beyond +1 (real) or -1 (fake) cost nothing
            replicas = tf.distribute.get_strategy().num_replicas_in_sync  # divided like a Keras loss: gradients are summed
            return (tf.reduce_mean(tf.nn.relu(1 - real_logits)) + tf.reduce_mean(tf.nn.relu(1 + fake_logits))) / replicas
        return self.bce(tf.ones_like(real_logits), real_logits) + self.bce(tf.zeros_like(fake_logits), fake_logits)

    def g_loss(self, fake_logits):
        """The generator's loss: make the discriminator say *real* to generated digits."""
        if self.gan_loss in ("hinge", "wgan-gp"):
            return -tf.reduce_mean(fake_logits) / tf.distribute.get_strategy().num_replicas_in_sync
        return self.bce(tf.ones_like(fake_logits), fake_logits)

    def critic_step(self, real, batch):
        """One update of the discriminator; returns its loss and a dict of its tasks' losses (:attr:`tasks`)."""
        z = self.noise(batch)
        tasks = {}
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = self.d_loss(real_logits, fake_logits)
            if self.gan_loss == "wgan-gp":
                replicas = tf.distribute.get_strategy().num_replicas_in_sync
                d_loss += self.GP_WEIGHT * self.gradient_penalty(real, fake) / replicas
            if self.rotation_weight:
                tasks["rotation_loss"] = self.rotation_loss(real)
                d_loss += self.rotation_weight * tasks["rotation_loss"]
            if self.contrastive_weight:
                tasks["contrastive_loss"] = self.contrastive_loss(real)
                d_loss += self.contrastive_weight * tasks["contrastive_loss"]
        variables = self.critic_variables
        grads = tape.gradient(d_loss, variables)
        self.d_optimizer.apply_gradients(zip(grads, variables))
        return d_loss, tasks

    def train_step(self, real):
        batch = tf.shape(real)[0]
        for _ in range(self.critic_steps):
            d_loss, tasks = self.critic_step(real, batch)

        z = self.noise(batch)
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            g_loss = self.g_loss(self.discriminator(fake, training=True))
            if self.rotation_weight:
                g_loss += self.ROTATION_G_SHARE * self.rotation_weight * self.rotation_loss(fake)
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        if self.ema_generator is not None:
            for average, weight in zip(self.ema_generator.weights, self.generator.weights):
                average.assign(self.ema_decay * average + (1 - self.ema_decay) * weight)

        replicas = tf.distribute.get_strategy().num_replicas_in_sync  # the losses were divided by it; log the plain loss
        self.d_loss_tracker.update_state(d_loss * replicas)
        self.g_loss_tracker.update_state(g_loss * replicas)
        for name, loss in tasks.items():
            self.task_trackers[name].update_state(loss * replicas)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "gan_loss": self.gan_loss, "ema_decay": self.ema_decay,
                "rotation_weight": self.rotation_weight, "contrastive_weight": self.contrastive_weight,
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator)}

    @classmethod
    def from_config(cls, config):
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)


def distribution_strategy(name="auto"):
    """The ``tf.distribute`` strategy to build and train models under.

    ``"auto"``: :class:`tf.distribute.MirroredStrategy` when there are several GPUs, else the
    default strategy (one GPU if there is one, else the CPU); ``"mirrored"``: MirroredStrategy
    over all GPUs (or the CPU); ``"default"``: the default strategy.
    """
    if name not in ("auto", "mirrored", "default"):
        raise ValueError(f'distribute must be "auto", "mirrored" or "default", not {name!r}.')
    if name == "mirrored" or (name == "auto" and len(tf.config.list_logical_devices("GPU")) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def make_gan(generator, discriminator, learning_rate=2e-4, beta_1=0.5, seed=0, gan_loss="bce", ema_decay=0.0, rotation_weight=0.0,
             contrastive_weight=0.0):
    """Wrap the two networks in a compiled :class:`GAN` with DCGAN's Adam settings and noise seeded by ``seed``.

    ``gan_loss``, ``ema_decay``, ``rotation_weight`` and ``contrastive_weight``: see :class:`GAN`; WGAN-GP takes Gulrajani et al.'s Adam betas (0, 0.9)
    whatever ``beta_1`` says (momentum does not suit the critic's changing target). Under a ``tf.distribute`` strategy, build the
    networks and call this inside ``strategy.scope()``.
    """
    gan = GAN(generator, discriminator, seed, gan_loss, ema_decay, rotation_weight, contrastive_weight)
    betas = {"beta_1": 0.0, "beta_2": 0.9} if gan_loss == "wgan-gp" else {"beta_1": beta_1}
    gan.compile(keras.optimizers.Adam(learning_rate, **betas), keras.optimizers.Adam(learning_rate, **betas))
    return gan


class SampleGrid(keras.callbacks.Callback):
    """Save a grid of images generated from the same fixed z after every epoch (by the GAN's ``inference_generator``)."""

    def __init__(self, folder, n=64, seed=0):
        super().__init__()
        self.folder, self.n, self.seed = folder, n, seed

    def on_epoch_end(self, epoch, logs=None):
        z = np.random.default_rng(self.seed).standard_normal((self.n, self.model.latent_dim)).astype("float32")
        images = self.model.inference_generator(z, training=False).numpy()
        save_fig(image_grid(images, title=f"epoch {epoch + 1}"), f"epoch_{epoch + 1:03d}", self.folder, close=True)


class ValidationAUROC(keras.callbacks.Callback):
    """Log two quick validation AUROCs of the GAN after every epoch.

    - ``val_auroc_anogan``: AnoGAN scores (``inverter_kwargs``: a short search) of the images ``monitor_idx``
      of ``val_images``, with the GAN's ``inference_generator``; ``steps=0`` turns this monitor off (NaN
      is logged): its search costs more per epoch than the other monitor, and only ``select_epoch="anogan"``
      needs it;
    - ``val_auroc_features``: kNN distance in the discriminator's feature space (notebook 04) of all
      ``val_images``, against ``index_size`` training images drawn once (seeded by the inverter's ``seed``).
      Indexing all of them would cost as much time per epoch as the training itself, mostly in the PCA,
      for a nearly equal AUROC.

    Place it before :class:`keras.callbacks.CSVLogger` so the CSV records the values. Without
    anomalies in ``val_is_anomaly`` there is no AUROC: both are logged as NaN, with a sentence.
    """

    def __init__(self, train_images, val_images, val_is_anomaly, monitor_idx, index_size=5000, **inverter_kwargs):
        super().__init__()
        rng = np.random.default_rng(inverter_kwargs.get("seed", 0))
        keep = np.sort(rng.choice(len(train_images), min(index_size, len(train_images)), replace=False))
        self.train_images, self.val_images, self.val_is_anomaly = train_images[keep], val_images, val_is_anomaly
        self.monitor_idx, self.inverter_kwargs = monitor_idx, {"batch_size": len(monitor_idx), **inverter_kwargs}
        self.search = self.inverter_kwargs.get("steps", 1) > 0  # steps=0: no AnoGAN monitor
        self.skip = len(np.unique(val_is_anomaly)) != 2 or len(np.unique(np.asarray(val_is_anomaly)[monitor_idx])) != 2

    def on_train_begin(self, logs=None):
        if self.skip:
            print("Validation does not hold both normal and anomalous images, so no validation AUROC can be "
                  "computed: val_auroc_anogan and val_auroc_features are logged as NaN.")
            return
        if self.search:
            self.inverter = Inverter(self.model.inference_generator, self.model.discriminator, **self.inverter_kwargs)

    def on_epoch_end(self, epoch, logs=None):
        if self.skip:
            logs["val_auroc_anogan"] = logs["val_auroc_features"] = float("nan")
            return
        logs["val_auroc_anogan"] = float("nan")
        if self.search:
            idx = self.monitor_idx
            logs["val_auroc_anogan"] = auroc(self.val_is_anomaly[idx], self.inverter.invert(self.val_images[idx]).scores)
        knn = FeatureKNN(self.model.discriminator, **FEATURE_KNN).fit(self.train_images)
        logs["val_auroc_features"] = auroc(self.val_is_anomaly, knn.score(self.val_images))


def monitor_indices(is_anomaly, size, seed=0):
    """Indices of at most ``size`` validation images for :class:`ValidationAUROC`: as many normal as anomalous
    (:func:`gan_ad.data.balanced_indices`)."""
    return balanced_indices(is_anomaly, size, seed)


SELECT_EPOCH = ("features", "anogan", "last")


def choose_epoch(history, select_epoch="features"):
    """The epoch to keep: the best validation AUROC of the ``"features"`` or ``"anogan"`` monitor, or the ``"last"``.

    Without a validation AUROC (validation of normals only) the last epoch is kept. Returns
    ``(epoch, sentence)``, the sentence saying why.
    """
    if select_epoch not in SELECT_EPOCH:
        raise ValueError(f"select_epoch must be one of {', '.join(map(repr, SELECT_EPOCH))}, not {select_epoch!r}.")
    last = int(history["epoch"].max())
    if select_epoch == "last":
        return last, f"Keeping the last epoch ({last})."
    column = history.set_index("epoch")[f"val_auroc_{select_epoch}"]
    best = best_on_validation({int(epoch): value for epoch, value in column.items()}, fallback=None)
    if best is None:
        return last, f"Validation holds no anomalies, so no AUROC can choose the epoch: keeping the last one ({last})."
    return best, f"Keeping epoch {best} of {last}: the best validation AUROC of the {select_epoch} monitor ({column.max():.3f})."


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the whole GAN (weights and optimizer state) as ``epoch_NNN.keras`` after every epoch."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        with atomic_path(self.folder / f"epoch_{epoch + 1:03d}.keras") as tmp:
            self.model.save(tmp)


# Keras' fit (3.x) makes two iterators of the dataset per epoch: one at its start (no steps_per_epoch given) and
# one at its end, not used; tests/test_training.py checks that a resumed training meets an uninterrupted one.
ITERATORS_PER_EPOCH = 2
CHECKPOINT_FORMAT = 2  # raised when training changes, so that older checkpoints are not resumed


def checkpoints(folder):
    """Map epoch number -> checkpoint path for the ``epoch_NNN.keras`` files in ``folder``."""
    found = {int(m.group(1)): p for p in folder.glob("epoch_*.keras")
             if (m := re.fullmatch(r"epoch_(\d+)\.keras", p.name))}
    return dict(sorted(found.items()))


def fit_gan(gan, dataset, run_dir, epochs, config, monitor=None, verbose=1):
    """Train ``gan`` for ``epochs`` epochs with the run's callbacks; resume if checkpoints exist.

    Training goes on from the last checkpoint up to ``epochs``; asked for fewer epochs than are
    saved, it trains nothing and reports those epochs. ``config`` (the settings that shape the weights) is saved as
    ``train_config.json``; resuming with different settings is refused. ``monitor`` is a
    :class:`ValidationAUROC` or ``None``. Returns the history of epochs 1..``epochs`` as a
    DataFrame (from ``history.csv``).
    """
    ckpt_dir, history_csv = run_dir / "checkpoints", run_dir / "history.csv"
    all_saved = checkpoints(ckpt_dir)
    saved = {epoch: path for epoch, path in all_saved.items() if epoch <= epochs}
    config = {**config, "format": CHECKPOINT_FORMAT}
    config_path = run_dir / "train_config.json"
    if saved and not config_path.exists():
        raise DamagedFileError(f"{config_path} does not exist beside the checkpoints in {ckpt_dir}, so what they were trained "
                               "with is unknown; notebooks/02_train_gan.ipynb writes it: delete checkpoints/ and run that "
                               "notebook again with the same run_dir, or use another run_dir.")
    if saved and load_json(config_path) != config:
        raise ValueError(
            f"{run_dir} holds checkpoints trained with {load_json(config_path)}, not {config}. "
            "Use another run_dir, or delete its checkpoints/ folder to train from scratch.")
    write_json(config_path, config)
    initial_epoch = 0
    if saved:
        initial_epoch, path = list(saved.items())[-1]
        with reading(path):  # a damaged checkpoint: named; delete it to resume from the one before
            gan.load_weights(path)
        gan.resume_noise()
        for _ in range(ITERATORS_PER_EPOCH * initial_epoch):  # each iterator reshuffles: skip those of the epochs
            iter(dataset)                                      # trained, so the resumed ones see the same batches
        print(f"Resuming from {path.name} (epoch {initial_epoch} of {epochs}).")
    if history_csv.exists() and history_csv.stat().st_size == 0:
        history_csv.unlink()  # CSVLogger opened it, then training stopped before an epoch ended
    if history_csv.exists():  # keep the rows of epochs that have a checkpoint and will not be trained again
        keep = [e for e in all_saved if e <= initial_epoch or initial_epoch == epochs]
        rows = load_table(history_csv)
        with reading(history_csv):
            if not set(keep) <= set(rows["epoch"] + 1):
                raise ValueError(f"it lacks the rows of epochs {sorted(set(keep) - set(rows['epoch'] + 1))}, which have checkpoints")
        with atomic_path(history_csv) as tmp:
            rows[(rows["epoch"] + 1).isin(keep)].to_csv(tmp, index=False)
    if initial_epoch < epochs:
        for epoch, path in all_saved.items():  # checkpoints beyond the resume point belong to an older run
            if epoch > initial_epoch:
                path.unlink()
        callbacks = [SampleGrid(run_dir / "samples")] + ([monitor] if monitor else [])
        callbacks += [keras.callbacks.CSVLogger(str(history_csv), append=True), EpochCheckpoint(ckpt_dir)]
        gan.fit(dataset, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose,
                shuffle=False)  # the tf.data pipeline shuffles already
    history = load_table(history_csv)
    history["epoch"] += 1  # CSVLogger counts from 0; people count from 1
    return history[history["epoch"] <= epochs].reset_index(drop=True)


def export_models(gan, run_dir, epoch):
    """Load checkpoint ``epoch`` into ``gan``; save its ``inference_generator`` and discriminator as the run's models."""
    with reading(run_dir / "checkpoints" / f"epoch_{epoch:03d}.keras") as path:
        gan.load_weights(path)
    for name, model in (("generator", gan.inference_generator), ("discriminator", gan.discriminator)):
        with atomic_path(run_dir / f"{name}.keras") as tmp:
            model.save(tmp)


def load_models(run_dir):
    """Return the ``(generator, discriminator)`` that :func:`export_models` saved in ``run_dir``."""
    return tuple(load_keras(require(run_dir, f"{name}.keras")) for name in ("generator", "discriminator"))
