"""What the commands share: the error they report, argument types, the options of a run.

The options of ``deepff train`` are generated from ``deepff.runs.options.OPTIONS``: one flag
per option, in its group, with the help text and the default of the table. No option is
written here by hand.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="deepff train")
>>> add_training_options(parser)
>>> vars(parser.parse_args(["--lr", "0.01", "--layers", "8,4", "--batch-size", "full"]))
{'learning_rate': 0.01, 'layers': '8,4', 'batch_size': None}
"""

from __future__ import annotations

import argparse
import math
import sys

from ..runs.options import OPTIONS

PROG = "deepff"


class CommandError(Exception):
    """A mistake of the user's: reported as one line on stderr, exit status 2.

    Examples
    --------
    >>> try:
    ...     Parser(prog="deepff train").error("argument --epochs: must be >= 1; got 0")
    ... except CommandError as error:
    ...     print(error)
    deepff train: error: argument --epochs: must be >= 1; got 0
    """


class Parser(argparse.ArgumentParser):
    """argparse, with errors raised (and so reported on one line) instead of printed."""

    def error(self, message):
        raise CommandError(f"{self.prog}: error: {message}")


def int_at_least(minimum):
    """An argparse type: a whole number >= ``minimum``.

    Examples
    --------
    >>> int_at_least(1)("3")
    3
    >>> int_at_least(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be >= 1; got 0
    """

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {value}")
        return value

    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


def number(text):
    """An argparse type: a finite number.

    Examples
    --------
    >>> number("1e-3")
    0.001
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite; got {text!r}")
    return value


def batch_size(text):
    """An argparse type: examples per step, or ``full`` (all, none) for one batch.

    Examples
    --------
    >>> batch_size("64"), batch_size("full")
    (64, None)
    """
    if text.lower() in ("full", "all", "none"):
        return None
    return positive_int(text)


#: The argparse type of each kind of option (``deepff.runs.options.KINDS``).
TYPES = {
    "text": None,
    "number": number,
    "count": nonnegative_int,
    "positive": positive_int,
    "batch_size": batch_size,
    "flag": None,
}


def add_training_options(parser) -> None:
    """Add the options of ``deepff train`` to ``parser``, generated from the options table.

    Options not given on the command line are left out of the parsed arguments (their
    default is SUPPRESS), so that a config file or a resumed run can supply them.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_training_options(parser)
    >>> vars(parser.parse_args(["--epochs", "5", "--no-batch-norm"]))
    {'epochs': 5, 'batch_norm': False}
    """
    groups = {}
    for option in OPTIONS:
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group)
        add_option(groups[option.group], option)


def add_option(parser, option) -> None:
    """Add one ``deepff.runs.options.Option`` to ``parser`` (or an argument group): its
    flag and aliases, type, choices and metavar; absent from the namespace unless given.

    Examples
    --------
    >>> import argparse
    >>> from deepff.runs.options import OPTION
    >>> parser = argparse.ArgumentParser()
    >>> add_option(parser, OPTION["val_split"])
    >>> vars(parser.parse_args(["--val-split", "0.25"]))
    {'val_split': 0.25}
    """
    kwargs = {"dest": option.name, "default": argparse.SUPPRESS, "help": option.help_text()}
    if option.kind == "flag":
        kwargs["action"] = argparse.BooleanOptionalAction
    elif TYPES[option.kind] is not None:
        kwargs["type"] = TYPES[option.kind]
    if option.choices is not None:
        kwargs["choices"] = option.choices
    if option.metavar is not None:
        kwargs["metavar"] = option.metavar
    parser.add_argument(option.flag, *option.aliases, **kwargs)


def add_data_keys(parser) -> None:
    """``--target``, ``--x-key``, ``--y-key`` of the commands that read data for a model.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_data_keys(parser)
    >>> vars(parser.parse_args(["--target", "label"]))
    {'target': 'label', 'x_key': None, 'y_key': None}
    """
    parser.add_argument(
        "--target", metavar="COL", help="label column of a CSV/TSV (default: the training one)"
    )
    parser.add_argument("--x-key", dest="x_key", metavar="NAME")
    parser.add_argument("--y-key", dest="y_key", metavar="NAME")


def one_line(text) -> str:
    """``text`` with its whitespace (newlines too) collapsed to single spaces.

    Examples
    --------
    >>> one_line("a\\n  b")
    'a b'
    """
    return " ".join(str(text).split())


def print_metrics(metrics: dict, stream=None) -> None:
    """Print a run's metrics, a line per part (train, val, test) that has any.

    Examples
    --------
    >>> print_metrics({"train": {"loss": 0.25, "accuracy": 1.0, "examples": 4}, "val": None})
      train (4 examples)  loss 0.2500  accuracy 1.0000
    """
    stream = stream if stream is not None else sys.stdout
    for part in ("train", "val", "test"):
        values = metrics.get(part)
        if values:
            text = "  ".join(
                f"{k} {'nan' if v is None else format(v, '.4f')}"
                for k, v in values.items()
                if k != "examples"
            )
            print(f"  {part:<5} ({values['examples']} examples)  {text}", file=stream)


__all__ = [
    "PROG",
    "TYPES",
    "CommandError",
    "Parser",
    "add_data_keys",
    "add_option",
    "add_training_options",
    "batch_size",
    "int_at_least",
    "nonnegative_int",
    "number",
    "one_line",
    "positive_int",
    "print_metrics",
]
