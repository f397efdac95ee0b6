"""Issue 18, the first hour with real data: a messy CSV driven through ``deepff`` as a user
would, and what they see (messages, files, outputs)."""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deepff.cli import main

ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}

FAST = ["--epochs", "3", "--layers", "8", "-q"]


def messy_rows(n=120, seed=0):
    """A customer table: an ID, a number with '?' placeholders, text, a string label."""
    rng = np.random.default_rng(seed)
    rows = [["customer_id", "age", "income", "city", "plan", "label"]]
    for i in range(n):
        age = "" if i % 17 == 0 else str(int(rng.integers(18, 80)))
        income = rng.normal(50, 10)
        text = "?" if i % 23 == 0 else f"{income:.2f}"
        city = ["paris", "lyon", "nice", "lille"][int(rng.integers(4))]
        plan = ["basic", "pro"][int(rng.integers(2))]
        label = "yes" if income + (10 if plan == "pro" else 0) > 55 else "no"
        rows.append([f"C{1000 + i}", age, text, city, plan, label])
    return rows


def write_messy(path, separator=",", n=120):
    text = "\n".join(separator.join(row) for row in messy_rows(n)) + "\n"
    Path(path).write_text(text)
    return Path(path)


def run(capsys, *args):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_columns_are_said_out_loud(tmp_path, capsys):
    data = write_messy(tmp_path / "messy.csv")
    status, out, err = run(
        capsys, "train", data, "--impute", "median", "--out", tmp_path / "r", *FAST
    )
    assert status == 0, err
    assert "target: 'label' (the last column; choose another with --target COL)" in out
    assert "  age          numeric" in out
    assert "city         category, one-hot (4 values)" in out
    assert "column 'customer_id' has a different value on each of its 120 rows" in out
    assert "--id-column customer_id" in out
    assert "column 'income' holds numbers but for 1 text value: '?'" in out
    assert "--numeric income" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_drop_id_and_overrides_reach_predictions(tmp_path, capsys):
    data = write_messy(tmp_path / "messy.csv")
    status, out, err = run(
        capsys,
        "train",
        data,
        "--impute",
        "median",
        "--out",
        tmp_path / "r",
        "--id-column",
        "customer_id",
        "--numeric",
        "income",
        "--drop",
        "city",
        "--category",
        "age",
        "--target",
        "label",
        *FAST,
    )
    assert status == 0, err
    assert "target: 'label' (given by --target)" in out
    assert "customer_id  ID (--id-column: not a feature; copied into predictions)" in out
    assert "city         dropped (--drop)" in out
    assert "income       numeric (as asked)" in out
    assert "age          category" in out and "(as asked)" in out
    assert "warning" not in out
    status, out, err = run(capsys, "predict", tmp_path / "r", data, "--out", "-", "--proba")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "customer_id,prediction,proba_no,proba_yes"
    assert lines[1].startswith("C1000,")
    assert len(lines) == 121
    # Without the dropped column, the model still reads the data.
    rows = list(csv.reader(open(data)))
    reduced = tmp_path / "reduced.csv"
    with open(reduced, "w", newline="") as handle:
        csv.writer(handle).writerows([r[:3] + r[4:] for r in rows])
    status, out2, err = run(capsys, "predict", tmp_path / "r", reduced, "--out", "-")
    assert status == 0, err
    assert [line.split(",")[:2] for line in out2.splitlines()] == [
        line.split(",")[:2] for line in lines
    ]


def test_an_unknown_column_is_named(tmp_path, capsys):
    data = write_messy(tmp_path / "messy.csv")
    status, _, err = run(capsys, "train", data, "--drop", "nope", "--impute", "mean", *FAST)
    assert status == 2
    assert "no column 'nope'" in err and "customer_id" in err


def _compress(path, kind):
    raw = path.read_bytes()
    out = path.with_name(path.name + kind)
    if kind == ".gz":
        out.write_bytes(gzip.compress(raw))
    elif kind == ".bz2":
        out.write_bytes(bz2.compress(raw))
    elif kind == ".xz":
        out.write_bytes(lzma.compress(raw))
    else:
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr(path.name, raw)
    return out


@pytest.mark.parametrize("variant", [";", "\t", "|", ".gz", ".zip", ".bz2", ".xz", "parquet"])
def test_formats_read_alike(tmp_path, capsys, variant):
    plain = write_messy(tmp_path / "plain.csv")
    if variant in (";", "\t", "|"):
        data = write_messy(tmp_path / "other.csv", separator=variant)
    elif variant == "parquet":
        import pandas as pd

        data = tmp_path / "t.parquet"
        pd.read_csv(plain, keep_default_na=False, dtype=str).replace("", None).to_parquet(data)
    else:
        data = _compress(plain, variant)
    options = ["--impute", "median", "--numeric", "income", "--id-column", "customer_id"]
    metrics = []
    for source, out in ((plain, "a"), (data, "b")):
        status, _, err = run(capsys, "train", source, "--out", tmp_path / out, *options, *FAST)
        assert status == 0, err
        metrics.append(json.loads((tmp_path / out / "metrics.json").read_text()))
    if variant == "parquet":  # numbers as read by pyarrow: the same to float32
        assert metrics[0]["test"]["examples"] == metrics[1]["test"]["examples"]
    else:
        assert metrics[0] == metrics[1]


