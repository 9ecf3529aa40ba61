"""How the API client commands show sizes, fractions, memories and times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table

Json = dict[str, Any]
KiB = 1024
MiB = 1024 * KiB


def size(count: int | None) -> str:
    """Bytes in binary units, as boards are specified: 262144 → "256 KiB"."""
    if count is None:
        return "-"
    for unit, factor in (("MiB", MiB), ("KiB", KiB)):
        if count >= factor:
            return f"{count / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} B"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


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


def ram_parts(ram: Json | None) -> str:
    """What a RAM estimate is made of: "arena … + input … + runtime …"."""
    if not ram:
        return ""
    return (
        f"arena {size(ram['arena_with_margin_bytes'])} + input {size(ram['input_buffer_bytes'])}"
        f" + runtime {size(ram['runtime_bytes'])}"
    )


def flash_parts(flash: Json | None) -> str:
    """What a flash estimate is made of: "model … + runtime …"."""
    if not flash:
        return ""
    return f"model {size(flash['model_bytes'])} + runtime {size(flash['runtime_bytes'])}"


def moment(timestamp: str | None) -> str:
    """An API timestamp in local time, to the second; "-" for none."""
    if not timestamp:
        return "-"
    when = datetime.fromisoformat(timestamp)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")
