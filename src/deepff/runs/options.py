"""The options of a training run: one table, read by checks, the command line and the docs.

``OPTIONS`` lists every option of ``deepff train`` once, with its default, its group on the
command line, its help text and how its flag parses. Everything else is derived from it:
``TRAIN_OPTIONS`` (name -> default), the argparse options of ``deepff train`` (generated in
``deepff.cli.common``, their help reading the defaults from here), and ``check_options``,
which validates a dict of options and fills in the defaults.

Examples
--------
>>> TRAIN_OPTIONS["epochs"], OPTION["epochs"].flag, OPTION["epochs"].group
(50, '--epochs', 'optimization')
>>> check_options({"layers": "16,8"})["layers"]
[16, 8]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import activations, initializers, losses, optimizers
from .._checks import describe, is_int, is_real

SCALES = ("standard", "minmax", "none")
IMPUTES = ("mean", "median")
TASKS = ("auto", "classification", "regression")
DTYPES = ("float32", "float64")
CATEGORICAL = ("onehot", "embedding", "auto")
#: Learning-rate schedules of a run, over its epochs (``deepff.schedules``, ``unit="epoch"``).
SCHEDULE_NAMES = ("none", "cosine", "onecycle", "polynomial")

#: How a flag's text becomes a value (``deepff.cli.common`` maps each to an argparse type).
KINDS = ("text", "number", "count", "positive", "batch_size", "flag")


@dataclass(frozen=True)
class Option:
    """One option of a training run.

    Parameters
    ----------
    name : str
        The key in option dicts and config.toml; the flag is ``--name`` with dashes.
    default : object
        ``None`` means "the natural default" (said in ``help``).
    group : str
        The heading of the flag in ``deepff train --help``.
    help : str
        Help text; ``{default}`` in it is replaced by the default, as ``default_text`` shows it.
    kind : str
        How the flag's text parses: "text", "number" (finite float), "count" (integer >= 0),
        "positive" (integer >= 1), "batch_size" (integer >= 1 or "full"), "flag" (on/off).
    choices : tuple, optional
        The values the flag accepts (argparse checks them).
    metavar : str, optional
    aliases : tuple
        Further flags, such as ``--lr``.

    Examples
    --------
    >>> option = OPTION["learning_rate"]
    >>> option.flag, option.aliases, option.kind
    ('--learning-rate', ('--lr',), 'number')
    """

    name: str
    default: object
    group: str
    help: str
    kind: str = "text"
    choices: tuple | None = None
    metavar: str | None = None
    aliases: tuple = ()

    @property
    def flag(self) -> str:
        """The command-line flag: ``--`` and the name with dashes."""
        return "--" + self.name.replace("_", "-")

    def default_text(self) -> str:
        """The default as the help text shows it (``64,32``, ``0``, ``0.1``, ``adam``).

        Examples
        --------
        >>> OPTION["layers"].default_text(), OPTION["dropout"].default_text()
        ('64,32', '0')
        """
        value = self.default
        if isinstance(value, (list, tuple)):
            return ",".join(map(str, value))
        if isinstance(value, float):
            return format(value, "g")
        return str(value)

    def help_text(self) -> str:
        """``help`` with the default filled in.

        Examples
        --------
        >>> OPTION["epochs"].help_text()
        '(50)'
        """
        return self.help.replace("{default}", self.default_text())


_DATA = "data"
_NETWORK = "network"
_OPTIMIZATION = "optimization"
_SPLIT = "split and preprocessing"

#: Every option of ``deepff train``, in the order of ``--help`` and of config.toml.
OPTIONS = (
    Option(
        "target", None, _DATA, "label column of a CSV/TSV (default: the last column)", metavar="COL"
    ),
    Option("x_key", None, _DATA, "features array of an NPZ/HDF5 file", metavar="NAME"),
    Option("y_key", None, _DATA, "labels array of an NPZ/HDF5 file", metavar="NAME"),
    Option(
        "impute", None, _DATA, "fill missing CSV values (default: refuse them)", choices=IMPUTES
    ),
    Option("drop", None, _DATA, "table columns to leave out of the features", metavar="COLS"),
    Option(
        "id_column",
        None,
        _DATA,
        "a table column of row IDs: not a feature, copied into predictions",
        metavar="COL",
    ),
    Option(
        "category",
        None,
        _DATA,
        "table columns to encode as categories even if they hold numbers",
        metavar="COLS",
    ),
    Option(
        "numeric",
        None,
        _DATA,
        "table columns to read as numbers; other text there is missing (see --impute)",
        metavar="COLS",
    ),
    Option(
        "class_weight",
        None,
        _OPTIMIZATION,
        "'balanced': weigh each class by m / (classes * its count), as scikit-learn",
        choices=("balanced",),
    ),
    Option(
        "task",
        "auto",
        _DATA,
        "default: {default} (labels: classification; real values: regression)",
        choices=TASKS,
    ),
    Option(
        "layers", [64, 32], _NETWORK, "hidden layer sizes (default: {default})", metavar="N,N,..."
    ),
    Option("activation", "relu", _NETWORK, "hidden activation ({default})"),
    Option("init", "auto", _NETWORK, "weight initializer ({default})"),
    Option("loss", "auto", _NETWORK, "cost ({default})"),
    Option(
        "dropout",
        0.0,
        _NETWORK,
        "dropout rate after each hidden layer ({default})",
        kind="number",
        metavar="RATE",
    ),
    Option("batch_norm", False, _NETWORK, "batch normalization on the hidden layers", kind="flag"),
    Option("l2", 0.0, _NETWORK, "L2 penalty ({default})", kind="number", metavar="LAMBDA"),
    Option("l1", 0.0, _NETWORK, "L1 penalty ({default})", kind="number", metavar="LAMBDA"),
    Option(
        "optimizer",
        "adam",
        _OPTIMIZATION,
        "sgd, momentum, rmsprop, adam, adamw, nadam, adagrad ({default})",
    ),
    Option(
        "learning_rate",
        None,
        _OPTIMIZATION,
        "default: the optimizer's",
        kind="number",
        metavar="F",
        aliases=("--lr",),
    ),
    Option("beta1", None, _OPTIMIZATION, "Adam beta1 / Momentum beta", kind="number", metavar="F"),
    Option(
        "beta2",
        None,
        _OPTIMIZATION,
        "Adam/AdamW/NAdam beta2 / RMSProp beta",
        kind="number",
        metavar="F",
    ),
    Option(
        "momentum",
        None,
        _OPTIMIZATION,
        "SGD's momentum, as torch.optim.SGD (default: none)",
        kind="number",
        metavar="F",
    ),
    Option(
        "weight_decay",
        None,
        _OPTIMIZATION,
        "g += lambda W on every step, decoupled in AdamW (default: the optimizer's: "
        "AdamW 0.01, others 0)",
        kind="number",
        metavar="LAMBDA",
    ),
    Option(
        "decay_weights_only",
        False,
        _OPTIMIZATION,
        "weight decay on the weight matrices only, not biases and batch-norm parameters",
        kind="flag",
    ),
    Option(
        "clip_norm",
        None,
        _OPTIMIZATION,
        "scale the gradient to a global norm of at most C (default: no clipping)",
        kind="number",
        metavar="C",
    ),
    Option(
        "clip_value",
        None,
        _OPTIMIZATION,
        "clip each gradient entry to [-C, C] (default: no clipping)",
        kind="number",
        metavar="C",
    ),
    Option(
        "decay",
        0.0,
        _OPTIMIZATION,
        "learning-rate decay lr0 / (1 + decay * epoch) ({default})",
        kind="number",
        metavar="F",
    ),
    Option(
        "schedule",
        "none",
        _OPTIMIZATION,
        "learning rate over the epochs: cosine (to 0), onecycle (up to the rate, then down), "
        "polynomial (linear to 0) ({default})",
        choices=SCHEDULE_NAMES,
    ),
    Option(
        "warmup",
        0,
        _OPTIMIZATION,
        "epochs of linear warm-up before the cosine schedule ({default})",
        kind="count",
        metavar="N",
    ),
    Option("epochs", 50, _OPTIMIZATION, "({default})", kind="positive", metavar="N"),
    Option(
        "batch_size",
        32,
        _OPTIMIZATION,
        "examples per step, or 'full' ({default})",
        kind="batch_size",
        metavar="N",
    ),
    Option(
        "early_stopping",
        None,
        _OPTIMIZATION,
        "stop when val_loss has not improved for PATIENCE epochs, keep the best",
        kind="count",
        metavar="PATIENCE",
    ),
    Option("val_split", 0.1, _SPLIT, "validation fraction ({default})", kind="number", metavar="F"),
    Option("test_split", 0.2, _SPLIT, "test fraction ({default})", kind="number", metavar="F"),
    Option("scale", "standard", _SPLIT, "({default})", choices=SCALES),
    Option(
        "categorical",
        "auto",
        _SPLIT,
        "text columns: one-hot, integer codes into learned embeddings, or auto (embeddings "
        "for more than 16 categories) ({default})",
        choices=CATEGORICAL,
    ),
    Option(
        "embedding_dim",
        None,
        _NETWORK,
        "values per embedded category (default: min(600, round(1.6 n^0.56)) for n categories)",
        kind="positive",
        metavar="N",
    ),
    Option(
        "seed",
        0,
        _SPLIT,
        "seed of the split, initialization, shuffling, dropout ({default})",
        kind="count",
        metavar="N",
    ),
    Option("dtype", "float32", _SPLIT, "({default})", choices=DTYPES),
    # issue 16: data beyond memory (deepff.runs.streamed)
    Option(
        "shuffle",
        "exact",
        _SPLIT,
        "exact: DATA in memory, one permutation of the rows per epoch; windowed: numeric "
        "DATA streamed from disk (.npy, or CSV/Parquet parsed once into --cache), chunks "
        "permuted and rows shuffled within a window ({default})",
        choices=("exact", "windowed"),
    ),
    Option(
        "cache",
        None,
        _SPLIT,
        "where --shuffle windowed keeps the parsed copy of a CSV/Parquet DATA "
        "(default: DIR/data.npy)",
        metavar="FILE.npy",
    ),
)

#: The options by name.
OPTION = {option.name: option for option in OPTIONS}

#: The optimizers a run can name: every stepping one (full-batch L-BFGS has no learning rate
#: or epochs to speak of; it is in the Python API, ``deepff.LBFGS``, and the estimators).
STEP_OPTIMIZERS = sorted(name for name in optimizers.OPTIMIZERS if name != "lbfgs")

#: Every option of ``deepff train`` and its default. ``None`` means "the natural default":
#: the optimizer's own learning rate and betas, no early stopping, all columns but the target.
TRAIN_OPTIONS: dict = {option.name: option.default for option in OPTIONS}

#: Options that change the data a run sees (not the network or its training).
DATA_OPTIONS = (
    "target",
    "drop",
    "id_column",
    "category",
    "numeric",
    "x_key",
    "y_key",
    "impute",
    "task",
    "val_split",
    "test_split",
    "scale",
    "categorical",
)


def _fail(name, value, expected):
    raise ValueError(f"option {name!r} must be {expected}; got {describe(value)}")


def parse_layers(value) -> list:
    """Return hidden-layer sizes from ``[64, 32]``, ``"64,32"``, ``64`` or ``""`` (none).

    Examples
    --------
    >>> parse_layers("64, 32"), parse_layers(16), parse_layers("")
    ([64, 32], [16], [])
    """
    if is_int(value):
        value = [value]
    if isinstance(value, str):
        text = value.replace(" ", "")
        if text in ("", "none", "[]"):
            return []
        try:
            value = [int(part) for part in text.strip("[]").split(",")]
        except ValueError:
            _fail("layers", value, "comma-separated positive integers such as 64,32")
    if not isinstance(value, (list, tuple)) or not all(is_int(v) and v >= 1 for v in value):
        _fail("layers", value, "a list of positive integers such as [64, 32]")
    if len(value) > MAX_HIDDEN_LAYERS:
        _fail("layers", f"{len(value)} layers", f"at most {MAX_HIDDEN_LAYERS} hidden layers")
    return [int(v) for v in value]


#: The most hidden layers a run may ask for (a model file may hold up to 10,000 layers).
MAX_HIDDEN_LAYERS = 1000


def check_options(options: dict) -> dict:
    """Return a complete, validated copy of ``options`` (defaults filled in).

    Unknown names and bad values raise ``ValueError`` naming the option and the value.

    Examples
    --------
    >>> check_options({"layers": "16,8", "optimizer": "SGD"})["layers"]
    [16, 8]
    >>> check_options({"layer": [3]})
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'layer'; valid options: ...
    """
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict; got {describe(options)}")
    unknown = sorted(set(options) - set(TRAIN_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown option {unknown[0]!r}; valid options: {', '.join(TRAIN_OPTIONS)}"
        )
    out = {**TRAIN_OPTIONS, **options}
    out["layers"] = parse_layers(out["layers"])
    _check_data(out)
    _check_names(out)
    _check_numbers(out)
    _check_counts(out)
    return out


def parse_names(value, name="drop") -> list | None:
    """Column names from ``"a,b"``, ``["a", "b"]``, or None / ``""`` (none).

    Examples
    --------
    >>> parse_names("id, name"), parse_names(["x"]), parse_names("")
    (['id', 'name'], ['x'], None)
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        _fail(name, value, "column names, comma-separated")
    return list(value) or None


