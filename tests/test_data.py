import shutil

import numpy as np
import pytest

from gan_ad import data


def test_load_dataset_reads_the_cached_file(tiny_dataset):
    data_dir, arrays = tiny_dataset
    loaded = data.load_mnist(data_dir)
    for got, key in zip(loaded, data.KEYS):
        np.testing.assert_array_equal(got, arrays[key])


def test_a_dataset_that_cannot_be_downloaded_says_where_to_put_the_file(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(data.DataError, match="could not be downloaded") as err:
        data.load_mnist(tmp_path)
    assert f"Copy the Keras file mnist.npz into {tmp_path}/" in str(err.value) and "Name or service" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("y_test"), "lacks the arrays"),
    (lambda a: a.update(x_train=a["x_train"].astype("float32")), "should be uint8"),
    (lambda a: a.update(x_test=a["x_test"][:, :14]), r"shape \(N, 28, 28\)"),
    (lambda a: a.update(y_train=a["y_train"][:10]), "labels in 0-9"),
    (lambda a: a.update(y_test=a["y_test"] + 10), "labels in 0-9"),
])
def test_bad_arrays_name_the_file_and_the_fix(tiny_dataset, change, message):
    data_dir, arrays = tiny_dataset
    arrays = dict(arrays)
    change(arrays)
    np.savez(data_dir / "mnist.npz", **arrays)
    with pytest.raises(data.DataError, match=message) as err:
        data.load_mnist(data_dir)
    assert str(data_dir / "mnist.npz") in str(err.value) and "Delete" in str(err.value)


