"""The preprocessing of a run: raw features to the float matrix a network takes.

``Preprocessor`` is fitted on the training rows only and saved inside the model file (its
``get_config`` and ``arrays``), so that ``deepff predict`` takes raw data. Statistics are
accumulated over chunks of rows: a lazily read HDF5 dataset is read once to fit, once to
transform.

Examples
--------
>>> import numpy as np
>>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
>>> pre.transform(np.array([[1.0, 20.0]]))
array([[0.5, 0.5]], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import describe, is_int
from ..io.coded import check_categories
from ..io.stream import Moments
from .options import CATEGORICAL, IMPUTES, SCALES, _fail

#: ``auto`` gives integer codes (for an ``Embedding`` block) to the text columns of more than
#: this many categories, and one-hot blocks to the others.
EMBEDDING_THRESHOLD = 16

_CHUNK_BYTES = 64 << 20  # rows read at a time when streaming: about 64 MB of raw input


def _chunk_rows(X) -> int:
    shape = getattr(X, "shape", None)
    per_row = int(np.prod(shape[1:])) * 8 if shape is not None and len(shape) > 1 else 8
    return max(1, _CHUNK_BYTES // max(per_row, 1))


def _is_frame(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc")


class Preprocessor:
    """Turns raw features into the float matrix a network takes, as fitted on training rows.

    Steps, in order: select the training columns (tables), impute missing values (when
    ``impute`` is set), encode non-numeric columns, flatten images (m, h, w, c) to rows, and
    scale the numeric features:
    ``standard`` (x - mean) / std, ``minmax`` (x - min) / (max - min), or ``none``.
    Constant features get scale 1. Statistics are accumulated in float64 over chunks of
    rows, so a lazily read HDF5 dataset is never loaded twice.

    A text column is one-hot encoded (a category unseen in training becomes all zeros) or,
    for an ``Embedding`` block, one column of integer codes: the training categories in
    sorted order are 1 ... n, and code 0 is reserved for any category training did not see
    (``deepff.embeddings``). The features are the numeric columns, then the one-hot blocks,
    then the code columns (unscaled); ``embedding_layout`` says where the codes are.

    Parameters
    ----------
    scale : {"standard", "minmax", "none"}
    impute : {None, "mean", "median"}
    dtype : output dtype, default "float32"
    categorical : {"onehot", "embedding", "auto"}, default "onehot"
        How text columns are encoded; "auto" gives codes to the columns of more than
        ``EMBEDDING_THRESHOLD`` (16) categories and one-hot to the others.
    drop : list of str, optional
        Table columns left out (an ID column, a leak); the data need not hold them later.
    category : list of str, optional
        Table columns encoded as categories even when they hold numbers (``3`` is ``"3"``).
    numeric : list of str, optional
        Table columns read as numbers; text that is not a number there (``?``, ``n/a``) is a
        missing value, filled by ``impute`` or refused.

    Examples
    --------
    >>> import numpy as np
    >>> pre = Preprocessor(scale="standard").fit(np.array([[1.0], [3.0]]))
    >>> pre.transform(np.array([[1.0], [2.0], [3.0]])).ravel()
    array([-1.,  0.,  1.], dtype=float32)
    """

    def __init__(
        self,
        scale="standard",
        impute=None,
        dtype="float32",
        categorical="onehot",
        *,
        drop=None,
        category=None,
        numeric=None,
    ):
        if scale not in SCALES:
            _fail("scale", scale, "one of " + ", ".join(SCALES))
        if impute is not None and impute not in IMPUTES:
            _fail("impute", impute, "'mean' or 'median'")
        if categorical not in CATEGORICAL:
            _fail("categorical", categorical, "one of " + ", ".join(CATEGORICAL))
        self.categorical = categorical
        self.drop = list(drop or [])
        self.as_category = list(category or [])
        self.as_numeric = list(numeric or [])
        self.scale = scale
        self.impute = impute
        self.dtype = np.dtype(dtype)
        self.fitted = False

    # --- fitting ---------------------------------------------------------------------
    def fit(self, X, rows=None) -> Preprocessor:
        """Learn the encoding and the scaling from X (only its ``rows`` when given).

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor().fit(np.arange(8.0).reshape(4, 2), rows=[0, 1])
        >>> pre.n_features_out
        2
        """
        if _is_frame(X):
            self._fit_frame(X, None if rows is None else np.sort(np.asarray(rows)))
        else:
            self._fit_array(X, rows)
        self.fitted = True
        return self

    def _fit_frame(self, frame, rows):
        """Column by column, so that at most one column is copied at a time."""
        self.kind = "table"
        labels = {str(c): c for c in frame.columns}
        self._check_names(labels)
        self._fit_columns(
            [
                self._summary(name, self._column(frame, labels[name], name, rows))
                for name in labels
                if name not in self.drop
            ]
        )

    def _check_names(self, names) -> None:
        """Every column named by drop, category and numeric is one of ``names``."""
        for name in (*self.drop, *self.as_category, *self.as_numeric):
            if name not in names:
                raise ValueError(
                    f"the data has no column {name!r}; its columns are {', '.join(names)}"
                )

    def _summary(self, name, column) -> _Column:
        """What fitting needs of one column of a frame (its training rows)."""
        if _is_text(column):
            values = column.dropna().astype(str)
            counts = values.value_counts(sort=False)
            counts = dict(zip(counts.index.tolist(), counts.tolist(), strict=True))
            return _Column(name, counts=counts, missing=len(column) - len(values))
        values = column.to_numpy(np.float64)
        missing = np.isnan(values)
        kept = values[~missing]
        if not np.all(np.isfinite(kept)) or (missing.any() and not self.impute):
            bad = values[~np.isfinite(values)][0]
            raise _NonFinite(f"data must be finite; found {bad} in a row")
        median = None
        if self.impute == "median" and missing.any() and kept.size:
            median = float(np.median(kept))
        moments = Moments.of(kept.reshape(-1, 1))
        return _Column(name, moments=moments, missing=int(missing.sum()), median=median)

    def _fit_columns(self, summaries) -> None:
        """The encoding and scaling from each column's summary (a frame's, or a streamed
        pass's): the categories seen, sorted; a text column's fill its most frequent
        value (the first in order of a tie); a number's its mean or median, the imputed
        values joined to the column's moments by Chan's update (the same numbers as
        moments of the filled column, to float64 rounding)."""
        self.columns = [column.name for column in summaries]
        self.categories, self.fill = {}, {}
        numeric, stats = [], []
        for column in summaries:
            name = column.name
            if column.counts is not None:
                seen = sorted(v for v, n in column.counts.items() if n > 0)
                check_categories(name, len(seen))
                self.categories[name] = seen
                if self.impute and column.missing:
                    top = max((column.counts[v] for v in seen), default=0)
                    self.fill[name] = min((v for v in seen if column.counts[v] == top), default="")
                continue
            numeric.append(name)
            moments = column.moments
            if self.impute and column.missing:
                if not moments.count[0]:
                    stat = 0.0
                else:
                    stat = float(moments.mean[0]) if self.impute == "mean" else column.median
                self.fill[name] = float(stat)
                moments = moments.combine(_constant(stat, column.missing))
            stats.append(moments)
        self.numeric = numeric
        if stats:
            joined = Moments(
                *(np.concatenate(parts) for parts in zip(*map(_fields, stats), strict=True))
            )
            self._set_scaling(*_scaling_of(joined))
        else:
            self._set_scaling(*_empty_moments(0))
        self._finish_table()

    def _finish_table(self) -> None:
        numeric = self.numeric
        self.input_shape = [len(self.columns)]
        self.embedded = {
            name: self.categories.pop(name)
            for name in list(self.categories)
            if self.categorical == "embedding"
            or (self.categorical == "auto" and len(self.categories[name]) > EMBEDDING_THRESHOLD)
        }
        self.n_features_out = (
            len(numeric) + sum(len(c) for c in self.categories.values()) + len(self.embedded)
        )
        if self.n_features_out == 0:
            raise ValueError("no feature columns are left (see --drop and --id-column)")
        self.feature_names = (
            list(numeric)
            + [f"{name}={value}" for name, values in self.categories.items() for value in values]
            + [f"{name} (code)" for name in self.embedded]
        )

    def fit_coded(self, blocks, columns, levels=None, *, exclude=()) -> Preprocessor:
        """Fit on a table's training rows given as blocks of coded numbers, in one pass:
        what a streamed run fits (``deepff.runs.streamed``), the Preprocessor ``fit``
        makes of the raw rows, equal to float64 rounding.

        ``columns`` names the blocks' columns; a text column's cells are codes into its
        ``levels[name]`` (its values by code, ``deepff.io.coded``), a missing cell is NaN;
        the columns in ``exclude`` (the target) are not features. The moments are Chan's
        parallel update over the blocks (``deepff.io.stream.Moments``), and imputing by
        the mean streams exactly (the imputed values join the moments at the end); the
        median needs every value at once and is refused. Then ``coded_transform`` turns
        blocks of the same columns into features.

        Examples
        --------
        >>> import numpy as np
        >>> blocks = [np.array([[1.0, 0.0], [np.nan, 1.0]]), np.array([[3.0, 0.0]])]
        >>> pre = Preprocessor(impute="mean").fit_coded(blocks, ["x", "city"],
        ...                                              {"city": ["b", "a"]})
        >>> pre.categories, pre.fill
        ({'city': ['a', 'b']}, {'x': 2.0})
        >>> pre.coded_transform(np.array([[np.nan, 1.0]]))
        array([[0., 1., 0.]], dtype=float32)
        """
        if self.impute not in (None, "mean"):
            raise ValueError(
                f"impute {self.impute!r} needs every value at once, so it does not stream; "
                "impute 'mean' streams (exactly)"
            )
        levels = dict(levels or {})
        self.kind = "table"
        names = [name for name in columns if name not in exclude]
        self._check_names(names)
        where = {name: i for i, name in enumerate(columns)}
        kept = [name for name in names if name not in self.drop]
        numbers = [
            name
            for name in kept
            if (name in levels and name in self.as_numeric)
            or (name not in levels and name not in self.as_category)
        ]
        texts = [name for name in kept if name not in numbers]
        self._coding = {"at": where, "numbers": [where[n] for n in numbers], "lookups": {}}
        for j, name in enumerate(numbers):
            if name in levels:  # --numeric: a text column's values as numbers, as ``_column``
                import pandas as pd

                values = pd.Series(levels[name], dtype=object)
                lookup = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
                self._coding["lookups"][j] = np.append(lookup, np.nan)
        total, rows, tally = self._coded_pass(blocks, texts, levels)
        summaries = []
        for name in kept:
            if name in numbers:
                j = numbers.index(name)
                moments = Moments(*(field[j : j + 1] for field in _fields(total)))
                if rows > moments.count[0] and not self.impute:
                    raise ValueError(
                        f"column {name!r} has missing values ({rows - int(moments.count[0]):,}"
                        " of the training rows); use --impute mean to fill them"
                    )
                summaries.append(_Column(name, moments=moments, missing=rows - moments.count[0]))
            else:
                counts, missing = tally[name]
                summaries.append(_Column(name, counts=counts, missing=missing))
        self._fit_columns(summaries)
        self._code_positions(texts, levels)
        self.fitted = True
        return self

    def _coded_pass(self, blocks, texts, levels) -> tuple:
        """(the numbers' moments, the rows, each category column's (counts, missing))."""
        total, rows = None, 0
        counts = {n: np.zeros(len(levels[n]), np.int64) for n in texts if n in levels}
        seen = {n: {} for n in texts if n not in levels}  # --category: number -> count
        missing = dict.fromkeys(texts, 0)
        where = self._coding["at"]
        for block in blocks:
            block = np.asarray(block)
            part = Moments.of(self._coded_numbers(block))
            total = part if total is None else total.combine(part)
            rows += len(block)
            for name in texts:
                cells = block[:, where[name]]
                gap = np.isnan(cells)
                missing[name] += int(gap.sum())
                if name in counts:
                    codes = cells[~gap].astype(np.int64)
                    counts[name] += np.bincount(codes, minlength=len(counts[name]))
                    continue
                values, times = np.unique(cells[~gap], return_counts=True)
                for value, n in zip(values.tolist(), times.tolist(), strict=True):
                    seen[name][value] = seen[name].get(value, 0) + n
                check_categories(name, len(seen[name]))
        if total is None:
            raise ValueError("no training rows to fit the preprocessing on")
        tally = {
            n: (dict(zip(levels[n], c.tolist(), strict=True)), missing[n])
            for n, c in counts.items()
        }
        for name, values in seen.items():
            tally[name] = ({_number_text(v): n for v, n in values.items()}, missing[name])
            self._coding.setdefault("numbers_of", {})[name] = np.array(sorted(values))
        return total, rows, tally

    def _code_positions(self, texts, levels) -> None:
        """Each category column's cell -> the position of its value among the categories."""
        positions = {}
        for name in texts:
            categories = self.categories.get(name, self.embedded.get(name))
            index = {value: i for i, value in enumerate(categories)}
            if name in levels:
                keys = levels[name]
            else:
                keys = [_number_text(v) for v in self._coding["numbers_of"][name].tolist()]
            fill = self.fill.get(name)
            positions[name] = (
                np.array([index.get(k, -1) for k in keys], np.int64),
                None if fill is None else index.get(fill, -1),
            )
        self._coding["positions"] = positions

    def _coded_numbers(self, block) -> np.ndarray:
        """The numeric columns of a coded block, in float64 (--numeric text looked up)."""
        at = self._coding["numbers"]
        if "columns" not in self._coding:  # consecutive columns: a slice, no gather
            consecutive = at and at == list(range(at[0], at[-1] + 1))
            self._coding["columns"] = slice(at[0], at[-1] + 1) if consecutive else at
        X = np.array(block[:, self._coding["columns"]], np.float64)
        for j, lookup in self._coding["lookups"].items():
            cells = X[:, j]
            gap = np.isnan(cells)
            X[:, j] = lookup[np.where(gap, len(lookup) - 1, cells).astype(np.int64)]
        return X

    def coded_transform(self, block) -> np.ndarray:
        """The features of a block of coded rows (the columns ``fit_coded`` was given):
        what ``transform`` gives of the same rows raw, bit for bit.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit_coded([np.array([[0.0], [2.0]])], ["x"])
        >>> pre.coded_transform(np.array([[1.0]]))
        array([[0.5]], dtype=float32)
        """
        self._check_fitted()
        if getattr(self, "_coding", None) is None:
            raise ValueError("coded_transform takes the blocks of a Preprocessor fit_coded fitted")
        block = np.asarray(block)
        out = np.empty((len(block), self.n_features_out), self.dtype)
        X = self._coded_numbers(block)
        if X.size and np.isnan(X.min()):  # NaN propagates: one pass when nothing is missing
            gaps = np.isnan(X)
            for j in np.flatnonzero(gaps.any(axis=0)):
                name = self.numeric[j]
                if name not in self.fill:
                    raise ValueError(f"missing value in column {name!r}; use --impute mean")
                X[gaps[:, j], j] = self.fill[name]
        X -= self.offset
        X *= self.multiplier
        out[:, : len(self.numeric)] = X
        start = len(self.numeric)
        for name, categories in self.categories.items():
            codes = self._positions(block, name)
            part = out[:, start : start + len(categories)]
            part[...] = 0
            known = codes >= 0
            part[np.flatnonzero(known), codes[known]] = 1
            start += len(categories)
        for name in self.embedded:  # unseen: -1 + 1 = the reserved 0
            out[:, start] = self._positions(block, name) + 1
            start += 1
        return out

    def _positions(self, block, name) -> np.ndarray:
        """A category column's cells of a coded block as positions among its categories
        (-1: unseen); a missing cell is the fill's, or refused."""
        cells = block[:, self._coding["at"][name]]
        table, fill = self._coding["positions"][name]
        gap = np.isnan(cells)
        if gap.any() and fill is None:
            raise ValueError(f"missing value in column {name!r}; use --impute mean")
        numbers = self._coding.get("numbers_of", {}).get(name)
        if numbers is None:
            codes = np.where(gap, 0, cells).astype(np.int64)
            found = table[np.minimum(codes, len(table) - 1)] if len(table) else codes * 0 - 1
        else:  # --category of numbers: the value's place among the training values
            place = np.minimum(np.searchsorted(numbers, cells), max(len(numbers) - 1, 0))
            hit = numbers[place] == cells if len(numbers) else np.zeros(len(cells), bool)
            found = np.where(hit, table[place] if len(table) else -1, -1)
        return np.where(gap, -1 if fill is None else fill, found)

    def _column(self, frame, label, name, rows=None):
        """A table column as the model reads it: forced to numbers or to text if asked."""
        import pandas as pd

        column = frame[label] if rows is None else frame[label].iloc[rows]
        if name in self.as_numeric and _is_text(column):
            return pd.to_numeric(column.astype(object), errors="coerce").astype(np.float64)
        if name in self.as_category and not _is_text(column):
            return column.map(_number_text, na_action="ignore").astype(object)
        return column

    def _fit_array(self, X, rows):
        if self.drop or self.as_category or self.as_numeric:
            raise ValueError("drop, category and numeric name columns of a table (CSV/TSV)")
        self.kind = "array"
        shape = tuple(int(s) for s in X.shape)
        if len(shape) < 2:
            raise ValueError(f"X must have one row per example; got shape {shape}")
        self.input_shape = list(shape[1:])
        n = int(np.prod(shape[1:]))
        self.columns = None
        self.categories = {}
        self.embedded = {}
        self.numeric = None
        self.fill = {}
        self.feature_names = None
        self.n_features_out = n
        total = None
        for block in _blocks(X, rows):
            flat = block.reshape(block.shape[0], -1)
            if not np.all(np.isfinite(flat)):
                position = tuple(int(i) for i in np.argwhere(~np.isfinite(flat))[0])
                raise _NonFinite(f"data must be finite; found {flat[position]} in a row")
            if len(flat):
                part = Moments.of(flat)
                total = part if total is None else total.combine(part)
        if self.impute:
            raise ValueError("impute applies to tables (CSV/TSV); arrays must be complete")
        if total is None:
            raise ValueError("no training rows to fit the preprocessing on")
        self._set_scaling(*_scaling_of(total))

    def _set_scaling(self, mean, std, low, high):
        if self.scale == "standard":
            offset, scale = mean, 1.0 / np.where(std > 0, std, 1.0)
        elif self.scale == "minmax":
            spread = high - low
            offset, scale = low, 1.0 / np.where(spread > 0, spread, 1.0)
        else:
            offset, scale = np.zeros_like(mean), np.ones_like(mean)
        self.offset = offset.astype(np.float64)
        self.multiplier = scale.astype(np.float64)

    # --- transforming ----------------------------------------------------------------
    def _check_fitted(self):
        if not self.fitted:
            raise ValueError("this Preprocessor is not fitted yet: call fit() first")

    def transform(self, X, rows=None, out=None):
        """Return the float features of X (its ``rows`` in that order, when given).

        ``out`` may be a preallocated (len(rows), n_features_out) array to write into.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> pre.transform(np.array([[1.0, 20.0], [2.0, 10.0]]), rows=[1])
        array([[1., 0.]], dtype=float32)
        """
        self._check_fitted()
        if _is_frame(X):
            if self.kind == "table":
                return self._transform_frame(X, out, None if rows is None else np.asarray(rows))
            frame = X if rows is None else X.iloc[rows]
            try:
                X, rows = frame.to_numpy(np.float64), None
            except (ValueError, TypeError):
                raise ValueError(
                    "the data has text columns, but the model was trained on numbers"
                ) from None
        elif self.kind == "table":
            import pandas as pd

            X = np.asarray(X if rows is None else X[rows])
            rows = None
            if X.ndim != 2 or X.shape[1] != len(self.columns):
                raise ValueError(
                    f"data has examples of shape {X.shape[1:]}, but the model was trained "
                    f"on the {len(self.columns)} columns {', '.join(self.columns)}"
                )
            return self._transform_frame(pd.DataFrame(X, columns=self.columns), out)
        m = X.shape[0] if rows is None else len(rows)
        if tuple(X.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f"data has examples of shape {tuple(X.shape[1:])}, but the model was trained "
                f"on shape {tuple(self.input_shape)}"
            )
        if out is None:
            out = np.empty((m, self.n_features_out), self.dtype)
        if rows is None:
            step = _chunk_rows(X)
            for start in range(0, m, step):
                block = np.asarray(X[start : start + step])
                self._scale_into(block.reshape(block.shape[0], -1), out[start : start + step])
        else:
            rows = np.asarray(rows)
            # Read in increasing order (h5py needs it), write back into the requested order.
            order = np.argsort(rows, kind="stable")
            sorted_rows = rows[order]
            step = _chunk_rows(X)
            for start in range(0, m, step):
                chunk_rows = sorted_rows[start : start + step]
                block = _take(X, chunk_rows)
                target = order[start : start + step]
                scaled = np.empty((len(chunk_rows), self.n_features_out), self.dtype)
                self._scale_into(block.reshape(block.shape[0], -1), scaled)
                out[target] = scaled
        return out

    def _scale_into(self, block, out):
        np.subtract(block, self.offset, out=out, casting="unsafe")
        out *= self.multiplier.astype(out.dtype)

    def _transform_frame(self, frame, out, rows=None):
        """Column by column into ``out``: no copy of the whole table is made."""
        import pandas as pd

        labels = {str(c): c for c in frame.columns}
        missing = [c for c in self.columns if c not in labels]
        if missing:
            raise ValueError(
                f"the data has no column {missing[0]!r}; the model was trained on columns "
                f"{', '.join(self.columns)}"
            )
        m = len(frame) if rows is None else len(rows)
        if out is None:
            out = np.empty((m, self.n_features_out), self.dtype)
        for j, name in enumerate(self.numeric):
            column = self._column(frame, labels[name], name, rows)
            if _is_text(column):
                raise ValueError(
                    f"column {name!r} holds text, but the model was trained on numbers there"
                )
            values = column.to_numpy(np.float64, copy=True)
            _check_or_fill(values, name, self.fill.get(name), rows)
            values -= self.offset[j]
            values *= self.multiplier[j]
            out[:, j] = values
        start = len(self.numeric)
        for name, categories in self.categories.items():
            codes = pd.Index(categories).get_indexer(self._text(frame, labels[name], name, rows))
            block = out[:, start : start + len(categories)]
            block[...] = 0
            known = codes >= 0
            block[np.flatnonzero(known), codes[known]] = 1
            start += len(categories)
        for name, categories in self.embedded.items():  # unseen: -1 + 1 = the reserved 0
            codes = pd.Index(categories).get_indexer(self._text(frame, labels[name], name, rows))
            out[:, start] = codes + 1
            start += 1
        return out

    def _text(self, frame, label, name, rows):
        """A text column's values as strings, its missing values filled (or refused)."""
        column = self._column(frame, label, name, rows)
        if column.isna().any():
            if name not in self.fill:
                first = int(np.flatnonzero(column.isna().to_numpy())[0])
                first = first if rows is None else int(rows[first])  # the row in the data
                raise ValueError(
                    f"missing value in column {name!r} at data row {first + 1}; "
                    "use --impute mean|median"
                )
            column = column.astype(object).fillna(self.fill[name])
        return column.astype(str)

    def embedding_layout(self):
        """Where the code columns are, for ``deepff.Embedding``, or None without any.

        ``columns`` are their indices in the features, ``cardinalities`` the rows of each
        table: the training categories plus the reserved code 0.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "city": ["a", "b", "a"]})
        >>> pre = Preprocessor(categorical="embedding").fit(frame)
        >>> pre.embedding_layout()
        {'columns': [1], 'cardinalities': [3]}
        >>> pre.transform(pd.DataFrame({"x": [1.0, 1.0], "city": ["b", "zzz"]}))[:, 1]
        array([2., 0.], dtype=float32)
        """
        self._check_fitted()
        if not self.embedded:
            return None
        start = self.n_features_out - len(self.embedded)
        return {
            "columns": list(range(start, self.n_features_out)),
            "cardinalities": [len(categories) + 1 for categories in self.embedded.values()],
        }

    def affine(self):
        """(offset, scale) such that features = (x - offset) * scale, or None for tables
        with text columns. ONNX export prepends it.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> offset, scale = pre.affine()
        >>> offset, scale
        (array([ 0., 10.], dtype=float32), array([0.5 , 0.05], dtype=float32))
        """
        self._check_fitted()
        if self.categories or self.embedded:
            return None
        return self.offset.astype(np.float32), self.multiplier.astype(np.float32)

    # --- saving ----------------------------------------------------------------------
    def get_config(self) -> dict:
        """Plain data (JSON-able) describing everything but the arrays.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> config = pre.get_config()
        >>> config["scale"], config["n_features_out"]
        ('minmax', 2)
        """
        self._check_fitted()
        return {
            "kind": self.kind,
            "scale": self.scale,
            "impute": self.impute,
            "dtype": self.dtype.name,
            "input_shape": list(self.input_shape),
            "columns": self.columns,
            "numeric": self.numeric,
            "categories": self.categories,
            "fill": self.fill,
            "n_features_out": self.n_features_out,
            "feature_names": self.feature_names,
            "categorical": self.categorical,
            "embedded": self.embedded,
            "drop": self.drop,
            "category": self.as_category,
            "numeric_columns": self.as_numeric,
        }

    def arrays(self) -> dict:
        """The fitted arrays: ``offset`` and ``scale`` (features = (x - offset) * scale).

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> sorted(pre.arrays())
        ['offset', 'scale']
        """
        self._check_fitted()
        return {"offset": self.offset, "scale": self.multiplier}

    @classmethod
    def from_config(cls, config: dict, arrays: dict) -> Preprocessor:
        """Rebuild a fitted Preprocessor from ``get_config()`` and ``arrays()``.

        Everything is checked (a model file may have been tampered with): kinds, names,
        shapes, and that the arrays fit the features.

        Examples
        --------
        >>> import numpy as np
        >>> pre = Preprocessor(scale="minmax").fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> copy = Preprocessor.from_config(pre.get_config(), pre.arrays())
        >>> copy.transform(np.array([[1.0, 20.0]]))
        array([[0.5, 0.5]], dtype=float32)
        """
        if not isinstance(config, dict) or not isinstance(arrays, dict):
            raise ValueError("bad preprocessing config: expected a dict and arrays")
        try:
            if config["dtype"] not in ("float32", "float64"):
                raise TypeError(f"'dtype' {describe(config['dtype'])}")
            # Files written before embeddings have neither key: one-hot only.
            categorical = config.get("categorical", "onehot")
            if categorical not in CATEGORICAL:
                raise TypeError(f"'categorical' {describe(categorical)}")
            pre = cls(config["scale"], config["impute"], config["dtype"], categorical)
            pre.embedded = config.get("embedded", {})
            # Files written before column overrides have none of these keys.
            pre.drop = config.get("drop", [])
            pre.as_category = config.get("category", [])
            pre.as_numeric = config.get("numeric_columns", [])
            for key in (
                "kind",
                "input_shape",
                "columns",
                "numeric",
                "categories",
                "fill",
                "n_features_out",
                "feature_names",
            ):
                setattr(pre, key, config[key])
            pre.offset = np.asarray(arrays["offset"], np.float64)
            pre.multiplier = np.asarray(arrays["scale"], np.float64)
            pre._check_restored()
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"bad preprocessing config: {error}") from None
        pre.fitted = True
        return pre

    def _check_restored(self):
        def names(value, what):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{what!r} must be a list of names; got {describe(value)}")

        if (
            not isinstance(self.input_shape, list)
            or not self.input_shape
            or not all(is_int(s) and s >= 1 for s in self.input_shape)
        ):
            raise TypeError(f"'input_shape' {describe(self.input_shape)}")
        if not is_int(self.n_features_out) or self.n_features_out < 1:
            raise TypeError(f"'n_features_out' {describe(self.n_features_out)}")
        if self.kind == "array":
            n_scaled = self.n_features_out
            text = self.categories or self.fill or self.embedded
            if math.prod(self.input_shape) != n_scaled or text:
                raise ValueError(
                    f"'input_shape' {self.input_shape} does not give {n_scaled} features"
                )
        elif self.kind == "table":
            names(self.columns, "columns")
            names(self.numeric, "numeric")
            names(self.drop, "drop")
            names(self.as_category, "category")
            names(self.as_numeric, "numeric_columns")
            for table in (self.categories, self.fill, self.embedded):
                if not isinstance(table, dict):
                    raise TypeError("'categories', 'embedded' and 'fill' must be tables")
            for values in (*self.categories.values(), *self.embedded.values()):
                names(values, "categories")
            used = [*self.numeric, *self.categories, *self.embedded]
            if (
                not set(used) <= set(self.columns)
                or len(set(used)) != len(used)
                or self.input_shape != [len(self.columns)]
            ):
                raise ValueError(
                    "'numeric', 'categories' and 'embedded' must be distinct 'columns'"
                )
            n_scaled = len(self.numeric)
            n_text = sum(len(v) for v in self.categories.values()) + len(self.embedded)
            if n_scaled + n_text != self.n_features_out:
                raise ValueError(
                    f"'n_features_out' {self.n_features_out} does not match the columns"
                )
        else:
            raise ValueError(f"'kind' {describe(self.kind)}")
        for name, array in (("offset", self.offset), ("scale", self.multiplier)):
            if array.shape != (n_scaled,) or not np.all(np.isfinite(array)):
                raise ValueError(f"array {name!r} must be {n_scaled} finite numbers")

    def __repr__(self):
        categorical = "" if self.categorical == "onehot" else f", categorical={self.categorical!r}"
        return f"Preprocessor(scale={self.scale!r}, impute={self.impute!r}{categorical})"


