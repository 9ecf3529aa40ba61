"""How the API client commands show sizes, fractions, memories, times and tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Column, Table

Json = dict[str, Any]
BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB")
# The list commands' tables fit a terminal this wide: they keep the columns that matter, and
# --json has everything.
TABLE_WIDTH = 80


def size(count: float | None) -> str:
    """Bytes in binary units, the web UI's format too: 1000 → "1000 B", 93_800 → "91.6 KiB".

    Under 1024 a whole number of bytes; above, divided by 1024 until under 1024 and printed
    with one decimal, as memories and files are measured (256 KiB of RAM, 1.0 MiB of flash).
    """
    if count is None:
        return "-"
    if abs(count) < 1024:
        return f"{count:.0f} B"
    value = float(count)
    for unit in BINARY_UNITS:
        value /= 1024
        if abs(value) < 1024 or unit == BINARY_UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class FittingTable(Table):
    """A table whose `text` columns wrap at widths chosen for TABLE_WIDTH columns, and share
    out whatever a wider terminal has beyond that, so long names stay on one line there."""

    def __init__(self, *columns: Column, title: str | None = None) -> None:
        super().__init__(*columns, title=title)
        self._budgets = [(column, column.max_width) for column in self.columns if column.max_width]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        spare = max(0, options.max_width - TABLE_WIDTH)
        total = sum(budget for _, budget in self._budgets if budget)
        for column, budget in self._budgets:
            if budget:
                column.max_width = budget + spare * budget // total
        yield from super().__rich_console__(console, options)


def table(*columns: Column, title: str | None = None) -> Table:
    """A table of the list commands: its `key` columns and the widths of its `text` columns
    are chosen so that it fits TABLE_WIDTH columns with the values it shows."""
    return FittingTable(*columns, title=title)


def key(header: str) -> Column:
    """A column of short values kept on one line: ids, numbers, states, sizes, times."""
    return Column(header, no_wrap=True)


def text(header: str, width: int) -> Column:
    """A column of free text (names, labels, messages) wrapped within `width` characters;
    a word longer than that is folded onto the next line, never cut short with "…"."""
    return Column(header, overflow="fold", max_width=width)


def details(rows: list[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def memory_row(part: Json | None, estimate: int | None, parts: str) -> str:
    """E.g. "81.5 KiB of 256 KiB (32%) ✓  arena … + input … + runtime …"."""
    if not part:
        return size(estimate)
    share = part["estimate_bytes"] / part["limit_bytes"] if part["limit_bytes"] else 0
    mark = "[green]✓[/green]" if part["fits"] else "[red]✗[/red]"
    return (
        f"{size(part['estimate_bytes'])} of {size(part['limit_bytes'])} "
        f"({share:.0%}) {mark}  [dim]{parts}[/dim]"
    )


def _labelled_parts(estimate: Json) -> str:
    return " + ".join(f"{part['label']} {size(part['bytes'])}" for part in estimate["parts"])


def ram_parts(ram: Json | None) -> str:
    """What a RAM estimate is made of: "tensor arena (with margin) … + input buffer … + …"."""
    if not ram:
        return ""
    if "parts" in ram:
        return _labelled_parts(ram)
    return (  # figures stored before the estimates carried labelled parts
        f"arena {size(ram['arena_with_margin_bytes'])} + input {size(ram['input_buffer_bytes'])}"
        f" + runtime {size(ram['runtime_bytes'])}"
    )


def flash_parts(flash: Json | None) -> str:
    """What a flash estimate is made of: "model … + runtime code … [+ reserved …]"."""
    if not flash:
        return ""
    if "parts" in flash:
        return _labelled_parts(flash)
    return f"model {size(flash['model_bytes'])} + runtime {size(flash['runtime_bytes'])}"


def moment(timestamp: str | None) -> str:
    """An API timestamp in local time, to the second; "-" for none."""
    if not timestamp:
        return "-"
    when = datetime.fromisoformat(timestamp)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")
