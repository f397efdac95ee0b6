"""Dask (issue 16, part 3): the estimators inside dask-ml on a real distributed cluster of
two worker processes, and batch prediction of a saved run over a Dask DataFrame."""

import numpy as np
import pytest

pytest.importorskip("dask_ml")
distributed = pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402
from dask_ml.wrappers import Incremental, ParallelPostFit  # noqa: E402

from deepff.cli import main  # noqa: E402
from deepff.estimators import DNNClassifier  # noqa: E402
from deepff.estimators import dask as deepff_dask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def _blobs(m=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def test_incremental_trains_from_a_dask_array_and_a_dataframe(client):
    X, y = _blobs()
    dX, dy = da.from_array(X, chunks=(250, 4)), da.from_array(y, chunks=250)
    model = Incremental(
        DNNClassifier((16,), learning_rate_init=0.01, random_state=0), scoring="accuracy"
    )
    model.fit(dX, dy, classes=[0, 1])
    assert model.estimator_.n_iter_ == 8  # one partial_fit per block
    assert model.score(dX, dy) > 0.9
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")), npartitions=4)
    labels = dd.from_pandas(pd.Series(y), npartitions=4)
    again = Incremental(DNNClassifier((16,), learning_rate_init=0.01, random_state=0))
    again.fit(frame, labels, classes=[0, 1])
    assert (again.predict(dX).compute() == y).mean() > 0.9


def test_parallel_post_fit_predicts_by_partition(client):
    X, y = _blobs()
    model = ParallelPostFit(DNNClassifier((16,), random_state=0, max_iter=30)).fit(X, y)
    dX = da.from_array(X, chunks=(500, 4))
    predicted = model.predict(dX)
    assert predicted.chunks[0] == (500, 500, 500, 500)
    np.testing.assert_array_equal(predicted.compute(), model.estimator.predict(X))
    np.testing.assert_allclose(model.predict_proba(dX).compute(), model.estimator.predict_proba(X))


def test_a_saved_run_predicts_a_dask_dataframe_loading_the_model_once_per_worker(client, tmp_path):
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {
            "x": rng.normal(size=400),
            "colour": rng.choice(["red", "green", "blue"], 400),
        }
    )
    table["label"] = np.where((table["x"] > 0) ^ (table["colour"] == "red"), "yes", "no")
    table.to_csv(tmp_path / "t.csv", index=False)
    run = tmp_path / "run"
    main(["train", str(tmp_path / "t.csv"), "--out", str(run), "--epochs", "20", "--seed", "0"])
    inputs = table.drop(columns="label")
    frame = dd.from_pandas(inputs, npartitions=8)
    predicted = deepff_dask.predict_dataframe(frame, run, proba=True).compute()
    network, pre, _ = deepff_dask.cached_model(run)
    expected = network.predict(pre.transform(inputs))
    np.testing.assert_array_equal(predicted["prediction"].to_numpy(), expected)
    assert list(predicted.columns) == ["prediction", "proba_no", "proba_yes"]
    loads = client.run(lambda: deepff_dask.LOADS[0])
    assert sorted(loads.values()) == [1, 1]  # eight partitions, one load per worker