def test_every_csv_written_has_lf_line_endings(tmp_path, capsys):
    data = write_messy(tmp_path / "messy.csv")
    run(capsys, "train", data, "--impute", "mean", "--out", tmp_path / "r", *FAST)
    run(capsys, "predict", tmp_path / "r", data, "--out", tmp_path / "p.csv")
    written = [*tmp_path.joinpath("r").glob("*.csv"), tmp_path / "p.csv"]
    assert len(written) >= 4
    for path in written:
        assert b"\r" not in path.read_bytes(), path


def test_train_json_is_the_only_output(tmp_path):
    data = write_messy(tmp_path / "messy.csv")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepff",
            "train",
            str(data),
            "--impute",
            "mean",
            "--json",
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "2",
            "--layers",
            "4",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["epochs"] == 2 and parsed["metrics"]["test"]["examples"] == 24


def test_class_weight_balanced(tmp_path, capsys):
    data = write_messy(tmp_path / "messy.csv")
    status, _, err = run(
        capsys,
        "train",
        data,
        "--impute",
        "mean",
        "--class-weight",
        "balanced",
        "--out",
        tmp_path / "r",
        *FAST,
    )
    assert status == 0, err
    config = (tmp_path / "r" / "config.toml").read_text()
    assert 'class_weight = "balanced"' in config


def test_evaluate_answers_the_usual_questions(tmp_path, capsys):
    from sklearn import metrics

    from deepff.runs.run import load_model

    data = write_messy(tmp_path / "messy.csv")
    options = ["--impute", "median", "--numeric", "income", "--id-column", "customer_id"]
    run(capsys, "train", data, "--out", tmp_path / "r", *options, *FAST)
    assert (tmp_path / "r" / "calibration.png").stat().st_size > 0
    status, out, err = run(capsys, "evaluate", tmp_path / "r", data, "--json")
    assert status == 0, err
    report = json.loads(out)
    keys = "balanced_accuracy f1_macro f1_weighted precision_macro recall_weighted roc_auc"
    for key in [*keys.split(), "log_loss", "per_class", "confusion_matrix"]:
        assert key in report, key
    # The same numbers as scikit-learn's, on the same predictions.
    import pandas as pd

    network, pre, _ = load_model(tmp_path / "r" / "model.safetensors")
    frame = pd.read_csv(data)
    X = pre.transform(frame.drop(columns=["label"]))
    y = frame["label"].to_numpy()
    proba = network.predict_proba(X)
    assert report["roc_auc"] == pytest.approx(metrics.roc_auc_score(y == "yes", proba[:, 1]))
    assert report["f1_macro"] == pytest.approx(
        metrics.f1_score(y, network.predict(X), average="macro")
    )
    assert sum(map(sum, report["confusion_matrix"])) == 120
    status, out, err = run(capsys, "evaluate", tmp_path / "r", data)
    assert "balanced_accuracy" in out and "confusion matrix" in out
    assert all(len(line) <= 80 for line in out.splitlines()[1:])  # after the data's path


@pytest.mark.parametrize("units", [1, 3], ids=["sigmoid", "softmax"])
def test_evaluation_classifies_from_one_forward_pass(units, monkeypatch):
    """The report's predictions are ``predict``'s, taken from predict_proba's own pass."""
    from sklearn import metrics

    import deepff as dff
    from deepff.runs.evaluation import evaluation

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = np.array(["a", "b", "c"])[np.minimum((X[:, 0] > 0) + (X[:, 1] > 0.5) * (units - 1), 2)]
    activation = "sigmoid" if units == 1 else "softmax"
    net = dff.Network([dff.Dense(8), dff.Dense(units, activation=activation)], seed=0)
    net.fit(X, y, epochs=3, verbose=0)
    expected = metrics.confusion_matrix(y, net.predict(X), labels=net.classes_)
    passes = []
    forward = dff.Network._output
    monkeypatch.setattr(
        dff.Network, "_output", lambda self, X: passes.append(1) or forward(self, X)
    )
    report = evaluation(net, X, y)
    assert len(passes) == 1
    assert report["confusion_matrix"] == expected.tolist()
    assert report["accuracy"] == metrics.accuracy_score(y, net.predict(X))


