"""Export a finished run for the web app: what the browser needs to judge a digit as the run does, and to show why.

``python -m gan_ad export --run runs/NAME --out DIR`` (and ``make webapp``) writes into ``DIR``:

- the networks in ONNX: ``features.onnx`` (the discriminator up to its feature layer),
  ``encoder.onnx`` and ``generator.onnx`` (for the reconstruction picture and the memory score);
- the judge: the run's best detector on *validation* among those a browser can compute
  (:data:`EXPORTABLE`: the discriminator-feature kNN, the memory of normals, the pixel kNN, PCA),
  its threshold and its kNN index or PCA as little-endian float32 files (``*.f32``);
- ``normal_scores.f32``, the judge's sorted scores of the validation normals (the page's "higher
  than N % of normal digits"), ``memory_codes.f32`` (the encoder's codes of the training normals),
  ``train_digits.png`` (the training normals as one atlas, for the nearest digits) and
  ``test_digits.u8`` with ``test_digits.json`` (a few real test digits of every class to pick);
- ``manifest.json``: versions, run, split fingerprint, the judge, classes, the preprocessing's
  constants, and the size and sha256 of every file (the page refuses a file that does not match).

The folder is written under a temporary name and renamed when complete. :func:`score_exported`
scores images with the exported files through onnxruntime, as the page does: the parity tests
compare it with the run's detector (:data:`TOLERANCE`).
"""
import gzip
import hashlib
import json
import os
import platform
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import keras
import numpy as np
import onnxruntime
import tensorflow as tf

from . import images as imaging
from .baselines import to_uint8
from .detectors import DetectorError, best_on_validation, split_fingerprint
from .files import MissingStepError, atomic_dir
from .models import feature_extractor
from .runs import Run

EXPORTABLE = ("feature_knn", "encoder_memory", "pixel_knn", "pca")  # detectors the page can compute (webapp/app.js)
FORMAT = 1
TOLERANCE = 1e-3  # relative: onnxruntime's float32 against TensorFlow's, then a kNN in float32 (measured below 1e-5)
TEST_PER_CLASS = 10
ATLAS_COLUMNS = 64


class ExportError(RuntimeError):
    """Raised when a run cannot be exported; its message is one sentence saying why and what to do."""


def _onnx(model, path):
    """Write a Keras model as ONNX (Keras 3's export, which uses tf2onnx), called once first so that it is built."""
    path = Path(path).resolve()
    model(np.zeros((1, *model.input_shape[1:]), "float32"), training=False)
    with tempfile.TemporaryDirectory() as tmp:  # tf2onnx leaves a SavedModel beside; keep it out of the export
        cwd = os.getcwd()
        try:
            os.chdir(tmp)
            model.export(str(path), format="onnx", verbose=False)
        finally:
            os.chdir(cwd)


def _f32(path, array):
    np.ascontiguousarray(array, dtype="<f4").tofile(path)
    return {"dtype": "float32", "shape": list(np.shape(array))}


