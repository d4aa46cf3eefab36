from pathlib import Path

import pandas as pd
import pytest
import yaml

from gan_ad import sweep
from gan_ad.__main__ import main
from gan_ad.runner import ParameterError


def write_grid(tmp_path, spec):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("spec, message", [
    ({"grid": {"lamda": [0.1]}}, r"Unknown parameter\(s\) lamda"),
    ({"grid": {"lam": []}}, "lam needs a non-empty list"),
    ({"grid": {"lam": 0.1}}, "lam needs a non-empty list"),
    ({}, "'grid' is missing or empty"),
    ({"fixed": {"lam": 0.1}, "grid": {"lam": [0.2]}}, "both fixed and in the grid"),
    ({"grids": {"lam": [0.1]}}, "unknown key"),
])
def test_bad_grids_fail_before_any_run(tmp_path, spec, message):
    with pytest.raises(ParameterError, match=message):
        sweep.read_grid(write_grid(tmp_path, spec))


def test_cli_refuses_a_bad_grid_without_running(tmp_path, capsys):
    assert main(["sweep", str(write_grid(tmp_path, {"grid": {"epoch": [1, 2]}}))]) == 2
    assert "Unknown parameter(s) epoch" in capsys.readouterr().err
    assert main(["run", "--seeds", "2", "-p", "seed", "1"]) == 2


def test_run_name():
    assert sweep.run_name({"lam": 0.1, "normal_digits": [0, 1], "seed": 2}) == "lam=0.1,normal_digits=0-1,seed=2"


def test_list_valued_grids_are_summarised(tmp_path, monkeypatch):
    metrics = {"detectors": {"AnoGAN": {"auroc": 0.7, "auprc": 0.6, "f1": 0.2}}}
    def fake_run(name, params, runs_dir, echo):
        from gan_ad.files import write_json
        return write_json(Path(runs_dir) / name / "metrics.json", metrics).parent
    monkeypatch.setattr(sweep, "run_pipeline", fake_run)
    results = sweep.run_grid("s", {}, {"normal_digits": [[0, 1], [2]]}, runs_dir=tmp_path, echo=False)
    assert list(results["normal_digits"]) == ["0-1", "2"]
    assert (tmp_path / "s" / "summary.csv").exists() and (tmp_path / "s" / "sweep.png").exists()


def test_summary_gives_mean_and_std_over_seeds():
    results = pd.DataFrame({"lam": [0.1, 0.1, 0.5, 0.5], "seed": [0, 1, 0, 1], "detector": "AnoGAN",
                            "auroc": [0.6, 0.8, 0.9, 0.9], "auprc": 0.5, "f1": 0.2})
    table = sweep.mean_std(sweep.summarise(results, ["lam"]))
    assert table.loc[(0.1, "AnoGAN"), "auroc"] == "0.700 ± 0.141"
    assert table.loc[(0.5, "AnoGAN"), "auroc"] == "0.900 ± 0.000"
    assert list(table["runs"]) == [2, 2]


def test_tiny_sweep_over_datasets_records_a_failed_run_and_goes_on(tmp_path):
    fixed = yaml.safe_load((Path(__file__).parent / "tiny.yaml").read_text())
    grid = {"dataset": ["mnist", "fashion_mnist", "cifar"]}
    results = sweep.run_grid("s", fixed, grid, runs_dir=tmp_path, echo=False)
    ok = results[results["status"] == "ok"]
    assert set(ok["dataset"]) == {"mnist", "fashion_mnist"}
    assert set(ok["detector"]) == {"AnoGAN (5 steps)", "Encoder (f-AnoGAN)", "Encoder + 2 steps", "Discriminator-feature kNN",
                                   "PCA reconstruction", "kNN distance", "Autoencoder"}
    assert ok["auroc"].between(0, 1).all()
    failed = results[results["status"] == "failed"]
    assert list(failed["dataset"]) == ["cifar"]
    assert failed["error"].iloc[0].startswith(f"DataError: Unknown dataset '{Path.cwd() / 'cifar'}'")  # made absolute
    for name in ("results.csv", "summary.csv", "sweep.png"):
        assert (tmp_path / "s" / name).exists()
    assert (tmp_path / "s" / "dataset=fashion_mnist" / "metrics.json").exists()


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_grid_files_are_valid(path):
    name, fixed, grid = sweep.read_grid(path)
    assert name == path.stem and grid
