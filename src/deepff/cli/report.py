"""``deepff report``: one self-contained page (``report.html``) for a run or a tuning folder.

The page (``deepff.runs.report``) has the run's data and options, learning curves, metrics,
confusion matrix and figures, the model summary, the timings and the per-layer weight and
gradient norms; for a tuning folder, its trials and plots. Images are inline and nothing is
loaded from the network, so the file can be mailed or opened from disk.

Examples
--------
>>> from deepff.cli import build_parser
>>> args = build_parser().parse_args(["report", "runs/iris", "--out", "iris.html"])
>>> args.run, args.out
('runs/iris', 'iris.html')
"""

from __future__ import annotations

from pathlib import Path

from ..runs.report import write_report
from .common import CommandError


def add_parser(commands, common, name="report"):
    """Add ``deepff report`` to the subcommands ``commands``.

    Examples
    --------
    >>> from deepff.cli import build_parser
    >>> build_parser().parse_args(["report", "runs/x"]).out is None
    True
    """
    report = commands.add_parser(
        name,
        parents=[common],
        help="write RUN/report.html: one page with the run's results, offline",
        description="Write one self-contained HTML page (images inline, no network) for a "
        "run directory of deepff train or an output folder of deepff tune.",
    )
    report.add_argument("run", metavar="RUN_DIR")
    report.add_argument("--out", metavar="FILE.html", help="default: RUN_DIR/report.html")
    report.set_defaults(func=cmd_report)
    return report


def cmd_report(args):
    """Run ``deepff report``: write the page and print where it is.

    Examples
    --------
    >>> import tempfile
    >>> from deepff.cli import build_parser
    >>> folder = tempfile.mkdtemp()
    >>> cmd_report(build_parser().parse_args(["report", folder]))  # doctest: +ELLIPSIS
    Wrote .../report.html
    0
    """
    folder = Path(args.run)
    if not folder.is_dir():
        raise CommandError(f"{folder}: not a run directory (deepff train --out DIR makes one)")
    path = write_report(folder, args.out)
    print(f"Wrote {path}")
    return 0


__all__ = ["add_parser", "cmd_report"]