def _is_text(column) -> bool:
    """Whether a pandas column is one-hot encoded (text, categories, booleans)."""
    import pandas as pd

    return pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column)


def _number_text(value) -> str:
    """A number as a category's text: ``3.0`` is ``"3"``, ``2.5`` is ``"2.5"``.

    Examples
    --------
    >>> _number_text(3.0), _number_text(2.5), _number_text(7)
    ('3', '2.5', '7')
    """
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _check_or_fill(column, name, fill, rows=None):
    bad = np.isnan(column)
    if bad.any():
        if fill is None:
            first = int(np.flatnonzero(bad)[0])
            first = first if rows is None else int(rows[first])  # the row in the data
            raise ValueError(
                f"missing value in column {name!r} at data row {first + 1}; "
                "use --impute mean|median"
            )
        column[bad] = fill


def _take(X, rows):
    """X[rows] for increasing ``rows``; one slice read for h5py datasets."""
    if isinstance(X, np.ndarray):
        return X[rows]
    if len(rows) == 0:
        return np.empty((0, *X.shape[1:]), getattr(X, "dtype", np.float64))
    low, high = int(rows[0]), int(rows[-1]) + 1
    return np.asarray(X[low:high])[rows - low]


def _blocks(X, rows):
    step = _chunk_rows(X)
    if rows is None:
        for start in range(0, X.shape[0], step):
            yield np.asarray(X[start : start + step], dtype=np.float64)
        return
    rows = np.sort(np.asarray(rows))
    for start in range(0, len(rows), step):
        yield np.asarray(_take(X, rows[start : start + step]), dtype=np.float64)


