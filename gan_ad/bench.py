"""Benchmark: every detector of a finished run on its test set, timed, side by side.

``python -m gan_ad bench --run runs/default`` loads the run's fitted detectors
(``gan_ad.detectors``: the run's own settings, thresholds and indexes) and scores the run's test
images with each. Each runs in a fresh process, so its peak memory (resident set size: Python,
TensorFlow, models and data) is its own. Times are wall-clock seconds on this machine and include
TensorFlow's graph tracing. The one setting changed is AnoGAN's number of search steps (500 by
default, as in the AnoGAN paper): that is too slow to score every image, so it scores a random
subset (half normal, half anomalous where possible), its time is extrapolated to all test
images, and its AUROC is that of the subset; the table says so.
"""
import concurrent.futures
import multiprocessing
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from .data import balanced_indices
from .detectors import NOTEBOOKS, check_run
from .files import atomic_path, write_json
from .runs import Run


def _measure(key, run_dir, options):
    """In a fresh process: load detector ``key`` of the run and score its test images; time it."""
    run = Run(run_dir)
    detector = run.detector(key)
    x_test, _, _ = run.split("test")
    idx = options["subset"] if key == "anogan" else np.arange(len(x_test))
    if key == "anogan":
        detector.set_params(steps=options["anogan_steps"])
    x = x_test[idx]
    start = time.perf_counter()
    scores = detector.score(x)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return {"label": detector.label, "kind": detector.kind, "fit_seconds": detector.info.get("fit_seconds", 0.0),
            "scores": scores, "index": idx, "seconds": seconds, "peak_mib": peak_mib}


def check_inputs(run_dir):
    """Read every file the benchmark's processes will read (each detector, the split), so that a missing or damaged
    one is said at once, with the notebook that writes it again; returns the test split."""
    check_run(run_dir)
    Run(run_dir).detectors()
    return Run(run_dir).split("test")


def subset(is_anomaly, n, seed=0):
    """Indices of ``n`` test images, half normal and half anomalous where the classes allow, sorted
    (:func:`gan_ad.data.balanced_indices`, the other class making up for one with too few)."""
    return np.sort(balanced_indices(is_anomaly, n, seed, fill=True))


def run_bench(run_dir, anogan_steps=500, anogan_images=500, echo=True):
    """Benchmark the detectors of ``run_dir``; save ``bench.json`` and ``bench.md`` there; return the table.

    One row per detector (indexed by its key): label, kind, AUROC, AUPRC, AUROC on AnoGAN's subset
    (the fair comparison with AnoGAN), images scored, seconds its fit took in the notebook (the
    encoder's training, the kNN's index, ...), seconds to score all test images, images per second,
    speed-up over AnoGAN, peak memory in MiB.
    """
    run_dir = Path(run_dir).resolve()
    if anogan_steps < 1 or anogan_images < 2:
        raise ValueError("Need anogan_steps >= 1 and anogan_images >= 2.")
    _, _, is_anomaly = check_inputs(run_dir)  # at once, not after AnoGAN's quarter of an hour

    n_test = len(is_anomaly)
    options = {"anogan_steps": anogan_steps, "subset": subset(is_anomaly, min(anogan_images, n_test))}
    rows = {}
    context = multiprocessing.get_context("spawn")
    for key in NOTEBOOKS:
        if echo:
            print(f"{key} ...", flush=True)
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            out = pool.submit(_measure, key, run_dir, options).result()
        y, n = is_anomaly[out["index"]], len(out["index"])
        on_subset = np.isin(out["index"], options["subset"])  # AnoGAN's images, among those this detector scored
        seconds = out["seconds"] * n_test / n  # extrapolated when only a subset was scored
        rows[key] = {"label": out["label"], "kind": out["kind"], "auroc": roc_auc_score(y, out["scores"]),
                     "auprc": average_precision_score(y, out["scores"]),
                     "auroc_anogan_subset": roc_auc_score(y[on_subset], out["scores"][on_subset]),
                     "images_scored": n, "fit_seconds": out["fit_seconds"], "seconds_all_test": seconds,
                     "images_per_second": n_test / seconds, "peak_mib": out["peak_mib"], "extrapolated": n < n_test}
    table = pd.DataFrame(rows).T
    table["speedup_vs_anogan"] = table.loc["anogan", "seconds_all_test"] / table["seconds_all_test"].astype(float)
    results = {"run_dir": str(run_dir), "n_test": n_test, "anogan_steps": anogan_steps, "anogan_images": len(options["subset"]),
               "methods": table.to_dict(orient="index")}
    write_json(run_dir / "bench.json", results)
    with atomic_path(run_dir / "bench.md") as tmp:
        tmp.write_text(markdown(table, n_test))
    return table


def markdown(table, n_test):
    """The benchmark table as Markdown, for the README."""
    lines = [f"| detector | kind | AUROC | AUPRC | AUROC on AnoGAN's images | images scored | fit s | s for {n_test:,} | images/s | speed-up | peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        note = " (extrapolated)" if r["extrapolated"] else ""
        fit = f"{r['fit_seconds']:.1f}" if r["fit_seconds"] else "–"  # the search fits nothing
        lines.append(f"| {r['label']} | {r['kind']} | {r['auroc']:.3f} | {r['auprc']:.3f} | {r['auroc_anogan_subset']:.3f} | "
                     f"{int(r['images_scored']):,} | {fit} | {r['seconds_all_test']:.1f}{note} | {r['images_per_second']:,.0f} | "
                     f"{r['speedup_vs_anogan']:,.0f}× | {r['peak_mib']:,.0f} |")
    return "\n".join(lines) + "\n"
