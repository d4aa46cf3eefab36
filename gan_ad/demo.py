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
from .files import MissingStepError, Run
from .images import INK, MAX_UPLOAD_BYTES, PEN_FRACTION, EmptyImageError, mnist_style, read_image  # noqa: F401  (the demo's API)

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