class _NonFinite(ValueError):
    """NaN, infinity, or values whose statistics overflow: ``prepare`` says where they are."""


class _Column:
    """What fitting needs of one table column over the training rows: ``counts`` of a
    category column's values, else the ``moments`` of its numbers (and the ``median``
    when imputing by it); ``missing``, its missing cells."""

    def __init__(self, name, *, counts=None, moments=None, missing=0, median=None):
        self.name, self.counts, self.moments = name, counts, moments
        self.missing, self.median = int(missing), median


def _constant(value, count) -> Moments:
    """The moments of ``count`` copies of ``value`` (one column)."""
    value = np.array([float(value)])
    return Moments(np.array([count]), value, np.zeros(1), value.copy(), value.copy())


def _fields(moments) -> tuple:
    return moments.count, moments.mean, moments.m2, moments.minimum, moments.maximum


def _scaling_of(moments) -> tuple:
    """(mean, std, minimum, maximum) of columns' moments; none may be empty or overflow."""
    if not len(moments.count) or np.any(moments.count == 0):
        raise ValueError("no training rows to fit the preprocessing on")
    with np.errstate(over="ignore", invalid="ignore"):
        std = moments.std
    if not (np.all(np.isfinite(std)) and np.all(np.isfinite(moments.mean))):
        raise _NonFinite("data too large: its variance overflows")
    return moments.mean, std, moments.minimum, moments.maximum


