import subprocess
import sys

import nbformat
import pytest

from gan_ad import params, runner
from gan_ad.__main__ import main


@pytest.fixture(scope="module")
def declared():
    return runner.pipeline_parameters()


def test_every_notebook_takes_a_run_dir(declared):
    assert list(declared) == list(runner.PIPELINE)
    assert all("run_dir" in params for params in declared.values())


def test_only_run_dir_seed_distribute_and_anogan_images_are_shared_between_notebooks(declared):
    # the runner passes a value to every notebook that declares the name, so one name must mean one thing
    seen = {}
    for notebook, params in declared.items():
        for name in params:
            seen.setdefault(name, []).append(notebook)
    shared = {name for name, notebooks in seen.items() if len(notebooks) > 1}
    assert shared <= {"run_dir", "seed", "distribute", "anogan_images"}  # the last: AnoGAN's sample of validation (03) and test (05)


def test_unknown_parameter_lists_the_valid_ones(declared):
    runner.check_parameters({"epochs": 1, "lam": 0.5}, declared)
    with pytest.raises(runner.ParameterError, match=r"Unknown parameter\(s\) epoch\. Valid parameters: .*epochs"):
        runner.check_parameters({"epoch": 1}, declared)
    with pytest.raises(runner.ParameterError, match="--name"):
        runner.check_parameters({"run_dir": "x"}, declared)


@pytest.mark.parametrize("text, value", [("5", 5), ("0.1", 0.1), ("[0, 1]", [0, 1]), ("mnist", "mnist"), ("null", None)])
def test_parse_value(text, value):
    assert params.parse_value(text) == value


