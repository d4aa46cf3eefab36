"""The detector interface: every detector fits, scores, calibrates on validation, saves and loads the same."""
import json

import numpy as np
import pytest

from gan_ad import detectors, models
from gan_ad.baselines import ConvAutoencoder, FeatureKNN, KNNDistance, PCAReconstruction
from gan_ad.encoder import EncoderMemory, EncoderScore, EncoderSearch
from gan_ad.inversion import AnoGAN


@pytest.fixture(scope="module")
def networks():
    models.seed_everything(0)
    return models.build_generator(8, 8), models.build_discriminator(8), models.build_encoder(8, 8)


def make(key, networks):
    generator, discriminator, encoder = networks
    return {"anogan": lambda: AnoGAN(generator, discriminator, steps=3, batch_size=16),
            "encoder": lambda: EncoderScore(encoder, generator, discriminator, batch_size=16),
            "encoder_refined": lambda: EncoderSearch(encoder, generator, discriminator, steps=2, batch_size=16),
            "encoder_memory": lambda: EncoderMemory(encoder, generator, discriminator, k=2, batch_size=16),
            "feature_knn": lambda: FeatureKNN(discriminator, k=2, n_components=4),
            "pca": lambda: PCAReconstruction(n_components=4),
            "pixel_knn": lambda: KNNDistance(k=2, n_components=4),
            "autoencoder": lambda: ConvAutoencoder(code_size=4, epochs=1, batch_size=20)}[key]()


def images(n, seed):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 28, 28, 1)).astype("float32")


# the detectors that train a network take seconds each: make check fits the others
TRAINED = {"anogan", "encoder", "encoder_refined", "encoder_memory", "autoencoder"}


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.slow) if k in TRAINED else k for k in detectors.NOTEBOOKS])
def test_fit_score_calibrate_save_load_round_trip(key, networks, tmp_path):
    detector = make(key, networks)
    assert detector.key == key and detector.kind in (detectors.GAN, detectors.BASELINE) and detector.label
    x_train, x_val, x_test = images(40, 1), images(30, 2), images(20, 3)  # 20 images: one inverter batch of 16 and a short one
    is_anomaly = np.r_[np.zeros(20, int), np.ones(10, int)]
    detector.fit(x_train)
    val_scores = detector.calibrate(x_val, is_anomaly, false_alarm_rate=0.1)
    assert detector.threshold == pytest.approx(np.quantile(val_scores[:20], 0.9))  # validation normals only
    assert detector.validation["n_images"] == 30
    scores = detector.score(x_test)
    assert scores.shape == (20,) and np.isfinite(scores).all()
    np.testing.assert_array_equal(detector.predict(x_test), (scores > detector.threshold).astype(int))
    explanation = detector.explain(x_test[:3])
    np.testing.assert_allclose(explanation.scores, scores[:3], rtol=1e-5)
    if key in ("pixel_knn", "feature_knn"):
        assert explanation.neighbours.shape == (3, 2, 28, 28, 1)
        gap = np.abs(explanation.neighbours[:, :, None] - x_train[None, None]).max(axis=(3, 4, 5))
        assert (gap.min(axis=2) <= 1 / 127.5).all()  # each neighbour is a training image (stored as uint8)
        np.testing.assert_allclose(explanation.neighbour_distances.mean(axis=1), scores[:3], rtol=1e-5)
    else:
        assert explanation.reconstructions.shape == explanation.residuals.shape == (3, 28, 28, 1)
        np.testing.assert_allclose(explanation.residuals, np.abs(x_test[:3] - explanation.reconstructions), atol=1e-6)

    loaded = detectors.load(detector.save(tmp_path / key))
    assert type(loaded) is type(detector) and loaded.settings == detector.settings and loaded.label == detector.label
    np.testing.assert_array_equal(loaded.score(x_test), scores)
    assert loaded.threshold == detector.threshold and loaded.validation == detector.validation
    np.testing.assert_array_equal(loaded.percentile(scores), detector.percentile(scores))


def test_threshold_ignores_the_anomalies_and_predict_needs_it():
    detector = PCAReconstruction(n_components=2).fit(images(20, 0))
    x = images(10, 1)
    with pytest.raises(detectors.DetectorError, match="calibrate"):
        detector.predict(x)
    scores = detector.score(x)
    normal_only = detector.calibrate(x, np.zeros(10, int), 0.2) is not None and detector.threshold
    detector.calibrate(np.concatenate([x, 5 * x]), np.r_[np.zeros(10, int), np.ones(10, int)], 0.2)
    assert detector.threshold == normal_only == pytest.approx(np.quantile(scores, 0.8))
    assert detector.percentile(detector.threshold + 1)[0] == 100


