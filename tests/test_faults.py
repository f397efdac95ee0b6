"""Faults, concurrency and determinism (issue 8, "Faults", "Concurrency", "Determinism").

- A run killed (SIGKILL) at random moments, then resumed, ends bit for bit where the
  uninterrupted run ends: weights, history, metrics and the model file's bytes.
- A save killed at random moments leaves the previous model file whole: what loads is the old
  model or the new one, never a mixture.
- A full disk (a 1 MB tmpfs) fails the save with a message naming the file and leaves no
  partial or temporary file; the command exits 2 with one line.
- ``predict`` / ``predict_proba`` / ``evaluate`` from 8 threads at once equal the serial
  results (Network and the scikit-learn estimators); two processes training into different
  run directories at once do not interfere.
- The same seed, data and machine give bit-identical weights, history and model-file bytes,
  in one process and across processes (whatever their hash seed).

``tests/test_cli.py`` kills one run right after its first checkpoint; here the kills fall at
random moments, twice in a row, and the file bytes are compared too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import deepff as dff

ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}
RUN = [
    "digits",
    "--layers",
    "32",
    "--epochs",
    "20",
    "--dropout",
    "0.2",
    "--batch-norm",
    "--early-stopping",
    "30",
    "--decay",
    "0.01",
    "--seed",
    "4",
    "-q",
]
RUN_FILES = ("model.safetensors", "history.csv", "metrics.json")  # config.toml names its DIR


def _with_epochs(epochs):
    i = RUN.index("--epochs")
    return [*RUN[:i], "--epochs", str(epochs), *RUN[i + 2 :]]


def deepff(*args, cwd, check=True, timeout=300):
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
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def start(*args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "deepff", *map(str, args)],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _epochs_logged(run: Path) -> int:
    try:
        return max(0, len((run / "history.csv").read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def _kill_after(process, run: Path, epochs: int, delay: float, deadline=120.0) -> bool:
    """SIGKILL ``process`` ``delay`` s after its run has logged ``epochs`` epochs.

    Returns whether it was still running when killed.
    """
    limit = time.monotonic() + deadline
    while _epochs_logged(run) < epochs and process.poll() is None and time.monotonic() < limit:
        time.sleep(0.001)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    cwd = tmp_path_factory.mktemp("faults")
    deepff("train", *RUN, "--out", "whole", cwd=cwd)
    return cwd


# --- SIGKILL during training ------------------------------------------------------------------


def test_killed_twice_at_random_moments_then_resumed_is_bit_identical(reference):
    cwd = reference
    rng = np.random.default_rng(int(time.time()))  # new moments on every run; printed on failure
    moments = [
        (int(rng.integers(1, 8)), float(rng.uniform(0, 0.04))),
        (int(rng.integers(9, 16)), float(rng.uniform(0, 0.04))),
    ]
    run = cwd / "cut"
    killed = _kill_after(start("train", *RUN, "--out", "cut", cwd=cwd), run, *moments[0])
    assert killed, f"the first run ended before its kill at {moments[0]}"
    if not (run / "checkpoint.safetensors").exists():  # killed before its first checkpoint
        deepff("train", *RUN, "--out", "cut", cwd=cwd)
    else:
        process = start("train", "--resume", "cut", cwd=cwd)
        if not _kill_after(process, run, *moments[1]):
            assert process.returncode == 0, process.stderr.read()
        if not (run / "model.safetensors").exists():
            deepff("train", "--resume", "cut", cwd=cwd)
    for name in RUN_FILES:
        assert (cwd / "whole" / name).read_bytes() == (run / name).read_bytes(), (name, moments)
    assert [p.name for p in run.iterdir() if p.name.endswith((".tmp", ".part"))] == []


def test_resume_after_a_kill_inside_a_checkpoint_write(reference):
    # The write itself is killed: the temporary file is left, the checkpoint before it is whole.
    cwd = reference
    run = cwd / "mid"
    deepff("train", *_with_epochs(6), "--out", "mid", cwd=cwd)
    # Fake a kill in the middle of the next checkpoint write: a half-written temporary.
    checkpoint = run / "checkpoint.safetensors"
    data = checkpoint.read_bytes()
    (run / ".checkpoint.safetensors.x1y2z3.tmp").write_bytes(data[: len(data) // 2])
    (run / "model.safetensors").unlink()
    (run / "history.csv.part").write_text("epoch,loss\n")  # and a half-rewritten history
    with open(run / "history.csv", "a") as history:  # and a row cut short ("1" of "10,...")
        history.write("1")
    deepff("train", "--resume", "mid", "--epochs", "20", cwd=cwd)
    for name in RUN_FILES:
        assert (cwd / "whole" / name).read_bytes() == (run / name).read_bytes(), name
    # No temporary is left: the dot files are the run's marker and its lock file.
    hidden = sorted(p.name for p in run.iterdir() if p.name.startswith("."))
    assert hidden == [".deepff-run", ".deepff-run.lock"]
    assert not (run / "history.csv.part").exists()


# --- SIGKILL during a save --------------------------------------------------------------------

SAVER = textwrap.dedent("""
    import sys
    import deepff as dff

    net = dff.Network([dff.Dense(1500, activation="relu"), dff.Dense(1)], seed=0)
    net.build(1000)  # 1.5 million weights: 18 MB with the optimizer state
    k = 0
    while True:
        net.parameters[...] = k  # model k: every value is k
        net.optimizer_state["first_moment"][...] = k
        net.epoch = k
        net.save(sys.argv[1], metadata={"k": k})
        print(k, flush=True)
        k += 1
