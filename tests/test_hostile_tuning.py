"""The tuning storage under a careless user and a flaky database (issue 13).

Every storage URL form the docs show works with what the ``tune`` extra installs (psycopg2);
a database that goes away mid-study gives one clear line and a failed trial, and the study
resumes later; a locked SQLite file says that deepff waits, and how long, whenever the wait
starts (opening the study or mid-trial).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from deepff.cli import main  # noqa: E402
from deepff.tuning import study as study_module  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
SPACE = """\
epochs = {epochs}
layers = [16]
[params]
learning_rate = {{ low = 1e-3, high = 1e-2, log = true }}
"""


def test_driver_url_names_the_installed_driver():
    assert study_module.driver_url("sqlite:///x.db") == "sqlite:///x.db"
    pytest.importorskip("psycopg2")
    for form in ("postgresql://tuner@db/deepff", "postgres://tuner@db/deepff"):
        assert study_module.driver_url(form) == "postgresql+psycopg2://tuner@db/deepff"


class Server:
    """A throwaway PostgreSQL server on a Unix socket, which a test may stop and start."""

    def __init__(self):
        from test_tuning import _postgres_binaries

        pytest.importorskip("psycopg2")
        self.binaries = _postgres_binaries()
        if self.binaries is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.folder = tempfile.mkdtemp(prefix="deepff-pg13-")
        self.runner = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as postgres
            import pwd

            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a 'postgres' user")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self.runner = [shutil.which("runuser"), "-u", "postgres", "--"]
        self.data = os.path.join(self.folder, "data")
        done = self.tool("initdb", "-D", self.data, "-U", "deepff", "--auth=trust", "--no-sync")
        assert done.returncode == 0, done.stderr
        self.start()

    def tool(self, name, *args):
        return subprocess.run(
            [*self.runner, os.path.join(self.binaries, name), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.folder,
        )

    def start(self):
        options = f"-k {self.folder} -c listen_addresses='' -p 5433 -F"
        log = os.path.join(self.folder, "log")
        done = self.tool("pg_ctl", "-D", self.data, "-o", options, "-l", log, "-w", "start")
        assert done.returncode == 0, done.stderr

    def stop(self):
        self.tool("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def url(self, scheme="postgresql"):
        return f"{scheme}://deepff@/postgres?host={self.folder}&port=5433"

    def trials(self, name):
        study = optuna.load_study(study_name=name, storage=self.url("postgresql+psycopg2"))
        return [(t.number, t.state.name) for t in study.get_trials(deepcopy=False)]


@pytest.fixture
def server():
    server = Server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.toml").write_text(SPACE.format(epochs=5))
    (tmp_path / "slow.toml").write_text(SPACE.format(epochs=400).replace("[16]", "[128, 128]"))
    return tmp_path


def test_every_storage_url_form_of_the_docs_works(server, workdir, capsys):
    for number, scheme in enumerate(("postgresql", "postgres", "postgresql+psycopg2")):
        status = main(
            ["tune", "iris", "--space", "space.toml", "--storage", server.url(scheme),
             "--study", "forms", "--trials", "1", "--out", f"t{number}", "--no-plots",
             "--no-refit", "--quiet"]
        )  # fmt: skip
        err = capsys.readouterr().err
        assert status == 0, err
    assert [state for _, state in server.trials("forms")] == ["COMPLETE"] * 3


def test_a_database_that_goes_away_mid_study_is_one_line_and_a_failed_trial(server, workdir):
    command = [
        sys.executable, "-m", "deepff", "tune", "digits", "--space", "slow.toml",
        "--storage", server.url(), "--study", "gone", "--trials", "100", "--out", "t",
        "--no-plots", "--heartbeat", "1", "--pruner", "none", "--quiet",
    ]  # fmt: skip
    # The schema first: two processes creating Optuna's tables at once collide in PostgreSQL.
    optuna.storages.RDBStorage(server.url("postgresql+psycopg2"))
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                states = [state for _, state in server.trials("gone")]
            except KeyError:
                continue
            if "COMPLETE" in states and "RUNNING" in states:
                break
        server.stop()
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    lines = [line for line in err.splitlines() if line]
    assert process.returncode == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("deepff: error: the study's database went away"), err
    assert "run the same command again to resume the study" in lines[0]
    assert "Traceback" not in err and "UnboundLocalError" not in err
    server.start()
    left = [number for number, state in server.trials("gone") if state == "RUNNING"]
    assert len(left) <= 1
    time.sleep(3.5)  # three heartbeats: the trial left running is stale now
    resumed = subprocess.run(
        [*command[:command.index("--trials")], "--trials", "1", "--out", "t",
         "--no-plots", "--heartbeat", "1", "--pruner", "none", "--quiet"],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    states = dict(server.trials("gone"))
    assert all(states[number] == "FAIL" for number in left), states
    assert "RUNNING" not in states.values()


def test_a_locked_sqlite_study_says_it_waits_and_how_long(tmp_path, capsys, monkeypatch):
    url = "sqlite:///" + str(tmp_path / "study.db")
    study_module.open_study(url, None, "first", "accuracy")
    holder = sqlite3.connect(tmp_path / "study.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(2.0, lambda: holder.execute("COMMIT")).start()
    study = study_module.open_study(url, None, "first", "accuracy")  # waits for the commit
    err = capsys.readouterr().err
    assert f"deepff: waiting for the lock on {tmp_path / 'study.db'}" in err
    assert f"giving up after {study_module.SQLITE_TIMEOUT} s" in err
    assert study.study_name == "first"
    holder.execute("BEGIN IMMEDIATE")  # and held for good
    monkeypatch.setattr(study_module, "SQLITE_TIMEOUT", 1)
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"database is locked: another process held it for "
                       r"more than 1 s"):  # fmt: skip
        study_module.open_study(url, None, "second", "accuracy")
    assert time.monotonic() - started < 30
    holder.execute("ROLLBACK")
    holder.close()
    assert Path(tmp_path / "study.db").exists()


HOLD = """\
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""