def test_set_params_drops_the_threshold(networks):
    detector = make("anogan", networks)
    detector.calibrate(images(4, 0), [0, 0, 1, 1], 0.5)
    detector.set_params(steps=5)
    assert detector.threshold is None and detector.label == "AnoGAN (5 steps)"
    with pytest.raises(ValueError, match="no setting"):
        detector.set_params(stpes=5)


def test_bad_images_are_refused():
    detector = PCAReconstruction(n_components=2).fit(images(10, 0))
    for bad in (np.zeros((0, 28, 28, 1)), np.zeros((2, 28, 28)), np.zeros((2, 32, 32, 1))):
        with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
            detector.score(bad)


def test_a_damaged_or_foreign_detector_folder_is_refused(tmp_path):
    folder = PCAReconstruction(n_components=2).fit(images(10, 0)).save(tmp_path / "pca")
    (folder / "pca.npz").write_bytes(b"not a zip")
    with pytest.raises(detectors.DetectorError, match="damaged.*05_evaluation"):
        detectors.load(folder)
    record = json.loads((folder / "detector.json").read_text())
    (folder / "detector.json").write_text(json.dumps({**record, "format": 0}))
    with pytest.raises(detectors.DetectorError, match="another version"):
        detectors.load(folder)
    (folder / "detector.json").write_text("{")
    with pytest.raises(detectors.DetectorError, match="cannot be read"):
        detectors.load(folder)
    with pytest.raises(detectors.DetectorError, match="no detector"):
        detectors.load(tmp_path / "nothing")


def test_a_failed_save_keeps_the_old_detector(tmp_path, monkeypatch):
    detector = PCAReconstruction(n_components=2).fit(images(10, 0))
    folder = detector.save(tmp_path / "pca")
    before = detectors.load(folder).score(images(3, 5))

    def fail(folder):
        raise OSError("disk full")
    monkeypatch.setattr(detector, "_save_state", fail)
    with pytest.raises(OSError):
        detector.save(folder)
    np.testing.assert_array_equal(detectors.load(folder).score(images(3, 5)), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pca"]  # no temporary folder left behind


def test_best_on_validation_reads_validation_only():
    a, b = PCAReconstruction(2), PCAReconstruction(3)
    a.validation, b.validation = {"auroc": 0.7}, {"auroc": 0.9}
    nan = PCAReconstruction(2)
    nan.validation = {"auroc": float("nan")}  # validation without anomalies
    assert detectors.best_on_validation({"a": a, "b": b, "nan": nan}) == "b"
    assert detectors.best_on_validation({"nan": nan, "feature_knn": PCAReconstruction(2)}) == "feature_knn"
    assert detectors.best_on_validation({"nan": nan}) == "nan"


def test_a_detector_that_implements_nothing_cannot_be_made():
    class Nothing(detectors.Detector):  # neither _explain nor _score: no endless score -> explain -> score
        key, kind, label = "nothing", detectors.BASELINE, "Nothing"
    with pytest.raises(TypeError, match="_explain"):
        Nothing()

    class ScoresOnly(detectors.Detector):
        key, kind, label = "mean", detectors.BASELINE, "Mean pixel"

        def _explain(self, images):
            return detectors.Explanation(images.mean(axis=(1, 2, 3)))
    detector = ScoresOnly()
    np.testing.assert_allclose(detector.score(images(3, 0)), images(3, 0).mean(axis=(1, 2, 3)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        detector.explain(np.zeros((2, 28, 28)))


def test_knn_checks_its_input_as_every_detector_does():
    detector = KNNDistance(k=2, n_components=4).fit(images(20, 0))
    for bad in (np.zeros((2, 32, 32, 1)), np.zeros((2, 28, 28)), np.zeros((0, 28, 28, 1)), np.zeros((0, 5))):
        for method in (detector.score, detector.explain):
            with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
                method(bad)
    vectors = KNNDistance(k=2, n_components=3).fit(images(20, 0).reshape(20, -1))  # vectors (N, D) are its input too
    assert vectors.score(images(4, 1).reshape(4, -1)).shape == (4,)


def test_the_registry_lists_every_detector_with_its_notebook():
    assert list(detectors.CLASSES) == list(detectors.NOTEBOOKS)
    assert all(cls.key == key for key, cls in detectors.CLASSES.items())
