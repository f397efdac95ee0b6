"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(blocks()) >= 2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for code in blocks():
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["net"].evaluate(namespace["X_test"], namespace["y_test"])["accuracy"] > 0.9
    assert (tmp_path / "digits.safetensors").exists()
    assert namespace["clf"].score(namespace["X_test"], namespace["y_test"]) > 0.9
