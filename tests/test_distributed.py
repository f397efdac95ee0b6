"""Data-parallel training over MPI (issue 16, part 2): N ranks give one process's model,
and every failure ends every rank with one message, never a hang."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

import deepff as dff

sys.path.insert(0, str(Path(__file__).parent))
import _mpi_worker  # the networks the ranks train

WORKER = Path(__file__).with_name("_mpi_worker.py")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install 'deepff[mpi]')")


def _run(n, out, mode, timeout=120, batch=20, module=False):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "BATCH": str(batch)}
    command = [MPIEXEC, "-n", str(n), sys.executable]
    command += ["-m", "mpi4py", str(WORKER)] if module else [str(WORKER)]
    started = time.monotonic()
    result = subprocess.run(
        [*command, str(out), mode], env=env, capture_output=True, text=True, timeout=timeout
    )
    return result, time.monotonic() - started


def _reference(mode):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(103, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    net = _mpi_worker.network(mode)
    history = net.fit(X, y, epochs=4, batch_size=20, verbose=0)
    return net.parameters, np.array(history.history["loss"])


@pytest.mark.parametrize("mode", ["plain", "l1", "bn"])
def test_one_two_and_three_ranks_train_the_model_of_one_process(tmp_path, mode):
    expected, loss = _reference(mode)
    for n in (1, 2, 3):
        out = tmp_path / f"{mode}{n}.npy"
        result, _ = _run(n, out, mode)
        assert result.returncode == 0, result.stderr
        np.testing.assert_allclose(np.load(out), expected, rtol=0, atol=1e-10)
        # the epoch's loss is summed over ranks: one process's history too
        np.testing.assert_allclose(np.load(str(out) + ".loss.npy"), loss, rtol=1e-10)


def test_a_source_streamed_by_ranks_trains_the_model_of_one_process(tmp_path):
    from deepff.io.stream import ArraySource, fit_source

    rng = np.random.default_rng(7)
    X = rng.normal(size=(103, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    net = _mpi_worker.network("source")
    fit_source(net, ArraySource(np.c_[X, y]), -1, epochs=4, batch_size=20, chunk_rows=16, window=2)
    for n in (2, 3):
        result, _ = _run(n, tmp_path / f"s{n}.npy", "source")
        assert result.returncode == 0, result.stderr
        np.testing.assert_allclose(np.load(tmp_path / f"s{n}.npy"), net.parameters, atol=1e-10)


def test_a_killed_rank_stops_every_rank_with_one_message_not_a_hang(tmp_path):
    result, seconds = _run(2, tmp_path / "k.npy", "kill", timeout=90)
    assert result.returncode != 0 and seconds < 90
    said = result.stdout + result.stderr
    assert "BAD TERMINATION" in said and "signal 9" in said
    assert not (tmp_path / "k.npy").exists()


def test_an_error_on_one_rank_aborts_every_rank(tmp_path):
    for module in (False, True):  # the guard of distributed.fit, and python -m mpi4py's
        result, seconds = _run(2, tmp_path / "r.npy", "raise", timeout=90, module=module)
        assert result.returncode != 0 and seconds < 90
        said = "deepff: error on rank 1 of 2: RuntimeError: rank 1 failed on purpose"
        assert result.stderr.count(said) == 1
    assert not (tmp_path / "r.npy").exists()


@pytest.mark.parametrize(
    ("mode", "batch", "message"),
    [
        ("plain", 2, "3 ranks need at least 3 rows in every global batch"),
        ("version", 20, "the ranks disagree on the deepff version"),
        ("missing", 20, "the ranks disagree on the data's shape"),
    ],
)
def test_bad_input_is_the_same_clear_error_on_every_rank(tmp_path, mode, batch, message):
    result, _ = _run(3, tmp_path / "b.npy", mode, batch=batch)
    assert result.returncode != 0
    assert result.stderr.count(message) == 3, result.stderr[-3000:]
    assert not (tmp_path / "b.npy").exists()


DEEPFF = Path(sys.executable).with_name("deepff")


def _table(folder):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    rows = ["a,b,c,d,e,label"]
    rows += [
        ",".join(f"{v:.17g}" for v in x) + ("," + ("yes" if x[0] + x[1] > 0 else "no")) for x in X
    ]
    (folder / "d.csv").write_text("\n".join(rows) + "\n")
    return folder / "d.csv"


def _deepff(n, *args, cwd, extra=None, timeout=180):
    (Path(cwd) / "tmp").mkdir(exist_ok=True)  # the ranks' private folders go here
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TMPDIR": str(Path(cwd) / "tmp")}
    command = [MPIEXEC, "-n", str(n), str(DEEPFF), *args]
    if extra is not None:
        command += [":", "-n", "1", str(DEEPFF), *extra]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def test_the_command_line_under_mpiexec_trains_and_resumes_one_process_model(tmp_path):
    data = _table(tmp_path)
    common = ["--batch-size", "32", "--seed", "0", "--quiet"]
    one = subprocess.run(
        [str(DEEPFF), "train", str(data), "--out", "one", "--epochs", "5", *common],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    two = _deepff(2, "train", str(data), "--out", "two", "--epochs", "3", *common, cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("Wrote two/") == 1  # rank 0 alone speaks and writes
    again = _deepff(2, "train", "--resume", "two", "--epochs", "5", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    a, b = (
        dff.load(tmp_path / "one/model.safetensors"),
        dff.load(tmp_path / "two/model.safetensors"),
    )
    assert b.epoch == 5
    X = np.random.default_rng(1).normal(size=(50, 5)).astype(np.float32)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), atol=1e-5)
    assert not list((tmp_path / "tmp").iterdir())  # rank 1's private folder is gone


def test_data_missing_on_one_rank_is_one_error_on_every_rank_and_writes_nothing(tmp_path):
    data = _table(tmp_path)
    args = ["--out", "run", "--epochs", "2", "--quiet"]
    result = _deepff(1, "train", str(data), *args, cwd=tmp_path, extra=["train", "gone.csv", *args])
    assert result.returncode == 2
    assert result.stderr.count("rank 1 of 2: gone.csv: no such file") == 2
    assert not (tmp_path / "run").exists()


def test_the_default_run_directory_is_refused_under_mpiexec(tmp_path):
    result = _deepff(2, "train", str(_table(tmp_path)), "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 2 and "name the run directory with --out" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_streamed_run_under_mpiexec_reads_shares_and_trains_one_process_model(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(900, 4))
    rows = ["a,b,c,d,label"] + [
        ",".join(f"{v:.17g}" for v in x) + f",{int(x[0] - x[1] > 0)}" for x in X
    ]
    (tmp_path / "n.csv").write_text("\n".join(rows) + "\n")
    common = ["--shuffle", "windowed", "--epochs", "3", "--batch-size", "30", "--quiet"]
    one = subprocess.run(
        [str(DEEPFF), "train", "n.csv", "--out", "one", *common],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    two = _deepff(2, "train", "n.csv", "--out", "two", *common, cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    a, b = (
        dff.load(tmp_path / "one/model.safetensors"),
        dff.load(tmp_path / "two/model.safetensors"),
    )
    X32 = X[:50].astype(np.float32)
    np.testing.assert_allclose(b.predict_proba(X32), a.predict_proba(X32), atol=1e-5)
    metrics = [json.loads((tmp_path / f"{r}/metrics.json").read_text()) for r in ("one", "two")]
    assert metrics[0]["test"]["examples"] == metrics[1]["test"]["examples"]
    assert abs(metrics[0]["test"]["loss"] - metrics[1]["test"]["loss"]) < 1e-5
