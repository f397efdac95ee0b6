"""The training loop: epochs of optimizer steps over a batch source, callbacks at the edges.

``Network.train`` checks its arguments and runs ``train`` here; ``fit`` is ``train`` over
``ArrayBatches``. Epoch e (counted over the network's life, from ``network.epoch``) is

1. ``on_epoch_begin(e)``; the state theta_e is kept;
2. for each batch (X_b, Y_b, w_b) of ``batches.epoch(network.rng)``: the batch cost C_b and
   one optimizer step theta <- update(theta, dC_b/dtheta) (``Network._train_step``), then
   ``on_batch_end`` (only for callbacks that define it, so a step costs no Python calls);
3. the logs: ``loss`` = sum_b w_b C_b / sum_b w_b (w_b = the batch's size, or its summed
   example weights), ``accuracy`` over the batches' outputs before each step, and the
   validation metrics;
4. ``on_epoch_end(e, logs)``; training stops when a callback set ``network.stop_training``.

A non-finite batch cost, non-finite weights, or (after the last epoch of a call) weights
whose outputs on the last batch are not finite put back theta_e (or theta_{e-1} when the
first batch of the epoch already diverged: the weights that gave its cost are not worth
keeping) and stop training with a ``DivergenceWarning`` that points at the user's call.

Examples
--------
>>> import numpy as np
>>> import deepff as dff
>>> from deepff.batching import ArrayBatches
>>> net = dff.Network([dff.Dense(1)], optimizer=dff.SGD(0.1), seed=0, dtype="float64")
>>> _ = net.build(1)
>>> X = np.array([[1.0], [2.0]]); Y = 2.0 * X
>>> history = train(net, ArrayBatches(X, Y), epochs=3)
>>> history.epoch, net.epoch
([0, 1, 2], 3)
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import sys
import threading
import warnings

import numpy as np

from . import _fused, metrics
from ._checks import DivergenceWarning, describe
from .callbacks import Callback, History, ProgressLog

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep


def check_callbacks(callbacks) -> list:
    """Return ``callbacks`` as a list, refusing anything that is not a ``Callback``.

    Examples
    --------
    >>> check_callbacks(None)
    []
    """
    if isinstance(callbacks, Callback):
        raise TypeError(
            f"callbacks must be a list of Callback objects; got one {type(callbacks).__name__} "
            f"(pass [{type(callbacks).__name__}(...)])"
        )
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback objects; got {describe(callbacks)}")
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks must be Callback objects; got {describe(callback)}")
    return callbacks


_TRAINING_LOCK = threading.Lock()
_TRAINING = set()  # id() of the networks training now


def check_not_training(network) -> None:
    """Refuse to start training a network that is training already (another thread's fit,
    or a callback calling fit): two trainings of one network would interleave their steps.

    Examples
    --------
    >>> import deepff as dff
    >>> check_not_training(dff.Network([dff.Dense(1)]))  # not training: nothing to say
    """
    if id(network) in _TRAINING:
        raise RuntimeError(
            "this network is training already (fit or train was called again from another "
            "thread, or from a callback); one network trains one call at a time: give each "
            "thread its own network (copy.deepcopy)"
        )


@contextlib.contextmanager
def _training(network):
    with _TRAINING_LOCK:
        check_not_training(network)
        _TRAINING.add(id(network))
    try:
        yield
    finally:
        with _TRAINING_LOCK:
            _TRAINING.discard(id(network))


def check_verbose(verbose) -> None:
    """Refuse a ``verbose`` that is not an integer (0 quiet, 1 a line per epoch).

    Examples
    --------
    >>> try:
    ...     check_verbose("loud")
    ... except TypeError as error:
    ...     print(error)
    verbose must be 0 or 1; got 'loud'
    """
    if not isinstance(verbose, numbers.Integral):
        raise TypeError(f"verbose must be 0 or 1; got {describe(verbose)}")


def _all_finite(array) -> bool:
    # min and max propagate NaN and expose inf without a temporary the size of the array.
    return bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def _caller_outside() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller point at the first frame
    outside deepff (and NumPy's errstate wrapper): the user's call to fit or train."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith((_PACKAGE_DIR, _NUMPY_DIR)) and filename != contextlib.__file__:
            break
        frame, level = frame.f_back, level + 1
    return level


class _Snapshots:
    """The network's states at the start of this epoch and of the one before."""

    def __init__(self, network):
        self.network, self.current, self.previous = network, None, None

    def take(self) -> None:
        """Keep the state at the start of an epoch (reusing the arrays of two epochs ago)."""
        spare, self.previous = self.previous, self.current
        self.current = self.network.get_state(out=spare) if self.network.built else None

    def diverged(self, what: str, first_batch: bool = False) -> None:
        """Put back the last state worth keeping, warn, and stop training."""
        kept, snapshot = "the epoch's start", self.current
        if first_batch and self.previous is not None:
            kept, snapshot = "the previous epoch's start", self.previous
        self.network.set_state(snapshot)
        warnings.warn(
            f"{what}; training stopped and the weights of {kept} were kept "
            "(lower the learning rate?)",
            DivergenceWarning,
            stacklevel=_caller_outside(),  # the call to fit or train
        )
        self.network.stop_training = True


