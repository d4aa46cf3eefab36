"""The course website (the README, the pages of docs/ and the lessons), built from the tiny run of `make test` and read in Chromium, offline.

Every page opens with nothing fetched from outside this machine, every image loads, every internal link
and anchor leads somewhere, the maths is typeset by the MathJax the site carries, and each lesson links
to its own notebook in Colab and on GitHub. ``GAN_AD_BOOK_RUN=runs/NAME`` builds another run's book
(``make book-screenshot``); the picture of a page goes to ``runs/screenshots/book.png``.
"""
import functools
import html
import os
import re
import runpy
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from gan_ad.files import NOTEBOOK_DIR, PROJECT_ROOT, RUNS_DIR
from gan_ad.webapp_bench import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow

BUILD = runpy.run_path(str(PROJECT_ROOT / "book" / "build.py"))
SCREENSHOT = RUNS_DIR / "screenshots" / "book.png"
LESSONS = BUILD["NOTEBOOKS"]
GUIDE = BUILD["guide"]()  # the pages of docs/, in the sidebar's order


@pytest.fixture(scope="module")
def book(tmp_path_factory, request):
    """The html folder of the book of the tiny run, or of ``GAN_AD_BOOK_RUN`` (built for the test)."""
    run = os.environ.get("GAN_AD_BOOK_RUN")
    run = Path(run).resolve() if run else request.getfixturevalue("tiny_run")
    return BUILD["build"](run, tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="module")
def site(book):
    """The URL of the book served on a free loopback port, as GitHub Pages would serve it."""
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def pages():
    return ["index.html", *(f"docs/{name}.html" for name in GUIDE), *(f"notebooks/{name}.html" for name in LESSONS), "try.html"]


def guide_titles():
    """The title of each docs/ page: its first line, '# Title'."""
    return [(PROJECT_ROOT / "docs" / f"{name}.md").read_text().splitlines()[0].removeprefix("# ") for name in GUIDE]


def ids(path):
    return set(re.findall(r'\bid="([^"]+)"', path.read_text()))


def test_build_lays_out_readme_and_every_lesson(book):
    assert {"notebooks", "results", "development"} <= set(GUIDE)
    for page in pages():  # the home page, every page of docs/ and every lesson
        assert (book / page).exists(), page
    home = (book / "index.html").read_text()
    for name in GUIDE:  # the README's links to the docs pages lead to their pages of the site
        assert f'href="docs/{name}.html' in home, name
    assert (book / "docs" / "results.html").read_text().count("<img") >= 10  # the figures, copied beside the pages
    assert (book / ".nojekyll").exists()  # GitHub Pages serves _static/
    assert (book / "_static" / "mathjax" / "tex-chtml.js").exists()
    settings = BUILD["settings"]()
    assert settings["REPOSITORY"] == "OWNER/gan-ad" or os.environ.get("GAN_AD_BOOK_REPOSITORY")
    for name in LESSONS[:-1]:  # executed: their figures are there
        assert "<img" in (book / "notebooks" / f"{name}.html").read_text(), name


def test_one_repository_setting():
    """The notebooks' GAN_AD_REPO default is the repository of the book's links."""
    repository = runpy.run_path(str(PROJECT_ROOT / "book" / "conf.py"))["REPOSITORY_URL"]
    if os.environ.get("GAN_AD_BOOK_REPOSITORY"):
        pytest.skip("GAN_AD_BOOK_REPOSITORY overrides the book's repository")
    for path in sorted(NOTEBOOK_DIR.glob("0*.ipynb")):
        assert f'os.environ.get(\\"GAN_AD_REPO\\", \\"{repository}\\")' in path.read_text(), path.name
    from gan_ad import colab

    assert colab.REPOSITORY == repository  # what gan_ad.colab.setup() clones


def test_every_page_in_chromium(book, site):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run should have installed Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    settings = BUILD["settings"]()
    colab = f"{settings['COLAB_URL']}/github/{settings['REPOSITORY']}/blob/{settings['BRANCH']}/"
    source = f"{settings['REPOSITORY_URL']}/blob/{settings['BRANCH']}/"
    outside, failed = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # the site must not need the internet: anything it asks from elsewhere is refused and listed
        page.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), lambda route: (outside.append(route.request.url), route.abort()))
        page.on("requestfailed", lambda request: None if "ERR_ABORTED" in (request.failure or "")  # left by a navigation
                else failed.append(f"{request.failure} {request.url}"))
        page.on("response", lambda response: failed.append(f"{response.status} {response.url}") if response.status >= 400 else None)
        for path in pages():
            response = page.goto(site + path)
            assert response.ok, path
            page.wait_for_load_state("networkidle")
            try:
                page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
            except PlaywrightTimeout:
                images = page.eval_on_selector_all("img", "all => all.map(i => [i.src, i.complete && i.naturalWidth > 0])")
                pytest.fail(f"{path}: images that do not load: {[src for src, ok in images if not ok]}")
            nav = page.eval_on_selector_all("nav.bd-docs-nav a", "all => all.map(a => a.textContent.trim())")
            assert nav[:len(GUIDE)] == guide_titles(), nav  # the guide (docs/), then the lessons, in order
            assert [n[:2] for n in nav[len(GUIDE):]] == ["01", "02", "03", "04", "05", "Is", "Tr"], nav
            links = page.eval_on_selector_all("a[href]", "all => all.map(a => a.href)")
            for href in links:
                url = urlparse(href)
                if href.startswith(site):  # internal: the file exists, and so does the anchor
                    target = book / unquote(url.path[len(urlparse(site).path):] or "index.html")
                    if target.is_dir():
                        target = target / "index.html"
                    assert target.exists(), f"{path}: broken link {href}"
                    if url.fragment and target.suffix == ".html":
                        assert html.unescape(unquote(url.fragment)) in ids(target), f"{path}: no anchor {href}"
                elif href.startswith("https://colab.research.google.com"):
                    assert href.startswith(colab) and (PROJECT_ROOT / href[len(colab):]).exists(), href
            if path.startswith("notebooks/"):
                name = Path(path).stem
                assert colab + f"notebooks/{name}.ipynb" in links, f"{path}: no Open in Colab link"
                assert source + f"notebooks/{name}.ipynb" in links, f"{path}: no link to the source"
                assert page.get_by_role("link", name="Open in Colab").first.is_visible()
            if path == "notebooks/03_latent_inversion.html":  # the anomaly score's formula, typeset offline
                page.wait_for_selector("mjx-container", timeout=30_000)
                assert page.locator("mjx-container").count() >= 2 and page.locator("mjx-merror").count() == 0
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT))
        browser.close()
    assert not outside, f"the site asked the internet for {outside}"
    assert not failed, failed


def test_try_it_embeds_the_web_app_of_the_run(book):
    from gan_ad.export import WEBAPP_DIR

    page = (book / "try.html").read_text()
    if not (WEBAPP_DIR / "node_modules" / "onnxruntime-web").exists():
        assert "has no web app" in page
        pytest.skip("onnxruntime-web is not installed: run npm ci in webapp/")
    assert '<iframe src="app/index.html"' in page
    for name in ("index.html", "app.js", "ort/ort.wasm.min.js", "model/manifest.json", "model/features.onnx"):
        assert (book / "app" / name).exists(), name