def _check_data(out: dict) -> None:
    for name in ("drop", "category", "numeric"):
        out[name] = parse_names(out[name], name)
    both = sorted(set(out["category"] or ()) & set(out["numeric"] or ()))
    if both:
        _fail("numeric", both[0], "a column not also in 'category'")
    if out["class_weight"] not in (None, "balanced"):
        _fail("class_weight", out["class_weight"], "'balanced' or none")
    for name in ("target", "x_key", "y_key", "id_column"):
        if out[name] is not None and not isinstance(out[name], str):
            _fail(name, out[name], "a name (string)")
        if out[name] == "":
            out[name] = None
    if out["impute"] is not None and out["impute"] not in IMPUTES:
        _fail("impute", out["impute"], "'mean' or 'median'")
    if out["task"] not in TASKS:
        _fail("task", out["task"], "one of " + ", ".join(TASKS))
    if out["scale"] not in SCALES:
        _fail("scale", out["scale"], "one of " + ", ".join(SCALES))
    if out["categorical"] not in CATEGORICAL:
        _fail("categorical", out["categorical"], "one of " + ", ".join(CATEGORICAL))


def _check_names(out: dict) -> None:
    """Names looked up by the engine, checked against the engine's own tables."""
    for name, table in (("activation", activations.ACTIVATIONS), ("loss", losses.LOSSES)):
        value = out[name]
        if not isinstance(value, str):
            _fail(name, value, "a name")
        if name == "loss" and value == "auto":
            continue
        if value.lower() not in table:
            extra = ["auto"] if name == "loss" else []
            _fail(name, value, "one of " + ", ".join(extra + sorted(table)))
        out[name] = value.lower()
    init = out["init"]
    if not isinstance(init, str) or (
        init != "auto" and init.lower() not in initializers.INITIALIZERS
    ):
        _fail("init", init, "'auto' or one of " + ", ".join(sorted(initializers.INITIALIZERS)))
    out["init"] = init.lower()
    opt = out["optimizer"]
    if not isinstance(opt, str) or opt.lower() not in STEP_OPTIMIZERS:
        _fail("optimizer", opt, "one of " + ", ".join(STEP_OPTIMIZERS))
    out["optimizer"] = opt.lower()


