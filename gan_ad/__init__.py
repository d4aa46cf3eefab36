"""gan-ad: anomaly detection in handwritten digits with a GAN (AnoGAN), taught in notebooks.

Importing the package changes nothing in the process; ``gan_ad.quiet.tensorflow()`` keeps TensorFlow's
C++ start-up log out of it (the command line and the notebooks' setup cells call it).
"""
from . import quiet  # noqa: F401  (light: the standard library only; gan_ad.quiet.tensorflow() without another import)
from . import exercises  # noqa: F401  (the lessons' gan_ad.exercises.check; standard library only)