# Divergence is reported once, as a DivergenceWarning, not as NumPy's overflow warnings.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def train(network, batches, epochs=1, validation=None, callbacks=(), verbose=0) -> History:
    """Run ``epochs`` epochs of ``network`` over ``batches``; return their ``History``.

    The arguments are those of ``Network.train``, already checked; ``validation`` is
    (X_val, Y_val) in the output's form or None.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> from deepff.batching import ArrayBatches
    >>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
    >>> batches = ArrayBatches(np.eye(2), np.array([[0.0], [1.0]]))
    >>> train(net, batches, epochs=2, validation=(np.eye(2), np.array([[0.0], [1.0]])))
    History(epochs=2, keys=['accuracy', 'loss', 'val_accuracy', 'val_loss'])
    """
    with _training(network):
        return _train(network, batches, epochs, validation, callbacks, verbose)


def _train(network, batches, epochs, validation, callbacks, verbose) -> History:
    history = History()
    callbacks = [history, *callbacks]
    if verbose:
        callbacks.append(ProgressLog())
    params = {
        "epochs": epochs,
        "initial_epoch": network.epoch,
        "steps": batches.steps(),
        "samples": batches.n_examples,
    }
    for callback in callbacks:
        callback.set_network(network)
        callback.params = params
    network.stop_training = False
    network._start_training()
    for callback in callbacks:
        callback.on_train_begin()
    # Small calls keep to NumPy: loading the compiled kernels would cost more than they win.
    previous = _fused.sized(_work(network, batches))
    try:
        _run_epochs(network, batches, epochs, validation, callbacks)
    finally:
        _fused.restore(previous)
    for callback in callbacks:
        callback.on_train_end()
    network.history = history
    return history


def _work(network, batches) -> float:
    """Multiply-adds of one epoch, roughly: examples x parameters (infinite when the network
    is not built yet, which ``fit`` never leaves to the loop). Not times the epochs: a run
    cut into several calls (a resume) must take one path throughout, for the same bits."""
    if not network.built:
        return math.inf
    return float(batches.n_examples) * network.parameters.size


def _run_epochs(network, batches, epochs, validation, callbacks) -> None:
    """The epochs of ``train``: batches, then validation, then the callbacks."""
    # Per-step work stays flat: only callbacks that look at batches are called per batch.
    batch_callbacks = [c for c in callbacks if type(c).on_batch_end is not Callback.on_batch_end]
    snapshots = _Snapshots(network)
    last = network.epoch + epochs - 1
    for epoch in range(network.epoch, network.epoch + epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        snapshots.take()
        logs = _run_epoch(network, batches, epoch, snapshots, batch_callbacks, epoch == last)
        if logs is None:
            break
        if validation is not None:
            scores = network._evaluate_encoded(*validation)
            logs["val_loss"] = scores["loss"]
            if not math.isfinite(scores["loss"]):
                warnings.warn(
                    f"epoch {epoch}: the validation loss is {scores['loss']} (the training "
                    "loss is finite: validation inputs far from the training data, or labels "
                    "the network gives probability 0?)",
                    RuntimeWarning,
                    stacklevel=_caller_outside(),
                )
            if network.is_classifier:
                logs["val_accuracy"] = scores["accuracy"]
        network.epoch = epoch + 1
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if network.stop_training:
            break


def _run_epoch(network, batches, epoch, snapshots, batch_callbacks, final=False):
    """One epoch's steps; returns its logs, or None when training stopped inside it.

    On the ``final`` epoch of a call the updated weights also predict the last batch once:
    weights can be finite and still too large to compute with (|W| near 1e30 in float32
    overflows in the next product), and no later cost would reveal it.
    """
    X_batch = None
    total_cost, total_weight, correct, seen, counted = 0.0, 0.0, 0, 0, 0
    classifier, loss = network.is_classifier, network.loss
    for batch, (X_batch, Y_batch, w_batch) in enumerate(batches.epoch(network.rng)):
        if not network.built:
            network.build(X_batch.shape[1])
            snapshots.current = network.get_state()
        n = X_batch.shape[0]
        weight = n if w_batch is None else float(w_batch.sum())
        if not weight > 0:  # every weight of this batch is zero: nothing to learn
            seen += n
            continue
        cost = network._train_step(X_batch, Y_batch, epoch, w_batch, weight)
        if not math.isfinite(cost):
            snapshots.diverged(f"epoch {epoch}, batch {batch}: the cost became {cost}", batch == 0)
            break
        total_cost += cost * weight
        total_weight += weight
        seen += n
        counted += n
        if classifier:
            # The output buffer still holds this batch's A[L] from before the update.
            correct += metrics.count_correct(network.layers[-1]._output, Y_batch, loss)
        for callback in batch_callbacks:
            callback.on_batch_end(batch, {"loss": cost, "size": n})
    # Each cost comes before its step's update, so the last step's weights are
    # checked here; non-finite weights would otherwise outlive training.
    if not network.stop_training and not _all_finite(network.parameters):
        snapshots.diverged(f"epoch {epoch}: the weights became non-finite")
        return None
    comm = getattr(network, "_comm", None)
    if final and not network.stop_training and X_batch is not None:
        finite = _all_finite(network._output(X_batch))
        if comm is not None:  # each rank's last batch is its own: all stop, or none does
            finite = comm.sum_logs(float(not finite))[0] == 0
        if not finite:
            snapshots.diverged(f"epoch {epoch}: the weights give non-finite outputs")
            return None
    if network.stop_training and seen < batches.n_examples:
        return None
    if comm is not None:  # data-parallel (deepff.distributed): the logs of all ranks' shares
        total_cost, total_weight, correct, counted = comm.sum_logs(
            total_cost, total_weight, correct, counted
        )
    logs = {"loss": total_cost / total_weight}
    if classifier:
        logs["accuracy"] = correct / counted
    return logs


__all__ = ["check_callbacks", "check_not_training", "check_verbose", "train"]
