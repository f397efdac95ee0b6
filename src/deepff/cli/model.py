"""The commands on a model file: ``evaluate``, ``predict``, ``info`` and ``export``.

MODEL is a model file or a run directory (its model.safetensors), read by
``deepff.runs.run.load_model``; its preprocessing turns raw DATA into the network's inputs.

Examples
--------
>>> from deepff.cli import build_parser
>>> args = build_parser().parse_args(["evaluate", "run/model.safetensors", "iris", "--json"])
>>> args.model, args.data, args.json
('run/model.safetensors', 'iris', True)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from .. import serialization
from ..io.csvfile import write_csv
from ..io.datasets import load_data
from ..io.onnx import export_onnx
from ..runs.preprocessing import bad_feature_message
from ..runs.run import MODEL_FILE, class_labels, describe_options, finite_or_none, load_model
from .common import PROG, CommandError, add_data_keys, print_metrics

#: The commands of this module, in the order of ``deepff --help``'s list.
COMMANDS = ("evaluate", "predict", "info", "export")


def add_parser(commands, common, name):
    """Add the command ``name`` (one of ``COMMANDS``) to the subcommands ``commands``.

    Examples
    --------
    >>> from deepff.cli import build_parser
    >>> build_parser().parse_args(["export", "m.safetensors", "--onnx", "m.onnx"]).onnx
    'm.onnx'
    """
    if name == "evaluate":
        parser = commands.add_parser(
            name, parents=[common], help="metrics of MODEL on labelled DATA"
        )
        parser.add_argument("model", metavar="MODEL")
        parser.add_argument("data", metavar="DATA")
        add_data_keys(parser)
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
        parser.add_argument(
            "--stream",
            action="store_true",
            help="read a CSV/TSV, Parquet or .npy DATA a chunk of rows at a time (the default "
            f"for such files over {STREAM_BYTES >> 20} MiB, and for .npy): memory stays one "
            "chunk, the metrics are the same",
        )
    elif name == "predict":
        parser = commands.add_parser(
            name, parents=[common], help="write MODEL's predictions for DATA to a CSV file"
        )
        parser.add_argument("model", metavar="MODEL")
        parser.add_argument("data", metavar="DATA")
        parser.add_argument(
            "--out", required=True, metavar="FILE.csv", help="the CSV file to write; - for stdout"
        )
        parser.add_argument(
            "--proba", action="store_true", help="also write each class's probability"
        )
        parser.add_argument(
            "--stream",
            action="store_true",
            help="read a CSV/TSV, Parquet or .npy DATA a chunk of rows at a time and write the "
            f"predictions as they go (the default for such files over {STREAM_BYTES >> 20} MiB, "
            "and for .npy): memory stays one chunk, the output is the same",
        )
        add_data_keys(parser)
    elif name == "info":
        parser = commands.add_parser(
            name,
            parents=[common],
            help="architecture, parameters, training config, classes, metrics",
        )
        parser.add_argument("model", metavar="MODEL")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    elif name == "export":
        parser = commands.add_parser(name, parents=[common], help="export MODEL to ONNX")
        parser.add_argument("model", metavar="MODEL")
        parser.add_argument("--onnx", required=True, metavar="FILE.onnx")
    else:
        raise ValueError(f"no command {name!r} here; commands: {', '.join(COMMANDS)}")
    parser.set_defaults(func=globals()[f"cmd_{name}"])
    return parser


def model_inputs(network, pre, dataset, rows=None):
    """Model inputs for (some rows of) raw data; NaN and infinity are located in the data.

    Examples
    --------
    >>> import numpy as np
    >>> import deepff as dff
    >>> from deepff.io.datasets import Dataset
    >>> net = dff.Network([dff.Dense(1)], seed=0).build(2)
    >>> model_inputs(net, None, Dataset(X=np.ones((3, 2)), y=None, name="d")).shape
    (3, 2)
    """
    if pre is not None:
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                X = pre.transform(dataset.X, rows=rows)
        except ValueError as error:  # missing values, other columns: say in which data
            raise CommandError(f"{dataset.name}: {error}") from None
    else:
        X = dataset.X
        if hasattr(X, "to_numpy"):
            X = X.to_numpy()
        X = np.asarray(X if rows is None else X[rows])
        X = X.reshape(X.shape[0], -1)
    if X.dtype.kind == "f" and X.size and not (np.isfinite(X.min()) and np.isfinite(X.max())):
        raise CommandError(bad_feature_message(dataset, pre.impute if pre else None, network.dtype))
    return X


def load_for_model(source, args, pre, metadata, require_target):
    """Load DATA as the model was trained on it: its label column, image size, imputing."""
    data_info = metadata.get("run", {}).get("data", {})
    target = args.target or data_info.get("target")
    image_size = None
    if pre is not None and pre.kind == "array" and len(pre.input_shape) == 3:
        image_size = pre.input_shape[:2]
    impute = pre.impute if pre is not None else None
    return load_data(
        source,
        target=target,
        x_key=args.x_key,
        y_key=args.y_key,
        impute=impute,
        image_size=image_size,
        require_target=require_target and args.target is not None,
    )


def cmd_evaluate(args):
    """Run ``deepff evaluate``: print a model's loss and metrics on labelled DATA.

    Examples
    --------
    ``main`` calls it with the parsed arguments (it trains or reads files, so it is not run here):

    >>> from deepff.cli import build_parser
    >>> args = build_parser().parse_args(["evaluate", "runs/iris", "iris"])
    >>> args.func is cmd_evaluate
    True
    """
    network, pre, metadata = load_model(args.model)
    if _streams(args, network, pre):
        metrics, report = _evaluate_streamed(args, network, pre, metadata)
    else:
        data = load_for_model(args.data, args, pre, metadata, require_target=True)
        with data:
            if data.y is None:
                raise CommandError(f"{args.data}: no labels to evaluate against")
            X = model_inputs(network, pre, data)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                result = network.evaluate(X, data.y)
            metrics = {k: finite_or_none(v) for k, v in result.items()}
            run = metadata.get("run", {})
            labels = class_labels(network, run) if network.is_classifier else None
            report = _evaluation(network, X, data.y, labels)  # issue 18: scikit-learn's metrics
        metrics["examples"] = len(data.y)
    if args.json:
        print(json.dumps({**metrics, **report}))  # a NaN loss is null, as JSON has it
        return 0
    print(f"{args.data} ({metrics['examples']} examples)")
    print(f"  loss: {'nan' if metrics['loss'] is None else format(metrics['loss'], '.4f')}")
    if report:
        from ..runs.evaluation import print_evaluation

        print_evaluation(report)
    else:
        for key, value in metrics.items():
            if key not in ("examples", "loss"):
                print(f"  {key}: {'nan' if value is None else format(value, '.4f')}")
    return 0


#: ``deepff evaluate`` and ``predict`` stream a table file larger than this without --stream.
STREAM_BYTES = 128 << 20


def _table_file(path) -> bool:
    """Whether ``path`` is a file ``runs.streamed_evaluation.table_chunks`` reads."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes = suffixes[:-1]
    return path.is_file() and suffixes[-1:] != [] and suffixes[-1] in (
        ".csv", ".tsv", ".txt", ".parquet", ".pq", ".npy",
    )  # fmt: skip


