"""Labelled images of your own through the same notebooks, at tiny size (``gan_ad/tiny.yaml``)."""
import math
from pathlib import Path

import nbformat
import numpy as np
import papermill as pm
import pytest
import yaml

from conftest import write_image_folder
from gan_ad import data
from gan_ad.assignments import TINY_FILE
from gan_ad.detectors import NOTEBOOKS
from gan_ad.files import read_json
from gan_ad.runs import Run
from gan_ad.runner import PIPELINE, run_pipeline

pytestmark = pytest.mark.slow  # whole pipeline runs

TINY = yaml.safe_load(TINY_FILE.read_text())


def outputs(path):
    """Everything an executed notebook printed, as one text."""
    cells = nbformat.read(path, as_version=4).cells
    return "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                     for c in cells if c.cell_type == "code" for o in c.outputs)


def test_image_folder_through_the_whole_pipeline(shapes_sweep):
    """An image folder of shapes (conftest.py: circle and square normal, mixed sizes, one class in colour, a file that
    is not an image) through the five notebooks, as a point of the sweep on the Dask cluster."""
    folder, run_dir = shapes_sweep.folder, shapes_sweep.shapes
    split = Run(run_dir).settings("split.json")
    assert split["dataset"] == str(folder) and split["classes"] == ["circle", "cross", "square"]
    assert (split["normal_digits"], split["anomaly_digits"], split["anomaly_classes"]) == ([0, 2], [1], ["cross"])
    assert split["counts"] == {"train": 216, "val": 48, "test": 60} and split["val_anomalies"] == 24
    assert (split["resized"], split["sizes"], split["colour"]) == (280, {"32x32": 140, "36x24": 140}, 140)
    assert [s.split(": ")[0] for s in split["skipped_files"]] == [str(folder / "train/cross/notes.txt")]
    printed = outputs(run_dir / "01_data_prep.ipynb")
    assert "280 of 420 images were not 28x28 and were resized" in printed and "140 colour images" in printed
    assert "notes.txt" in printed and (run_dir / "dataset.npz").exists() and (run_dir / "figures" / "examples.png").exists()

    results = Run(run_dir).metrics()
    assert set(results["detectors"]) == set(NOTEBOOKS)
    for name, m in results["detectors"].items():
        assert 0 <= m["auroc"] <= 1 and (m["n_images"], m["n_anomalies"]) == (60, 20), name
    x, classes, is_anomaly = data.load_split(run_dir, "test")
    assert x.shape == (60, 28, 28, 1) and list(np.bincount(classes)) == [20, 20, 20] and is_anomaly.sum() == 20


def test_npz_with_anomalies_only_in_the_test_set_through_notebooks_01_to_03(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "bugs.npz", x_train=rng.integers(0, 256, (300, 32, 32), dtype=np.uint8), y_train=np.arange(300) % 2,
             x_test=rng.integers(0, 256, (60, 32, 32), dtype=np.uint8), y_test=np.arange(60) % 3,
             class_names=np.array(["ant", "bee", "fly"]))
    params = {**TINY, "dataset": str(tmp_path / "bugs.npz"), "normal_digits": ["ant", "bee"], "anomaly_digits": ["fly"]}
    params = {k: v for k, v in params.items() if k not in ("encoder_epochs", "refine_steps")}  # notebook 04's
    run_dir = run_pipeline("bugs", params, runs_dir=tmp_path / "runs", echo=False, notebooks=PIPELINE[:3])

    split = Run(run_dir).settings("split.json")
    assert split["val_anomalies"] == 0 and split["counts"] == {"train": 270, "val": 30, "test": 60}
    assert "validation holds normals only" in outputs(run_dir / "01_data_prep.ipynb")
    model = Run(run_dir).settings("model.json")
    assert model["epoch"] == model["epochs"] == 2 and math.isnan(model["val_auroc_features"])
    assert "keeping the last one (2)" in outputs(run_dir / "02_train_gan.ipynb")
    anogan = read_json(run_dir / "detectors" / "anogan" / "detector.json")
    assert math.isfinite(anogan["threshold"]) and math.isnan(anogan["validation"]["auroc"])
    assert anogan["validation"]["false_alarm_rate"] <= 0.1
    _, _, is_anomaly = data.load_split(run_dir, "test")
    assert is_anomaly.sum() == 20


def test_a_bad_dataset_stops_notebook_01_before_anything_is_saved(tmp_path):
    counts = {("train", "cat"): 12, ("train", "dog"): 12, ("test", "cat"): 10, ("test", "dog"): 10, ("test", "fox"): 10}
    write_image_folder(tmp_path / "pets", counts)
    with pytest.raises(pm.PapermillExecutionError) as err:
        run_pipeline("bad", {"dataset": str(tmp_path / "pets"), "normal_digits": ["cat"]}, runs_dir=tmp_path / "runs",
                     echo=False, notebooks=PIPELINE[:1])
    assert err.value.ename == "DataError" and f"{tmp_path / 'pets' / 'test' / 'fox'} holds test images" in err.value.evalue
    assert sorted(p.name for p in (tmp_path / "runs" / "bad").iterdir()) == ["01_data_prep.ipynb"]
