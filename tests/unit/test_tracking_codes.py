"""Tracking numbers and PINs (services/infra/tracking_key.py): keyed, stable, found again,
and a case stored before them keeps the number derived from its id."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.vocabulary import APPLICATION_STATUSES, COMPLAINT_STATUSES
from services.applications.application import CONTRACTS as APPLICATION_CONTRACTS
from services.applications.domain import (
    LicenceApplication,
    application_id,
    legacy_tracking_number,
)
from services.complaints.application import CONTRACTS as COMPLAINT_CONTRACTS
from services.complaints.domain import Complaint, complaint_id
from services.domain.clock import JAKARTA
from services.http.ratelimit import RateLimited, TokenBuckets
from services.infra.tracking_key import KEY_FILE, TrackingKey, normalized
from services.tracking.texts import (
    APPLICATION_STATUS_TEXT,
    COMPLAINT_STATUS_TEXT,
    STEP_TEXT,
    STEPS,
    step_of,
)

KEY = TrackingKey(b"k" * 32)
OTHER_KEY = TrackingKey(b"o" * 32)
SHAPE = re.compile(r"^PRM-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")
AT = datetime(2026, 3, 16, 9, tzinfo=JAKARTA)
OSS = {"id": "oss-gateway", "role": "channel", "channel": "oss"}


def test_a_number_leads_back_to_its_case_and_only_the_key_makes_it() -> None:
    for n in range(500):
        case_id = application_id("oss", f"OSS-{n}")
        number = KEY.number("PRM", case_id)
        assert SHAPE.match(number), number
        low, high = KEY.id_range(number) or (None, None)
        assert low is not None and high is not None and low <= case_id <= high
        assert number != legacy_tracking_number(case_id)
        assert OTHER_KEY.number("PRM", case_id) != number  # not computable without the key
        assert KEY.number("PRM", case_id) == number  # stable: the same case, the same number


def test_the_id_range_of_a_number_is_narrow() -> None:
    """50 of the id's 128 bits are fixed: a range scan meets only that case (or, rarely,
    a case sharing them)."""
    low, high = KEY.id_range(KEY.number("ADU", uuid.uuid4())) or (uuid.UUID(int=0),) * 2
    assert high.int - low.int == 2 ** 78 - 1


def test_the_pin_is_stable_per_case_and_keyed() -> None:
    case_id = complaint_id("whatsapp", "wa-1")
    pin = KEY.pin(case_id)
    assert re.fullmatch(r"\d{8}", pin)
    assert KEY.pin(complaint_id("whatsapp", "wa-1")) == pin
    assert KEY.pin(complaint_id("whatsapp", "wa-2")) != pin
    assert OTHER_KEY.pin(case_id) != pin
    assert KEY.pin_matches(case_id, f" {pin}\n")
    assert not KEY.pin_matches(case_id, f"{(int(pin) + 1) % 10**8:08d}")
    assert not KEY.pin_matches(case_id, "")


def test_a_number_as_a_person_types_it() -> None:
    number = KEY.number("PRM", uuid.uuid4())
    typed = f" {number.lower()} ".replace("0", "o").replace("1", "l")
    assert normalized(typed) == number
    assert KEY.id_range(typed) == KEY.id_range(number)
    assert normalized("prm-abcdef0123") == "PRM-ABCDEF0123"
    assert normalized("no such thing") == "NOSUCHTHING"
    assert KEY.id_range("NOSUCHTHING") is None
    assert KEY.id_range("PRM-ABCDE-FGHIU") is None  # U is not in the alphabet


def test_a_legacy_number_reads_as_the_ids_hex_prefix() -> None:
    case_id = uuid.uuid4()
    low, high = KEY.id_range(legacy_tracking_number(case_id)) or (None, None)
    assert low == uuid.UUID(case_id.hex[:10] + "0" * 22)
    assert high == uuid.UUID(case_id.hex[:10] + "f" * 22)


def test_the_key_file_is_made_once_private_and_shared_by_racing_processes(
        tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    script = ("import sys, uuid; from pathlib import Path; "
              "from services.infra.tracking_key import TrackingKey; "
              "print(TrackingKey.of_keys_dir(Path(sys.argv[1])).pin(uuid.UUID(int=7)))")
    racers = [subprocess.Popen([sys.executable, "-c", script, str(keys)],
                               stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).parents[2]) for _ in range(4)]
    pins = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert len(pins) == 1 and all(racer.returncode == 0 for racer in racers)
    assert os.stat(keys / KEY_FILE).st_mode & 0o777 == 0o600
    assert TrackingKey.of_keys_dir(keys).pin(uuid.UUID(int=7)) == pins.pop()
    assert [p.name for p in keys.iterdir()] == [KEY_FILE]  # no temporary file left


def replayed(event: Any) -> LicenceApplication:
    """The case rebuilt from its first event, as a load from the store rebuilds it."""
    case = event.mutate(None)
    assert isinstance(case, LicenceApplication)
    return case


def test_a_case_records_its_number_and_one_from_before_keeps_the_derived_one() -> None:
    def submitted(number: str | None = None) -> LicenceApplication:
        return LicenceApplication(
            channel="oss", external_id="OSS-1", service_code="SS-KBLI-10510",
            requirement_codes=["U1"], sla_working_days=7, unit="perizinan",
            applicant={"name": "Siti"}, business={"name": "CV Susu", "kbli": "10510"},
            actor=OSS, at=AT, tracking_number=number)

    keyed = KEY.number("PRM", application_id("oss", "OSS-1"))
    app = submitted(keyed)
    [event] = app.collect_events()
    assert app.tracking_number == keyed
    assert APPLICATION_CONTRACTS.to_contract(event).tracking_number == keyed  # type: ignore[attr-defined]
    # Replayed from its event, the case has the number it was given.
    assert replayed(event).tracking_number == keyed

    before = submitted()
    [old] = before.collect_events()
    del old.__dict__["tracking_number"]  # as stored before: no such field at all
    derived = legacy_tracking_number(before.id)
    assert replayed(old).tracking_number == derived
    assert APPLICATION_CONTRACTS.to_contract(old).tracking_number == derived  # type: ignore[attr-defined]


def test_a_complaint_records_its_number_too() -> None:
    keyed = KEY.number("ADU", complaint_id("whatsapp", "wa-1"))
    complaint = Complaint.receive(
        channel="whatsapp", external_id="wa-1", complainant=None, subject_matter=None,
        description="x", service_received_on=date(2026, 3, 10), received_at=None,
        related_application_id=None, actor=OSS, at=AT, tracking_number=keyed)
    [event] = complaint.collect_events()
    assert complaint.tracking_number == keyed
    assert COMPLAINT_CONTRACTS.to_contract(event).tracking_number == keyed  # type: ignore[attr-defined]


def test_every_status_and_step_has_its_text_in_bahasa_indonesia() -> None:
    assert set(APPLICATION_STATUS_TEXT) == set(APPLICATION_STATUSES)
    assert set(COMPLAINT_STATUS_TEXT) == set(COMPLAINT_STATUSES)
    assert set(STEPS.values()) | {"approved", "rejected"} == set(STEP_TEXT)
    assert step_of("application.decided", "approve") == "approved"
    assert step_of("application.decided", "reject") == "rejected"
    assert step_of("application.assigned") is None  # who works a case is not shown


def test_buckets_keyed_from_outside_stay_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(1.0, 2, clock=lambda: now[0], max_keys=8)
    for n in range(100):
        buckets.take(f"client-{n}")
        assert len(buckets) <= 8
    buckets.take("busy")
    buckets.take("busy")
    with pytest.raises(RateLimited):
        buckets.take("busy")  # the newest keys keep their state