def _check_numbers(out: dict) -> None:
    if out["learning_rate"] is not None:
        lr = out["learning_rate"]
        if not is_real(lr) or not math.isfinite(lr) or lr <= 0:
            _fail("learning_rate", lr, "a positive number")
        out["learning_rate"] = float(lr)
    for name in ("beta1", "beta2"):
        if out[name] is not None:
            value = out[name]
            if not is_real(value) or not 0 <= value < 1:
                _fail(name, value, "a number in [0, 1)")
            out[name] = float(value)
    for name in ("decay", "l2", "l1"):
        value = out[name]
        if not is_real(value) or not math.isfinite(value) or value < 0:
            _fail(name, value, "a number >= 0")
        out[name] = float(value)
    _check_optimizer_numbers(out)
    if not is_real(out["dropout"]) or not 0 <= out["dropout"] < 1:
        _fail("dropout", out["dropout"], "a rate in [0, 1)")
    out["dropout"] = float(out["dropout"])
    for name in ("val_split", "test_split"):
        if not is_real(out[name]) or not 0 <= out[name] < 1:
            _fail(name, out[name], "a fraction in [0, 1)")
        out[name] = float(out[name])
    if out["val_split"] + out["test_split"] >= 1:
        raise ValueError(
            f"options 'val_split' + 'test_split' must be < 1 to leave training data; got "
            f"{out['val_split']} + {out['test_split']}"
        )


