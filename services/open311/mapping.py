"""Open311 GeoReport v2 onto the complaint intake and back. Pure: no I/O.

A new service request becomes the body of `POST /complaints` (`ComplaintIntake`), which
the complaints service takes like any other: the same rules (a suggestion when late,
anonymous or without a subject matter), the same checks of each field. Its errors name
the intake's fields; `open311_field` names them as the Open311 client sent them.

| Open311 | complaint intake |
|---|---|
| `first_name`, `last_name` | `complainant.name` (joined) |
| `email`, `phone`, `attribute[nik]` | `complainant.email`, `.phone`, `.nik` |
| `description` | `description`, then the place and the media (`place_and_media`) |
| `attribute[subject_matter]` | `subject_matter` (none: a suggestion, `no_subject_matter`) |
| `attribute[service_received_on]` | `service_received_on` (required: the 30 days count from it) |
| `attribute[related_application_id]` | `related_application_id` |
| `attribute[external_id]` | `external_id`; none: `open311-` and a hash of the request's content |
| the API key's channel | `channel` |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from services.complaints.domain import RESPONSE_WORKING_DAYS
from services.domain.clock import JAKARTA
from services.domain.errors import InvalidInput
from services.open311.views import (
    Attribute,
    NewServiceRequest,
    Service,
    ServiceDefinition,
    ServiceRequest,
)
from services.tracking.texts import TrackedKind, received_notice, status_text

SERVICE_CODE = "pengaduan"
SERVICE_NAME = "Pengaduan pelayanan perizinan"

SERVICE = Service(
    service_code=SERVICE_CODE, service_name=SERVICE_NAME,
    description="Pengaduan atau saran tentang pelayanan perizinan: persyaratan, prosedur, "
                "waktu, biaya, produk, sarana, atau kompetensi petugas. Pengaduan yang "
                "disampaikan lebih dari 30 hari setelah layanan diterima, tanpa nama dan "
                "kontak, atau tanpa objek pengaduan dicatat sebagai saran.",
    metadata=True, type="realtime", keywords="pengaduan, keluhan, saran, masukan",
    group="Pengaduan")

DEFINITION = ServiceDefinition(service_code=SERVICE_CODE, attributes=[
    Attribute(variable=True, code="service_received_on", datatype="datetime", required=True,
              datatype_description="Tanggal (YYYY-MM-DD)", order=1,
              description="Tanggal Anda menerima layanan yang diadukan"),
    Attribute(variable=True, code="subject_matter", datatype="string", required=False,
              datatype_description="Teks", order=2,
              description="Objek pengaduan: layanan, petugas, atau biaya yang diadukan "
                          "(tanpa objek, dicatat sebagai saran)"),
    Attribute(variable=True, code="nik", datatype="string", required=False,
              datatype_description="16 angka", order=3, description="NIK pengadu"),
    Attribute(variable=True, code="related_application_id", datatype="string",
              required=False, datatype_description="UUID", order=4,
              description="Nomor permohonan perizinan yang diadukan, bila ada"),
    Attribute(variable=False, code="external_id", datatype="string", required=False,
              datatype_description="Teks, paling panjang 500", order=5,
              description="Rujukan permintaan ini di sistem kanal: permintaan yang sama "
                          "dikirim ulang tidak dicatat dua kali"),
])

OPEN311_FIELD: dict[str, str] = {
    "channel": "api_key",
    "external_id": "attribute[external_id]",
    "complainant": "first_name",
    "complainant.name": "first_name",
    "complainant.email": "email",
    "complainant.phone": "phone",
    "complainant.nik": "attribute[nik]",
    "subject_matter": "attribute[subject_matter]",
    "description": "description",
    "service_received_on": "attribute[service_received_on]",
    "received_at": "attribute[service_received_on]",
    "related_application_id": "attribute[related_application_id]",
}
"""An intake field (as its errors name it) → the Open311 field it came from."""


def open311_field(intake_field: str) -> str:
    return OPEN311_FIELD.get(intake_field, intake_field)


def received_on(text: str | None) -> date:
    """`attribute[service_received_on]`: a date, or a datetime (its day in Jakarta)."""
    field = "attribute[service_received_on]"
    if text is None or not text.strip():
        raise InvalidInput(field, "required: the date the service was received (YYYY-MM-DD); "
                                  "the 30-day window for a complaint counts from it")
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "must be a date, YYYY-MM-DD") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=JAKARTA)).astimezone(
        JAKARTA).date()


def content_reference(form: NewServiceRequest) -> str:
    """The external id of a request that brings none: its content (all but the API key),
    so the same request sent again (a retry after a timeout) is the same case."""
    content = {k: v for k, v in msgspec.to_builtins(form).items() if k != "api_key"}
    digest = hashlib.sha256(msgspec.json.encode(content, order="sorted")).hexdigest()
    return f"open311-{digest[:40]}"


def place_and_media(form: NewServiceRequest) -> str:
    """What the standard carries beside the text, as lines after it: the intake has no
    field for a place or a picture, and the description is sealed as personal data,
    which a place may well be."""
    lines = []
    if form.address_string:
        lines.append(f"Lokasi: {form.address_string}")
    if form.address_id:
        lines.append(f"Kode alamat: {form.address_id}")
    if form.lat is not None or form.long is not None:
        lines.append(f"Koordinat: {form.lat}, {form.long}")
    if form.media_url:
        lines.append(f"Lampiran: {form.media_url}")
    return "\n".join(lines)


def intake_body(form: NewServiceRequest, channel: str) -> dict[str, Any]:
    """The complaint intake's body for a new service request from `channel`."""
    if (form.lat is None) != (form.long is None):
        raise InvalidInput("long" if form.long is None else "lat",
                           "lat and long come together")
    name = " ".join(p.strip() for p in (form.first_name, form.last_name) if p and p.strip())
    person = {"name": name or None, "email": form.email or None, "phone": form.phone or None,
              "nik": form.nik or None}
    extra = place_and_media(form)
    return {
        "channel": channel,
        "external_id": form.external_id or content_reference(form),
        "complainant": person if any(person.values()) else None,
        "subject_matter": form.subject_matter or None,
        "description": f"{form.description}\n\n{extra}" if extra else form.description,
        "service_received_on": received_on(form.service_received_on).isoformat(),
        "related_application_id": form.related_application_id or None,
    }


