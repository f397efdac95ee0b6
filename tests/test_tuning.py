"""Hyper-parameter tuning on Optuna (issue 6): spaces, resuming, workers, storages, crashes.

Small on purpose: a subsample of digits, tiny networks, two or three epochs, a few trials.
The PostgreSQL test starts a throwaway server (initdb + pg_ctl on a Unix socket in a
temporary folder) and stops it after; without the server binaries it is skipped, saying so.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("sklearn")

from deepff import tuning  # noqa: E402
from deepff.runs.options import check_options  # noqa: E402

GRID = """\
# a 2 x 3 grid
epochs = 2
batch_size = 64
layers = [8]

[params]
activation = { values = ["relu", "tanh"] }
learning_rate = { values = [0.003, 0.01, 0.03] }
"""

RANDOM = """\
epochs = 3
batch_size = 64

[params]
learning_rate = { low = 1e-3, high = 1e-1, log = true }
n_layers = { low = 1, high = 2 }
units = { values = [8, 16] }
"""


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def trials_of(url: str, name: str):
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def grid_points(trials):
    return [tuple(sorted(t.params.items())) for t in trials]


# --- the space file ------------------------------------------------------------------------


P = "[params]\n"
ONE = "units = { values = [8] }\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            P + "lr = { low = 1e-4, high = 0.1 }\n",
            "space.toml:2: [params] lr: unknown name 'lr'; valid: ",
        ),
        (
            "epochs = 3\n\n" + P + "l2 = { low = 0.1, high = 0.1 }\n",
            "space.toml:4: [params] l2: empty range",
        ),
        (
            P + "activation = { values = ['relu', 'relux'] }\n",
            "space.toml:2: [params] activation = 'relux': option 'activation' must be",
        ),
        (
            P + "dropout = { low = 0.0, high = 1.5 }\n",
            "space.toml:2: [params] dropout = 1.5: option 'dropout'",
        ),
        (P + "learning_rate = { low = 0.0, high = 0.1, log = true }\n", "log = true needs low > 0"),
        (
            P + "units = { low = 8, high = 64, stp = 8 }\n",
            "space.toml:2: [params] units: unknown key 'stp'",
        ),
        (P + "val_split = { values = [0.1, 0.2] }\n", "val_split cannot be searched"),
        ("layers = [8]\n" + P + "layers = { values = [[8], [16]] }\n", "layers is also fixed"),
        (P + "layers = { values = [[8]] }\n" + ONE, "search either layers or n_layers/units"),
        ("epochs = 0\n" + P + ONE, "space.toml:1: epochs: option 'epochs' must be"),
        ("epoch = 3\n" + P + ONE, "space.toml:1: epoch: unknown name 'epoch'"),
        ("epochs = 3\n", "no [params] table"),
        ("[params\n", "not valid TOML"),
    ],
)
def test_bad_spaces_are_refused_naming_the_line(tmp_path, body, message):
    path = write(tmp_path / "space.toml", body)
    with pytest.raises(ValueError) as error:
        tuning.load_space(path, sampler="random")
    assert message in str(error.value)


def test_grid_over_a_range_is_refused_before_any_trial(tmp_path, digits):
    path = write(tmp_path / "space.toml", P + ONE + "l2 = { low = 0.0, high = 0.1 }\n")
    with pytest.raises(ValueError, match=r"space.toml:3: \[params\] l2: grid search takes only"):
        tuning.tune(path, digits, sampler="grid", n_trials=2, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing created, not even the study


def test_space_kinds_and_shorthand(tmp_path):
    space = tuning.load_space(
        write(
            tmp_path / "space.toml",
            """\
            epochs = 4
            [params]
            learning_rate = { low = 1e-4, high = 1e-1, log = true }
            batch_size = { low = 16, high = 64, step = 16 }
            dropout = { low = 0, high = 0.5 }
            n_layers = { values = [1, 3] }
            units = { values = [8, 32] }
            """,
        )
    )
    kinds = {name: p.kind for name, p in space.params.items()}
    assert kinds == {
        "learning_rate": "float",
        "batch_size": "int",
        "dropout": "float",
        "n_layers": "categorical",
        "units": "categorical",
    }
    options = space.options(
        {"n_layers": 3, "units": 32, "learning_rate": 0.01, "batch_size": 32, "dropout": 0.1}
    )
    assert options["layers"] == [32, 32, 32] and options["epochs"] == 4
    # list values (layers) go through Optuna as JSON text and come back as lists
    space = tuning.load_space({"params": {"layers": {"values": [[8], [16, 8]]}}}, sampler="grid")
    assert space.grid() == {"layers": ["[8]", "[16, 8]"]}
    assert space.decode({"layers": "[16, 8]"}) == {"layers": [16, 8]}


# --- one study, run again -------------------------------------------------------------------


def cli(argv):
    from deepff.cli import tune as command

    parser = argparse.ArgumentParser(prog="deepff")
    command.add_parser(parser.add_subparsers(dest="command"))
    return command.run(parser.parse_args(argv))


def test_grid_search_resumes_without_repeating(tmp_path, digits, capsys):
    """Run the command, run it again: the storage holds both runs' trials, each grid point
    at most once, and the grid stops when exhausted."""
    np.savez(tmp_path / "digits.npz", X=digits[0], y=digits[1])
    space = write(tmp_path / "grid.toml", GRID)
    out = tmp_path / "run"
    argv = [
        "tune",
        str(tmp_path / "digits.npz"),
        "--space",
        str(space),
        "--sampler",
        "grid",
        "--out",
        str(out),
        "--seed",
        "0",
        "--quiet",
        "--no-plots",
    ]
    assert cli([*argv, "--trials", "2", "--no-refit"]) == 0
    assert cli([*argv, "--trials", "3"]) == 0
    url = "sqlite:///" + str(out / "study.db")
    name = "digits-grid"
    trials = trials_of(url, name)
    assert len(trials) == 2 + 3
    assert len(set(grid_points(trials))) == 5
    printed = capsys.readouterr().out
    assert "best: trial" in printed and "on the test rows" in printed

    assert cli([*argv, "--trials", "4"]) == 0  # one point left: the grid stops there
    trials = trials_of(url, name)
    assert len(trials) == 6 and len(set(grid_points(trials))) == 6
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert "the grid is exhausted" in capsys.readouterr().out
    assert cli([*argv, "--trials", "4", "--no-refit"]) == 0
    assert len(trials_of(url, name)) == 6

    # the outputs: the table, best parameters ready for `deepff train --config`, the model
    import tomllib

    lines = (out / "trials.csv").read_text().splitlines()
    assert lines[0].startswith("number,state,value,activation,learning_rate") and len(lines) == 7
    best = tomllib.loads((out / "best_params.toml").read_text())
    assert best.pop("data") == str((tmp_path / "digits.npz").resolve())
    checked = check_options(best)
    assert checked["epochs"] == 2 and checked["layers"] == [8] and checked["seed"] == 0
    assert best["activation"] in ("relu", "tanh") and best["learning_rate"] in (0.003, 0.01, 0.03)
    if (out / "model.safetensors").exists():
        from deepff import load

        model = load(out / "model.safetensors")
        assert model.metadata["tuning"]["study"] == name


def test_random_search_resumes_and_plots(tmp_path, digits):
    space = write(tmp_path / "space.toml", RANDOM)
    kwargs = dict(sampler="random", seed=1, out=tmp_path / "out", study_name="r", pruner="none")
    first = tuning.tune(space, digits, n_trials=3, refit=False, plots=False, **kwargs)
    second = tuning.tune(space, digits, n_trials=3, **kwargs)
    assert first.n_new_trials == 3 and second.n_new_trials == 3 and len(second.trials) == 6
    points = [tuple(sorted(row[k] for k in ("learning_rate",))) for row in second.trials]
    assert len(set(points)) == 6  # the second run does not redraw the first run's points
    assert second.best_value == max(row["value"] for row in second.trials)
    assert set(second.best_params) == {"learning_rate", "n_layers", "units"}
    layers = second.best_options["layers"]
    assert layers == [second.best_params["units"]] * second.best_params["n_layers"]
    assert second.model is not None and set(second.test_scores) == {"loss", "accuracy"}
    for plot in ("optimization_history", "parallel_coordinate", "param_importances"):
        assert (tmp_path / "out" / f"{plot}.png").stat().st_size > 1000


def test_a_trial_scores_what_deepff_train_scores_on_its_validation_rows(digits):
    """The objective is the validation score of the run ``deepff train`` would make with the
    trial's options: same split, same preprocessing, same seed; never the training cost."""
    from deepff.io.datasets import Dataset
    from deepff.runs.build import build_network
    from deepff.runs.prepare import prepare

    space = {"epochs": 3, "layers": [16], "params": {"learning_rate": {"values": [0.01, 0.1]}}}
    result = tuning.tune(space, digits, sampler="grid", pruner="none", seed=5, refit=False)
    for row in result.trials:
        options = check_options(
            {"epochs": 3, "layers": [16], "seed": 5, "learning_rate": row["learning_rate"]}
        )
        prepared = prepare(Dataset(X=digits[0], y=digits[1], name="d"), options)
        network = build_network(options, prepared.X_train.shape[1], "classification", 10)
        network.fit(prepared.X_train, prepared.y_train, epochs=3, batch_size=32, verbose=0)
        assert row["value"] == network.evaluate(prepared.X_val, prepared.y_val)["accuracy"]
        assert row["value"] != network.evaluate(prepared.X_train, prepared.y_train)["accuracy"]


