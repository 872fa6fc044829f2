"""Small HTML helpers shared by the widgets (escaped, so data never becomes markup)."""

from __future__ import annotations

import html
from typing import Any, Iterable, Sequence

LEVEL_COLOURS = {"error": "#b00020", "blocked": "#b00020", "warning": "#8a5a00", "ok": "#1b5e20", "info": "#1b5e20"}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 8px;vertical-align:top'>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def badge(level: str, text: str) -> str:
    colour = LEVEL_COLOURS.get(level, "#333")
    return f"<div style='color:{colour}'><b>{esc(level.upper())}</b> {esc(text)}</div>"


def page_of(rows: Sequence[Any], page: Any, size: int) -> tuple[Sequence[Any], int]:
    """The rows on the page a ``BoundedIntText`` points at (its maximum set to the page count), and that count."""
    pages = max(1, -(-len(rows) // size))
    page.max = pages
    start = (min(page.value, pages) - 1) * size
    return rows[start:start + size], pages
