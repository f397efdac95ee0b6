"""Issue 18: ``deepff tune`` speaks training's options, rounds what it prints and says when
the validation rows are too few to tell trials apart."""

from __future__ import annotations

import json
import re

from deepff.cli import main
from test_first_hour import write_messy

DATA = [
    "--target",
    "label",
    "--impute",
    "median",
    "--id-column",
    "customer_id",
    "--numeric",
    "income",
]


def test_tune_takes_the_data_options_and_rounds(tmp_path, capsys):
    data = write_messy(tmp_path / "messy.csv", n=80)
    space = tmp_path / "space.toml"
    space.write_text("epochs = 3\n[params]\ndropout = { low = 0.0, high = 0.5, step = 0.1 }\n")
    status = main(
        [
            "tune",
            str(data),
            "--space",
            str(space),
            *DATA,
            "--trials",
            "6",
            "--seed",
            "0",
            "--out",
            str(tmp_path / "t"),
            "--no-plots",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.startswith("trial ")]
    assert len(lines) == 6
    assert not re.search(r"\d\.\d{6,}", "\n".join(lines)), lines  # no 0.30000000000000004
    assert all(re.search(r"dropout=0(\.\d)?\b", line) for line in lines), lines
    # The validation split of 80 rows is 8 rows: trials tie, and the command says so.
    assert "trials tie at the best validation accuracy" in out and "--cv 5" in out
    assert all(len(line) <= 80 for line in out.splitlines() if str(tmp_path) not in line)


def test_tune_without_a_space_file_and_json(tmp_path, capsys):
    data = write_messy(tmp_path / "messy.csv", n=80)
    status = main(
        [
            "tune",
            str(data),
            *DATA,
            "--trials",
            "2",
            "--json",
            "--quiet",
            "--out",
            str(tmp_path / "t"),
            "--no-plots",
            "--no-refit",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    outcome = json.loads(out.strip().splitlines()[-1])
    assert outcome["complete"] == 2 and outcome["metric"] == "accuracy"
    assert set(outcome["best_params"]) == {"learning_rate", "layers", "dropout"}
