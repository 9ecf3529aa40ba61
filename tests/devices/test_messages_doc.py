"""docs/serial-protocol.md's WebSocket tables are those the message models generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinymlaas.devices import messages_doc

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "serial-protocol.md"


def test_the_protocol_document_lists_the_messages_as_the_models_define_them() -> None:
    text = DOCUMENT.read_text()
    assert messages_doc.update(text) == text, f"stale tables: run {messages_doc.COMMAND}"
    for kind in ("welcome", "install", "cancel_install", "revoked", "error", "hello", "ports"):
        assert f"| `{kind}` |" in text


def test_a_stale_table_is_noticed_and_rewritten() -> None:
    text = DOCUMENT.read_text()
    stale = text.replace("| `install_log` | `job_id`, `line` |", "| `install_log` | `line` |")
    assert stale != text
    assert messages_doc.update(stale) == text


def test_a_document_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="server-messages"):
        messages_doc.update(DOCUMENT.read_text().replace("<!-- END server-messages -->", ""))