def _atlas(digits, path):
    """Save uint8 digits (N, 28, 28) as one PNG of ATLAS_COLUMNS digits a row."""
    from PIL import Image

    rows = -(-len(digits) // ATLAS_COLUMNS)
    atlas = np.zeros((rows * 28, ATLAS_COLUMNS * 28), "uint8")
    for i, digit in enumerate(digits):
        r, c = divmod(i, ATLAS_COLUMNS)
        atlas[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28] = digit
    Image.fromarray(atlas, "L").save(path, optimize=True)
    return {"count": len(digits), "columns": ATLAS_COLUMNS}


def choose_judge(detectors, key=None):
    """The key of the detector the page judges with: ``key``, or the best on validation among :data:`EXPORTABLE`."""
    if key is not None:
        if key not in EXPORTABLE or key not in detectors:
            raise ExportError(f"The web app cannot judge with {key!r}; it judges with one of {', '.join(EXPORTABLE)} "
                              "that the run has.")
        return key
    exportable = {k: d for k, d in detectors.items() if k in EXPORTABLE}
    if not exportable:
        raise ExportError(f"None of this run's detectors ({', '.join(detectors)}) can be computed in a browser; "
                          f"the web app needs one of {', '.join(EXPORTABLE)}.")
    return best_on_validation(exportable)


def export(run_dir, out, judge=None):
    """Export the finished run ``run_dir`` into the folder ``out`` (replaced as a whole); returns the manifest.

    ``judge`` names the detector to judge with (default: :func:`choose_judge`'s choice).
    """
    run, out = Run(run_dir), Path(out).resolve()
    try:
        run.metrics()  # written last: the run is finished
        detectors = run.detectors()
    except (MissingStepError, DetectorError) as err:
        raise ExportError(f"{run.dir} cannot be exported: it is unfinished or damaged ({err})") from err
    key = choose_judge(detectors, judge)
    judge = detectors[key]
    if "encoder_memory" not in detectors:
        raise ExportError(f"{run.dir} has no memory of normals (detector encoder_memory), which draws the page's reconstruction; "
                          "run notebook 04 on it again.")
    memory = detectors["encoder_memory"]
    split = run.settings("split.json")
    classes = split.get("classes") or [str(i) for i in range(10)]
    train_x = run.split("train")[0]
    test_x, test_digits, _ = run.split("test")
    picks = np.concatenate([np.flatnonzero(test_digits == c)[:TEST_PER_CLASS] for c in range(len(classes))])
    files = {}
    with atomic_dir(out) as tmp:
        features = detectors["feature_knn"].features if "feature_knn" in detectors else None
        if features is None:
            features = feature_extractor(memory.discriminator)
        for name, model in (("features", features), ("encoder", memory.encoder), ("generator", memory.generator)):
            _onnx(model, tmp / f"{name}.onnx")
            files[f"{name}.onnx"] = {"input": list(model.input_shape[1:]), "output": list(model.output_shape[1:])}
        files["memory_codes.f32"] = _f32(tmp / "memory_codes.f32", memory.codes)
        files["normal_scores.f32"] = _f32(tmp / "normal_scores.f32", judge.normal_scores)
        if key in ("feature_knn", "pixel_knn", "pca"):
            files["pca_mean.f32"] = _f32(tmp / "pca_mean.f32", judge.pca.mean)
            files["pca_components.f32"] = _f32(tmp / "pca_components.f32", judge.pca.components)
        if key in ("feature_knn", "pixel_knn"):
            files["knn_codes.f32"] = _f32(tmp / "knn_codes.f32", judge.codes)
        thumbs = getattr(judge, "train_images", None)
        if thumbs is None and "feature_knn" in detectors:
            thumbs = detectors["feature_knn"].train_images
        thumbs = to_uint8(train_x) if thumbs is None else thumbs
        files["train_digits.png"] = _atlas(thumbs[..., 0], tmp / "train_digits.png")
        np.ascontiguousarray(to_uint8(test_x[picks])[..., 0]).tofile(tmp / "test_digits.u8")
        files["test_digits.u8"] = {"dtype": "uint8", "shape": [len(picks), 28, 28]}
        (tmp / "test_digits.json").write_text(json.dumps({"digits": [int(d) for d in test_digits[picks]],
                                                          "indices": [int(i) for i in picks]}) + "\n")
        files["test_digits.json"] = {}
        for name, record in files.items():
            data = (tmp / name).read_bytes()
            record.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        manifest = {
            "format": FORMAT,
            "run": run.dir.name,
            "split": split_fingerprint(run.dir),
            "versions": {"gan_ad": _version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                         "tf2onnx": version("tf2onnx"), "onnxruntime": onnxruntime.__version__,
                         "python": platform.python_version(), "numpy": np.__version__},
            "judge": {"key": key, "label": judge.label, "kind": judge.kind, "threshold": float(judge.threshold),
                      "false_alarm_rate": judge.false_alarm_rate, "settings": judge.settings,
                      "validation_auroc": judge.validation.get("auroc"),
                      "best_on_validation": best_on_validation(detectors)},
            "memory": {"k": memory.settings["k"]},
            "classes": classes,
            "normal_digits": split["normal_digits"],
            "preprocessing": {"ink": imaging.INK, "mnist_stroke_width": imaging.MNIST_STROKE_WIDTH,
                              "stroke_slack": imaging.STROKE_SLACK, "pen_fraction": imaging.PEN_FRACTION,
                              "max_upload_bytes": imaging.MAX_UPLOAD_BYTES},
            "tolerance": TOLERANCE,
            "files": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _version():
    try:
        return version("gan-ad")
    except PackageNotFoundError:
        return "unknown"


class Exported:
    """An exported folder, read and checked against its manifest, scoring with onnxruntime as the page does."""

    def __init__(self, folder):
        self.dir = Path(folder)
        self.manifest = json.loads((self.dir / "manifest.json").read_text())
        for name, record in self.manifest["files"].items():
            data = (self.dir / name).read_bytes()
            if hashlib.sha256(data).hexdigest() != record["sha256"]:
                raise ExportError(f"{self.dir / name} does not match its checksum in manifest.json; export the run again.")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.sessions = {name: onnxruntime.InferenceSession(str(self.dir / f"{name}.onnx"), options,
                                                            providers=["CPUExecutionProvider"])
                         for name in ("features", "encoder", "generator")}
        self.judge = self.manifest["judge"]

    def array(self, name):
        record = self.manifest["files"][name]
        return np.fromfile(self.dir / name, dtype="<f4").reshape(record["shape"])

    def run(self, name, x):
        session = self.sessions[name]
        return session.run(None, {session.get_inputs()[0].name: np.asarray(x, "float32")})[0]

    def unit_features(self, x):
        v = self.run("features", x).astype("float32")
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def reconstruct(self, x):
        """G(z) with z the mean of the memory's k nearest normal codes to E(x), as the page draws it."""
        codes, k = self.array("memory_codes.f32"), self.manifest["memory"]["k"]
        z = self.run("encoder", x)
        d = ((z[:, None, :] - codes[None]) ** 2).sum(-1)
        nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
        return self.run("generator", codes[nearest].mean(axis=1))

    def nearest(self, x):
        """(distances, indices) of the k nearest training normals for a kNN judge."""
        key, k = self.judge["key"], self.judge["settings"]["k"]
        vectors = self.unit_features(x) if key == "feature_knn" else np.asarray(x, "float32").reshape(len(x), -1)
        codes = (vectors - self.array("pca_mean.f32")) @ self.array("pca_components.f32").T
        d = np.sqrt(np.maximum(((codes[:, None, :] - self.array("knn_codes.f32")[None]) ** 2).sum(-1), 0))
        idx = np.argsort(d, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(d, idx, 1), idx

    def score(self, x):
        """The judge's anomaly scores of images (N, 28, 28, 1) in [-1, 1], computed from the exported files."""
        x = np.asarray(x, "float32")
        key = self.judge["key"]
        if key in ("feature_knn", "pixel_knn"):
            return self.nearest(x)[0].mean(axis=1)
        if key == "pca":
            flat = x.reshape(len(x), -1)
            mean, comps = self.array("pca_mean.f32"), self.array("pca_components.f32")
            return (((flat - ((flat - mean) @ comps.T @ comps + mean)) ** 2).mean(axis=1))
        return np.linalg.norm(self.unit_features(x) - self.unit_features(self.reconstruct(x)), axis=1)


def score_exported(folder, images):
    """Scores of images (N, 28, 28, 1) in [-1, 1] by the judge exported in ``folder``, through onnxruntime."""
    return Exported(folder).score(images)


WEBAPP_DIR = Path(__file__).resolve().parent.parent / "webapp"
PAGE_FILES = ("index.html", "style.css", "app.js", "preprocess.js")
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")  # single-threaded WASM build
# onnxruntime's WebAssembly (14 MB) goes into the site gzip-compressed (3.7 MB); the page decompresses it and hands it
# to onnxruntime-web (ort.env.wasm.wasmBinary), so the site weighs the same over any server, compressing or not
GZIPPED = ("ort-wasm-simd-threaded.wasm",)


def build_site(run_dir, out, judge=None, webapp_dir=WEBAPP_DIR):
    """Build the web app of ``run_dir`` into ``out`` (replaced as a whole): the page, onnxruntime-web, ``model/`` = the export.

    onnxruntime-web comes from ``webapp/node_modules`` (``npm ci`` in ``webapp/``, as ``make webapp`` does).
    Returns the manifest.
    """
    webapp_dir = Path(webapp_dir)
    ort = webapp_dir / "node_modules" / "onnxruntime-web" / "dist"
    missing = [name for name in ORT_FILES if not (ort / name).exists()]
    if missing:
        raise ExportError(f"onnxruntime-web is not installed in {webapp_dir} (no {missing[0]}); run `npm ci` in {webapp_dir} "
                          "(make webapp does).")
    with atomic_dir(out) as tmp:
        manifest = export(run_dir, tmp / "model", judge)
        for name in PAGE_FILES:
            shutil.copy(webapp_dir / name, tmp / name)
        (tmp / "ort").mkdir()
        for name in ORT_FILES:
            if name in GZIPPED:  # mtime 0: the same bytes on every build
                with open(ort / name, "rb") as source, gzip.GzipFile(tmp / "ort" / f"{name}.gz", "wb", 9, mtime=0) as out:
                    shutil.copyfileobj(source, out)
            else:
                shutil.copy(ort / name, tmp / "ort" / name)
    return manifest
