"""What a refused intake message leaves behind: its shape, never a person's values."""

from __future__ import annotations

import json

from services.intake.rejects import MAX_NODES, TRUNCATED, bounded_headers, redact


def test_personal_values_become_their_kind_and_size() -> None:
    body = {"channel": "oss", "external_id": "OSS-1", "applicant": {
        "name": "Siti Rahma", "nik": "3214010101800001", "age": 41, "verified": True,
        "phones": ["0812", "0813"]}, "business": {"kbli": "10510", "scale": "kecil"}}
    kept = redact(json.dumps(body).encode(), 1 << 20)
    assert not kept.truncated
    assert kept.body == {"channel": "oss", "external_id": "OSS-1", "applicant": {
        "name": "<text: 10 chars>", "nik": "<text: 16 chars>", "age": "<int>",
        "verified": "<bool>", "phones": ["<text: 4 chars>", "<text: 4 chars>"]},
        "business": {"kbli": "10510", "scale": "kecil"}}


def test_a_not_personal_field_too_long_to_be_a_reference_is_redacted_too() -> None:
    kept = redact(json.dumps({"external_id": "Siti Rahma " * 20}).encode(), 1 << 20)
    assert kept.body == {"external_id": "<text: 220 chars>"}


def test_field_names_that_are_not_names_are_hidden() -> None:
    kept = redact(json.dumps({"Siti Rahma 3214010101800001": 1}).encode(), 1 << 20)
    assert kept.body == {"<field: 27 chars>": "<int>"}


def test_unreadable_oversized_or_too_deep_bodies_keep_nothing() -> None:
    assert redact(b"Siti Rahma, 3214010101800001", 1 << 20).body is None
    assert redact(b'{"name": "Siti"}', 10).body is None
    assert redact(b'{"name": "Siti"}', 10).truncated
    assert redact(b"[" * 100 + b"]" * 100, 1 << 20).body is None


def test_a_wide_body_is_cut_at_the_node_budget() -> None:
    kept = redact(json.dumps(list(range(MAX_NODES * 3))).encode(), 1 << 20)
    assert kept.truncated and kept.body[-1] == TRUNCATED and len(kept.body) <= MAX_NODES


def test_headers_are_bounded() -> None:
    headers = {f"H{i}": "v" * 1000 for i in range(100)}
    kept = bounded_headers(headers)
    assert kept is not None and len(kept) == 32
    assert all(len(v) == 256 for v in kept.values())
    assert bounded_headers(None) is None
