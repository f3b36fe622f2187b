"""The words of the notifications (services/notifications/messages.py and templates/):
one template per step, in Bahasa Indonesia, strict about its facts; and what the sender
makes of the ways' answers (services/notifications/sender.py), without an address in
any error it keeps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pytest
from jinja2 import UndefinedError

from services.notifications.messages import SHORT_MAX, render, tanggal, waktu
from services.notifications.sender import Failed, Refused, Reply, _by_code, _redact
from services.notifications.steps import STEPS

AT = datetime.fromisoformat("2026-03-16T09:00:00+07:00")
DUE = datetime.fromisoformat("2026-03-25T09:00:00+07:00")
COMMON = {"tracking_number": "PRM-7H3K9Q2XWD", "office": "DPMPTSP Kabupaten Purwakarta",
          "at": AT, "name": "Siti Rahma"}
FACTS: dict[tuple[str, str], dict[str, Any]] = {
    ("application", "received"): {"service_name": "Sertifikat Standar KBLI 10510",
                                  "business_name": "CV Susu Murni"},
    ("application", "returned_for_correction"): {
        "unmet": [{"code": "K1", "text": "Memiliki sarana dan fasilitas produksi"}],
        "note": "foto pabrik belum ada"},
    ("application", "complete"): {"due_at": DUE, "working_days": 7},
    ("application", "issued"): {"certificate_number": "SS-10510-2026-ABC",
                                "verification_url": "https://ptsp.example/certificates/"
                                                    "SS-10510-2026-ABC?sig=xyz"},
    ("application", "rejected"): {"reason": "lokasi tidak sesuai tata ruang"},
    ("complaint", "received"): {"kind": "complaint", "reasons": [], "due_at": DUE,
                                "working_days": 14},
    ("complaint", "answered"): {"kind": "complaint", "text": "Pungutan itu tidak sah; "
                                "petugas telah diberi sanksi."},
    ("complaint", "closed"): {"kind": "complaint", "note": None},
}
APPLICATION_FACTS = FACTS[("application", "received")]


def facts(case_type: str, step: str, **changes: Any) -> dict[str, Any]:
    base = {**COMMON, **(APPLICATION_FACTS if case_type == "application" else {})}
    return {**base, **FACTS[(case_type, step)], **changes}


@pytest.mark.parametrize(("case_type", "step"), [(t, s) for t, ss in STEPS.items() for s in ss])
def test_every_step_has_its_message_in_bahasa_indonesia(case_type: str, step: str) -> None:
    message = render(case_type, step, facts(case_type, step))
    assert message.subject.startswith("[PRM-7H3K9Q2XWD] ")
    assert "\n" not in message.subject and "\n" not in message.short
    assert message.body.startswith("Yth. Siti Rahma,\n")
    assert "Hormat kami,\nDPMPTSP Kabupaten Purwakarta" in message.body
    assert "PRM-7H3K9Q2XWD" in message.short
    assert "Siti" not in message.short  # the channel's text greets nobody by name
    assert "{{" not in message.body and "None" not in message.body


def test_each_message_tells_what_its_step_is_about() -> None:
    returned = render("application", "returned_for_correction",
                      facts("application", "returned_for_correction"))
    assert "- K1: Memiliki sarana dan fasilitas produksi" in returned.body
    assert "Catatan petugas: foto pabrik belum ada" in returned.body
    complete = render("application", "complete", facts("application", "complete"))
    assert "7 hari kerja, paling lambat\nRabu, 25 Maret 2026" in complete.body
    assert "paling lambat Rabu, 25 Maret 2026" in complete.short
    issued = render("application", "issued", facts("application", "issued"))
    url = "https://ptsp.example/certificates/SS-10510-2026-ABC?sig=xyz"
    assert url in issued.body and issued.short.endswith(url)
    rejected = render("application", "rejected", facts("application", "rejected"))
    assert "Alasan: lokasi tidak sesuai tata ruang" in rejected.body
    answered = render("complaint", "answered", facts("complaint", "answered"))
    assert "Pungutan itu tidak sah; petugas telah diberi sanksi." in answered.body
    assert answered.subject == "[PRM-7H3K9Q2XWD] Jawaban atas pengaduan Anda"


def test_a_suggestion_is_told_it_is_one_and_why() -> None:
    message = render("complaint", "received", facts(
        "complaint", "received", kind="suggestion", reasons=["late", "no_subject_matter"],
        due_at=None, name=None))
    assert message.subject == "[PRM-7H3K9Q2XWD] Saran/masukan Anda telah diterima"
    assert message.body.startswith("Yth. Bapak/Ibu,\n")
    because = ("disampaikan lebih dari 30 hari setelah layanan diterima; tanpa objek "
               "pengaduan")
    assert because in message.body.replace("\n", " ")
    assert because in message.short
    assert "paling lambat" not in message.body  # no answer is owed to a suggestion


def test_a_fact_missing_is_an_error_not_a_blank() -> None:
    incomplete = facts("application", "complete")
    del incomplete["due_at"]
    with pytest.raises(UndefinedError, match="due_at"):
        render("application", "complete", incomplete)
    with pytest.raises(ValueError, match="no notification for step 'reviewed'"):
        render("application", "reviewed", facts("application", "complete"))


def test_a_long_answer_is_cut_for_the_channel_and_whole_in_the_e_mail() -> None:
    text = "Kalimat jawaban. " * 200
    message = render("complaint", "answered", facts("complaint", "answered", text=text))
    assert len(message.short) == SHORT_MAX and message.short.endswith("…")
    assert text.strip() in message.body


def test_dates_are_written_the_indonesian_way_in_jakarta_time() -> None:
    utc = datetime.fromisoformat("2026-08-17T01:30:00+00:00")
    assert tanggal(utc) == "Senin, 17 Agustus 2026"
    assert waktu(utc) == "Senin, 17 Agustus 2026 pukul 08.30 WIB"


# -- what the sender makes of the ways' answers ----------------------------------------------
def test_an_smtp_refusal_is_final_a_deferral_is_retried_and_neither_keeps_the_address() -> None:
    refused = _by_code(550, "5.1.1 <siti@example.id>: Recipient address rejected",
                       "siti@example.id")
    assert isinstance(refused, Refused)
    assert "siti@example.id" not in str(refused) and "<recipient>" in str(refused)
    deferred = _by_code(451, "try again later", "siti@example.id")
    assert isinstance(deferred, Failed) and "451" in str(deferred)
    assert _redact("to siti@example.id", "siti@example.id", "") == "to <recipient>"


def test_the_adapter_s_reply_contract() -> None:
    assert msgspec.json.decode(b'{"ok": true}', type=Reply).ok
    refused = msgspec.json.decode(b'{"ok": false, "error": "blocked", "retry": false}',
                                  type=Reply)
    assert (refused.ok, refused.error, refused.retry) == (False, "blocked", False)
    assert msgspec.json.decode(b'{"ok": false}', type=Reply).retry  # retried by default
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"ok": "yes"}', type=Reply)