def test_corrupt_file_is_reported(tiny_dataset):
    data_dir, _ = tiny_dataset
    (data_dir / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(data.DataError, match="not a readable .npz file"):
        data.load_mnist(data_dir)


def test_fashion_mnist_opens_by_name_with_its_class_names():
    """The Keras arrays of Fashion-MNIST in data/ (as .ci/run copies them), opened as notebook 01 opens a dataset."""
    ds = data.open_dataset("fashion_mnist")
    assert (ds.x_train.shape, ds.x_test.shape) == ((60000, 28, 28), (10000, 28, 28))
    assert ds.classes[0] == "t-shirt" and ds.classes[9] == "ankle-boot" and sorted(set(ds.y_test.tolist())) == list(range(10))


def test_unknown_dataset():
    with pytest.raises(data.DataError, match="mnist, fashion_mnist"):
        data.load_dataset("cifar")


@pytest.mark.parametrize("normal, anomaly, message", [
    ([], None, "empty"),
    ([0, 0, 1], None, "twice"),
    ([0, 10], None, "not class indices"),
    (list(range(10)), None, "nothing to detect"),
    ([0, 1], [1, 2], r"\[1\] are both normal and anomalous"),
])
def test_check_digits_refuses_bad_choices(normal, anomaly, message):
    with pytest.raises(data.DataError, match=message):
        data.check_digits(normal, anomaly)


def test_check_digits_defaults_anomalies_to_the_rest():
    assert data.check_digits([4, 0]) == ((0, 4), (1, 2, 3, 5, 6, 7, 8, 9))


def test_split_follows_the_protocol(tiny_dataset):
    _, a = tiny_dataset
    split = data.make_split(a["y_train"], a["y_test"], normal_digits=[0, 1, 2, 3, 4], val_fraction=0.2, max_val=40)
    assert set(a["y_train"][split["train"]]) == {0, 1, 2, 3, 4}
    assert not set(split["train"]) & set(split["val"])
    val_digits = a["y_train"][split["val"]]
    assert np.sum(val_digits < 5) == np.sum(val_digits >= 5) == 20
    assert len(split["train"]) == 300 - 60  # 20 % of 300 normals held out
    assert len(split["test"]) == 200


def test_split_is_reproducible_and_caps_sizes(tiny_dataset):
    _, a = tiny_dataset
    kwargs = dict(normal_digits=[3], anomaly_digits=[8], max_train=20, max_test=15, seed=1)
    s1, s2 = (data.make_split(a["y_train"], a["y_test"], **kwargs) for _ in range(2))
    for key in s1:
        np.testing.assert_array_equal(s1[key], s2[key])
    assert len(s1["train"]) == 20 and len(s1["test"]) == 15
    assert set(a["y_test"][s1["test"]]) <= {3, 8}
    other = data.make_split(a["y_train"], a["y_test"], **{**kwargs, "seed": 2})
    assert not np.array_equal(s1["test"], other["test"])


def test_split_refuses_a_bad_val_fraction(tiny_dataset):
    _, a = tiny_dataset
    with pytest.raises(data.DataError, match="val_fraction"):
        data.make_split(a["y_train"], a["y_test"], val_fraction=1.0)


def test_scale_maps_to_minus_one_one():
    x = data.scale(np.array([[[0] * 28] * 28, [[255] * 28] * 28], dtype=np.uint8))
    assert x.shape == (2, 28, 28, 1) and x.dtype == np.float32
    assert x.min() == -1 and x.max() == 1


def test_saved_split_loads_back(tiny_dataset, tmp_path):
    data_dir, a = tiny_dataset
    split = data.make_split(a["y_train"], a["y_test"], max_val=20)
    data.save_split(tmp_path, split, {"dataset": "mnist", "normal_digits": [0, 1, 2, 3, 4], "anomaly_digits": [5, 6, 7, 8, 9]})
    x, digits, is_anomaly = data.load_split(tmp_path, "val", data_dir)
    assert x.shape == (20, 28, 28, 1)
    np.testing.assert_array_equal(digits, a["y_train"][split["val"]])
    np.testing.assert_array_equal(is_anomaly, digits >= 5)


def test_load_split_before_data_prep_says_what_to_run(tmp_path):
    with pytest.raises(RuntimeError, match="01_data_prep"):
        data.load_split(tmp_path, "train")


def test_train_dataset_yields_full_shuffled_batches():
    x = np.arange(10, dtype="float32").reshape(10, 1) * np.ones((10, 28 * 28), "float32")
    x = x.reshape(10, 28, 28, 1)
    batches = list(data.train_dataset(x, batch_size=4, seed=0))
    assert [b.shape[0] for b in batches] == [4, 4] and data.steps_per_epoch(len(x), 4) == len(batches)
    with pytest.raises(data.DataError, match="fewer than one batch"):
        data.train_dataset(x, batch_size=11)


# ---------------------------------------------------------------- your own data

def test_image_folder_is_read_sorted_resized_and_greyscale(image_folder):
    from PIL import Image

    ds = data.open_dataset(image_folder)
    assert ds.classes == ("cat", "dog", "owl") and ds.source == str(image_folder)
    assert ds.x_train.shape == (36, 28, 28) and ds.x_test.shape == (30, 28, 28) and ds.x_train.dtype == np.uint8
    assert list(np.bincount(ds.y_train)) == [12, 12, 12] and list(np.bincount(ds.y_test)) == [10, 10, 10]
    assert ds.resized == 44 and ds.sizes == {"32x32": 22, "20x40": 22}  # cat and owl; dog is 28x28 already
    assert ds.colour == 22  # owl
    assert "44 of 66 images were not 28x28" in ds.describe() and "22 colour images" in ds.describe()
    # the stated method: Pillow "L", then LANCZOS on the whole image
    for name in ("cat/003.png", "owl/005.png", "dog/000.png"):
        i = list(ds.files_train).index(f"train/{name}")
        expected = Image.open(image_folder / "train" / name).convert("L").resize((28, 28), Image.Resampling.LANCZOS)
        np.testing.assert_array_equal(ds.x_train[i], np.asarray(expected))
        assert ds.classes[ds.y_train[i]] == name.split("/")[0]


def test_classes_can_be_named(image_folder):
    classes = data.open_dataset(image_folder).classes
    assert data.check_digits(["owl", "cat"], classes=classes) == ((0, 2), (1,))
    assert data.check_digits("dog", classes=classes) == ((1,), (0, 2))
    assert data.check_digits([0], ["owl"], classes) == ((0,), (2,))
    with pytest.raises(data.DataError, match=r"\['cow'\].*class names \(cat, dog, owl\)"):
        data.check_digits(["cow"], classes=classes)
    with pytest.raises(data.DataError, match="not class indices 0-2"):
        data.check_digits([3], classes=classes)


def test_npz_path_relative_to_the_working_directory(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (60, 32, 32, 1), dtype=np.uint8), "y_train": np.arange(60) % 3,
              "x_test": rng.integers(0, 256, (30, 32, 32, 1), dtype=np.uint8), "y_test": np.arange(30) % 3,
              "class_names": np.array(["ant", "bee", "fly"])}
    np.savez(tmp_path / "mine.npz", **arrays)
    monkeypatch.chdir(tmp_path)
    ds = data.open_dataset("mine.npz")
    assert ds.source == str(tmp_path / "mine.npz") and ds.classes == ("ant", "bee", "fly")
    assert ds.x_train.shape == (60, 28, 28) and ds.resized == 90 and ds.sizes == {"32x32": 90}
    from PIL import Image
    expected = Image.fromarray(arrays["x_test"][7, ..., 0]).resize((28, 28), Image.Resampling.LANCZOS)
    np.testing.assert_array_equal(ds.x_test[7], np.asarray(expected))
    np.testing.assert_array_equal(data.load_dataset("mine.npz")[3], arrays["y_test"])
    split = data.make_split(ds.y_train, ds.y_test, ["ant"], classes=ds.classes, source=ds.source)
    assert set(ds.y_train[split["train"]]) == {0}


