"""scikit-learn estimators over ``deepff.Network``: ``DNNClassifier`` and ``DNNRegressor``.

Drop-in replacements for ``MLPClassifier`` and ``MLPRegressor``: the parameters that mean the
same thing have the same names and defaults (``hidden_layer_sizes``, ``activation``,
``solver``, ``alpha``, ``batch_size``, ``learning_rate_init``, ``max_iter``, ``tol``,
``n_iter_no_change``, ``early_stopping``, ...), and so do the fitted attributes
(``classes_``, ``loss_``, ``loss_curve_``, ``best_loss_``, ``validation_scores_``,
``best_validation_score_``, ``n_iter_``, ``t_``, ``out_activation_``, ``coefs_``,
``intercepts_``, the last two assignable). On top of them: dropout, batch normalization,
per-layer and leaky-ReLU activations, L1, class weights, validation loss curves, RMSProp and
the paper's momentum, hinge and absolute-error losses, and the trained network itself
(``network_``) for inspection and saving. The guide (docs/guides/estimators.md) has the table
of every remaining difference.

This package is the only one that imports scikit-learn (it is the ``deepff[sklearn]`` extra).

How the scikit-learn parameters map onto the engine
---------------------------------------------------
- ``alpha`` (L2) and ``l1`` keep scikit-learn's scale: the objective minimized is the one of
  ``MLPClassifier``/``MLPRegressor``, loss + alpha / (2 n) ||W||^2 (+ l1 / n |W|_1) with n
  the examples of the batch (the sum of their weights, when weighted). deepff's own costs
  differ from scikit-learn's by a constant factor s for three losses: mean squared error is
  mean((A - Y)^2), twice scikit-learn's squared error (s = 2), and multi-label binary
  cross-entropy and the Poisson deviance of k outputs are averaged over them where
  scikit-learn sums them (s = 1/k). The estimators therefore give the engine
  lambda = s * alpha (and s * l1), which makes deepff's objective s times scikit-learn's: the
  same minimizer. The losses recorded (``loss_``, ``loss_curve_``, ``best_loss_``, and what
  ``tol`` is compared with) are divided by s, and scikit-learn's SGD and L-BFGS see the
  gradient divided by s: they are scikit-learn's numbers. (Scikit-learn's Poisson loss
  also has the constant y log y - y, added to the recorded loss.) The paper's SGD-based
  solvers ("momentum") see a learning rate s times scikit-learn's; Adam and RMSProp are
  insensitive to it.
- ``learning_rate`` schedules: "constant"; "invscaling", scikit-learn's
  learning_rate_init / (t + 1)^power_t with t the examples seen, set after each epoch;
  "adaptive", scikit-learn's rule: divide the learning rate by 5 whenever the stopping
  criterion triggers, and stop once it is at most 1e-6; and, per epoch e (from 0), the
  paper's "inverse_time" lr / (1 + decay e) (``deepff.InverseTimeDecay``) and "exponential"
  lr (1 - decay)^e (``deepff.ExponentialDecay``). They apply to every stochastic solver.
- ``solver``: "lbfgs" (``LBFGS``: scipy's L-BFGS-B over the network's flat parameter buffer,
  the engine's cost and gradient over all examples, inside one ``Network.train`` step),
  "sgd" (``ScikitSGD``: scikit-learn's velocity-form momentum, ``momentum``,
  ``nesterovs_momentum``), "momentum" (beta = ``momentum``, the paper's eq. 26), "rmsprop"
  (beta = ``momentum``, eps = ``epsilon``) and "adam" (``beta_1``, ``beta_2``,
  ``epsilon``). "sgd" and "lbfgs" start afresh at each fit, as in scikit-learn; the others
  keep their state over warm starts unless their parameters change.
- ``init`` defaults to None: scikit-learn's Glorot-uniform weights and biases ("sklearn") for
  "lbfgs", and "lecun", N(0, 1/n_in), for the stochastic solvers, not the engine's "auto"
  (He, N(0, 2/n_in), for ReLU). Mean test accuracy over 40 seeds, unscaled data, same split
  and max_iter as
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
- ``dtype`` None (the default) follows X as scikit-learn does: float32 X trains a float32
  network, anything else float64. Probabilities and decision values are float64 whatever
  ``dtype`` trains in (they come from the output layer's Z in float64, so they stay
  consistent with ``decision_function``); the regressor's ``predict`` has the network's dtype.
- A fit whose weights become non-finite raises scikit-learn's ``ValueError`` ("Solver
  produced non-finite parameter weights..."), the engine's ``DivergenceWarning`` in its
  message.
- Early stopping of a classifier counts an epoch as progress when the validation accuracy
  or the validation loss improves by ``tol``, and keeps the best accuracy's epoch of least
  loss: accuracy over a small validation set moves in coarse steps and stalls while the
  model still learns (20 seeds, iris 0.917 vs MLPClassifier's 0.699; benchmarks/).
- With skl2onnx installed, ``skl2onnx.to_onnx`` converts the estimators (and Pipelines with
  them); ``skops.io`` and pickle round-trip fitted estimators.

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
