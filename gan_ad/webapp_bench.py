"""Measure the built web app of a run in Chromium: ``python -m gan_ad webapp-bench --run runs/NAME`` (``make webapp-bench``).

Prints figures, it asserts nothing: the page weight (every file of the site), the time from navigation
to the first possible verdict (the models loaded, checked and run once), the time from a stroke's end
to its verdict (median of 20 strokes drawn with the mouse), and the page's test AUROC, every test digit
scored in the browser, beside the run's ``metrics.json``. Debian's Chromium is driven by Playwright, the
site served on 127.0.0.1, and every request elsewhere refused. ``--screenshot PNG`` also saves a picture of
the page judging a 7 drawn with the mouse (``make webapp-screenshot``: the README's picture).
"""
import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from sklearn.metrics import roc_auc_score

from .runs import Run

CHROMIUM = "/usr/bin/chromium"  # Debian's (make system): a test tool's own download fails offline
# Chromium as root in a sandbox, with its background traffic off (this machine has no internet)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
STROKES = 20
SEVEN = [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]  # a 7 as one stroke, in fractions of the pad


def stroke(page, points, steps=8):
    """Draw one stroke with the mouse through ``points``, given as fractions (x, y) of the pad."""
    box = page.locator("#pad").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for a, b in zip(at, at[1:]):
        for t in np.linspace(0, 1, steps)[1:]:
            page.mouse.move(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    page.mouse.up()


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, seconds=90):
    """Return once something listens on 127.0.0.1:``port``; raise if ``process`` exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server ({process.args[0]}) exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the server ({process.args[0]}) did not open port {port} within {seconds} s")


@contextlib.contextmanager
def serving(command, port, **popen):
    """Start a server (``command``, listening on 127.0.0.1:``port``); yield its URL once it listens, stop it after."""
    process = subprocess.Popen(command, **popen)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def serving_folder(folder):
    """Serve ``folder`` with Python's http.server on a free port of 127.0.0.1, quietly; yield its URL, stop it after."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)]
    with serving(command, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as url:
        yield url


def measure(run_dir, site, screenshot=None):
    """A dict of the figures for the web app built in ``site`` from ``run_dir``; ``screenshot``: where to save the
    page judging a drawn 7 (a PNG), or None."""
    from playwright.sync_api import sync_playwright  # a test tool (the dev extra): imported by the one command that needs it

    run, site = Run(run_dir), Path(site)
    manifest = json.loads((site / "model" / "manifest.json").read_text())
    key = manifest["judge"]["key"]
    figures = {"run": str(run.dir), "judge": key,
               "page_mb": sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6,
               "model_mb": sum(f.stat().st_size for f in (site / "model").rglob("*") if f.is_file()) / 1e6}
    outside = []
    with serving_folder(site) as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            context.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).hostname == "127.0.0.1"
                          else (outside.append(route.request.url), route.abort()))
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_function("window.ganAd.ready || window.ganAd.error", timeout=300_000, polling=10)
            figures["first_verdict_s"] = time.perf_counter() - start
            if page.evaluate("window.ganAd.error"):
                raise RuntimeError(page.evaluate("window.ganAd.error"))
            box = page.locator("#pad").bounding_box()
            waits = []
            for i in range(STROKES):  # a slanted line in 14 moves, a little further right each time
                page.click("#clear")
                x = 0.35 + 0.3 * i / STROKES
                stroke(page, [(x, 0.15), (x + 14 / box["width"], 0.85)], steps=15)
                page.wait_for_function("window.ganAd.last !== null", polling=5)
                waits.append(page.evaluate("window.ganAd.last.at - window.ganAdStrokeEnd"))
            figures["stroke_to_verdict_ms"] = float(np.median(waits))
            x, _, is_anomaly = run.split("test")
            digits = np.rint((x[..., 0] + 1) * 127.5).astype("uint8").reshape(len(x), 784) / 255
            start, scores = time.perf_counter(), []
            for i in range(0, len(digits), 200):
                scores += page.evaluate("(d) => window.ganAd.scoreDigits(d)", digits[i:i + 200].tolist())
            figures["test_images"] = len(digits)
            figures["scoring_ms_per_image"] = 1000 * (time.perf_counter() - start) / len(digits)
            figures["page_auroc"] = float(roc_auc_score(is_anomaly, scores))
            figures["run_auroc"] = float(run.metrics()["detectors"][key]["auroc"])
            if screenshot:
                page.click("#clear")
                stroke(page, SEVEN)
                page.wait_for_function("window.ganAd.last !== null", polling=5)
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
                figures["screenshot"] = {"path": str(screenshot), "verdict": page.locator("#verdict").inner_text()}
            browser.close()
    figures["requests_outside_loopback"] = len(outside)
    return figures


def main(run_dir, site=None, screenshot=None):
    """Print the figures of the web app of ``run_dir`` (built in ``site``, default ``RUN/webapp``); exit status.
    ``screenshot``: a PNG to save of the page judging a drawn 7."""
    site = Path(site or Path(run_dir) / "webapp")
    if not (site / "model" / "manifest.json").exists():
        print(f"error: {site} holds no built web app; build it with python -m gan_ad webapp --run {run_dir}", file=sys.stderr)
        return 2
    f = measure(run_dir, site, screenshot)
    print(f"Web app of {f['run']} (judged by {f['judge']}), in Debian's Chromium, WebAssembly on one thread:\n"
          f"  page weight                      {f['page_mb']:.1f} MB (the model {f['model_mb']:.1f} MB)\n"
          f"  navigation -> first verdict      {f['first_verdict_s']:.2f} s\n"
          f"  stroke end -> verdict            {f['stroke_to_verdict_ms']:.0f} ms (median of {STROKES} strokes)\n"
          f"  test AUROC in the browser        {f['page_auroc']:.4f} on {f['test_images']:,} test digits "
          f"({f['scoring_ms_per_image']:.1f} ms each); metrics.json: {f['run_auroc']:.4f}\n"
          f"  requests outside 127.0.0.1       {f['requests_outside_loopback']}")
    if "screenshot" in f:
        print(f"A drawn 7, judged {f['screenshot']['verdict']}: {f['screenshot']['path']}")
    return 0
