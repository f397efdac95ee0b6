"""Entity embeddings: categorical columns as learned vectors, beside the numeric features.

A categorical column with n levels is one-hot encoded into n inputs, so an ID-like column of
10,000 levels adds 10,000 inputs to the first Dense layer. An embedding (Guo and Berkhahn
2016, "Entity embeddings of categorical variables") gives each level j of column c a learned
row E_c[j] of d_c values instead, and the network sees

    A = [X_numeric, E_1[x_1], E_2[x_2], ..., E_k[x_k]]        (m, n - k + d_1 + ... + d_k)

where x_c holds the integer codes of column c. ``Embedding`` is that first block: it takes the
raw matrix X (codes stored as numbers in their columns), and the Dense layers after it are
unchanged. Its gradient is a scatter-add: dE_c[j] = sum of the rows of dA's block c over the
examples whose code is j (rows whose code does not occur get 0), ``torch.nn.Embedding``'s.

Code 0 of every column is reserved for categories the training data did not have (and for
missing values): the preprocessing of a run (``deepff.runs.preprocessing``) codes the levels it
saw as 1 ... n - 1 and everything else as 0, so a table has n rows, one of them the "unknown"
row, which training on known levels never moves. The layer itself maps any code outside
[0, n) (negative, too large, NaN) to 0 as well, and ONNX export (``Gather``) does the same.

Examples
--------
>>> import numpy as np
>>> import deepff as dff
>>> X = np.array([[0.5, 2.0], [-1.0, 1.0], [0.0, 7.0]])  # column 1: codes of 3 levels
>>> net = dff.Network([Embedding(columns=[1], cardinalities=[3], dims=[2]),
...                    dff.Dense(1)], seed=0).build(2)
>>> net.layers[0].output_units(2)
3
>>> A = net.layers[0].forward(X)
>>> E = net.layers[0].params["E0"]
>>> bool(np.all(A[:, 0] == X[:, 0]) and np.all(A[0, 1:] == E[2]) and np.all(A[2, 1:] == E[0]))
True
"""

from __future__ import annotations

import numpy as np

from ._checks import check_int, describe
from .layers import LAYERS, Layer


def _check_list(name, value, minimum):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise TypeError(f"{name} must be a non-empty list of integers; got {describe(value)}")
    return [check_int(name, v, minimum=minimum) for v in value]