def _check_optimizer_numbers(out: dict) -> None:
    """Momentum, weight decay, clipping and the schedule (what ``make_optimizer`` reads)."""
    for name, low, expected in (
        ("momentum", 0.0, "a number >= 0"),
        ("weight_decay", 0.0, "a number >= 0"),
        ("clip_norm", None, "a number > 0"),
        ("clip_value", None, "a number > 0"),
    ):
        value = out[name]
        if value is None:
            continue
        if not is_real(value) or not math.isfinite(value) or value < (low or 0.0):
            _fail(name, value, expected)
        if low is None and value <= 0:
            _fail(name, value, expected)
        out[name] = float(value)
    if out["clip_norm"] is not None and out["clip_value"] is not None:
        raise ValueError(
            f"options 'clip_norm' and 'clip_value': set one, not both; got "
            f"{out['clip_norm']} and {out['clip_value']}"
        )
    if out["momentum"] is not None and out["optimizer"] != "sgd":
        _fail("momentum", out["momentum"], "left unset unless optimizer is 'sgd'")
    if not isinstance(out["decay_weights_only"], (bool, np.bool_)):
        _fail("decay_weights_only", out["decay_weights_only"], "true or false")
    out["decay_weights_only"] = bool(out["decay_weights_only"])
    _check_schedule(out)


