"""DNNClassifier and DNNRegressor against MLPClassifier and MLPRegressor from the same weights.

Both estimators start from identical weights (a one-epoch warm-start fit of each, then
scikit-learn's weights copied into deepff's through the assignable ``coefs_`` and
``intercepts_``), train without shuffling, and must agree: scikit-learn's momentum SGD and its
learning-rate schedules to rounding (rtol 1e-10), L-BFGS to 1e-9 on the small classifier
(scipy makes the same iterations) and 1e-4 where 70 iterations amplify rounding.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

import deepff
from deepff.estimators import DNNClassifier, DNNRegressor
from deepff.estimators._optimizers import LBFGS, ScikitSGD, invscaling_rate


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=150, n_features=5, noise=1.0, random_state=0)
    return X, y / 100.0


def _restart(estimator):
    """Forget the records of the one-epoch fit, keeping its weights."""
    estimator.t_, estimator.n_iter_, estimator.loss_curve_ = 0, 0, []
    estimator.best_loss_, estimator._no_improvement_count = np.inf, 0


def _pair(Mlp, Dnn, X, y, max_iter, **params):
    """Fit both from the same weights; return (scikit-learn's, deepff's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        common = dict(warm_start=True, random_state=0, shuffle=False, **params)
        mlp = Mlp(max_iter=1, **common).fit(X, y)
        dnn = Dnn(max_iter=1, init="glorot_uniform", **common).fit(X, y)
        dnn.coefs_, dnn.intercepts_ = mlp.coefs_, mlp.intercepts_
        _restart(mlp)
        _restart(dnn)
        mlp.set_params(max_iter=max_iter).fit(X, y)
        dnn.set_params(max_iter=max_iter).fit(X, y)
    return mlp, dnn


def _assert_same(mlp, dnn, rtol, curve=True):
    assert dnn.n_iter_ == mlp.n_iter_
    assert dnn.t_ == mlp.t_
    assert dnn.loss_ == pytest.approx(mlp.loss_, rel=rtol)
    if curve:
        np.testing.assert_allclose(dnn.loss_curve_, mlp.loss_curve_, rtol=rtol)
        assert dnn.best_loss_ == pytest.approx(mlp.best_loss_, rel=rtol)
    for ours, theirs in zip(
        dnn.coefs_ + dnn.intercepts_, mlp.coefs_ + mlp.intercepts_, strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())


SGD_SETTINGS = [
    {},
    {"nesterovs_momentum": False},
    {"momentum": 0.0},
    {"momentum": 0.5, "alpha": 0.01},
    {"learning_rate": "invscaling", "power_t": 0.3, "learning_rate_init": 0.2},
    {"learning_rate": "adaptive", "tol": 0.05, "n_iter_no_change": 2},
]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=lambda s: ",".join(s) or "default")
def test_sgd_is_scikit_learns(iris, settings):
    X, y = iris
    params = {"learning_rate_init": 0.05, "batch_size": 32, **settings}
    mlp, dnn = _pair(MLPClassifier, DNNClassifier, X, y, 30, hidden_layer_sizes=(8,),
                     solver="sgd", **params)  # fmt: skip
    _assert_same(mlp, dnn, rtol=1e-10)
    assert dnn.network_.optimizer.learning_rate(0) == pytest.approx(
        mlp._optimizer.learning_rate, rel=1e-12
    )


def test_sgd_regressor_is_scikit_learns(regression):
    X, y = regression
    mlp, dnn = _pair(MLPRegressor, DNNRegressor, X, y, 30, hidden_layer_sizes=(8,),
                     solver="sgd", learning_rate_init=0.01, batch_size=32)  # fmt: skip
    _assert_same(mlp, dnn, rtol=1e-10)


def test_momentum_changes_sgd(iris):
    X, y = iris
    fits = [
        DNNClassifier(solver="sgd", momentum=m, max_iter=5, random_state=0).fit(X, y)
        for m in (0.0, 0.9)
    ]
    assert not np.allclose(fits[0].coefs_[0], fits[1].coefs_[0])


def test_invscaling_is_scikit_learns_formula():
    # lr_init / (t + 1)^power_t with t the examples seen, set at the end of each epoch.
    assert invscaling_rate(0.001, 0.5, 2) == pytest.approx(0.001 / 3**0.5)
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = DNNClassifier(solver="sgd", learning_rate="invscaling", power_t=0.25,
                            max_iter=3, random_state=0).fit(X, y)  # fmt: skip
    assert clf.t_ == 120
    assert clf.network_.optimizer.learning_rate(0) == pytest.approx(0.001 / 121**0.25)


def test_scikit_sgd_update_is_the_velocity_form():
    W, g = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    sgd = ScikitSGD(0.1, momentum=0.9, nesterov=True)
    state = sgd.init(2, W.dtype)
    velocity, expected = np.zeros(2), W.copy()
    for _ in range(3):
        sgd.update(W, g, state)
        velocity = 0.9 * velocity - 0.1 * g
        expected += 0.9 * velocity - 0.1 * g
    np.testing.assert_allclose(W, expected, rtol=1e-15)


# --- L-BFGS --------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1e-4, 1e-2])
def test_lbfgs_is_scikit_learns(iris, alpha):
    X, y = iris
    mlp, dnn = _pair(MLPClassifier, DNNClassifier, X, y, 200, hidden_layer_sizes=(8,),
                     solver="lbfgs", alpha=alpha)  # fmt: skip
    _assert_same(mlp, dnn, rtol=1e-9, curve=False)


