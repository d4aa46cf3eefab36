"""Which of the discriminator's layers should the feature kNN read? A validation-only study (issue #11).

    python sweeps/feature_layers.py runs/reference/seed=0 runs/reference/seed=1 runs/reference/seed=2

For each finished run, notebook 04's kNN (its own grid of k and PCA dimensions) is run on four
descriptions of an image, all made by the run's discriminator and scaled to unit length:

- ``features``: the last hidden layer, after its LeakyReLU (what notebook 04 uses);
- ``pre-activation``: the same layer before the LeakyReLU;
- ``layers 1+2``: the first convolution's output, averaged over 2x2 pixels, beside ``features``;
- ``layer 1``: that pooled first layer alone.

A fifth row adds the ranks of the run's two best GAN scores, the feature kNN and the memory of
normals (notebook 04), as one more score. Every figure is a validation AUROC: the test set is never read.
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

from gan_ad import baselines, metrics  # noqa: E402
from gan_ad.runs import Run  # noqa: E402
from gan_ad.models import feature_extractor  # noqa: E402


def descriptions(discriminator):
    """Map name -> list of Keras models whose unit-length outputs, side by side, describe an image."""
    x, first, second = discriminator.inputs[0], discriminator.layers[1].output, discriminator.layers[2].output
    pooled = keras.Model(x, keras.layers.Flatten()(keras.layers.AveragePooling2D(2)(first)))
    features = feature_extractor(discriminator)
    return {"features": [features], "pre-activation": [keras.Model(x, keras.layers.Flatten()(second))],
            "layers 1+2": [pooled, features], "layer 1": [pooled]}


def vectors(models, images, cache=None):
    """The images' description: each model's unit-length vectors side by side, scaled to unit length again.

    ``cache`` (a dict) keeps each model's vectors, so a model shared by two descriptions runs once.
    """
    cache = {} if cache is None else cache
    for m in models:
        if id(m) not in cache:
            cache[id(m)] = baselines.feature_vectors(m, images)
    return np.hstack([cache[id(m)] for m in models]) / np.sqrt(len(models))


def study(run_dir):
    """One row per description (and the rank sum): the best validation AUROC of the grid and the k and dimensions kept."""
    run = Run(run_dir)
    x_train, _, _ = run.split("train")
    x_val, _, is_anomaly = run.split("val")
    params = run.parameters()["04_encoder"]
    rows, train_cache, val_cache = {}, {}, {}
    for name, models in descriptions(run.models()[1]).items():
        train, val = vectors(models, x_train, train_cache), vectors(models, x_val, val_cache)
        grid = baselines.knn_grid(train, val, is_anomaly, params["feature_k"], params["feature_components"], params["seed"])
        best = max(grid, key=lambda kn: np.nan_to_num(grid[kn], nan=-1))
        rows[name] = (grid[best], f"k = {best[0]}, {best[1]} dimensions")
    scores = [d.score(x_val) for d in run.detectors(["feature_knn", "encoder_memory"]).values()]
    rows["feature kNN + memory (ranks)"] = (metrics.auroc(is_anomaly, sum(map(rankdata, scores))), "as notebook 04 kept them")
    return pd.DataFrame.from_dict(rows, orient="index", columns=["validation AUROC", "kept"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="finished run folders (notebooks 01-04)")
    args = parser.parse_args(argv)
    tables = {run_dir: study(run_dir) for run_dir in args.runs}
    for run_dir, table in tables.items():
        print(f"\n{run_dir}\n{table.to_string(float_format='{:.4f}'.format)}")
    aurocs = pd.DataFrame({run_dir: table["validation AUROC"] for run_dir, table in tables.items()}).astype(float)
    summary = pd.DataFrame({"mean": aurocs.mean(axis=1), "std": aurocs.std(axis=1)})  # std over runs, as the reference's
    print(f"\nValidation AUROC over {len(tables)} run(s)\n{summary.to_string(float_format='{:.4f}'.format)}")
    return tables


if __name__ == "__main__":
    main()