def _streams(args, network, pre) -> bool:
    """Whether DATA is read by chunks: with --stream, or a large table file (or a .npy,
    which the in-memory loaders read as an array, not a table) for a table model."""
    path = Path(args.data)
    table = pre is not None and pre.kind == "table" and _table_file(path)
    if getattr(args, "stream", False):
        if not table or network.is_multilabel:
            raise CommandError(
                "--stream reads a CSV/TSV, Parquet or .npy file with a model trained on a "
                "table (not multi-label)"
            )
        return True
    if not table or network.is_multilabel:
        return False
    return path.suffix.lower() == ".npy" or path.stat().st_size > STREAM_BYTES


def _raw_kinds(pre) -> dict:
    """How the raw columns are read, as ``load_csv`` reads them: numbers as float32, the
    model's text columns as text (the same inputs, the same predictions)."""
    kinds = {c: str for c in pre.columns if c not in (pre.numeric or [])}
    kinds.update({c: "float32" for c in pre.numeric or [] if c not in pre.as_numeric})
    return kinds


def _evaluate_streamed(args, network, pre, metadata) -> tuple:
    """``deepff evaluate`` a chunk of rows at a time: (metrics, report) as from memory."""
    from ..io.datasets import Dataset
    from ..runs.preprocessing import bad_feature_message
    from ..runs.streamed_evaluation import StreamedEvaluation, table_chunks

    path, run = Path(args.data), metadata.get("run", {})
    kinds = _raw_kinds(pre)
    target = args.target or run.get("data", {}).get("target")
    if network.is_classifier and np.asarray(network.classes_).dtype.kind in "OUS":
        kinds[target] = str  # text labels stay text in every chunk
    names, chunks = table_chunks(path, kinds)
    target = names[-1] if target is None else target
    if target not in names:
        if args.target:
            raise CommandError(f"{path}: no column {target!r}; columns are {', '.join(names)}")
        raise CommandError(f"{args.data}: no labels to evaluate against")
    labels = class_labels(network, run) if network.is_classifier else None
    scores, start = StreamedEvaluation(network, labels), 0
    for frame in chunks:
        rows = f"{path.name}: rows {start + 1}-{start + len(frame)}"
        column = frame.pop(target)
        if column.isna().any():
            row = start + int(np.flatnonzero(column.isna().to_numpy())[0]) + 1
            raise CommandError(f"{path}: missing label in column {target!r} at row {row}")
        y = column.to_numpy()
        if y.dtype.kind in "OSU" or str(column.dtype) == "category":
            y = column.astype(str).to_numpy().astype(str)
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                X = pre.transform(frame)
        except ValueError as error:
            raise CommandError(f"{rows}: {error}") from None
        if X.size and not np.all(np.isfinite(X)):
            data = Dataset(X=frame, y=None, name=rows)
            raise CommandError(bad_feature_message(data, pre.impute, network.dtype))
        try:
            scores.add(X, y)
        except (ValueError, KeyError) as error:  # labels the model does not know
            raise CommandError(f"{rows}: {error}") from None
        start += len(frame)
    try:
        return scores.report()
    except ValueError as error:
        raise CommandError(f"{args.data}: {error}") from None


