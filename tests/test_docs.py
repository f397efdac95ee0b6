"""The documentation site builds with ``mkdocs build --strict`` and works offline and from disk.

A broken link, a missing page or an API reference to a name that does not exist fails the
build, as ``make docs`` would. The equations are MathML made at build time, so a headless
browser opening a page from ``file://`` finds them rendered, with no request leaving the
machine. Every file the docs name exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _browser import browser_page, outside_requests

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"]
    command += ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(out)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    )
    return out


def test_mkdocs_build_strict(site):
    for page in ("index.html", "computations.html", "architecture.html", "api/network.html"):
        assert (site / page).is_file(), page
    # mkdocstrings rendered the docstrings, not just the page titles.
    assert "cost_and_gradients" in (site / "api" / "network.html").read_text()


def test_equations_are_mathml_with_no_tex_left(site):
    for page in ("computations.html", "costs-and-activations.html", "optimizers.html"):
        text = (site / page).read_text(encoding="utf-8")
        assert text.count("<math") >= 5, page
        body = re.sub(r"<script.*?</script>", "", text, flags=re.S)
        assert "\\[" not in body and "\\(" not in body, f"raw TeX left in {page}"
        assert "mathjax" not in text.lower(), page


def test_links_work_from_disk(site):
    # use_directory_urls: false makes every link name a file, which file:// can open.
    links = re.findall(r'href="([^"#:]+)"', (site / "index.html").read_text(encoding="utf-8"))
    pages = [link for link in links if link.endswith(".html")]
    assert pages and all((site / link).is_file() for link in pages), pages


def test_a_browser_renders_the_computations_offline(site):
    with browser_page() as page:
        page.goto((site / "computations.html").as_uri())
        heights = page.evaluate(
            "[...document.querySelectorAll('math')].map(m => m.getBoundingClientRect().height)"
        )
        text = page.inner_text("article")
        outside, errors = outside_requests(page), page.errors
    assert len(heights) >= 5 and min(heights) > 10, heights  # laid out as formulas
    assert "\\[" not in text and "\\frac" not in text
    assert outside == []
    assert errors == []


NAMED_FILE = re.compile(
    r"`((?:examples|benchmarks|tests|docs|src|mkdocs_hooks)/[\w./-]+\.(?:py|md|toml|json|csv))`"
)


def test_every_file_the_docs_name_exists():
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    texts += [ROOT / "examples" / "README.md", ROOT / "benchmarks" / "README.md"]
    missing = []
    for path in texts:
        for name in NAMED_FILE.findall(path.read_text(encoding="utf-8")):
            if not (ROOT / name).exists() and not (ROOT / "src" / "deepff" / name).exists():
                missing.append(f"{path.relative_to(ROOT)} names {name}")
    assert not missing, "\n".join(missing)
