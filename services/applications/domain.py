"""The licence application (permohonan) aggregate. Pure domain: no I/O, no wall clock.

Lifecycle (API.md, DOMAIN.md):

  submitted ─verify(all met)─▶ complete ─tech. review─▶ reviewed ─decide─▶ approved ─issue─▶ issued
      ▲   └─verify(any unmet)─▶ returned                              └─▶ rejected
      └──────── resubmit ─────────┘   (the office may also return a complete file: the
                                       clock pauses until the applicant resubmits)

The 7-working-day clock starts when the file is declared complete, pauses while a file
the office returned after that is with the applicant, and stops at issuance or rejection.

A requirement the catalogue ties to a fact of the business (KBLI 10510: U1, a small or
medium business; U4, in an industrial estate) cannot be marked met against that fact:
the verification is refused naming the rule (`Condition`), unless the catalogue allows
the requirement to be met otherwise and the officer records the legal ground.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from contracts.vocabulary import FIRST_TIER
from services.domain.cases import Case
from services.domain.errors import InvalidInput, RuleViolation
from services.domain.sla import ClockedCase, SlaClock

NAMESPACE = uuid.UUID("6f1d1c3e-0a55-4d7e-9b0e-9e1f2b0c5a10")

AWAITING_VERIFICATION = "awaiting_verification"
RETURNED = "returned_for_correction"
COMPLETE = "complete"
REVIEWED = "reviewed"
APPROVED = "approved"
REJECTED = "rejected"
ISSUED = "issued"
WITHDRAWN = "withdrawn"
FINAL = (REJECTED, ISSUED, WITHDRAWN)


def application_id(channel: str, external_id: str) -> uuid.UUID:
    """Intake is idempotent on (channel, external_id): the id is derived from it, so a
    second submission collides with the first inside the event store."""
    return uuid.uuid5(NAMESPACE, f"application:{channel}:{external_id}")


TRACKING_PREFIX = "PRM"


def legacy_tracking_number(case_id: uuid.UUID) -> str:
    """The number of a case submitted before numbers were drawn with the office's key
    (its first event records none): derived from the id, so anyone who knows the
    channel's reference could work it out. Such a case keeps it; a new case's number is
    `services.infra.tracking_key.TrackingKey.number`, recorded in `Submitted`."""
    return f"{TRACKING_PREFIX}-{case_id.hex[:10].upper()}"


@dataclass(frozen=True, kw_only=True)
class Condition:
    """A requirement decided by a fact of the business (from the catalogue row): marked
    met, the business's `field` must hold one of `allowed`, or the verification is
    refused naming `rule`. `exception`: the legal ground under which the requirement may
    be met otherwise (the officer then states it); None: no exception."""

    code: str
    field: str
    allowed: tuple[object, ...]
    rule: str
    exception: str | None = None


class LicenceApplication(Case, ClockedCase):
    @staticmethod
    def create_id(channel: str, external_id: str, **_: Any) -> uuid.UUID:
        return application_id(channel, external_id)

    @event("Submitted")
    def __init__(self, channel: str, external_id: str, service_code: str,
                 requirement_codes: list[str], sla_working_days: int, unit: str,
                 applicant: dict[str, Any], business: dict[str, Any],
                 actor: dict[str, Any], at: datetime,
                 procedure_classification: int | None = None,
                 tracking_number: str | None = None) -> None:
        self.channel = channel
        # Drawn at intake with the office's key; None in the events of cases submitted
        # before that, which keep the number derived from their id.
        self._tracking_number = tracking_number
        # The seed's procedure (Lampiran IV: classification 3, 7, 12 or 16), as the
        # channel declared it and intake checked it against the catalogue.
        self.procedure_classification = procedure_classification
        self.external_id = external_id
        self.service_code = service_code
        self.requirement_codes = list(requirement_codes)
        self.sla_working_days = sla_working_days
        self.unit = unit
        self.applicant = applicant
        self.business = business
        self.submitted_at = at
        self.status = AWAITING_VERIFICATION
        self.tier = FIRST_TIER
        self.tier_since = at
        self.tier_history: list[dict[str, Any]] = []
        self.assignee: str | None = None
        self.verifications: list[dict[str, Any]] = []
        self.sla_clock = SlaClock()
        self.review: dict[str, Any] | None = None
        self.decision: dict[str, Any] | None = None
        self.certificate: dict[str, Any] | None = None
        self.withdrawal: dict[str, Any] | None = None
        self.unmet: list[str] = []

    @property
    def tracking_number(self) -> str:
        return self._tracking_number or legacy_tracking_number(self.id)

    @property
    def is_closed(self) -> bool:
        return self.status in FINAL

    @property
    def declared_complete_at(self) -> datetime | None:
        return self.sla_clock.started_at

    # -- verification -------------------------------------------------------------
    def verify(self, results: dict[str, bool], note: str | None,
               actor: dict[str, Any], at: datetime, conditions: Sequence[Condition] = (),
               exceptions: Mapping[str, str] | None = None) -> None:
        """`conditions`: the requirements the service ties to a fact of the business;
        `exceptions`: for a condition with an exception, the ground the officer states
        for marking it met otherwise (by requirement code)."""
        self.check_status("verification", AWAITING_VERIFICATION)
        missing = [c for c in self.requirement_codes if c not in results]
        unknown = [c for c in results if c not in self.requirement_codes]
        if missing:
            raise InvalidInput("results", f"no result for requirement(s) {', '.join(missing)}")
        if unknown:
            raise InvalidInput("results", f"unknown requirement code(s) {', '.join(unknown)}")
        grounds = self.check_conditions(results, conditions, dict(exceptions or {}))
        unmet = [c for c in self.requirement_codes if not results[c]]
        if unmet:
            self._returned(results=dict(results), unmet=unmet, note=note, actor=actor, at=at)
        else:
            self._declared_complete(results=dict(results), note=note, actor=actor, at=at,
                                    exceptions=grounds)

    def check_conditions(self, results: Mapping[str, bool], conditions: Sequence[Condition],
                         exceptions: dict[str, str]) -> dict[str, str]:
        """A requirement marked met against a fact of the business is refused, naming
        the rule; the grounds stated for the ones met by an exception, kept with the
        verification."""
        by_code = {c.code: c for c in conditions}
        for code, ground in exceptions.items():
            condition = by_code.get(code)
            if condition is None or condition.exception is None:
                raise InvalidInput(f"exceptions.{code}",
                                   "this requirement cannot be met by an exception")
            if not ground.strip():
                raise InvalidInput(f"exceptions.{code}",
                                   f"state the ground ({condition.exception})")
        grounds = {}
        for condition in conditions:
            fact = self.business.get(condition.field)
            if not results.get(condition.code) or fact in condition.allowed:
                continue
            if condition.code in exceptions:
                grounds[condition.code] = exceptions[condition.code]
                continue
            allowed = " or ".join(str(v).lower() for v in condition.allowed)
            otherwise = (f"; or state the ground under {condition.exception} in "
                         f"`exceptions.{condition.code}`" if condition.exception else "")
            raise InvalidInput(
                f"results.{condition.code}",
                f"cannot be met: the business's {condition.field} is {str(fact).lower()}, the "
                f"requirement needs {allowed}{otherwise}", rule=condition.rule)
        return grounds

    @event("FileDeclaredComplete")
    def _declared_complete(self, results: dict[str, bool], note: str | None,
                           actor: dict[str, Any], at: datetime,
                           exceptions: dict[str, str] | None = None) -> None:
        self.verifications.append({"at": at, "results": results, "complete": True, "note": note,
                                   "exceptions": dict(exceptions or {})})
        self.status = COMPLETE
        self.clock_after("application.file_declared_complete", at=at)

    @event("FileReturnedForCorrection")
    def _returned(self, results: dict[str, bool] | None, unmet: list[str], note: str | None,
                  actor: dict[str, Any], at: datetime) -> None:
        if results is not None:
            self.verifications.append({"at": at, "results": results, "complete": False,
                                       "note": note, "exceptions": {}})
        self.status = RETURNED
        self.unmet = unmet
        self.clock_after("application.file_returned_for_correction", at=at)

    def return_for_correction(self, reason: str, unmet: list[str],
                              actor: dict[str, Any], at: datetime) -> None:
        """The office sends back a file it had declared complete (technical review found a
        gap): the clock pauses while the file is with the applicant."""
        self.check_status("return for correction", COMPLETE, REVIEWED)
        if not reason.strip():
            raise InvalidInput("reason", "say what the applicant must correct")
        unknown = [c for c in unmet if c not in self.requirement_codes]
        if unknown:
            raise InvalidInput("unmet", f"unknown requirement code(s) {', '.join(unknown)}")
        self.review = None
        self._returned(results=None, unmet=list(unmet), note=reason, actor=actor, at=at)

    def resubmit(self, note: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.check_status("resubmission", RETURNED)
        self._resubmitted(note=note, actor=actor, at=at)

    @event("Resubmitted")
    def _resubmitted(self, note: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.status = AWAITING_VERIFICATION
        self.clock_after("application.resubmitted", at=at)

    # -- review, decision, issuance ---------------------------------------------------
    def review_technically(self, recommendation: str, note: str,
                           actor: dict[str, Any], at: datetime) -> None:
        self.check_status("technical review", COMPLETE)
        if recommendation not in ("approve", "reject"):
            raise InvalidInput("recommendation", "must be approve or reject")
        self._reviewed(recommendation=recommendation, note=note, actor=actor, at=at)

    @event("TechnicallyReviewed")
    def _reviewed(self, recommendation: str, note: str, actor: dict[str, Any],
                  at: datetime) -> None:
        self.review = {"recommendation": recommendation, "note": note, "by": actor["id"], "at": at}
        self.status = REVIEWED

    def decide(self, outcome: str, reason: str, actor: dict[str, Any], at: datetime) -> None:
        self.check_status("decision", REVIEWED)
        if outcome not in ("approve", "reject"):
            raise InvalidInput("outcome", "must be approve or reject")
        if outcome == "reject" and not reason.strip():
            raise InvalidInput("reason", "a rejection must give its reason")
        self._decided(outcome=outcome, reason=reason, actor=actor, at=at)

    @event("Decided")
    def _decided(self, outcome: str, reason: str, actor: dict[str, Any], at: datetime) -> None:
        self.decision = {"outcome": outcome, "reason": reason, "by": actor["id"], "at": at}
        if outcome == "approve":
            self.status = APPROVED
        else:
            self.status = REJECTED
        self.clock_after("application.decided", outcome=outcome, at=at)

    def issue(self, certificate: dict[str, Any], actor: dict[str, Any], at: datetime) -> None:
        """`certificate` is built and signed by the service (see `certificate_payload`)."""
        self.check_status("issuance", APPROVED, rule="issuance_requires_approval")
        self._issued(certificate=certificate, actor=actor, at=at)

    @event("CertificateIssued")
    def _issued(self, certificate: dict[str, Any], actor: dict[str, Any], at: datetime) -> None:
        self.certificate = dict(certificate)
        self.status = ISSUED
        self.clock_after("application.certificate_issued", at=at)

    def revoke_certificate(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        self.check_status("certificate revocation", ISSUED)
        assert self.certificate is not None
        if self.certificate.get("revoked"):
            raise RuleViolation("the certificate is already revoked", rule="already_revoked")
        if not reason.strip():
            raise InvalidInput("reason", "a revocation must give its reason")
        self._revoked(reason=reason, actor=actor, at=at)

    @event("CertificateRevoked")
    def _revoked(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        assert self.certificate is not None
        self.certificate = {**self.certificate, "revoked": {"reason": reason, "at": at}}

    def withdraw(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        if self.is_closed:
            raise RuleViolation(f"the application is already {self.status}",
                                rule="case_closed", status=self.status)
        if self.status == APPROVED:
            raise RuleViolation("an approved application is only waiting for issuance",
                                rule="approved_cannot_be_withdrawn", status=self.status)
        self._withdrawn(reason=reason, actor=actor, at=at)

    @event("Withdrawn")
    def _withdrawn(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        self.withdrawal = {"reason": reason, "at": at, "by": actor["id"]}
        self.status = WITHDRAWN
        self.clock_after("application.withdrawn", at=at)

    # -- helpers -------------------------------------------------------------------
    def check_status(self, step: str, *allowed: str, rule: str | None = None) -> None:
        if self.status not in allowed:
            raise RuleViolation(
                f"{step} is not possible while the application is {self.status} "
                f"(it needs: {' or '.join(allowed)})",
                rule=rule or f"{step.replace(' ', '_')}_not_allowed_when_{self.status}",
                status=self.status)


def certificate_payload(app: LicenceApplication, number: str, nib: str,
                        issued_at: datetime, nib_source: str | None = None) -> dict[str, Any]:
    """What the office signs: everything a reader of the certificate relies on.
    `nib_source` (`given`, `derived`) is signed too; certificates issued before it was
    recorded carry none, and their payload stays what was signed."""
    payload = {
        "certificate_number": number,
        "nib": nib,
        "application_id": str(app.id),
        "service_code": app.service_code,
        "business_name": app.business.get("name"),
        "kbli": app.business.get("kbli"),
        "issued_at": issued_at.isoformat(),
    }
    if nib_source is not None:
        payload["nib_source"] = nib_source
    return payload


def nib_of(app: LicenceApplication) -> str | None:
    """The business's NIB, when the channel gave one: OSS issues it, and the business
    keeps it across its applications."""
    nib = app.business.get("nib")
    return nib if isinstance(nib, str) and nib else None
