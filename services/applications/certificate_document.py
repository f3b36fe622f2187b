"""The Sertifikat Standar as a person holds it: a page that says whether it is valid, and
a PDF that carries its signed record (API.md, "People and channels").

Both show the signed facts in Bahasa Indonesia, each under its label (`shown_facts`, the
one home for how a fact reads, which the offline check of `certificate_offline` applies
to the PDF's text), and a QR code (segno, inline SVG) of the link the certificate is
checked by. The PDF prints the signed record too, the canonical JSON and its signature,
and embeds it as the attachment `sertifikat-standar.json`, so that it can be verified
with the office's public key alone.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
import segno
from babel.dates import format_date
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.applications.views import CertificateCheck, SignedRecord
from services.domain.clock import JAKARTA
from services.infra.signing import canonical_json

ATTACHMENT_NAME = "sertifikat-standar.json"

FACTS_HEADING = "Data Sertifikat"
"""The section of the PDF whose text is exactly the signed facts under their labels."""
SIGNATURE_HEADING = "Tanda Tangan Elektronik"
"""The section after it: the signed record and its signature, printed."""

FACT_LABELS: tuple[tuple[str, str], ...] = (
    ("certificate_number", "Nomor Sertifikat"),
    ("nib", "Nomor Induk Berusaha (NIB)"),
    ("nib_source", "Asal NIB"),
    ("business_name", "Nama Pelaku Usaha"),
    ("kbli", "KBLI"),
    ("service_code", "Kode Layanan"),
    ("application_id", "Nomor Permohonan (ID)"),
    ("issued_at", "Tanggal Terbit"),
)
"""Each signed fact and its label, in the order printed."""

NIB_SOURCES = {
    "given": "NIB pelaku usaha dari OSS",
    "derived": "NIB sementara dari kantor (NIB resmi diterbitkan OSS)",
}


def issued_in_words(issued_at: str) -> str:
    """`2026-12-03T10:15:00+07:00` → `3 Desember 2026 pukul 10.15 WIB`."""
    local = datetime.fromisoformat(issued_at).astimezone(JAKARTA)
    return f"{format_date(local.date(), format='long', locale='id')} pukul {local:%H.%M} WIB"


def fact_in_words(name: str, value: Any) -> str:
    if name == "issued_at":
        return issued_in_words(str(value))
    if name == "nib_source":
        return NIB_SOURCES.get(str(value), str(value))
    return str(value)


def shown_facts(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) of each fact present and not null, in the order printed."""
    return [(label, fact_in_words(name, facts[name])) for name, label in FACT_LABELS
            if facts.get(name) is not None]


def qr_svg(url: str) -> str:
    """The link as a QR code, an inline `<svg>` sized by its container (a viewBox, no
    fixed size). A regular QR code (`make_qr`: never a Micro QR, which phone cameras do
    not read), medium error correction: it still reads on a creased or smudged print."""
    return str(segno.make_qr(url, error="m").svg_inline(
        scale=4, omitsize=True, title="Kode QR untuk memeriksa sertifikat", dark="#000",
        light="#fff"))


def _environment() -> Environment:
    return Environment(loader=PackageLoader("services.applications", "templates"),
                       autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


TEMPLATES = _environment()


def page(check: CertificateCheck, link: str, office: str,
         signed: SignedRecord | None) -> str:
    """The public check as a page: the facts, valid or not and why, the QR code of `link`
    (the copy's verification link, or the bare check without its `sig`), and the PDF's
    link to the holder of a valid copy."""
    return TEMPLATES.get_template("certificate_page.html").render(
        check=check, facts=shown_facts(msgspec.structs.asdict(check)), office=office,
        qr=qr_svg(link), link=link, holder=signed is not None,
        pdf_link=f"{signed.verification_url}&format=pdf" if signed and check.valid else None)


def not_found_page(number: str, office: str) -> str:
    return TEMPLATES.get_template("certificate_not_found.html").render(number=number,
                                                                       office=office)


def document_html(record: SignedRecord, office: str) -> str:
    """The printable certificate, signed by `office`."""
    return TEMPLATES.get_template("certificate_pdf.html").render(
        facts=shown_facts(record.payload), record=record, office=office,
        canonical=canonical_json(record.payload).decode(), qr=qr_svg(record.verification_url),
        facts_heading=FACTS_HEADING, signature_heading=SIGNATURE_HEADING,
        attachment=ATTACHMENT_NAME)


def pdf(record: SignedRecord, office: str) -> bytes:
    """The Sertifikat Standar as a PDF (A4) with its signed record attached. Printing
    takes about a second of CPU, and a public link asks for it: the same certificate is
    printed once (it prints the same every time), so scanning it again costs nothing."""
    return _printed(msgspec.json.encode(record), office)


@functools.lru_cache(maxsize=64)
def _printed(record_json: bytes, office: str) -> bytes:
    """Nothing is fetched while printing (the page holds its style and its QR code)."""
    from weasyprint import HTML, Attachment  # heavy: loaded only when a PDF is asked for
    from weasyprint.urls import URLFetcher

    record = msgspec.json.decode(record_json, type=SignedRecord)
    nothing = URLFetcher(allowed_protocols=("data",))
    issued = datetime.fromisoformat(str(record.payload["issued_at"]))
    attachment = Attachment(
        string=record_json, name=ATTACHMENT_NAME, url_fetcher=nothing,
        description="Data sertifikat yang ditandatangani dan tanda tangannya (Ed25519)",
        created=issued, modified=issued, relationship="Data")
    html = HTML(string=document_html(record, office), url_fetcher=nothing)
    return bytes(html.write_pdf(attachments=[attachment]))