def test_a_lock_met_mid_study_is_said_as_the_wait_starts_and_the_study_goes_on(
    tmp_path, monkeypatch
):
    """Input: another process takes ``BEGIN EXCLUSIVE`` on study.db while a trial runs (at
    its third epoch, before the epoch's score is written). Message: one line naming the
    file, the other process's lock and the longest wait, while the lock is still held.
    Then the lock is released and the study finishes with every epoch's score recorded."""
    from deepff.tuning import objective, tune

    out = tmp_path / "t"
    database = out / "study.db"
    seen, times, holder = threading.Event(), {}, []

    class Recorder:
        def __init__(self):
            self.lines = []

        def write(self, text):
            if "deepff: waiting for the lock" in text:
                times["message"] = time.monotonic()
                seen.set()
            self.lines.append(text)
            return len(text)

        def flush(self):
            pass

    def release():
        seen.wait(60)
        times["held when said"] = holder[0].poll() is None
        time.sleep(1.0)
        times["released"] = time.monotonic()
        holder[0].stdin.write("\n")
        holder[0].stdin.flush()

    report = objective._Report.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2 and not holder:
            holder.append(
                subprocess.Popen(
                    [sys.executable, "-c", HOLD, str(database)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            assert holder[0].stdout.readline().strip() == "held"
            times["held"] = time.monotonic()
            threading.Thread(target=release, daemon=True).start()
        return report(self, epoch, logs)

    monkeypatch.setattr(objective._Report, "on_epoch_end", on_epoch_end)
    recorder = Recorder()
    monkeypatch.setattr(sys, "stderr", recorder)
    space = {"epochs": 6, "layers": [8], "params": {"learning_rate": {"low": 1e-3, "high": 1e-2}}}
    try:
        result = tune(space, "iris", n_trials=1, seed=0, out=out, plots=False, refit=False)
    finally:
        if holder and holder[0].poll() is None:
            holder[0].kill()
        monkeypatch.undo()
    said = [line for line in "".join(recorder.lines).splitlines() if "waiting" in line]
    assert said and set(said) == {  # one line a wait (the heartbeat thread may wait too)
        f"deepff: waiting for the lock on {database} (another process is writing the study); "
        f"giving up after {study_module.SQLITE_TIMEOUT} s"
    }
    assert times["held when said"] and times["message"] < times["released"]
    assert times["message"] - times["held"] < 5  # as the wait starts, not at its end
    assert holder[0].wait(timeout=30) == 0
    assert [row["state"] for row in result.trials] == ["COMPLETE"]
    trial = optuna.load_study(study_name="deepff", storage=f"sqlite:///{database}").trials[0]
    assert sorted(trial.intermediate_values) == list(range(6))


def test_a_study_refused_after_the_output_folder_was_made_leaves_none(tmp_path, capsys):
    # Input: --storage holds study "s", maximizing; --metric loss minimizes, which only the
    # open study can say, after --out (new, two levels) was made. The message: one line,
    # exit 2. Nothing changed: no output folder, and the study has no trial.
    url = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(storage=url, study_name="s", direction="maximize")
    out = tmp_path / "new" / "out"
    args = ["tune", "iris", "--storage", str(tmp_path / "other.db"), "--study", "s"]
    assert main([*args, "--out", str(out), "--metric", "loss", "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert "study 's' is set to maximize its objective" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "new").exists()
    assert optuna.load_study(study_name="s", storage=url).trials == []