def _check_schedule(out: dict) -> None:
    name = out["schedule"]
    if not isinstance(name, str) or name.lower() not in SCHEDULE_NAMES:
        _fail("schedule", name, "one of " + ", ".join(SCHEDULE_NAMES))
    out["schedule"] = name = name.lower()
    if not is_int(out["warmup"]) or out["warmup"] < 0:
        _fail("warmup", out["warmup"], "a number of epochs (integer >= 0)")
    out["warmup"] = int(out["warmup"])
    if name != "none" and out["decay"]:
        raise ValueError(
            f"options 'decay' and 'schedule' both set the learning rate over time: choose one; "
            f"got decay={out['decay']} and schedule={name!r}"
        )
    if out["warmup"] and name != "cosine":
        _fail("warmup", out["warmup"], "0 unless schedule is 'cosine'")
    epochs = out["epochs"]
    if name == "cosine" and is_int(epochs) and out["warmup"] >= epochs:
        _fail("warmup", out["warmup"], f"fewer than the {epochs} epochs")
    if name == "onecycle" and is_int(epochs) and epochs < 4:
        _fail("schedule", name, f"used with at least 4 epochs (got epochs={epochs})")


def _check_counts(out: dict) -> None:
    if not isinstance(out["batch_norm"], (bool, np.bool_)):
        _fail("batch_norm", out["batch_norm"], "true or false")
    out["batch_norm"] = bool(out["batch_norm"])
    if not is_int(out["epochs"]) or out["epochs"] < 1:
        _fail("epochs", out["epochs"], "an integer >= 1")
    if out["batch_size"] is not None and (not is_int(out["batch_size"]) or out["batch_size"] < 1):
        _fail("batch_size", out["batch_size"], "an integer >= 1 (or none for full batch)")
    if out["early_stopping"] is not None and (
        not is_int(out["early_stopping"]) or out["early_stopping"] < 0
    ):
        _fail("early_stopping", out["early_stopping"], "a patience in epochs (integer >= 0)")
    if not is_int(out["seed"]) or out["seed"] < 0:
        _fail("seed", out["seed"], "an integer >= 0")
    if out["dtype"] not in DTYPES:
        _fail("dtype", out["dtype"], "'float32' or 'float64'")
    if out["embedding_dim"] is not None and (
        not is_int(out["embedding_dim"]) or out["embedding_dim"] < 1
    ):
        _fail("embedding_dim", out["embedding_dim"], "an integer >= 1")
    for name in ("epochs", "batch_size", "early_stopping", "seed", "embedding_dim"):
        if out[name] is not None:
            out[name] = int(out[name])


__all__ = [
    "CATEGORICAL",
    "DATA_OPTIONS",
    "IMPUTES",
    "OPTION",
    "OPTIONS",
    "SCALES",
    "SCHEDULE_NAMES",
    "TASKS",
    "TRAIN_OPTIONS",
    "Option",
    "check_options",
    "parse_layers",
    "parse_names",
]
