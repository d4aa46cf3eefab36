"""The web app in a real browser: the page built from a tiny run, served on 127.0.0.1, driven in Debian's Chromium.

Every request outside loopback is refused (and none may be attempted). Parity: the page's 28x28 images
and scores equal gan_ad's (gan_ad.images.mnist_style, the run's detector) within PIXEL_TOLERANCE and
SCORE_TOLERANCE, and every verdict is the same.
"""
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from gan_ad.export import WEBAPP_DIR, build_site
from gan_ad.runs import Run
from gan_ad.images import mnist_style
from gan_ad.webapp_bench import CHROMIUM, CHROMIUM_ARGS, SEVEN, serving_folder, stroke

pytestmark = pytest.mark.slow  # a tiny run, Chromium

PIXEL_TOLERANCE = 1e-6   # the page's preprocessing is a port of mnist_style, Pillow's Lanczos arithmetic included
SCORE_TOLERANCE = 1e-4   # relative: onnxruntime-web's float32 against TensorFlow's, and a kNN summed in another order
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def site(tiny_run, tmp_path_factory):
    """The web app of the tiny run, built as ``make webapp`` builds it (judged by its best exportable detector)."""
    if not Path(CHROMIUM).exists():  # make test installs both first (make system, npm ci)
        pytest.fail("Debian's chromium is not installed: run make system (apt-get install chromium)")
    if not (WEBAPP_DIR / "node_modules" / "onnxruntime-web").exists():
        pytest.fail("onnxruntime-web is not installed: run npm ci in webapp/ (make webapp does)")
    out = tmp_path_factory.mktemp("webapp") / "site"
    build_site(tiny_run, out)
    return out


