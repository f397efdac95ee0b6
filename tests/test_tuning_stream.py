"""Issue 16: tuning over data beyond memory (``deepff tune DATA --shuffle windowed``).

DATA is parsed once into the shared cache; every trial is ``train_streamed`` with its
options, in its own run directory, and its value is what that run reports on its
validation rows; the best configuration is retrained as a streamed run and saved as the
study's model; a data file that changes during the study stops it with one clear error.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from deepff.cli import main  # noqa: E402
from deepff.io import stream  # noqa: E402
from deepff.runs import directory, streamed  # noqa: E402
from deepff.runs.run import load_model  # noqa: E402
from deepff.tuning import tune  # noqa: E402


def _csv(path: Path, m=900, seed=0, regression=False) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 3))
    y = X[:, 0] - 0.5 * X[:, 1] if regression else (X[:, 0] - X[:, 1] > 0).astype(int)
    with open(path, "w") as handle:
        handle.write("a,b,c,target\n")
        for row, value in zip(X, y, strict=True):
            handle.write(",".join(f"{v:.6f}" for v in row) + f",{value:.6f}\n")
    return path


def _space(**fixed):
    return {
        "shuffle": "windowed",
        "epochs": 3,
        "layers": [8],
        "batch_size": 32,
        **fixed,
        "params": {"learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}},
    }


@pytest.fixture
def parses(monkeypatch):
    """Counts the times a text file is parsed into a cache."""
    calls = []
    write_cache = stream._write_cache

    def spy(path, partial, chunk_rows):
        calls.append(Path(path))
        return write_cache(path, partial, chunk_rows)

    monkeypatch.setattr(stream, "_write_cache", spy)
    return calls


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_trials_score_what_train_streamed_reports_and_parse_once(tmp_path, parses, task):
    data = _csv(tmp_path / "d.csv", regression=task == "regression")
    out = tmp_path / "t"
    result = tune(_space(), data, n_trials=3, seed=0, pruner="none", out=out, plots=False)
    metric = "accuracy" if task == "classification" else "loss"
    assert result.metric == metric
    cache = out / "data.npy"
    assert parses == [data] and cache.is_file()  # parsed once, for every trial and the refit
    made = cache.stat().st_mtime_ns
    assert [row["state"] for row in result.trials] == ["COMPLETE"] * 3
    for row in result.trials:
        run = out / "trials" / "deepff" / str(row["number"])
        reported = json.loads((run / "metrics.json").read_text())["val"][metric]
        assert row["value"] == reported
        assert not (run / "data.npy").exists() and not list(run.glob("*.png"))  # no figures
        options = {**_space(), "seed": 0, "learning_rate": row["learning_rate"]}
        options.pop("params")
        options["cache"] = str(cache)
        again = streamed.train_streamed(data, options, tmp_path / f"check{row['number']}")
        assert row["value"] == again["metrics"]["val"][metric]  # the objective is honest
    assert parses == [data] and cache.stat().st_mtime_ns == made
    values = [row["value"] for row in result.trials]
    assert result.best_value == (max(values) if metric == "accuracy" else min(values))
    # The best, retrained on the training and validation rows, scored on the test rows.
    network, _, metadata = load_model(out / "model.safetensors")
    best = json.loads((out / "trials" / "deepff" / "best" / "metrics.json").read_text())
    assert metadata["metrics"]["test"] == best["test"] and best["val"] is None
    assert result.test_scores == {k: v for k, v in best["test"].items() if k != "examples"}
    assert metadata["tuning"]["trial"] == result.best_trial
    assert (out / "trials" / "deepff" / "best" / "learning_curves.png").is_file()
    assert metadata["run"]["data"]["streamed"] and network.epoch == 3
    examples = json.loads((out / "trials" / "deepff" / "0" / "metrics.json").read_text())
    assert best["test"]["examples"] == examples["test"]["examples"]  # the same test rows
    assert best["train"]["examples"] == examples["train"]["examples"] + examples["val"]["examples"]
    assert 'shuffle = "windowed"' in (out / "best_params.toml").read_text()


def test_a_data_file_changed_during_the_study_stops_it(tmp_path, monkeypatch):
    data = _csv(tmp_path / "d.csv")
    out = tmp_path / "t"
    train_streamed = streamed.train_streamed
    calls = []

    def changing(source, options, run_out, *args, **kwargs):
        calls.append(run_out)
        if len(calls) == 2:  # the second trial, after its check: a change met mid-trial
            with open(data, "a") as handle:
                handle.write("0.1,0.2,0.3,1\n")
        return train_streamed(source, options, run_out, *args, **kwargs)

    monkeypatch.setattr(streamed, "train_streamed", changing)
    with pytest.raises(ValueError, match=r"d\.csv: the data file changed during the study"):
        tune(_space(), data, n_trials=4, seed=0, pruner="none", out=out, plots=False)
    assert len(calls) == 2  # the study stopped there
    study = optuna.load_study(study_name="deepff", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL"]
    assert "the data file changed during the study" in study.trials[1].user_attrs["failed"]
    assert not (out / "trials.csv").exists() and not (out / "model.safetensors").exists()
    # ... and a study of the old data, run again on the changed file, says so before a trial
    with pytest.raises(ValueError, match="made from other data"):
        tune(_space(), data, n_trials=1, seed=0, out=out, plots=False)
    assert len(calls) == 2


def test_deepff_tune_shuffle_windowed_end_to_end(tmp_path, capsys):
    data = _csv(tmp_path / "d.csv")
    out = tmp_path / "t"
    cache = tmp_path / "cache.npy"
    args = ["tune", str(data), "--shuffle", "windowed", "--cache", str(cache), "--out", str(out)]
    status = main([*args, "--trials", "2", "--seed", "0", "--quiet"])
    printed, err = capsys.readouterr()
    assert status == 0, err
    assert "best configuration retrained, on the test rows" in printed
    for name in ("trials.csv", "best_params.toml", "model.safetensors", "study.db"):
        assert (out / name).is_file(), name
    assert (out / "optimization_history.png").is_file()
    assert cache.is_file() and not (out / "data.npy").exists()
    # the default space without early stopping: its streamed runs would watch the scored rows
    config = (out / "trials" / "d-default" / "0" / "config.toml").read_text()
    assert 'shuffle = "windowed"' in config and "early_stopping" not in config
    predictions = tmp_path / "p.csv"
    assert (
        main(["predict", str(out / "model.safetensors"), str(data), "--out", str(predictions)]) == 0
    )
    assert len(predictions.read_text().splitlines()) == 901  # the header and every row
    capsys.readouterr()
    # refused before anything is written: k-fold, and a metric a streamed run does not score
    for extra, words in (
        (["--cv", "3"], "cv=3 and shuffle = 'windowed'"),
        (["--metric", "r2"], "r2"),
    ):
        fresh = tmp_path / "refused"
        assert main(["tune", str(data), "--shuffle", "windowed", "--out", str(fresh), *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
        assert not fresh.exists()
    assert os.listdir(out / "trials") == ["d-default"]


def test_a_pruned_streamed_trial_stops_and_leaves_a_whole_run(tmp_path, monkeypatch):
    data = _csv(tmp_path / "d.csv")
    out = tmp_path / "t"
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: True)
    result = tune(_space(), data, n_trials=1, seed=0, out=out, plots=False)
    assert [row["state"] for row in result.trials] == ["PRUNED"]
    assert result.best_trial is None and result.model is None
    study = optuna.load_study(study_name="deepff", storage=f"sqlite:///{out / 'study.db'}")
    trial = study.trials[0]
    assert trial.user_attrs["pruned_at"] == 0 and list(trial.intermediate_values) == [0]
    run = Path(trial.user_attrs["run"])
    assert run == out / "trials" / "deepff" / "0"
    network, _, _ = load_model(run)
    assert network.epoch == 1  # stopped after the epoch the pruner read
    with open(run / "history.csv") as handle:
        (first,) = csv.DictReader(handle)
    assert trial.intermediate_values[0] == float(first["val_accuracy"])  # the run's own score


def test_two_worker_processes_share_the_cache(tmp_path, parses):
    data = _csv(tmp_path / "d.csv")
    out = tmp_path / "t"
    result = tune(_space(), data, n_trials=2, n_jobs=2, threads=1, seed=0, out=out, plots=False)
    assert [row["state"] for row in result.trials] == ["COMPLETE", "COMPLETE"]
    assert parses == [data]  # here, once; the workers open the cache it made
    study = optuna.load_study(study_name="deepff", storage=f"sqlite:///{out / 'study.db'}")
    workers = {trial.user_attrs["worker"] for trial in study.trials}
    assert len(workers) == 2 and str(os.getpid()) not in {w.split(":")[1] for w in workers}
    for trial in study.trials:
        run = Path(trial.user_attrs["run"])
        assert json.loads((run / "metrics.json").read_text())["val"]["accuracy"] == trial.value
        assert f'cache = "{out / "data.npy"}"' in (run / "config.toml").read_text()


@pytest.fixture
def hashes(monkeypatch):
    """Records every file hashed for a run's fingerprint (``data_fingerprint``)."""
    calls = []
    fingerprint = directory.data_fingerprint

    def spy(source):
        calls.append(Path(source).resolve())
        return fingerprint(source)

    monkeypatch.setattr(directory, "data_fingerprint", spy)
    monkeypatch.setattr(streamed, "data_fingerprint", spy)
    return calls


