"""Issue 18: ``deepff train`` on a terminal, driven through a pseudo-terminal of 80 columns:
the loading spinner, lined-up columns, 80 columns, Ctrl-C and the ``--resume`` command, an
ETA that leaves out start-up."""

from __future__ import annotations

import io
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deepff as dff
from deepff.cli.progress import ProgressBar

pexpect = pytest.importorskip("pexpect")
pytest.importorskip("rich")

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen_lines(raw: str) -> list:
    """What the terminal showed, line by line: escapes removed, each \\r-overwrite a line."""
    text = ESCAPE.sub("", raw).replace("\r\n", "\n")
    return [part for line in text.split("\n") for part in line.split("\r") if part]


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40_000, 12))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path = tmp_path_factory.mktemp("tty") / "big.csv"
    with open(path, "w") as handle:
        handle.write(",".join(f"f{i}" for i in range(12)) + ",label\n")
        for row, label in zip(X, labels, strict=True):
            handle.write(",".join(f"{v:.4f}" for v in row) + f",{label}\n")
    return path


def spawn(args, cwd):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "deepff", *map(str, args)],
        cwd=str(cwd),
        env=env,
        dimensions=(24, 80),
        timeout=180,
        encoding="utf-8",
        # ^C makes the terminal flush its output queue (ISIG without NOFLSH), which can cut
        # a bar's multibyte character in two: read what is left, as a terminal shows it
        codec_errors="replace",
    )
    child.logfile_read = io.StringIO()
    return child


def test_ctrl_c_restores_the_terminal_and_says_how_to_resume(big_csv, tmp_path):
    out = "run"  # relative: the printed command is the one to type in tmp_path
    child = spawn(["train", big_csv, "--epochs", "60", "--out", out, "--layers", "32"], tmp_path)
    child.expect(r"Epoch +3/60")
    time.sleep(0.3)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    raw = child.logfile_read.getvalue()
    assert child.exitstatus == 130
    lines = screen_lines(raw)
    # the spinner named the file and its size while the data loaded
    assert any(re.search(r"Reading big\.csv \(\d+\.\d MB\)", line) for line in lines), lines[:5]
    assert "target: 'label' (the last column; choose another with --target COL)" in lines
    # the cursor shown again after the last time the display hid it; the exact command
    assert raw.rfind("\x1b[?25h") > raw.rfind("\x1b[?25l") >= 0
    resume = f"deepff: interrupted; continue with: deepff train --resume {out}"
    assert resume in lines
    assert "Traceback" not in raw
    # 80 columns (the echoed ^C aside)
    assert all(len(line.replace("^C", "")) <= 80 for line in lines), max(lines, key=len)
    # train and validation columns lined up under the header
    header = next(line for line in lines if "val_loss" in line and "time" in line)
    rows = [line for line in lines if re.match(r"Epoch +\d+/60 ", line)]
    assert len(rows) >= 3
    for row in rows:
        assert row.index("|") == header.index("|")
        assert len(row.rstrip()) == len(header.rstrip())
    # the command it printed continues the run
    child = spawn(["train", "--resume", out, "--quiet"], tmp_path)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.logfile_read.getvalue()[-2000:]
    assert Path(tmp_path, out, "model.safetensors").exists()


class _SlowStart(dff.Callback):
    """Start-up cost in the first batch of the first epoch (as a JIT compile would be)."""

    def on_batch_end(self, batch, logs=None):
        if batch == 0 and not getattr(self, "done", False):
            self.done = True
            time.sleep(1.0)


def test_the_first_eta_leaves_out_start_up():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(400, 4)), rng.integers(0, 2, 400)
    stream = io.StringIO()
    net = dff.Network([dff.Dense(4, activation="relu"), dff.Dense(1, activation="sigmoid")])
    net.fit(
        X,
        y,
        epochs=4,
        batch_size=20,
        verbose=0,
        callbacks=[_SlowStart(), ProgressBar(live=False, stream=stream)],
    )
    first = stream.getvalue().splitlines()[0]
    assert first.endswith("eta 0s"), first  # not 3 s: three more epochs of the slow first one
