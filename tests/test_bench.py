import shutil

import numpy as np
import pytest

from gan_ad import bench
from gan_ad.__main__ import main
from gan_ad.detectors import DetectorError
from gan_ad.files import read_json, write_json
from gan_ad.runs import Run

KEYS = ["anogan", "encoder", "encoder_refined", "encoder_memory", "feature_knn", "pca", "pixel_knn", "autoencoder"]


def test_bench_scores_every_detector_as_the_run_did_and_extrapolates_anogan(tiny_run, tmp_path):
    # the benchmark writes its tables into the run: a copy, as other tests read the shared run at the same time
    tiny_run = shutil.copytree(tiny_run, tmp_path / "run", ignore=shutil.ignore_patterns("*.ipynb", "figures", "samples"))
    table = bench.run_bench(tiny_run, anogan_steps=3, anogan_images=20, echo=False)
    n_test = Run(tiny_run).settings("split.json")["counts"]["test"]
    assert list(table.index) == KEYS
    assert table.loc["anogan", "label"] == "AnoGAN (3 steps)" and table.loc["encoder_refined", "label"] == "Encoder + 2 steps"
    assert table.loc["anogan", "images_scored"] == 20 and table.loc["anogan", "extrapolated"]
    assert (table.drop("anogan")["images_scored"] == n_test).all() and not table.drop("anogan")["extrapolated"].any()
    assert (table["peak_mib"].astype(float) > 100).all()
    assert table.loc["anogan", "auroc_anogan_subset"] == table.loc["anogan", "auroc"]
    assert (table["auroc_anogan_subset"] != table["auroc"]).any()  # the others are also measured on AnoGAN's 20 images
    # gan_ad/tiny.yaml gives the baselines non-default settings: the benchmark uses the run's own, so its rows
    # are the run's metrics.json (AnoGAN aside: the benchmark runs it with its own number of steps)
    run = Run(tiny_run).metrics()
    assert run["settings"]["pixel_knn"]["k"] != 5 and run["settings"]["pca"]["n_components"] != 32
    for key in KEYS[1:]:
        assert table.loc[key, "auroc"] == pytest.approx(run["detectors"][key]["auroc"], abs=1e-9), key
    assert set(read_json(tiny_run / "bench.json")["methods"]) == set(KEYS)
    assert "| AnoGAN (3 steps) | GAN score |" in (tiny_run / "bench.md").read_text()
    assert "(extrapolated)" in (tiny_run / "bench.md").read_text()


def test_subset_is_half_normal_half_anomalous():
    is_anomaly = np.r_[np.zeros(50), np.ones(10)].astype(int)
    picked = bench.subset(is_anomaly, 16)
    assert len(picked) == 16 and len(set(picked)) == 16 and is_anomaly[picked].sum() == 8
    assert is_anomaly[bench.subset(is_anomaly, 40)].sum() == 10  # too few anomalies: all of them, normals make up the rest


def test_bench_of_an_unfinished_run_says_what_to_run(tmp_path, capsys):
    write_json(tmp_path / "detectors" / "anogan" / "detector.json", {})
    with pytest.raises(DetectorError, match="04_encoder"):
        bench.run_bench(tmp_path)
    assert main(["bench", "--run", str(tmp_path)]) == 2
    assert "04_encoder" in capsys.readouterr().err
