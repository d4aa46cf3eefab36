import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import contextlib
import io
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from gan_ad import sweep
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


@pytest.fixture(scope="session")
def session_cluster():
    """A Dask cluster of two single-threaded worker processes; a task whose worker dies fails at once."""
    import dask  # only the cluster tests need Dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as local:
            yield local


@pytest.fixture
def cluster(session_cluster):
    """The session's Dask cluster. Starting a worker (also one that replaces a dead one) sets thread variables such
    as OMP_NUM_THREADS=1 in this process for it; they are put back after the test, so that no later test runs
    TensorFlow with other thread counts than its process started with."""
    saved = dict(os.environ)
    yield session_cluster
    os.environ.clear()
    os.environ.update(saved)


# The image folder of the sweep below: three shapes, of three sizes, one of them in colour, and a file that is no image
SHAPE_COUNTS = {(part, name): n for part, n in (("train", 120), ("test", 20)) for name in ("circle", "cross", "square")}
SHAPE_SIZES = {"circle": (32, 32), "cross": (28, 28), "square": (36, 24)}
SHAPE_MODES = {"circle": "L", "cross": "RGB", "square": "L"}


@pytest.fixture(scope="session")
def shapes_sweep(tmp_path_factory, session_cluster):
    """A tiny sweep on the Dask cluster over two datasets: an image folder of shapes (circle and square normal), which
    runs the whole pipeline, and ``cifar``, which is no dataset and fails. Shared by the sweep's test (a failed point
    is recorded, resuming skips what finished) and the image folder's (its run, through every notebook)."""
    saved = dict(os.environ)
    root = tmp_path_factory.mktemp("shapes")
    folder = root / "shapes"
    write_image_folder(folder, SHAPE_COUNTS, size=SHAPE_SIZES, mode=SHAPE_MODES)
    (folder / "train" / "cross" / "notes.txt").write_text("not an image")
    fixed = {**TINY, "normal_digits": ["circle", "square"], "bad_files": "skip"}
    grid = {"dataset": [str(folder), "cifar"]}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = sweep.run_grid("s", fixed, grid, runs_dir=root / "runs", cluster=session_cluster.scheduler_address)
    os.environ.clear()
    os.environ.update(saved)
    sweep_dir = root / "runs" / "s"
    return SimpleNamespace(results=results, printed=printed.getvalue(), fixed=fixed, grid=grid, folder=folder,
                           runs_dir=root / "runs", dir=sweep_dir, shapes=sweep_dir / sweep.run_name({"dataset": str(folder)}),
                           cifar=sweep_dir / "dataset=cifar")


# Fixtures that execute notebooks or start a cluster: a test using one is ``slow`` (left out of make check)
SLOW_FIXTURES = {"tiny_run", "release", "graded", "cluster", "session_cluster", "shapes_sweep"}


# Fixtures of the one Dask cluster of a test session: under pytest-xdist their tests share a worker (group "cluster")
CLUSTER_FIXTURES = {"cluster", "session_cluster", "shapes_sweep"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Mark ``slow`` every test that uses one of :data:`SLOW_FIXTURES`, directly or through another fixture.

    ``make test`` runs the slow tests on two pytest-xdist workers with ``--dist loadgroup``: the tests of the session's
    cluster stay together on one worker, and so do the tests of a file that share a fixture of the file (``graded``),
    and nbval's cells of the five notebooks (which run one after the other); the others go wherever a worker is free.
    """
    for item in items:
        if item.path.suffix == ".ipynb":  # nbval's cells of a run's notebooks (make test): in order, on one worker
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("nbval"))
            continue
        fixtures = set(getattr(item, "fixturenames", ()))
        if SLOW_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)
        info = getattr(item, "_fixtureinfo", None)
        scopes = {d.scope for defs in (info.name2fixturedefs.values() if info else ()) for d in defs}
        if CLUSTER_FIXTURES & fixtures:
            item.add_marker(pytest.mark.xdist_group("cluster"))
        elif scopes & {"module", "class", "package"}:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items.sort(key=start_rank)  # stable: a group's tests stay in their order


# The longest work of the slow tier, started first so that the two workers end together (by the durations that
# make test prints): the graded class of submissions, the killed run, the two-worker sweep, the cluster's sweep, nbval
LONG_FIRST = ("tests/test_assignments.py", "tests/test_resume.py", "tests/test_sweep.py::test_tiny_sweep_with_two_workers",
              "cluster", "nbval")


def start_rank(item):
    """Where ``item`` comes in the order of the run: the rank of its group (or test) in :data:`LONG_FIRST`, else after."""
    group = next((mark.args[0] for mark in item.iter_markers("xdist_group")), item.nodeid)
    return next((rank for rank, start in enumerate(LONG_FIRST) if group.startswith(start)), len(LONG_FIRST))


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