def test_the_data_file_is_hashed_once_a_study_and_every_run_records_it(tmp_path, hashes):
    # Input: 3 trials and the refit over one CSV. Each streamed run hashed the whole file
    # for its run record: a full read of data beyond memory per trial.
    data = _csv(tmp_path / "d.csv")
    out = tmp_path / "t"
    tune(_space(), data, n_trials=3, seed=0, pruner="none", out=out, plots=False)
    assert hashes == [data.resolve()]  # once, for the study
    expected = "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()
    for run in ("0", "1", "2", "best"):
        _, _, metadata = load_model(out / "trials" / "deepff" / run)
        assert metadata["run"]["data"]["fingerprint"] == expected, run
    _, _, metadata = load_model(out / "model.safetensors")
    assert metadata["run"]["data"]["fingerprint"] == expected


def test_a_change_after_the_study_hashed_its_data_is_refused(tmp_path, monkeypatch):
    # Input: the data file grows a row right after the study hashed it. Its fingerprint
    # is the old bytes', so no trial may take it: the first trial's check refuses.
    data = _csv(tmp_path / "d.csv")
    out = tmp_path / "t"
    fingerprint = directory.data_fingerprint

    def then_changed(source):
        value = fingerprint(source)
        with open(data, "a") as handle:
            handle.write("0.1,0.2,0.3,1\n")
        return value

    monkeypatch.setattr(directory, "data_fingerprint", then_changed)
    with pytest.raises(ValueError, match=r"d\.csv: the data file changed during the study"):
        tune(_space(), data, n_trials=2, seed=0, pruner="none", out=out, plots=False)
    study = optuna.load_study(study_name="deepff", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL"]
    assert not (out / "trials").exists() and not (out / "model.safetensors").exists()


def _snapshot(folder: Path):
    """Every path under ``folder`` with its bytes and modification time (None: no folder)."""
    if not folder.exists():
        return None
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        if path.is_file()
        else "folder"
        for path in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    "extra, regression, words",
    [
        (["--metric", "accuracy"], True, "metric 'accuracy' does not apply to regression"),
        (["--task", "classification"], True, "a classification target has at most 10"),
        (["--val-split", "0"], False, "the validation split of its 900 rows is empty"),
    ],
)
@pytest.mark.parametrize("before", ["absent", "the user's", "another cache"])
def test_a_refusal_that_needs_the_data_read_leaves_the_folders_as_they_were(
    tmp_path, capsys, extra, regression, words, before
):
    # Input: a refusal known only once the target column is read, i.e. after the cache is
    # written (OUT/data.npy, or --cache). The message: one line, exit 2. Nothing changed:
    # what the command made is removed, what was there before is left as it was.
    data = _csv(tmp_path / "d.csv", regression=regression)
    out, elsewhere = tmp_path / "t" / "study", tmp_path / "caches"
    args = ["tune", str(data), "--shuffle", "windowed", "--out", str(out), *extra]
    if before == "the user's":
        out.mkdir(parents=True)
        (out / "notes.txt").write_text("mine\n")
    if before == "another cache":
        elsewhere.mkdir()
        (elsewhere / "other.npy").write_bytes(b"not deepff's")
        args += ["--cache", str(elsewhere / "c.npy")]
    snapshots = [_snapshot(tmp_path / "t"), _snapshot(elsewhere)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert [_snapshot(tmp_path / "t"), _snapshot(elsewhere)] == snapshots


def test_a_refusal_of_an_earlier_study_keeps_its_cache_and_files(tmp_path, capsys):
    # Input: the study of OUT rerun with another seed (its trials would not compare).
    # The message: one line, exit 2. Nothing changed: the cache it reused, study.db and
    # the earlier outputs are the earlier study's.
    data = _csv(tmp_path / "d.csv")
    out = tmp_path / "t"
    args = ["tune", str(data), "--shuffle", "windowed", "--out", str(out), "--no-plots"]
    assert main([*args, "--trials", "1", "--seed", "0", "--quiet"]) == 0
    capsys.readouterr()
    files = {
        name: (out / name).read_bytes()
        for name in ("data.npy", "data.npy.json", "trials.csv", "model.safetensors")
    }
    listing = sorted(str(path.relative_to(out)) for path in out.rglob("*"))
    assert main([*args, "--trials", "1", "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "splits the data with seed 0; got 1" in err and len(err.strip().splitlines()) == 1
    assert {name: (out / name).read_bytes() for name in files} == files
    assert sorted(str(path.relative_to(out)) for path in out.rglob("*")) == listing


def test_a_changed_data_file_is_said_in_deepffs_one_line_alone(
    tmp_path, capsys, caplog, monkeypatch
):
    # Input: the data file changes during the second trial. The message: deepff's one line
    # naming the file, without Optuna's two on the failed trial. Nothing else changed:
    # Optuna's logger is as it was, and a trial failing for another reason keeps its lines.
    data = _csv(tmp_path / "d.csv")
    train_streamed = streamed.train_streamed
    calls = []

    def changing(source, options, run_out, *args, **kwargs):
        calls.append(run_out)
        if len(calls) == 2:
            with open(data, "a") as handle:
                handle.write("0.1,0.2,0.3,1\n")
        return train_streamed(source, options, run_out, *args, **kwargs)

    monkeypatch.setattr(streamed, "train_streamed", changing)
    args = ["tune", str(data), "--shuffle", "windowed", "--trials", "3", "--pruner", "none"]
    caplog.set_level("WARNING", logger="optuna")
    assert main([*args, "--out", str(tmp_path / "t"), "--seed", "0", "--quiet"]) == 2
    printed, err = capsys.readouterr()
    assert printed == "" and len(err.strip().splitlines()) == 1, err
    assert "d.csv: the data file changed during the study" in err
    assert [r.getMessage() for r in caplog.records if r.name.startswith("optuna")] == []
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING
    # A trial whose run scored nothing (NaN: Optuna's FAIL) is Optuna's to report, as before.
    monkeypatch.setattr(
        streamed,
        "train_streamed",
        lambda *args, **kwargs: {
            "network": SimpleNamespace(epoch=1),
            "metrics": {"val": None},
        },
    )
    other = _csv(tmp_path / "e.csv")
    status = main(["tune", str(other), *args[2:], "--out", str(tmp_path / "u"), "--quiet"])
    assert status == 0
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("optuna")]
    assert "Trial 0 failed with value nan." in logged
