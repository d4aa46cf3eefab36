"""The committed notebooks: clean, well-formed, and each refuses to run before its predecessor."""
import ast

from pathlib import Path

import keras
import nbformat
import numpy as np
import papermill as pm
import pytest
import yaml

from gan_ad import training
from gan_ad.assignments import TINY_FILE
from gan_ad.files import NOTEBOOK_DIR, read_json
from gan_ad.params import ParameterError
from gan_ad.runner import PIPELINE, run_pipeline

NOTEBOOKS = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))


def load(name):
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def test_pipeline_and_demo_are_all_the_notebooks():
    assert NOTEBOOKS == [*PIPELINE, "06_interactive_demo"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    code = [c for c in load(name).cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_python3_kernel_and_one_literal_parameters_cell(name):
    nb = load(name)
    assert nb.metadata.kernelspec.name == "python3"
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    for statement in ast.parse(cells[0].source).body:
        assert isinstance(statement, ast.Assign), ast.unparse(statement)
        ast.literal_eval(statement.value)  # raises unless the value is a literal


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_lesson_shape(name):
    text = "\n".join(c.source for c in load(name).cells if c.cell_type == "markdown")
    assert text.startswith("# ") and "**Purpose.**" in text
    assert "## Summary" in text and "## Exercises" in text


@pytest.mark.parametrize("name, first", [("02_train_gan", "01_data_prep"), ("03_latent_inversion", "02_train_gan"),
                                         ("04_encoder", "03_latent_inversion"), ("05_evaluation", "03_latent_inversion")])
@pytest.mark.slow
def test_out_of_order_run_says_which_notebook_first(tmp_path, name, first):
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"run_dir": str(tmp_path)}, kernel_name="python3",
                            cwd=str(NOTEBOOK_DIR), progress_bar=False)
    assert f"Run notebooks/{first}.ipynb first" in err.value.evalue


@pytest.mark.slow
def test_notebook_02_with_the_stabilisers_and_with_a_bad_one(tmp_path):
    """Hinge loss, spectral normalisation and a moving-average generator through notebooks 01-02 at tiny size
    (gan_ad/tiny.yaml, like the student versions, keeps the plain DCGAN); then a bad value, refused before training."""
    settings = {"gan_loss": "hinge", "spectral_norm": True, "ema_decay": 0.9}
    tiny = yaml.safe_load(TINY_FILE.read_text())
    run_dir = run_pipeline("stab", {**tiny, **settings}, runs_dir=tmp_path, echo=False, notebooks=PIPELINE[:2])
    model = read_json(run_dir / "model.json")
    for saved in (model, read_json(run_dir / "train_config.json")):
        assert {k: saved[k] for k in settings} == settings
    generator, discriminator = training.load_models(run_dir)
    kept = keras.models.load_model(run_dir / "checkpoints" / f"epoch_{model['epoch']:03d}.keras")
    z = np.random.default_rng(0).standard_normal((4, generator.input_shape[-1])).astype("float32")
    np.testing.assert_array_equal(generator(z).numpy(), kept.ema_generator(z, training=False).numpy())  # the average
    assert any(isinstance(layer, keras.layers.SpectralNormalization) for layer in discriminator.layers)
    checkpoints = {p: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").iterdir()}
    with pytest.raises(ParameterError, match="gan_loss must be one of 'bce', 'hinge', 'wgan-gp'; got 'wgan'"):  # the runner's check
        run_pipeline("stab", {"gan_loss": "wgan"}, runs_dir=tmp_path, echo=False, notebooks=("02_train_gan",))
    with pytest.raises(pm.PapermillExecutionError) as err:  # the notebook's own, as when it is run by hand
        pm.execute_notebook(str(NOTEBOOK_DIR / "02_train_gan.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"run_dir": str(run_dir), "gan_loss": "wgan"}, kernel_name="python3",
                            cwd=str(NOTEBOOK_DIR), progress_bar=False)
    assert err.value.ename == "ParameterError" and "gan_loss must be one of 'bce', 'hinge', 'wgan-gp'; got 'wgan'." in err.value.evalue
    assert {p: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").iterdir()} == checkpoints
