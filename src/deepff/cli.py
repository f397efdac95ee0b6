"""The ``deepff`` command: train, evaluate, predict, inspect, plot and export networks.

::

    deepff demo                                  # digits, live progress, a run directory
    deepff train DATA [options] --out DIR        # model.safetensors, config.toml, history.csv,
                                                 # metrics.json, learning_curves.png, ...
    deepff train --resume DIR                    # continue an interrupted run exactly
    deepff evaluate MODEL DATA [--json]
    deepff predict MODEL DATA --out FILE.csv [--proba]
    deepff info MODEL
    deepff plot RUN_DIR | deepff plot activations
    deepff export MODEL --onnx FILE.onnx

DATA is a built-in name (digits, iris, wine, breast_cancer) or a CSV/TSV, NPZ or HDF5 file or
a folder of images (see ``deepff.datasets``). The preprocessing fitted on the training rows
lives inside the model file, so ``predict`` takes raw data.

Mistakes (a missing file, an unknown column, a bad option value, a file that is not a deepff
model) print one line on stderr and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

PROG = "deepff"
RUN_FILES = ("model.safetensors", "config.toml", "history.csv", "metrics.json")
MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"


class CommandError(Exception):
    """A mistake of the user's: reported as one line on stderr, exit status 2.

    Examples
    --------
    >>> try:
    ...     build_parser().parse_args(["train", "iris", "--epochs", "0"])
    ... except CommandError as error:
    ...     print(error)
    deepff train: error: argument --epochs: ...
    """


# --- argument parsing -----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with errors raised (and so reported on one line) instead of printed."""

    def error(self, message):
        raise CommandError(f"{self.prog}: error: {message}")


def _int_at_least(minimum):
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite; got {text!r}")
    return value


def _batch_size(text):
    if text.lower() in ("full", "all", "none"):
        return None
    return _positive_int(text)


def _add_training_options(parser):
    """The options of ``deepff train`` (defaults in ``deepff.training.TRAIN_OPTIONS``)."""
    from .training import SCALES, TRAIN_OPTIONS

    d = TRAIN_OPTIONS
    S = argparse.SUPPRESS
    data = parser.add_argument_group("data")
    data.add_argument(
        "--target",
        default=S,
        metavar="COL",
        help="label column of a CSV/TSV (default: the last column)",
    )
    data.add_argument(
        "--x-key",
        dest="x_key",
        default=S,
        metavar="NAME",
        help="features array of an NPZ/HDF5 file",
    )
    data.add_argument(
        "--y-key", dest="y_key", default=S, metavar="NAME", help="labels array of an NPZ/HDF5 file"
    )
    data.add_argument(
        "--impute",
        choices=("mean", "median"),
        default=S,
        help="fill missing CSV values (default: refuse them)",
    )
    data.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default=S,
        help="default: auto (labels: classification; real values: regression)",
    )
    net = parser.add_argument_group("network")
    net.add_argument(
        "--layers",
        default=S,
        metavar="N,N,...",
        help=f"hidden layer sizes (default: {','.join(map(str, d['layers']))})",
    )
    net.add_argument("--activation", default=S, help=f"hidden activation ({d['activation']})")
    net.add_argument("--init", default=S, help=f"weight initializer ({d['init']})")
    net.add_argument("--loss", default=S, help=f"cost ({d['loss']})")
    net.add_argument(
        "--dropout",
        type=_number,
        default=S,
        metavar="RATE",
        help="dropout rate after each hidden layer (0)",
    )
    net.add_argument(
        "--batch-norm",
        dest="batch_norm",
        action=argparse.BooleanOptionalAction,
        default=S,
        help="batch normalization on the hidden layers",
    )
    net.add_argument("--l2", type=_number, default=S, metavar="LAMBDA", help="L2 penalty (0)")
    net.add_argument("--l1", type=_number, default=S, metavar="LAMBDA", help="L1 penalty (0)")
    opt = parser.add_argument_group("optimization")
    opt.add_argument(
        "--optimizer", default=S, help=f"sgd, momentum, rmsprop, adam ({d['optimizer']})"
    )
    opt.add_argument(
        "--learning-rate",
        "--lr",
        dest="learning_rate",
        type=_number,
        default=S,
        metavar="F",
        help="default: the optimizer's",
    )
    opt.add_argument(
        "--beta1", type=_number, default=S, metavar="F", help="Adam beta1 / Momentum beta"
    )
    opt.add_argument(
        "--beta2", type=_number, default=S, metavar="F", help="Adam beta2 / RMSProp beta"
    )
    opt.add_argument(
        "--decay",
        type=_number,
        default=S,
        metavar="F",
        help="learning-rate decay lr0 / (1 + decay * epoch) (0)",
    )
    opt.add_argument(
        "--epochs", type=_positive_int, default=S, metavar="N", help=f"({d['epochs']})"
    )
    opt.add_argument(
        "--batch-size",
        dest="batch_size",
        type=_batch_size,
        default=S,
        metavar="N",
        help=f"examples per step, or 'full' ({d['batch_size']})",
    )
    opt.add_argument(
        "--early-stopping",
        dest="early_stopping",
        type=_nonnegative_int,
        default=S,
        metavar="PATIENCE",
        help="stop when val_loss has not improved for PATIENCE epochs, keep the best",
    )
    split = parser.add_argument_group("split and preprocessing")
    split.add_argument(
        "--val-split",
        dest="val_split",
        type=_number,
        default=S,
        metavar="F",
        help=f"validation fraction ({d['val_split']})",
    )
    split.add_argument(
        "--test-split",
        dest="test_split",
        type=_number,
        default=S,
        metavar="F",
        help=f"test fraction ({d['test_split']})",
    )
    split.add_argument("--scale", choices=SCALES, default=S, help=f"({d['scale']})")
    split.add_argument(
        "--seed",
        type=_nonnegative_int,
        default=S,
        metavar="N",
        help=f"seed of the split, initialization, shuffling, dropout ({d['seed']})",
    )
    split.add_argument("--dtype", choices=("float32", "float64"), default=S, help="(float32)")


