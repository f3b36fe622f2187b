"""The relay's signature on domain events: what it covers, and every way a message
fails it (services/infra/event_signing.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.infra.event_signing import (
    MSG_ID_HEADER,
    POSITION_HEADER,
    PREV_POSITION_HEADER,
    SIGNATURE_HEADER,
    EventSigner,
    SignedPosition,
    Unverified,
)

SUBJECT = "ptsp.applications.application.submitted"
BODY = b'{"type":"application.submitted","case_id":"c1","version":1}'


@pytest.fixture
def signer(tmp_path: Path) -> EventSigner:
    return EventSigner.of_keys_dir(tmp_path / "keys")


def signed(signer: EventSigner, position: int = 7, prev: int = 5) -> dict[str, str]:
    return signer.headers(SUBJECT, f"applications:{position}", position, prev, BODY)


def reason(signer: EventSigner, headers: dict[str, str] | None, body: bytes = BODY,
           subject: str = SUBJECT) -> str:
    with pytest.raises(Unverified) as caught:
        signer.verify(subject, headers, body)
    return caught.value.reason


def test_a_message_the_relay_signed_verifies_with_its_positions(signer: EventSigner) -> None:
    assert signer.verify(SUBJECT, signed(signer), BODY) == SignedPosition(7, 5)


def test_the_key_is_made_once_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    first = EventSigner.of_keys_dir(tmp_path)
    again = EventSigner.of_keys_dir(tmp_path)
    assert again.verify(SUBJECT, signed(first), BODY) == SignedPosition(7, 5)
    assert (tmp_path / "relay-signing.key").stat().st_mode & 0o077 == 0


def test_another_key_does_not_verify(signer: EventSigner, tmp_path: Path) -> None:
    stranger = EventSigner.of_keys_dir(tmp_path / "elsewhere")
    assert reason(stranger, signed(signer)) == "bad signature"


def test_without_a_signature_a_message_is_unsigned(signer: EventSigner) -> None:
    assert reason(signer, None) == "unsigned"
    assert reason(signer, {POSITION_HEADER: "999999999990"}) == "unsigned"


@pytest.mark.parametrize("header", [MSG_ID_HEADER, POSITION_HEADER, PREV_POSITION_HEADER])
def test_every_signed_header_is_covered(signer: EventSigner, header: str) -> None:
    headers = signed(signer)
    headers[header] = {MSG_ID_HEADER: "applications:8", POSITION_HEADER: "8",
                       PREV_POSITION_HEADER: "6"}[header]
    assert reason(signer, headers) == "bad signature"


def test_the_body_and_the_subject_are_covered(signer: EventSigner) -> None:
    assert reason(signer, signed(signer), body=BODY.replace(b"c1", b"c2")) == "bad signature"
    withdrawn = "ptsp.applications.application.withdrawn"
    assert reason(signer, signed(signer), subject=withdrawn) == "bad signature"


def test_malformed_headers_are_named(signer: EventSigner) -> None:
    headers = signed(signer)
    del headers[PREV_POSITION_HEADER]
    assert reason(signer, headers).startswith("malformed headers")
    assert reason(signer, {**signed(signer), POSITION_HEADER: "seven"}).startswith("malformed")
    assert reason(signer, {**signed(signer), SIGNATURE_HEADER: "!!"}) == "bad signature"


def test_a_position_must_come_after_the_one_before(signer: EventSigner) -> None:
    assert reason(signer, signed(signer, position=5, prev=5)).startswith("impossible")
    assert reason(signer, signed(signer, position=5, prev=-1)).startswith("impossible")
