import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest


@pytest.fixture
def tiny_dataset(tmp_path):
    """A small Keras-style mnist.npz (random images, balanced labels) in a temporary data folder."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (600, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(600) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (200, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(200) % 10).astype(np.uint8),
    }
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    np.savez(data_dir / "mnist.npz", **arrays)
    return data_dir, arrays
