"""Printing results: JSON for machines (``promolab.jsonable``), rich tables for people."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

from promolab.cli.app import console
from promolab.jsonable import to_json


# control characters (but tab and new line) in data would drive the reader's terminal
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def plain(value: Any, style: str = "") -> Text:
    """User data (names, keys, ids, values, paths) for a rich table cell, title or header:
    shown exactly as written, never read as markup (``[/bold]``, ``\\[`` stay as typed;
    ``rich.markup.escape`` loses the backslash of ``\\[``); control characters are shown
    as escapes (``\\x1b``), not sent to the terminal."""
    return value if isinstance(value, Text) else Text(_visible(str(value)), style=style)


def say(text: str, style: str = "", **options: Any) -> None:
    """Print one line that carries user data as plain text (see :func:`plain`); ``options``
    go to ``console.print`` (e.g. ``soft_wrap=True``)."""
    console.print(plain(text, style), **options)


def print_json(data: Any) -> None:
    console.print_json(to_json(data)) if console.is_terminal else print(to_json(data))
