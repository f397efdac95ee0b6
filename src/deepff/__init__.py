"""deepff: deep feedforward neural networks in NumPy, equation by equation.

The system of Rahman, "Computations, optimization and tuning of deep feedforward neural
networks" (bioRxiv 2019): forward and backward propagation for L layers, the common costs and
activations, initialization, optimizers, regularization and tuning.

Examples
--------
>>> import deepff as dff
>>> net = dff.Network([dff.Dense(8, activation="relu"), dff.Dense(3, activation="softmax")])
>>> net.loss
CategoricalCrossentropy()
"""

from . import (
    activations,
    callbacks,
    embeddings,
    initializers,
    layers,
    losses,
    optimizers,
    regularizers,
    schedules,
)
from ._version import __version__ as __version__
from .callbacks import (
    Callback,
    EarlyStopping,
    History,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from .embeddings import Embedding
from .gradcheck import gradient_check
from .layers import BatchNorm, Dense, Dropout, Layer
from .network import DivergenceWarning, Network, NotFittedError, load
from .optimizers import (
    LBFGS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Momentum,
    NAdam,
    RMSProp,
)
from .schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    OneCycle,
    PolynomialDecay,
    StepDecay,
)
from .serialization import save

__all__ = [
    "LBFGS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "BatchNorm",
    "Callback",
    "CosineDecay",
    "Dense",
    "DivergenceWarning",
    "Dropout",
    "EarlyStopping",
    "Embedding",
    "ExponentialDecay",
    "History",
    "InverseTimeDecay",
    "Layer",
    "ModelCheckpoint",
    "Momentum",
    "NAdam",
    "Network",
    "NotFittedError",
    "OneCycle",
    "PolynomialDecay",
    "RMSProp",
    "ReduceLROnPlateau",
    "StepDecay",
    "TerminateOnNaN",
    "activations",
    "callbacks",
    "embeddings",
    "gradient_check",
    "initializers",
    "layers",
    "load",
    "losses",
    "optimizers",
    "regularizers",
    "save",
    "schedules",
]
