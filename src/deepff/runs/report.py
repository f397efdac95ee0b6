"""One self-contained page per run: ``deepff report RUN`` writes ``RUN/report.html``.

The page puts a finished run in front of a person: its options and data (columns and how
each was treated), the learning curves, the evaluation (metrics of every part, the confusion
matrix, the run's other figures), the model summary, the timings, the per-layer weight and
gradient norms recorded during training (the vanishing and exploding gradients of the
paper's §3.1), and, for a tuning study's folder, its trials. Everything is inline: images as
``data:`` URIs and one style sheet, no script and no request leaves the page, so it opens
from disk, in a mail attachment or on a machine with no network.

Examples
--------
>>> import os, tempfile
>>> from deepff.runs.report import write_report
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "metrics.json"), "w") as handle:
...     _ = handle.write('{"test": {"loss": 0.5, "examples": 3}}')
>>> path = write_report(folder)
>>> path.name, "<h2>Evaluation</h2>" in path.read_text()
('report.html', True)
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from pathlib import Path

REPORT_FILE = "report.html"

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
figure img { max-width: 34em; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.muted { color: #666; }
"""

#: Figures a run or a study may hold, in the order the page shows them, with captions.
FIGURES = {
    "learning_curves.png": "learning curves",
    "confusion_matrix.png": "confusion matrix",
    "roc_pr.png": "ROC and precision-recall curves",
    "calibration.png": "calibration curve",
    "residuals.png": "predicted vs actual, and residuals",
    "decision_boundary.png": "decision boundary",
    "gradient_norms.png": "weight and gradient norms per layer",
    "optimization_history.png": "optimization history",
    "parallel_coordinate.png": "parallel coordinates",
    "param_importances.png": "parameter importances",
    "intermediate_values.png": "intermediate values (pruning)",
}


def _escape(value) -> str:
    return html.escape(str(value), quote=True)


def _cell(value) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}" if math.isfinite(value) else str(value)
        return f'<td class="num">{text}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{_escape('' if value is None else value)}</td>"


def html_table(header, rows) -> str:
    """An HTML table of ``rows`` (sequences of cells) under ``header``, every cell escaped.

    Examples
    --------
    >>> print(html_table(["name", "value"], [["<b>", 0.123456]]).replace("<tr>", "\\n<tr>"))
    <table>
    <tr><th>name</th><th>value</th></tr>
    <tr><td>&lt;b&gt;</td><td class="num">0.1235</td></tr></table>
    """
    head = "".join(f"<th>{_escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    head = f"<tr>{head}</tr>" if any(header) else ""  # a table of pairs needs no header
    return f"<table>{head}{body}</table>"


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_escape(caption)}</figcaption></figure>"
    )


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_csv(path: Path) -> list:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))
    except OSError:
        return []


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in str(text) else value


def _model_section(folder: Path) -> tuple[str, dict]:
    """The model summary and the run's metadata, when the folder holds a model file."""
    from .run import MODEL_FILE, load_model  # the one reader of a run's model file

    path = folder / MODEL_FILE
    if not path.is_file():
        return "", {}
    try:
        network, _, metadata = load_model(path)
    except (OSError, ValueError) as error:
        return f'<p class="muted">The model file could not be read: {_escape(error)}</p>', {}
    lines = []
    network.summary(print_fn=lines.append)
    section = f"<h2>Model</h2><pre>{_escape(chr(10).join(lines))}</pre>"
    return section, dict(metadata or {})


def _options_section(folder: Path) -> str:
    path = folder / "config.toml"
    if not path.is_file():
        path = folder / "best_params.toml"
    if not path.is_file():
        return ""
    from ..io.toml import read_toml

    try:
        options = read_toml(path)
    except (OSError, ValueError) as error:
        return f'<p class="muted">{_escape(path.name)} could not be read: {_escape(error)}</p>'
    rows = [
        (key, json.dumps(value) if isinstance(value, list) else value)
        for key, value in _flatten(options)
    ]
    return f"<h2>Options</h2><p class='muted'>from {_escape(path.name)}</p>" + html_table(
        ["option", "value"], rows
    )


def _flatten(values: dict, prefix: str = ""):
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _data_section(metadata: dict) -> str:
    """The data a run saw: source, examples per part, and how each column was treated."""
    run = metadata.get("run") or {}
    data = run.get("data") or {}
    if not data:
        return ""
    examples = data.get("examples") or {}
    rows = [
        ("data", data.get("name")),
        ("source", data.get("source")),
        ("task", run.get("task")),
        ("target", data.get("target")),
    ]
    rows += [(f"{part} examples", count) for part, count in examples.items()]
    rows += [
        ("epochs trained", run.get("epochs_trained")),
        ("stopped early", run.get("stopped_early")),
    ]
    section = "<h2>Data</h2>" + html_table(["", ""], [r for r in rows if r[1] is not None])
    columns = _column_rows(metadata.get("preprocessor") or {}, data.get("feature_names"))
    if columns:
        section += "<h3>Columns</h3>" + html_table(["column", "treated as"], columns)
    return section


