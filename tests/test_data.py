import numpy as np
import pytest

from gan_ad import data


def test_load_dataset_reads_the_cached_file(tiny_dataset):
    data_dir, arrays = tiny_dataset
    loaded = data.load_mnist(data_dir)
    for got, key in zip(loaded, data.KEYS):
        np.testing.assert_array_equal(got, arrays[key])


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
    assert [b.shape[0] for b in batches] == [4, 4]
    with pytest.raises(data.DataError, match="fewer than one batch"):
        data.train_dataset(x, batch_size=11)
