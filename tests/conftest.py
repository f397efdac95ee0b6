"""Shared test settings.

The engine keeps small fits and predictions to NumPy (``deepff._fused.sized``: below
``MIN_WORK`` multiply-adds loading the numba kernels costs more than they win). Tests train
small networks and compare the kernels with the NumPy path, so they run with the kernels on
regardless of size, as the engine did before; ``tests/test_fused.py`` tests the rule itself.
"""

import pytest

from deepff import _fused


@pytest.fixture(autouse=True)
def _kernels_regardless_of_size(monkeypatch):
    monkeypatch.setattr(_fused, "MIN_WORK", 0)
