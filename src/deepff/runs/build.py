"""The network a run's options describe, and its optimizer.

Examples
--------
>>> net = build_network({"layers": [8], "epochs": 5}, n_features=4, task="classification",
...                     n_outputs=3)
>>> net.layers[-1].units, net.layers[-1].activation.name
(3, 'softmax')
"""

from __future__ import annotations

from .. import optimizers
from .._checks import describe, is_int
from ..layers import Dense, Dropout
from ..network import Network
from .options import check_options


def make_optimizer(options: dict) -> optimizers.Optimizer:
    """The optimizer of checked ``options``, with inverse-time decay when ``decay`` > 0.

    Examples
    --------
    >>> optimizer = make_optimizer(check_options({"optimizer": "Adam"}))
    >>> type(optimizer).__name__
    'Adam'
    """
    name = options["optimizer"]
    cls = optimizers.OPTIMIZERS[name]
    kwargs = {}
    lr = options["learning_rate"]
    if lr is None:
        lr = 0.01 if cls in (optimizers.SGD, optimizers.Momentum) else 0.001
    if options["decay"]:
        kwargs["learning_rate"] = optimizers.InverseTimeDecay(lr, decay=options["decay"])
    else:
        kwargs["learning_rate"] = lr
    if cls is optimizers.Adam:
        if options["beta1"] is not None:
            kwargs["beta1"] = options["beta1"]
        if options["beta2"] is not None:
            kwargs["beta2"] = options["beta2"]
    elif cls is optimizers.Momentum and options["beta1"] is not None:
        kwargs["beta"] = options["beta1"]
    elif cls is optimizers.RMSProp and options["beta2"] is not None:
        kwargs["beta"] = options["beta2"]
    return cls(**kwargs)


def build_network(options: dict, n_features: int, task: str, n_outputs: int):
    """Return the (built) ``deepff.Network`` described by ``options``.

    Parameters
    ----------
    options : dict
        ``deepff train`` options (checked here; defaults filled in).
    n_features : int
        Inputs after preprocessing.
    task : {"classification", "regression"}
    n_outputs : int
        Classes for classification (2 gives one sigmoid unit), targets for regression.

    Examples
    --------
    >>> net = build_network({"layers": [4]}, n_features=3, task="regression", n_outputs=1)
    >>> [layer.units for layer in net.layers if hasattr(layer, "units")]
    [4, 1]
    """
    options = check_options(options)
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression'; got {describe(task)}")
    if not is_int(n_outputs) or n_outputs < 1:
        raise ValueError(f"n_outputs must be a positive integer; got {describe(n_outputs)}")
    hidden = []
    for units in options["layers"]:
        hidden.append(
            Dense(
                units,
                activation=options["activation"],
                init=options["init"],
                l2=options["l2"],
                l1=options["l1"],
                batch_norm=options["batch_norm"],
            )
        )
        if options["dropout"] > 0:
            hidden.append(Dropout(options["dropout"]))
    if task == "classification":
        if n_outputs < 2:
            raise ValueError(f"a classifier needs at least 2 classes; got {n_outputs}")
        units, activation = (1, "sigmoid") if n_outputs == 2 else (n_outputs, "softmax")
        loss = options["loss"]
        if loss in ("hinge", "squared_hinge"):
            activation = "linear"
    else:
        units, activation, loss = n_outputs, "linear", options["loss"]
    output = Dense(
        units,
        activation=activation,
        init="auto" if options["init"] == "auto" else options["init"],
        l2=options["l2"],
        l1=options["l1"],
    )
    _check_size(options, int(n_features), units)
    network = Network(
        [*hidden, output],
        loss=loss,
        optimizer=make_optimizer(options),
        seed=options["seed"],
        dtype=options["dtype"],
    )
    return network.build(int(n_features))


def _check_size(options, n_features: int, n_outputs: int) -> None:
    """Refuse a network whose weights, gradients and optimizer state cannot fit in memory,
    before anything is allocated (``--layers 1000000000`` is one layer of a billion units)."""
    import itertools

    import numpy as np

    from ..io.datasets import memory_limit

    sizes = [n_features, *options["layers"], n_outputs]
    n_parameters = sum(a * b + b for a, b in itertools.pairwise(sizes))
    # weights, their gradients, two moving averages (Adam), and the batch's activations
    needed = 4 * n_parameters * np.dtype(options["dtype"]).itemsize
    limit = memory_limit()
    if needed > limit:
        raise ValueError(
            f"option 'layers' {options['layers']} makes a network of {n_parameters:,} "
            f"parameters, which needs about {needed / 2**30:,.1f} GiB (weights, gradients and "
            f"optimizer state), more than this machine's {limit / 2**30:,.1f} GiB; use fewer "
            "or narrower layers"
        )


__all__ = ["build_network", "make_optimizer"]
