"""L2 and L1 regularization (paper §4.1, eq. 28-29).

Both penalize weights only, never biases, and scale with the m examples of the batch being
processed, as the cost they are added to is a mean over those examples:

- L2 (eq. 28): C + lambda / (2m) * sum_l ||W[l]||^2, so dW[l] gains (lambda / m) W[l].
- L1 (eq. 29): C + lambda / m * sum_l |W[l]|_1, with subgradient (lambda / m) sign(W[l]).

Gradient descent on the L1 subgradient makes weights oscillate around zero and never reach
it, as the paper remarks. Training therefore applies L1 as a proximal step after each
update, the soft threshold W <- sign(W) max(|W| - learning_rate * lambda / m, 0), which sets
weights exactly to zero. ``Network.cost_and_gradients`` reports the subgradient, which is
what autograd gives.

Examples
--------
>>> import numpy as np
>>> W = np.array([[0.5, -0.02], [-0.3, 0.01]])
>>> l2_cost(W, 0.1, m=10)
0.0017...
>>> soft_threshold(W, 0.05)
array([[ 0.45, -0.  ],
       [-0.25,  0.  ]])
"""

from __future__ import annotations

import numpy as np

from . import _fused


def l2_cost(W, lam: float, m: int) -> float:
    """Return lambda / (2m) * ||W||^2 (eq. 28).

    Examples
    --------
    >>> import numpy as np
    >>> l2_cost(np.array([[3.0, 4.0]]), lam=0.2, m=10)  # 0.2 / 20 * 25
    0.25
    """
    return float(lam / (2.0 * m) * np.vdot(W, W))


def add_l2_gradient(dW, W, lam: float, m: int) -> None:
    """Add (lambda / m) W to dW in place (the derivative of eq. 28).

    Examples
    --------
    >>> import numpy as np
    >>> dW = np.zeros((1, 2))
    >>> add_l2_gradient(dW, np.array([[3.0, 4.0]]), lam=0.2, m=10)
    >>> dW
    array([[0.06, 0.08]])
    """
    fused = _fused.kernel("add_scaled", dW, W)
    if fused is not None:  # one pass, the same bits
        fused(dW, W, dW.dtype.type(lam / m))
        return
    dW += (lam / m) * W


def l1_cost(W, lam: float, m: int) -> float:
    """Return lambda / m * sum |W| (eq. 29).

    Examples
    --------
    >>> import numpy as np
    >>> l1_cost(np.array([[3.0, -4.0]]), lam=0.2, m=10)
    0.14
    """
    return float(lam / m * np.abs(W).sum())


def add_l1_subgradient(dW, W, lam: float, m: int) -> None:
    """Add (lambda / m) sign(W) to dW in place (the subgradient of eq. 29).

    Examples
    --------
    >>> import numpy as np
    >>> dW = np.zeros((1, 3))
    >>> add_l1_subgradient(dW, np.array([[3.0, -4.0, 0.0]]), lam=0.2, m=10)
    >>> dW
    array([[ 0.02, -0.02,  0.  ]])
    """
    dW += (lam / m) * np.sign(W)


def soft_threshold(W, threshold: float, out=None):
    """Return sign(W) max(|W| - threshold, 0): the proximal step of L1.

    With ``out=W`` the weights are updated in place.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([0.3, -0.05, 0.1])
    >>> soft_threshold(W, 0.1, out=W)
    array([ 0.2, -0. ,  0. ])
    """
    shrunk = np.abs(W) - threshold
    np.maximum(shrunk, 0.0, out=shrunk)
    return np.copysign(shrunk, W, out=out)
