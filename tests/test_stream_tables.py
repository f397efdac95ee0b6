"""Streamed runs of tables with text columns and missing cells (issue 16): the preprocessing
fitted in one pass equals the in-memory run's, the table options stream, a touched data file
keeps its cache, and a run over a .npy needs no pandas."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deepff.cli import main
from deepff.io import stream
from deepff.io.datasets import load_data
from deepff.runs.options import check_options
from deepff.runs.prepare import prepare_rows
from deepff.runs.run import load_model
from deepff.runs.streamed import _split, train_streamed

CITIES = ["paris", "rome", "oslo", "lima", "quito"]


def _messy_rows(m, seed):
    """Rows of a table with a text column, missing cells, numbers polluted by '?', an ID;
    one city ("quito") only on a row the runs of ``OPTIONS`` hold out for testing."""
    rng = np.random.default_rng(seed)
    unseen = _split(m, check_options(OPTIONS))[2][0]
    rows = []
    for i in range(m):
        x = rng.normal() * 3 + 1
        city = "quito" if i == unseen else CITIES[rng.integers(len(CITIES) - 1)]
        label = "yes" if (x > 1) != (city == "rome") else "no"
        rows.append(
            {
                "x": None if i % 17 == 0 else round(float(x), 6),
                "city": None if i % 23 == 0 else city,
                "n": "?" if i % 31 == 0 else str(int(rng.integers(0, 5))),
                "z": round(float(rng.normal()), 5),
                "id": f"r{i}",
                "label": label,
            }
        )
    return rows


def _messy_csv(path, m=700, seed=0):
    rows = _messy_rows(m, seed)
    text = ["x,city,n,z,id,label"]
    for row in rows:
        cells = ["" if row[k] is None else str(row[k]) for k in ("x", "city", "n", "z", "id")]
        text.append(",".join([*cells, row["label"]]))
    path.write_text("\n".join(text) + "\n")
    return path


def _messy_parquet(path, m=700, seed=0):
    import pandas as pd

    frame = pd.DataFrame(_messy_rows(m, seed))
    frame["n"] = frame["n"].astype(object)
    frame.to_parquet(path)
    return path


OPTIONS = {
    "shuffle": "windowed",
    "epochs": 3,
    "layers": [8],
    "impute": "mean",
    "numeric": ["n"],
    "category": ["z"],
    "id_column": "id",
    "seed": 2,
}


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize(
    "extra", [{}, {"category": None, "scale": "minmax", "categorical": "embedding"}]
)
def test_streamed_preprocessing_equals_the_in_memory_runs_and_so_do_its_scores(
    tmp_path, kind, extra
):
    data = (_messy_csv if kind == "csv" else _messy_parquet)(tmp_path / f"d.{kind}")
    options = {**OPTIONS, **extra}
    result = train_streamed(data, options, tmp_path / "run", figures=False)
    network, streamed, _ = load_model(tmp_path / "run")
    # the in-memory run's preprocessing, fitted on the same training rows
    dataset = load_data(str(data), target="label", impute="mean")
    train, val, test = _split(len(dataset.y), check_options(options))
    with dataset:
        prepared = prepare_rows(
            dataset, options, train, val, test, task="classification", classes=network.classes_
        )
    memory = prepared.preprocessor
    assert type(streamed) is type(memory)
    config, expected = streamed.get_config(), memory.get_config()
    assert {k: v for k, v in config.items() if k != "fill"} == {
        k: v for k, v in expected.items() if k != "fill"
    }
    assert config["fill"].keys() == expected["fill"].keys()
    for name, value in expected["fill"].items():
        if isinstance(value, str):
            assert config["fill"][name] == value  # a text column's mode
        else:
            np.testing.assert_allclose(config["fill"][name], value, rtol=1e-12)
    np.testing.assert_allclose(streamed.offset, memory.offset, rtol=1e-12)
    np.testing.assert_allclose(streamed.multiplier, memory.multiplier, rtol=1e-12)
    assert "quito" not in (config["categories"].get("city") or config["embedded"]["city"])
    # the network with these weights scores the in-memory arrays as the run streamed them
    for part, X, y in (("train", prepared.X_train, prepared.y_train),
                       ("test", prepared.X_test, prepared.y_test)):  # fmt: skip
        scores = network.evaluate(X, y)
        assert result["metrics"][part]["examples"] == len(y)
        np.testing.assert_allclose(result["metrics"][part]["loss"], scores["loss"], rtol=1e-5)
        np.testing.assert_allclose(result["metrics"][part]["accuracy"], scores["accuracy"])


def test_streamed_features_are_the_in_memory_transforms_bit_for_bit(tmp_path):
    data = _messy_csv(tmp_path / "d.csv")
    result = train_streamed(data, OPTIONS, tmp_path / "run", figures=False)
    _, pre, _ = load_model(tmp_path / "run")
    source = stream.open_source(data, cache=tmp_path / "run" / "data.npy")
    dataset = load_data(str(data), target="label", impute="mean")
    with dataset:
        raw = pre.transform(dataset.X)
    network = result["network"]
    streamed = _streamed_inputs(source, network)
    np.testing.assert_array_equal(streamed, raw)  # the same float64 steps, then float32
    np.testing.assert_array_equal(network.predict_proba(streamed), network.predict_proba(raw))


def _streamed_inputs(source, network):
    """A streamed run's inputs of every row of its cache (its fitted Preprocessor's)."""
    from deepff.runs import streamed

    options = check_options(OPTIONS)
    target = source.column_index("label")
    pre = streamed._preprocessor(source, target, _split(source.n_rows, options)[0], options)
    return streamed._inputs(pre, network)(np.asarray(source.read(0, None)))


def test_table_options_stream_and_predict_reads_raw_rows(tmp_path, capsys):
    data = _messy_csv(tmp_path / "d.csv")
    out = tmp_path / "run"
    args = ["train", str(data), "--shuffle", "windowed", "--out", str(out), "--quiet"]
    flags = ["--impute", "mean", "--numeric", "n", "--drop", "z", "--id-column", "id"]
    assert main([*args, *flags, "--epochs", "2"]) == 0
    _, pre, _ = load_model(out)
    assert pre.columns == ["x", "city", "n"] and pre.numeric == ["x", "n"]
    assert sorted(pre.categories["city"]) == sorted(CITIES[:-1])  # quito: not a training row
    capsys.readouterr()
    assert main(["predict", str(out), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "id,prediction" and lines[1].startswith("r0,")
    assert len(lines) == 701 and {line.split(",")[1] for line in lines[1:]} <= {"no", "yes"}
    capsys.readouterr()
    assert main(["evaluate", str(out), str(data), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["examples"] == 700
    assert main(["evaluate", str(out), str(data), "--json", "--stream"]) == 0
    chunked = json.loads(capsys.readouterr().out)
    assert chunked["confusion_matrix"] == whole["confusion_matrix"]
    np.testing.assert_allclose(chunked["loss"], whole["loss"], rtol=1e-6)
    streamed = tmp_path / "s.csv"
    assert main(["predict", str(out), str(data), "--out", str(streamed), "--stream"]) == 0
    assert streamed.read_bytes() == (tmp_path / "p.csv").read_bytes()


def test_missing_cells_without_impute_are_refused_naming_the_first(tmp_path, capsys):
    data = _messy_csv(tmp_path / "d.csv")
    out = tmp_path / "run"
    args = ["train", str(data), "--shuffle", "windowed", "--out", str(out), "--quiet"]
    assert main([*args, "--numeric", "n"]) == 2
    err = capsys.readouterr().err
    assert "d.csv: missing value in column 'x' at row 1 (line 2 of the file)" in err
    assert "use --impute mean" in err and len(err.splitlines()) == 1
    assert not (out / "model.safetensors").exists()


def _touch(path):
    info = os.stat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))


def _parses(monkeypatch):
    calls = []
    write = stream._write_cache

    def spy(path, partial, chunk_rows):
        calls.append(path)
        return write(path, partial, chunk_rows)

    monkeypatch.setattr(stream, "_write_cache", spy)
    return calls


def test_a_touched_data_file_resumes_on_its_cache_and_a_run_remakes_its_own(
    tmp_path, capsys, monkeypatch
):
    data = _messy_csv(tmp_path / "d.csv")
    out = tmp_path / "run"
    train = ["train", str(data), "--shuffle", "windowed", "--impute", "mean", "--quiet"]
    assert main([*train, "--out", str(out), "--epochs", "1"]) == 0
    parses = _parses(monkeypatch)
    _touch(data)  # the same bytes, another time: the run's fingerprint still matches
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
    record = json.loads((out / "data.npy.json").read_text())
    assert parses == [] and record["mtime_ns"] == os.stat(data).st_mtime_ns  # kept, updated
    # a record that cannot prove the bytes (no fingerprint: an older deepff's): the run's
    # own cache is made again, where a cache the user named is refused
    del record["fingerprint"]
    (out / "data.npy.json").write_text(json.dumps(record))
    _touch(data)
    assert main(["train", "--resume", str(out), "--epochs", "3", "--quiet"]) == 0
    assert len(parses) == 1
    named = tmp_path / "named.npy"
    assert main([*train, "--out", str(tmp_path / "a"), "--cache", str(named)]) == 0
    record = json.loads((tmp_path / "named.npy.json").read_text())
    del record["fingerprint"]
    (tmp_path / "named.npy.json").write_text(json.dumps(record))
    _touch(data)
    capsys.readouterr()
    assert main([*train, "--out", str(tmp_path / "b"), "--cache", str(named)]) == 2
    assert "this cache was made from other data" in capsys.readouterr().err


def test_a_streamed_run_over_a_npy_fits_its_preprocessing_without_pandas(tmp_path):
    X = np.random.default_rng(0).normal(size=(2000, 4)).astype(np.float32)
    np.save(tmp_path / "d.npy", np.c_[X, X[:, 0] > 0])
    script = (
        "import sys\n"
        "from deepff.runs.streamed import train_streamed\n"
        f"train_streamed({str(tmp_path / 'd.npy')!r}, {{'shuffle': 'windowed', 'epochs': 1,"
        f" 'layers': [4]}}, {str(tmp_path / 'run')!r}, figures=False)\n"
        "print(sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    _, pre, _ = load_model(tmp_path / "run")
    assert pre.kind == "table" and pre.columns == ["0", "1", "2", "3"]


def test_the_category_limit_is_the_in_memory_runs_too(monkeypatch):
    import pandas as pd

    from deepff.io import coded
    from deepff.runs.preprocessing import Preprocessor

    monkeypatch.setattr(coded, "MAX_CATEGORIES", 3)
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "user": ["a", "b", "c", "d"]})
    with pytest.raises(ValueError, match="column 'user' has 4 distinct values, more than the 3"):
        Preprocessor().fit(frame)
    assert Preprocessor(drop=["user"]).fit(frame).columns == ["x"]


def test_a_streamed_run_says_what_each_column_became(tmp_path, capsys):
    """The in-memory run's column table, without the warnings that need the rows in memory."""
    data = _messy_csv(tmp_path / "d.csv")
    flags = ["--impute", "mean", "--numeric", "n", "--drop", "z", "--id-column", "id"]
    args = ["train", str(data), "--shuffle", "windowed", "--epochs", "1", *flags]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out.splitlines()
    start = printed.index("target: 'label' (the last column; choose another with --target COL)")
    assert printed[start + 1] == "columns (5 -> 6 inputs):"
    assert [line.split(None, 1) for line in printed[start + 2 : start + 7]] == [
        ["x", "numeric"],
        ["city", "category, one-hot (4 values)"],
        ["n", "numeric (as asked)"],
        ["z", "dropped (--drop)"],
        ["id", "ID (--id-column: not a feature; copied into predictions)"],
    ]