@pytest.fixture(scope="module")
def server(site):
    with serving_folder(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh page of the app, ready to judge; fails the test if anything outside loopback was requested."""
    outside = []

    def only_loopback(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.route("**/*", only_loopback)
    page = context.new_page()
    page.goto(server)
    page.wait_for_function("window.ganAd.ready || window.ganAd.error", timeout=120_000)
    assert page.evaluate("window.ganAd.error") is None
    yield page
    context.close()
    assert outside == [], f"the page requested {outside}"


DRAWINGS = {  # fixed drawings, as strokes of fractions of the pad
    "7": [SEVEN],
    "1": [[(0.5, 0.12), (0.5, 0.88)]],
    "5": [[(0.72, 0.18), (0.35, 0.18), (0.32, 0.45), (0.6, 0.45), (0.7, 0.62), (0.58, 0.82), (0.3, 0.8)]],
    "small 0": [[(0.5, 0.4), (0.6, 0.5), (0.5, 0.6), (0.4, 0.5), (0.5, 0.4)]],
    "4": [[(0.4, 0.2), (0.3, 0.55), (0.7, 0.55)], [(0.6, 0.3), (0.6, 0.85)]],
}


def last(page):
    return page.evaluate("window.ganAd.last")


@pytest.fixture(scope="module")
def detector(site, tiny_run):
    manifest = json.loads((site / "model" / "manifest.json").read_text())
    return Run(tiny_run).detector(manifest["judge"]["key"])


def check_scores(detector, digits, page_scores):
    scores = detector.score(np.asarray(digits, "float32").reshape(-1, 28, 28, 1) * 2 - 1)
    page_scores = np.asarray(page_scores)
    np.testing.assert_allclose(page_scores, scores, rtol=SCORE_TOLERANCE, atol=1e-6)
    np.testing.assert_array_equal(page_scores > detector.threshold, scores > detector.threshold)
    return np.max(np.abs(page_scores - scores) / np.maximum(np.abs(scores), 1e-12))


def test_fifty_test_digits_score_as_in_python(page, tiny_run, detector):
    x, _, _ = Run(tiny_run).split("test")
    digits = ((x[:50, ..., 0] + 1) / 2).reshape(50, 784)
    page_scores = page.evaluate("(d) => window.ganAd.scoreDigits(d)", digits.tolist())
    print(f"50 test digits: largest relative score difference {check_scores(detector, digits, page_scores):.1e}")


def test_drawings_look_and_score_as_in_python(page, detector):
    """Strokes replayed with the mouse: the page's 28x28 is mnist_style of the pad, its score the detector's, no click."""
    seen, scores = [], []
    for name, strokes in DRAWINGS.items():
        page.click("#clear")
        for points in strokes:
            stroke(page, points)
        page.wait_for_function("window.ganAd.last !== null")
        result = last(page)
        raw = np.asarray(result["raw"]["grey"], "float32").reshape(result["raw"]["h"], result["raw"]["w"])
        digit = mnist_style(raw)
        np.testing.assert_allclose(np.asarray(result["digit"]).reshape(28, 28), digit, atol=PIXEL_TOLERANCE, err_msg=name)
        seen.append(digit.ravel())
        scores.append(result["score"])
        assert page.locator("#verdict").inner_text() in ("ANOMALOUS", "NORMAL")
    print(f"drawings: largest relative score difference {check_scores(detector, seen, scores):.1e}")


def test_draw_a_seven_and_a_one_gives_a_verdict_without_a_click(page):
    for name in ("7", "1"):
        page.click("#clear")
        stroke(page, DRAWINGS[name][0])
        page.wait_for_function("window.ganAd.last !== null")
        assert page.locator("#verdict").inner_text() in ("ANOMALOUS", "NORMAL")
        assert "threshold" in page.locator("#explanation").inner_text()
        assert "normal digits" in page.locator("#explanation").inner_text()


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_a_png_scores_like_python(page, detector, tmp_path):
    digit = np.full((120, 100), 255, "uint8")
    digit[15:105, 45:60] = 0  # a dark 1 on white paper
    path = tmp_path / "one.png"
    path.write_bytes(png_bytes(digit))
    page.set_input_files("#upload", str(path))
    page.wait_for_function("window.ganAd.last !== null")
    expected = mnist_style(digit / 255)
    np.testing.assert_allclose(np.asarray(last(page)["digit"]).reshape(28, 28), expected, atol=PIXEL_TOLERANCE)
    check_scores(detector, [expected.ravel()], [last(page)["score"]])


def test_pick_a_test_digit(page):
    page.select_option("#digit", "7")
    page.click("#pick")
    page.wait_for_function("window.ganAd.last !== null")
    assert page.locator("#verdict").inner_text() in ("ANOMALOUS", "NORMAL")
    assert page.locator("#neighbours canvas").count() >= 1


def test_phone_width_has_no_horizontal_scroll(browser, server):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).hostname == "127.0.0.1" else route.abort())
    page = context.new_page()
    page.goto(server)
    page.wait_for_function("window.ganAd.ready", timeout=120_000)
    page.select_option("#digit", "3")
    page.click("#pick")
    page.wait_for_function("window.ganAd.last !== null")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


@pytest.mark.parametrize("name, data, sentence", [
    ("notes.png", b"this is not an image at all", "not an image that can be read"),
    ("big.png", None, "upload an image under 5 MB"),
    ("blank.png", "blank", "There is no digit to score yet"),
])
def test_bad_uploads_get_a_sentence(page, tmp_path, name, data, sentence):
    path = tmp_path / name
    if data is None:
        path.write_bytes(png_bytes(np.zeros((10, 10), "uint8")) + os.urandom(5 * 1024 * 1024 + 1))
    elif data == "blank":
        path.write_bytes(png_bytes(np.full((40, 40), 255, "uint8")))
    else:
        path.write_bytes(data)
    page.set_input_files("#upload", str(path))
    page.wait_for_function("document.getElementById('message').textContent.length > 0")
    assert sentence in page.locator("#message").inner_text()


def test_empty_canvas_gets_a_sentence(page):
    page.click("#clear")
    page.click("#score")
    page.wait_for_function("document.getElementById('message').textContent.length > 0")
    assert "There is no digit to score yet" in page.locator("#message").inner_text()


@pytest.mark.parametrize("damage", ["missing", "damaged", "manifest", "runtime"])
def test_missing_or_damaged_model_file_gets_a_sentence(browser, site, tmp_path, damage):
    broken = tmp_path / "site"
    shutil.copytree(site, broken)
    if damage == "missing":
        (broken / "model" / "features.onnx").unlink()
    elif damage == "damaged":
        with open(broken / "model" / "generator.onnx", "r+b") as f:
            f.seek(1000)
            f.write(b"\0" * 16)
    elif damage == "manifest":
        (broken / "model" / "manifest.json").write_text("{ not json")
    else:  # onnxruntime's WebAssembly, stored gzip-compressed: cut short
        runtime = broken / "ort" / "ort-wasm-simd-threaded.wasm.gz"
        runtime.write_bytes(runtime.read_bytes()[:100_000])
    with serving_folder(broken) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("window.ganAd.error", timeout=120_000)
        text = page.locator("#status").inner_text()
        expected = {"missing": "features.onnx is missing", "damaged": "generator.onnx is damaged",
                    "manifest": "manifest.json is missing or damaged",
                    "runtime": "runtime (ort/ort-wasm-simd-threaded.wasm.gz) is missing or damaged"}[damage]
        assert expected in text and "make webapp" in text
        page.close()


def test_no_webassembly_gets_a_sentence(browser, server):
    context = browser.new_context()
    context.add_init_script("delete window.WebAssembly")
    page = context.new_page()
    page.goto(server)
    page.wait_for_function("window.ganAd.error", timeout=60_000)
    assert "cannot run WebAssembly" in page.locator("#status").inner_text()
    context.close()


def test_the_benchmark_prints_its_figures_and_scores_the_test_set_as_the_run_did(tiny_run, site, tmp_path):
    """``make webapp-bench`` on the tiny run's page: every test digit scored in the browser gives the run's AUROC to
    3 decimals, nothing outside loopback is asked for, and the picture of a drawn 7 is saved (its timings are figures
    to read, not checked). The command runs in a process of its own, as Playwright's browser of this file is open here."""
    picture = tmp_path / "webapp.png"
    command = [sys.executable, "-m", "gan_ad", "webapp-bench", "--run", str(tiny_run), "--site", str(site),
               "--screenshot", str(picture)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    page, tested, run = re.search(r"test AUROC in the browser +([\d.]+) on ([\d,]+) test digits .*metrics.json: ([\d.]+)",
                                  out).groups()
    assert abs(float(page) - float(run)) < 5e-4 and int(tested.replace(",", "")) == len(Run(tiny_run).split("test")[0])
    assert re.search(r"requests outside 127.0.0.1 +0$", out, re.M)
    assert re.search(r"A drawn 7, judged (ANOMALOUS|NORMAL): ", out)
    assert Image.open(picture).size[0] >= 1000
