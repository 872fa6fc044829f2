"""Small HTML helpers shared by the widgets (escaped, so data never becomes markup)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

LEVEL_COLOURS = {"error": "#b00020", "blocked": "#b00020", "warning": "#8a5a00", "ok": "#1b5e20", "info": "#1b5e20"}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


TEXT_CELL = "min-width:14em;max-width:36em;white-space:pre-wrap"  # a readable column of prose, never a word per line
SHORT_CELL = "white-space:nowrap"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, text_columns: Sequence[int] = ()) -> str:
    """An escaped HTML table; `text_columns` (indices) hold prose and keep a readable width. It scrolls
    sideways inside its box instead of cutting columns off."""

    def cell(i: int, value: Any) -> str:
        width = TEXT_CELL if i in text_columns else SHORT_CELL if text_columns else ""
        return f"<td style='padding:2px 8px;vertical-align:top;{width}'>{esc(value)}</td>"

    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (
        f"<div style='overflow-x:auto;max-width:100%'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def badge(level: str, text: str) -> str:
    colour = LEVEL_COLOURS.get(level, "#333")
    return f"<div style='color:{colour}'><b>{esc(level.upper())}</b> {esc(text)}</div>"


def page_of(rows: Sequence[Any], page: Any, size: int) -> tuple[Sequence[Any], int]:
    """The rows on the page a ``BoundedIntText`` points at (its maximum set to the page count), and that count."""
    pages = max(1, -(-len(rows) // size))
    page.max = pages
    start = (min(page.value, pages) - 1) * size
    return rows[start : start + size], pages
