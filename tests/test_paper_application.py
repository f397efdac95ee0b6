"""The paper's application reproduced exactly: cat vs non-cat (issue 2, "What must be shown").

Data and published figures: ``../shared/data`` beside the project root (see its README.md), the
deeplearning.ai course 1 notebook "Deep Neural Network - Application". Starting from the course's
own weights (``np.random.seed(1)``, then for each layer in order ``randn(n[l], n[l-1])`` times
0.01 for 12288-7-1, divided by sqrt(n[l-1]) for 12288-20-7-5-1; zero biases), batch gradient
descent at 0.0075 for 2500 iterations in float64 gives the published costs at iterations 0 and
2400 to 1e-6, and the published train / test accuracies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import deepff as dff

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAIN = DATA / "train_catvnoncat.h5"
TEST = DATA / "test_catvnoncat.h5"

# (layer sizes, weight scaling, published costs at 0 and 2400 as printed (6 decimals), the same
#  costs at full precision as the course's float64 NumPy code gives them, correct predictions on
#  the 209 training and 50 test images: 1.00 / 0.72 and 0.9856 / 0.80)
CASES = {
    "2-layer 12288-7-1": (
        [12288, 7, 1],
        "0.01",
        (0.693050, 0.048555),
        (0.6930497356599888, 0.048554785628770206),
        (209, 36),
    ),
    "4-layer 12288-20-7-5-1": (
        [12288, 20, 7, 5, 1],
        "1/sqrt(n[l-1])",
        (0.771749, 0.092878),
        (0.7717493284237686, 0.09287821526472397),
        (206, 40),
    ),
}


@pytest.fixture(scope="module")
def cat_data():
    if not (TRAIN.exists() and TEST.exists()):
        pytest.skip(f"cat vs non-cat data not found under {DATA}")
    h5py = pytest.importorskip("h5py")
    with h5py.File(TRAIN, "r") as f:
        train_x, train_y = f["train_set_x"][:], f["train_set_y"][:]
    with h5py.File(TEST, "r") as f:
        test_x, test_y = f["test_set_x"][:], f["test_set_y"][:]
    assert train_x.shape == (209, 64, 64, 3) and train_x.dtype == np.uint8
    assert test_x.shape == (50, 64, 64, 3)
    X = train_x.reshape(train_x.shape[0], -1).astype(np.float64) / 255.0
    X_test = test_x.reshape(test_x.shape[0], -1).astype(np.float64) / 255.0
    return X, train_y.reshape(-1), X_test, test_y.reshape(-1)


def course_weights(dims, scaling):
    """The course's initialization: one RandomState(1) stream, layer after layer."""
    rs = np.random.RandomState(1)
    weights = []
    for n_out, n_in in zip(dims[1:], dims[:-1], strict=True):
        W = rs.randn(n_out, n_in)
        weights.append(W * 0.01 if scaling == "0.01" else W / np.sqrt(n_in))
    return weights


@pytest.mark.parametrize("case", list(CASES))
def test_cat_vs_non_cat_reproduces_published_costs_and_accuracies(case, cat_data):
    X, y, X_test, y_test = cat_data
    dims, scaling, published, full_precision, (train_correct, test_correct) = CASES[case]

    layers = [dff.Dense(n, activation="relu") for n in dims[1:-1]]
    layers.append(dff.Dense(1, activation="sigmoid"))
    net = dff.Network(
        layers, loss="binary_crossentropy", optimizer=dff.SGD(0.0075), dtype="float64"
    )
    net.build(dims[0])
    for layer, W in zip(net.layers, course_weights(dims, scaling), strict=True):
        assert layer.params["W"].shape == W.shape
        layer.params["W"][...] = W
        layer.params["b"][...] = 0.0

    history = net.fit(X, y, epochs=2500, batch_size=None, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2500

    got = (losses[0], losses[2400])
    # The published figures, rounded to 6 decimals as the notebook prints them ...
    assert round(got[0], 6) == pytest.approx(published[0], abs=1e-6), got
    assert round(got[1], 6) == pytest.approx(published[1], abs=1e-6), got
    # ... and at full precision.
    assert got[0] == pytest.approx(full_precision[0], abs=1e-6), got
    assert got[1] == pytest.approx(full_precision[1], abs=1e-6), got

    # Accuracies 1.00 / 0.72 (2-layer) and 0.9856 / 0.80 (4-layer).
    assert int(np.sum(net.predict(X) == y)) == train_correct
    assert int(np.sum(net.predict(X_test) == y_test)) == test_correct
    assert (net.predict(X) == y).mean() == pytest.approx(train_correct / 209)
    assert (net.predict(X_test) == y_test).mean() == pytest.approx(test_correct / 50)