def build_parser():
    """The ``deepff`` argument parser, with one subparser per command.

    Examples
    --------
    >>> args = build_parser().parse_args(["evaluate", "run/model.safetensors", "iris", "--json"])
    >>> args.model, args.data, args.json
    ('run/model.safetensors', 'iris', True)
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error",
    )
    parser = _Parser(
        prog=PROG,
        description="Deep feedforward neural networks in NumPy (Rahman 2019): train, "
        "evaluate, predict, inspect, plot and export.",
        parents=[common],
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"deepff {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser(
        "demo", parents=[common], help="train on the digits with live progress, write a run"
    )
    demo.add_argument("--out", default="runs/demo", metavar="DIR", help="run directory (runs/demo)")
    demo.add_argument("--epochs", type=_positive_int, default=30, metavar="N")
    demo.add_argument("--seed", type=_nonnegative_int, default=0, metavar="N")
    demo.set_defaults(func=cmd_demo)

    train = commands.add_parser(
        "train",
        parents=[common],
        help="train a network on DATA, write a run directory",
        description="Train a network on DATA and write model.safetensors, config.toml, "
        "history.csv, metrics.json and plots into --out DIR.",
    )
    train.add_argument(
        "data",
        nargs="?",
        metavar="DATA",
        help="built-in name (digits, iris, wine, breast_cancer), CSV/TSV, NPZ, "
        "HDF5 or a folder of images",
    )
    train.add_argument(
        "--config", metavar="FILE.toml", help="options from a TOML file (command-line options win)"
    )
    train.add_argument("--out", metavar="DIR", help="run directory (default: runs/<data name>)")
    train.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the interrupted run in DIR from its last checkpoint",
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    _add_training_options(train)
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser(
        "evaluate", parents=[common], help="metrics of MODEL on labelled DATA"
    )
    evaluate.add_argument("model", metavar="MODEL")
    evaluate.add_argument("data", metavar="DATA")
    _add_data_keys(evaluate)
    evaluate.add_argument("--json", action="store_true", help="one JSON object on stdout")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = commands.add_parser(
        "predict", parents=[common], help="write MODEL's predictions for DATA to a CSV file"
    )
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("data", metavar="DATA")
    predict.add_argument("--out", required=True, metavar="FILE.csv")
    predict.add_argument("--proba", action="store_true", help="also write each class's probability")
    _add_data_keys(predict)
    predict.set_defaults(func=cmd_predict)

    info = commands.add_parser(
        "info", parents=[common], help="architecture, parameters, training config, classes, metrics"
    )
    info.add_argument("model", metavar="MODEL")
    info.set_defaults(func=cmd_info)

    plot = commands.add_parser(
        "plot",
        parents=[common],
        help="(re)draw a run's figures, or the paper's Fig. 2",
        description="deepff plot RUN_DIR redraws a run's figures; deepff plot activations draws "
        "the paper's Fig. 2 (activations and derivatives, leaky ReLU with c = 0.05).",
    )
    plot.add_argument("target", metavar="RUN_DIR|activations")
    plot.add_argument(
        "--out", metavar="PATH", help="output folder (runs) or file (activations: activations.png)"
    )
    plot.set_defaults(func=cmd_plot)

    export = commands.add_parser("export", parents=[common], help="export MODEL to ONNX")
    export.add_argument("model", metavar="MODEL")
    export.add_argument("--onnx", required=True, metavar="FILE.onnx")
    export.set_defaults(func=cmd_export)

    try:  # deepff tune, when deepff.tuning provides it
        from . import tuning
    except Exception:
        tuning = None
    if tuning is not None and hasattr(tuning, "add_parser") and hasattr(tuning, "run"):
        tuning.add_parser(commands)
        tune = commands.choices.get("tune")
        if tune is not None and tune.get_default("func") is None:
            tune.set_defaults(func=tuning.run)
    return parser


def _add_data_keys(parser):
    parser.add_argument(
        "--target", metavar="COL", help="label column of a CSV/TSV (default: the training one)"
    )
    parser.add_argument("--x-key", dest="x_key", metavar="NAME")
    parser.add_argument("--y-key", dest="y_key", metavar="NAME")


# --- entry point ----------------------------------------------------------------------------


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROG}: warning: {_one_line(message)}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    """Run the ``deepff`` command with ``argv`` (default: ``sys.argv[1:]``); return the status.

    Examples
    --------
    >>> main(["train", "iris", "--epochs", "0"])  # the message goes to stderr
    2
    >>> main(["info", "no-such-model.safetensors"])  # the message goes to stderr
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv, debug="--debug" in argv)


