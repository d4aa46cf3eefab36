"""Every file of the run-folder contract, damaged, is named with the notebook that writes it again; a write that fails
midway leaves the previous version."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gan_ad import bench, data, demo, models, training
from gan_ad.detectors import DetectorError
from gan_ad.files import ARTEFACTS, PROJECT_ROOT, MissingStepError, load_json
from gan_ad.runs import Run

DAMAGES = ("deleted", "truncated to half", "random bytes")


def damage(path, how, rng):
    if how == "deleted":
        path.unlink()
    elif how == "truncated to half":
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    else:
        path.write_bytes(rng.bytes(max(64, path.stat().st_size)))


def notebook_02_again(run_dir, epoch, original):
    """What notebook 02 reads when it runs again on a run: train_config.json, history.csv, the checkpoint it resumes
    from (``-p epochs EPOCH``), then the chosen one it exports; as the notebook builds and monitors the GAN."""
    config = {k: v for k, v in original.items() if k != "format"}
    run = Run(run_dir)
    x_train, _, _ = run.split("train")
    x_val, _, is_anomaly_val = run.split("val")
    models.seed_everything(config["seed"])
    gan = training.make_gan(models.build_generator(config["latent_dim"], config["width"]),
                            models.build_discriminator(config["width"], config["spectral_norm"]), config["learning_rate"],
                            seed=config["seed"], gan_loss=config["gan_loss"], ema_decay=config["ema_decay"],
                            rotation_weight=config["rotation_weight"], contrastive_weight=config["contrastive_weight"])
    monitor = training.ValidationAUROC(x_train, x_val, is_anomaly_val, training.monitor_indices(is_anomaly_val, config["monitor_size"], 0),
                                       steps=config["monitor_steps"], seed=config["seed"])
    history = training.fit_gan(gan, data.train_dataset(x_train, config["batch_size"], config["seed"]), run.dir, epoch, config,
                               monitor, verbose=0)
    chosen, _ = training.choose_epoch(history, "features")
    training.export_models(gan, run.dir, chosen)


def demo_loader(run_dir):
    """The demo page of the run: it shows a message instead of raising; raise it here to compare."""
    app = demo.Demo(run_dir)
    if not hasattr(app, "pad"):
        raise MissingStepError(app.ui.value)


def readers_of(name, relative, run_dir, original):
    """The readers of one file of the run, as notebooks 02-05, the benchmark and the demo use it: label -> callable."""
    run = Run(run_dir)
    split = {"Run.split (notebooks 02-05)": lambda: [run.split(part) for part in ("train", "val", "test")]}
    everything = {"gan_ad.bench": lambda: bench.check_inputs(run_dir), "demo": lambda: demo_loader(run_dir)}
    if name in ("split.json", "split.npz", "dataset.npz"):
        return {**split, **everything}
    if name == "checkpoints":
        epoch = int(Path(relative).stem.split("_")[1])
        return {f"notebook 02 run again (-p epochs {epoch})": lambda: notebook_02_again(run_dir, epoch, original)}
    if name == "history.csv":
        return {"notebook 02 run again": lambda: notebook_02_again(run_dir, 2, original), "Run.table": lambda: run.table(name)}
    if name == "train_config.json":
        return {"notebook 02 run again": lambda: notebook_02_again(run_dir, 2, original), "Run.settings": lambda: run.settings(name)}
    if name in ("generator.keras", "discriminator.keras"):
        return {"Run.models (notebooks 03, 04)": run.models}
    if name == "model.json":
        return {"Run.settings (notebooks 04, 05)": lambda: run.settings(name)}
    if name.startswith("detectors/"):
        key = name.split("/")[1]
        readers = {f"Run.detector({key!r}) (notebooks 04, 05)": lambda: run.detector(key)}
        return {**readers, **everything} if relative.endswith("detector.json") else readers
    if name == "encoder.keras":
        return {"Run.encoder": run.encoder}
    if name == "encoder_history.csv":
        return {"Run.table": lambda: run.table(name)}
    if name == "test_scores.npz":
        return {"Run.arrays": lambda: run.arrays(name)}
    if name == "metrics.json":
        return {"Run.metrics (the sweep, the summary)": run.metrics}
    if name == "parameters.json":
        namespace = {"run_dir": str(run_dir), "gallery_size": 8, "pca_components": 8, "knn_k": 3, "knn_components": 20, "ae_epochs": 0}
        return {"Run.parameters (notebook 05)": run.parameters,
                "Run.save_parameters (notebooks 02-05)": lambda: run.save_parameters("05_evaluation", namespace)}
    raise AssertionError(f"no reader listed for {name}")


@pytest.mark.slow
def test_every_damaged_file_of_a_run_is_named_with_the_notebook_that_writes_it_again(tiny_run, tmp_path, capsys):
    rng = np.random.default_rng(0)
    pristine = tmp_path / "pristine"  # the fixture's run stays untouched; every case damages a fresh copy
    shutil.copytree(tiny_run, pristine, ignore=shutil.ignore_patterns("*.ipynb", "figures", "samples", "bench.*"))
    files = [(name, p.relative_to(pristine).as_posix()) for name in ARTEFACTS
             for p in (sorted(q for q in (pristine / name).rglob("*") if q.is_file()) if (pristine / name).is_dir()
                       else [pristine / name]) if p.exists()]
    original = load_json(pristine / "train_config.json")
    absent = [name for name in ARTEFACTS if not (pristine / name).exists()]
    assert absent == ["dataset.npz"]  # made only for a dataset given by path; MNIST is reloaded by name
    cases, named, recovered, wrong = 0, 0, 0, []
    for name, relative in files:
        for how in DAMAGES:
            for label in readers_of(name, relative, pristine, original):
                run_dir = tmp_path / "case"
                shutil.rmtree(run_dir, ignore_errors=True)
                shutil.copytree(pristine, run_dir)
                path = run_dir / relative
                damage(path, how, rng)
                cases += 1
                reader = readers_of(name, relative, run_dir, original)[label]
                try:
                    reader()
                except (MissingStepError, DetectorError) as err:
                    text = str(err)
                    if str(path) in text and f"notebooks/{ARTEFACTS[name]}.ipynb" in text:
                        named += 1
                    else:
                        wrong.append(f"{relative}, {how}, {label}: {text}")
                except Exception as err:  # a raw library error: a fault of this test's subject
                    wrong.append(f"{relative}, {how}, {label}: raw {type(err).__name__}: {err}")
                else:
                    if name == "checkpoints" and how == "deleted" and path.exists():
                        recovered += 1  # notebook 02 trains that epoch again: what resuming a killed run is for
                    else:
                        wrong.append(f"{relative}, {how}, {label}: accepted silently")
    with capsys.disabled():
        print(f"\nfault cases: {len(files)} files x {len(DAMAGES)} damage kinds x their readers = {cases} cases; "
              f"{named} named the file and its notebook, {recovered} deleted checkpoints trained again, {len(wrong)} wrong")
    assert not wrong, "\n".join(wrong)
    assert named + recovered == cases


WRITER = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    import numpy as np
    from gan_ad import files
    run = Path(sys.argv[1])
    what = sys.argv[2]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
    if what == "keras":
        import keras
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4096)])
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        if what == "json":
            files.write_json(run / "metrics.json", {"x": "y" * 10000})
        elif what == "npz":
            with files.atomic_path(run / "test_scores.npz") as tmp:
                np.savez(tmp, scores=np.zeros(10000))
        else:
            with files.atomic_path(run / "encoder.keras") as tmp:
                model.save(tmp)
    except OSError as err:
        print(err)
        sys.exit(3)
""")


@pytest.mark.parametrize("what, name", [("json", "metrics.json"), ("npz", "test_scores.npz"), ("keras", "encoder.keras")])
def test_a_write_that_fails_midway_leaves_the_previous_file_and_names_it(tmp_path, what, name):
    run = tmp_path / "run"
    run.mkdir()
    (run / name).write_bytes(b"the previous version")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", WRITER, str(run), what], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 3, done.stderr
    assert f"{run / name} could not be written" in done.stdout and "previous version" in done.stdout
    assert (run / name).read_bytes() == b"the previous version"
    assert sorted(p.name for p in run.iterdir()) == [name]  # no .tmp- file left
