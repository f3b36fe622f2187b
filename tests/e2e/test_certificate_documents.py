"""End to end over HTTP: the certificate a person holds (issue 14, item 3). Its page (the
verdict, the signed facts, a QR code), its PDF (the facts, the signed record attached
and printed), and `ptsp certificate verify FILE.pdf`, which checks a PDF offline with the
office's public key and refuses every forgery."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader, PdfWriter

from services import cli
from services.applications import certificate_document
from services.applications.views import SignedRecord
from services.infra.signing import OfficeKey
from services.runtime import System
from tests.certificates import forged_signature
from tests.conftest import People
from tests.e2e.test_application_lifecycle import issue

pytestmark = pytest.mark.e2e

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PDF = {"Accept": "application/pdf"}
OFFICE = "DPMPTSP Kabupaten Purwakarta"


def link_of(issued: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The issuance's verification_url as (path, query) for the test's client."""
    url = httpx.URL(issued["verification_url"])
    return url.path, dict(url.params)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def attached_record(pdf: bytes) -> dict[str, Any]:
    (data,) = PdfReader(io.BytesIO(pdf)).attachments[certificate_document.ATTACHMENT_NAME]
    record: dict[str, Any] = json.loads(data)
    return record


def verify_offline(capsys: pytest.CaptureFixture[str], pdf_file: Path,
                   *options: str) -> tuple[int, str]:
    """`ptsp certificate verify FILE.pdf [options]`: exit status and what it printed."""
    capsys.readouterr()
    status = cli.main(["certificate", "verify", str(pdf_file), *options])
    return status, capsys.readouterr().out


async def test_the_page_shows_the_signed_facts_the_verdict_and_a_qr_code(
        http: httpx.AsyncClient, people: People) -> None:
    issued = await issue(http, people, "OSS-PAGE-1")
    path, query = link_of(issued)
    r = await http.get(path, params=query, headers=HTML)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    assert '<html lang="id">' in page
    assert 'data-valid="true"' in page and "SAH" in page
    for fact in (issued["certificate_number"], issued["nib"], "CV Susu Murni", "10510",
                 "SS-KBLI-10510", "Nama Pelaku Usaha", "Tanggal Terbit", "16 Maret 2026"):
        assert fact in page, fact
    assert '<svg viewBox="0 0' in page and 'class="segno"' in page
    # The QR code's link is the copy's own; the holder of a valid copy gets its PDF.
    assert issued["verification_url"].replace("&", "&amp;") in page
    assert "format=pdf" in page

    # The JSON contract is unchanged, and stays the default for any other Accept.
    for accept in ({}, {"Accept": "application/json"}, {"Accept": "*/*"},
                   {"Accept": "text/csv"}):
        r = await http.get(path, params=query, headers=accept)
        assert r.headers["content-type"].startswith("application/json"), accept
        assert r.json()["valid"] is True and r.json()["business_name"] == "CV Susu Murni"

    # The number alone: valid, but the page does not say whose it is.
    bare = (await http.get(path, headers=HTML)).text
    assert 'data-valid="true"' in bare and "CV Susu Murni" not in bare
    assert "format=pdf" not in bare
    # A copy whose signature is not the office's: not valid, and the page says why.
    forged = await http.get(path, params={"sig": forged_signature(query["sig"])}, headers=HTML)
    assert forged.status_code == 200 and 'data-valid="false"' in forged.text
    assert "salinan ini telah diubah atau palsu" in forged.text


async def test_a_revoked_certificate_reads_as_revoked_and_gets_no_pdf(
        http: httpx.AsyncClient, people: People) -> None:
    issued = await issue(http, people, "OSS-PAGE-REV")
    r = await http.post(f"/applications/{issued['id']}/certificate-revocation",
                        json={"reason": "izin dicabut"}, headers=people["head"])
    assert r.status_code == 200, r.text
    path, query = link_of(issued)
    page = (await http.get(path, params=query, headers=HTML)).text
    assert 'data-valid="false"' in page and "Dicabut: izin dicabut." in page
    assert "format=pdf" not in page
    # A PDF would still verify offline, where revocation cannot be known: none is made.
    r = await http.get(path, params=query, headers=PDF)
    assert r.status_code == 409 and r.json()["extra"]["rule"] == "certificate_not_valid"


async def test_the_pdf_carries_the_signed_facts_and_the_signature(
        http: httpx.AsyncClient, people: People, system: System) -> None:
    issued = await issue(http, people, "OSS-PDF-1")
    path, query = link_of(issued)
    r = await http.get(path, params=query, headers=PDF)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    text = pdf_text(r.content)
    assert "SERTIFIKAT STANDAR" in text and OFFICE in text
    flat = "".join(text.split())
    signature = issued["certificate"]["signature"]
    for fact in (issued["certificate_number"], issued["nib"], "CVSusuMurni", "SS-KBLI-10510",
                 issued["id"], "16Maret2026pukul", signature):
        assert fact in flat, fact
    # The signed record is attached: the facts exactly as signed, the signature, the key.
    record = attached_record(r.content)
    assert record["signature"] == signature
    assert record["key_id"] == system.office_key.key_id
    assert record["payload"]["certificate_number"] == issued["certificate_number"]
    assert record["payload"]["business_name"] == "CV Susu Murni"
    assert system.office_key.verify(record["payload"], record["signature"])
    # `format=pdf` (the page's download link: a link cannot set Accept) is the same PDF.
    r = await http.get(path, params={**query, "format": "pdf"})
    assert r.headers["content-type"] == "application/pdf"
    assert attached_record(r.content) == record

    # Only the holder of the copy's signature gets it: it names the business.
    r = await http.get(path, headers=PDF)
    assert r.status_code == 403 and r.json()["extra"]["field"] == "sig"
    r = await http.get(path, params={"sig": forged_signature(query["sig"])}, headers=PDF)
    assert r.status_code == 403


