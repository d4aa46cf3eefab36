"""sweeps/feature_layers.py: the validation study of which discriminator layer the feature kNN reads."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gan_ad.runs import Run

SCRIPT = Path(__file__).resolve().parents[1] / "sweeps" / "feature_layers.py"


@pytest.fixture(scope="module")
def feature_layers():
    spec = importlib.util.spec_from_file_location("feature_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_descriptions_are_unit_vectors_and_the_pre_activation_differs(tiny_run, feature_layers):
    _, discriminator = Run(tiny_run).models()
    x_val, _, _ = Run(tiny_run).split("val")
    described = {name: feature_layers.vectors(models, x_val[:16])
                 for name, models in feature_layers.descriptions(discriminator).items()}
    assert list(described) == ["features", "pre-activation", "layers 1+2", "layer 1"]
    for name, v in described.items():
        assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5), name
    assert described["features"].shape == described["pre-activation"].shape
    assert not np.allclose(described["features"], described["pre-activation"])  # the LeakyReLU scales negatives
    assert described["layers 1+2"].shape[1] == described["features"].shape[1] + described["layer 1"].shape[1]


def test_the_features_row_is_notebook_04s_grid(tiny_run, feature_layers, capsys):
    table, = feature_layers.main([str(tiny_run)]).values()
    assert list(table.index) == ["features", "pre-activation", "layers 1+2", "layer 1", "feature kNN + memory (ranks)"]
    assert table["validation AUROC"].between(0, 1).all()
    kept = Run(tiny_run).detector("feature_knn")
    grid = kept.info["grid"]
    assert table.loc["features", "validation AUROC"] == pytest.approx(max(grid.values()), abs=1e-9)
    assert table.loc["features", "kept"] == f"k = {kept.settings['k']}, {kept.settings['n_components']} dimensions"
    assert "Validation AUROC over 1 run(s)" in capsys.readouterr().out
