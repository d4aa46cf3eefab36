import pytest

from gan_ad import files


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with files.atomic_path(target) as tmp:
        assert tmp.suffix == ".txt" and tmp != target
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_atomic_path_keeps_old_file_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_json_round_trip(tmp_path):
    obj = {"a": 1, "b": [0.5, "x"]}
    assert files.read_json(files.write_json(tmp_path / "m.json", obj)) == obj


def test_require_names_the_notebook_to_run_first(tmp_path):
    (tmp_path / "split.json").write_text("")
    assert files.require(tmp_path, "split.json") == tmp_path / "split.json"
    with pytest.raises(files.MissingStepError, match=r"Run notebooks/02_train_gan\.ipynb first"):
        files.require(tmp_path, "generator.keras")


def test_the_run_folder_contract_lists_what_a_run_writes(tiny_run):
    """Every artefact of files.ARTEFACTS is in a finished run (dataset.npz only for a dataset given by path),
    and the run holds nothing else but its executed notebooks, figures, sample grids and the benchmark's tables."""
    written = {p.name for p in tiny_run.iterdir()} | {f"detectors/{p.name}" for p in (tiny_run / "detectors").iterdir()}
    expected = set(files.ARTEFACTS) - {"dataset.npz"}
    assert expected <= written
    assert written - expected - {"detectors", "figures", "samples", "bench.json", "bench.md"} == {f"{nb}.ipynb" for nb in set(files.ARTEFACTS.values())}


def test_project_root_is_the_checkout_then_the_working_directory(tmp_path):
    checkout = tmp_path / "clone"
    (checkout / "gan_ad").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    assert files.project_root(checkout / "gan_ad", environ={}) == checkout
    installed = tmp_path / "site-packages" / "gan_ad"  # pip install git+...: no pyproject.toml beside it
    installed.mkdir(parents=True)
    assert files.project_root(installed, environ={}, cwd=tmp_path / "content") == tmp_path / "content"
    assert files.project_root(checkout / "gan_ad", environ={"GAN_AD_HOME": str(tmp_path / "home")}) == tmp_path / "home"
    assert (files.NOTEBOOK_DIR / "01_data_prep.ipynb").exists()
