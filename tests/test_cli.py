"""The deepff command, driven as a user drives it: ``python -m deepff ...`` in a subprocess."""

from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

import deepff as dff
from deepff import serialization
from deepff.cli import main
from deepff.io.toml import read_toml
from deepff.runs.run import load_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ENV = {
    **os.environ,
    # Two shared cores: one BLAS thread per process keeps the timings sane.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


def deepff(*args, cwd, check=True, timeout=180):
    result = subprocess.run(
        [sys.executable, "-m", "deepff", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"deepff {' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def weights(path):
    return dff.load(path).parameters


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --- demo -------------------------------------------------------------------------------


def test_demo_trains_reports_and_writes_a_run(tmp_path):
    result = deepff("demo", "--epochs", "3", "--out", "demo", cwd=tmp_path)
    out = result.stdout
    assert "Epoch 3/3" in out  # progress, one plain line per epoch off a terminal
    assert "trainable parameters" in out  # the summary
    assert "Test accuracy:" in out
    assert "deepff info demo/model.safetensors" in out  # ends with commands to look
    run = tmp_path / "demo"
    for name in (
        "model.safetensors",
        "config.toml",
        "history.csv",
        "metrics.json",
        "learning_curves.png",
        "confusion_matrix.png",
    ):
        assert (run / name).stat().st_size > 0, name
    assert result.stderr == ""


# --- train / evaluate / predict on a built-in set ------------------------------------------


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("iris")
    deepff(
        "train",
        "iris",
        "--layers",
        "16",
        "--epochs",
        "25",
        "--batch-size",
        "16",
        "--learning-rate",
        "0.01",
        "--out",
        "run",
        "--quiet",
        cwd=cwd,
    )
    return cwd


def test_train_writes_the_run_directory(iris_run):
    run = iris_run / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"train", "val", "test"}
    for part in metrics.values():
        assert {"loss", "accuracy"} <= set(part)
    assert metrics["test"]["accuracy"] > 0.7
    history = read_csv(run / "history.csv")
    assert [int(r["epoch"]) for r in history] == list(range(1, 26))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    config = read_toml(run / "config.toml")
    assert config["data"] == "iris" and config["layers"] == [16] and config["epochs"] == 25
    assert (run / "confusion_matrix.png").stat().st_size > 0


def test_config_toml_reruns_the_same_training(iris_run):
    deepff("train", "--config", "run/config.toml", "--out", "rerun", "-q", cwd=iris_run)
    assert np.array_equal(
        weights(iris_run / "run/model.safetensors"), weights(iris_run / "rerun/model.safetensors")
    )


def test_evaluate_and_predict_round_trip(iris_run):
    model = iris_run / "run" / "model.safetensors"
    result = deepff("evaluate", model, "iris", "--json", cwd=iris_run)
    metrics = json.loads(result.stdout)
    assert metrics["accuracy"] > 0.7 and metrics["loss"] > 0 and metrics["examples"] == 150
    assert "accuracy" in deepff("evaluate", model, "iris", cwd=iris_run).stdout

    deepff("predict", model, "iris", "--out", "pred.csv", "--proba", cwd=iris_run)
    rows = read_csv(iris_run / "pred.csv")
    assert len(rows) == 150
    assert list(rows[0]) == ["prediction", "proba_setosa", "proba_versicolor", "proba_virginica"]
    proba = np.array([[float(v) for k, v in r.items() if k != "prediction"] for r in rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    # The command's predictions are the network's on the saved preprocessing.
    from deepff.io.datasets import load_data

    network, pre, _ = load_model(model)
    expected = network.predict(pre.transform(load_data("iris").X))
    assert [int(r["prediction"]) for r in rows] == expected.tolist()
    assert np.mean(expected == load_data("iris").y) == pytest.approx(metrics["accuracy"])


def test_info_plot_and_export(iris_run):
    model = iris_run / "run" / "model.safetensors"
    out = deepff("info", model, cwd=iris_run).stdout
    assert "classes (3): setosa, versicolor, virginica" in out
    assert "trainable parameters" in out and "layers = [16]" in out and "test" in out

    (iris_run / "run" / "learning_curves.png").unlink()
    deepff("plot", "run", cwd=iris_run)
    assert (iris_run / "run" / "learning_curves.png").stat().st_size > 0
    deepff("plot", "activations", "--out", "fig2.png", cwd=iris_run)
    assert (iris_run / "fig2.png").stat().st_size > 0

    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    deepff("export", model, "--onnx", "model.onnx", cwd=iris_run)
    from deepff.io.datasets import load_data

    X = load_data("iris").X.astype(np.float32)  # raw features: scaling is in the graph
    session = ort.InferenceSession(str(iris_run / "model.onnx"))
    (output,) = session.run(None, {session.get_inputs()[0].name: X})
    network, pre, _ = load_model(model)
    np.testing.assert_allclose(output, network.predict_proba(pre.transform(X)), atol=1e-5)


# --- files ------------------------------------------------------------------------------


def test_csv_with_a_string_label_column(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    size = rng.normal(size=n)
    shade = rng.choice(["light", "dark"], size=n)
    label = np.where(size + (shade == "dark") > 0.5, "big", "small")
    lines = ["size,shade,weight,label"]
    rows = zip(size, shade, label, strict=True)
    lines += [f"{s:.4f},{c},{rng.normal():.3f},{y}" for s, c, y in rows]
    (tmp_path / "things.csv").write_text("\n".join(lines) + "\n")
    deepff(
        "train",
        "things.csv",
        "--target",
        "label",
        "--layers",
        "8",
        "--epochs",
        "20",
        "--lr",
        "0.03",
        "--out",
        "run",
        "-q",
        cwd=tmp_path,
    )
    metrics = json.loads(
        deepff("evaluate", "run/model.safetensors", "things.csv", "--json", cwd=tmp_path).stdout
    )
    assert metrics["accuracy"] > 0.7
    deepff("predict", "run/model.safetensors", "things.csv", "--out", "p.csv", cwd=tmp_path)
    predicted = [r["prediction"] for r in read_csv(tmp_path / "p.csv")]
    assert len(predicted) == n and set(predicted) <= {"big", "small"}
    # The target column is optional at prediction time.
    (tmp_path / "new.csv").write_text("size,shade,weight\n2.0,dark,0.1\n-2.0,light,0.3\n")
    deepff("predict", "run/model.safetensors", "new.csv", "--out", "q.csv", cwd=tmp_path)
    assert [r["prediction"] for r in read_csv(tmp_path / "q.csv")] == ["big", "small"]


@pytest.mark.skipif(not (DATA / "train_catvnoncat.h5").exists(), reason="no shared cat data")
def test_cat_hdf5_files(tmp_path):
    deepff(
        "train",
        DATA / "train_catvnoncat.h5",
        "--layers",
        "7",
        "--epochs",
        "4",
        "--out",
        "cat",
        "-q",
        cwd=tmp_path,
    )
    result = deepff(
        "evaluate", "cat/model.safetensors", DATA / "test_catvnoncat.h5", "--json", cwd=tmp_path
    )
    metrics = json.loads(result.stdout)
    assert metrics["examples"] == 50 and 0 <= metrics["accuracy"] <= 1
    deepff(
        "predict",
        "cat/model.safetensors",
        DATA / "test_catvnoncat.h5",
        "--out",
        "p.csv",
        cwd=tmp_path,
    )
    assert {r["prediction"] for r in read_csv(tmp_path / "p.csv")} <= {"0", "1"}
    info = deepff("info", "cat/model.safetensors", cwd=tmp_path).stdout
    assert "non-cat, cat" in info and "64x64x3" in info


def _signs_folder(root, classes=("0", "1", "2"), per_class=10):
    tar_path = DATA / "signs_cs230_64x64_jpg.tar"
    counts = Counter()
    with tarfile.open(tar_path) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = PurePosixPath(member.name).name
            label = name.split("_")[0]
            if not member.isfile() or label not in classes or counts[label] >= per_class:
                continue
            counts[label] += 1
            folder = root / label
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(tar.extractfile(member).read())
    return root


@pytest.mark.skipif(not (DATA / "signs_cs230_64x64_jpg.tar").exists(), reason="no SIGNS tar")
def test_image_folder(tmp_path):
    _signs_folder(tmp_path / "signs")
    deepff("train", "signs", "--layers", "8", "--epochs", "4", "--out", "run", "-q", cwd=tmp_path)
    metrics = json.loads(deepff("evaluate", "run", "signs", "--json", cwd=tmp_path).stdout)
    assert metrics["examples"] == 30
    deepff("predict", "run", "signs", "--out", "p.csv", "--proba", cwd=tmp_path)
    rows = read_csv(tmp_path / "p.csv")
    assert len(rows) == 30 and rows[0]["file"].startswith("0/")
    assert list(rows[0])[2:] == ["proba_0", "proba_1", "proba_2"]


# --- resume -------------------------------------------------------------------------------


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    options = [
        "digits",
        "--layers",
        "32",
        "--epochs",
        "25",
        "--dropout",
        "0.2",
        "--batch-norm",
        "--early-stopping",
        "30",
        "--decay",
        "0.01",
        "-q",
    ]
    deepff("train", *options, "--out", "whole", cwd=tmp_path)

    command = [sys.executable, "-m", "deepff", "train", *options, "--out", "cut"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint = tmp_path / "cut" / "checkpoint.safetensors"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    epoch = serialization.read_metadata(checkpoint)["state"]["epoch"]
    assert 1 <= epoch < 25

    result = deepff("train", "--resume", "cut", cwd=tmp_path)
    assert f"Epoch {epoch + 1}/25" in result.stdout
    assert np.array_equal(
        weights(tmp_path / "whole/model.safetensors"), weights(tmp_path / "cut/model.safetensors")
    )
    assert (tmp_path / "whole/history.csv").read_text() == (
        tmp_path / "cut/history.csv"
    ).read_text()


def test_resume_extends_a_finished_run_and_keeps_an_early_stop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["--layers", "8", "--seed", "3", "-q"]
    assert main(["train", "iris", "--epochs", "3", "--out", "short", *common]) == 0
    assert main(["train", "iris", "--epochs", "5", "--out", "long", *common]) == 0
    assert main(["train", "--resume", "short", "--epochs", "5", "-q"]) == 0
    assert np.array_equal(weights("short/model.safetensors"), weights("long/model.safetensors"))
    assert len(read_csv(tmp_path / "short" / "history.csv")) == 5

    options = ["train", "iris", "--early-stopping", "0", "--epochs", "200", "--lr", "0.05"]
    assert main([*options, "--out", "stop", *common]) == 0
    model = dff.load("stop/model.safetensors")
    assert model.metadata["run"]["stopped_early"] and model.epoch < 200
    assert main(["train", "--resume", "stop", "-q"]) == 0  # stopped: nothing more to train
    assert np.array_equal(weights("stop/model.safetensors"), model.parameters)


# --- mistakes -----------------------------------------------------------------------------


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_pickle_disguised_as_a_model_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps(_Payload(str(marker))))
    for command in (
        ["info", "model.safetensors"],
        ["evaluate", "model.safetensors", "iris"],
        ["predict", "model.safetensors", "iris", "--out", "p.csv"],
    ):
        result = deepff(*command, cwd=tmp_path, check=False)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert "model.safetensors" in result.stderr
    assert not marker.exists()


@pytest.fixture(scope="module")
def mistakes_dir(tmp_path_factory, iris_run):
    root = tmp_path_factory.mktemp("mistakes")
    (root / "data.csv").write_text("a,b,label\n1,2,x\n3,,y\n5,6,x\n")
    (root / "bad.toml").write_text("layers = [4]\nlayrs = [3]\n")
    (root / "broken.toml").write_text("layers = [4\n")
    model = (iris_run / "run" / "model.safetensors").read_bytes()
    (root / "truncated.safetensors").write_bytes(model[: len(model) // 2])
    (root / "model.safetensors").write_bytes(model)
    (root / "notes.txt").write_text("hello\n")
    (root / "other.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    (root / "labels.csv").write_text("a,b,c,d,label\n1,2,3,4,7\n3,4,5,6,9\n")
    return root


MISTAKES = {
    "missing data file": ["train", "nosuch.csv"],
    "unknown built-in or file": ["train", "irises"],
    "unknown column": ["train", "data.csv", "--target", "nope"],
    "missing value": ["train", "data.csv"],
    "bad option value": ["train", "iris", "--dropout", "1.5"],
    "bad choice": ["train", "iris", "--scale", "big"],
    "bad number": ["train", "iris", "--epochs", "many"],
    "bad activation": ["train", "iris", "--activation", "swiglu"],
    "bad layers": ["train", "iris", "--layers", "8,x"],
    "unknown config option": ["train", "iris", "--config", "bad.toml"],
    "broken config": ["train", "iris", "--config", "broken.toml"],
    "missing config": ["train", "iris", "--config", "nosuch.toml"],
    "resume a non-run": ["train", "--resume", "."],
    "missing model file": ["evaluate", "nosuch.safetensors", "iris"],
    "wrong model file": ["evaluate", "data.csv", "iris"],
    "text as model": ["info", "notes.txt"],
    "truncated model": ["info", "truncated.safetensors"],
    "data for another model": ["evaluate", "model.safetensors", "other.csv"],
    "labels the model does not know": ["evaluate", "model.safetensors", "labels.csv"],
    "unknown command": ["fly"],
    "missing argument": ["predict", "model.safetensors", "iris"],
    "not a run directory": ["plot", "nosuchdir"],
    "missing data to predict": ["predict", "model.safetensors", "no.npz", "--out", "x.csv"],
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistakes_print_one_line_and_exit_2(name, mistakes_dir, capsys, monkeypatch):
    monkeypatch.chdir(mistakes_dir)
    status = main(MISTAKES[name])
    captured = capsys.readouterr()
    assert status == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("deepff")
    assert "Traceback" not in captured.err


def test_mistakes_in_a_real_process_and_debug_shows_the_traceback(mistakes_dir):
    result = deepff("evaluate", "truncated.safetensors", "iris", cwd=mistakes_dir, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "truncated.safetensors" in result.stderr
    assert result.stdout == ""
    result = deepff(
        "train", "data.csv", "--target", "nope", "--debug", cwd=mistakes_dir, check=False
    )
    assert result.returncode == 2 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("deepff: error:")
