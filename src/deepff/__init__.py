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

from . import activations, callbacks, initializers, layers, losses, optimizers, regularizers
from ._version import __version__ as __version__
from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint, TerminateOnNaN
from .gradcheck import gradient_check
from .layers import BatchNorm, Dense, Dropout, Layer
from .network import DivergenceWarning, Network, NotFittedError, load
from .optimizers import (
    SGD,
    Adam,
    ExponentialDecay,
    InverseTimeDecay,
    Momentum,
    RMSProp,
    StepDecay,
)
from .serialization import save

__all__ = [
    "SGD",
    "Adam",
    "BatchNorm",
    "Callback",
    "Dense",
    "DivergenceWarning",
    "Dropout",
    "EarlyStopping",
    "ExponentialDecay",
    "History",
    "InverseTimeDecay",
    "Layer",
    "ModelCheckpoint",
    "Momentum",
    "Network",
    "NotFittedError",
    "RMSProp",
    "StepDecay",
    "TerminateOnNaN",
    "activations",
    "callbacks",
    "gradient_check",
    "initializers",
    "layers",
    "load",
    "losses",
    "optimizers",
    "regularizers",
    "save",
]