def _main(argv, debug) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 2
        status = args.func(args)
        return int(status or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except (CommandError, ValueError, TypeError, OSError, LookupError, ImportError) as error:
        if debug:
            traceback.print_exc()
        message = _one_line(error) or type(error).__name__
        if isinstance(error, FileNotFoundError) and error.filename and error.strerror:
            message = f"{error.filename}: {error.strerror}"
        if isinstance(error, CommandError) and message.startswith(PROG):
            print(f"{message}", file=sys.stderr)
        else:
            print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except Exception as error:
        if debug:
            traceback.print_exc()
        print(
            f"{PROG}: internal error: {type(error).__name__}: {_one_line(error)} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


# --- TOML -----------------------------------------------------------------------------------


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} to TOML")
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_toml(path, values: dict, comment: str = "") -> None:
    """Write a flat dict (None values left out) as TOML.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "config.toml")
    >>> write_toml(path, {"layers": [8, 4], "seed": 0, "target": None}, comment="a run")
    >>> print(open(path).read(), end="")
    # a run
    layers = [8, 4]
    seed = 0
    """
    lines = [f"# {line}" for line in comment.splitlines()]
    for key, value in values.items():
        if value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    _write_text(path, "\n".join(lines) + "\n")


def _write_text(path, text: str) -> None:
    """Write a small text file atomically: a kill leaves the old file or the new one."""
    from .serialization import write_atomically

    write_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def read_toml(path) -> dict:
    """Read a TOML file (tomllib, or tomli on Python 3.10).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "config.toml")
    >>> write_toml(path, {"epochs": 5, "scale": "minmax", "l2": 0.01})
    >>> read_toml(path)
    {'epochs': 5, 'scale': 'minmax', 'l2': 0.01}
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise CommandError(
                "reading TOML on Python 3.10 needs tomli: pip install tomli"
            ) from None
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise CommandError(f"{path}: not valid TOML: {error}") from None


# --- models ---------------------------------------------------------------------------------


def load_model(path):
    """Return (network, preprocessor or None, run metadata) from a model file.

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
    >>> folder = tempfile.mkdtemp()
    >>> model = os.path.join(folder, "model.safetensors")
    >>> net = dff.Network([dff.Dense(3, activation="softmax")], seed=0)
    >>> dff.save(net, model) if net.build(4) else None
    >>> network, preprocessor, metadata = load_model(folder)  # a run directory or a file
    >>> network.n_features_in_, preprocessor
    (4, None)
    """
    from . import serialization
    from .training import Preprocessor

    path = Path(path)
    if not path.exists():
        raise CommandError(f"{path}: no such model file")
    if path.is_dir():
        candidate = path / MODEL_FILE
        if not candidate.exists():
            raise CommandError(f"{path}: a folder without {MODEL_FILE}")
        path = candidate
    network = serialization.load(path)
    metadata = getattr(network, "metadata", {}) or {}
    arrays = getattr(network, "extra_arrays", {}) or {}
    pre = None
    if not isinstance(metadata, dict):
        raise CommandError(f"{path}: bad metadata: expected a JSON object")
    if metadata.get("preprocessor") is not None:
        try:
            pre = Preprocessor.from_config(
                metadata["preprocessor"],
                {
                    k[len("preprocessor.") :]: v
                    for k, v in arrays.items()
                    if k.startswith("preprocessor.")
                },
            )
        except ValueError as error:
            raise CommandError(f"{path}: {error}") from None
        if pre.n_features_out != network.n_features_in_:
            raise CommandError(
                f"{path}: its preprocessing makes {pre.n_features_out} inputs, but its network "
                f"takes {network.n_features_in_}"
            )
    _check_run_metadata(path, metadata)
    return network, pre, metadata


def _check_run_metadata(path, metadata) -> None:
    """The parts of a model file's metadata that the commands read must have their form."""
    from .training import check_options

    def fail(what):
        raise CommandError(f"{path}: bad metadata: {what}")

    def is_number(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    for key in ("run", "metrics"):
        if not isinstance(metadata.get(key, {}), dict):
            fail(f"{key!r} must be a JSON object")
    run = metadata.get("run", {})
    if run.get("task") not in (None, "classification", "regression"):
        fail(f"unknown task {run.get('task')!r}")
    data = run.get("data", {})
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), (str, type(None)))
        for key in ("source", "name", "target", "x_key", "y_key")
    ):
        fail("'data' must name its source, target and keys")
    names = data.get("class_names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) or is_number(n) for n in names)
    ):
        fail("'class_names' must be a list of names")
    if run.get("options") is not None:
        try:
            check_options(run["options"])
        except (ValueError, TypeError) as error:
            fail(f"'options': {error}")
    for part, values in metadata.get("metrics", {}).items():
        if values is not None and not (
            isinstance(values, dict)
            and isinstance(values.get("examples"), int)
            and all(v is None or is_number(v) for v in values.values())
        ):
            fail(f"metrics of {part!r} must be numbers")


