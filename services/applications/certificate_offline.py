"""`ptsp certificate verify FILE.pdf`: a certificate's PDF checked with nothing but the
office's public key (no network, no database).

The PDF carries its signed record as the attachment `sertifikat-standar.json`
(`certificate_document.pdf`). A copy passes when:
1. that record is signed by the office's key (its signature over the payload's
   canonical JSON verifies);
2. the facts the PDF shows in its "Data Sertifikat" section are exactly the signed
   facts, as `certificate_document.shown_facts` words them, and nothing else;
3. the signed record and its signature printed in the PDF are the attached ones.
Revocation cannot be known offline: the verdict says so and names the online link.
"""

from __future__ import annotations

import io
import json
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.applications.certificate_document import (
    ATTACHMENT_NAME,
    FACTS_HEADING,
    SIGNATURE_HEADING,
    shown_facts,
)
from services.applications.views import SIGNED_RECORD_FORMAT, SignedRecord
from services.infra.signing import (
    OFFICE_KEY_FILE,
    canonical_json,
    key_id_of,
    load_public_key,
    signature_verifies,
)


@dataclass
class Verdict:
    """What the offline check found: `valid` only when `problems` is empty."""

    record: SignedRecord | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    """The signed facts, worded as the PDF shows them."""
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.record is not None and not self.problems


def compact(text: str) -> str:
    """Text as compared: compatibility-normalised, every whitespace removed (a PDF's text
    breaks lines wherever the layout did)."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def read_pdf(data: bytes) -> tuple[bytes | None, str]:
    """The attached signed record (None: there is none) and the text of every page."""
    from pypdf import PdfReader  # loaded only by this command

    reader = PdfReader(io.BytesIO(data))
    attached = reader.attachments.get(ATTACHMENT_NAME)
    text = "\n".join(page.extract_text() for page in reader.pages)
    return (attached[0] if attached else None), text


def check_pdf(data: bytes, public_key: Ed25519PublicKey) -> Verdict:
    """Check a certificate's PDF against the office's public key (see the module's
    docstring for what is checked)."""
    verdict = Verdict()
    try:
        attached, text = read_pdf(data)
    # A damaged or hostile file makes pypdf raise many kinds of errors (its own, and
    # KeyError, IndexError, struct.error...): any of them means "not a readable PDF".
    except Exception as exc:  # noqa: BLE001
        verdict.problems.append(f"not a readable PDF: {exc}")
        return verdict
    if attached is None:
        verdict.problems.append(f"the PDF carries no signed record ({ATTACHMENT_NAME}): "
                                "it is not a certificate the office issued")
        return verdict
    try:
        record = msgspec.json.decode(attached, type=SignedRecord)
    except msgspec.DecodeError as exc:
        verdict.problems.append(f"the attached {ATTACHMENT_NAME} is malformed: {exc}")
        return verdict
    verdict.record = record
    if record.format != SIGNED_RECORD_FORMAT:
        verdict.problems.append(f"format: {record.format!r}, expected {SIGNED_RECORD_FORMAT!r}")
        return verdict
    _check_signature(verdict, record, public_key)
    try:
        verdict.facts = shown_facts(record.payload)
    except (ValueError, TypeError) as exc:
        verdict.problems.append(f"the signed facts cannot be read: {exc}")
        return verdict
    _check_shown_facts(verdict, record, compact(text))
    return verdict


def _check_signature(verdict: Verdict, record: SignedRecord,
                     public_key: Ed25519PublicKey) -> None:
    office_key_id = key_id_of(public_key)
    if signature_verifies(public_key, record.payload, record.signature):
        verdict.checked.append(f"the signed record is signed by the office's key "
                               f"{office_key_id}")
    elif record.key_id != office_key_id:
        verdict.problems.append(f"signed by another key ({record.key_id}), not the office's "
                                f"({office_key_id})")
    else:
        verdict.problems.append("the signature does not match the signed record: a fact was "
                                "changed after signing")


def _check_shown_facts(verdict: Verdict, record: SignedRecord, text: str) -> None:
    """The "Data Sertifikat" section (from its heading to the signature's) must read
    exactly as the signed facts; the signature's section must print the attached record."""
    heading, end = compact(FACTS_HEADING), compact(SIGNATURE_HEADING)
    expected = compact("".join(label + words for label, words in verdict.facts))
    start = text.find(heading)
    section = text[start + len(heading):] if start >= 0 else ""
    if start < 0:
        verdict.problems.append(f"the PDF shows no {FACTS_HEADING!r} section")
    elif section.startswith(expected) and section[len(expected):].startswith(end):
        verdict.checked.append("the facts the PDF shows are the signed ones")
    else:
        verdict.problems.append(f"the facts the PDF shows under {FACTS_HEADING!r} are not "
                                "the signed ones")
    printed = text[text.find(end):] if end in text else ""
    if (compact(canonical_json(record.payload).decode()) in printed
            and compact(record.signature) in printed):
        verdict.checked.append("the printed signed record and signature are the attached ones")
    else:
        verdict.problems.append("the signed record or signature printed in the PDF is not the "
                                "attached one")


# -- the command ---------------------------------------------------------------------------
def public_key_from(path: Path) -> Ed25519PublicKey:
    """PEM (public key, or the office's private key file), or the JSON answer of
    `GET /certificates/public-key` (its `public_key_pem`)."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        published = json.loads(data)
        if not isinstance(published, dict) or "public_key_pem" not in published:
            raise ValueError("JSON without `public_key_pem` (expected GET "
                             "/certificates/public-key's answer)")
        data = str(published["public_key_pem"]).encode()
    return load_public_key(data)


def run(pdf_file: Path, public_key_file: Path | None, keys_dir: Path) -> int:
    """Exit status 0: valid; 1: not valid (or not a certificate); 2: no key or no file."""
    key_file = public_key_file or keys_dir / OFFICE_KEY_FILE
    try:
        public_key = public_key_from(key_file)
    except FileNotFoundError:
        print(f"ptsp certificate verify: no office key at {key_file}; give --public-key FILE "
              "(PEM, or the JSON of GET /certificates/public-key) or --data-dir",
              file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"ptsp certificate verify: --public-key {key_file}: {exc}", file=sys.stderr)
        return 2
    try:
        data = pdf_file.read_bytes()
    except OSError as exc:
        print(f"ptsp certificate verify: {pdf_file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    verdict = check_pdf(data, public_key)
    _print(pdf_file, verdict, key_id_of(public_key))
    return 0 if verdict.valid else 1


def _print(pdf_file: Path, verdict: Verdict, office_key_id: str) -> None:
    print(f"{pdf_file}: checked offline with the office's key {office_key_id}")
    for label, text in verdict.facts:
        print(f"  {label}: {text}")
    for line in verdict.checked:
        print(f"  ok: {line}")
    for line in verdict.problems:
        print(f"  FAILED: {line}")
    if verdict.valid:
        assert verdict.record is not None
        print("VALID: genuine and unaltered. Whether it has since been revoked is known only "
              f"online: {verdict.record.verification_url}")
    else:
        print("INVALID: this PDF is not a genuine, unaltered certificate of the office")
