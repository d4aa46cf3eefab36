"""Milliseconds per training step on this machine: notebook 02's GAN and notebook 04's encoder.

python sweeps/step_times.py   (on an idle machine; the figures of docs/results.md: "Batch size",
"What the discriminator learns", and XLA in "Time and memory of make run")

Prints three tables: the GAN's step by batch size; by way of training D, at 16 and 128 digits; and both
training steps with and without XLA (``tf.function(..., jit_compile=True)``), at 16 and 128 digits.
The GAN's plain step at 128 digits is timed in each table: the three figures show how much one
measurement varies.
Random images in [-1, 1] stand in for digits: a step's time does not depend on what it sees.
"""
import time

import numpy as np
import tensorflow as tf

from gan_ad import encoder, models, training

BATCHES = (8, 16, 32, 128)
OPTIONS = {"bce, no task": {"contrastive_weight": 0.0}, "contrastive_weight 1.0": {"contrastive_weight": 1.0},
           "rotation_weight 0.2": {"rotation_weight": 0.2}, "gan_loss wgan-gp": {"gan_loss": "wgan-gp"}}
WARM_UP, REPEATS = 3, 100


def images(batch_size):
    return np.random.default_rng(0).uniform(-1, 1, (batch_size, 28, 28, 1)).astype("float32")


def gan_step(**settings):
    models.seed_everything(0)
    return training.make_gan(models.build_generator(64, 64), models.build_discriminator(64), **settings).train_step


def encoder_step():
    models.seed_everything(0)
    izi_f = encoder.EncoderTraining(models.build_encoder(64, 64), models.build_generator(64, 64), models.build_discriminator(64))
    izi_f.compile(encoder.optimizer(1e-3))  # a constant step; notebook 04's cosine schedule adds one scalar cosine a step
    return izi_f.train_step


def ms_per_step(train_step, batch_size, jit_compile=False):
    """Mean milliseconds of ``REPEATS`` calls of the compiled ``train_step``, after ``WARM_UP`` calls (tracing)."""
    step, x = tf.function(train_step, jit_compile=jit_compile), images(batch_size)
    for _ in range(WARM_UP):
        step(x)
    start = time.perf_counter()
    for _ in range(REPEATS):
        out = step(x)
    tf.nest.map_structure(lambda t: t.numpy(), out)  # wait for the last step (on a GPU it runs on after the call returns)
    return (time.perf_counter() - start) / REPEATS * 1000


if __name__ == "__main__":
    print("| GAN step, batch | ms per step | ms per digit |\n|---|---|---|")
    for batch in BATCHES:
        ms = ms_per_step(gan_step(), batch)
        print(f"| {batch} | {ms:.1f} | {ms / batch:.2f} |")
    print("\n| way of training D | ms per step, 16 digits | ms per step, 128 digits |\n|---|---|---|")
    for name, settings in OPTIONS.items():
        print(f"| {name} | {ms_per_step(gan_step(**settings), 16):.1f} | {ms_per_step(gan_step(**settings), 128):.0f} |")
    print("\n| step | batch | ms without XLA | ms with XLA |\n|---|---|---|---|")
    for name, make in (("GAN", gan_step), ("encoder", encoder_step)):
        for batch in (16, 128):
            plain, xla = (ms_per_step(make(), batch, jit) for jit in (False, True))
            print(f"| {name} | {batch} | {plain:.1f} | {xla:.1f} |")
