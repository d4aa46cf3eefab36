"""tf.distribute on this machine's CPU split into two logical devices, so that two replicas really run.

Logical devices must be set before TensorFlow starts, so the check runs in a fresh Python process.
"""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from gan_ad import models, training

TWO_REPLICAS = r"""
import json, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from gan_ad import encoder, models, training

def encoder_step(strategy):
    with strategy.scope():
        models.seed_everything(0)
        e, g, d = models.build_encoder(8, 4), models.build_generator(8, 4), models.build_discriminator(4)
        izi_f = encoder.EncoderTraining(e, g, d)
        izi_f.compile(keras.optimizers.SGD(0.1))
    x = g(np.random.default_rng(1).standard_normal((32, 8)).astype("float32"), training=False).numpy()
    izi_f.fit(tf.data.Dataset.from_tensor_slices(x).batch(32), epochs=1, verbose=0)
    return [w.tolist() for w in e.get_weights()]

mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with mirrored.scope():
    gan = training.make_gan(models.build_generator(8, 4), models.build_discriminator(4))
z = mirrored.experimental_local_results(mirrored.run(tf.function(lambda: gan.noise(3))))

with mirrored.scope():  # the stabilisers: a fit, and the hinge losses of two half batches adding up to the whole's
    hinge = training.make_gan(models.build_generator(8, 4), models.build_discriminator(4, True), gan_loss="hinge", ema_decay=0.9)
hinge.fit(tf.data.Dataset.from_tensor_slices(np.zeros((64, 28, 28, 1), "float32")).batch(32), epochs=1, verbose=0)
real, fake = np.array([[2.0], [0.5], [-1.0], [0.0]], "float32"), np.array([[-2.0], [0.0], [1.5], [3.0]], "float32")
halves = lambda a: mirrored.experimental_distribute_values_from_function(lambda ctx: a[2 * ctx.replica_id_in_sync_group:][:2])
hinge_losses = [float(mirrored.reduce("SUM", mirrored.run(hinge.d_loss, args=(halves(real), halves(fake))), axis=None)),
                float(mirrored.reduce("SUM", mirrored.run(hinge.g_loss, args=(halves(fake),)), axis=None))]
print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "z": [t.numpy().tolist() for t in z],
                  "mirrored": encoder_step(mirrored), "default": encoder_step(tf.distribute.get_strategy()),
                  "hinge": hinge_losses, "hinge_steps": int(hinge.g_optimizer.iterations.numpy())}))
"""


@pytest.mark.slow  # trains networks for a while
def test_two_replicas_draw_their_own_noise_and_train_like_one():
    out = subprocess.run([sys.executable, "-c", TWO_REPLICAS], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    z0, z1 = map(np.array, result["z"])
    assert z0.shape == z1.shape == (3, 8) and not np.allclose(z0, z1)
    for a, b in zip(result["mirrored"], result["default"]):  # the gradient of the global batch's mean, either way
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # hinge losses of the batch [2, 0.5, -1, 0] real and [-2, 0, 1.5, 3] fake, summed over the two replicas
    assert result["hinge"] == [pytest.approx((0 + 0.5 + 2 + 1) / 4 + (0 + 1 + 2.5 + 4) / 4), pytest.approx(-2.5 / 4)]
    assert result["hinge_steps"] == 2  # spectral norm and the moving average train under two replicas


def test_one_replica_draws_the_noise_keras_random_would():
    gan = training.make_gan(models.build_generator(8, 4), models.build_discriminator(4), seed=3)
    expected = keras.random.normal((5, 8), seed=keras.random.SeedGenerator(3))
    np.testing.assert_array_equal(gan.noise(5), expected)
