"""The tuning storage under a careless user and a flaky database (issue 13).

Every storage URL form the docs show works with what the ``tune`` extra installs (psycopg2);
a database that goes away mid-study gives one clear line and a failed trial, and the study
resumes later; a locked SQLite file says that deepff waits, and how long.
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
