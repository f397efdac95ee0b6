"""scikit-learn estimators over ``deepff.Network``: ``DNNClassifier`` and ``DNNRegressor``.

Drop-in replacements for ``MLPClassifier`` and ``MLPRegressor``: the parameters that mean the
same thing have the same names and defaults (``hidden_layer_sizes``, ``activation``,
``solver``, ``alpha``, ``batch_size``, ``learning_rate_init``, ``max_iter``, ``tol``,
``n_iter_no_change``, ``early_stopping``, ...), and so do the fitted attributes
(``classes_``, ``loss_curve_``, ``best_loss_``, ``validation_scores_``, ``n_iter_``,
``coefs_``, ``intercepts_``). On top of them: dropout, batch normalization, per-layer and
leaky-ReLU activations, L1, class weights, validation loss curves, RMSProp and momentum,
hinge and absolute-error losses, float32 training, and the trained network itself
(``network_``) for inspection and saving.

This package is the only one that imports scikit-learn (it is the ``deepff[sklearn]`` extra).

How the scikit-learn parameters map onto the engine
---------------------------------------------------
- ``alpha`` (L2) and ``l1`` keep scikit-learn's scale: the objective minimized is the one of
  ``MLPClassifier``/``MLPRegressor``, loss + alpha / (2 n) ||W||^2 (+ l1 / n |W|_1) with n
  the examples of the batch (the sum of their weights, when weighted). deepff's own costs
  differ from scikit-learn's by a constant factor s for two losses: mean squared error is
  mean((A - Y)^2), twice scikit-learn's squared error (s = 2), and multi-label binary
  cross-entropy is averaged over the k labels where scikit-learn sums them (s = 1/k). The
  estimators therefore give the engine lambda = s * alpha (and s * l1), which makes deepff's
  objective s times scikit-learn's: the same minimizer. Adam and RMSProp are insensitive to
  that factor; plain SGD and momentum see a learning rate s times scikit-learn's.
- ``learning_rate`` schedules, per epoch t (counted from 0): "constant"; "invscaling", the
  paper's inverse-time decay lr / (1 + decay t) (``deepff.InverseTimeDecay``; scikit-learn's
  invscaling, lr / t^power_t over samples seen, is the same idea); "exponential",
  lr (1 - decay)^t (``deepff.ExponentialDecay``); "adaptive", scikit-learn's rule: divide
  the learning rate by 5 whenever the stopping criterion triggers, and stop once it is below
  1e-6. They apply to every solver.
- ``solver``: "sgd", "momentum" (beta = ``momentum``, the paper's eq. 26), "rmsprop"
  (beta = ``momentum``, eps = ``epsilon``) and "adam" (``beta_1``, ``beta_2``,
  ``epsilon``). "lbfgs" is not offered.
- ``init`` defaults to "lecun", N(0, 1/n_in), not the engine's "auto" (He, N(0, 2/n_in), for
  ReLU). Mean test accuracy over 40 seeds, unscaled data, same split and max_iter as
  ``MLPClassifier``: digits 0.9748 (He 0.9678, MLPClassifier 0.9741), breast cancer 0.9163
  (He 0.9094 over 20 seeds, MLPClassifier 0.9089); standardized, 20 seeds: digits 0.9767
  (He 0.9749, MLPClassifier 0.9774), breast cancer 0.9573 (He 0.9559, MLPClassifier 0.9538).
- ``random_state`` seeds everything: an int seed for the network's generator (initial
  weights, shuffling, dropout) is drawn from it, and the early-stopping split uses it.
- ``class_weight`` and ``sample_weight`` multiply; the engine's ``sample_weight`` makes each
  batch's cost the weighted mean, so an integer weight acts as that many copies of the example.
- Sparse X (CSR; other formats are converted) is densified a block of whole mini-batches at
  a time (about 32 MiB), never all at once; the batches and the results are those of the
  dense matrix.
- Predictions, probabilities and decision values are float64 whatever ``dtype`` trains in;
  probabilities come from the output layer's Z in float64, so they stay consistent with
  ``decision_function``.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from deepff.estimators import DNNClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = DNNClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=1000,
...                     random_state=0).fit(X, y)
>>> clf.score(X, y) > 0.95
True
>>> clf.predict_proba(X[:2]).shape
(2, 3)
"""

from . import _onnx
from ._optimizers import LBFGS, ScikitSGD
from .classifier import DNNClassifier
from .regressor import DNNRegressor

_onnx.install()  # skl2onnx converters, when skl2onnx is installed (without importing it)

__all__ = ["LBFGS", "DNNClassifier", "DNNRegressor", "ScikitSGD"]