def _empty_moments(n):
    return np.zeros(n), np.ones(n), np.zeros(n), np.ones(n)


def bad_feature_message(dataset, impute, dtype) -> str:
    """Where the raw features hold NaN or infinity, or else the value too large to scale.

    The message of the error raised when preprocessing leaves a feature that is not finite:
    it names the first bad value's column and row (tables) or index (arrays).

    Examples
    --------
    >>> import numpy as np
    >>> from deepff.io.datasets import Dataset
    >>> data = Dataset(X=np.array([[1.0, 2.0], [np.inf, 0.0]]), y=np.array([0, 1]), name="d")
    >>> bad_feature_message(data, None, "float32")
    'd: features must be finite numbers; found inf in X[1, 0]'
    """
    X = dataset.X
    found = []  # (row, column text, value), the first bad value of each column or block
    largest = (-1.0, None, None)
    if _is_frame(X):
        for name in X.columns:
            column = X[name]
            if _is_text(column):
                continue
            values = column.to_numpy(np.float64)
            bad = np.isinf(values) if impute else ~np.isfinite(values)
            if bad.any():
                row = int(np.argmax(bad))
                found.append((row, f"column {str(name)!r} at row {row + 1}", values[row]))
            elif values.size and not np.all(np.isnan(values)):
                row = int(np.nanargmax(np.abs(values)))
                if abs(values[row]) > largest[0]:
                    largest = (
                        abs(values[row]),
                        f"column {str(name)!r} at row {row + 1}",
                        values[row],
                    )
    else:
        key = dataset.info.get("x_key") or "X"
        start = 0
        for block in _blocks(X, None):
            flat = block.reshape(block.shape[0], -1)
            bad = ~np.isfinite(flat)
            if bad.any():
                row, j = (int(k) for k in np.argwhere(bad)[0])
                index = [start + row, *np.unravel_index(j, X.shape[1:])]
                found.append((start + row, f"{key}{[int(k) for k in index]}", flat[row, j]))
                break
            if flat.size:
                row, j = np.unravel_index(int(np.argmax(np.abs(flat))), flat.shape)
                if abs(flat[row, j]) > largest[0]:
                    index = [start + int(row), *np.unravel_index(int(j), X.shape[1:])]
                    largest = (abs(flat[row, j]), f"{key}{[int(k) for k in index]}", flat[row, j])
            start += block.shape[0]
    if found:
        _, where, value = min(found, key=lambda item: item[0])
        hint = ""
        if _is_frame(X) and np.isinf(value):
            hint = " (a number beyond float32's range, 3.4e38, reads as inf)"
        return f"{dataset.name}: features must be finite numbers; found {value} in {where}{hint}"
    _, where, value = largest
    return (
        f"{dataset.name}: features too large to scale to {np.dtype(dtype).name}: "
        f"{float(value)!r} in {where}; divide the data by a constant"
    )


__all__ = ["Preprocessor", "bad_feature_message"]
