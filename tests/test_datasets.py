"""deepff.io.datasets: built-in sets, CSV/TSV, NPZ, HDF5 and image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepff.io.datasets import BUILTIN, DataError, load_data

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.parametrize(
    ("name", "shape", "n_classes"),
    [
        ("digits", (1797, 64), 10),
        ("iris", (150, 4), 3),
        ("wine", (178, 13), 3),
        ("breast_cancer", (569, 30), 2),
    ],
)
def test_builtin_sets_match_scikit_learn(name, shape, n_classes):
    sk = pytest.importorskip("sklearn.datasets")
    data = load_data(name)
    bunch = getattr(sk, f"load_{name}")()
    assert data.X.shape == shape and data.task == "classification" and data.name == name
    np.testing.assert_array_equal(data.X, bunch.data)
    np.testing.assert_array_equal(data.y, bunch.target)
    assert data.feature_names == [str(f) for f in bunch.feature_names]
    assert len(np.unique(data.y)) == n_classes
    assert set(BUILTIN) == {"digits", "iris", "wine", "breast_cancer"}


def test_missing_source_names_the_path_and_the_built_in_sets(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: no such file.*digits, iris"):
        load_data(tmp_path / "nope.csv")
    (tmp_path / "data.xyz").write_text("1,2\n")
    with pytest.raises(DataError, match=r"unknown data format '\.xyz'"):
        load_data(tmp_path / "data.xyz")


# --- CSV ------------------------------------------------------------------------------------


def write(path, text):
    path.write_text(text)
    return path


def test_csv_target_defaults_to_the_last_column_and_text_stays_text(tmp_path):
    path = write(tmp_path / "t.csv", "x,color,label\n1.5,red,yes\n2,blue,no\n3,red,yes\n")
    data = load_data(path)
    assert data.feature_names == ["x", "color"]
    assert data.y.tolist() == ["yes", "no", "yes"]
    assert data.X["x"].dtype == np.float32  # explicit dtypes: numbers as float32
    assert str(data.X["color"].dtype) == "category"  # text as categories, not Python strings
    data = load_data(path, target="x")
    assert data.feature_names == ["color", "label"] and data.y.tolist() == [1.5, 2.0, 3.0]


def test_tsv_and_unknown_target(tmp_path):
    path = write(tmp_path / "t.tsv", "a\tb\tc\n1\t2\t0\n3\t4\t1\n")
    data = load_data(path)
    assert data.X.shape == (2, 2) and data.y.tolist() == [0, 1]
    with pytest.raises(DataError, match=r"no column 'z'; columns are a, b, c"):
        load_data(path, target="z", require_target=True)
    # Without require_target a missing label column means unlabeled data (for predict).
    assert load_data(path, target="z").y is None


def test_csv_missing_values_are_refused_with_row_and_column_unless_imputed(tmp_path):
    path = write(tmp_path / "m.csv", "a,b,y\n1,2,0\n3,4,1\n5,,0\n")
    with pytest.raises(DataError, match=r"missing value in column 'b' at row 3 \(line 4"):
        load_data(path)
    data = load_data(path, impute="mean")
    assert np.isnan(data.X["b"].iloc[2])  # filled by the preprocessing, from training rows
    path = write(tmp_path / "n.csv", "a,y\n1,0\n2,\n")
    with pytest.raises(DataError, match="missing label in column 'y' at row 2"):
        load_data(path, impute="mean")
    with pytest.raises(DataError, match="impute must be 'mean' or 'median'"):
        load_data(path, impute="mode")


def test_csv_column_numeric_at_first_then_text(tmp_path, monkeypatch):
    import deepff.io.datasets as datasets

    monkeypatch.setattr(datasets, "_SNIFF_ROWS", 2)
    path = write(tmp_path / "late.csv", "a,b,y\n1,2,0\n3,4,1\nthree,5,0\n")
    data = load_data(path)
    assert str(data.X["a"].dtype) == "category" and data.X["b"].dtype == np.float32


def test_empty_csv(tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_data(write(tmp_path / "e.csv", ""))


# --- NPZ ------------------------------------------------------------------------------------


def test_npz_default_and_named_arrays(tmp_path):
    X, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 0, 1])
    np.savez(tmp_path / "a.npz", X=X, y=y)
    data = load_data(tmp_path / "a.npz")
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    np.savez(tmp_path / "b.npz", feats=X, labels=y, other=y)
    data = load_data(tmp_path / "b.npz", x_key="feats", y_key="other")
    np.testing.assert_array_equal(data.y, y)
    with pytest.raises(DataError, match="no array 'nope'; arrays are feats, labels, other"):
        load_data(tmp_path / "b.npz", x_key="nope")
    np.savez(tmp_path / "c.npz", X=X)
    assert load_data(tmp_path / "c.npz").y is None


def test_npz_lone_pair_and_object_arrays(tmp_path):
    np.savez(tmp_path / "p.npz", train_x=np.zeros((2, 2, 2)), train_y=np.array([0, 1]))
    data = load_data(tmp_path / "p.npz")
    assert data.X.shape == (2, 2, 2) and data.y.tolist() == [0, 1]
    np.savez(tmp_path / "o.npz", X=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match=r"o\.npz"):
        load_data(tmp_path / "o.npz")  # allow_pickle=False: never unpickled


@pytest.mark.skipif(not (DATA / "signs_cs230_64x64.npz").exists(), reason="no shared data")
def test_npz_with_several_pairs_needs_a_key():
    with pytest.raises(DataError, match="several"):
        load_data(DATA / "signs_cs230_64x64.npz")
    data = load_data(DATA / "signs_cs230_64x64.npz", x_key="val_x")
    assert data.X.shape == (216, 64, 64, 3) and data.y.shape == (216,)


# --- HDF5 -----------------------------------------------------------------------------------


def test_hdf5_keys_and_lazy_reading(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images_x"] = np.ones((5, 4, 4, 3), np.uint8)
        f["images_y"] = np.array([[0, 1, 1, 0, 1]])  # the course's (1, m) labels
        f["extra"] = np.zeros(3)
    with load_data(tmp_path / "d.h5") as data:
        assert isinstance(data.X, h5py.Dataset)  # read lazily, in chunks, by the preprocessing
        assert data.X.shape == (5, 4, 4, 3) and data.y.tolist() == [0, 1, 1, 0, 1]
    with pytest.raises(DataError, match="no dataset 'x'"):
        load_data(tmp_path / "d.h5", x_key="x")
    with pytest.raises(DataError, match="not a readable HDF5"):
        load_data(write(tmp_path / "bad.h5", "not hdf5"))


@pytest.mark.skipif(not (DATA / "train_catvnoncat.h5").exists(), reason="no shared cat data")
def test_cat_files():
    with load_data(DATA / "train_catvnoncat.h5") as data:
        assert data.X.shape == (209, 64, 64, 3) and data.X.dtype == np.uint8
        assert int(data.y.sum()) == 72 and data.class_names == ["non-cat", "cat"]


# --- image folders --------------------------------------------------------------------------


def test_image_folder_resizes_and_scales(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for label, size, value in (("a", (8, 6), 255), ("b", (16, 12), 0), ("b", (8, 6), 128)):
        folder = tmp_path / "imgs" / label
        folder.mkdir(parents=True, exist_ok=True)
        index = len(list(folder.iterdir()))
        Image.new("RGB", size, (value, value, value)).save(folder / f"{index}.png")
    (tmp_path / "imgs" / "notes.txt").write_text("ignored")
    data = load_data(tmp_path / "imgs")
    assert data.X.shape == (3, 6, 8, 3) and data.X.dtype == np.float32
    assert data.y.tolist() == ["a", "b", "b"] and data.task == "classification"
    np.testing.assert_allclose(data.X[:, 0, 0, 0], [1.0, 0.0, 128 / 255], atol=1e-6)
    data = load_data(tmp_path / "imgs", image_size=(3, 4))
    assert data.X.shape == (3, 3, 4, 3)
    unlabeled = load_data(tmp_path / "imgs" / "b")
    assert unlabeled.y is None and unlabeled.info["files"] == ["0.png", "1.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_data(tmp_path / "empty")
    write(tmp_path / "imgs" / "a" / "broken.jpg", "not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg: not a readable image"):
        load_data(tmp_path / "imgs")
