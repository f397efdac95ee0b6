"""The network a run's options describe, and its optimizer.

Examples
--------
>>> net = build_network({"layers": [8], "epochs": 5}, n_features=4, task="classification",
...                     n_outputs=3)
>>> net.layers[-1].units, net.layers[-1].activation.name
(3, 'softmax')
"""

from __future__ import annotations

from .. import optimizers, schedules
from .._checks import describe, is_int
from ..embeddings import Embedding
from ..layers import Dense, Dropout
from ..network import Network
from .options import check_options


def make_optimizer(options: dict) -> optimizers.Optimizer:
    """The optimizer of checked ``options``: its rate, schedule, betas, decay and clipping.

    The learning rate is ``learning_rate`` (default: 0.01 for SGD, Momentum and Adagrad,
    0.002 for NAdam, 0.001 for the others) over the run's ``epochs`` E, counted in epochs:

    | ``schedule`` | lr(epoch t)                                                         |
    |--------------|---------------------------------------------------------------------|
    | none         | lr, or lr / (1 + decay t) when ``decay`` > 0 (the paper's decay)    |
    | cosine       | ``CosineDecay(lr, E - W, warmup_steps=W)``, W = ``warmup``          |
    | onecycle     | ``OneCycle(lr, total_steps=E)``: lr/25 up to lr, then down          |
    | polynomial   | ``PolynomialDecay(lr, E)``: lr (1 - t / E), linear to 0             |

    ``beta1``/``beta2`` are Adam's, AdamW's and NAdam's betas (Momentum's beta is ``beta1``,
    RMSProp's ``beta2``); ``momentum`` is SGD's (``torch.optim.SGD``); ``weight_decay``,
    ``decay_weights_only``, ``clip_norm`` and ``clip_value`` go to every optimizer.

    Examples
    --------
    >>> optimizer = make_optimizer(check_options({"optimizer": "Adam"}))
    >>> type(optimizer).__name__
    'Adam'
    >>> adamw = make_optimizer(check_options({"optimizer": "adamw", "learning_rate": 0.01,
    ...     "schedule": "cosine", "warmup": 1, "epochs": 5, "clip_norm": 1.0}))
    >>> [round(adamw.learning_rate(t), 5) for t in range(6)], adamw.weight_decay
    ([0.005, 0.01, 0.00854, 0.005, 0.00146, 0.0], 0.01)
    """
    name = options["optimizer"]
    cls = optimizers.OPTIMIZERS[name]
    kwargs = {"learning_rate": _learning_rate(options, cls)}
    betas = {"beta1": options["beta1"], "beta2": options["beta2"]}
    if issubclass(cls, (optimizers.Adam, optimizers.NAdam)):
        kwargs.update({key: value for key, value in betas.items() if value is not None})
    elif cls is optimizers.Momentum and options["beta1"] is not None:
        kwargs["beta"] = options["beta1"]
    elif cls is optimizers.RMSProp and options["beta2"] is not None:
        kwargs["beta"] = options["beta2"]
    if cls is optimizers.SGD and options.get("momentum") is not None:
        kwargs["momentum"] = options["momentum"]
    for key in ("weight_decay", "clip_norm", "clip_value"):
        if options.get(key) is not None:
            kwargs[key] = options[key]
    if options.get("decay_weights_only"):
        kwargs["decay_weights_only"] = True
    return cls(**kwargs)


def _learning_rate(options: dict, cls):
    """The rate (a float) or schedule of ``options`` for an optimizer of class ``cls``."""
    lr = options["learning_rate"]
    if lr is None:
        lr = _DEFAULT_RATES.get(cls, 0.001)
    name, epochs = options.get("schedule", "none"), options["epochs"]
    if name == "cosine":
        warmup = options.get("warmup", 0)
        return schedules.CosineDecay(lr, epochs - warmup, warmup_steps=warmup, unit="epoch")
    if name == "onecycle":
        return schedules.OneCycle(lr, total_steps=epochs, unit="epoch")
    if name == "polynomial":
        return schedules.PolynomialDecay(lr, decay_steps=epochs, unit="epoch")
    if options["decay"]:
        return schedules.InverseTimeDecay(lr, decay=options["decay"])
    return lr


_DEFAULT_RATES = {
    optimizers.SGD: 0.01,
    optimizers.Momentum: 0.01,
    optimizers.Adagrad: 0.01,
    optimizers.NAdam: 0.002,
}


def embedding_dim(cardinality: int) -> int:
    """The length of a column's embedding vectors: min(600, round(1.6 n^0.56)) (fastai's rule).

    Examples
    --------
    >>> [embedding_dim(n) for n in (3, 17, 101, 10_000)]
    [3, 8, 21, 278]
    """
    return int(min(600, round(1.6 * cardinality**0.56)))


def build_network(options: dict, n_features: int, task: str, n_outputs: int, embedding=None):
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
    embedding : dict, optional
        ``Preprocessor.embedding_layout()``: the code columns and their cardinalities. The
        network then starts with an ``Embedding`` block of the option ``embedding_dim`` (by
        default ``embedding_dim(n)``) values per column.

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
    first = []
    if embedding is not None:
        dim = options["embedding_dim"]
        dims = [dim or embedding_dim(n) for n in embedding["cardinalities"]]
        first = [Embedding(embedding["columns"], embedding["cardinalities"], dims)]
    _check_size(options, int(n_features), units, *first)
    network = Network(
        [*first, *hidden, output],
        loss=loss,
        optimizer=make_optimizer(options),
        seed=options["seed"],
        dtype=options["dtype"],
    )
    return network.build(int(n_features))


def _check_size(options, n_features: int, n_outputs: int, embedding=None) -> None:
    """Refuse a network whose weights, gradients and optimizer state cannot fit in memory,
    before anything is allocated (``--layers 1000000000`` is one layer of a billion units)."""
    import itertools

    import numpy as np

    from ..io.datasets import memory_limit

    n_tables = 0
    if embedding is not None:
        n_tables = sum(n * d for n, d in zip(embedding.cardinalities, embedding.dims, strict=True))
        n_features = embedding.output_units(n_features)
    sizes = [n_features, *options["layers"], n_outputs]
    n_parameters = n_tables + sum(a * b + b for a, b in itertools.pairwise(sizes))
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


__all__ = ["build_network", "embedding_dim", "make_optimizer"]
