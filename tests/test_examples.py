"""The example scripts run end to end (``--quick``: a few epochs, one seed) and write their
tables and figures. The numbers of a quick run mean nothing; the full runs are documented in
examples/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

EXAMPLES = {
    "cat_vs_noncat": {
        "needs": ["train_catvnoncat.h5", "test_catvnoncat.h5"],
        "writes": [
            "results.md",
            "course.csv",
            "course.md",
            "ladder.csv",
            "ladder.md",
            "tuning.csv",
            "course_2-layer_learning_curves.png",
            "course_4-layer_confusion.png",
            "course_4-layer_mislabeled.png",
            "ladder_learning_curves.png",
            "tuned_confusion.png",
            "tuned_mislabeled.png",
        ],
    },
    "hand_signs": {
        "needs": ["signs_cs230_64x64.npz", "test_signs.h5"],
        "writes": [
            "results.md",
            "results.csv",
            "course_learning_curves.png",
            "mlp_learning_curves.png",
            "mlp_confusion.png",
            "mlp_mislabeled.png",
        ],
    },
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_runs_quick_and_writes_its_outputs(name, tmp_path):
    spec = EXAMPLES[name]
    missing = [f for f in spec["needs"] if not (DATA / f).exists()]
    if missing:
        pytest.skip(f"data for examples/{name}.py not found under {DATA}: {', '.join(missing)}")
    pytest.importorskip("h5py")
    pytest.importorskip("matplotlib")
    out = tmp_path / name
    # One BLAS thread: quicker for these tiny runs, and kinder to a shared machine.
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / f"{name}.py"),
            "--quick",
            "--data",
            str(DATA),
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{name}.py failed:\n{result.stdout}\n{result.stderr}"
    for filename in spec["writes"]:
        path = out / filename
        assert path.is_file() and path.stat().st_size > 0, f"{name}.py did not write {filename}"
    assert "quick" in (out / "results.md").read_text()


def test_demo_example_trains_saves_and_loads(tmp_path):
    # examples/demo.py is the Python twin of `make demo` that docs/getting-started.md promises.
    pytest.importorskip("sklearn")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(tmp_path / "demo")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "demo" / "digits.safetensors").is_file()
    accuracy = float(result.stdout.rsplit("test accuracy", 1)[1])
    assert accuracy > 0.9, result.stdout
