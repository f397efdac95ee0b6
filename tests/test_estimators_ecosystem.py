"""The estimators in scikit-learn's ecosystem: skops.io and skl2onnx (issue 14)."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepff.estimators import DNNClassifier, DNNRegressor


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), y


def quiet(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


FITS = {
    "adam": dict(hidden_layer_sizes=(8,), max_iter=20),
    "sgd_batch_norm": dict(hidden_layer_sizes=(8, 4), solver="sgd", batch_norm=True, max_iter=20),
    "lbfgs": dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30),
    "early_dropout": dict(hidden_layer_sizes=(8,), early_stopping=True, dropout=0.1, max_iter=20),
}


@pytest.mark.parametrize("name", FITS)
def test_skops_round_trip(iris, name):
    sio = pytest.importorskip("skops.io")
    X, y = iris
    clf = quiet(DNNClassifier(random_state=0, **FITS[name]), X, y)
    data = sio.dumps(clf)  # the cycle network_.history.network gave RecursionError
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    for attribute in ("t_", "loss_", "n_iter_", "out_activation_", "loss_curve_"):
        assert getattr(loaded, attribute) == getattr(clf, attribute)
    # The loaded network trains: its layers are views into its flat buffers again.
    network = loaded.network_
    assert np.shares_memory(network.layers[0].params["W"], network.parameters)
    quiet(loaded.set_params(warm_start=True, max_iter=2), X, y)


def test_skops_round_trip_of_a_pipeline_regressor(iris):
    sio = pytest.importorskip("skops.io")
    X, _ = iris
    model = quiet(make_pipeline(StandardScaler(), DNNRegressor(max_iter=10, random_state=0)),
                  X[:, 1:], X[:, 0])  # fmt: skip
    data = sio.dumps(model)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    np.testing.assert_array_equal(loaded.predict(X[:, 1:]), model.predict(X[:, 1:]))


def test_pickle_keeps_the_history(iris):
    X, y = iris
    clf = quiet(DNNClassifier(max_iter=5, random_state=0), X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.network_.history.history["loss"] == clf.network_.history.history["loss"]


@pytest.mark.parametrize(
    ("labels", "settings"),
    [
        ("int", dict(hidden_layer_sizes=(8, 4), batch_norm=True)),
        ("binary_str", dict(hidden_layer_sizes=(6,), activation="tanh")),
        ("str", dict(hidden_layer_sizes=(6,), activation="logistic", dropout=0.1)),
        ("int", dict(hidden_layer_sizes=(6,), activation={"name": "leaky_relu", "c": 0.1})),
    ],
)
def test_skl2onnx_converts_a_pipeline(iris, labels, settings):
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    X, y = iris
    y = {"int": y, "binary_str": np.where(y == 1, "b", "a"), "str": np.array(list("xyz"))[y]}[
        labels
    ]
    model = quiet(make_pipeline(StandardScaler(), DNNClassifier(max_iter=30, random_state=0,
                                                                **settings)), X, y)  # fmt: skip
    onx = to_onnx(model, X[:1], options={"zipmap": False})
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_skl2onnx_converts_a_regressor(iris, loss):
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    X, _ = iris
    y = np.column_stack([X[:, 0], X[:, 1]]) if loss == "squared_error" else X[:, 0]
    model = quiet(DNNRegressor(hidden_layer_sizes=(8,), loss=loss, max_iter=30, random_state=0),
                  X[:, 1:], y)  # fmt: skip
    onx = to_onnx(model, X[:1, 1:])
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: X[:, 1:]})
    expected = model.predict(X[:, 1:])
    np.testing.assert_allclose(output.reshape(expected.shape), expected, rtol=1e-5, atol=1e-5)


def test_importing_the_estimators_does_not_import_skl2onnx():
    import subprocess
    import sys

    code = "import sys, deepff.estimators; print('skl2onnx' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# "lbfgs" is not among the engine's optimizer names (deepff.optimizers.OPTIMIZERS, which the
# command line lists), so the model file of an L-BFGS network does not load yet.
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_network_model_file_round_trip(iris, solver, tmp_path):
    import deepff

    X, y = iris
    clf = quiet(DNNClassifier(solver=solver, max_iter=5, random_state=0), X, y)
    path = tmp_path / "model.safetensors"
    clf.network_.save(path)
    loaded = deepff.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.network_.predict_proba(X))
    if solver == "sgd":  # scikit-learn's SGD is the engine's SGD at a constant rate
        assert loaded.optimizer == deepff.SGD(0.001, momentum=0.9, nesterov=True)
        np.testing.assert_array_equal(
            loaded.optimizer_state["momentum_buffer"],
            clf.network_.optimizer_state["momentum_buffer"],
        )


def test_scikit_sgd_continues_as_the_engines_sgd():
    import deepff
    from deepff.estimators import ScikitSGD

    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=5), None
    W2 = W1.copy()
    ours, engine = ScikitSGD(0.05, momentum=0.9), deepff.SGD(0.05, momentum=0.9, nesterov=True)
    s1, s2 = ours.init(5, np.float64), engine.init(5, np.float64)
    for _ in range(4):
        g = rng.normal(size=5)
        ours.update(W1, g.copy(), s1)
        engine.update(W2, g.copy(), s2)
    np.testing.assert_allclose(W1, W2, rtol=1e-14)