def _features(network, pre, dataset, rows=None):
    """Model inputs for (some rows of) raw data; NaN and infinity are located in the data."""
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
        from .training import _bad_feature

        raise CommandError(_bad_feature(dataset, pre.impute if pre else None, network.dtype))
    return X


def _load_for_model(source, args, pre, metadata, require_target):
    from .datasets import load_data

    run = metadata.get("run", {})
    data_info = run.get("data", {})
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


# --- training runs -------------------------------------------------------------------------


def _run_options(args) -> tuple:
    """(data source, options, out dir) for ``deepff train`` from config, flags and defaults."""
    from .training import TRAIN_OPTIONS, check_options

    given = {k: getattr(args, k) for k in TRAIN_OPTIONS if hasattr(args, k)}
    source = args.data
    out = args.out
    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.toml").exists():
            raise CommandError(f"{run_dir}: not a run directory (no config.toml to resume)")
        if args.out and Path(args.out).resolve() != run_dir.resolve():
            raise CommandError("--resume DIR continues in DIR; leave out --out")
        saved = read_toml(run_dir / "config.toml")
        changed = sorted(k for k in given if k != "epochs" and given[k] != saved.get(k))
        if changed:
            raise CommandError(
                f"--resume keeps the run's options; only --epochs may change (got --"
                f"{changed[0].replace('_', '-')})"
            )
        source = saved.pop("data", None) if source is None else source
        if source != saved.get("data", source):
            raise CommandError("--resume continues the run's own data; leave out DATA")
        saved.pop("data", None)
        saved.pop("out", None)
        options = check_options({**saved, **given})
        return source, options, run_dir
    config = {}
    if args.config:
        config = read_toml(args.config)
        if not isinstance(config, dict):
            raise CommandError(f"{args.config}: expected a table of options")
        allowed = {"data", "out", *TRAIN_OPTIONS}
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise CommandError(
                f"{args.config}: unknown option {unknown[0]!r}; valid options: "
                + ", ".join(["data", "out", *TRAIN_OPTIONS])
            )
        if source is None:
            source = config.get("data")
        if out is None:
            out = config.get("out")
    if source is None:
        raise CommandError("train needs DATA (a built-in name, a file or a folder)")
    options = check_options({k: v for k, v in config.items() if k in TRAIN_OPTIONS} | given)
    if out is None:
        out = Path("runs") / (Path(str(source)).stem or "run")
    return str(source), options, Path(out)


class _HistoryLog:
    """Appends one row per epoch to history.csv (written before each checkpoint)."""

    def __init__(self, path):
        from .callbacks import Callback

        class Logger(Callback):
            def on_epoch_end(inner, epoch, logs=None):
                self.append(epoch + 1, logs or {})

        self.path = Path(path)
        self.callback = Logger()

    def rows(self):
        """The complete rows (a run killed mid-append leaves a partial last row)."""
        if not self.path.exists():
            return []
        with open(self.path, newline="") as handle:
            rows = list(csv.DictReader(handle))

        def complete(row):
            try:
                return None not in row and all(
                    v is not None and math.isfinite(float(v)) for v in row.values()
                )
            except ValueError:
                return False

        return [row for row in rows if complete(row)]

    def keep(self, epochs: int):
        """Drop rows after ``epochs`` (a resumed run redoes them), atomically."""
        rows = [r for r in self.rows() if int(r["epoch"]) <= epochs]
        original = self.path
        self.path = original.with_name(original.name + ".part")
        try:
            self.path.unlink(missing_ok=True)
            for row in rows:
                self.append(
                    int(row["epoch"]), {k: float(v) for k, v in row.items() if k != "epoch"}
                )
            if rows:
                os.replace(self.path, original)
            else:
                original.unlink(missing_ok=True)
        finally:
            self.path = original

    def append(self, epoch, logs):
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["epoch", *logs])
            writer.writerow([epoch, *(repr(float(v)) for v in logs.values())])

    def history(self) -> dict:
        out = {}
        for row in self.rows():
            for key, value in row.items():
                out.setdefault(key, []).append(int(value) if key == "epoch" else float(value))
        return out