def test_regression_evaluation(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 2))
    target = 3 * x[:, 0] - x[:, 1] + 10
    path = tmp_path / "reg.csv"
    path.write_text(
        "a,b,y\n"
        + "".join(f"{a:.4f},{b:.4f},{t:.4f}\n" for (a, b), t in zip(x, target, strict=True))
    )
    run(capsys, "train", path, "--out", tmp_path / "r", *FAST)
    status, out, err = run(capsys, "evaluate", tmp_path / "r", path, "--json")
    assert status == 0, err
    report = json.loads(out)
    assert {"mae", "rmse", "r2", "mape"} <= set(report)
    assert report["rmse"] >= report["mae"] > 0 and report["mape"] is not None
    assert (tmp_path / "r" / "residuals.png").exists()


def _onnx_feeds(session, path):
    """The raw rows of a CSV as a user feeds them: floats (NaN for blanks and text such as
    '?') for float inputs, the text ('' for blanks) for string inputs."""
    rows = list(csv.DictReader(open(path, newline="")))
    feeds = {}
    for spec in session.get_inputs():
        values = [row[spec.name] for row in rows]
        if spec.type == "tensor(string)":
            feeds[spec.name] = np.array(values, dtype=object).reshape(-1, 1)
        else:

            def number(text):
                try:
                    return float(text)
                except ValueError:
                    return np.nan

            feeds[spec.name] = np.array([number(v) for v in values], np.float32).reshape(-1, 1)
    return feeds


def many_cities(path, n=150):
    rng = np.random.default_rng(3)
    lines = ["id;score;town;tier;grade"]
    for i in range(n):
        score = "" if i % 13 == 0 else f"{rng.normal():.3f}"
        town = "" if i % 29 == 0 else f"town{int(rng.integers(30))}"
        tier = ["gold", "silver", "bronze"][i % 3]
        grade = int(rng.integers(3)) + 1 if score == "" else 1 + (float(score) > 0) + (i % 3 == 0)
        lines.append(f"{i};{score};{town};{tier};{grade}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "case",
    [
        ("messy", ["--numeric", "income", "--id-column", "customer_id", "--impute", "median"]),
        ("messy", ["--drop", "customer_id,income", "--impute", "mean", "--categorical", "onehot"]),
        ("cities", ["--id-column", "id", "--impute", "median", "--categorical", "embedding"]),
        ("cities", ["--drop", "id", "--impute", "mean", "--target", "score"]),
    ],
)
def test_onnx_stands_alone_on_raw_rows(tmp_path, capsys, case):
    import onnxruntime as ort

    name, options = case
    if name == "messy":
        data = write_messy(tmp_path / "messy.csv")
    else:
        data = many_cities(tmp_path / "cities.csv")
    if "score" in options:  # regression on the rows with a score
        lines = data.read_text().splitlines()
        data.write_text("\n".join([lines[0], *(x for x in lines[1:] if x.split(";")[1])]) + "\n")
    status, _, err = run(capsys, "train", data, "--out", tmp_path / "r", *options, *FAST)
    assert status == 0, err
    status, out, err = run(capsys, "export", tmp_path / "r", "--onnx", tmp_path / "m.onnx")
    assert status == 0, err
    assert "outputs" in out
    status, out, err = run(capsys, "predict", tmp_path / "r", data, "--out", "-", "--proba")
    if "score" in options:
        status, out, err = run(capsys, "predict", tmp_path / "r", data, "--out", "-")
    assert status == 0, err
    expected = list(csv.DictReader(out.splitlines()))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    if data.suffix == ".csv" and ";" in data.read_text().splitlines()[0]:
        semi = tmp_path / "comma.csv"
        semi.write_text(data.read_text().replace(";", ","))
        data = semi
    results = dict(
        zip(
            [o.name for o in session.get_outputs()],
            session.run(None, _onnx_feeds(session, data)),
            strict=True,
        )
    )
    if "prediction" in results:
        got = results["prediction"][:, 0]
        want = np.array([float(row["prediction"]) for row in expected])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        return
    assert [str(v) for v in results["label"]] == [row["prediction"] for row in expected]
    columns = [c for c in expected[0] if c.startswith("proba_")]
    want = np.array([[float(row[c]) for c in columns] for row in expected])
    np.testing.assert_allclose(results["probabilities"], want, atol=1e-5)


def test_info_json(tmp_path, capsys):
    data = write_messy(tmp_path / "messy.csv")
    options = ["--impute", "median", "--numeric", "income", "--id-column", "customer_id"]
    run(capsys, "train", data, "--out", tmp_path / "r", *options, *FAST)
    status, out, err = run(capsys, "info", tmp_path / "r", "--json")
    assert status == 0, err
    info = json.loads(out)
    assert info["task"] == "classification" and info["classes"] == ["no", "yes"]
    assert info["columns"] == {
        "age": "numeric",
        "income": "numeric",
        "city": "one-hot",
        "plan": "one-hot",
    }
    assert info["options"]["id_column"] == "customer_id"