def _truncated_png(path):
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:400])  # the header is intact, the pixels are cut off


@pytest.mark.parametrize("spoil, where, message", [
    (lambda root: shutil.rmtree(root), "", r"Unknown dataset .*there is no file or folder"),
    (lambda root: [shutil.rmtree(root), root.mkdir()], "", "is empty; put the images in it as train/CLASS"),
    (lambda root: shutil.rmtree(root / "test"), "", "has no test/ folder"),
    (lambda root: (root / "train" / "fox").mkdir(), "train/fox", "holds no images; add at least 10"),
    (lambda root: (root / "test" / "cat" / "notes.txt").write_text("hello"), "test/cat/notes.txt",
     'is not an image .*bad_files = "skip"'),
    (lambda root: _truncated_png(root / "train" / "dog" / "bad.png"), "train/dog/bad.png", "cannot be read as an image"),
    (lambda root: [p.unlink() for p in sorted((root / "train" / "owl").iterdir())[5:]], "train/owl",
     r"holds only 5 image\(s\); every class folder needs at least 10"),
    (lambda root: (root / "train" / "stray.png").write_bytes(b""), "train/stray.png", "lies outside a class folder"),
])
def test_bad_image_folders_name_the_file_or_folder(image_folder, spoil, where, message):
    spoil(image_folder)
    with pytest.raises(data.DataError, match=message) as err:
        data.open_dataset(image_folder)
    assert str(image_folder / where).rstrip("/") in str(err.value)


def test_bad_files_skip_lists_them(image_folder):
    (image_folder / "test" / "cat" / "notes.txt").write_text("hello")
    _truncated_png(image_folder / "train" / "dog" / "bad.png")
    (image_folder / "train" / ".DS_Store").write_bytes(b"\0")  # hidden files are ignored, not bad
    ds = data.open_dataset(image_folder, bad_files="skip")
    assert len(ds.x_train) == 36 and len(ds.x_test) == 30
    assert [s.split(": ")[0] for s in ds.skipped] == [str(image_folder / "train/dog/bad.png"), str(image_folder / "test/cat/notes.txt")]
    assert 'bad_files = "skip": 2 unreadable file(s) left out' in ds.describe()
    assert ds.summary()["skipped_files"] == ds.skipped
    with pytest.raises(data.DataError, match='bad_files must be "refuse" or "skip"'):
        data.open_dataset(image_folder, bad_files="ignore")


def test_a_class_of_unreadable_files_only_is_refused_even_when_skipping(image_folder):
    fox = image_folder / "train" / "fox"
    fox.mkdir()
    (fox / "a.txt").write_text("x")
    with pytest.raises(data.DataError, match=f"{fox} holds no readable images"):
        data.open_dataset(image_folder, bad_files="skip")


def test_a_test_class_never_seen_in_training(image_folder):
    shutil.rmtree(image_folder / "train" / "owl")
    ds = data.open_dataset(image_folder)
    assert ds.classes == ("cat", "dog", "owl")
    with pytest.raises(data.DataError, match=r"training classes: cat, dog\). .*anomaly_digits = \['owl'\]") as err:
        data.make_split(ds.y_train, ds.y_test, ["cat", "dog"], classes=ds.classes, source=ds.source)
    assert str(image_folder / "test" / "owl") in str(err.value)
    # named as the anomaly: allowed, and validation is then held-out normals only
    split = data.make_split(ds.y_train, ds.y_test, ["cat", "dog"], ["owl"], val_fraction=0.25, classes=ds.classes, source=ds.source)
    assert len(split["val"]) == 6 and set(ds.y_train[split["val"]]) <= {0, 1}
    assert set(ds.y_test[split["test"]]) == {0, 1, 2}
    with pytest.raises(data.DataError, match=r"Normal class 'owl' has no training images \(.*train/owl is missing"):
        data.make_split(ds.y_train, ds.y_test, ["owl"], classes=ds.classes, source=ds.source)


