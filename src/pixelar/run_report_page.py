"""The HTML of a run's report page: the page around its sections, and the pieces the sections
are written in (escaped text, sections, notes, figures, tables)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from string import Template

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 64rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.lead { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { text-align: left; padding: 0.2rem 0.8rem 0.2rem 0; vertical-align: top; border-bottom: 1px solid #eee; }
th { font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, td.value { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; word-break: break-all; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; }
figcaption { font-size: 0.85em; color: #555; }
img { image-rendering: pixelated; max-width: 100%; border: 1px solid #ddd; }
.note { color: #8a5a00; }
footer { margin-top: 3rem; font-size: 0.8em; color: #777; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="lead">$lead</p>
$body
<footer>Written by pixelar $version on $written.</footer>
</body>
</html>
""")


def html_escape(text: object) -> str:
    """Text for HTML, quotes included (safe in element content and attribute values)."""
    return html.escape(str(text), quote=True)


def html_section(title: str, content: str) -> str:
    return f"<section>\n<h2>{html_escape(title)}</h2>\n{content}\n</section>"


def html_note(text: str) -> str:
    return f'<p class="note">{html_escape(text)}</p>'


def html_figure(src: str, caption: str) -> str:
    """A picture of the report folder (``src`` relative to it) with its caption."""
    src, caption = html_escape(src), html_escape(caption)
    return f'<figure><img src="{src}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def html_table(
    rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None, values: bool = False, numeric: bool = False
) -> str:
    """An HTML table of text cells: the first cell of a row is its heading."""
    lines = ["<table>"]
    if header:
        lines.append("<tr>" + "".join(f"<th>{html_escape(cell)}</th>" for cell in header) + "</tr>")
    cls = ' class="value"' if values else ' class="num"' if numeric else ""
    for first, *rest in rows:
        lines.append(
            f"<tr><th>{html_escape(first)}</th>"
            + "".join(f"<td{cls}>{html_escape(cell)}</td>" for cell in rest)
            + "</tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)
