"""What a person is told about their case, in Bahasa Indonesia: each status, and each
step of its life a person cares about. Fixed texts only: nothing here comes from what
someone wrote into the case (a reason, a note, an answer may name people), so nothing a
person reads through tracking or Open311 can carry personal data or a member of staff.

The wire names are `contracts/vocabulary.py`'s statuses (`APPLICATION_STATUSES`,
`COMPLAINT_STATUSES`) and the events' tags; `tests/unit/test_tracking_codes.py` fails
when a status has no text here.
"""

from __future__ import annotations

from typing import Literal

TrackedKind = Literal["application", "complaint", "suggestion"]
"""What the case is, for its holder: an application, a complaint, or a submission the
office recorded as a suggestion (saran/masukan)."""

KIND_TEXT: dict[TrackedKind, str] = {
    "application": "Permohonan perizinan",
    "complaint": "Pengaduan",
    "suggestion": "Saran / masukan",
}

APPLICATION_STATUS_TEXT: dict[str, str] = {
    "awaiting_verification": "Berkas permohonan sedang diverifikasi",
    "returned_for_correction": "Berkas dikembalikan kepada pemohon untuk dilengkapi",
    "complete": "Berkas lengkap; permohonan sedang diproses",
    "reviewed": "Kajian teknis selesai; menunggu keputusan",
    "approved": "Permohonan disetujui; sertifikat sedang diterbitkan",
    "rejected": "Permohonan ditolak",
    "issued": "Sertifikat Standar telah terbit",
    "withdrawn": "Permohonan dicabut oleh pemohon",
}
COMPLAINT_STATUS_TEXT: dict[str, str] = {
    "received": "Pengaduan diterima dan menunggu penelaahan",
    "classified": "Pengaduan sedang ditelaah",
    "analysed": "Pengaduan sedang dianalisis",
    "in_resolution": "Pengaduan sedang ditindaklanjuti",
    "answered": "Pengaduan telah dijawab",
    "closed": "Penanganan pengaduan selesai",
}
SUGGESTION_STATUS_TEXT: dict[str, str] = {
    "received": "Diterima dan dicatat sebagai saran (masukan)",
    "answered": "Saran telah ditanggapi",
    "closed": "Saran telah dicatat dan ditutup",
}
"""A suggestion has no handling steps: received, perhaps answered, closed."""


_STATUS_TEXT: dict[TrackedKind, dict[str, str]] = {
    "application": APPLICATION_STATUS_TEXT,
    "complaint": COMPLAINT_STATUS_TEXT,
    "suggestion": {**COMPLAINT_STATUS_TEXT, **SUGGESTION_STATUS_TEXT},
}


def status_text(kind: TrackedKind, status: str) -> str:
    """The status in words for the case's holder."""
    return _STATUS_TEXT[kind].get(status, status)


STEPS: dict[str, str] = {
    "application.submitted": "submitted",
    "application.file_returned_for_correction": "returned_for_correction",
    "application.resubmitted": "resubmitted",
    "application.file_declared_complete": "declared_complete",
    "application.technically_reviewed": "technically_reviewed",
    "application.certificate_issued": "issued",
    "application.certificate_revoked": "certificate_revoked",
    "application.withdrawn": "withdrawn",
    "complaint.received": "received",
    "complaint.reclassified": "accepted_as_complaint",
    "complaint.classified": "classified",
    "complaint.analysed": "analysed",
    "complaint.track_chosen": "in_resolution",
    "complaint.responded": "answered",
    "complaint.complainant_notified": "complainant_informed",
    "complaint.closed": "closed",
}
"""The events a case's holder sees as steps, by tag, and the step's name. Left out on
purpose: who works the case and at which tier (assignment, escalation), what stays inside
the office (findings, approvals, the report to a superior), and the record's own
housekeeping (audit holds, erasure). A decision is `approved` or `rejected` (`step_of`)."""

STEP_TEXT: dict[str, str] = {
    "submitted": "Permohonan diterima",
    "returned_for_correction": "Berkas dikembalikan untuk dilengkapi",
    "resubmitted": "Berkas perbaikan diterima",
    "declared_complete": "Berkas dinyatakan lengkap; batas waktu layanan mulai berjalan",
    "technically_reviewed": "Kajian teknis selesai",
    "approved": "Permohonan disetujui",
    "rejected": "Permohonan ditolak",
    "issued": "Sertifikat Standar terbit",
    "certificate_revoked": "Sertifikat dicabut",
    "withdrawn": "Permohonan dicabut",
    "received": "Pengaduan diterima",
    "accepted_as_complaint": "Ditetapkan untuk ditangani sebagai pengaduan",
    "classified": "Pengaduan diklasifikasikan",
    "analysed": "Pengaduan dianalisis",
    "in_resolution": "Penyelesaian ditindaklanjuti",
    "answered": "Jawaban disampaikan",
    "complainant_informed": "Hasil penanganan diberitahukan kepada pengadu",
    "closed": "Penanganan selesai",
}


def step_of(tag: str, outcome: str | None = None) -> str | None:
    """The step an event is for the case's holder; None: not one they see."""
    if tag == "application.decided":
        return "approved" if outcome == "approve" else "rejected"
    return STEPS.get(tag)


SUGGESTION_REASON_TEXT: dict[str, str] = {
    "late": "disampaikan lebih dari 30 hari setelah layanan diterima",
    "no_identity": "tanpa nama dan cara menghubungi pengadu",
    "no_subject_matter": "tanpa objek pengaduan",
}
"""Why a submission was recorded as a suggestion (`contracts.vocabulary`'s reasons)."""


def received_notice(kind: TrackedKind, reasons: list[str], working_days: int) -> str:
    """What the office says of a submission it received: the deadline of a complaint, or
    why it is a suggestion."""
    if kind == "suggestion":
        why = "; ".join(SUGGESTION_REASON_TEXT.get(r, r) for r in reasons)
        return f"Dicatat sebagai saran (masukan): {why}." if why else \
            "Dicatat sebagai saran (masukan)."
    return f"Pengaduan dijawab paling lambat dalam {working_days} hari kerja."
