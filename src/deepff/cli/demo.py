"""``deepff demo``: train on the digits with live progress and write a run directory.

Examples
--------
>>> from deepff.cli import build_parser
>>> args = build_parser().parse_args(["demo", "--epochs", "3"])
>>> args.out, args.epochs, args.seed
('runs/demo', 3, 0)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..runs.options import check_options
from ..runs.run import MODEL_FILE, train_run
from .common import PROG, nonnegative_int, positive_int, print_metrics
from .train import progress_callbacks

#: The demo's network: two hidden layers with dropout and batch normalization, Adam.
DEMO_OPTIONS = {
    "layers": [64, 32],
    "activation": "relu",
    "dropout": 0.1,
    "batch_norm": True,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 32,
    "val_split": 0.1,
    "test_split": 0.2,
    "scale": "standard",
}


def add_parser(commands, common, name="demo"):
    """Add ``deepff demo`` to the subcommands ``commands``.

    Examples
    --------
    >>> from deepff.cli import build_parser
    >>> build_parser().parse_args(["demo", "--seed", "2"]).seed
    2
    """
    demo = commands.add_parser(
        name, parents=[common], help="train on the digits with live progress, write a run"
    )
    demo.add_argument("--out", default="runs/demo", metavar="DIR", help="run directory (runs/demo)")
    demo.add_argument("--epochs", type=positive_int, default=30, metavar="N")
    demo.add_argument("--seed", type=nonnegative_int, default=0, metavar="N")
    demo.set_defaults(func=cmd_demo)
    return demo


def cmd_demo(args):
    """Run ``deepff demo``: train on the digits with live progress and write a run directory.

    Examples
    --------
    ``main`` calls it with the parsed arguments (it trains or reads files, so it is not run here):

    >>> from deepff.cli import build_parser
    >>> args = build_parser().parse_args(["demo", "--epochs", "3"])
    >>> args.func is cmd_demo
    True
    """
    out = Path(args.out)
    options = check_options({**DEMO_OPTIONS, "epochs": args.epochs, "seed": args.seed})
    print(
        "deepff demo: a deep feedforward network on scikit-learn's handwritten digits "
        "(1797 images of 8x8 pixels, 10 classes)\n",
        flush=True,
    )
    result = train_run("digits", options, out, callbacks=progress_callbacks(False))
    network = result["network"]
    print()
    network.summary()
    print("\nMetrics:")
    print_metrics(result["metrics"], sys.stdout)
    test = result["metrics"]["test"]
    print(f"\nTest accuracy: {test['accuracy']:.4f} (loss {test['loss']:.4f})")
    files = ", ".join(
        p.name for p in sorted(out.iterdir()) if p.is_file() and not p.name.startswith(".")
    )
    print(f"\nWrote {out}/: {files}")
    model = out / MODEL_FILE
    print("\nLook at the results:")
    deepff = command_name()
    for command in (
        f"{deepff} info {model}",
        f"{deepff} evaluate {model} digits",
        f"{deepff} predict {model} digits --out {out}/predictions.csv --proba",
        f"{deepff} plot {out}",
        f"{deepff} plot activations --out {out}/activations.png",
        f"{deepff} export {model} --onnx {out}/model.onnx",
        f"{deepff} report {out}                # {out}/report.html: all of it on one page",
        f"{deepff} explain                     # the paper's worked example, computed",
    ):
        print(f"  {command}")
    for figure in result["figures"]:
        print(f"  open {figure}")
    return 0


def command_name() -> str:
    """How to type this command again: ``deepff`` when it is on PATH, else the way it ran.

    Examples
    --------
    >>> command_name() in ("deepff", "python -m deepff") or command_name().endswith("deepff")
    True
    """
    script = sys.argv[0] if sys.argv else ""
    if Path(script).name == PROG:
        found = shutil.which(PROG)
        if found and Path(found).resolve() == Path(script).resolve():
            return PROG
        return script
    return PROG if shutil.which(PROG) else "python -m deepff"


__all__ = ["DEMO_OPTIONS", "add_parser", "cmd_demo", "command_name"]
