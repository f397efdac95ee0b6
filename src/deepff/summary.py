"""A network described as a table: its layers, their output shapes and parameter counts.

A Dense layer l of n[l] units after n[l-1] inputs holds the n[l] n[l-1] weights of W[l] and
the n[l] biases of b[l] (eq. 11; with ``batch_norm``, gamma and beta in place of b), a
BatchNorm layer 2 n[l] (gamma and beta), Dropout none; the total is
``Network.n_parameters``. An unbuilt network shows "?" where the input width decides.
"""

from __future__ import annotations


def summary_table(network) -> str:
    """Return the table ``Network.summary`` prints.

    Examples
    --------
    >>> import deepff as dff
    >>> net = dff.Network([dff.Dense(8, activation="relu"), dff.Dense(1, activation="sigmoid")])
    >>> print(summary_table(net.build(4)))
    #  layer                                 output  parameters
    -----------------------------------------------------------
       input                                 (m, 4)
    0  Dense(units=8, activation='relu')     (m, 8)          40
    1  Dense(units=1, activation='sigmoid')  (m, 1)           9
    -----------------------------------------------------------
    trainable parameters: 49
    loss: binary_crossentropy
    optimizer: Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-08)
    dtype: float32
    """
    n_inputs = network.n_features_in_ if network.built else None
    rows = [("#", "layer", "output", "parameters")]
    rows.append(("", "input", f"(m, {n_inputs or '?'})", ""))
    for i, layer in enumerate(network.layers):
        if n_inputs is not None:
            n_inputs = layer.output_units(n_inputs)
        count = layer.n_parameters if network.built else "?"
        rows.append((str(i), repr(layer), f"(m, {n_inputs or '?'})", str(count)))
    widths = [max(len(row[c]) for row in rows) for c in range(4)]

    def line(row):
        cells = [cell.ljust(w) for cell, w in zip(row[:3], widths[:3], strict=True)]
        count = row[3].ljust(widths[3]) if row is rows[0] else row[3].rjust(widths[3])
        return "  ".join([*cells, count]).rstrip()

    lines = [line(row) for row in rows]
    rule = "-" * max(len(text) for text in lines)
    lines.insert(1, rule)
    lines.append(rule)
    lines.append(f"trainable parameters: {network.n_parameters if network.built else '?'}")
    lines.append(f"loss: {network.loss.name}")
    lines.append(f"optimizer: {network.optimizer!r}")
    lines.append(f"dtype: {network.dtype}")
    return "\n".join(lines)


__all__ = ["summary_table"]
