"""The declaration of every parameter (gan_ad/params.py): notebooks agree with it, bad values are refused in one sentence."""
import ast
import json

import pytest

from gan_ad import params, runner, sweep
from gan_ad.__main__ import main
from gan_ad.files import NOTEBOOK_DIR
from gan_ad.params import PARAMETERS, ParameterError


@pytest.mark.parametrize("notebook", params.ALL)
def test_every_parameters_cell_declares_exactly_the_declared_names_and_defaults(notebook):
    cell = runner.notebook_parameters(notebook)
    assert sorted(cell) == sorted(params.notebook_names(notebook))
    assert {name: ast.literal_eval(text) for name, text in cell.items()} == {
        name: PARAMETERS[name].default for name in cell}


@pytest.mark.parametrize("notebook", params.ALL)
def test_every_notebook_checks_its_parameters_in_the_cell_after_the_parameters_cell(notebook):
    cells = json.loads((NOTEBOOK_DIR / f"{notebook}.ipynb").read_text())["cells"]
    at = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    following = next(c for c in cells[at + 1:] if c["cell_type"] == "code")
    assert "".join(following["source"]).startswith(f'params.check("{notebook}", globals())')


def test_every_default_passes_its_own_check():
    for p in PARAMETERS.values():
        assert p.check(p.default) == p.default


@pytest.mark.parametrize("name, value, sentence", [
    ("epochs", "banana", "epochs must be a whole number of at least 1; got 'banana'."),
    ("epochs", 0, "epochs must be a whole number of at least 1; got 0."),
    ("batch_size", 0, "batch_size must be a whole number of at least 1; got 0."),
    ("learning_rate", -1, "learning_rate must be a number in (0, 1]; got -1."),
    ("val_fraction", 1.5, "val_fraction must be a number in (0, 1); got 1.5."),
    ("false_alarm_rate", 0, "false_alarm_rate must be a number in (0, 1); got 0."),
    ("normal_digits", 3, "normal_digits must be a non-empty list of class indices or names, such as [0, 1, 2]; got 3."),
    ("normal_digits", [], "normal_digits must be a non-empty list of class indices or names, such as [0, 1, 2]; got []."),
    ("anomaly_digits", [], "anomaly_digits must be a non-empty list of class indices or names, such as [0, 1, 2], or None; got []."),
    ("memory_k", [], "memory_k must be a non-empty list of whole numbers of at least 1; got []."),
    ("feature_k", [1, "x"], "feature_k must be a non-empty list of whole numbers of at least 1; got [1, 'x']."),
    ("spectral_norm", "yes", "spectral_norm must be true or false; got 'yes'."),
    ("gan_loss", "wgan", "gan_loss must be one of 'bce', 'hinge', 'wgan-gp'; got 'wgan'."),
    ("epochs", True, "epochs must be a whole number of at least 1; got True."),
])
def test_a_bad_value_is_refused_in_one_sentence_naming_the_parameter_what_it_got_and_what_it_takes(name, value, sentence):
    with pytest.raises(ParameterError) as err:
        params.check_values({name: value})
    assert str(err.value) == sentence


def test_plain_forms():
    assert params.check_values({"learning_rate": "1e-3", "epochs": 3.0, "anomaly_digits": None, "lam": 1}) == {
        "learning_rate": 0.001, "epochs": 3, "anomaly_digits": None, "lam": 1}


@pytest.mark.parametrize("values", [{"select_epoch": "anogan"}, {"select_epoch": "anogan", "monitor_steps": 0},
                                    {"monitor_steps": 0, "select_epoch": "anogan", "epochs": 3}])
def test_values_allowed_alone_but_not_together_are_refused_with_what_to_do(values):
    with pytest.raises(ParameterError) as err:  # the default monitor_steps, 0, turns off the monitor select_epoch anogan needs
        params.check_values(values)
    assert str(err.value).startswith('select_epoch "anogan" keeps the epoch by AnoGAN\'s quick score, which monitor_steps 0')
    assert "give monitor_steps a number of steps such as 30" in str(err.value)
    assert params.check_values({"select_epoch": "anogan", "monitor_steps": 30}) == {"select_epoch": "anogan", "monitor_steps": 30}
    assert params.check_values({"select_epoch": "last", "monitor_steps": 0}) == {"select_epoch": "last", "monitor_steps": 0}


def test_a_notebook_run_by_hand_refuses_a_bad_value():
    namespace = {name: PARAMETERS[name].default for name in params.notebook_names("02_train_gan")}
    assert params.check("02_train_gan", namespace)["epochs"] == 3
    with pytest.raises(ParameterError, match="batch_size must be a whole number of at least 1; got 0"):
        params.check("02_train_gan", {**namespace, "batch_size": 0})


@pytest.mark.parametrize("args, sentence", [
    (["-p", "epochs", "banana"], "error: epochs must be a whole number of at least 1; got 'banana'."),
    (["-p", "batch_size", "0"], "error: batch_size must be a whole number of at least 1; got 0."),
    (["-p", "learning_rate", "-1"], "error: learning_rate must be a number in (0, 1]; got -1."),
    (["-p", "normal_digits", "3"], "error: normal_digits must be a non-empty list"),
    (["-p", "epochs", "0", "--seeds", "2"], "error: epochs must be a whole number of at least 1; got 0."),
    (["-f", "no/such/file.yaml"], "error: no/such/file.yaml does not exist"),
    (["-p", "select_epoch", "anogan"], 'error: select_epoch "anogan" keeps the epoch by AnoGAN\'s quick score'),
])
def test_the_command_line_refuses_with_exit_status_2_and_writes_nothing(args, sentence, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "RUNS_DIR", tmp_path)
    monkeypatch.setattr(sweep, "RUNS_DIR", tmp_path)
    assert main(["run", "--name", "refused", *args]) == 2
    assert capsys.readouterr().err.startswith(sentence)
    assert not any(tmp_path.iterdir())


def test_a_parameters_file_that_is_not_a_mapping_and_a_bad_grid_point_are_refused(tmp_path, capsys):
    listing = tmp_path / "list.yaml"
    listing.write_text("- epochs\n- 3\n")
    assert main(["run", "--name", "refused", "-f", str(listing)]) == 2
    assert "must be a parameters file holding a YAML mapping" in capsys.readouterr().err
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: bad\nfixed: {epochs: 1}\ngrid:\n  batch_size: [32, 0]\n")
    assert main(["sweep", str(grid)]) == 2
    assert capsys.readouterr().err == "error: batch_size must be a whole number of at least 1; got 0.\n"
    assert not (tmp_path / "bad").exists()


def test_params_prints_the_table_from_the_declaration(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    for p in PARAMETERS.values():
        assert p.name in out and p.meaning in out
    assert main(["params", "--markdown"]) == 0
    assert "| `epochs` | 02 | `3` | a whole number of at least 1 | passes over the training digits |" in capsys.readouterr().out
