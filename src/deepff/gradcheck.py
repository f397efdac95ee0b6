"""Gradient checking by central differences.

For every parameter value theta_j, the numerical derivative
(C(theta_j + eps) - C(theta_j - eps)) / (2 eps) is compared with the analytic gradient
from backpropagation. Each parameter array gets one relative error,

    ||analytic - numeric|| / (||analytic|| + ||numeric||),

which is near 1e-10 in float64 when backpropagation is right and near 1 when it is wrong.
Relu kinks, hinge margins and |W| at zero are not differentiable: keep the inputs away from
them when checking.

Examples
--------
>>> import numpy as np
>>> import deepff as dff
>>> rng = np.random.default_rng(0)
>>> net = dff.Network([dff.Dense(3, activation="tanh"), dff.Dense(2, activation="softmax")],
...                   seed=0, dtype="float64")
>>> X, Y = rng.normal(size=(5, 4)), np.eye(2)[rng.integers(0, 2, 5)]
>>> errors = gradient_check(net, X, Y)
>>> sorted(errors)
['layers.0.W', 'layers.0.b', 'layers.1.W', 'layers.1.b']
>>> max(errors.values()) < 1e-8
True
"""

from __future__ import annotations

import numpy as np

from ._checks import check_float


def gradient_check(network, X, Y, eps: float = 1e-6) -> dict:
    """Compare every analytic gradient of ``network`` with central differences.

    Parameters
    ----------
    network : Network
        A float64 network (float32 cannot resolve the differences).
    X : array of shape (m, n)
    Y : array of shape (m, k)
        Targets in the output's form, as for ``Network.cost_and_gradients``.
    eps : float, default 1e-6
        The step of the central difference.

    Returns
    -------
    dict of str to float
        The relative error of each parameter array, keyed ``layers.<i>.<name>``.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(2, activation="sigmoid", l2=0.1)], seed=0,
    ...                   dtype="float64", loss="mse")
    >>> X = np.random.default_rng(1).normal(size=(4, 3))
    >>> errors = gradient_check(net, X, np.ones((4, 2)))
    >>> {name: bool(error < 1e-8) for name, error in errors.items()}
    {'layers.0.W': True, 'layers.0.b': True}
    """
    eps = check_float("eps", eps, low=0.0, low_open=True)
    if network.dtype != np.float64:
        raise ValueError(f"gradient_check needs a float64 network; got dtype {network.dtype}")
    _, grads = network.cost_and_gradients(X, Y)
    errors = {}
    for i, layer in enumerate(network.layers):
        for name, values in layer.params.items():
            flat = values.reshape(-1)
            numeric = np.empty_like(flat)
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                plus = network.cost(X, Y)
                flat[j] = original - eps
                minus = network.cost(X, Y)
                flat[j] = original
                numeric[j] = (plus - minus) / (2.0 * eps)
            analytic = grads[i][name].reshape(-1)
            scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
            errors[f"layers.{i}.{name}"] = (
                float(np.linalg.norm(analytic - numeric) / scale) if scale > 0 else 0.0
            )
    return errors
