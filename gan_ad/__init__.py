"""gan-ad: anomaly detection in handwritten digits with a GAN (AnoGAN), taught in notebooks."""
