"""The documentation site builds with ``mkdocs build --strict``: a broken link, a missing page
or an API reference to a name that does not exist fails the test suite, as ``make docs`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    )
    for page in ("index.html", "computations/index.html", "api/network/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    # mkdocstrings rendered the docstrings, not just the page titles.
    network_page = (tmp_path / "site" / "api" / "network" / "index.html").read_text()
    assert "cost_and_gradients" in network_page
