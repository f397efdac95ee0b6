"""``deepff report`` and ``deepff explain`` as a user runs them: files, pages in a headless
browser, printed values, and one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _browser import browser_page, outside_requests
from deepff.explain import explain, paper_examples, paper_network
from deepff.runs.run import TRACE_FILE, TraceLog

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def deepff(*args, cwd, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "deepff", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("matplotlib")
    folder = tmp_path_factory.mktemp("report")
    deepff("train", "iris", "--epochs", "8", "--out", folder / "iris", "-q", "--report", cwd=folder)
    return folder / "iris"


def test_train_report_writes_one_self_contained_page(run):
    page = (run / "report.html").read_text(encoding="utf-8")
    for heading in (
        "Data",
        "Options",
        "Training",
        "Evaluation",
        "Figures",
        "Model",
        "Weight and gradient norms",
    ):
        assert f"<h2>{heading}</h2>" in page, heading
    figures = sorted(p.name for p in run.glob("*.png"))
    assert {"learning_curves.png", "confusion_matrix.png", "gradient_norms.png"} <= set(figures)
    assert page.count("data:image/png;base64,") == len(figures)
    # Nothing outside the file: no links, scripts or sources pointing anywhere.
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "<script" not in page
    assert "sepal length (cm)" in page  # the columns and how each was treated
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"{metrics['test']['accuracy']:.4g}" in page


def test_the_trace_has_a_row_per_epoch_with_every_layers_norms(run):
    trace = TraceLog(run / TRACE_FILE).history()
    assert trace["epoch"] == list(range(1, 9))
    assert [k for k in trace if k != "epoch"] == ["seconds", "W1", "dW1", "W2", "dW2", "W3", "dW3"]
    assert all(value > 0 for key in ("W1", "dW3") for value in trace[key])


def test_the_report_loads_in_a_browser_with_its_figures_and_nothing_else(run, tmp_path):
    with browser_page() as page:
        page.goto((run / "report.html").as_uri())
        decoded = page.evaluate(
            "[...document.images].map(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)"
        )
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        outside, errors = outside_requests(page), page.errors
    assert decoded and all(decoded), decoded
    assert outside == []
    assert errors == []
    from PIL import Image

    pixels = np.asarray(Image.open(tmp_path / "report.png").convert("L"), dtype=float)
    assert pixels.std() > 10  # text and figures, not a blank page


def test_report_of_a_tuning_folder_shows_its_trials_and_plots(tmp_path):
    pytest.importorskip("optuna")
    space = tmp_path / "space.toml"
    space.write_text(
        "epochs = 2\nlayers = [8]\n\n[params]\nlearning_rate = { values = [0.003, 0.03] }\n"
    )
    deepff(
        "tune",
        "iris",
        "--space",
        space,
        "--sampler",
        "grid",
        "--out",
        tmp_path / "study",
        "--quiet",
        cwd=tmp_path,
    )
    result = deepff("report", tmp_path / "study", cwd=tmp_path)
    assert "report.html" in result.stdout
    page = (tmp_path / "study" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Tuning trials</h2>" in page and "2 trials" in page
    assert page.count("data:image/png;base64,") == len(list((tmp_path / "study").glob("*.png")))


def test_report_mistakes_are_one_line(tmp_path):
    result = deepff("report", tmp_path / "missing", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a run directory" in result.stderr


def test_hostile_text_in_a_run_is_escaped(tmp_path):
    from deepff.runs.report import render_report

    (tmp_path / "confusion_matrix.csv").write_text(
        'true\\predicted,<script>alert(1)</script>\n"<img src=x onerror=alert(1)>",1\n'
    )
    page = render_report(tmp_path)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_explain_prints_the_engines_values(tmp_path):
    result = deepff(
        "explain",
        "--layers",
        "4,2,1",
        "--activation",
        "tanh",
        "--examples",
        "3",
        "--optimizer",
        "adam",
        "--seed",
        "2",
        cwd=tmp_path,
    )
    network = paper_network((4, 2, 1), ("tanh", "tanh", "sigmoid"), optimizer="adam", seed=2)
    X, Y = paper_examples(network, m=3, seed=2)
    expected = explain(network, X, Y).to_text()
    assert result.stdout.strip() == expected.strip()
    A = X
    for layer in network.layers:
        A = layer.forward(A, training=False)
    printed = [line for line in result.stdout.splitlines() if line.startswith("(12) a[3]_1(")]
    values = [float(line.rsplit("=", 1)[1]) for line in printed]
    np.testing.assert_allclose(values, A[:, 0], rtol=1e-5)


def test_explain_json_and_html(tmp_path):
    result = deepff("explain", "--json", "--html", tmp_path / "fig1.html", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert data["shapes"]["W[1]"] == [5, 3] and data["shapes"]["W[3]"] == [1, 3]
    assert all(error < 1e-8 for error in data["checks"].values() if error is not None)
    page = (tmp_path / "fig1.html").read_text(encoding="utf-8")
    assert "<h2>backward</h2>" in page
    if pytest.importorskip("latex2mathml"):
        assert "<math" in page


@pytest.mark.parametrize(
    "args, message",
    [
        (["--layers", "0"], "layers"),
        (["--activation", "nope"], "nope"),
        (["--optimizer", "nope"], "nope"),
        (["--examples", "0"], "--examples"),
    ],
)
def test_explain_mistakes_are_one_line(tmp_path, args, message):
    result = deepff("explain", *args, cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_demo_page_path_is_where_the_docs_say(tmp_path):
    # docs/guides/cli.md shows `deepff explain --html fig1.html`: the file lands there.
    deepff("explain", "--html", "fig1.html", cwd=tmp_path)
    assert Path(tmp_path / "fig1.html").is_file()
