"""The WebSocket tables of docs/serial-protocol.md, written from `messages.py` (pure).

`python -m tinymlaas.devices.messages_doc docs/serial-protocol.md` rewrites each table between
its `<!-- BEGIN name -->` and `<!-- END name -->` markers; a test fails while the file is stale.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from tinymlaas.devices import messages

COMMAND = "python -m tinymlaas.devices.messages_doc docs/serial-protocol.md"


def _members(union: Any) -> list[type[messages.Message]]:
    """The models of an `Annotated[A | B | …, Field(discriminator=…)]`."""
    return list(get_args(get_args(union)[0]))


def _one_line(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split())


def _field(name: str, info: FieldInfo) -> str:
    notes = [] if info.is_required() else ["optional"]
    argument = get_args(info.annotation)
    if get_origin(info.annotation) is list and argument and issubclass(argument[0], BaseModel):
        notes.append("list of {" + ", ".join(f"`{n}`" for n in argument[0].model_fields) + "}")
    if info.description:
        notes.append(info.description)
    return f"`{name}`" + (f" ({'; '.join(notes)})" if notes else "")


def message_table(union: Any) -> str:
    """One row per message type: its fields and, from its docstring, what it means."""
    rows = ["| type | fields | meaning |", "|---|---|---|"]
    for model in _members(union):
        kind = model.model_fields["type"].default
        fields = [_field(n, i) for n, i in model.model_fields.items() if n != "type"]
        rows.append(f"| `{kind}` | {', '.join(fields)} | {_one_line(model.__doc__ or '')} |")
    return "\n".join(rows)


def feature_table() -> str:
    rows = ["| feature | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {meaning} |" for name, meaning in messages.FEATURE_MEANINGS.items()]
    return "\n".join(rows)


def tables() -> dict[str, str]:
    """Each generated table by its marker name."""
    return {
        "bridge-features": feature_table(),
        "server-messages": message_table(messages.ServerMessage),
        "bridge-messages": message_table(messages.BridgeMessage),
    }


def update(document: str) -> str:
    """The document with every marked table rewritten; ValueError if a marker is missing."""
    for name, table in tables().items():
        pattern = re.compile(
            rf"(<!-- BEGIN {name}[^\n]*-->\n).*?(<!-- END {name} -->)", flags=re.DOTALL
        )
        match = pattern.search(document)
        if match is None:
            raise ValueError(f"no <!-- BEGIN {name} --> … <!-- END {name} --> markers")
        document = document[: match.end(1)] + table + "\n" + document[match.start(2) :]
    return document


def main(path: str) -> None:
    file = Path(path)
    file.write_text(update(file.read_text()))


if __name__ == "__main__":
    main(sys.argv[1])
