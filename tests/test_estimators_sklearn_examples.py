"""scikit-learn's own MLP examples with the class names swapped (issue 14's "done when").

Each test is the code of an example from scikit-learn's documentation (the neural-network user
guide, "Compare Stochastic learning strategies for MLPClassifier" and "Varying regularization
in Multi-layer Perceptron"), run with ``MLPClassifier``/``MLPRegressor`` and with
``DNNClassifier``/``DNNRegressor``: the code runs unchanged, and the results are of the same
quality.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import datasets
from sklearn.datasets import make_circles, make_classification, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from deepff.estimators import DNNClassifier, DNNRegressor


def test_user_guide_classification():
    results = {}
    for Classifier in (MLPClassifier, DNNClassifier):
        X = [[0.0, 0.0], [1.0, 1.0]]
        y = [0, 1]
        clf = Classifier(solver="lbfgs", alpha=1e-5, hidden_layer_sizes=(5, 2), random_state=1)
        clf.fit(X, y)
        results[Classifier] = (
            clf.predict([[2.0, 2.0], [-1.0, -2.0]]).tolist(),
            [coef.shape for coef in clf.coefs_],
            clf.predict_proba([[2.0, 2.0], [1.0, 2.0]]).shape,
        )
    assert results[DNNClassifier] == results[MLPClassifier]
    assert results[DNNClassifier][0] == [1, 0]
    assert results[DNNClassifier][1] == [(2, 5), (5, 2), (2, 1)]


def test_user_guide_multilabel():
    for Classifier in (MLPClassifier, DNNClassifier):
        X = [[0.0, 0.0], [1.0, 1.0]]
        y = [[0, 1], [1, 1]]
        clf = Classifier(solver="lbfgs", alpha=1e-5, hidden_layer_sizes=(15,), random_state=1)
        clf.fit(X, y)
        assert clf.predict([[1.0, 2.0]]).tolist() == [[1, 1]]
        assert clf.predict([[0.0, 0.0]]).tolist() == [[0, 1]]


def test_user_guide_regression():
    X, y = datasets.make_regression(n_samples=200, n_features=4, noise=5.0, random_state=1)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1)
    scores = {}
    for Regressor in (MLPRegressor, DNNRegressor):
        regr = Regressor(random_state=1, max_iter=2000, tol=0.1)
        regr.fit(X_train, y_train)
        assert regr.predict(X_test[:2]).shape == (2,)
        scores[Regressor] = regr.score(X_test, y_test)
    assert scores[DNNRegressor] >= scores[MLPRegressor] - 0.02


# "Compare Stochastic learning strategies for MLPClassifier" (plot_mlp_training_curves.py)
PARAMS = [
    {"solver": "sgd", "learning_rate": "constant", "momentum": 0, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "constant", "momentum": 0.9,
     "nesterovs_momentum": False, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "constant", "momentum": 0.9,
     "nesterovs_momentum": True, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0.9,
     "nesterovs_momentum": False, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0.9,
     "nesterovs_momentum": True, "learning_rate_init": 0.2},
    {"solver": "adam", "learning_rate_init": 0.01},
]  # fmt: skip


def _training_curves(Classifier, X, y, max_iter):
    X = MinMaxScaler().fit_transform(X)
    scores, losses = [], []
    for param in PARAMS:
        mlp = Classifier(random_state=0, max_iter=max_iter, **param)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning, module="sklearn")
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            mlp.fit(X, y)
        scores.append(mlp.score(X, y))
        losses.append(mlp.loss_)
    return np.array(scores), np.array(losses)


@pytest.mark.parametrize("name", ["iris", "digits", "circles", "moons"])
def test_compare_stochastic_learning_strategies(name):
    data_sets = {
        "iris": datasets.load_iris(return_X_y=True),
        "digits": datasets.load_digits(return_X_y=True),
        "circles": datasets.make_circles(noise=0.2, factor=0.5, random_state=1),
        "moons": datasets.make_moons(noise=0.3, random_state=0),
    }
    X, y = data_sets[name]
    max_iter = 15 if name == "digits" else 400
    theirs, _ = _training_curves(MLPClassifier, X, y, max_iter)
    ours, our_losses = _training_curves(DNNClassifier, X, y, max_iter)
    # Same quality: the mean training score over the seven strategies within 0.03, and no
    # strategy more than 0.1 behind.
    assert ours.mean() >= theirs.mean() - 0.03, (ours, theirs)
    assert np.all(ours >= theirs - 0.1), (ours, theirs)
    assert np.all(np.isfinite(our_losses))


# "Varying regularization in Multi-layer Perceptron" (plot_mlp_alpha.py), over 10 seeds: one
# random_state decides whether L-BFGS escapes the all-one-class start at large alpha.
def _regularization_scores(Classifier, alpha, seeds):
    X, y = make_classification(n_features=2, n_redundant=0, n_informative=2,
                               random_state=0, n_clusters_per_class=1)  # fmt: skip
    rng = np.random.RandomState(2)
    X += 2 * rng.uniform(size=X.shape)
    data = [
        make_moons(noise=0.3, random_state=0),
        make_circles(noise=0.2, factor=0.5, random_state=1),
        (X, y),
    ]
    scores = []
    for X, y in data:
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=42)
        for seed in seeds:
            clf = make_pipeline(
                StandardScaler(),
                Classifier(solver="lbfgs", alpha=alpha, random_state=seed, max_iter=2000,
                           early_stopping=True, hidden_layer_sizes=[10, 10]),
            )  # fmt: skip
            scores.append(clf.fit(X_train, y_train).score(X_test, y_test))
    return np.mean(scores)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
def test_varying_regularization(alpha):
    seeds = range(10)
    ours = _regularization_scores(DNNClassifier, alpha, seeds)
    theirs = _regularization_scores(MLPClassifier, alpha, seeds)
    assert ours >= theirs - TOLERANCE[alpha], (ours, theirs)


TOLERANCE = {0.1: 0.02, 1.0: 0.02, 10.0: 0.05}  # measured: equal, equal, 0.522 vs 0.534
