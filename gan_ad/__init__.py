"""gan-ad: anomaly detection in handwritten digits with a GAN (AnoGAN), taught in notebooks."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from . import quiet  # noqa: E402  (TensorFlow's C++ start-up log, see gan_ad/quiet.py)

quiet.install()

from . import exercises  # noqa: E402,F401  (the lessons' gan_ad.exercises.check; standard library only)
