"""WhatsApp message limits are enforced when a message is built, and long texts split cleanly."""

from __future__ import annotations

import pytest

from integrations.whatsapp import (
    Button,
    Buttons,
    ListMessage,
    MessageShapeError,
    Row,
    Section,
    Text,
    message_to_payload,
    payload_to_message,
    split_text,
)


def test_at_most_three_buttons_of_twenty_characters() -> None:
    Buttons("ok?", (Button("a", "Envoyer"), Button("b", "Modifier"), Button("c", "Annuler")))
    with pytest.raises(MessageShapeError):
        Buttons("ok?", tuple(Button(str(i), f"B{i}") for i in range(4)))
    with pytest.raises(MessageShapeError):
        Button("a", "x" * 21)
    with pytest.raises(MessageShapeError):
        Buttons("ok?", (Button("a", "A"), Button("a", "B")))


def test_at_most_ten_list_rows_in_total() -> None:
    rows = tuple(Row(f"r{i}", f"Row {i}") for i in range(6))
    ListMessage("pick", "Choisir", (Section("A", rows[:3]), Section("B", rows[3:])))
    with pytest.raises(MessageShapeError):
        ListMessage("pick", "Choisir", (Section("A", tuple(Row(f"r{i}", "x") for i in range(11))),))
    with pytest.raises(MessageShapeError):
        Row("r", "x" * 25)


def test_split_text_on_line_boundaries() -> None:
    lines = [f"{i:03d} " + "é" * 90 for i in range(100)]
    text = "\n".join(lines)
    parts = split_text(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text
    assert split_text("court") == ["court"]
    giant = "mot " * 3000
    assert all(len(p) <= 4096 for p in split_text(giant))
    assert "".join(split_text(giant)).replace(" ", "") == giant.replace(" ", "")


def test_payload_round_trip() -> None:
    for message in (
        Text("bonjour"),
        Buttons("ok?", (Button("quote:send", "Envoyer"),), header="Devis", footer="DEV-1"),
        ListMessage("pick", "Choisir", (Section("Clients", (Row("client:pick:1", "Dupont", "Abidjan"),)),)),
    ):
        assert payload_to_message(message.kind, message_to_payload(message)) == message
