"""Issue 18: ``deepff train --mlflow`` and ``--tensorboard``, read back with the real
libraries (``mlflow.get_run``, ``mlflow models predict``; TensorBoard's event reader)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from test_first_hour import FAST, messy_rows, write_messy

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
ENV.pop("MLFLOW_TRACKING_URI", None)


def deepff(*args, cwd):
    result = subprocess.run(
        [sys.executable, "-m", "deepff", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracked")
    data = write_messy(folder / "messy.csv")
    options = ["--impute", "median", "--numeric", "income", "--id-column", "customer_id"]
    result = deepff(
        "train", data, "--out", "r", *options, *FAST, "--mlflow", "--tensorboard", "tb", cwd=folder
    )
    return folder, result


def test_mlflow_run_holds_params_metrics_artifacts(tracked):
    folder, result = tracked
    assert "Logged to MLflow: run " in result.stderr
    run_id = result.stderr.split("Logged to MLflow: run ")[1].split()[0]
    assert (folder / "mlruns" / "mlflow.db").exists()  # the default: a local ./mlruns
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    run = mlflow.get_run(run_id)
    assert run.data.params["layers"] == "[8]" and run.data.params["id_column"] == "customer_id"
    assert run.data.params["data"].endswith("messy.csv")
    history = mlflow.MlflowClient().get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3]
    metrics = json.loads((folder / "r" / "metrics.json").read_text())
    assert run.data.metrics["final_test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    assert {"model.safetensors", "config.toml", "metrics.json", "figures"} <= names
    figures = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "figures")}
    assert "figures/learning_curves.png" in figures and "figures/calibration.png" in figures


def test_mlflow_models_predict_serves_the_model(tracked):
    folder, result = tracked
    run_id = result.stderr.split("Logged to MLflow: run ")[1].split()[0]
    rows = messy_rows()[:6]
    (folder / "in.csv").write_text("\n".join(",".join(r[:5]) for r in rows) + "\n")
    env = {**ENV, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"}
    served = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "mlflow"),
            "models",
            "predict",
            "-m",
            f"runs:/{run_id}/model",
            "-i",
            "in.csv",
            "-t",
            "csv",
            "--env-manager",
            "local",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert served.returncode == 0, served.stderr
    predictions = json.loads(served.stdout.strip().splitlines()[-1])["predictions"]
    deepff("predict", "r", "in.csv", "--out", "p.csv", "--proba", cwd=folder)
    expected = (folder / "p.csv").read_text().splitlines()[1:]
    assert [p["prediction"] for p in predictions] == [line.split(",")[1] for line in expected]
    assert predictions[0]["proba_yes"] == pytest.approx(float(expected[0].split(",")[3]), abs=1e-5)


def test_tensorboard_events(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder, _ = tracked
    events = EventAccumulator(str(folder / "tb")).Reload()
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("val_loss")] == [1, 2, 3]
    history = (folder / "r" / "history.csv").read_text().splitlines()
    last_loss = float(history[-1].split(",")[1])
    assert events.Scalars("loss")[-1].value == pytest.approx(last_loss, rel=1e-6)
