"""Milliseconds per training step of notebook 02's GAN (batch 128, default width) with each way of training D.

python sweeps/step_times.py   (on an idle machine; the figures of docs/results.md, "What the discriminator learns")
"""
import time

import numpy as np
import tensorflow as tf

from gan_ad import models, training

OPTIONS = {"bce (the default)": {}, "rotation_weight 0.2": {"rotation_weight": 0.2}, "gan_loss wgan-gp": {"gan_loss": "wgan-gp"}}

if __name__ == "__main__":
    x = np.random.default_rng(0).uniform(-1, 1, (128, 28, 28, 1)).astype("float32")
    for name, settings in OPTIONS.items():
        models.seed_everything(0)
        gan = training.make_gan(models.build_generator(64, 64), models.build_discriminator(64), **settings)
        step = tf.function(gan.train_step)
        for _ in range(3):  # tracing and warm-up
            step(x)
        start = time.perf_counter()
        for _ in range(20):
            step(x)
        print(f"{name}: {(time.perf_counter() - start) / 20 * 1000:.0f} ms per step of 128 images")
