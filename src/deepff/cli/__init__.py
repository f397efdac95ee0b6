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
    deepff report RUN_DIR                        # RUN_DIR/report.html, one page, offline
    deepff explain [--layers 5,3,1] [--html F]   # the paper's worked example, computed
    deepff tune DATA --space SPACE.toml          # hyper-parameter search (Optuna)

DATA is a built-in name (digits, iris, wine, breast_cancer) or a CSV/TSV, NPZ or HDF5 file or
a folder of images (see ``deepff.io.datasets``). The preprocessing fitted on the training rows
lives inside the model file, so ``predict`` takes raw data.

One module per command family (``train``, ``demo``, ``model``, ``plot``, ``report``,
``explain``, ``tune``), listed in
``COMMANDS``; each has ``add_parser(commands, common, name)`` and its ``cmd_*`` handlers.

Mistakes (a missing file, an unknown column, a bad option value, a file that is not a deepff
model) print one line on stderr and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import traceback
import warnings

from .._version import __version__
from .common import PROG, CommandError, Parser, one_line

#: (command, module of ``deepff.cli``) in the order of ``deepff --help``.
COMMANDS = (
    ("demo", "demo"),
    ("train", "train"),
    ("evaluate", "model"),
    ("predict", "model"),
    ("info", "model"),
    ("plot", "plot"),
    ("export", "model"),
    ("report", "report"),
    ("explain", "explain"),
)


def build_parser():
    """The ``deepff`` argument parser, with one subparser per command.

    Examples
    --------
    >>> args = build_parser().parse_args(["evaluate", "run/model.safetensors", "iris", "--json"])
    >>> args.model, args.data, args.json
    ('run/model.safetensors', 'iris', True)
    >>> try:
    ...     build_parser().parse_args(["train", "iris", "--epochs", "0"])
    ... except CommandError as error:
    ...     print(error)
    deepff train: error: argument --epochs: ...
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error",
    )
    parser = Parser(
        prog=PROG,
        description="Deep feedforward neural networks in NumPy (Rahman 2019): train, "
        "evaluate, predict, inspect, plot and export.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"deepff {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, module in COMMANDS:
        importlib.import_module(f".{module}", __name__).add_parser(commands, common, name)
    _add_tune(commands, common)
    return parser


def _add_tune(commands, common) -> None:
    """``deepff tune``: from ``deepff.cli.tune`` when it is there, else from ``deepff.tuning``
    (where the command lived before), when Optuna's side of deepff imports."""
    try:
        from . import tune as module
    except ImportError:
        try:
            from .. import tuning as module
        except Exception:  # no tuning at all: the other commands still work
            return
    add = getattr(module, "add_parser", None)
    handler = getattr(module, "cmd_tune", None) or getattr(module, "run", None)
    if add is None or handler is None:
        return
    if len(inspect.signature(add).parameters) >= 2:
        add(commands, common)
    else:
        add(commands)
    tune = commands.choices.get("tune")
    if tune is not None and tune.get_default("func") is None:
        tune.set_defaults(func=handler)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROG}: warning: {one_line(message)}", file=sys.stderr, flush=True)


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
    import os

    from ..distributed import launcher_rank, under_mpi

    if under_mpi() and launcher_rank() != 0:  # under mpiexec, rank 0 speaks (issue 16)
        sys.stdout = open(os.devnull, "w")  # for the life of the process
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
        message = one_line(error) or type(error).__name__
        if isinstance(error, FileNotFoundError) and error.filename and error.strerror:
            message = f"{error.filename}: {error.strerror}"
        if isinstance(error, CommandError) and message.startswith(PROG):
            print(f"{message}", file=sys.stderr)
        else:
            print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except MemoryError as error:
        if debug:
            traceback.print_exc()
        asked = one_line(error) or "an allocation failed"
        print(
            f"{PROG}: error: out of memory ({asked}); use smaller data, fewer or narrower "
            "--layers, a smaller --batch-size, or a machine with more memory",
            file=sys.stderr,
        )
        return 2
    except RecursionError:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: input nested too deeply to read", file=sys.stderr)
        return 2
    except Exception as error:
        if debug:
            traceback.print_exc()
        print(
            f"{PROG}: internal error: {type(error).__name__}: {one_line(error)} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


__all__ = ["COMMANDS", "CommandError", "build_parser", "main"]
