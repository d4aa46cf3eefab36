import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_ad import demo


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")  # the mode follows the dtype and shape
    return buffer.getvalue()


def stroke(h=100, w=60, dark_on_light=False):
    """A vertical bar in a larger frame: a '1'."""
    image = np.zeros((200, 200), "float32")
    image[30:30 + h, 120:120 + w // 4] = 1
    return 1 - image if dark_on_light else image


def test_mnist_style_crops_scales_and_centres():
    digit = demo.mnist_style(stroke())
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    rows, cols = np.nonzero(digit > 0.1)
    assert rows.max() - rows.min() + 1 == 20  # longer side scaled to 20 px
    cy = (digit.sum(axis=1) * np.arange(28)).sum() / digit.sum()
    cx = (digit.sum(axis=0) * np.arange(28)).sum() / digit.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1  # centre of mass in the middle


def test_dark_ink_on_paper_is_inverted():
    np.testing.assert_allclose(demo.mnist_style(stroke(dark_on_light=True)), demo.mnist_style(stroke()), atol=1e-6)


@pytest.mark.parametrize("image", [np.zeros((50, 50)), np.ones((50, 50))])
def test_blank_image_asks_for_a_digit(image):
    with pytest.raises(demo.EmptyImageError, match="draw or upload"):
        demo.mnist_style(image)


def test_read_image_converts_odd_modes():
    bar = (stroke() * 255).astype("uint8")
    grey = demo.read_image(png_bytes(bar))
    rgba = np.zeros((200, 200, 4), "uint8")
    rgba[..., 3] = bar  # black ink on a transparent background
    from_rgba = demo.read_image(png_bytes(rgba))
    np.testing.assert_allclose(demo.mnist_style(from_rgba), demo.mnist_style(grey), atol=0.02)
    sixteen = demo.read_image(png_bytes(bar.astype("uint16") * 257))
    np.testing.assert_allclose(sixteen, grey, atol=1e-3)
    palette = Image.fromarray(bar).convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    np.testing.assert_allclose(demo.read_image(buffer.getvalue()), grey, atol=0.02)


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"hello", "not an image"),
                                           (b"0" * (demo.MAX_UPLOAD_BYTES + 1), "under 5 MB")])
def test_read_image_refuses_bad_files(data, message):
    with pytest.raises(ValueError, match=message):
        demo.read_image(data)


def test_png_is_enlarged():
    image = Image.open(io.BytesIO(demo.png(np.eye(28), size=56)))
    assert image.size == (56, 56)


def test_drawing_pad_pixels_and_clear():
    pad = demo.DrawingPad()
    assert not pad.image().any()
    pad.pixels = [255] * 784
    assert pad.image().shape == (28, 28) and pad.image().max() == 1
    pad.clear()
    assert pad.pixels == [] and pad.clears == 1


def test_demo_without_a_model_explains_how_to_make_one(tmp_path):
    app = demo.Demo(tmp_path)
    assert "make run" in app.ui.value and str(tmp_path) in app.ui.value


def test_demo_judges_with_the_best_validation_detector_and_shows_every_other(tiny_run):
    from gan_ad import data, detectors

    app = demo.Demo(tiny_run)
    every = detectors.load_run_detectors(tiny_run)
    best = detectors.best_on_validation(every)
    assert app.chooser.value == best and [key for _, key in app.chooser.options] == list(detectors.NOTEBOOKS)
    assert every[best].label in app.ui.children[0].value  # the introduction names the judge
    x_test, _, _ = data.load_split(tiny_run, "test")
    explained = app.show((x_test[0, ..., 0] + 1) / 2, preprocess=False)
    assert set(explained) == set(detectors.NOTEBOOKS)
    for key in (best, "anogan"):  # what the page shows is the detector's own score and verdict for that digit
        app.chooser.value = key
        score = every[key].score(x_test[:1])[0]
        assert f"<b>{score:.4f}</b>" in app.message.value and every[key].label in app.message.value
        assert ("ANOMALOUS" if score > every[key].threshold else "NORMAL") in app.message.value
    assert all(d.label in app.others.value for d in every.values())
    assert all(p.image.value for p in [*app.images.values(), *app.neighbours])
    app.clear()
    assert app.message.value == "" and not app.images["input"].image.value


def test_a_stroke_is_scored_without_a_click(tiny_run):
    app = demo.Demo(tiny_run)
    drawing = np.zeros((28, 28), "uint8")
    drawing[4:24, 12:16] = 255
    app.pad.pixels = drawing.ravel().tolist()  # what the canvas sends when a stroke ends
    assert "Anomaly score" in app.message.value


def copy_run(tiny_run, tmp_path):
    import shutil
    return Path(shutil.copytree(tiny_run, tmp_path / "run", ignore=shutil.ignore_patterns("checkpoints", "samples", "*.ipynb")))


def test_demo_of_an_old_or_damaged_run_says_what_to_do(tiny_run, tmp_path):
    import shutil
    run = copy_run(tiny_run, tmp_path)
    (run / "detectors" / "pca" / "pca.npz").write_bytes(b"")
    assert "damaged" in demo.Demo(run).ui.value and "05_evaluation" in demo.Demo(run).ui.value
    shutil.rmtree(run / "detectors")
    message = demo.Demo(run).ui.value
    assert "made before detectors were saved" in message and "03" in message


def test_a_detector_of_another_split_is_refused(tiny_run, tmp_path):
    from gan_ad import detectors
    run = copy_run(tiny_run, tmp_path)
    with np.load(run / "split.npz") as f:
        split = {part: f[part] for part in f.files}
    np.savez(run / "split.npz", **{**split, "test": split["test"][:-1]})
    with pytest.raises(detectors.DetectorError, match="another split"):
        detectors.load_from_run(run, "feature_knn")
