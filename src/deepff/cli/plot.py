"""``deepff plot``: (re)draw a run directory's figures, or the paper's Fig. 2.

Examples
--------
>>> from deepff.cli import build_parser
>>> args = build_parser().parse_args(["plot", "activations", "--out", "fig2.png"])
>>> args.target, args.out
('activations', 'fig2.png')
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..io import plots
from ..runs.prepare import load_run_data, prepare
from ..runs.run import (
    HISTORY_FILE,
    MODEL_FILE,
    HistoryLog,
    draw_figures,
    load_model,
)
from .common import PROG, CommandError, one_line


def add_parser(commands, common, name="plot"):
    """Add ``deepff plot`` to the subcommands ``commands``.

    Examples
    --------
    >>> from deepff.cli import build_parser
    >>> build_parser().parse_args(["plot", "runs/iris"]).target
    'runs/iris'
    """
    plot = commands.add_parser(
        name,
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
    return plot


def cmd_plot(args):
    """Run ``deepff plot``: draw a run directory's figures, or the activation functions.

    Examples
    --------
    A run directory holding only its ``history.csv`` gets its learning curves drawn:

    >>> import os, tempfile
    >>> from deepff.cli import build_parser
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "history.csv"), "w") as handle:
    ...     _ = handle.write("epoch,loss,val_loss\\n1,0.9,1.0\\n2,0.5,0.7\\n")
    >>> cmd_plot(build_parser().parse_args(["plot", run]))
    Wrote ...learning_curves.png
    0
    >>> os.path.exists(os.path.join(run, "learning_curves.png"))
    True
    """
    target = Path(args.target)
    if args.target == "activations" and not target.is_dir():
        out = Path(args.out or "activations.png")
        plots.activations(out, c=0.05)
        print(f"Wrote {out}")
        return 0
    if not target.is_dir():
        raise CommandError(f"{target}: not a run directory (or use: deepff plot activations)")
    model_path = target / MODEL_FILE
    if not model_path.exists() and not (target / HISTORY_FILE).exists():
        raise CommandError(f"{target}: not a run directory (no {MODEL_FILE}, no {HISTORY_FILE})")
    out = Path(args.out) if args.out else target
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if model_path.exists():
        written = _redraw(target, out, model_path)
    elif (target / HISTORY_FILE).exists():
        history = HistoryLog(target / HISTORY_FILE).history()
        plots.learning_curves(history, out / "learning_curves.png")
        written = [out / "learning_curves.png"]
    for path in written:
        print(f"Wrote {path}")
    return 0


def _redraw(target: Path, out: Path, model_path: Path) -> list:
    """A run's figures from its model file, with its data prepared again when it loads."""
    network, pre, metadata = load_model(model_path)
    run = metadata.get("run")
    if not (run and run.get("options")):
        return []
    prepared = data = None
    try:
        info, options = run["data"], run["options"]
        data = load_run_data(info["source"], options)
        prepared = prepare(data, options)
    except (ValueError, OSError) as error:
        print(f"{PROG}: note: {one_line(error)}; drawing the learning curves only", file=sys.stderr)
    if (target / HISTORY_FILE).exists() and out != target:
        shutil.copyfile(target / HISTORY_FILE, out / HISTORY_FILE)
    try:
        return draw_figures(out, network, prepared, pre, run, data)
    finally:
        if data is not None:
            data.close()


__all__ = ["add_parser", "cmd_plot"]
