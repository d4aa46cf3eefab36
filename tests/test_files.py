import errno
from pathlib import Path

import pytest

from gan_ad import files, runner, runs
from gan_ad.assignments import TINY_FILE


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with files.atomic_path(target) as tmp:
        assert tmp.suffix == ".txt" and tmp != target
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_atomic_path_names_only_a_failed_write(tmp_path):
    """An OSError of the block's own reading is its own; one of writing the file says which file could not be written."""
    with pytest.raises(FileNotFoundError) as err:
        with files.atomic_path(tmp_path / "out.txt") as tmp:
            (tmp_path / "missing-input.txt").read_text()
    assert "could not be written" not in str(err.value) and err.value.filename == str(tmp_path / "missing-input.txt")
    with pytest.raises(OSError, match=r"out\.txt could not be written .*previous version"):
        with files.atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")  # as a library writing it says, naming no file
    assert list(tmp_path.iterdir()) == []


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
    and the run holds nothing else but its executed notebooks, figures, sample grids, the benchmark's tables and the
    runner's ledger of finished notebooks (gan_ad/runner.py)."""
    written = {p.name for p in tiny_run.iterdir()} | {f"detectors/{p.name}" for p in (tiny_run / "detectors").iterdir()}
    expected = set(files.ARTEFACTS) - {"dataset.npz"}
    assert expected <= written
    others = {"detectors", "figures", "samples", "bench.json", "bench.md", runner.LEDGER}
    assert written - expected - others == {f"{nb}.ipynb" for nb in set(files.ARTEFACTS.values())}


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


def test_run_reads_artefacts_and_says_which_notebook_is_missing(tmp_path):
    run = runs.Run(tmp_path)
    files.write_json(tmp_path / "model.json", {"epoch": 3})
    assert run.dir == tmp_path.resolve() and run.settings("model.json") == {"epoch": 3}
    with pytest.raises(files.MissingStepError, match=r"notebooks/04_encoder\.ipynb"):
        run.encoder()
    with pytest.raises(files.MissingStepError, match=r"notebooks/01_data_prep\.ipynb"):
        run.split("val")


def test_metrics_are_saved_read_and_forgotten_through_the_run(tmp_path):
    run = runs.Run(tmp_path)
    with pytest.raises(files.MissingStepError, match=r"notebooks/05_evaluation\.ipynb"):
        run.metrics()  # an unfinished run
    assert run.save_metrics({"detectors": {"pca": {"auroc": 0.8}}}) == tmp_path.resolve() / "metrics.json"
    assert run.metrics() == {"detectors": {"pca": {"auroc": 0.8}}}
    run.forget_metrics()
    run.forget_metrics()  # nothing left to forget: no error
    assert not (tmp_path / "metrics.json").exists()


def markdown_tables(text):
    """Every Markdown table of ``text`` as (header cells, rows of cells)."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            if len(block) > 1 and set("".join(block[1])) <= set("-: "):
                tables.append((block[0], block[2:]))
            block = []
    return tables


def test_markdown_tables_are_read_by_their_header():
    text = "intro\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n| not | a table |\n"
    assert markdown_tables(text) == [(["a", "b"], [["1", "2"], ["3", "4"]])]


def test_the_readme_lists_each_artefact_beside_the_notebook_that_writes_it():
    """The table of notebooks and what they write (in the README or a page of docs/) agrees with files.ARTEFACTS."""
    pages = [files.PROJECT_ROOT / "README.md", *sorted((files.PROJECT_ROOT / "docs").glob("*.md"))]
    found = [(page, header, rows) for page in pages for header, rows in markdown_tables(page.read_text())
             if "notebook" in header and "writes into the run folder" in header]
    assert len(found) == 1, [page.name for page, _, _ in found]  # one table, in one page
    page, header, rows = found[0]
    notebook, writes = header.index("notebook"), header.index("writes into the run folder")
    table = {row[notebook].strip("`"): row[writes] for row in rows}
    assert set(table) == set(files.ARTEFACTS.values()), page.name
    for name, notebook_name in files.ARTEFACTS.items():
        shown = f"`{name}/" if name.startswith("detectors/") or name == "checkpoints" else f"`{name}`"
        assert shown in table[notebook_name], (page.name, name, notebook_name)


def test_save_parameters_keeps_earlier_notebooks_and_drops_later_ones(tmp_path):
    run = runs.Run(tmp_path)
    namespace = {"run_dir": str(tmp_path), "seed": 3, "steps": 7, "z_learning_rate": 0.5, "lam": 0.2,
                 "inversion_batch_size": 8, "anogan_images": 50, "false_alarm_rate": 0.1, "unrelated": 1}
    files.write_json(tmp_path / "parameters.json", {"01_data_prep": {"seed": 0}, "04_encoder": {"seed": 1}})
    run.save_parameters("03_latent_inversion", namespace)
    recorded = run.parameters()
    assert list(recorded) == ["01_data_prep", "03_latent_inversion"]  # notebook 04's record belonged to the run before
    assert recorded["03_latent_inversion"] == {k: v for k, v in namespace.items() if k not in ("run_dir", "unrelated")}


def test_a_run_records_every_notebooks_parameters_under_the_names_given(tiny_run):
    import yaml

    from gan_ad.runner import PIPELINE, notebook_parameters

    recorded = runs.Run(tiny_run).parameters()
    assert list(recorded) == list(PIPELINE)
    for notebook in PIPELINE:
        assert set(recorded[notebook]) == set(notebook_parameters(notebook)) - {"run_dir"}
    tiny = yaml.safe_load(TINY_FILE.read_text())
    given = {name: value for params in recorded.values() for name, value in params.items()}
    assert {name: given[name] for name in tiny} == tiny  # e.g. notebook 03's z_learning_rate, not the detector's learning_rate
    assert runs.Run(tiny_run).metrics()["parameters"] == "parameters.json"  # recorded once: metrics.json names the record
