"""Self-contained HTML pages with equations: ``deepff explain --html``.

Equations are written as TeX and turned into MathML here, when the page is made
(latex2mathml, the ``explain`` extra), so a browser shows them with no script and no
network. Without latex2mathml the TeX is shown as code.

Examples
--------
>>> "<math" in tex_to_html(r"\\frac{1}{m}") or "<code" in tex_to_html(r"\\frac{1}{m}")
True
"""

from __future__ import annotations

import html

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222;
       padding: 0 1em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; }
td { border-bottom: 1px solid #eee; padding: 0.3em 0.6em; vertical-align: top; }
td.eq { white-space: nowrap; color: #555; width: 4em; }
td.tex { width: 40%; } td.val { font-family: ui-monospace, monospace; font-size: 0.92em; }
math { font-size: 1.1em; }
"""


def tex_to_html(tex: str, display: bool = False) -> str:
    """MathML for ``tex`` (latex2mathml), or the TeX as code when it is not installed."""
    try:
        from latex2mathml.converter import convert
    except ImportError:
        return f"<code>{html.escape(tex)}</code>"
    return convert(tex, display="block" if display else "inline")


def explanation_page(explanation, title: str = "deepff explain") -> str:
    """The steps of ``deepff.explain.explain`` as one page: equation, TeX, numbers.

    Examples
    --------
    >>> from deepff.explain import explain, paper_network, paper_examples
    >>> net = paper_network()
    >>> page = explanation_page(explain(net, *paper_examples(net, m=1)))
    >>> page.startswith("<!DOCTYPE html>"), "central differences" in page
    (True, True)
    """
    parts, section, last_tex = [], None, None
    for step in explanation.steps:
        if step.section != section:
            if section is not None:
                parts.append("</table>")
            section, last_tex = step.section, None
            parts.append(f"<h2>{html.escape(section)}</h2><table>")
        tex = tex_to_html(step.tex) if step.tex and step.tex != last_tex else ""
        last_tex = step.tex or last_tex
        parts.append(
            f'<tr><td class="eq">({html.escape(step.equation)})</td><td class="tex">{tex}</td>'
            f'<td class="val">{html.escape(step.text)}</td></tr>'
        )
    parts.append("</table><h2>checks</h2><table>")
    for name, error in explanation.checks.items():
        value = "n/a" if error is None else f"{error:.3g}"
        parts.append(f'<tr><td>{html.escape(name)}</td><td class="val">{value}</td></tr>')
    parts.append("</table>")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(explanation.network)}</p>{''.join(parts)}</body></html>\n"
    )


__all__ = ["explanation_page", "tex_to_html"]
