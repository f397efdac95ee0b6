"""MkDocs hook: the docs' TeX becomes MathML when the site is built.

pymdownx.arithmatex (generic mode) leaves ``\\(...\\)`` and ``\\[...\\]`` in spans and divs
with the class ``arithmatex``; this hook converts each to MathML with latex2mathml, so the
pages render in any current browser with no script and no network, also opened from disk.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*'
    r"(?P<open>\\\(|\\\[)(?P<tex>.*?)(?:\\\)|\\\])"
    r"\s*</(?P=tag)>",
    re.S,
)


def _mathml(match: re.Match) -> str:
    display = "block" if match["open"] == "\\[" else "inline"
    mathml = convert(html.unescape(match["tex"]), display=display)
    return f'<{match["tag"]} class="arithmatex">{mathml}</{match["tag"]}>'


def on_page_content(html_text: str, **kwargs) -> str:
    """Replace every arithmatex span and div of a page by its MathML."""
    return _MATH.sub(_mathml, html_text)