def _evaluation(network, X, y, labels) -> dict:
    """``deepff.runs.evaluation``'s report, or {} without scikit-learn."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return {}
    from ..runs.evaluation import evaluation

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return evaluation(network, X, y, labels)


def cmd_predict(args):
    """Run ``deepff predict``: write a model's predictions on DATA to a CSV file.

    Examples
    --------
    ``main`` calls it with the parsed arguments (it trains or reads files, so it is not run here):

    >>> from deepff.cli import build_parser
    >>> args = build_parser().parse_args(["predict", "runs/iris", "iris", "--out", "p.csv"])
    >>> args.func is cmd_predict
    True
    """
    network, pre, metadata = load_model(args.model)
    if args.proba and not network.is_classifier:
        raise CommandError("--proba needs a classifier; this model is a regressor")
    to_stdout = args.out == "-"
    if not to_stdout:
        _refuse_an_input(args.out, args.model, args.data)
    if _streams(args, network, pre):  # --stream, or a large table file (issue 16)
        return _predict_streamed(args, network, pre, metadata)
    data = load_for_model(args.data, args, pre, metadata, require_target=False)
    out = Path(args.out)
    if not to_stdout:
        out.parent.mkdir(parents=True, exist_ok=True)
    with data:
        m = data.n_examples
        columns = ["file"] if data.info.get("files") else []
        # issue 18: the run's --id-column, copied
        id_column = _id_column(metadata, getattr(data.X, "columns", None))
        columns += [id_column] if id_column else []
        columns += _prediction_columns(network, metadata, args.proba)
        # A unique temporary file beside --out, renamed at the end: nothing else is touched.
        write_csv(args.out, _prediction_rows(columns, network, pre, data, args.proba, id_column))
    _say_written(m, None if to_stdout else out)
    return 0


def _predict_streamed(args, network, pre, metadata):
    """``deepff predict --stream``: chunks of a table file in, rows of predictions out."""
    path = Path(args.data)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    counter = [0]
    write_csv(args.out, _streamed_rows(path, network, pre, metadata, args, counter))
    _say_written(counter[0], None if args.out == "-" else args.out)
    return 0


def _say_written(count, where) -> None:
    """The closing line of ``deepff predict``; on stderr when the predictions went to
    standard output (``where`` None), so they stay alone there."""
    print(
        f"Wrote {count} predictions to {where or 'standard output'}",
        file=sys.stdout if where else sys.stderr,
    )


def _streamed_rows(path, network, pre, metadata, args, counter):
    from ..runs.streamed_evaluation import table_chunks

    header, chunks = table_chunks(path, _raw_kinds(pre))
    id_column = _id_column(metadata, header)
    yield ([id_column] if id_column else []) + _prediction_columns(network, metadata, args.proba)
    for chunk in chunks:
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                X = pre.transform(chunk)
        except ValueError as error:
            raise CommandError(f"{path.name}: rows {counter[0] + 1}-: {error}") from None
        predicted = network.predict(X)
        probabilities = network.predict_proba(X) if args.proba else None
        ids = chunk[id_column].astype(object).tolist() if id_column else None
        for i in range(len(chunk)):
            row = [_cell(ids[i])] if ids else []
            yield row + _prediction_cells(predicted, probabilities, i)
        counter[0] += len(chunk)


def _refuse_an_input(out, *inputs) -> None:
    """An output never replaces what the command reads: the model (a file, or a run
    directory's model.safetensors) or the data file."""
    out_path = Path(os.path.abspath(out))
    if not out_path.exists():
        return
    for given in inputs:
        given = os.path.join(given, MODEL_FILE) if os.path.isdir(given) else given
        if os.path.exists(given) and os.path.samefile(out_path, given):
            raise CommandError(
                f"{out}: is {given}, which this command reads; choose another output"
            )


def _id_column(metadata, columns):
    """The run's ``--id-column`` when DATA's ``columns`` hold it (tables), else None."""
    name = (metadata.get("run", {}).get("options") or {}).get("id_column")
    return name if name is not None and columns is not None and name in columns else None


def _prediction_columns(network, metadata, proba) -> list:
    """The header of the predictions, after any file and id columns."""
    if network.is_classifier or network.output_units == 1:
        columns = ["prediction"]
    else:
        columns = [f"prediction_{j}" for j in range(network.output_units)]
    if proba:
        columns += [f"proba_{c}" for c in class_labels(network, metadata.get("run", {}))]
    return columns


def _prediction_cells(predicted, probabilities, i) -> list:
    """Row ``i``'s prediction cells, then its probabilities when asked for."""
    row = list(map(_cell, np.atleast_1d(predicted[i])))
    if probabilities is not None:
        row += [f"{p:.6g}" for p in probabilities[i]]
    return row


def _prediction_rows(columns, network, pre, data, proba, id_column=None):
    """The rows of the predictions file, computed 8192 examples at a time."""
    files = data.info.get("files")
    ids = data.X[id_column].astype(object).tolist() if id_column else None
    m = data.n_examples
    yield columns
    step = 8192
    for start in range(0, m, step):
        rows = np.arange(start, min(start + step, m))
        X = model_inputs(network, pre, data, rows)
        predicted = network.predict(X)
        probabilities = network.predict_proba(X) if proba else None
        for i in range(len(rows)):
            row = [files[start + i]] if files else []
            row += [_cell(ids[start + i])] if ids else []
            yield row + _prediction_cells(predicted, probabilities, i)


def _cell(value):
    if isinstance(value, (np.floating, float)):
        return f"{float(value):.7g}"
    return value.item() if hasattr(value, "item") else value


class _Printable:
    """A text stream that shows control characters (terminal escapes) as escapes."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return self.stream.write(
            "".join(
                c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode("ascii")
                for c in text
            )
        )

    def flush(self):
        self.stream.flush()


def cmd_info(args):
    """Run ``deepff info``: describe a model file (task, classes, layers, training run).

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> from deepff.cli import build_parser
    >>> folder = tempfile.mkdtemp()
    >>> model = os.path.join(folder, "model.safetensors")
    >>> net = dff.Network([dff.Dense(3, activation="softmax")], seed=0)
    >>> dff.save(net, model) if net.build(4) else None
    >>> status = cmd_info(build_parser().parse_args(["info", model]))
    model: ...model.safetensors (deepff format 1, saved by deepff ...)
    ...
    >>> status
    0
    """
    path = Path(args.model)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.exists():
        raise CommandError(f"{path}: no such model file")
    described = serialization.read_metadata(path)
    network, pre, metadata = load_model(path)
    run = metadata.get("run", {})
    if getattr(args, "json", False):  # issue 18: what info prints, as one JSON object
        print(json.dumps(_info_json(path, described, network, pre, metadata), default=str))
        return 0
    out = _Printable(sys.stdout)  # the file's text is shown, never obeyed by the terminal
    print(
        f"model: {path} (deepff format {described['format_version']}, "
        f"saved by deepff {described['state'].get('deepff_version', '?')})",
        file=out,
    )
    task = run.get("task") or ("classification" if network.is_classifier else "regression")
    print(f"task: {task}; epochs trained: {network.epoch}", file=out)
    if network.classes_ is not None:
        labels = class_labels(network, run)
        print(f"classes ({len(labels)}): {', '.join(labels)}", file=out)
    print(_input_line(network, pre), file=out)
    print(file=out)
    network.summary(print_fn=lambda text: print(text, file=out))
    _print_run(run, metadata.get("metrics"), out)
    return 0


def _info_json(path, described, network, pre, metadata) -> dict:
    """``deepff info --json``: the model file, task, classes, layers, inputs and run."""
    run = metadata.get("run", {})
    task = run.get("task") or ("classification" if network.is_classifier else "regression")
    columns = None
    if pre is not None and pre.kind == "table":
        columns = {name: "numeric" for name in pre.numeric}
        columns |= {name: "one-hot" for name in pre.categories}
        columns |= {name: "embedded" for name in pre.embedded}
    return {
        "model": str(path),
        "format_version": described["format_version"],
        "deepff_version": described["state"].get("deepff_version"),
        "task": task,
        "epochs_trained": network.epoch,
        "classes": class_labels(network, run) if network.classes_ is not None else None,
        "layers": [layer.get_config() for layer in network.layers],
        "n_inputs": network.n_features_in_,
        "columns": columns,
        "data": run.get("data"),
        "options": run.get("options"),
        "metrics": metadata.get("metrics"),
    }


def _input_line(network, pre) -> str:
    if pre is None:
        return f"input: {network.n_features_in_} features (no preprocessing saved)"
    shape = "x".join(map(str, pre.input_shape))
    text = f"input: {shape} raw features -> {pre.n_features_out} inputs (scale {pre.scale}"
    if pre.categories:
        text += f"; one-hot: {', '.join(pre.categories)}"
    if getattr(pre, "embedded", None):
        text += f"; embedded: {', '.join(pre.embedded)}"
    if getattr(pre, "drop", None):
        text += f"; dropped: {', '.join(pre.drop)}"
    if pre.impute:
        text += f"; impute {pre.impute}"
    return text + ")"


def _print_run(run, metrics, out) -> None:
    """The data, options and metrics of the run that made a model (what ``info`` ends with)."""
    data = run.get("data")
    if data:
        print(
            f"\ndata: {data.get('source')}"
            + (f" (target {data['target']})" if data.get("target") else ""),
            file=out,
        )
    options = run.get("options")
    if options:
        print("training options:", file=out)
        for line in describe_options(options):
            print(f"  {line}", file=out)
    if metrics:
        print("metrics:", file=out)
        print_metrics(metrics, out)


def cmd_export(args):
    """Run ``deepff export``: write a model as ONNX (with its input scaling, if any).

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> from deepff.cli import build_parser
    >>> folder = tempfile.mkdtemp()
    >>> model = os.path.join(folder, "model.safetensors")
    >>> net = dff.Network([dff.Dense(3, activation="softmax")], seed=0)
    >>> dff.save(net, model) if net.build(4) else None
    >>> onnx_path = os.path.join(folder, "model.onnx")
    >>> cmd_export(build_parser().parse_args(["export", model, "--onnx", onnx_path]))
    Wrote ...model.onnx (input: float32 of shape (m, 4))
    0
    >>> os.path.exists(onnx_path)
    True
    """
    _refuse_an_input(args.onnx, args.model)
    network, pre, _ = load_model(args.model)
    from ..io.onnx_table import export_table_onnx, standalone

    if standalone(network, pre):  # issue 18: raw columns in, label and probabilities out
        out = Path(args.onnx)
        out.parent.mkdir(parents=True, exist_ok=True)
        names = export_table_onnx(network, pre, out)
        kinds = [
            f"{n} ({'string' if n in pre.categories or n in pre.embedded else 'float'})"
            for n in names
        ]
        outputs = "label, probabilities" if network.is_classifier else "prediction"
        print(f"Wrote {out}: inputs (batch, 1) {', '.join(kinds)}; outputs {outputs}")
        return 0
    scaling = None
    if pre is not None:
        scaling = pre.affine()
        if scaling is None:
            print(
                f"{PROG}: note: the ONNX model takes the {pre.n_features_out} encoded inputs "
                "(one-hot text columns are not part of the graph)",
                file=sys.stderr,
            )
    out = Path(args.onnx)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(network, out, input_scaling=scaling)
    n_inputs = (
        int(np.prod(pre.input_shape)) if pre is not None and scaling else network.n_features_in_
    )
    print(f"Wrote {out} (input: float32 of shape (m, {n_inputs}))")
    return 0


__all__ = [
    "COMMANDS",
    "add_parser",
    "cmd_evaluate",
    "cmd_export",
    "cmd_info",
    "cmd_predict",
    "load_for_model",
    "model_inputs",
]