def test_a_test_set_without_anomalies_is_refused(tiny_dataset):
    _, a = tiny_dataset
    y_test = a["y_test"][a["y_test"] < 5]
    with pytest.raises(data.DataError, match=r"test set holds no image of the anomalous classes \(5, 6, 7, 8, 9\)"):
        data.make_split(a["y_train"], y_test)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(x_train=a["x_train"].astype("float32")), "should hold uint8 images"),
    (lambda a: a.update(y_test=a["y_test"][:5]), "should hold 30 integer labels"),
    (lambda a: a.update(y_train=np.r_[a["y_train"][:-5], [3] * 5]), r"class '3' \(label 3\) has only 5 image\(s\) in y_train"),
    (lambda a: a.pop("x_test"), r"lacks the arrays \['x_test'\]"),
])
def test_bad_npz_datasets_name_the_file(tmp_path, change, message):
    rng = np.random.default_rng(0)
    a = {"x_train": rng.integers(0, 256, (60, 28, 28), dtype=np.uint8), "y_train": np.arange(60) % 3,
         "x_test": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), "y_test": np.arange(30) % 3}
    change(a)
    np.savez(tmp_path / "mine.npz", **a)
    with pytest.raises(data.DataError, match=message) as err:
        data.open_dataset(tmp_path / "mine.npz")
    assert str(tmp_path / "mine.npz") in str(err.value)


def test_a_file_that_is_not_npz(tmp_path):
    (tmp_path / "images.zip").write_bytes(b"PK")
    with pytest.raises(data.DataError, match="images.zip is a file but not an .npz file"):
        data.open_dataset(tmp_path / "images.zip")


def test_path_dataset_is_cached_in_the_run_folder(image_folder, tmp_path):
    ds = data.open_dataset(image_folder)
    split = data.make_split(ds.y_train, ds.y_test, ["cat", "dog"], val_fraction=0.25, classes=ds.classes, source=ds.source)
    run_dir = tmp_path / "run"
    data.save_split(run_dir, split, {"dataset": ds.source, "anomaly_digits": [2], **ds.summary()}, ds)
    assert data.read_json(run_dir / "split.json")["dataset_digest"] == data.digest(ds)
    shutil.rmtree(image_folder)  # later notebooks read the run's copy, not the folder
    x, digits, is_anomaly = data.load_split(run_dir, "test")
    np.testing.assert_array_equal(x, data.scale(ds.x_test[split["test"]]))
    np.testing.assert_array_equal(is_anomaly, digits == 2)
    with np.load(run_dir / "dataset.npz") as f:
        assert list(f["class_names"]) == ["cat", "dog", "owl"] and f["files_test"][0] == "test/cat/000.png"


def test_export_folder_round_trip(tiny_dataset, tmp_path):
    data_dir, a = tiny_dataset
    written = data.export_folder("mnist", tmp_path / "out" / "digits", max_per_class=12, data_dir=data_dir)
    assert written == {"train": 120, "test": 120}
    ds = data.open_dataset(tmp_path / "out" / "digits")
    assert ds.classes == tuple(str(d) for d in range(10)) and not ds.resized and not ds.colour
    for d in range(10):
        np.testing.assert_array_equal(ds.x_train[ds.y_train == d], a["x_train"][a["y_train"] == d][:12])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["digits"]  # no temporary folder left
    with pytest.raises(data.DataError, match="already exists and is not empty"):
        data.export_folder("mnist", tmp_path / "out" / "digits", data_dir=data_dir)


def test_export_folder_command(tmp_path, capsys):
    from gan_ad.__main__ import main

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mine.npz", x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), y_train=np.arange(40) % 2,
             x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), y_test=np.arange(20) % 2, class_names=np.array(["a/b", "c"]))
    assert main(["export-folder", str(tmp_path / "mine.npz"), str(tmp_path / "f"), "--max-per-class", "10"]) == 0
    assert "Wrote 20 training and 20 test images" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "f" / "train").iterdir()) == ["a_b", "c"]
    assert main(["export-folder", str(tmp_path / "nope.npz"), str(tmp_path / "g")]) == 2
    assert "Unknown dataset" in capsys.readouterr().err and not (tmp_path / "g").exists()


def test_stratified_indices_keep_each_class_in_its_share_and_are_seeded():
    classes = np.repeat([0, 1, 2, 7], [500, 300, 150, 50])  # shares 50 %, 30 %, 15 %, 5 %
    idx = data.stratified_indices(classes, 101, seed=3)
    assert len(idx) == 101 and len(set(idx)) == 101 and (np.diff(idx) > 0).all()
    assert np.bincount(classes[idx], minlength=8)[[0, 1, 2, 7]].tolist() == [51, 30, 15, 5]  # 50.5 rounded up: the largest remainder
    np.testing.assert_array_equal(idx, data.stratified_indices(classes, 101, seed=3))
    assert not np.array_equal(idx, data.stratified_indices(classes, 101, seed=4))
    np.testing.assert_array_equal(data.stratified_indices(classes, 0), np.arange(1000))  # 0: all
    np.testing.assert_array_equal(data.stratified_indices(classes, 5000), np.arange(1000))