""")


def test_sigkill_during_save_leaves_a_whole_model(tmp_path):
    path = tmp_path / "model.safetensors"
    rng = np.random.default_rng(int(time.time()))
    interrupted = 0
    for round_ in range(6):
        process = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)], env=ENV, stdout=subprocess.PIPE, text=True
        )
        first = process.stdout.readline()  # one save is whole: the file exists
        assert first.strip().isdigit(), first
        time.sleep(float(rng.uniform(0.0, 0.3)))
        process.send_signal(signal.SIGKILL)
        process.wait()
        saved = [int(line) for line in [first, *process.stdout.read().split()] if line.strip()]
        process.stdout.close()
        network = dff.load(path)  # never a half-written file
        k = network.epoch
        assert network.metadata == {"k": k}
        assert np.all(network.parameters == k), f"round {round_}: a mixture of models"
        assert np.all(network.optimizer_state["first_moment"] == k)
        # The file holds the last model reported saved, or the one after it (saved, renamed,
        # killed before it could print).
        assert saved[-1] <= k <= saved[-1] + 1, (saved[-1], k)
        leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        interrupted += bool(leftovers)
        for leftover in leftovers:
            leftover.unlink()
    assert interrupted, "no kill fell inside a write: the test proved nothing"


# --- a full disk ------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(directory: Path, size: str = "1m"):
    directory.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        directory.rmdir()
        pytest.skip(f"cannot mount a small tmpfs: {result.stderr.strip() or result.returncode}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def test_full_disk_fails_the_save_cleanly(tmp_path):
    small = dff.Network([dff.Dense(4), dff.Dense(1)], seed=0).build(3)
    large = dff.Network([dff.Dense(300, activation="relu"), dff.Dense(1)], seed=0).build(400)
    with small_disk(tmp_path / "disk") as disk:
        path = disk / "model.safetensors"
        small.save(path)
        before = path.read_bytes()
        with pytest.raises(
            OSError,
            match=r"cannot write .*model\.safetensors: No space left "
            r"on device",
        ) as caught:
            large.save(path)  # 1.4 MB with its optimizer state
        assert caught.value.errno == 28
        assert path.read_bytes() == before  # the old model is untouched
        assert sorted(p.name for p in disk.iterdir()) == ["model.safetensors"]  # no temporary
        assert dff.load(path).n_parameters == small.n_parameters
        # Once there is room, the same save works.
        path.unlink()
        large.save(path, include_optimizer=False)
        assert dff.load(path).n_parameters == large.n_parameters


def test_full_disk_in_the_command_line(tmp_path):
    with small_disk(tmp_path / "disk", size="256k") as disk:
        result = deepff(
            "train",
            "digits",
            "--layers",
            "256,128",
            "--epochs",
            "2",
            "--out",
            disk / "run",
            "-q",
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith("deepff: error: ") and "No space left on device" in lines[0]
        left = [p.name for p in (disk / "run").iterdir()]
        assert not [name for name in left if name.endswith((".tmp", ".part"))], left
        assert "model.safetensors" not in left


# --- concurrency ------------------------------------------------------------------------------


def _concurrently(call, n_threads=8, rounds=3):
    barrier = threading.Barrier(n_threads)

    def work(i):
        barrier.wait()  # all at once
        return [call(i) for _ in range(rounds)]

    with ThreadPoolExecutor(n_threads) as pool:
        return [result for results in pool.map(work, range(n_threads)) for result in results]


def test_predict_from_8_threads_equals_serial():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 12))  # three chunks of the engine's 8192 rows
    y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])
    net = dff.Network(
        [
            dff.Dense(32, activation="relu", batch_norm=True),
            dff.Dropout(0.3),
            dff.Dense(16, activation="tanh"),
            dff.BatchNorm(),
            dff.Dense(3, activation="softmax"),
        ],
        seed=0,
    )
    net.fit(X[:2000], y[:2000], epochs=2, verbose=0)
    slices = [slice(0, 20_000), slice(5, 9000), slice(100, 101), slice(3, 8195)]
    serial = [
        (net.predict(X[s]), net.predict_proba(X[s]), net.evaluate(X[s], y[s])) for s in slices
    ]
    state = net.get_state()

    def call(i):
        s = slices[i % len(slices)]
        return i % len(slices), net.predict(X[s]), net.predict_proba(X[s]), net.evaluate(X[s], y[s])

    for j, labels, proba, metrics in _concurrently(call):
        np.testing.assert_array_equal(labels, serial[j][0])
        np.testing.assert_array_equal(proba, serial[j][1])
        assert metrics == serial[j][2]
    for key, value in net.get_state().items():  # inference changed nothing
        np.testing.assert_array_equal(value, state[key])


def test_estimators_predict_from_8_threads_equals_serial():
    pytest.importorskip("sklearn")
    from deepff.estimators import DNNClassifier, DNNRegressor

    rng = np.random.default_rng(1)
    X = rng.normal(size=(10_000, 8))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    classifier = DNNClassifier((16, 8), batch_norm=True, max_iter=2, random_state=0)
    regressor = DNNRegressor((16,), max_iter=2, random_state=0, dtype="float32")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        classifier.fit(X[:1000], y[:1000])
        regressor.fit(X[:1000], X[:1000, 0])
    serial = (classifier.predict(X), classifier.predict_proba(X), regressor.predict(X))

    def call(i):
        return classifier.predict(X), classifier.predict_proba(X), regressor.predict(X)

    for labels, proba, values in _concurrently(call):
        np.testing.assert_array_equal(labels, serial[0])
        np.testing.assert_array_equal(proba, serial[1])
        np.testing.assert_array_equal(values, serial[2])


def test_two_processes_training_into_different_runs_do_not_interfere(reference):
    cwd = reference
    first = start("train", *RUN, "--out", "one", cwd=cwd)
    second = start("train", *RUN, "--out", "two", cwd=cwd)
    for process in (first, second):
        assert process.wait(timeout=300) == 0, process.stderr.read()
        process.stderr.close()
    for name in RUN_FILES:
        whole = (cwd / "whole" / name).read_bytes()
        assert (cwd / "one" / name).read_bytes() == whole, name
        assert (cwd / "two" / name).read_bytes() == whole, name


# --- determinism ------------------------------------------------------------------------------


def _trained(seed=7):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = np.where(X[:, 0] > X[:, 1], "left", np.where(X[:, 2] > 0, "up", "down"))
    net = dff.Network(
        [
            dff.Dense(16, activation="relu", batch_norm=True),
            dff.Dropout(0.25),
            dff.Dense(3, activation="softmax", l2=0.01),
        ],
        optimizer=dff.Adam(dff.ExponentialDecay(0.01, rate=0.9)),
        seed=seed,
    )
    history = net.fit(X, y, epochs=4, batch_size=32, validation_split=0.2, verbose=0)
    return net, history


def test_same_seed_same_weights_history_and_bytes_in_one_process(tmp_path):
    (a, history_a), (b, history_b) = _trained(), _trained()
    np.testing.assert_array_equal(a.parameters, b.parameters)
    assert history_a.history == history_b.history
    a.save(tmp_path / "a.safetensors", metadata={"note": "same"})
    b.save(tmp_path / "b.safetensors", metadata={"note": "same"})
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    c, _ = _trained(seed=8)
    assert not np.array_equal(a.parameters, c.parameters)


DETERMINISM = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from deepff import _fused
    from test_faults import _trained

    _fused.MIN_WORK = 0  # the kernels on, as conftest.py has them for the run compared below

    net, history = _trained()
    net.save(sys.argv[1], metadata={"history": history.history, "labels": sorted({"b", "a"})})
""")


def test_same_seed_same_bytes_across_processes_and_hash_seeds(tmp_path):
    paths = []
    for hash_seed in ("1", "2"):
        path = tmp_path / f"model{hash_seed}.safetensors"
        subprocess.run(
            [sys.executable, "-c", DETERMINISM, str(path), str(Path(__file__).parent)],
            env={**ENV, "PYTHONHASHSEED": hash_seed},
            check=True,
            timeout=120,
        )
        paths.append(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    net, _ = _trained()
    loaded = dff.load(paths[0])
    np.testing.assert_array_equal(loaded.parameters, net.parameters)
