"""What the example scripts share: arguments, data loading, tables, figures, statistics.

Not part of the library: a helper for ``examples/*.py``, imported from the script's folder.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import deepff as dff

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def parse_args(name: str, description: str, default_seeds: int) -> argparse.Namespace:
    """The arguments every example takes: --data, --out, --seeds, --quick."""
    parser = argparse.ArgumentParser(prog=f"python examples/{name}.py", description=description)
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("DEEPFF_DATA", DEFAULT_DATA)),
        help="folder holding the data files (default: ../shared/data beside the project, "
        "or $DEEPFF_DATA)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"output folder (default: runs/{name})"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help=f"seeds per configuration (default: {default_seeds}; 1 with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: a few epochs, one seed, the same files (numbers meaningless)",
    )
    args = parser.parse_args()
    if args.seeds is None:
        args.seeds = 1 if args.quick else default_seeds
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1; got {args.seeds}")
    if args.out is None:
        args.out = Path("runs") / name
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.data.is_dir():
        parser.error(
            f"--data {args.data} is not a folder. The examples read the paper's data sets "
            "(cat vs non-cat and SIGNS, from the deeplearning.ai courses; the files and their "
            "checksums are listed in docs/applications.md): put them in one folder and pass "
            "--data DIR or set DEEPFF_DATA=DIR"
        )
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- data -------------------------------------------------------------------------------------


def read_h5(path: Path, *names):
    import h5py

    with h5py.File(path, "r") as f:
        return tuple(f[name][()] for name in names)


def flatten(images: np.ndarray, dtype=np.float64) -> np.ndarray:
    """(m, h, w, c) uint8 images to (m, h*w*c) rows in [0, 1], the course's preprocessing."""
    return images.reshape(images.shape[0], -1).astype(dtype) / 255.0


# --- statistics and tables --------------------------------------------------------------------


def spread(values) -> dict:
    """Mean, sample standard deviation, median, min and max of a list of numbers."""
    values = [float(v) for v in values]
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def _cell(column: str, value) -> str:
    if isinstance(value, float):
        metric = any(word in column for word in ("acc", "loss", "cost"))
        return f"{value:.4f}" if metric else f"{value:g}"
    return "" if value is None else str(value)


def markdown(rows: list[dict], title: str | None = None, note: str = "") -> str:
    """A Markdown table of rows (dicts with the same keys), with an optional title and note."""
    columns = list(rows[0])
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_cell(c, row[c]) for c in columns) + " |")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def write_table(rows: list[dict], path: Path, title: str | None = None, note: str = "") -> str:
    """Write rows to ``path``.csv and ``path``.md; return the Markdown."""
    path = Path(path)
    with open(path.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    text = markdown(rows, title, note)
    path.with_suffix(".md").write_text(text)
    return text


def environment() -> str:
    """One line naming the machine and library versions, for the results file."""
    return (
        f"deepff {dff.__version__}, NumPy {np.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()} ({os.cpu_count()} CPUs)"
    )


# --- figures ------------------------------------------------------------------------------


def confusion(y_true, y_pred, classes) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        matrix[index[t], index[p]] += 1
    return matrix


def mislabeled_grid(images, y_true, y_pred, names, path: Path, title: str, limit: int = 24):
    """A grid of the misclassified images, each titled 'true -> predicted'."""
    from matplotlib.figure import Figure

    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))[:limit]
    columns = 6
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    fig = Figure(figsize=(1.9 * columns, 2.1 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, wrong, strict=False):
        ax.imshow(images[i])
        ax.set_title(f"{names[y_true[i]]} -> {names[y_pred[i]]}", fontsize=8)
    if len(wrong) == 0:
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(
        f"{title}: {len(np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred)))} "
        "mislabeled (true -> predicted)"
    )
    fig.savefig(path, dpi=100)
    return fig


def seed_curves(
    histories: dict, path: Path, key: str = "loss", title: str = "", log_y=False, log_x=False
):
    """Training (and validation) curves of several configurations, one line per seed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    colors = [f"C{i}" for i in range(10)]
    for color, (label, runs) in zip(colors * 3, histories.items(), strict=False):
        for j, history in enumerate(runs):
            values = history.get(key)
            if not values:
                continue
            ax.plot(
                range(1, len(values) + 1),
                values,
                color=color,
                alpha=0.6,
                label=label if j == 0 else None,
                linewidth=1,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    if log_y:
        ax.set_yscale("log")
    if log_x:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.savefig(path, dpi=100)
    return fig
