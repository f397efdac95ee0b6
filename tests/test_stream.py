"""Streamed data (issue 16, part 1): sources, the text cache, one-pass moments, shuffles,
training and prediction over a source."""

import gzip
import json
import os

import numpy as np
import pytest

import deepff as dff
from deepff.batching import ArrayBatches
from deepff.callbacks import Callback
from deepff.io import coded
from deepff.io.datasets import DataError
from deepff.io.stream import (
    ArraySource,
    DataChanged,
    HDF5Source,
    NpySource,
    SourceBatches,
    build_cache,
    fit_source,
    moments,
    open_source,
    predict_source,
    unique_values,
)
from deepff.sharding import ShardedBatches, epoch_order, global_batches


def _table(m=500, n=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=3.0, scale=[1.0, 10.0, 0.01, 1e3][:n], size=(m, n))
    y = (X[:, 0] - 3.0 + X[:, 1] / 10 > 0).astype(float)
    return np.c_[X, y]


def _csv(path, table, opener=open):
    with opener(path, "wt") as handle:
        handle.write(",".join(f"c{i}" for i in range(table.shape[1] - 1)) + ",label\n")
        for row in table:
            handle.write(",".join(repr(float(v)) for v in row) + "\n")
    return path


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 10_000])
def test_moments_match_the_in_memory_statistics_to_float64_rounding(chunk_rows):
    X = _table(1000)[:, :4]
    X[np.random.default_rng(1).random(X.shape) < 0.05] = np.nan
    stats = moments(ArraySource(X), chunk_rows=chunk_rows)
    np.testing.assert_array_equal(stats.count, (~np.isnan(X)).sum(axis=0))
    np.testing.assert_allclose(stats.mean, np.nanmean(X, axis=0), rtol=1e-14, atol=0)
    np.testing.assert_allclose(stats.var, np.nanvar(X, axis=0), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(stats.minimum, np.nanmin(X, axis=0))
    np.testing.assert_array_equal(stats.maximum, np.nanmax(X, axis=0))


def test_an_array_source_does_not_copy_float32_c_contiguous_data():
    X = np.zeros((10, 3), np.float32)
    source = open_source(X)
    assert np.shares_memory(source.array, X) and np.shares_memory(source.read(2, 5), X)


def test_csv_gz_and_parquet_are_parsed_once_into_a_memory_mapped_cache(tmp_path):
    table = _table(300).astype(np.float32)
    for name, opener in (("d.csv", open), ("d.csv.gz", gzip.open)):
        source = open_source(
            _csv(tmp_path / name, table, opener), cache=tmp_path / f"{name}.npy", chunk_rows=64
        )
        assert isinstance(source, NpySource) and isinstance(source.array, np.memmap)
        np.testing.assert_array_equal(source.read(0, None), table)
        assert source.columns[-1] == "label"
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(
        pa.table({f"c{i}": table[:, i] for i in range(table.shape[1])}), tmp_path / "d.parquet"
    )
    source = open_source(tmp_path / "d.parquet", cache=tmp_path / "p.npy", chunk_rows=50)
    np.testing.assert_array_equal(source.read(0, None), table)


def test_a_cache_of_other_data_is_refused_and_a_bad_file_leaves_nothing(tmp_path, monkeypatch):
    first = _csv(tmp_path / "a.csv", _table(50))
    second = _csv(tmp_path / "b.csv", _table(60, seed=2))
    cache = tmp_path / "cache.npy"
    build_cache(first, cache)
    build_cache(first, cache)  # the same data: kept
    with pytest.raises(DataError, match="made from other data"):
        build_cache(second, cache)
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,2\n3,"x\n')  # an open quote: not a table
    with pytest.raises(DataError, match=r"bad\.csv: not a readable table"):
        build_cache(bad, tmp_path / "bad.npy", chunk_rows=1)
    assert not any(p.name.startswith("bad.npy") for p in tmp_path.iterdir())


def test_hdf5_is_read_by_blocks_and_rows_come_back_in_the_order_asked(tmp_path):
    h5py = pytest.importorskip("h5py")
    table = _table(100)
    with h5py.File(tmp_path / "d.h5", "w") as handle:
        handle.create_dataset("table", data=table, chunks=(16, table.shape[1]))
    source = open_source(tmp_path / "d.h5", dataset="table")
    assert isinstance(source, HDF5Source)
    rows = np.array([40, 3, 99, 0])
    np.testing.assert_array_equal(source.take(rows), table[rows])
    np.testing.assert_array_equal(source.read(10, 20), table[10:20])


def test_the_windowed_shuffle_is_a_permutation_fixed_by_the_seed():
    def order(seed):
        rng = np.random.default_rng(seed)
        return [
            np.concatenate(list(global_batches(epoch_order(1000, rng, "windowed", 64, 3), 50)))
            for _ in range(2)
        ]

    first, again, other = order(0), order(0), order(1)
    assert sorted(first[0].tolist()) == list(range(1000))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[0], other[0])
    # rows stay near each other: a batch spans one window of 3 chunks of 64, or two
    # (the rows carried over from the last window)
    for batch in global_batches(epoch_order(1000, np.random.default_rng(0), "windowed", 64, 3), 50):
        assert len(np.unique(batch // 64)) <= 6


def test_an_exact_shuffle_over_a_source_gives_the_batches_of_arrays_in_memory():
    table = _table(103)
    X, Y = table[:, :-1], table[:, -1:]
    memory = ArrayBatches(X, Y, batch_size=10, shuffle=True)
    streamed = SourceBatches(
        ArraySource(table), target=-1, batch_size=10, shuffle="exact", dtype="float64"
    )
    sharded = ShardedBatches(X, Y, batch_size=10, shuffle="exact")
    for (a, b, _), (c, d, _), (e, f, _) in zip(
        memory.epoch(np.random.default_rng(5)),
        streamed.epoch(np.random.default_rng(5)),
        sharded.epoch(np.random.default_rng(5)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
        np.testing.assert_array_equal(a, e)
        np.testing.assert_array_equal(b, f)


def _network():
    return dff.Network(
        [dff.Dense(6, activation="relu"), dff.Dense(1, activation="sigmoid")],
        optimizer=dff.Adam(0.01),
        seed=4,
        dtype="float64",
    )


def test_fit_over_a_cached_csv_equals_fit_in_memory_with_the_same_scaling(tmp_path):
    table = _table(400)
    source = open_source(_csv(tmp_path / "d.csv", table), cache=tmp_path / "d.npy")
    streamed = _network()
    fit_source(streamed, source, "label", epochs=3, batch_size=32, shuffle="exact", chunk_rows=37)
    stored = source.read(0, None).astype(np.float64)
    X = stored[:, :-1]
    mean, std = X.mean(axis=0), X.std(axis=0)
    memory = _network()
    memory.fit((X - mean) / std, stored[:, -1], epochs=3, batch_size=32, verbose=0)
    np.testing.assert_allclose(streamed.parameters, memory.parameters, rtol=0, atol=1e-10)
    assert unique_values(source, "label").tolist() == [0.0, 1.0]


def test_the_windowed_shuffle_trains_as_well(tmp_path):
    net = _network()
    history = fit_source(
        net, ArraySource(_table(2000)), -1, epochs=8, batch_size=32, chunk_rows=64, window=4
    )
    assert history.history["accuracy"][-1] > 0.9


class _Touch(Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path, "ab") as handle:
            handle.write(b"1,2,3,4,0\n")


def test_a_file_that_changes_during_training_stops_it_with_a_clear_error(tmp_path):
    csv = _csv(tmp_path / "d.csv", _table(100))
    source = open_source(csv, cache=tmp_path / "d.npy")
    with pytest.raises(DataChanged, match="changed while training"):
        fit_source(_network(), source, "label", epochs=3, callbacks=[_Touch(csv)])
    npy = tmp_path / "x.npy"
    np.save(npy, _table(100))
    with pytest.raises(DataChanged, match="changed while training"):
        fit_source(_network(), NpySource(npy), -1, epochs=3, callbacks=[_Touch(npy)])


def test_predict_and_evaluate_stream_and_write_as_they_go(tmp_path):
    table = _table(300)
    net = _network()
    fit_source(net, ArraySource(table), -1, epochs=5, batch_size=16)
    out = tmp_path / "pred.csv"
    result = predict_source(net, ArraySource(table), out, target=-1, chunk_rows=64)
    lines = out.read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 301
    scaling = net.metadata["scaling"]
    X = (table[:, :-1] - scaling["mean"]) / np.asarray(scaling["scale"])
    expected = net.predict(X)
    np.testing.assert_array_equal(np.array(lines[1:], dtype=float), expected.ravel())
    assert result["accuracy"] == pytest.approx(np.mean(expected.ravel() == table[:, -1]))
    assert not os.path.exists(str(out) + ".part")


def test_deepff_predict_stream_writes_what_predict_writes(tmp_path):
    from deepff.cli import main

    rng = np.random.default_rng(0)
    m = 3000
    rows = ["id,x,colour,n,label"]
    for i in range(m):
        x, colour = rng.normal(), rng.choice(["red", "green", "blue"])
        label = "yes" if (x > 0) ^ (colour == "red") else "no"
        rows.append(f"{i},{x!r},{colour},{rng.integers(0, 5)},{label}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    run = str(tmp_path / "run")
    common = ["--epochs", "3", "--seed", "0", "--quiet", "--id-column", "id"]
    assert main(["train", str(tmp_path / "t.csv"), "--out", run, *common]) == 0
    for extra in ([], ["--stream"]):
        out = str(tmp_path / f"p{len(extra)}.csv")
        assert main(["predict", run, str(tmp_path / "t.csv"), "--out", out, "--proba", *extra]) == 0
    whole, streamed = (tmp_path / "p0.csv").read_text(), (tmp_path / "p1.csv").read_text()
    assert streamed == whole and streamed.startswith("id,prediction,proba_no,proba_yes\n")


def test_the_estimators_train_on_a_cached_csv_by_partial_fit(tmp_path):
    pytest.importorskip("sklearn")
    from deepff.estimators import DNNClassifier
    from deepff.io.stream import partial_fit_source

    table = _table(2000)
    table[:, :-1] = (table[:, :-1] - table[:, :-1].mean(axis=0)) / table[:, :-1].std(axis=0)
    source = open_source(_csv(tmp_path / "d.csv", table), cache=tmp_path / "d.npy")
    model = DNNClassifier((16,), random_state=0, learning_rate_init=0.01)
    calls = []
    original = model.partial_fit
    model.partial_fit = lambda X, y, **kw: calls.append(len(X)) or original(X, y, **kw)
    partial_fit_source(model, source, "label", epochs=3, chunk_rows=256)
    assert sum(calls) == 3 * 2000 and max(calls) == 256  # every row, every epoch, by chunks
    assert model.classes_.tolist() == [0.0, 1.0]
    assert model.score(table[:, :-1], table[:, -1]) > 0.9


def test_deepff_train_shuffle_windowed_streams_a_csv_and_writes_a_run(tmp_path, capsys):
    from deepff.cli import main
    from deepff.runs.run import load_model

    csv = _csv(tmp_path / "d.csv", _table(3000))
    run = tmp_path / "run"
    args = ["train", str(csv), "--shuffle", "windowed", "--out", str(run), "--epochs", "4"]
    assert main([*args, "--seed", "1", "--quiet"]) == 0
    assert {"model.safetensors", "config.toml", "history.csv", "metrics.json", "data.npy"} <= {
        p.name for p in run.iterdir()
    }
    network, _, metadata = load_model(run)
    assert metadata["run"]["data"]["streamed"] and network.epoch == 4
    assert metadata["metrics"]["test"]["accuracy"] > 0.9
    examples = metadata["run"]["data"]["examples"]
    assert sum(examples.values()) == 3000 and examples["test"] > examples["val"] > 0
    capsys.readouterr()
    assert main(["evaluate", str(run), str(csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] > 0.9
    # the same data and seed give the same run; a cache of other data is refused
    again = tmp_path / "again"
    assert main([*args[:5], str(again), *args[6:], "--seed", "1", "--quiet"]) == 0
    assert dff.load(again / "model.safetensors").parameters.tolist() == network.parameters.tolist()
    other = _csv(tmp_path / "other.csv", _table(100, seed=3))
    refused = ["train", str(other), "--shuffle", "windowed", "--cache", str(run / "data.npy")]
    assert main([*refused, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "made from other data" in capsys.readouterr().err
    assert not (tmp_path / "x" / "model.safetensors").exists()
    # a finished run goes on for more epochs (tests/test_stream_runs.py: the checkpoints)
    assert main(["train", "--resume", str(run), "--epochs", "5", "--quiet"]) == 0
    assert dff.load(run / "model.safetensors").epoch == 5


def test_a_category_column_past_the_limit_is_let_go_and_refused_unless_dropped(
    tmp_path, capsys, monkeypatch
):
    from deepff.cli import main

    monkeypatch.setattr(coded, "MAX_CATEGORIES", 5)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,user,label\n" + "".join(f"{i},u{i},{i % 2}\n" for i in range(40)))
    cache = build_cache(bad, tmp_path / "c.npy", chunk_rows=4)  # stops at the 6th value
    record = json.loads((tmp_path / "c.npy.json").read_text())
    assert record["overflow"] == {"user": 8} and record["levels"]["user"] is None
    assert np.isnan(NpySource(cache).read(0, None)[4:, 1]).all()  # no codes from there on
    out = tmp_path / "run"
    args = ["train", str(bad), "--shuffle", "windowed", "--cache", str(cache), "--quiet"]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: column 'user' has at least 8 distinct values, more than the 5" in err
    assert "--drop user" in err and len(err.splitlines()) == 1
    assert not (out / "model.safetensors").exists()
    # dropped (or an ID), the column is no feature: the same cache trains the run
    assert main([*args, "--out", str(out), "--id-column", "user", "--epochs", "2"]) == 0


def test_blocks_of_a_sparse_split_span_a_bounded_stretch_of_the_file(monkeypatch):
    from deepff.io import stream

    monkeypatch.setattr(stream, "RELEASE_BYTES", 8 * 100)  # 100 rows of one float64 column
    source = ArraySource(np.arange(10_000.0)[:, None])
    rows = np.arange(3, 10_000, 10)  # a tenth of the rows, as a validation part
    got = [block.ravel() for block in stream.blocks(source, 64, rows)]
    assert np.concatenate(got).tolist() == rows.tolist()
    assert max(block[-1] - block[0] for block in got) < 100  # not 64 rows * 10 apart
    shuffled = [block.ravel() for block in stream.blocks(source, 64, rows[::-1])]
    assert np.concatenate(shuffled).tolist() == rows[::-1].tolist()  # any order still read
