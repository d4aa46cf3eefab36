"""The interactive demo: draw, upload or pick a digit and see how anomalous the GAN finds it.

Explained in ``notebooks/06_interactive_demo.ipynb``, which ``make app`` serves with Voilà.
Custom input is first made to look like MNIST (:func:`mnist_style`), the way MNIST itself was
made: otherwise every drawing looks anomalous.
"""
import io
import time

import anywidget
import ipywidgets as widgets
import matplotlib
import numpy as np
import traitlets
from PIL import Image

from .baselines import KNNDistance
from .detectors import DetectorError, best_on_validation
from .files import MissingStepError
from .images import INK, MAX_UPLOAD_BYTES, PEN_FRACTION, EmptyImageError, mnist_style, read_image  # noqa: F401  (the demo's API)
from .runs import Run

def png(image, cmap="gray", size=140):
    """PNG bytes of a 2-D array in [0, 1], enlarged to ``size`` px, for an ``ipywidgets.Image``."""
    rgba = (matplotlib.colormaps[cmap](np.clip(image, 0, 1)) * 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(rgba).resize((size, size), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


class DrawingPad(anywidget.AnyWidget):
    """A canvas to draw on with mouse, pen or finger; ``pixels`` (784 values 0-255) update when a stroke ends."""

    _esm = """
    export default {
      render({ model, el }) {
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 280;
        canvas.className = "gan-ad-pad";
        canvas.style.cssText = "border:1px solid #888;background:#000;touch-action:none;cursor:crosshair";
        const ctx = canvas.getContext("2d");
        const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 280, 280); };
        clear();
        let drawing = false, strokes = [];
        const at = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
        // a pen PEN_FRACTION of the drawing's longer side (gan_ad.images.PEN_FRACTION): MNIST's stroke width at any size
        const render = () => {
          clear();
          const points = strokes.flat();
          if (!points.length) return;
          const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
          ctx.lineWidth = Math.max(2, PEN_FRACTION * Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)));
          ctx.strokeStyle = "#fff"; ctx.lineCap = ctx.lineJoin = "round";
          for (const stroke of strokes) {
            ctx.beginPath(); ctx.moveTo(...stroke[0]);
            for (const p of stroke.slice(1)) ctx.lineTo(...p);
            if (stroke.length === 1) ctx.lineTo(stroke[0][0] + 0.01, stroke[0][1]);
            ctx.stroke();
          }
        };
        canvas.addEventListener("pointerdown", (e) => {
          drawing = true; canvas.setPointerCapture(e.pointerId); strokes.push([at(e)]); render();
        });
        canvas.addEventListener("pointermove", (e) => { if (drawing) { strokes[strokes.length - 1].push(at(e)); render(); } });
        const end = () => {
          if (!drawing) return;
          drawing = false;
          const small = document.createElement("canvas");
          small.width = small.height = 28;
          const sctx = small.getContext("2d");
          sctx.drawImage(canvas, 0, 0, 28, 28);
          const rgba = sctx.getImageData(0, 0, 28, 28).data;
          window.ganAdStrokeEnd = performance.now();  // the browser test times the score from here
          model.set("pixels", Array.from({ length: 784 }, (_, i) => rgba[4 * i]));
          model.save_changes();
        };
        canvas.addEventListener("pointerup", end);
        canvas.addEventListener("pointercancel", end);
        model.on("change:clears", () => { strokes = []; clear(); });
        el.appendChild(canvas);
      }
    };
    """.replace("PEN_FRACTION", str(PEN_FRACTION))
    pixels = traitlets.List(traitlets.Int(), default_value=[]).tag(sync=True)
    clears = traitlets.Int(0).tag(sync=True)

    def clear(self):
        """Wipe the canvas and forget its pixels."""
        self.pixels = []
        self.clears += 1

    def image(self):
        """The drawing as a 28x28 array in [0, 1] (all zeros when nothing is drawn)."""
        if len(self.pixels) != 784:
            return np.zeros((28, 28), "float32")
        return np.asarray(self.pixels, "float32").reshape(28, 28) / 255


CSS = """<style>
.gan-ad-demo { max-width: 980px; font-family: system-ui, sans-serif; }
.gan-ad-verdict { font-size: 1.6em; font-weight: 700; padding: 0.3em 0.6em; border-radius: 6px; color: #fff; display: inline-block; }
.gan-ad-verdict.anomalous { background: #c62828; }
.gan-ad-verdict.normal { background: #2e7d32; }
.gan-ad-table { border-collapse: collapse; font-size: 0.9em; }
.gan-ad-table td, .gan-ad-table th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }
.gan-ad-table .anomalous { color: #c62828; font-weight: 600; }
.gan-ad-table .normal { color: #2e7d32; font-weight: 600; }
</style>"""


class Picture:
    """An image with a caption, for the demo's explanation row."""

    def __init__(self, caption=None, width=112):
        self.image = widgets.Image(format="png", width=width, height=width)
        self.caption = widgets.HTML(f"<small>{caption}</small>")
        self.box = widgets.VBox([self.caption, self.image] if caption is not None else [self.image],
                                layout=widgets.Layout(margin="0 6px 0 0", width=f"{width + 8}px"))

    def show(self, image, caption=None, cmap="gray"):
        """Display a 2-D array in [0, 1] (``None`` clears it)."""
        self.image.value = b"" if image is None else png(image, cmap, size=max(56, int(self.image.width)))
        if caption is not None:
            self.caption.value = f"<small>{caption}</small>"


class Demo:
    """The demo's widgets and what they do; ``Demo(run_dir).ui`` is what the notebook shows.

    Every detector of the run scores each digit; the page judges with the one chosen in the
    dropdown, by default the best on validation (:func:`gan_ad.detectors.best_on_validation`).
    """

    def __init__(self, run_dir):
        self.run = Run(run_dir)
        self.run_dir = self.run.dir
        try:
            self.detectors = self.run.detectors()
        except (DetectorError, MissingStepError) as err:
            self.ui = widgets.HTML(f"<div class='gan-ad-message'>{self._no_model(err)}</div>")
            return
        self.best = best_on_validation(self.detectors)
        for detector in self.detectors.values():  # trace every graph now, not at the first stroke
            detector.explain(np.zeros((1, 28, 28, 1), "float32"))
        self.pad = DrawingPad()
        self.pad.observe(lambda _: self.pad.pixels and self.show(self.pad.image()), names="pixels")  # when a stroke ends
        score_button = widgets.Button(description="Score", button_style="primary", tooltip="score the drawing again")
        clear_button = widgets.Button(description="Clear")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload image")
        split = self.run.settings("split.json")
        classes = split.get("classes") or [str(i) for i in range(10)]  # named classes of your own data (notebook 01)
        self.digit = widgets.Dropdown(options=[(name, i) for i, name in enumerate(classes)], description="Test class",
                                      layout=widgets.Layout(width="190px"))
        pick_button = widgets.Button(description="Pick a test digit")
        self.chooser = widgets.Dropdown(
            options=[(f"{d.label}{' (best on validation)' if key == self.best else ''}", key) for key, d in self.detectors.items()],
            value=self.best, description="Judge with", style={"description_width": "initial"}, layout=widgets.Layout(width="100%"))
        self.chooser.observe(lambda _: self.render(), names="value")
        self.message, self.others = widgets.HTML(), widgets.HTML()
        self.images = {"input": Picture("what the model sees"), "reconstruction": Picture(""), "residual": Picture("")}
        self.drawn_note = widgets.HTML()
        self.neighbours = [Picture(width=56) for _ in range(self._k())]
        self.neighbour_title = widgets.HTML()
        score_button.on_click(lambda _: self.show(self.pad.image()))
        clear_button.on_click(lambda _: self.clear())
        pick_button.on_click(lambda _: self.pick())
        self.upload.observe(lambda _: self.uploaded(), names="value")
        self.test_digits, self.last = None, None
        controls = widgets.VBox([self.pad, widgets.HBox([score_button, clear_button]), self.upload,
                                 widgets.HBox([self.digit, pick_button])], layout=widgets.Layout(margin="0 24px 12px 0"))
        results = widgets.VBox([self.chooser, self.message, widgets.HBox([p.box for p in self.images.values()]), self.drawn_note,
                                self.neighbour_title, widgets.HBox([p.box for p in self.neighbours]), self.others],
                               layout=widgets.Layout(flex="1 1 320px", min_width="300px"))
        intro = widgets.HTML(
            f"{CSS}<p>Normal in this run: <b>{', '.join(classes[i] for i in split['normal_digits'])}</b>. Judged by "
            f"<b>{self.detectors[self.best].label}</b>, the detector that scored best on validation data.</p>")
        self.ui = widgets.VBox([intro, widgets.Box([controls, results], layout=widgets.Layout(display="flex", flex_flow="row wrap"))])
        self.ui.add_class("gan-ad-demo")

    def _no_model(self, err):
        if not (self.run_dir / "generator.keras").exists():
            return (f"<b>No trained model in {self.run_dir}.</b> Train one with <code>make run</code>, or point the "
                    f"demo at another run with <code>make app RUN=runs/NAME</code>, then reload this page.<br><small>{err}</small>")
        return f"<b>The detectors of {self.run_dir} cannot be used.</b> {err}"

    def _k(self):
        return self.detectors["feature_knn"].settings["k"] if "feature_knn" in self.detectors else 0

    def show(self, image, preprocess=True):
        """Preprocess (unless it is an MNIST digit already), score with every detector and display a 2-D image in [0, 1].

        Problems become a message, never an exception. Returns the explanations by detector key, or ``None``.
        """
        try:
            digit = mnist_style(image) if preprocess else np.asarray(image, "float32")
            x = digit.reshape(1, 28, 28, 1) * 2 - 1
        except ValueError as err:
            self.message.value = f"<p class='gan-ad-result'>{err}</p>"
            return None
        key = self.chooser.value
        first = [key, self._drawer(key)] + (["feature_knn"] if self.neighbours else [])
        start = time.perf_counter()
        explained = {k: self.detectors[k].explain(x) for k in dict.fromkeys(first)}
        self.last = (digit, explained, None)
        self.render()  # the verdict first, then what the others say
        explained.update({k: d.explain(x) for k, d in self.detectors.items() if k not in explained})
        self.last = (digit, explained, time.perf_counter() - start)
        self.render()
        return explained

    def render(self):
        """Show the last scored digit as judged by the chosen detector, and every other detector's verdict."""
        if self.last is None:
            return
        digit, explained, seconds = self.last
        key = self.chooser.value
        chosen, score = self.detectors[key], float(explained[key].scores[0])
        verdict = "anomalous" if score > chosen.threshold else "normal"
        percentile = float(chosen.percentile(score)[0])
        self.message.value = (
            f"<div class='gan-ad-result'><span class='gan-ad-verdict {verdict}'>{verdict.upper()}</span>"
            f"<p>Anomaly score <b>{score:.4f}</b> against the threshold {chosen.threshold:.4f} of "
            f"{chosen.label} ({chosen.false_alarm_rate:.0%} false alarms on validation). Higher than "
            f"{percentile:.0f} % of validation normals."
            + (f" <small>All {len(explained)} detectors took {seconds:.2f} s.</small>" if seconds else "") + "</p></div>")
        rows = []
        for other, detector in self.detectors.items():
            if other not in explained:
                rows.append(f"<tr><td>{detector.label}</td><td>{detector.kind}</td><td>…</td><td></td><td></td></tr>")
                continue
            s = float(explained[other].scores[0])
            word = "anomalous" if s > detector.threshold else "normal"
            rows.append(f"<tr><td>{detector.label}{' ◀' if other == key else ''}</td><td>{detector.kind}</td><td>{s:.4f}</td>"
                        f"<td>{detector.threshold:.4f}</td><td class='{word}'>{word}</td></tr>")
        self.others.value = ("<table class='gan-ad-table'><tr><th>detector</th><th>kind</th><th>score</th>"
                             f"<th>threshold</th><th>verdict</th></tr>{''.join(rows)}</table>")
        drawn = self._drawer(key)
        what = "G(z)" if hasattr(self.detectors[drawn], "generator") else "reconstruction"
        self.images["input"].show(digit)
        self.images["reconstruction"].show((explained[drawn].reconstructions[0, ..., 0] + 1) / 2, what)
        self.images["residual"].show(explained[drawn].residuals[0, ..., 0] / 2, f"residual |x − {what}|", "inferno")
        self.drawn_note.value = (f"<small>{what} and residual of {self.detectors[drawn].label}"
                                 + ("" if drawn == key else ", the best GAN score with a generator on validation") + "</small>")
        if self.neighbours:
            self.neighbour_title.value = "<small>nearest normal training digits in the discriminator's feature space</small>"
            for picture, neighbour in zip(self.neighbours, explained["feature_knn"].neighbours[0]):
                picture.show((neighbour[..., 0] + 1) / 2)

    def _drawer(self, key):
        """Whose reconstruction the pictures show: the chosen detector's, or for a kNN (which draws nothing)
        the GAN score with a G(z) that scored best on validation."""
        if not isinstance(self.detectors[key], KNNDistance):
            return key
        return best_on_validation({k: d for k, d in self.detectors.items() if hasattr(d, "generator")})

    def uploaded(self):
        """Score the file just uploaded, or say why it cannot be scored."""
        if not self.upload.value:
            return
        try:
            image = read_image(bytes(self.upload.value[0]["content"]))
        except ValueError as err:
            self.message.value = f"<p class='gan-ad-result'>{err}</p>"
            return
        self.show(image)

    def pick(self):
        """Score a random test image of the chosen class."""
        if self.test_digits is None:
            x, digits, _ = self.run.split("test")
            self.test_digits = ((x[..., 0] + 1) / 2, digits)
        images, digits = self.test_digits
        choices = np.flatnonzero(digits == self.digit.value)
        if len(choices) == 0:
            self.message.value = f"<p class='gan-ad-result'>This run's test set has no {self.digit.label}.</p>"
            return
        self.show(images[np.random.default_rng().choice(choices)], preprocess=False)

    def clear(self):
        """Clear the pad, the results and the pictures."""
        self.pad.clear()
        self.last = None
        self.message.value = self.others.value = self.neighbour_title.value = self.drawn_note.value = ""
        for picture in [*self.images.values(), *self.neighbours]:
            picture.show(None)
