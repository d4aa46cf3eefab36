import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
import yaml

from gan_ad.assignments import TINY_FILE
from gan_ad.runs import Run
from gan_ad.runner import run_pipeline

TINY = yaml.safe_load(TINY_FILE.read_text())


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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The folder of a whole pipeline run at tiny size (``gan_ad/tiny.yaml``), for tests that only read it.

    ``make test`` runs the tiny pipeline once into ``runs/nbval`` and names it in ``GAN_AD_TINY_RUN``, so
    that every test shares that run (its executed notebooks too); without it, the run is made once per
    test session in a temporary folder. A shared run that is unfinished, or was made with other
    parameters, is refused rather than used.
    """
    shared = os.environ.get("GAN_AD_TINY_RUN")
    if shared:
        run = Run(shared)
        recorded = {k: v for params in run.parameters().values() for k, v in params.items()}
        run.metrics()  # it finished
        assert {k: recorded.get(k) for k in TINY} == TINY, f"{shared} was not made with {TINY_FILE}"
        return run.dir
    return run_pipeline("tiny", TINY, runs_dir=tmp_path_factory.mktemp("runs"), echo=False)


# Fixtures that execute notebooks or start a cluster: a test using one is ``slow`` (left out of make check)
SLOW_FIXTURES = {"tiny_run", "release", "graded", "cluster"}


def pytest_collection_modifyitems(items):
    """Mark ``slow`` every test that uses one of :data:`SLOW_FIXTURES`, directly or through another fixture."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def write_image_folder(root, counts, size=(32, 32), mode="L", seed=0):
    """Write a generated image folder ``root/PART/CLASS/NNN.png``; ``counts`` maps (part, class) -> images.

    Each class is a different shape (its index picks it) on black, jittered, so classes differ; ``size``
    and ``mode`` (``"L"``, ``"RGB"`` ...) may be a dict class -> value for mixed folders.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    names = sorted({name for _, name in counts})
    for (part, name), n in counts.items():
        folder = root / part / name
        folder.mkdir(parents=True, exist_ok=True)
        w, h = size[name] if isinstance(size, dict) else size
        m = mode[name] if isinstance(mode, dict) else mode
        shape = names.index(name) % 3
        for i in range(n):
            image = Image.new(m, (w, h))
            draw = ImageDraw.Draw(image)
            x0, y0 = rng.integers(1, w // 4), rng.integers(1, h // 4)
            x1, y1 = w - rng.integers(1, w // 4), h - rng.integers(1, h // 4)
            ink = int(rng.integers(150, 256))
            ink = ink if m == "L" else (ink, int(rng.integers(0, 256)), 255 - ink)
            if shape == 0:
                draw.ellipse((x0, y0, x1, y1), outline=ink, width=2)
            elif shape == 1:
                draw.line((x0, y0, x1, y1), fill=ink, width=2)
                draw.line((x0, y1, x1, y0), fill=ink, width=2)
            else:
                draw.rectangle((x0, y0, x1, y1), fill=ink)
            image.save(folder / f"{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path):
    """A small image folder: classes cat, dog, owl of mixed sizes and modes (owl is RGB)."""
    counts = {(part, name): n for part, n in (("train", 12), ("test", 10)) for name in ("owl", "cat", "dog")}
    return write_image_folder(tmp_path / "pets", counts, size={"cat": (32, 32), "dog": (28, 28), "owl": (20, 40)},
                              mode={"cat": "L", "dog": "L", "owl": "RGB"})