# -- back: a complaint as a service request ----------------------------------------------
@dataclass(frozen=True, kw_only=True)
class RequestFacts:
    """What a service request shows of a complaint, from the case itself or from the
    read model (the same facts either way)."""

    id: UUID
    tracking_number: str
    status: str
    kind: TrackedKind
    reasons: list[str]
    track: str | None
    requested: datetime
    updated: datetime
    due: datetime | None


def agency(track: str | None, office: str) -> str:
    """Who handles the complaint on its track (seed 6.7: internal, technical team, APIP)."""
    if track == "apip":
        return "Inspektorat (APIP)"
    if track == "technical_team":
        return f"{office} (tim teknis)"
    return office


def open_or_closed(status: str) -> Literal["open", "closed"]:
    return "closed" if status == "closed" else "open"


def service_request(facts: RequestFacts, office: str) -> ServiceRequest:
    return ServiceRequest(
        service_request_id=str(facts.id), status=open_or_closed(facts.status),
        status_notes=status_text(facts.kind, facts.status), service_name=SERVICE_NAME,
        service_code=SERVICE_CODE, agency_responsible=agency(facts.track, office),
        service_notice=received_notice(facts.kind, facts.reasons, RESPONSE_WORKING_DAYS),
        requested_datetime=facts.requested.astimezone(JAKARTA),
        updated_datetime=facts.updated.astimezone(JAKARTA),
        tracking_number=facts.tracking_number,
        expected_datetime=facts.due.astimezone(JAKARTA) if facts.due else None)
