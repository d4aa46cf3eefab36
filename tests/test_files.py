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
    (tmp_path / "here.txt").write_text("")
    assert files.require(tmp_path, "here.txt", "01_data_prep") == tmp_path / "here.txt"
    with pytest.raises(files.MissingStepError, match=r"Run notebooks/02_train_gan\.ipynb first"):
        files.require(tmp_path, "generator.keras", "02_train_gan")


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
