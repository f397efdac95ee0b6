"""Streamed runs (issue 16): checkpoints and --resume, the figures, a streamed evaluate."""

import numpy as np
import pytest

import deepff as dff
from deepff.callbacks import Callback
from deepff.cli import main
from deepff.runs.run import CHECKPOINT_FILE, HISTORY_FILE, HistoryLog
from deepff.runs.streamed import train_streamed


def _csv(path, m=1200, seed=0, regression=False, n=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    y = X[:, 0] - 0.5 * X[:, 1] if regression else (X[:, 0] - X[:, 1] > 0).astype(int)
    names = [f"x{i}" for i in range(n)]
    rows = [",".join([*names, "label"])]
    rows += [",".join([*(f"{v:.9g}" for v in x), f"{t:.9g}"]) for x, t in zip(X, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


OPTIONS = {
    "shuffle": "windowed",
    "epochs": 5,
    "layers": [8],
    "dtype": "float64",
    "dropout": 0.1,  # the generator's state matters for the masks as for the order
    "batch_size": 32,
    "early_stopping": 3,
    "seed": 3,
}


class _Stop(Callback):
    """Ctrl-C at the end of epoch ``after`` (after the run's own checkpoint of it)."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("after", [1, 3])
def test_an_interrupted_streamed_run_resumed_ends_with_the_weights_of_a_straight_run(
    tmp_path, after
):
    data = _csv(tmp_path / "d.csv")
    straight = train_streamed(data, OPTIONS, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        train_streamed(data, OPTIONS, tmp_path / "run", callbacks=[_Stop(after)])
    assert dff.load(tmp_path / "run" / CHECKPOINT_FILE).epoch == after
    assert not (tmp_path / "run" / "model.safetensors").exists()
    resumed = train_streamed(data, OPTIONS, tmp_path / "run", resume=True)
    assert resumed["network"].epoch == straight["network"].epoch == 5
    assert resumed["network"].parameters.tolist() == straight["network"].parameters.tolist()
    assert resumed["metrics"] == straight["metrics"]
    histories = [HistoryLog(tmp_path / r / HISTORY_FILE).history() for r in ("straight", "run")]
    assert histories[0] == histories[1] and histories[0]["epoch"] == [1, 2, 3, 4, 5]


def test_deepff_train_resume_continues_a_streamed_run_and_refuses_changed_data(tmp_path, capsys):
    import shutil

    data = _csv(tmp_path / "d.csv")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_streamed(data, {**OPTIONS, "dtype": "float32"}, run, callbacks=[_Stop(2)])
    original = shutil.copy2(data, tmp_path / "original.csv")  # its time kept too
    text = data.read_text()
    data.write_text(text.replace(",0\n", ",1\n", 1))  # one label flipped: the same size
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the data changed since the run" in err and "continues only on the same data" in err
    assert len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    data.unlink()  # gone: said as such
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "d.csv: no such data file" in capsys.readouterr().err
    shutil.copy2(original, data)  # put back: the run goes on from its checkpoint
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert dff.load(run / "model.safetensors").epoch == 5
    assert HistoryLog(run / HISTORY_FILE).history()["epoch"] == [1, 2, 3, 4, 5]


def test_a_streamed_run_draws_the_figures_of_an_ordinary_run(tmp_path):
    pytest.importorskip("sklearn")
    result = train_streamed(_csv(tmp_path / "c.csv"), OPTIONS, tmp_path / "c")
    names = {path.name for path in result["figures"]}
    assert names == {
        "learning_curves.png",
        "gradient_norms.png",
        "confusion_matrix.png",
        "roc_pr.png",
        "calibration.png",
    }
    assert all(path.stat().st_size > 0 for path in result["figures"])
    table = (tmp_path / "c" / "confusion_matrix.csv").read_text().splitlines()
    counts = [int(v) for row in table[1:] for v in row.split(",")[1:]]
    assert (
        table[0] == "true\\predicted,0,1" and sum(counts) == result["metrics"]["test"]["examples"]
    )
    regression = train_streamed(
        _csv(tmp_path / "r.csv", regression=True, n=2), OPTIONS, tmp_path / "r"
    )
    assert {p.name for p in regression["figures"]} == {
        "learning_curves.png",
        "gradient_norms.png",
        "residuals.png",
    }
    two = train_streamed(_csv(tmp_path / "t.csv", n=2), OPTIONS, tmp_path / "t")
    assert "decision_boundary.png" in {p.name for p in two["figures"]}


def test_only_a_sample_of_the_test_rows_is_held_for_the_figures(tmp_path, monkeypatch):
    from deepff.runs import streamed

    monkeypatch.setattr(streamed, "FIGURE_ROWS", 100)
    result = train_streamed(_csv(tmp_path / "c.csv"), OPTIONS, tmp_path / "c")
    table = (tmp_path / "c" / "confusion_matrix.csv").read_text().splitlines()
    assert sum(int(v) for row in table[1:] for v in row.split(",")[1:]) == 100
    assert result["metrics"]["test"]["examples"] > 100


def _mixed_csv(path, m=700, classes=("no", "yes"), regression=False, seed=1):
    """A table as users have them: a text column, text labels (or values)."""
    rng = np.random.default_rng(seed)
    rows = ["x,colour,n,label"]
    for _ in range(m):
        x, colour = rng.normal(), rng.choice(["red", "green", "blue"])
        score = x + (colour == "red") + 0.3 * rng.normal()
        if regression:
            label = f"{2 * x + (colour == 'red'):.6g}"
        else:
            label = classes[min(int((score + 1.5) / 3 * len(classes)), len(classes) - 1)]
            label = classes[0] if score < -10 else label
        rows.append(f"{x!r},{colour},{rng.integers(0, 5)},{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _evaluate(capsys, *args):
    capsys.readouterr()
    status = main(["evaluate", *map(str, args)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


@pytest.mark.parametrize(
    "kind", ["binary", "three classes", "regression"], ids=["binary", "multiclass", "regression"]
)
def test_evaluate_stream_prints_what_the_in_memory_evaluate_prints(tmp_path, capsys, kind):
    pytest.importorskip("sklearn")
    import json

    from deepff.runs import streamed_evaluation

    classes = ("a", "b", "c") if kind == "three classes" else ("no", "yes")
    data = _mixed_csv(tmp_path / "t.csv", classes=classes, regression=kind == "regression")
    run = tmp_path / "run"
    common = ["--epochs", "3", "--seed", "0", "--quiet", "--l2", "0.01"]
    assert main(["train", str(data), "--out", str(run), *common]) == 0
    whole = _evaluate(capsys, run, data)
    whole_json = json.loads(_evaluate(capsys, run, data, "--json"))
    streamed_evaluation.CHUNK_ROWS = 64  # eleven chunks, the last one short
    try:
        streamed = _evaluate(capsys, run, data, "--stream")
        streamed_json = json.loads(_evaluate(capsys, run, data, "--stream", "--json"))
    finally:
        streamed_evaluation.CHUNK_ROWS = 65536
    assert streamed == whole and "(700 examples)" in whole
    assert streamed_json.keys() == whole_json.keys()
    for key, value in whole_json.items():
        if isinstance(value, float):
            assert streamed_json[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
        else:
            assert streamed_json[key] == value, key
    if kind != "regression":
        assert whole_json["roc_auc"] is not None and whole_json["log_loss"] is not None
        for key in ("accuracy", "balanced_accuracy", "f1_macro", "precision_weighted"):
            assert streamed_json[key] == whole_json[key]  # from the same counts, exactly
        assert streamed_json["roc_auc"] == pytest.approx(whole_json["roc_auc"], rel=1e-12)


def test_a_streamed_run_is_evaluated_by_chunks_from_its_npy_and_its_csv(tmp_path, capsys):
    pytest.importorskip("sklearn")
    import json

    data = _csv(tmp_path / "d.csv")
    table = np.loadtxt(data, delimiter=",", skiprows=1, dtype=np.float32)
    np.save(tmp_path / "d.npy", table)
    train_streamed(tmp_path / "d.npy", {**OPTIONS, "dtype": "float32"}, tmp_path / "run")
    # a .npy streams without being asked (the in-memory loaders read it as an array)
    from_npy = json.loads(_evaluate(capsys, tmp_path / "run", tmp_path / "d.npy", "--json"))
    assert from_npy["examples"] == 1200 and from_npy["accuracy"] > 0.8
    assert sum(map(sum, from_npy["confusion_matrix"])) == 1200


def test_evaluate_stream_refuses_what_it_cannot_read_with_one_line(tmp_path, capsys):
    data = _mixed_csv(tmp_path / "t.csv")
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), "--epochs", "1", "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    cases = {
        "iris": "--stream reads a CSV/TSV, Parquet or .npy file",
        str(tmp_path): "--stream reads a CSV/TSV, Parquet or .npy file",
    }
    lines = data.read_text().splitlines()
    missing = tmp_path / "missing.csv"
    missing.write_text("\n".join([*lines[:5], lines[5].rsplit(",", 1)[0] + ",", *lines[6:]]))
    cases[str(missing)] = "missing label in column 'label' at row 5"
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("\n".join([*lines[:3], lines[3].rsplit(",", 1)[0] + ",maybe", *lines[4:]]))
    cases[str(unknown)] = "unknown.csv: rows 1-700"
    text = tmp_path / "text.csv"
    text.write_text("\n".join([*lines[:2], "abc," + lines[2].split(",", 1)[1], *lines[3:]]))
    cases[str(text)] = "text.csv: rows 1-65536: could not convert string to float: 'abc'"
    for given, message in cases.items():
        capsys.readouterr()
        assert main(["evaluate", str(run), given, "--stream"]) == 2, given
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_a_streamed_run_under_mpiexec_resumes_to_the_model_of_a_straight_one(tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("mpi4py")
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    if mpiexec is None:
        pytest.skip("no mpiexec (pip install 'deepff[mpi]')")
    deepff = str(Path(sys.executable).with_name("deepff"))
    _csv(tmp_path / "n.csv", m=900)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    common = ["--shuffle", "windowed", "--batch-size", "30", "--seed", "0", "--quiet"]

    def run(*args):
        done = subprocess.run(
            [mpiexec, "-n", "2", deepff, "train", *args], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    run("n.csv", "--out", "straight", "--epochs", "4", *common)
    run("n.csv", "--out", "two", "--epochs", "2", *common)
    run("--resume", "two", "--epochs", "4", "--quiet")
    a, b = (dff.load(tmp_path / r / "model.safetensors") for r in ("straight", "two"))
    assert b.epoch == a.epoch == 4
    np.testing.assert_array_equal(b.parameters, a.parameters)
    assert HistoryLog(tmp_path / "two" / HISTORY_FILE).history()["epoch"] == [1, 2, 3, 4]


def test_a_new_streamed_run_in_an_earlier_runs_directory_replaces_its_files(tmp_path):
    data = _csv(tmp_path / "d.csv", m=400)
    run = tmp_path / "run"
    train_streamed(data, {**OPTIONS, "epochs": 3}, run)
    assert (run / "learning_curves.png").exists()
    result = train_streamed(data, {**OPTIONS, "epochs": 2}, run, figures=False)
    assert result["figures"] == [] and result["network"].epoch == 2
    assert HistoryLog(run / HISTORY_FILE).history()["epoch"] == [1, 2]  # not 1, 2, 3, 1, 2
    assert dff.load(run / CHECKPOINT_FILE).epoch == 2
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a deepff run directory"):
        train_streamed(data, OPTIONS, mine)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_evaluate_and_predict_stream_a_large_table_file_unasked(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sklearn")
    from deepff.cli import model

    data = _mixed_csv(tmp_path / "t.csv")
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), "--epochs", "1", "--quiet"]) == 0
    whole = _evaluate(capsys, run, data)
    assert main(["predict", str(run), str(data), "--out", str(tmp_path / "a.csv")]) == 0
    monkeypatch.setattr(model, "STREAM_BYTES", data.stat().st_size - 1)  # "large"

    def refuse(*args, **kwargs):
        raise AssertionError("read whole")

    monkeypatch.setattr(model, "load_for_model", refuse)
    assert _evaluate(capsys, run, data) == whole
    assert main(["predict", str(run), str(data), "--out", str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "b.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        (["--class-weight", "balanced"], "--class-weight is not supported"),
        (["--impute", "median"], "--impute median needs every value at once, so it does not "
         "stream; --impute mean streams (exactly)"),
    ],
)  # fmt: skip
def test_options_a_streamed_run_cannot_honour_are_refused_not_ignored(tmp_path, capsys, flag, says):
    data = _csv(tmp_path / "d.csv", m=100)
    out = tmp_path / "run"
    args = ["train", str(data), "--shuffle", "windowed", "--out", str(out), "--quiet", *flag]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--shuffle windowed: {says}" in err and len(err.splitlines()) == 1
    assert not (out / "model.safetensors").exists() and not (out / "data.npy").exists()