async def test_an_unknown_number_is_404_in_every_representation(
        http: httpx.AsyncClient, people: People) -> None:
    issued = await issue(http, people, "OSS-PDF-404")
    unknown = issued["certificate_number"][:-1] + (
        "A" if issued["certificate_number"][-1] != "A" else "B")
    sig = link_of(issued)[1]["sig"]
    for number in ("SS-10510-2026-NOTACERTIFICATE", unknown):
        r = await http.get(f"/certificates/{number}", params={"sig": sig})
        assert r.status_code == 404 and r.json()["detail"] == f"no certificate {number}"
        r = await http.get(f"/certificates/{number}", params={"sig": sig}, headers=HTML)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "Sertifikat tidak ditemukan" in r.text and 'lang="id"' in r.text
        r = await http.get(f"/certificates/{number}", params={"sig": sig}, headers=PDF)
        assert r.status_code == 404 and r.json()["detail"] == f"no certificate {number}"


async def test_offline_verification_accepts_the_real_pdf_and_refuses_forgeries(
        http: httpx.AsyncClient, people: People, system: System, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    issued = await issue(http, people, "OSS-PDF-OFFLINE")
    path, query = link_of(issued)
    genuine = (await http.get(path, params=query, headers=PDF)).content
    real = tmp_path / "sertifikat.pdf"
    real.write_bytes(genuine)
    data_dir = str(system.settings.data_dir)

    # With the data dir's office key, and with the published key (as a holder has it).
    status, out = verify_offline(capsys, real, "--data-dir", data_dir)
    assert status == 0, out
    assert "VALID" in out and issued["certificate_number"] in out and "CV Susu Murni" in out
    assert issued["verification_url"] in out  # revocation: online only, and it says where
    published = await http.get("/certificates/public-key")
    assert published.json()["key_id"] == attached_record(genuine)["key_id"]
    key_json = tmp_path / "office-key.json"
    key_json.write_text(published.text)
    assert verify_offline(capsys, real, "--public-key", str(key_json))[0] == 0
    key_pem = tmp_path / "office-key.pem"
    key_pem.write_text(published.json()["public_key_pem"])
    assert verify_offline(capsys, real, "--public-key", str(key_pem))[0] == 0

    record = msgspec.json.decode(
        json.dumps(attached_record(genuine)).encode(), type=SignedRecord)
    changed = {**record.payload, "business_name": "PT Susu Palsu"}

    def refused(name: str, pdf: bytes, reason: str) -> None:
        forged = tmp_path / f"{name}.pdf"
        forged.write_bytes(pdf)
        status, out = verify_offline(capsys, forged, "--data-dir", data_dir)
        assert status == 1, out
        assert "INVALID" in out and reason in out, out

    # One fact changed in the embedded record, the PDF otherwise as issued.
    writer = PdfWriter(clone_from=io.BytesIO(genuine))
    (embedded,) = [f for f in writer.attachment_list
                   if f.name == certificate_document.ATTACHMENT_NAME]
    embedded.content = msgspec.json.encode(msgspec.structs.replace(record, payload=changed))
    rewritten = io.BytesIO()
    writer.write(rewritten)
    refused("rewritten", rewritten.getvalue(), "a fact was changed after signing")

    # A whole new PDF showing and embedding the changed fact beside the office's signature.
    refused("remade", certificate_document.pdf(
        msgspec.structs.replace(record, payload=changed), OFFICE),
        "a fact was changed after signing")

    # The changed fact shown, the genuine record attached.
    refused("shown", _pdf_showing(msgspec.structs.replace(record, payload=changed), record),
            "the facts the PDF shows under 'Data Sertifikat' are not the signed ones")

    # A well-made certificate, signed by a key that is not the office's.
    other = OfficeKey(Ed25519PrivateKey.generate())
    refused("other-key", certificate_document.pdf(msgspec.structs.replace(
        record, signature=other.sign(record.payload), key_id=other.key_id), OFFICE),
        f"signed by another key ({other.key_id})")

    # Not a certificate of the office at all.
    refused("not-a-pdf", b"%PDF-1.7 nothing here", "not a readable PDF")

    # No key to check with: a usage error, not a verdict.
    status, _ = verify_offline(capsys, real, "--data-dir", str(tmp_path / "elsewhere"))
    assert status == 2


def _pdf_showing(shown: SignedRecord, attached: SignedRecord) -> bytes:
    """A PDF printing one record and carrying another (a forger's edit of the page)."""
    from weasyprint import HTML, Attachment

    html = certificate_document.document_html(shown, OFFICE)
    return bytes(HTML(string=html).write_pdf(attachments=[Attachment(
        string=msgspec.json.encode(attached), name=certificate_document.ATTACHMENT_NAME)]))