# --- one way to prepare data ----------------------------------------------------------------


def prepared_both_ways(dataset, fixed):
    """(tuning's hold-out fold, training's ``prepare``) for the same options."""
    from deepff.runs.prepare import prepare
    from deepff.tuning.data import fold_rows, prepare_data, prepare_fold

    space = tuning.load_space({**fixed, "params": {"learning_rate": {"values": [0.01]}}})
    options = space.options({})
    data = prepare_data(dataset, space, cv=None)
    fold = prepare_fold(data, options, *fold_rows(data, 0, options, stopping=False))
    return data, fold, prepare(dataset, options)


@pytest.mark.parametrize(
    "fixed",
    [
        {"scale": "minmax", "val_split": 0.25, "test_split": 0.1, "seed": 3},
        {"scale": "standard", "seed": 0, "dtype": "float64"},
    ],
)
def test_tuning_and_training_prepare_the_same_arrays(digits, fixed):
    """A trial's rows are the run ``deepff train`` makes of the same options: the same split,
    the preprocessing fitted on the same rows, the same classes and outputs."""
    from deepff.io.datasets import Dataset

    dataset = Dataset(X=digits[0], y=digits[1].astype(str), name="d")
    data, fold, trained = prepared_both_ways(dataset, fixed)
    np.testing.assert_array_equal(fold.X_train, trained.X_train)
    np.testing.assert_array_equal(fold.y_train, trained.y_train)
    np.testing.assert_array_equal(fold.X_test, trained.X_val)  # trials are scored on val
    np.testing.assert_array_equal(fold.y_test, trained.y_val)
    assert fold.preprocessor.get_config() == trained.preprocessor.get_config()
    assert data.n_outputs == fold.n_outputs == trained.n_outputs == 10
    assert fold.classes.tolist() == trained.classes.tolist()
    for ours, theirs in zip((data.train, data.val, data.test), trained.indices, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_tuning_and_training_prepare_the_same_regression_targets(digits):
    from deepff.io.datasets import Dataset

    y = np.column_stack([digits[1] * 0.5, digits[0][:, 10]])  # two targets: two outputs
    dataset = Dataset(X=digits[0], y=y, name="d")
    data, fold, trained = prepared_both_ways(dataset, {"seed": 1})
    assert data.task == trained.task == "regression"
    assert data.n_outputs == trained.n_outputs == 2
    np.testing.assert_array_equal(fold.y_train, trained.y_train)
    assert fold.y_train.dtype == trained.y_train.dtype == np.float32
    np.testing.assert_array_equal(fold.X_test, trained.X_val)


def test_a_class_missing_from_the_training_rows_is_refused_as_training_refuses_it(digits):
    """Outputs are counted over the training rows, and a class that none of them has is the
    error training gives (not a network with one output per class of all of y)."""
    from deepff.io.datasets import Dataset
    from deepff.runs.prepare import prepare

    y = digits[1].astype(object)
    y[7] = "rare"  # one example: a test share of 0.6 rounds it into the test rows
    dataset = Dataset(X=digits[0], y=y.astype(str), name="d")
    fixed = {"epochs": 1, "layers": [4], "val_split": 0.1, "test_split": 0.6}
    with pytest.raises(ValueError) as training_error:
        prepare(dataset, check_options({k: v for k, v in fixed.items() if k != "layers"}))
    message = str(training_error.value)
    assert "rare" in message and "too few examples to appear in the training split" in message
    space = {**fixed, "params": {"learning_rate": {"values": [0.01]}}}
    for cv in (None, 3):
        with pytest.raises(ValueError) as tuning_error:
            tuning.tune(space, dataset, sampler="grid", cv=cv, refit=False)
        assert str(tuning_error.value) == str(training_error.value)


# --- early stopping never watches the scored rows ----------------------------------------------


@pytest.fixture
def spy(monkeypatch):
    """Record, for every network trained in a trial, the rows (by an id column) it trained
    on, the rows its validation data (what early stopping watches) held, the early stopping
    callbacks given, and the rows it was scored on."""
    from deepff.network import Network
    from deepff.tuning import objective

    record = {"fits": [], "scored": []}
    fit, score = Network.fit, objective.score

    def spying_fit(self, X, y, *args, validation_data=None, callbacks=None, **kwargs):
        record["fits"].append(
            {
                "train": set(np.asarray(X)[:, -1].astype(int).tolist()),
                "watched": None
                if validation_data is None
                else set(np.asarray(validation_data[0])[:, -1].astype(int).tolist()),
                "stoppers": [c for c in callbacks or () if type(c).__name__ == "EarlyStopping"],
            }
        )
        return fit(self, X, y, *args, validation_data=validation_data, callbacks=callbacks,
                   **kwargs)  # fmt: skip

    def spying_score(network, X, y, metric):
        record["scored"].append(set(np.asarray(X)[:, -1].astype(int).tolist()))
        return score(network, X, y, metric)

    monkeypatch.setattr(Network, "fit", spying_fit)
    monkeypatch.setattr(objective, "score", spying_score)
    return record


def with_ids(digits):
    """digits with a last column holding each row's number (kept as it is: scale none)."""
    X, y = digits
    return np.column_stack([X, np.arange(len(y))]), y


@pytest.mark.parametrize("pruner", ["none", "median"])
def test_cv_tuning_never_scores_the_fold_that_early_stopping_watched(digits, spy, pruner):
    X, y = with_ids(digits)
    space = {
        "epochs": 6,
        "layers": [8],
        "scale": "none",
        "early_stopping": 1,
        "test_split": 0.2,
        "params": {"learning_rate": {"values": [0.003, 0.3]}},
    }
    result = tuning.tune(space, (X, y), sampler="grid", cv=3, pruner=pruner, refit=False, seed=2)
    complete = [row for row in result.trials if row["state"] == "COMPLETE"]
    assert complete and all(len(row["fold_scores"]) == 3 for row in complete)
    fits, scored = spy["fits"], spy["scored"]
    assert len(fits) >= len(scored) == 3 * len(complete)
    for fit, rows in zip(fits, scored, strict=False):
        assert [s.monitor for s in fit["stoppers"]] == ["val_loss"]  # early stopping was on
        assert fit["watched"], "early stopping watched no rows"
        assert not fit["watched"] & rows  # never the scored fold
        assert not fit["train"] & rows and not fit["train"] & fit["watched"]
    # each trial's scored folds partition the training and validation rows; the test rows
    # are in no fold
    from deepff.runs.prepare import split_indices

    train, val, test = split_indices(len(y), 0.1, 0.2, 2, y)
    for first in range(0, len(scored), 3):
        folds = scored[first : first + 3]
        assert set().union(*folds) == set(train.tolist()) | set(val.tolist())
        assert sum(len(fold) for fold in folds) == len(train) + len(val)
        assert not set().union(*folds) & set(test.tolist())


def test_hold_out_tuning_stops_early_on_training_rows_and_scores_the_validation_rows(digits, spy):
    from deepff.runs.prepare import split_indices

    X, y = with_ids(digits)
    space = {
        "epochs": 4,
        "layers": [8],
        "scale": "none",
        "early_stopping": 1,
        "val_split": 0.2,
        "params": {"learning_rate": {"values": [0.01]}},
    }
    tuning.tune(space, (X, y), sampler="grid", pruner="none", refit=False, seed=4)
    train, val, _ = split_indices(len(y), 0.2, 0.2, 4, y)
    [fit], [rows] = spy["fits"], spy["scored"]
    assert rows == set(val.tolist())
    assert fit["watched"] and fit["watched"] <= set(train.tolist())
    assert fit["train"] | fit["watched"] == set(train.tolist())
    assert len(fit["watched"]) == pytest.approx(0.2 * len(train), abs=10)  # stratified rounding


def test_without_early_stopping_no_rows_are_carved_out(digits, spy):
    X, y = with_ids(digits)
    space = {"epochs": 2, "layers": [8], "scale": "none", "test_split": 0.0,
             "params": {"learning_rate": {"values": [0.01]}}}  # fmt: skip
    tuning.tune(space, (X, y), sampler="grid", cv=2, pruner="none", refit=False)
    for fit, rows in zip(spy["fits"], spy["scored"], strict=True):
        assert fit["watched"] is None and fit["stoppers"] == []
        assert len(fit["train"]) + len(rows) == len(y)


def test_cross_validation_and_metric(digits):
    space = {
        "epochs": 2,
        "layers": [8],
        "test_split": 0.0,
        "params": {"learning_rate": {"values": [0.01, 0.03]}},
    }
    result = tuning.tune(
        space, digits, sampler="grid", cv=3, metric="loss", pruner="none", refit=False
    )
    assert result.direction == "minimize" and len(result.trials) == 2
    for row in result.trials:
        assert len(row["fold_scores"]) == 3
        assert row["value"] == pytest.approx(np.mean(row["fold_scores"]))
    assert result.best_value == min(row["value"] for row in result.trials)
    with pytest.raises(ValueError, match="metric 'r2' does not apply to classification"):
        tuning.tune(space, digits, sampler="grid", metric="r2")


def test_pruning_reports_every_epoch(digits):
    space = {
        "epochs": 4,
        "layers": [8],
        "params": {"learning_rate": {"low": 1e-4, "high": 0.3, "log": True}},
    }
    result = tuning.tune(
        space, digits, sampler="random", n_trials=8, seed=3, pruner="median", refit=False
    )
    states = {row["state"] for row in result.trials}
    assert states <= {"COMPLETE", "PRUNED"} and "COMPLETE" in states


# --- several workers on one study -------------------------------------------------------------


def run_two_workers(url, digits, name):
    space = {
        "epochs": 2,
        "layers": [8],
        "params": {
            "learning_rate": {"values": [0.003, 0.01, 0.03]},
            "activation": {"values": ["relu", "tanh"]},
        },
    }
    result = tuning.tune(
        space,
        digits,
        sampler="grid",
        n_trials=6,
        storage=url,
        study_name=name,
        n_jobs=2,
        pruner="none",  # the median pruner may stop a trial that starts after 5 have ended
        refit=False,
        plots=False,
    )
    trials = trials_of(url, name)
    assert len(trials) == 6 and sorted(t.number for t in trials) == list(range(6))
    states = [(t.number, t.state.name, t.user_attrs, t.system_attrs) for t in trials]
    assert all(t.state.name == "COMPLETE" for t in trials), states
    assert len(set(grid_points(trials))) == 6  # every grid point recorded once
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2, workers  # both processes ran trials
    assert result.failed_workers == []


def test_two_worker_processes_share_an_sqlite_study(tmp_path, digits):
    run_two_workers("sqlite:///" + str(tmp_path / "shared.db"), digits, "sqlite-workers")


def _postgres_binaries():
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(part) if part.isdigit() else 0 for part in p.split("/")[-2].split(".")],
    )
    for folder in reversed(candidates):
        if os.access(os.path.join(folder, "initdb"), os.X_OK):
            return folder
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


