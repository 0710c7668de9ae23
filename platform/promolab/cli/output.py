"""Printing results: JSON for machines (``promolab.jsonable``), rich tables for people, and
progress on a terminal.

Tables: :class:`Table` is the one table class of the CLI's text output. It never cuts a
number: a column is a *value* column (numbers, CIs, p-values, dates) unless it is declared
a *text* column (names, keys, labels). On a narrow terminal, cells wrap at spaces; a value
column is never narrower than its longest word, so a number is never shortened or broken
(no ``3.4e-1…``). A table too wide for that is drawn compact, then its names and headers
may break inside long words, then its columns are split over several tables, and as a
last resort each row is printed as a block of ``header: value`` lines.

Progress: :func:`progress` and :func:`status` draw on stderr, and only for a person at a
terminal: with ``--json``, or when stdout or stderr is not a terminal (piped, captured,
redirected), they draw nothing at all.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table as RichTable
from rich.text import Text

from promolab.cli.app import console, err_console
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


# --------------------------------------------------------------------------- tables

TEXT_MIN_WIDTH = 8  # a name or header that must break inside a word keeps at least this many characters


# the compact style: two spaces between columns, a rule under the header, no edge (report tables)
COMPACT: dict[str, Any] = {"box": box.SIMPLE_HEAD, "padding": (0, 1, 0, 0), "pad_edge": False, "show_edge": False}


def _header_text(header: Any) -> str:
    return header.plain if isinstance(header, Text) else str(header)


def _narrow(widths: list[int], floor: list[int], excess: int) -> list[int]:
    """Take ``excess`` off the widest columns, one character at a time, none below its ``floor``."""
    widths = list(widths)
    while excess > 0:
        shrinkable = [i for i, (w, f) in enumerate(zip(widths, floor)) if w > f]
        if not shrinkable:
            break
        top = max(widths[i] for i in shrinkable)
        for i in shrinkable:
            if widths[i] == top and excess > 0:
                widths[i] -= 1
                excess -= 1
    return widths


class Table(RichTable):
    """A rich ``Table`` that fits the terminal without cutting a number (see the module doc).

    ``text`` names the text columns among the headers given here or to :meth:`add_column`
    (or pass ``text=True`` to :meth:`add_column`); every other column is a value column.
    Text columns are left-aligned and value columns right-aligned unless ``justify`` says
    otherwise.

    Too wide for the terminal, in this order: headers wrap; the table is drawn compact (two
    spaces between columns, a rule under the header, no edge); cells wrap at spaces (a
    value column is never narrower than its longest word); names and headers break inside
    words; the columns are split over several tables, each repeating the first column;
    and as a last resort each row is printed as a block of ``header: value`` lines."""

    def __init__(self, *headers: Any, text: Iterable[str] = (), **options: Any) -> None:
        self._text_headers = set(text)
        self._text_columns: set[int] = set()
        super().__init__(*headers, **options)

    def add_column(self, header: Any = "", footer: Any = "", *, text: bool | None = None,  # type: ignore[override]
                   justify: Any = None, **options: Any) -> None:
        if text is None:
            text = _header_text(header) in self._text_headers
        options["overflow"] = "fold"  # never an ellipsis; the widths keep value columns from needing it
        super().add_column(header, footer, justify=justify or ("left" if text else "right"), **options)
        if text:
            self._text_columns.add(len(self.columns) - 1)

    # -- measuring

    def _widths(self, console: Console, options: ConsoleOptions, fold: bool) -> tuple[list[int], ...]:
        """Each column's natural width, the natural width of its cells (header left out) and
        its least width, padding included. The least width is the column's longest word;
        with ``fold``, headers and text cells may break inside a word down to TEXT_MIN_WIDTH
        (a value cell never does)."""
        natural, cells, least = [], [], []
        for i, column in enumerate(self.columns):
            pad = self._get_padding_width(i)
            head = Measurement.get(console, options, column.header) if self.show_header else Measurement(0, 0)
            body = [Measurement.get(console, options, cell) for cell in column.cells]
            head_min = min(head.minimum, TEXT_MIN_WIDTH) if fold else head.minimum
            body_min = max((m.minimum for m in body), default=0)
            if fold and i in self._text_columns:
                body_min = min(body_min, TEXT_MIN_WIDTH)
            cells.append(max((m.maximum for m in body), default=0) + pad)
            natural.append(max(head.maximum + pad, cells[-1], 1))
            least.append(max(head_min, body_min, 1) + pad)
        return natural, cells, least

    def _room(self, options: ConsoleOptions) -> int:
        return (self.width or options.max_width) - self._extra_width

    def _fits(self, console: Console, options: ConsoleOptions, level: str) -> bool:
        """Whether the table fits with its cells unwrapped (``level="cells"``, headers may
        wrap), with their words whole (``"whole"``) or with names broken (``"fold"``)."""
        room = self._room(options)
        _, cells, least = self._widths(console, options.update_width(room), fold=level == "fold")
        return sum(map(max, cells, least) if level == "cells" else least) <= room

    def _calculate_column_widths(self, console: Console, options: ConsoleOptions) -> list[int]:
        available = options.max_width
        natural, cells, whole = self._widths(console, options, fold=False)
        least = whole if sum(whole) <= available else self._widths(console, options, fold=True)[2]
        if sum(natural) <= available or sum(least) > available:
            return super()._calculate_column_widths(console, options)
        # narrow the widest columns first: headers wrap, then cells wrap at spaces, then names break
        widths = natural
        for floor in (cells, whole, least):
            widths = _narrow(widths, [max(f, low) for f, low in zip(floor, least)], sum(widths) - available)
        return widths

    # -- layouts

    def _compact(self) -> Table:
        """The same table with two spaces between columns, a rule under the header and no edge."""
        compact = copy.copy(self)
        for name, value in COMPACT.items():
            setattr(compact, name, value)
        compact.collapse_padding = False
        return compact

    def _part(self, indices: list[int], first: bool, last: bool) -> Table:
        """The columns ``indices`` as a table of their own (the title on the first part only)."""
        part = copy.copy(self)
        part.columns = [dataclasses.replace(self.columns[i], _index=n) for n, i in enumerate(indices)]
        part._text_columns = {n for n, i in enumerate(indices) if i in self._text_columns}
        part.title = self.title if first else None
        part.caption = self.caption if last else None
        return part

    def _split(self, console: Console, options: ConsoleOptions) -> list[Table] | None:
        """The (compact) table's columns over several tables that each fit, the first column
        repeated in each; None if the first column and another one do not fit side by side."""
        least = self._widths(console, options, fold=True)[2]
        # a column costs its content, one space of padding and one separator; the last neither
        cost = [low - self._get_padding_width(i) + 2 for i, low in enumerate(least)]
        room = options.max_width + 2
        parts: list[list[int]] = []
        for i in range(1, len(self.columns)):
            if cost[0] + cost[i] > room:
                return None
            if parts and sum(cost[j] for j in parts[-1]) + cost[i] <= room:
                parts[-1].append(i)
            else:
                parts.append([0, i])
        return [self._part(p, n == 0, n == len(parts) - 1) for n, p in enumerate(parts)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.columns or self._fits(console, options, "cells"):
            yield from super().__rich_console__(console, options)
            return
        compact = self._compact()
        if any(compact._fits(console, options, level) for level in ("cells", "whole", "fold")):
            yield from RichTable.__rich_console__(compact, console, options)
            return
        parts = compact._split(console, options) if len(self.columns) > 2 else None
        if parts is None:
            yield from self._stacked(console)
            return
        for n, part in enumerate(parts):
            if n:
                yield Text("")
            yield from RichTable.__rich_console__(part, console, options)

    def _stacked(self, console: Console) -> Iterator[RenderableType]:
        """One block per row: the first cell as its heading, then one ``header: value`` line
        per other cell (wrapping at spaces like any text line)."""
        def text(cell: Any, style: str = "") -> Text:
            if isinstance(cell, Text):
                return Text.assemble(cell, style=style)
            return console.render_str(cell if isinstance(cell, str) else str(cell), style=style)

        if self.title:
            yield text(self.title, "table.title")
        for index, row in enumerate(self.rows):
            yield Text("")
            yield text(self.columns[0]._cells[index], "bold")
            for column in self.columns[1:]:
                cell = column._cells[index]
                if isinstance(cell, (str, Text)) and not _header_text(cell).strip():
                    continue
                line = Text.assemble(text(column.header, "dim"), ": ", text(cell), style=row.style or "")
                yield Padding(line, (0, 0, 0, 2))
        if self.caption:
            yield Text("")
            yield text(self.caption)


# --------------------------------------------------------------------------- progress


def progress_shown() -> bool:
    """Progress is for a person at a terminal: not when stdout or stderr is not a terminal
    (piped, redirected, captured)."""
    return console.is_terminal and err_console.is_terminal


@contextmanager
def progress(description: str, total: float | None, *, unit: str = "", quiet: bool = False
             ) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr while a loop runs; yields ``advance(n)`` for the loop's
    callback. Draws nothing if ``quiet`` (``--json``) or not at a terminal."""
    if quiet or not progress_shown():
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextmanager
def status(text: str, *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while work without countable steps runs; yields ``update(text)``.
    Draws nothing if ``quiet`` (``--json``) or not at a terminal."""
    if quiet or not progress_shown():
        yield lambda _text: None
        return
    with err_console.status(plain(text)) as spinner:
        yield lambda new: spinner.update(plain(new))