class Embedding(Layer):
    """Learned vectors for the integer codes of categorical columns, beside the others.

    Output row: the columns of X that are not in ``columns`` (in their order), then for each
    categorical column c (in the order of ``columns``) the row E_c[code] of its table, of
    ``dims[c]`` values. Codes outside [0, n_c) map to the reserved code 0 (module docs).
    Initial tables are N(0, 1), as ``torch.nn.Embedding``'s; the gradient is the scatter-add
    dE_c[j] = sum over examples i with x_ic = j of dA_i (block c), and the numeric columns pass
    dA through (the codes get no gradient).

    Parameters
    ----------
    columns : list of int
        Indices in X of the categorical columns (their codes).
    cardinalities : list of int
        n_c, the rows of each table: codes 0 ... n_c - 1 (0 reserved for unknown), n_c >= 2.
    dims : int or list of int
        d_c, the length of each vector (one int for all columns).

    Attributes
    ----------
    params : ``E0``, ``E1``, ... the tables, shape (n_c, d_c); weight decay with
        ``decay_weights_only`` leaves them out (as it does biases).

    Examples
    --------
    >>> import numpy as np
    >>> layer = Embedding(columns=[0], cardinalities=[3], dims=2)
    >>> layer.build(2, rng=np.random.default_rng(0), dtype="float64")
    3
    >>> layer.params["E0"] = [[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]
    >>> A = layer.forward(np.array([[2.0, 9.0], [2.0, 8.0], [5.0, 7.0]]), training=True)
    >>> A
    array([[9., 3., 4.],
           [8., 3., 4.],
           [7., 0., 0.]])
    >>> dX = layer.backward(np.ones((3, 3)))
    >>> layer.grads["E0"]  # code 2 twice, the unknown code 5 once as 0
    array([[1., 1.],
           [0., 0.],
           [2., 2.]])
    """

    def __init__(self, columns, cardinalities, dims=8):
        super().__init__()
        self.columns = _check_list("columns", columns, minimum=0)
        self.cardinalities = _check_list("cardinalities", cardinalities, minimum=2)
        dims = _check_list("dims", dims, minimum=1)
        if len(dims) == 1:
            dims = dims * len(self.columns)
        self.dims = dims
        if not len(self.columns) == len(self.cardinalities) == len(self.dims):
            raise ValueError(
                f"columns, cardinalities and dims must have one entry per categorical column; "
                f"got {len(self.columns)}, {len(self.cardinalities)} and {len(self.dims)}"
            )
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns must be distinct; got {self.columns}")

    # --- construction ---------------------------------------------------------------
    def _check_inputs(self, n_inputs):
        if max(self.columns) >= n_inputs:
            raise ValueError(
                f"Embedding columns {self.columns} must be < the {n_inputs} input columns"
            )

    def parameter_shapes(self, n_inputs):
        self._check_inputs(n_inputs)
        pairs = zip(self.cardinalities, self.dims, strict=True)
        return {f"E{c}": (n, d) for c, (n, d) in enumerate(pairs)}

    def output_units(self, n_inputs):
        return n_inputs - len(self.columns) + sum(self.dims)

    def build(self, n_inputs, rng=None, dtype="float32", params=None, grads=None):
        self._check_inputs(check_int("n_inputs", n_inputs))
        categorical = set(self.columns)
        self.numeric = np.array([i for i in range(n_inputs) if i not in categorical], np.intp)
        return super().build(n_inputs, rng=rng, dtype=dtype, params=params, grads=grads)

    def reset_parameters(self):
        for table in self.params.values():
            table[...] = self.rng.standard_normal(table.shape)

    # --- computation ----------------------------------------------------------------
    def codes(self, X):
        """The row of each table that each example takes: (m,) index arrays, one per column."""
        result = []
        for column, n in zip(self.columns, self.cardinalities, strict=True):
            values = X[:, column]
            with np.errstate(invalid="ignore"):
                known = (values >= 0) & (values < n)  # NaN fails both
            result.append(np.where(known, values, 0).astype(np.intp))
        return result

    def forward(self, A, training=False):
        m = A.shape[0]
        width = self.output_units(self.n_inputs)
        out = self._space("out", m, width) if training else np.empty((m, width), self.dtype)
        n_numeric = self.numeric.size
        out[:, :n_numeric] = A[:, self.numeric]
        codes = self.codes(A)
        offset = n_numeric
        for c, (index, d) in enumerate(zip(codes, self.dims, strict=True)):
            out[:, offset : offset + d] = self.params[f"E{c}"][index]
            offset += d
        if training:
            self._codes = codes
        return out

    def backward(self, dA):
        offset = self.numeric.size
        for c, (index, n, d) in enumerate(
            zip(self._codes, self.cardinalities, self.dims, strict=True)
        ):
            grad = self.grads[f"E{c}"]
            for k in range(d):  # scatter-add, one bincount per vector entry
                grad[:, k] = np.bincount(index, weights=dA[:, offset + k], minlength=n)
            offset += d
        if not self.needs_input_gradient:
            return None
        dX = self._space("dX", dA.shape[0], self.n_inputs)
        dX[...] = 0.0
        dX[:, self.numeric] = dA[:, : self.numeric.size]
        return dX

    def get_config(self):
        return {"columns": self.columns, "cardinalities": self.cardinalities, "dims": self.dims}


LAYERS["Embedding"] = Embedding  # layers.get and model files build it by name

__all__ = ["Embedding"]
