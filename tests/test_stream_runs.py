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