@pytest.fixture(scope="module")
def postgresql_url():
    """A throwaway PostgreSQL server on a Unix socket in a temporary folder."""
    pytest.importorskip("psycopg2", reason="psycopg2 is missing (pip install psycopg2-binary)")
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under "
            "/usr/lib/postgresql/*/bin or on PATH: install them (Debian: apt-get install "
            "postgresql) to run the PostgreSQL tuning test"
        )
    runner = []
    folder = tempfile.mkdtemp(prefix="deepff-pg-")
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as postgres
        import pwd

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        os.chown(folder, account.pw_uid, account.pw_gid)
        tool = shutil.which("runuser") or shutil.which("su")
        runner = [tool, "-u", "postgres", "--"] if tool.endswith("runuser") else None
        if runner is None:
            shutil.rmtree(folder)
            pytest.skip("running as root without runuser to start PostgreSQL as 'postgres'")
    data = os.path.join(folder, "data")
    log = os.path.join(folder, "server.log")

    def tool(name, *args):
        return subprocess.run(
            [*runner, os.path.join(binaries, name), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=folder,
        )

    done = tool("initdb", "-D", data, "-U", "deepff", "--auth=trust", "-E", "UTF8", "--no-sync")
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed: {done.stderr or done.stdout}")
    options = f"-k {folder} -c listen_addresses='' -p 5432 -F"
    done = tool("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "-t", "30", "start")
    if done.returncode != 0:
        text = Path(log).read_text() if os.path.exists(log) else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {done.stderr or done.stdout}\n{text}")
    try:
        yield f"postgresql+psycopg2://deepff@/postgres?host={folder}&port=5432"
    finally:
        tool("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_two_worker_processes_share_a_postgresql_study(postgresql_url, digits):
    run_two_workers(postgresql_url, digits, "postgres-workers")


# --- a worker killed mid-trial ------------------------------------------------------------------

WORKER = """\
import sys
from sklearn.datasets import load_digits
from deepff.tuning import tune

if __name__ == "__main__":
    X, y = load_digits(return_X_y=True)
    epochs, units = int(sys.argv[3]), int(sys.argv[4])
    space = {"epochs": epochs, "batch_size": 16, "layers": [units, units],
             "params": {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}}}
    tune(space, (X, y), sampler="random", n_trials=int(sys.argv[2]), storage=sys.argv[1],
         study_name="crash", heartbeat=1, pruner="none", refit=False)
"""


def has_heartbeat(url, trial):
    """Whether the storage holds a heartbeat for ``trial``."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as connection:
        rows = connection.execute(
            "SELECT COUNT(*) FROM trial_heartbeats WHERE trial_id = ?", (trial._trial_id,)
        ).fetchone()
    return rows[0] > 0


def test_a_killed_worker_leaves_a_failed_trial_and_the_study_goes_on(tmp_path):
    """SIGKILL one of two workers mid-trial: its trial ends FAILED (heartbeat 1 s, grace 3 s)
    and is queued once for a retry, the other worker goes on, no completed trial is lost."""
    import datetime

    url = "sqlite:///" + str(tmp_path / "crash.db")
    script = write(tmp_path / "worker.py", WORKER)
    victim = subprocess.Popen([sys.executable, str(script), url, "50", "30", "64"])
    survivor = None
    try:
        deadline = time.monotonic() + 60
        killed = None
        while killed is None and time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                trials = trials_of(url, "crash")
            except KeyError:  # the study does not exist yet
                continue
            for trial in trials:
                mine = trial.user_attrs.get("worker", "").endswith(f":{victim.pid}")
                if survivor is None and mine and trial.state.name == "RUNNING":
                    # The second worker starts beside the victim's running trial: started
                    # with it, it could finish its 8 short trials before the victim's first
                    # heartbeat, and then nothing would be left to go on after the kill.
                    survivor = subprocess.Popen([sys.executable, str(script), url, "8", "5", "16"])
                running = trial.state.name == "RUNNING" and mine and trial.params
                if running and has_heartbeat(url, trial):
                    # Optuna judges staleness by the last heartbeat: a trial killed before
                    # its first one has none and would stay RUNNING. One killed before it
                    # drew its learning rate has no parameters for the retry to repeat.
                    victim.send_signal(signal.SIGKILL)
                    killed, killed_at = trial.number, time.monotonic()
                    killed_clock = datetime.datetime.now()
                    break
        assert killed is not None, "the victim never started a trial"
        assert victim.wait(timeout=30) == -signal.SIGKILL
        assert survivor.wait(timeout=120) == 0
    finally:
        for process in (victim, survivor):
            if process is not None and process.poll() is None:
                process.kill()
    before = {t.number: t for t in trials_of(url, "crash")}
    completed = {n: t.value for n, t in before.items() if t.state.name == "COMPLETE"}
    assert len(completed) >= 8  # the survivor's trials (and the victim's finished ones)
    assert any(
        t.datetime_complete > killed_clock for t in before.values() if t.state.name == "COMPLETE"
    )  # the study went on after the kill
    # The next worker to start a trial fails the silent one, once its heartbeat is 3 s old,
    # and runs it again from the queue. SQLite's clock has whole seconds, and Optuna wants
    # more than the grace period between two truncated times: wait 5 s, not 3.
    time.sleep(max(0.0, killed_at + 5.0 - time.monotonic()))
    from sklearn.datasets import load_digits

    space = {
        "epochs": 2,
        "batch_size": 16,
        "layers": [16, 16],
        "params": {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}},
    }
    tuning.tune(
        space,
        load_digits(return_X_y=True),
        sampler="random",
        n_trials=1,
        storage=url,
        study_name="crash",
        heartbeat=1,
        pruner="none",
        refit=False,
    )
    after = {t.number: t for t in trials_of(url, "crash")}
    assert after[killed].state.name == "FAIL"
    retries = [t for t in after.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].params == after[killed].params
    assert retries[0].state.name == "COMPLETE"
    for number, value in completed.items():  # no completed trial lost
        assert after[number].state.name == "COMPLETE" and after[number].value == value
    assert not [t for t in after.values() if t.state.name in ("RUNNING", "WAITING")]