def _column_rows(preprocessor: dict, feature_names=None) -> list:
    categories = preprocessor.get("categories") or {}
    scale = preprocessor.get("scale", "standard")
    shape = preprocessor.get("input_shape") or []
    if not preprocessor.get("columns") and feature_names and len(shape) == 1:
        if len(feature_names) == shape[0]:
            return [(name, f"numeric, scaled ({scale})") for name in feature_names]
    rows = []
    for name in preprocessor.get("columns") or []:
        levels = categories.get(name) if isinstance(categories, dict) else None
        if levels:
            rows.append((name, f"category, one-hot ({len(levels)} levels)"))
        else:
            rows.append((name, f"numeric, scaled ({scale})"))
    if not rows and preprocessor.get("input_shape"):
        shape = "x".join(str(n) for n in preprocessor["input_shape"])
        rows.append(("(array)", f"{shape} values per example, flattened and scaled"))
    return rows


def _evaluation_section(folder: Path) -> str:
    metrics = _read_json(folder / "metrics.json")
    section = "<h2>Evaluation</h2>"
    if isinstance(metrics, dict):
        names = sorted({k for v in metrics.values() if isinstance(v, dict) for k in v})
        names = [n for n in names if n != "examples"]
        rows = [
            [part, (values or {}).get("examples"), *((values or {}).get(n) for n in names)]
            for part, values in metrics.items()
            if isinstance(values, dict)
        ]
        section += html_table(["part", "examples", *names], rows)
    confusion = _read_csv(folder / "confusion_matrix.csv")
    if len(confusion) > 1:
        body = [[row[0], *(_number(v) for v in row[1:])] for row in confusion[1:]]
        section += "<h3>Confusion matrix</h3>" + html_table(confusion[0], body)
    return section


def _history_section(folder: Path) -> str:
    from .run import HISTORY_FILE, HistoryLog  # complete rows only, regular files only

    rows = HistoryLog(folder / HISTORY_FILE).rows()
    if not rows:
        return ""
    header, body = list(rows[0]), [list(row.values()) for row in rows]
    shown = body if len(body) <= 12 else [*body[:5], ["..."] * len(header), *body[-5:]]
    table = html_table(header, [[_number(v) for v in row] for row in shown])
    return "<h2>Training</h2>" + _timings(folder) + table


def _trace(folder: Path) -> dict:
    from .run import TRACE_FILE, TraceLog

    return TraceLog(folder / TRACE_FILE).history()


def _timings(folder: Path) -> str:
    seconds = _trace(folder).get("seconds")
    if not seconds:
        return ""
    ordered = sorted(seconds)
    return (
        f"<p>Training took {sum(seconds):.3g} s over {len(seconds)} epochs: the first "
        f"{seconds[0]:.3g} s (it pays for start-up), the median {ordered[len(ordered) // 2]:.3g}"
        f" s, the slowest {ordered[-1]:.3g} s (trace.csv).</p>"
    )


def _norms_section(folder: Path) -> str:
    trace = _trace(folder)
    layers = sorted(int(k[1:]) for k in trace if k.startswith("W") and k[1:].isdigit())
    if not layers:
        return ""
    rows = []
    for layer in layers:
        W, dW = trace[f"W{layer}"], trace[f"dW{layer}"]
        rows.append([f"layer {layer}", W[0], W[-1], dW[0], dW[-1], max(dW)])
    header = ["", "||W|| first", "||W|| last", "||dW|| first", "||dW|| last", "||dW|| max"]
    return (
        "<h2>Weight and gradient norms</h2><p>Per Dense layer at each epoch's end "
        "(trace.csv; dW of the epoch's last batch): gradients that shrink layer after layer "
        "towards the input vanish, gradients that grow explode (the paper's §3.1).</p>"
        + html_table(header, rows)
    )


def _trials_section(folder: Path) -> str:
    rows = _read_csv(folder / "trials.csv")
    if len(rows) < 2:
        return ""
    body = [[_number(v) for v in row] for row in rows[1:]]
    return f"<h2>Tuning trials</h2><p>{len(body)} trials (trials.csv)</p>" + html_table(
        rows[0], body
    )


def _figures_section(folder: Path) -> str:
    known = [(folder / name, caption) for name, caption in FIGURES.items()]
    others = sorted(p for p in folder.glob("*.png") if p.name not in FIGURES)
    figures = [_figure(path, caption) for path, caption in known if path.is_file()]
    figures += [_figure(path, path.stem.replace("_", " ")) for path in others]
    return "<h2>Figures</h2>" + "".join(figures) if figures else ""


def render_report(folder) -> str:
    """The report page of a run (or tuning) folder, as one HTML string."""
    folder = Path(folder)
    model, metadata = _model_section(folder)
    name = ((metadata.get("run") or {}).get("data") or {}).get("name") or folder.name
    parts = [
        _data_section(metadata),
        _options_section(folder),
        _history_section(folder),
        _evaluation_section(folder),
        _figures_section(folder),
        model,
        _norms_section(folder),
        _trials_section(folder),
    ]
    title = f"deepff run: {name}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_escape(title)}'
        f"</title><style>{_STYLE}</style></head><body><h1>{_escape(title)}</h1>"
        f"<p class='muted'>{_escape(folder.resolve())}</p>{''.join(parts)}</body></html>\n"
    )


def write_report(folder, out=None) -> Path:
    """Write ``report.html`` (or ``out``) for a run or tuning folder; return its path.

    The page is written atomically: a kill leaves the old report or the new one.
    """
    from ..serialization import write_atomically

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"report: {folder} is not a run directory")
    path = Path(out) if out is not None else folder / REPORT_FILE
    text = render_report(folder)
    write_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
    return path


__all__ = ["FIGURES", "REPORT_FILE", "html_table", "render_report", "write_report"]
