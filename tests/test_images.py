"""The one decoder and the one MNIST-style preprocessing (gan_ad.images), shared by the demo, image folders and the web app."""
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from gan_ad import images
from gan_ad.export import WEBAPP_DIR
from gan_ad.files import DATA_DIR


def png(image, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def test_transparency_is_paper_under_dark_and_under_light_ink():
    alpha = np.zeros((20, 20), "uint8")
    alpha[4:16, 8:12] = 255
    for ink_colour, paper in ((0, 255), (255, 0)):  # dark ink -> white paper, light ink -> black paper
        rgba = np.zeros((20, 20, 4), "uint8")
        rgba[..., :3], rgba[..., 3] = ink_colour, alpha
        grey = np.asarray(images.to_grey(Image.fromarray(rgba, "RGBA")))
        assert grey[0, 0] == paper and grey[10, 10] == ink_colour
        # either way the digit is the same once MNIST-style
        np.testing.assert_allclose(images.mnist_style(grey / 255), images.mnist_style(alpha / 255), atol=1e-6)


def test_sixteen_bits_are_divided_by_257_wherever_the_image_comes_from():
    bar = np.zeros((20, 20), "uint16")
    bar[3:17, 9:11] = 200 * 257
    grey = np.asarray(images.to_grey(Image.fromarray(bar)))
    assert grey.max() == 200 and grey.min() == 0
    from gan_ad import demo, image_folders
    np.testing.assert_array_equal(demo.read_image(png(Image.fromarray(bar))) * 255, grey.astype("float32"))
    assert image_folders.to_grey28(Image.fromarray(bar))[0].max() > 0


def test_mnist_strokes_as_measured():
    """The constants of gan_ad.images are MNIST's test digits as measured by stroke_width and ink."""
    path = DATA_DIR / "mnist.npz"
    assert path.exists(), "data/mnist.npz is missing: copy the Keras arrays there (see docs/development.md)"
    x = np.load(path)["x_test"] / 255
    widths = np.array([images.stroke_width(d) for d in x])
    assert abs(widths.mean() - images.MNIST_STROKE_WIDTH) < 0.1
    assert np.mean(widths < images.MNIST_STROKE_WIDTH - images.STROKE_SLACK) < 0.15  # few MNIST digits would be thickened
    assert 90 < np.mean([images.ink(d) for d in x]) < 120


def test_a_thin_drawing_is_thickened_to_mnist_width_and_a_wide_one_is_not():
    thin = np.zeros((280, 280), "float32")
    thin[20:260, 138:142] = 1  # a 1 drawn with a 4 px pen on a 280 px pad: 0.3 px once scaled to 20 px
    digit = images.mnist_style(thin)
    assert abs(images.stroke_width(digit) - images.MNIST_STROKE_WIDTH) < 1
    wide = np.zeros((280, 280), "float32")
    wide[20:260, 130:150] = 1  # a 20 px pen: 1.7 px
    assert images.stroke_width(images.mnist_style(wide)) < images.MNIST_STROKE_WIDTH + 0.5


def test_stroke_width_of_a_bar():
    bar = np.zeros((40, 40))
    bar[5:35, 10:13] = 1
    assert images.stroke_width(bar) == pytest.approx(2 * 90 / 66)
    assert images.stroke_width(np.zeros((5, 5))) == 0


NODE_PORT = """
const fs = require("fs"), vm = require("vm");
vm.runInThisContext(fs.readFileSync(process.argv[2], "utf8") + "\\nglobalThis.P = GanAdPreprocess;");
const cases = JSON.parse(fs.readFileSync(process.argv[3]));
const constants = JSON.parse(process.argv[4]);
const out = cases.map(([px, w, h]) => { try { return Array.from(P.mnistStyle(Float32Array.from(px), w, h, constants)); } catch (e) { return e.message; } });
fs.writeFileSync(process.argv[3], JSON.stringify(out));
"""


@pytest.mark.slow  # needs node, which make test installs (make system)
def test_the_web_apps_port_of_mnist_style_gives_the_same_pixels(tmp_path):
    """webapp/preprocess.js (run by node) against mnist_style on odd images: the same 28x28, to float32 rounding."""

    assert shutil.which("node"), "node is not installed: run make system (apt-get install nodejs npm)"
    rng = np.random.default_rng(0)
    cases = []
    for i in range(60):
        h, w = (int(v) for v in rng.integers(3, 200, 2))
        image = np.zeros((h, w), "float32")
        for _ in range(3):  # bars of random width: thin ones are thickened
            r, c = rng.integers(0, h), rng.integers(0, w)
            image[r:r + rng.integers(1, h), c:c + rng.integers(1, 1 + w // 3)] = rng.uniform(0.3, 1)
        if i % 3 == 0:
            image = 1 - image  # dark ink on paper
        if i % 7 == 0:
            image[:] = 1.0  # nothing to score
        cases.append([(image.astype("float32") * 255).round().astype("float32") / 255, w, h])
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([[c[0].ravel().tolist(), c[1], c[2]] for c in cases]))
    constants = {"ink": images.INK, "mnist_stroke_width": images.MNIST_STROKE_WIDTH, "stroke_slack": images.STROKE_SLACK}
    script = tmp_path / "port.js"
    script.write_text(NODE_PORT)
    subprocess.run(["node", str(script), str(WEBAPP_DIR / "preprocess.js"), str(path), json.dumps(constants)], check=True)
    for (image, _, _), got in zip(cases, json.loads(path.read_text())):
        try:
            expected = images.mnist_style(image)
        except images.EmptyImageError as err:
            assert got == str(err)
            continue
        np.testing.assert_allclose(np.asarray(got, "float32").reshape(28, 28), expected, atol=1e-6)