def test_lbfgs_regressor_is_scikit_learns(regression):
    X, y = regression
    mlp, dnn = _pair(MLPRegressor, DNNRegressor, X, y, 100, hidden_layer_sizes=(8,),
                     solver="lbfgs")  # fmt: skip
    _assert_same(mlp, dnn, rtol=1e-4, curve=False)


def test_poisson_lbfgs_is_scikit_learns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    mlp, dnn = _pair(MLPRegressor, DNNRegressor, X, y, 100, hidden_layer_sizes=(6,),
                     solver="lbfgs", loss="poisson")  # fmt: skip
    assert dnn.out_activation_ == mlp.out_activation_ == "exp"
    _assert_same(mlp, dnn, rtol=1e-6, curve=False)
    np.testing.assert_allclose(dnn.predict(X), mlp.predict(X), rtol=1e-6)


def test_poisson_refuses_negative_targets():
    with pytest.raises(ValueError, match="negative"):
        DNNRegressor(loss="poisson").fit(np.zeros((4, 1)), [1.0, -1.0, 0.0, 2.0])


def test_lbfgs_hands_scipy_the_engines_cost_and_gradient(iris):
    X, y = iris
    clf = DNNClassifier(hidden_layer_sizes=(5,), solver="lbfgs", alpha=0.1, l1=0.0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    network = clf.network_
    assert isinstance(network.optimizer, LBFGS)
    Y = network.encode_targets(y)
    # The analytic gradient of the penalized cost that scipy minimizes, by central differences.
    errors = deepff.gradient_check(network, X, Y)
    assert max(errors.values()) < 1e-6
    # And the final loss_ is the engine's cost (scikit-learn's log-loss: the same scale).
    assert clf.loss_ == pytest.approx(network.cost(X, Y), rel=1e-9)


def test_lbfgs_convergence_warning_is_scikit_learns(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 3 iteration"):
        clf = DNNClassifier(solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        DNNClassifier(solver="lbfgs", max_iter=500, random_state=0).fit(X, y)


def test_lbfgs_max_fun(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf = DNNClassifier(solver="lbfgs", max_fun=5, random_state=0).fit(X, y)
    assert clf.network_.optimizer.result_.nfev <= 6


def test_lbfgs_refuses_dropout_and_has_no_partial_fit(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"lbfgs.*dropout"):
        DNNClassifier(solver="lbfgs", dropout=0.1).fit(X, y)
    assert not hasattr(DNNClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(DNNRegressor(solver="lbfgs"), "partial_fit")
    net = deepff.Network([deepff.Dense(4), deepff.Dropout(0.5), deepff.Dense(1)])
    with pytest.raises(ValueError, match="dropout"):
        LBFGS().batches(net, X, y[:, None])


def test_lbfgs_in_the_python_api(iris):
    X, y = iris
    lbfgs = LBFGS(max_iter=300)
    layers = [deepff.Dense(8, activation="tanh"), deepff.Dense(3, activation="softmax")]
    net = deepff.Network(layers, optimizer=lbfgs, seed=0, dtype="float64")
    Y = net.encode_targets(y)
    net.train(lbfgs.batches(net, X, Y), epochs=1)
    assert lbfgs.result_.success
    assert net.evaluate(X, y)["accuracy"] > 0.97
    assert lbfgs._bound is None  # the optimizer does not keep the data


def test_lbfgs_with_batch_norm_predicts_with_the_datas_statistics(iris):
    X, y = iris
    clf = DNNClassifier(hidden_layer_sizes=(8,), solver="lbfgs", batch_norm=True,
                        max_iter=300, random_state=0).fit(X, y)  # fmt: skip
    assert clf.score(X, y) > 0.95


def test_lbfgs_is_about_as_fast_as_scikit_learns():
    # The benchmark (benchmarks/bench_estimators.py) measures it; here a loose bound.
    import time

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    times = {}
    for name, Estimator in (("mlp", MLPClassifier), ("dnn", DNNClassifier)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = Estimator(solver="lbfgs", max_iter=50, random_state=0).fit(X, y)
        times[name] = time.perf_counter() - start
        assert model.score(X, y) > 0.95
    assert times["dnn"] < 3 * times["mlp"] + 0.5


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_sample_weights_are_scikit_learns(iris, solver):
    X, y = iris
    w = np.random.default_rng(0).uniform(0.2, 2.0, len(y))
    params = dict(warm_start=True, random_state=0, shuffle=False, hidden_layer_sizes=(8,),
                  solver=solver, batch_size=32, learning_rate_init=0.05)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(max_iter=1, **params).fit(X, y, sample_weight=w)
        dnn = DNNClassifier(max_iter=1, init="glorot_uniform", **params).fit(X, y, sample_weight=w)
        dnn.coefs_, dnn.intercepts_ = mlp.coefs_, mlp.intercepts_
        _restart(mlp)
        _restart(dnn)
        mlp.set_params(max_iter=20).fit(X, y, sample_weight=w)
        dnn.set_params(max_iter=20).fit(X, y, sample_weight=w)
    assert dnn.n_iter_ == mlp.n_iter_
    for ours, theirs in zip(
        dnn.coefs_ + dnn.intercepts_, mlp.coefs_ + mlp.intercepts_, strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-8 * np.abs(theirs).max())
    if solver == "lbfgs":
        assert dnn.loss_ == pytest.approx(mlp.loss_, rel=1e-9)
    else:
        # The epoch's loss: deepff's is the weighted mean over the examples; scikit-learn
        # averages its batches' weighted means by their sizes (the same without weights).
        assert dnn.loss_ != pytest.approx(mlp.loss_, rel=1e-3)
