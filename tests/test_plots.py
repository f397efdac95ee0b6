"""deepff.io.plots (each figure: file written, non-empty, expected labels) and ProgressBar."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import deepff as dff
from deepff.cli.progress import ProgressBar
from deepff.io import plots

PNG = b"\x89PNG\r\n\x1a\n"


def check_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 5000


def test_learning_curves(tmp_path):
    history = {
        "epoch": [1, 2, 3],
        "loss": [1.0, 0.6, 0.4],
        "val_loss": [1.1, 0.7, 0.6],
        "accuracy": [0.5, 0.7, 0.8],
        "val_accuracy": [0.4, 0.6, 0.7],
    }
    fig = plots.learning_curves(history, tmp_path / "curves.png", title="run")
    check_png(tmp_path / "curves.png")
    labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    assert labels == [("epoch", "loss"), ("epoch", "accuracy")]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["training", "validation"]
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), [1.1, 0.7, 0.6])
    # A History object works as well; regressors get their own metric panels.
    net = dff.Network([dff.Dense(1)], seed=0)
    history = net.fit(np.ones((4, 2)), np.ones(4), epochs=2, verbose=0)
    fig = plots.learning_curves(history)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss"]
    with pytest.raises(ValueError, match="no 'loss'"):
        plots.learning_curves({})


def test_confusion_matrix(tmp_path):
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    fig = plots.confusion_matrix(matrix, ["cat", "dog", "fox"], tmp_path / "cm.png")
    check_png(tmp_path / "cm.png")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "fox"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(map(str, matrix.ravel()))
    with pytest.raises(ValueError, match="shape"):
        plots.confusion_matrix(matrix, ["a", "b"])


def test_activations_is_the_papers_figure_2(tmp_path):
    fig = plots.activations(tmp_path / "fig2.png", modern=False)
    check_png(tmp_path / "fig2.png")
    assert [ax.get_title() for ax in fig.axes] == [
        "sigmoid",
        "tanh",
        "ReLU",
        "leaky ReLU (c = 0.05)",
    ]
    for ax in fig.axes:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("z", "g(z), g'(z)")
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["g(z)", "g'(z)"]
    leaky = fig.axes[3]
    z, g = leaky.lines[0].get_data()
    derivative = leaky.lines[1].get_ydata()
    assert g[0] == pytest.approx(0.05 * z[0]) and derivative[0] == pytest.approx(0.05)
    assert derivative[-1] == pytest.approx(1.0)
    sigmoid_derivative = fig.axes[0].lines[1].get_ydata()
    assert sigmoid_derivative.max() == pytest.approx(0.25, abs=1e-4)


def test_activations_draws_the_modern_ones_beside_figure_2(tmp_path):
    from deepff import activations

    fig = plots.activations(tmp_path / "all.png")
    check_png(tmp_path / "all.png")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["sigmoid", "tanh", "ReLU", "leaky ReLU (c = 0.05)"]
    assert titles[4:] == [title for title, _ in plots.MODERN_ACTIVATIONS]
    for ax, (_, name) in zip(fig.axes[4:], plots.MODERN_ACTIVATIONS, strict=True):
        z, g = ax.lines[0].get_data()
        function = activations.get(name)
        np.testing.assert_allclose(g, function.g(z.copy()))
        np.testing.assert_allclose(ax.lines[1].get_ydata(), function.derivative(z))
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["g(z)", "g'(z)"]
    gelu = fig.axes[4]
    assert gelu.lines[0].get_ydata()[-1] == pytest.approx(5.0, abs=1e-5)  # 5 Phi(5)


def test_decision_boundary(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    net = dff.Network(
        [dff.Dense(8, activation="tanh"), dff.Dense(1, activation="sigmoid")],
        optimizer=dff.Adam(0.05),
        seed=0,
    )
    net.fit(X, y, epochs=30, batch_size=16, verbose=0)
    fig = plots.decision_boundary(
        net.predict, X, y, tmp_path / "db.png", feature_names=["height", "width"]
    )
    check_png(tmp_path / "db.png")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("height", "width")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["down", "up"]
    with pytest.raises(ValueError, match="2-D points"):
        plots.decision_boundary(net.predict, np.zeros((3, 3)), y[:3])


def test_importing_deepff_does_not_import_matplotlib_or_rich():
    code = (
        "import sys, deepff, deepff.io.plots, deepff.io.datasets, deepff.io.toml, deepff.runs.run, "
        "deepff.cli, deepff.cli.train, deepff.cli.model, deepff.cli.plot, deepff.cli.progress; "
        "print(sorted(m for m in ('matplotlib', 'rich', 'pandas', 'h5py', 'sklearn', "
        "'PIL') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --- progress -------------------------------------------------------------------------------


def small_fit(**kwargs):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(int)
    net = dff.Network([dff.Dense(4, activation="relu"), dff.Dense(1, activation="sigmoid")], seed=0)
    return net.fit(X, y, epochs=3, batch_size=16, validation_split=0.25, **kwargs)


def test_verbose_1_prints_a_line_per_epoch_off_a_terminal(capsys):
    small_fit(verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3 - ") and "val_accuracy: " in lines[0]
    assert "eta" in lines[0] and "eta" not in lines[2]


def test_verbose_0_prints_nothing(capsys):
    small_fit(verbose=0)
    assert capsys.readouterr().out == ""


def test_live_display_with_rich():
    pytest.importorskip("rich")
    stream = io.StringIO()
    small_fit(verbose=0, callbacks=[ProgressBar(live=True, stream=stream)])
    text = stream.getvalue()
    assert "Epoch 3/3" in text and "val_loss" in text


def test_progress_counts_epochs_of_a_continued_fit():
    stream = io.StringIO()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2)), rng.integers(0, 2, 20)
    net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
    net.fit(X, y, epochs=2, verbose=0)
    net.fit(X, y, epochs=2, verbose=0, callbacks=[ProgressBar(live=False, stream=stream)])
    assert [line.split(" - ")[0] for line in stream.getvalue().splitlines()] == [
        "Epoch 3/4",
        "Epoch 4/4",
    ]


def test_a_run_on_2d_data_draws_its_decision_boundary(tmp_path, monkeypatch):
    from deepff.cli import main

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    np.savez(tmp_path / "two.npz", X=X, y=(X[:, 0] > X[:, 1]).astype(int))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "two.npz", "--layers", "4", "--epochs", "2", "-q", "--out", "run"]) == 0
    for name in ("decision_boundary.png", "learning_curves.png", "confusion_matrix.png"):
        check_png(tmp_path / "run" / name)
    (tmp_path / "run" / "decision_boundary.png").unlink()
    assert main(["plot", "run", "--out", "again"]) == 0
    check_png(tmp_path / "again" / "decision_boundary.png")
