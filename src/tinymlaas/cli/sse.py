"""A Server-Sent Events reader: the text/event-stream format, parsed line by line (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None


def parse_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Yield each complete event of a stream already split into lines (without line ends).

    Follows the WHATWG rules: a blank line ends an event, `:` starts a comment (keep-alive
    pings), one space after the colon is dropped, `data` lines join with newlines, and the
    `id` carries over to later events. An event cut off before its blank line is not
    yielded, so a reader resuming from the last id it saw gets that event again, whole.
    """
    event_type = ""
    data: list[str] = []
    last_id: str | None = None
    for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(event_type or "message", "\n".join(data), last_id)
            event_type, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event_type = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
