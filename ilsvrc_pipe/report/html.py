"""The few HTML pieces the report is made of: escaped text, tables, embedded images, sections.

The page must open from a file in any browser with no server and survive being mailed on its own,
so images go in as ``data:`` URIs and the style sheet is inline; nothing is fetched. Every function
returns a string; callers never write raw markup around user-controlled text (file names, config
values) without :func:`esc`.
"""
from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Iterable, Sequence

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1250px;
       padding: 0 24px 48px; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #333; padding-bottom: 4px; } h2 { margin-top: 40px; border-bottom: 1px solid #bbb; }
h3 { margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
tr.best td { font-weight: bold; }
.side { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
.note { color: #555; font-size: 13px; max-width: 1000px; }
figure { margin: 8px 0 20px; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 13px; }
nav a { margin-right: 14px; } code, pre { font-size: 12px; } pre { background: #f7f7f7; padding: 8px; overflow-x: auto; }
.paper { color: #7a3e00; }
"""


def esc(value) -> str:
    """Text as HTML (``None`` as an em dash)."""
    return "\u2014" if value is None else html.escape(str(value), quote=True)


def pct(value, digits: int = 1) -> str:
    """A fraction as a percentage string; ``None`` or NaN as a dash."""
    if value is None or value != value:
        return "\u2014"
    return f"{100 * float(value):.{digits}f}"


def num(value, digits: int = 3) -> str:
    if value is None or value != value:
        return "\u2014"
    return f"{float(value):.{digits}f}"


def table(header: Sequence[str], rows: Iterable[Sequence], table_id: str, left: int = 1,
          classes: Sequence[str] | None = None, raw: bool = False) -> str:
    """A table with an id (the test finds every table by it); the first ``left`` columns left-aligned.
    Cells are escaped unless ``raw`` (cells already HTML, e.g. links); ``classes``: one per row."""
    def cell(tag: str, i: int, v) -> str:
        align = ' class="l"' if i < left else ""
        return f"<{tag}{align}>{v if raw else esc(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{classes[r]}"' if classes and classes[r] else ""
        body.append(f"<tr{cls}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    return f'<table id="{esc(table_id)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def data_uri(path: str | os.PathLike) -> str:
    """A PNG file as a ``data:image/png;base64,`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figure(path: str | os.PathLike | None, caption: str, alt: str) -> str:
    """An embedded image with its caption; a note instead when the figure could not be made."""
    if path is None or not Path(path).is_file():
        return f'<p class="note">({esc(alt)}: not available for this run)</p>'
    return (f'<figure><img src="{data_uri(path)}" alt="{esc(alt)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def link(href: str, text: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def page(title: str, sections: Sequence[tuple[str, str, str]], intro: str = "") -> str:
    """The whole document: title, a table of contents, the ``(anchor, title, body)`` sections."""
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>{intro}<nav>{nav}</nav>{body}"
            "</body></html>\n")
