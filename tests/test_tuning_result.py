"""The refit of a study's best configuration scores its parts as a run does.

``deepff.tuning.result.refit`` kept its own copy of ``Run.metrics`` (``Network.evaluate``
per part): it wrote inf where a run writes null, and let NumPy's overflow warnings out.
Both now call ``deepff.runs.evaluation.split_metrics``.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

from deepff.runs import evaluation
from deepff.runs.run import load_model
from deepff.tuning.data import load_dataset, prepare_data, prepare_fold
from deepff.tuning.result import TuningResult, refit, write_outputs
from deepff.tuning.space import load_space


def _study(regression=True):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = 3 * X[:, 0] if regression else (X[:, 0] > 0).astype(int)
    space = load_space({"epochs": 3, "layers": [8], "params": {"units": {"values": [8]}}})
    data = prepare_data(load_dataset((X, y), space.fixed), space, cv=None)
    result = TuningResult(
        study_name="s", storage="memory", metric="r2" if regression else "accuracy",
        direction="maximize", sampler="grid", trials=[], param_names=["units"],
        best_params={"units": 8}, best_options=space.options({"units": 8}), best_value=0.5,
        best_trial=0, n_new_trials=1,
    )  # fmt: skip
    return space, data, result


@pytest.mark.parametrize("regression", [True, False])
def test_the_refit_scores_what_split_metrics_scores(monkeypatch, regression):
    _, data, result = _study(regression)
    calls = []
    owner = evaluation.split_metrics

    def spy(network, prepared):
        calls.append(prepared)
        return owner(network, prepared)

    monkeypatch.setattr(evaluation, "split_metrics", spy)
    refit(result, data, epochs=2)
    (prepared,) = calls  # the owner, once, on the refit's own rows
    fit = np.concatenate([data.train, data.val])
    again = prepare_fold(data, result.best_options, fit, None, data.test)
    assert np.array_equal(prepared.X_test, again.X_test) and prepared.X_val is None
    assert result.metrics == owner(result.model, again)
    assert result.metrics["val"] is None
    assert result.metrics["train"]["examples"] == len(fit)
    assert result.test_scores == {
        k: v for k, v in result.metrics["test"].items() if k != "examples"
    }


def test_scores_that_are_not_finite_are_null_as_in_a_run(tmp_path):
    # Input: a test row whose feature is 3e38, so the retrained network's outputs on the
    # test rows overflow. A run writes such scores as null (None); the refit wrote inf and
    # NumPy's warnings. Now: None in the result and the model file, n/a where printed.
    space, data, result = _study()
    X = np.asarray(data.dataset.X).copy()
    X[data.test[0], 0] = 3e38
    data.dataset = replace(data.dataset, X=X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        refit(result, data, epochs=2)
    assert set(result.test_scores.values()) == {None}
    assert all(np.isfinite(v) for k, v in result.metrics["train"].items())
    assert "on the test rows: loss n/a, mse n/a, mae n/a, r2 n/a" in result.summary()
    result.out = tmp_path
    write_outputs(result, None, space, data, None, plots=False, reported=False)
    _, _, metadata = load_model(tmp_path / "model.safetensors")
    assert metadata["metrics"]["test"]["loss"] is None
    assert metadata["metrics"]["train"] == result.metrics["train"]
    assert "loss = n/a" in (tmp_path / "best_params.toml").read_text()