def _make_early_stopping(patience, monitor, state=None, arrays=None):
    from .callbacks import EarlyStopping

    class Resumable(EarlyStopping):
        """EarlyStopping whose progress survives a checkpoint."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if state:
                self.best = state["best"] if state["best"] is not None else self.best
                self.best_epoch = state["best_epoch"]
                self.wait = state["wait"]
                self.stopped_epoch = state.get("stopped_epoch")
                if arrays:
                    self._best_parameters = {k: np.array(v) for k, v in arrays.items()}

        def get_run_state(self):
            best = self.best if math.isfinite(self.best) else None
            return {
                "best": best,
                "best_epoch": self.best_epoch,
                "wait": self.wait,
                "stopped_epoch": self.stopped_epoch,
                "monitor": self.monitor,
            }

        def run_arrays(self):
            return dict(self._best_parameters or {})

    stopper = Resumable(monitor=monitor, patience=patience, restore_best_weights=True)
    stopper.on_train_begin()
    return stopper


def train_run(source, options, out, resume=False, quiet=False, stream=None):
    """Train as ``deepff train`` does and write the run directory; return a summary dict.

    Examples
    --------
    Training writes a run directory (model, configuration, history, metrics and figures), so
    the example is not run here:

    >>> from deepff.training import check_options
    >>> options = check_options({"layers": [16], "epochs": 20})
    >>> result = train_run("iris", options, "runs/iris", quiet=True)  # doctest: +SKIP
    >>> sorted(result["metrics"])  # doctest: +SKIP
    ['test', 'train', 'val']
    """
    from .datasets import load_data

    data = load_data(
        source,
        target=options["target"],
        x_key=options["x_key"],
        y_key=options["y_key"],
        impute=options["impute"],
        require_target=True,
    )
    with data:  # an HDF5 file stays open (read lazily) until the figures are drawn
        return _train_loaded(data, source, options, Path(out), resume, quiet, stream or sys.stdout)


def _train_loaded(data, source, options, out, resume, quiet, stream):
    from . import serialization
    from .callbacks import ModelCheckpoint, ProgressBar
    from .training import build_network, prepare

    prepared = prepare(data, options)
    task = prepared.task
    out.mkdir(parents=True, exist_ok=True)
    source_text = str(source)
    if Path(source_text).exists():
        source_text = str(Path(source_text).resolve())
    image_size = None
    if prepared.preprocessor.kind == "array" and len(prepared.preprocessor.input_shape) == 3:
        image_size = prepared.preprocessor.input_shape[:2]
    run = {
        "data": {
            "source": source_text,
            "name": data.name,
            "target": data.info.get("target"),
            "x_key": data.info.get("x_key"),
            "y_key": data.info.get("y_key"),
            "image_size": image_size,
            "feature_names": data.feature_names,
            "class_names": data.class_names,
            "examples": {
                "train": len(prepared.y_train),
                "val": 0 if prepared.y_val is None else len(prepared.y_val),
                "test": 0 if prepared.y_test is None else len(prepared.y_test),
            },
        },
        "options": options,
        "task": task,
    }
    pre = prepared.preprocessor
    pre_arrays = {f"preprocessor.{k}": v for k, v in pre.arrays().items()}
    checkpoint_path = out / CHECKPOINT_FILE
    log = _HistoryLog(out / "history.csv")
    # What a killed run leaves: temporaries of interrupted writes (the files are whole).
    for stale in (
        *out.glob(f".{MODEL_FILE}.*.tmp"),
        *out.glob(f".{CHECKPOINT_FILE}.*.tmp"),
        out / "history.csv.part",
    ):
        stale.unlink(missing_ok=True)
    has_val = prepared.X_val is not None
    monitor = "val_loss" if has_val else "loss"
    stopper = None
    if resume:
        if not checkpoint_path.exists():
            raise CommandError(f"{out}: no {CHECKPOINT_FILE} to resume from")
        network = serialization.load(checkpoint_path)
        saved = network.metadata or {}
        saved_options = dict(saved.get("run", {}).get("options") or {})
        saved_options["epochs"] = options["epochs"]
        if saved_options != options:
            raise CommandError(f"{checkpoint_path}: the checkpoint was made with other options")
        if options["early_stopping"] is not None:
            best = {
                k[len("early_stopping.") :]: v
                for k, v in network.extra_arrays.items()
                if k.startswith("early_stopping.")
            }
            stopper = _make_early_stopping(
                options["early_stopping"], monitor, saved.get("early_stopping"), best
            )
        log.keep(network.epoch)
    else:
        # Built first: options the network refuses must leave an earlier run in DIR intact.
        network = build_network(options, pre.n_features_out, task, prepared.n_outputs)
        for name in (*RUN_FILES, CHECKPOINT_FILE):
            (out / name).unlink(missing_ok=True)
        if options["early_stopping"] is not None:
            stopper = _make_early_stopping(options["early_stopping"], monitor)
    config = {"data": source_text, **options}
    write_toml(
        out / "config.toml",
        config,
        f"deepff train: this run's options. Rerun: deepff train --config {out}/config.toml"
        f"\nResume: deepff train --resume {out}",
    )

    def checkpoint_metadata(net, epoch, logs):
        meta = {"run": run, "preprocessor": pre.get_config()}
        if stopper is not None:
            meta["early_stopping"] = stopper.get_run_state()
        return meta

    class RunCheckpoint(ModelCheckpoint):
        def on_epoch_end(self, epoch, logs=None):
            self.arrays = dict(pre_arrays)
            if stopper is not None:
                self.arrays.update(
                    {f"early_stopping.{k}": v for k, v in stopper.run_arrays().items()}
                )
            super().on_epoch_end(epoch, logs)

    callbacks = []
    if stopper is not None:
        callbacks.append(stopper)
    callbacks += [log.callback, RunCheckpoint(checkpoint_path, metadata=checkpoint_metadata)]
    if not quiet:
        callbacks.append(ProgressBar(stream=stream))
    remaining = options["epochs"] - network.epoch
    stopped = stopper is not None and stopper.stopped_epoch is not None
    if remaining > 0 and not stopped:
        validation = (prepared.X_val, prepared.y_val) if has_val else None
        network.fit(
            prepared.X_train,
            prepared.y_train,
            epochs=remaining,
            batch_size=options["batch_size"],
            validation_data=validation,
            callbacks=callbacks,
            verbose=0,
        )
    elif stopper is not None:
        stopper.set_network(network)
        stopper.on_train_end()  # put back the best weights
    metrics = {}

    # After a divergence (warned about once) the weights kept may overflow on some inputs:
    # the metrics say so, as null in JSON, without a trail of NumPy warnings.
    def quiet_overflow():
        return np.errstate(over="ignore", invalid="ignore", divide="ignore")

    for part in ("train", "val", "test"):
        X, y = getattr(prepared, f"X_{part}"), getattr(prepared, f"y_{part}")
        if X is None:
            metrics[part] = None
            continue
        with quiet_overflow():
            result = network.evaluate(X, y)
        metrics[part] = {**{k: _finite_or_none(v) for k, v in result.items()}, "examples": len(y)}
    stopped_epoch = stopper.stopped_epoch if stopper is not None else None
    run["stopped_early"] = stopped_epoch is not None
    run["epochs_trained"] = int(network.epoch)
    serialization.save(
        network,
        out / MODEL_FILE,
        metadata={"run": run, "preprocessor": pre.get_config(), "metrics": metrics},
        arrays=pre_arrays,
    )
    _write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    with quiet_overflow():
        figures = _draw_run(out, network, prepared, pre, run, data)
    return {
        "network": network,
        "metrics": metrics,
        "out": out,
        "task": task,
        "figures": figures,
        "prepared": prepared,
    }


def _confusion(network, X, y):
    classes = network.classes_
    predicted = network.predict(X)
    index = {c: i for i, c in enumerate(classes.tolist())}
    matrix = np.zeros((len(classes), len(classes)), np.int64)
    for truth, guess in zip(np.asarray(y).tolist(), predicted.tolist(), strict=True):
        matrix[index[truth], index[guess]] += 1
    return matrix


def _draw_run(out, network, prepared, pre, run, data):
    """Write the run's figures (and confusion_matrix.csv); return the paths written."""
    from . import plots

    figures = []
    log = _HistoryLog(out / "history.csv")
    history = log.history()
    if history.get("loss"):
        plots.learning_curves(history, out / "learning_curves.png", title=run["data"]["name"])
        figures.append(out / "learning_curves.png")
    if prepared is not None and run["task"] == "classification" and network.classes_ is not None:
        for part in ("test", "val", "train"):
            X, y = getattr(prepared, f"X_{part}"), getattr(prepared, f"y_{part}")
            if X is not None:
                break
        matrix = _confusion(network, X, y)
        labels = _class_labels(network, run)
        with open(out / "confusion_matrix.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["true\\predicted", *labels])
            for label, row in zip(labels, matrix.tolist(), strict=True):
                writer.writerow([label, *row])
        plots.confusion_matrix(
            matrix,
            labels,
            out / "confusion_matrix.png",
            title=f"confusion matrix ({part}, {len(y)} examples)",
        )
        figures.append(out / "confusion_matrix.png")
        table_2d = (
            pre is not None and pre.kind == "table" and not pre.categories and len(pre.columns) == 2
        )
        array_2d = pre is not None and pre.kind == "array" and list(pre.input_shape) == [2]
        if (table_2d or array_2d) and data is not None:
            X_raw = np.asarray(data.X, dtype=np.float64)
            rows = np.sort(prepared.indices[0])
            names = pre.columns if table_2d else (data.feature_names or ["x1", "x2"])

            def predict(points):
                if table_2d:
                    import pandas as pd

                    points = pd.DataFrame(points, columns=pre.columns)
                return network.predict(pre.transform(points))

            plots.decision_boundary(
                predict,
                X_raw[rows],
                np.asarray(data.y)[rows],
                out / "decision_boundary.png",
                feature_names=names,
                title="decision boundary (training data)",
            )
            figures.append(out / "decision_boundary.png")
    return figures


def _class_labels(network, run):
    classes = network.classes_
    names = run.get("data", {}).get("class_names")
    labels = [str(c) for c in classes.tolist()]
    if names and len(names) == len(classes) and np.asarray(classes).dtype.kind in "iu":
        if all(0 <= int(c) < len(names) for c in classes):
            labels = [f"{names[int(c)]}" for c in classes]
    return labels


# --- commands -------------------------------------------------------------------------------


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _print_metrics(metrics, stream):
    for part in ("train", "val", "test"):
        values = metrics.get(part)
        if values:
            text = "  ".join(
                f"{k} {'nan' if v is None else format(v, '.4f')}"
                for k, v in values.items()
                if k != "examples"
            )
            print(f"  {part:<5} ({values['examples']} examples)  {text}", file=stream)


def cmd_train(args):
    """Run ``deepff train``: train on DATA (or resume a run) and write the run directory.

    Examples
    --------
    ``main`` calls it with the parsed arguments (it trains or reads files, so it is not run here):

    >>> args = build_parser().parse_args(["train", "iris", "--epochs", "5"])
    >>> args.func is cmd_train
    True
    """
    source, options, out = _run_options(args)
    result = train_run(source, options, out, resume=bool(args.resume), quiet=args.quiet)
    stream = sys.stdout
    print(f"Trained {result['network'].epoch} epochs; metrics:", file=stream)
    _print_metrics(result["metrics"], stream)
    print(
        f"Wrote {out}/: " + ", ".join(p.name for p in sorted(out.iterdir()) if p.is_file()),
        file=stream,
    )
    return 0


def cmd_demo(args):
    """Run ``deepff demo``: train on the digits with live progress and write a run directory.

    Examples
    --------
    ``main`` calls it with the parsed arguments (it trains or reads files, so it is not run here):

    >>> args = build_parser().parse_args(["demo", "--epochs", "3"])
    >>> args.func is cmd_demo
    True
    """
    from .training import check_options

    out = Path(args.out)
    options = check_options(
        {
            "layers": [64, 32],
            "activation": "relu",
            "dropout": 0.1,
            "batch_norm": True,
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "epochs": args.epochs,
            "batch_size": 32,
            "val_split": 0.1,
            "test_split": 0.2,
            "scale": "standard",
            "seed": args.seed,
        }
    )
    print(
        "deepff demo: a deep feedforward network on scikit-learn's handwritten digits "
        "(1797 images of 8x8 pixels, 10 classes)\n",
        flush=True,
    )
    result = train_run("digits", options, out)
    network = result["network"]
    print()
    network.summary()
    print("\nMetrics:")
    _print_metrics(result["metrics"], sys.stdout)
    test = result["metrics"]["test"]
    print(f"\nTest accuracy: {test['accuracy']:.4f} (loss {test['loss']:.4f})")
    files = ", ".join(p.name for p in sorted(out.iterdir()) if p.is_file())
    print(f"\nWrote {out}/: {files}")
    model = out / MODEL_FILE
    print("\nLook at the results:")
    deepff = _command_name()
    for command in (
        f"{deepff} info {model}",
        f"{deepff} evaluate {model} digits",
        f"{deepff} predict {model} digits --out {out}/predictions.csv --proba",
        f"{deepff} plot {out}",
        f"{deepff} plot activations --out {out}/activations.png",
        f"{deepff} export {model} --onnx {out}/model.onnx",
    ):
        print(f"  {command}")
    for figure in result["figures"]:
        print(f"  open {figure}")
    return 0


def _command_name() -> str:
    """How to type this command again: ``deepff`` when it is on PATH, else the way it ran."""
    import shutil

    script = sys.argv[0] if sys.argv else ""
    if Path(script).name == PROG:
        found = shutil.which(PROG)
        if found and Path(found).resolve() == Path(script).resolve():
            return PROG
        return script
    return PROG if shutil.which(PROG) else "python -m deepff"


def cmd_evaluate(args):
    """Run ``deepff evaluate``: print a model's loss and metrics on labelled DATA.

    Examples
    --------
    ``main`` calls it with the parsed arguments (it trains or reads files, so it is not run here):

    >>> args = build_parser().parse_args(["evaluate", "runs/iris", "iris"])
    >>> args.func is cmd_evaluate
    True
    """
    network, pre, metadata = load_model(args.model)
    data = _load_for_model(args.data, args, pre, metadata, require_target=True)
    with data:
        if data.y is None:
            raise CommandError(f"{args.data}: no labels to evaluate against")
        X = _features(network, pre, data)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = network.evaluate(X, data.y)
        metrics = {k: _finite_or_none(v) for k, v in result.items()}
    metrics["examples"] = len(data.y)
    if args.json:
        print(json.dumps(metrics))  # a diverged model's NaN loss is null, as JSON has it
    else:
        print(f"{args.data} ({metrics['examples']} examples)")
        for key, value in metrics.items():
            if key != "examples":
                print(f"  {key}: {'nan' if value is None else format(value, '.4f')}")
    return 0


def cmd_predict(args):
    """Run ``deepff predict``: write a model's predictions on DATA to a CSV file.

    Examples
    --------
    ``main`` calls it with the parsed arguments (it trains or reads files, so it is not run here):

    >>> args = build_parser().parse_args(["predict", "runs/iris", "iris", "--out", "p.csv"])
    >>> args.func is cmd_predict
    True
    """
    network, pre, metadata = load_model(args.model)
    if args.proba and not network.is_classifier:
        raise CommandError("--proba needs a classifier; this model is a regressor")
    data = _load_for_model(args.data, args, pre, metadata, require_target=False)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = data.info.get("files")
    with data:
        m = data.n_examples
        columns = ["file"] if files else []
        if network.is_classifier or network.output_units == 1:
            columns.append("prediction")
        else:
            columns += [f"prediction_{j}" for j in range(network.output_units)]
        if args.proba:
            columns += [f"proba_{c}" for c in _class_labels(network, metadata.get("run", {}))]
        temporary = out.with_name(out.name + ".part")
        try:
            with open(temporary, "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                step = 8192
                for start in range(0, m, step):
                    rows = np.arange(start, min(start + step, m))
                    X = _features(network, pre, data, rows)
                    predicted = network.predict(X)
                    proba = network.predict_proba(X) if args.proba else None
                    for i in range(len(rows)):
                        row = [files[start + i]] if files else []
                        value = predicted[i]
                        row += list(map(_cell, np.atleast_1d(value)))
                        if proba is not None:
                            row += [f"{p:.6g}" for p in proba[i]]
                        writer.writerow(row)
            os.replace(temporary, out)
        except BaseException:  # bad data, a full disk: leave no partial file behind
            temporary.unlink(missing_ok=True)
            raise
    print(f"Wrote {m} predictions to {out}")
    return 0


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
    from . import serialization

    path = Path(args.model)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.exists():
        raise CommandError(f"{path}: no such model file")
    described = serialization.read_metadata(path)
    network, pre, metadata = load_model(path)
    run = metadata.get("run", {})
    out = _Printable(sys.stdout)  # the file's text is shown, never obeyed by the terminal
    print(
        f"model: {path} (deepff format {described['format_version']}, "
        f"saved by deepff {described['state'].get('deepff_version', '?')})",
        file=out,
    )
    task = run.get("task") or ("classification" if network.is_classifier else "regression")
    print(f"task: {task}; epochs trained: {network.epoch}", file=out)
    if network.classes_ is not None:
        labels = _class_labels(network, run)
        print(f"classes ({len(labels)}): {', '.join(labels)}", file=out)
    if pre is not None:
        shape = "x".join(map(str, pre.input_shape))
        text = f"input: {shape} raw features -> {pre.n_features_out} inputs (scale {pre.scale}"
        if pre.categories:
            text += f"; one-hot: {', '.join(pre.categories)}"
        if pre.impute:
            text += f"; impute {pre.impute}"
        print(text + ")", file=out)
    else:
        print(f"input: {network.n_features_in_} features (no preprocessing saved)", file=out)
    print(file=out)
    network.summary(print_fn=lambda text: print(text, file=out))
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
        for key, value in options.items():
            if value is not None:
                print(f"  {key} = {_toml_value(value)}", file=out)
    metrics = metadata.get("metrics")
    if metrics:
        print("metrics:", file=out)
        _print_metrics(metrics, out)
    return 0


def cmd_plot(args):
    """Run ``deepff plot``: draw a run directory's figures, or the activation functions.

    Examples
    --------
    A run directory holding only its ``history.csv`` gets its learning curves drawn:

    >>> import os, tempfile
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "history.csv"), "w") as handle:
    ...     _ = handle.write("epoch,loss,val_loss\\n1,0.9,1.0\\n2,0.5,0.7\\n")
    >>> cmd_plot(build_parser().parse_args(["plot", run]))
    Wrote ...learning_curves.png
    0
    >>> os.path.exists(os.path.join(run, "learning_curves.png"))
    True
    """
    from . import plots

    target = Path(args.target)
    if args.target == "activations" and not target.is_dir():
        out = Path(args.out or "activations.png")
        plots.activations(out, c=0.05)
        print(f"Wrote {out}")
        return 0
    if not target.is_dir():
        raise CommandError(f"{target}: not a run directory (or use: deepff plot activations)")
    model_path = target / MODEL_FILE
    if not model_path.exists() and not (target / "history.csv").exists():
        raise CommandError(f"{target}: not a run directory (no {MODEL_FILE}, no history.csv)")
    out = Path(args.out) if args.out else target
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if model_path.exists():
        network, pre, metadata = load_model(model_path)
        run = metadata.get("run")
        if run and run.get("options"):
            prepared = data = None
            try:
                from .datasets import load_data
                from .training import prepare

                info = run["data"]
                options = run["options"]
                data = load_data(
                    info["source"],
                    target=options["target"],
                    x_key=options["x_key"],
                    y_key=options["y_key"],
                    impute=options["impute"],
                    require_target=True,
                )
                prepared = prepare(data, options)
            except (ValueError, OSError) as error:
                print(
                    f"{PROG}: note: {_one_line(error)}; drawing the learning curves only",
                    file=sys.stderr,
                )
            if (target / "history.csv").exists() and out != target:
                import shutil

                shutil.copyfile(target / "history.csv", out / "history.csv")
            try:
                written = _draw_run(out, network, prepared, pre, run, data)
            finally:
                if data is not None:
                    data.close()
    elif (target / "history.csv").exists():
        history = _HistoryLog(target / "history.csv").history()
        plots.learning_curves(history, out / "learning_curves.png")
        written = [out / "learning_curves.png"]
    for path in written:
        print(f"Wrote {path}")
    return 0


def cmd_export(args):
    """Run ``deepff export``: write a model as ONNX (with its input scaling, if any).

    Examples
    --------
    >>> import os, tempfile
    >>> import deepff as dff
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
    from . import serialization

    network, pre, _ = load_model(args.model)
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
    serialization.export_onnx(network, out, input_scaling=scaling)
    n_inputs = (
        int(np.prod(pre.input_shape)) if pre is not None and scaling else network.n_features_in_
    )
    print(f"Wrote {out} (input: float32 of shape (m, {n_inputs}))")
    return 0


__all__ = ["CommandError", "build_parser", "load_model", "main", "train_run"]
