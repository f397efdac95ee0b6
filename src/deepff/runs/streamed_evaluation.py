"""``deepff evaluate`` over a table file that need not fit in memory (issue 16).

``table_chunks`` reads a CSV / TSV (``.gz`` too), Parquet or ``.npy`` file a block of rows
at a time as the loaders read it whole (numbers as float32, a model's text columns as
text). ``StreamedEvaluation`` takes the blocks' model inputs and labels one after another
and keeps only sums: the loss and accuracy (``Network.evaluate``'s, weighted by rows, the
penalty added once), the confusion matrix, the log loss, the regression sums, and, for the
ROC AUC, each row's probability (a number a row, or one a class a row beyond two classes).
``report`` then gives what ``deepff.runs.evaluation.evaluation`` gives on the whole array:
the metrics of the confusion matrix come from ``sklearn.metrics`` called on its cells
weighted by their counts (the same numbers, exactly), the ROC AUC is the Mann-Whitney
statistic counted exactly (equal to scikit-learn's to float rounding), the log loss the
row-weighted mean of each block's ``sklearn.metrics.log_loss``.

Examples
--------
>>> import numpy as np
>>> import deepff as dff
>>> X = np.linspace(-1, 1, 40)[:, None]; y = (X[:, 0] > 0).astype(int)
>>> net = dff.Network([dff.Dense(1, activation="sigmoid")], seed=0)
>>> _ = net.fit(X, y, epochs=200, verbose=0, batch_size=8)
>>> scores = StreamedEvaluation(net)
>>> for start in range(0, 40, 16):
...     scores.add(X[start:start + 16], y[start:start + 16])
>>> metrics, report = scores.report()
>>> metrics["examples"], report["confusion_matrix"]
(40, [[20, 0], [0, 20]])
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..io.datasets import DataError
from ..io.stream import NpySource, blocks
from .evaluation import (
    _averages,
    _per_class,
    finite_or_none,
    label_codes,
    predicted_codes,
    regularization_penalty,
)

#: Rows read at a time.
CHUNK_ROWS = 65536
#: Files that ``table_chunks`` reads, by suffix.
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".parquet", ".pq", ".npy")


def table_chunks(path, kinds=None, chunk_rows=None):
    """(column names, iterator of pandas DataFrames of ``chunk_rows`` rows, default
    ``CHUNK_ROWS``) of a table file.

    ``kinds`` maps column names to the dtype they are read as (``"float32"``, ``str``);
    other columns are read as pandas infers them (the whole-file loaders' way).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("a,b\\n1,x\\n2,y\\n3,z\\n")
    >>> names, chunks = table_chunks(path, {"a": "float32"}, chunk_rows=2)
    >>> names, [len(frame) for frame in chunks]
    (['a', 'b'], [2, 1])
    """
    import pandas as pd

    chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    kinds = dict(kinds or {})
    if suffixes[-1:] == [".npy"]:
        source = NpySource(path)
        names = source.columns

        def arrays():
            for block in blocks(source, chunk_rows):
                yield pd.DataFrame(np.array(block), columns=names)

        return names, arrays()
    if ".parquet" in suffixes or ".pq" in suffixes:
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(path)
        names = [str(n) for n in handle.schema_arrow.names]

        def batches():
            for batch in handle.iter_batches(batch_size=chunk_rows):
                frame = batch.to_pandas()
                frame.columns = [str(c) for c in frame.columns]
                yield frame.astype({k: v for k, v in kinds.items() if k in frame.columns})

        return names, batches()
    from ..io.tables import sniff_separator

    sep = sniff_separator(path)
    names = [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    kinds = {k: v for k, v in kinds.items() if k in names}
    reader = pd.read_csv(path, sep=sep, dtype=kinds, chunksize=chunk_rows, engine="c")

    def frames():
        done = 0
        while True:
            try:
                frame = next(reader)
            except StopIteration:
                return
            except (ValueError, TypeError) as error:  # text where the model reads numbers
                where = f"{path.name}: rows {done + 1}-{done + chunk_rows}"
                raise DataError(f"{where}: {str(error).splitlines()[0]}") from None
            frame.columns = [str(c) for c in frame.columns]
            done += len(frame)
            yield frame

    return names, frames()


def _auc(positives, negatives) -> float | None:
    """P(score of a positive > score of a negative) + P(tie) / 2, counted exactly, from the
    positives' scores (an array, sorted here in place) and the negatives' (arrays)."""
    positives.sort()
    p, n = len(positives), sum(len(part) for part in negatives)
    if p == 0 or n == 0:
        return None
    twice = 0  # twice the Mann-Whitney U: 2 for each positive above a negative, 1 for a tie
    for part in negatives:
        below = np.searchsorted(positives, part, "left")
        upto = np.searchsorted(positives, part, "right")
        twice += 2 * int((p - upto).sum()) + int((upto - below).sum())
    return twice / (2 * p * n)


class StreamedEvaluation:
    """The sums of ``deepff evaluate``'s metrics over blocks of rows (see the module).

    Parameters
    ----------
    network : deepff.Network
    labels : list of str, optional
        The names of the classes (default: the classes as text).
    """

    def __init__(self, network, labels=None):
        self.network = network
        self.classify = network.is_classifier and not network.is_multilabel
        if network.is_multilabel:
            raise ValueError("a multi-label model is evaluated from memory; leave out --stream")
        self.count, self.loss, self.accuracy = 0, 0.0, 0.0
        if self.classify:
            classes = network.classes_
            self.labels = [str(c) for c in classes.tolist()] if labels is None else list(labels)
            self.classes = np.asarray(classes)
            k = len(classes)
            self.matrix = np.zeros((k, k), np.int64)
            self.probabilistic = network.loss.name in (
                "binary_crossentropy",
                "categorical_crossentropy",
            )
            # ROC AUC: two classes keep the positive class's probability of each row, split
            # by the row's class (4 bytes a row); more keep every row's k and its class
            self.finite, self.log_loss, self.codes, self.scores = True, 0.0, [], []
            self.split = ([], [])
        else:
            # residual sums; the targets' moments (Chan's update) for R2's total sum
            self.sums = {"abs": 0.0, "squared": 0.0, "ape": 0.0, "mean": 0.0, "m2": 0.0}
            self.finite, self.nonzero = True, True

    def add(self, X, y) -> None:
        """Take one block: model inputs ``X`` and labels or targets ``y``."""
        network, y = self.network, np.asarray(y)
        m = len(y)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            scores = network.evaluate(X, y)
            penalty = regularization_penalty(network, m)
            self.loss += (scores["loss"] - penalty) * m
            self.accuracy += scores.get("accuracy", 0.0) * m
            if self.classify:
                self._add_classes(X, y)
            else:
                self._add_values(network.predict(X), y)
        self.count += m

    def _add_classes(self, X, y) -> None:
        network, k = self.network, len(self.labels)
        codes = label_codes(self.classes, y)
        if not self.probabilistic:
            guesses = label_codes(self.classes, network.predict(X))
        else:  # predict's classes from predict_proba's pass: one forward pass a block
            probabilities = np.asarray(network.predict_proba(X))
            guesses = predicted_codes(network, probabilities)
        self.matrix += np.bincount(codes * k + guesses, minlength=k * k).reshape(k, k)
        if not (self.probabilistic and self.finite):
            return
        if not np.all(np.isfinite(probabilities)):
            self.finite, self.codes, self.scores, self.split = False, [], [], ([], [])
            return
        import warnings

        from sklearn import metrics

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # float32 rows summing to 1 only to rounding
            loss = metrics.log_loss(codes, probabilities.astype(np.float64), labels=list(range(k)))
        self.log_loss += loss * len(codes)
        if k == 2:
            positive = codes == 1
            self.split[0].append(probabilities[~positive, 1])
            self.split[1].append(probabilities[positive, 1])
        else:
            self.codes.append(codes.astype(np.int8 if k < 128 else np.int32))
            self.scores.append(probabilities)

    def _add_values(self, predicted, y) -> None:
        y = y.astype(np.float64)
        predicted = np.asarray(predicted, np.float64).reshape(y.shape)
        if not np.all(np.isfinite(predicted)):
            self.finite = False
        error = np.abs(y - predicted)
        sums, m, n = self.sums, len(y), self.count
        sums["abs"] += float(error.sum())
        sums["squared"] += float((error**2).sum())
        self.nonzero = self.nonzero and bool(np.all(y != 0))
        sums["ape"] += float((error / np.maximum(np.abs(y), np.finfo(np.float64).eps)).sum())
        mean = float(y.mean())
        delta, total = mean - sums["mean"], n + m
        sums["m2"] += float(((y - mean) ** 2).sum()) + delta * delta * n * m / total
        sums["mean"] += delta * m / total

    def report(self) -> tuple:
        """(``Network.evaluate``'s metrics with ``examples``, ``evaluation``'s report)."""
        if self.count == 0:
            raise DataError("no data rows to evaluate")
        network, m = self.network, self.count
        penalty = regularization_penalty(network, m)
        metrics = {"loss": finite_or_none(self.loss / m + penalty)}
        if self.classify:
            metrics["accuracy"] = finite_or_none(self.accuracy / m)
            metrics["examples"] = m
            return metrics, self._classes_report()
        sums = self.sums
        total = sums["m2"]
        mse = sums["squared"] / m
        r2 = 1.0 - sums["squared"] / total if total > 0 else 0.0
        metrics.update(mse=mse, mae=sums["abs"] / m, r2=r2, examples=m)
        return metrics, self._values_report()

    def _values_report(self) -> dict:
        sums, m = self.sums, self.count
        if not self.finite:
            return {"examples": m, "mae": None, "rmse": None, "r2": None, "mape": None}
        r2 = None
        if m > 1:  # scikit-learn's r2_score: 1 or 0 for constant targets
            total = sums["m2"]
            r2 = 1.0 - sums["squared"] / total if total > 0 else float(sums["squared"] == 0)
        return {
            "examples": m,
            "mae": finite_or_none(sums["abs"] / m),
            "rmse": finite_or_none(math.sqrt(sums["squared"] / m)),
            "r2": None if r2 is None else finite_or_none(r2),
            "mape": finite_or_none(sums["ape"] / m) if self.nonzero else None,
        }

    def _classes_report(self) -> dict:
        import warnings

        from sklearn import metrics

        matrix, labels = self.matrix, self.labels
        every = list(range(len(labels)))
        # Every (true, predicted) cell once, weighted by its count: scikit-learn's numbers of
        # all the rows, exactly (sums of whole weights are exact in float64).
        truth, guess = np.nonzero(matrix >= 0)
        weight = matrix[truth, guess]
        keep = weight > 0
        truth, guess, weight = truth[keep], guess[keep], weight[keep]
        out = {
            "examples": self.count,
            "accuracy": finite_or_none(metrics.accuracy_score(truth, guess, sample_weight=weight)),
            "balanced_accuracy": None,
            "log_loss": None,
            "roc_auc": None,
        }
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class absent from these rows: its recall 0
            out["balanced_accuracy"] = finite_or_none(
                metrics.balanced_accuracy_score(truth, guess, sample_weight=weight)
            )
            out.update(_averages(metrics, truth, guess, every, weight))
            if self.probabilistic and self.finite:
                out["log_loss"] = finite_or_none(self.log_loss / self.count)
                out["roc_auc"] = self._roc_auc()
            p, r, f, _ = metrics.precision_recall_fscore_support(
                truth, guess, labels=every, zero_division=0, sample_weight=weight
            )
        support = matrix.sum(axis=1)
        out["per_class"] = _per_class(labels, p, r, f, support)
        out["confusion_matrix"] = matrix.tolist()
        out["classes"] = labels
        return out

    def _roc_auc(self):
        """Binary: of the positive class; else one-vs-rest macro (None when a class is
        missing), as ``deepff.runs.evaluation``."""
        k = len(self.labels)
        if k == 2:
            negatives, positives = self.split
            if not negatives or not positives:
                return None
            return finite_or_none(_auc(np.concatenate(positives), negatives))
        codes, scores = np.concatenate(self.codes), np.concatenate(self.scores)
        if len(np.unique(codes)) < k:
            return None  # one-vs-rest needs every class among the rows
        aucs = []
        for c in range(k):
            mine = codes == c
            aucs.append(_auc(scores[mine, c], [scores[~mine, c]]))
        return finite_or_none(np.mean(aucs))


__all__ = ["CHUNK_ROWS", "TABLE_SUFFIXES", "StreamedEvaluation", "table_chunks"]
