"""One line saying what is wrong with a WebSocket message that did not validate (pure)."""

from __future__ import annotations

import json

from pydantic import ValidationError


def describe(error: ValidationError, raw: str | bytes) -> str:
    """One line naming the message's type and each field that is wrong."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        context = item.get("ctx", {})
        if item["type"] == "json_invalid":
            return f"not a JSON message: {context.get('error', item['msg'])}"
        if item["type"] == "union_tag_invalid":
            return f"unknown message type {context['tag']!r} (known: {context['expected_tags']})"
        if item["type"] == "union_tag_not_found":
            return 'a message must be a JSON object with a "type"'
        location = ".".join(str(part) for part in item["loc"][1:])  # [0] is the type's tag
        problems.append(f"{location}: {item['msg']}" if location else item["msg"])
    try:
        kind = json.loads(raw).get("type")
    except (ValueError, AttributeError):
        kind = None
    prefix = f"invalid {kind!r} message" if isinstance(kind, str) else "invalid message"
    return f"{prefix}: " + "; ".join(problems)
