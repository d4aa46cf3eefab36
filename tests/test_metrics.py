import numpy as np
import pytest

from gan_ad import metrics


def test_threshold_lets_the_chosen_share_of_normals_through():
    normal = np.arange(100, dtype=float)
    t = metrics.threshold_at_false_alarm_rate(normal, 0.05)
    assert np.mean(normal > t) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="false-alarm rate"):
        metrics.threshold_at_false_alarm_rate(normal, 0)
    with pytest.raises(ValueError, match="No normal scores"):
        metrics.threshold_at_false_alarm_rate([], 0.05)


def test_detection_metrics_on_a_worked_example():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8, 0.85, 0.95])
    m = metrics.detection_metrics(y, s, threshold=0.5)
    # flagged: 0.9 (false alarm), 0.8, 0.85, 0.95 (hits); 0.4 missed
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(3 / 4)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["false_alarm_rate"] == pytest.approx(1 / 4)
    assert m["auroc"] == pytest.approx(13 / 16)  # 13 of 16 (anomaly, normal) pairs ranked right
    assert (m["n_images"], m["n_anomalies"]) == (8, 4)


def test_detection_metrics_need_both_classes():
    with pytest.raises(ValueError, match="both normal and anomalous"):
        metrics.detection_metrics([1, 1], [0.1, 0.2], 0.5)


def test_auroc_per_class():
    digits = np.array([0, 0, 5, 5, 7, 7])
    is_anomaly = (digits >= 5).astype(int)
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.15, 0.05])
    table = metrics.auroc_per_class(scores, digits, is_anomaly)
    assert list(table.index) == [5, 7]
    assert table.loc[5, "auroc"] == 1.0 and table.loc[7, "auroc"] == 0.25
    assert list(table["n_images"]) == [2, 2]


def test_validation_of_normals_only_has_no_auroc():
    # a dataset whose anomalies appear only in its test set (notebook 01): the threshold works, AUROC does not exist
    m = metrics.detection_metrics([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.9], threshold=0.5)
    assert np.isnan(m["auroc"]) and np.isnan(m["auprc"]) and np.isnan(m["recall"]) and np.isnan(m["f1"])
    assert m["false_alarm_rate"] == pytest.approx(1 / 4) and (m["n_images"], m["n_anomalies"]) == (4, 0)
    assert np.isnan(metrics.auroc([0, 0], [0.1, 0.2]))
    assert metrics.auroc([0, 1], [0.1, 0.2]) == 1.0


def test_scored_keeps_the_images_a_detector_scored():
    scores, is_anomaly, digits = metrics.scored([0.5, np.nan, 0.1, np.nan], [1, 1, 0, 0], [7, 8, 1, 2])
    assert scores.tolist() == [0.5, 0.1] and is_anomaly.tolist() == [1, 0] and digits.tolist() == [7, 1]


def test_auroc_per_pair_tells_which_normal_class_an_anomalous_one_is_taken_for():
    # class 7 scores like the normal 1s, above the normal 0s; class 9 above both
    digits = np.array([0, 0, 1, 1, 7, 7, 9, 9])
    is_anomaly = np.isin(digits, [7, 9]).astype(int)
    scores = np.array([0.0, 0.1, 0.5, 0.7, 0.6, 0.4, 0.9, 1.0])
    table = metrics.auroc_per_pair(scores, digits, is_anomaly)
    assert list(table.index) == [7, 9] and list(table.columns) == [0, 1]
    assert table.loc[7, 0] == 1.0 and table.loc[7, 1] == 0.25 and (table.loc[9] == 1.0).all()
    assert table.loc[7].idxmin() == 1


def test_pairs_command_prints_the_table_of_a_run_and_refuses_an_unknown_detector(tmp_path, capsys):
    from gan_ad.__main__ import main
    from gan_ad.files import write_json
    digits = np.array([0, 1, 7, 7, 0, 1])
    np.savez(tmp_path / "test_scores.npz", digits=digits, is_anomaly=(digits == 7).astype(int),
             feature_knn=np.array([0.1, 0.8, 0.9, 0.7, 0.2, 0.6]))
    write_json(tmp_path / "metrics.json", {"best_on_validation": "feature_knn",
                                           "detectors": {"feature_knn": {"label": "Discriminator-feature kNN"}, "anogan": {"label": "AnoGAN"}}})
    assert main(["pairs", "--run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Test AUROC of Discriminator-feature kNN") and "the hardest pairs: 7 vs 1 0.750, 7 vs 0 1.000." in out
    np.savez(tmp_path / "test_scores.npz", digits=digits, is_anomaly=(digits == 7).astype(int),  # AnoGAN: NaN outside its sample
             feature_knn=np.array([0.1, 0.8, 0.9, 0.7, 0.2, 0.6]), anogan=np.array([0.1, 0.95, 0.9, np.nan, np.nan, 0.6]))
    assert main(["pairs", "--run", str(tmp_path), "--detector", "anogan"]) == 0
    assert "the hardest pairs: 7 vs 1 0.500, 7 vs 0 1.000." in capsys.readouterr().out
    assert main(["pairs", "--run", str(tmp_path), "--detector", "pca"]) == 2
    assert "has no test scores of 'pca'; its detectors: anogan, feature_knn." in capsys.readouterr().err