def test_prepare_only_injects_parameters(tmp_path):
    run_dir = runner.run_pipeline("x", {"epochs": 2, "lam": 0.5}, runs_dir=tmp_path, prepare_only=True, echo=False)
    assert sorted(p.stem for p in run_dir.glob("*.ipynb")) == list(runner.PIPELINE)
    injected = nbformat.read(run_dir / "02_train_gan.ipynb", as_version=4)
    source = next(c.source for c in injected.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "epochs = 2" in source and f'run_dir = "{run_dir}"' in source and "lam" not in source


def test_cli_rejects_a_misspelled_parameter(capsys):
    assert main(["run", "--name", "never", "-p", "epoch", "3"]) == 2
    assert "Valid parameters:" in capsys.readouterr().err


def test_cli_lists_parameters(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert "02_train_gan" in out and "epochs = " in out and "select_epoch = " in out


def test_summary_reads_metrics_json(tmp_path):
    from gan_ad.files import write_json
    detectors = {"pixel_knn": {"label": "kNN distance", "auroc": 0.9, "n_images": 10000},
                 "anogan": {"label": "AnoGAN (5 steps)", "auroc": 0.7, "n_images": 10000}}
    write_json(tmp_path / "metrics.json", {"detectors": detectors, "best_on_validation": "pixel_knn"})
    line = runner.summary(tmp_path)
    assert line.startswith("Test AUROC on 10000 images: AnoGAN (5 steps) 0.700, kNN distance 0.900. Best on validation: kNN distance.")
    assert str(tmp_path) in line
    detectors["anogan"]["n_images"] = 1000  # its search scored a sample of the test images
    write_json(tmp_path / "metrics.json", {"detectors": detectors, "best_on_validation": "pixel_knn"})
    assert runner.summary(tmp_path).startswith("Test AUROC on 10000 images: AnoGAN (5 steps) 0.700 (on 1000 of them), kNN distance 0.900.")


def test_rerun_from_a_notebook_keeps_the_parameters_the_run_was_made_with(tmp_path):
    runner.run_pipeline("x", {"epochs": 2, "steps": 7, "knn_k": 3}, runs_dir=tmp_path, prepare_only=True, echo=False)
    run_dir = runner.run_pipeline("x", {"knn_k": 4}, runs_dir=tmp_path, prepare_only=True, echo=False, notebooks=runner.PIPELINE[2:])
    assert runner.recorded_parameters(run_dir) == {"epochs": 2, "steps": 7, "knn_k": 4}  # -p wins over the record
    injected = nbformat.read(run_dir / "03_latent_inversion.ipynb", as_version=4)
    assert "steps = 7" in next(c.source for c in injected.cells if "injected-parameters" in c.metadata.get("tags", []))
    with pytest.raises(runner.ParameterError, match="no executed notebooks before 04_encoder"):
        runner.run_pipeline("empty", {}, runs_dir=tmp_path, prepare_only=True, notebooks=runner.PIPELINE[3:])
    with pytest.raises(SystemExit):
        main(["run", "--name", "never", "--from", "03_inversion"])


def test_a_dataset_path_is_made_absolute_from_the_callers_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.resolve_dataset({"dataset": "data/mine", "lam": 1}) == {"dataset": str(tmp_path / "data" / "mine"), "lam": 1}
    assert runner.resolve_dataset({"dataset": "fashion_mnist"}) == {"dataset": "fashion_mnist"}
    assert runner.resolve_dataset({"epochs": 2}) == {"epochs": 2}
    run_dir = runner.run_pipeline("x", {"dataset": "mine.npz"}, runs_dir=tmp_path, prepare_only=True, echo=False)
    injected = nbformat.read(run_dir / "01_data_prep.ipynb", as_version=4)
    source = next(c.source for c in injected.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f'dataset = "{tmp_path / "mine.npz"}"' in source


def test_cli_runs_the_pipeline_up_to_a_notebook(tmp_path, capsys):
    assert main(["run", "--name", str(tmp_path / "x"), "--to", "02_train_gan", "--prepare-only"]) == 0
    assert sorted(p.stem for p in (tmp_path / "x").glob("*.ipynb")) == ["01_data_prep", "02_train_gan"]
    assert f"Notebooks written to {tmp_path / 'x'}" in capsys.readouterr().out
    assert main(["run", "--name", "never", "--from", "03_latent_inversion", "--to", "02_train_gan"]) == 2
    assert "comes before" in capsys.readouterr().err


class FakePapermill:
    """Stands in for papermill: each notebook writes a file of its own and adds to parameters.json, as the notebooks
    do; ``fail`` names a notebook that dies half-way (after it wrote its file), as a killed one would."""

    def __init__(self, fail=None):
        self.ran, self.fail = [], fail

    def __call__(self, source, output, parameters, **kwargs):
        from pathlib import Path
        name = Path(source).stem
        self.ran.append(name)
        run_dir = Path(parameters["run_dir"])
        (run_dir / f"{name}.out").write_text(str(sorted(parameters.items())))
        with open(run_dir / "parameters.json", "a") as record:
            record.write(name)
        if name == self.fail:
            raise RuntimeError("killed")
        nbformat.write(nbformat.v4.new_notebook(metadata={"papermill": {"parameters": parameters}}), output)


def test_a_run_again_skips_the_notebooks_that_finished_with_the_same_parameters_and_files(tmp_path, monkeypatch):
    fake = FakePapermill(fail="04_encoder")
    monkeypatch.setattr(runner.pm, "execute_notebook", fake)
    with pytest.raises(RuntimeError):
        runner.run_pipeline("x", {"epochs": 2}, runs_dir=tmp_path, echo=False)
    assert fake.ran == list(runner.PIPELINE[:4])
    fake.ran, fake.fail = [], None
    run_dir = runner.run_pipeline("x", {"epochs": 2}, runs_dir=tmp_path, echo=False)  # killed in 04: from 04 on
    assert fake.ran == ["04_encoder", "05_evaluation"]
    fake.ran = []
    runner.run_pipeline("x", {"epochs": 2}, runs_dir=tmp_path, echo=False)  # finished: nothing runs
    assert fake.ran == []
    runner.run_pipeline("x", {"epochs": 3}, runs_dir=tmp_path, echo=False)  # 02's parameter changed: from 02 on
    assert fake.ran == list(runner.PIPELINE[1:])
    fake.ran = []
    (run_dir / "03_latent_inversion.out").write_text("damaged")  # a file of 03 changed: from 03 on
    runner.run_pipeline("x", {"epochs": 3}, runs_dir=tmp_path, echo=False)
    assert fake.ran == list(runner.PIPELINE[2:])
    fake.ran = []
    (run_dir / "01_data_prep.ipynb").unlink()  # a file of 01 gone: everything
    runner.run_pipeline("x", {"epochs": 3}, runs_dir=tmp_path, echo=False)
    assert fake.ran == list(runner.PIPELINE)
    fake.ran = []
    (run_dir / runner.LEDGER).write_text('{"01_data_prep": ')  # a damaged ledger: everything, which is safe
    runner.run_pipeline("x", {"epochs": 3}, runs_dir=tmp_path, echo=False)
    assert fake.ran == list(runner.PIPELINE)


def test_from_runs_again_what_it_names_even_when_it_finished(tmp_path, monkeypatch, capsys):
    fake = FakePapermill()
    monkeypatch.setattr(runner.pm, "execute_notebook", fake)
    runner.run_pipeline("x", {}, runs_dir=tmp_path, echo=False)
    fake.ran = []
    runner.run_pipeline("x", {}, runs_dir=tmp_path, notebooks=runner.PIPELINE[2:], resume=False, echo=False)
    assert fake.ran == list(runner.PIPELINE[2:])
    fake.ran = []
    runner.run_pipeline("x", {}, runs_dir=tmp_path)
    assert fake.ran == [] and capsys.readouterr().out.count("finished earlier with these parameters") == 5
    given = []
    monkeypatch.setattr(runner, "run_pipeline", lambda *args, **kwargs: given.append(kwargs["resume"]) or tmp_path)
    monkeypatch.setattr(runner, "summary", lambda run_dir: "")
    assert main(["run", "--name", "x", "--from", "03_latent_inversion"]) == 0
    assert main(["run", "--name", "x"]) == 0
    assert given == [False, True]  # the command line: --from runs what it names again


def test_the_runner_grading_sweeps_and_notebook_01_start_without_tensorflow():
    """TensorFlow takes seconds to start: the command line, the runner, a sweep, grading and what notebook 01 imports
    leave it out until a network is read (``Run.models`` and the like import it)."""
    modules = "gan_ad.__main__, gan_ad.runner, gan_ad.sweep, gan_ad.grading, gan_ad.data, gan_ad.params, gan_ad.plots, gan_ad.runs"
    probe = f"import sys, {modules}; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
