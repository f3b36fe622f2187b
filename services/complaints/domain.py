"""The complaint (pengaduan) aggregate. Pure domain: no I/O, no wall clock.

Lifecycle of a complaint (seed, Standar Pelayanan point 6; DOMAIN.md, API.md):

    received ─classify─▶ classified ─analyse─▶ analysed ─choose_track─▶ in_resolution
                                                   │  (approve_apip: by the head, before
                                                   │   an `apip` track is chosen; by a
                                                   │   supervisor or an auditor naming
                                                   │   another authority when the
                                                   │   complaint concerns the head)
                                                   │  (record_findings: once, after the
                                                   │   analysis and before the answer)
    in_resolution ─respond (needs the findings)─▶ answered ─notify_complainant─▶ (notified)
          ─report_to_superior─▶ (reported) ─close (needs both)─▶ closed

Escalation and assignment (tier by tier) are inherited from `Case` and allowed at any
step until closure. The 14-working-day clock runs from `received_at` (the seed: "sejak
diterimanya pengaduan") and stops at the answer; for a late suggestion the office takes
on as a complaint, it runs from that decision.

A submission that is late (more than 30 calendar days after the service), without the
complainant's identity, or without a subject matter is a suggestion (saran/masukan):
recorded, counted, no clock, no handling steps; it may be answered (an acknowledgement),
and may be closed at any time; classification, analysis and tracks are refused
(`not_a_complaint`). A suggestion that is only late may be reclassified as a
complaint by an officer with a recorded reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import event

from contracts.vocabulary import (
    FINDINGS_OUTCOMES,
    FIRST_TIER,
    HANDLING_PLANS,
    PROBLEM_TYPES,
    TRACKS,
)
from services.domain.actors import COMPLAINT_CHANNELS, COMPLAINTS_UNIT, tier_above
from services.domain.cases import Case
from services.domain.clock import JAKARTA, stated_time
from services.domain.errors import InvalidInput, RuleViolation
from services.domain.sla import ClockedCase, SlaClock

NAMESPACE = uuid.UUID("0c7b3f52-5d0e-4b8a-a2f4-3e6a8d9c1b27")

# The seed: at most 30 calendar days after the complainant received the service; 14
# working days to answer.
COMPLAINT_WINDOW_DAYS = 30
RESPONSE_WORKING_DAYS = 14

COMPLAINT = "complaint"
SUGGESTION = "suggestion"
# Why a submission is a suggestion, in the order API.md lists them.
LATE = "late"
NO_IDENTITY = "no_identity"
NO_SUBJECT_MATTER = "no_subject_matter"
REASONS = (LATE, NO_IDENTITY, NO_SUBJECT_MATTER)

# Seed 6.7 a-c (contracts.vocabulary.TRACKS).
INTERNAL = "internal"
TECHNICAL_TEAM = "technical_team"
APIP = "apip"
DEFAULT_APIP_AUTHORITY = "kepala_dpmptsp"

RECEIVED = "received"
CLASSIFIED = "classified"
ANALYSED = "analysed"
IN_RESOLUTION = "in_resolution"
ANSWERED = "answered"
CLOSED = "closed"
STATUSES = (RECEIVED, CLASSIFIED, ANALYSED, IN_RESOLUTION, ANSWERED, CLOSED)


def complaint_id(channel: str, external_id: str) -> uuid.UUID:
    """Intake is idempotent on (channel, external_id): the id is derived from it, so a
    second submission collides with the first inside the event store."""
    return uuid.uuid5(NAMESPACE, f"complaint:{channel}:{external_id}")


TRACKING_PREFIX = "ADU"


def legacy_tracking_number(case_id: uuid.UUID) -> str:
    """The number of a case received before numbers were drawn with the office's key
    (its `Received` records none), derived from the id; such a case keeps it."""
    return f"{TRACKING_PREFIX}-{case_id.hex[:10].upper()}"


def classify_intake(complainant: dict[str, Any] | None, subject_matter: str | None,
                    service_received_on: date, received_at: datetime) -> list[str]:
    """Why a submission is a suggestion rather than a complaint: every reason that
    applies, in the order of `REASONS`; empty for a complaint. `received_at` must carry
    a time zone: the 30 days are counted on Jakarta's calendar."""
    reasons = []
    received_on = received_at.astimezone(JAKARTA).date()
    if (received_on - service_received_on).days > COMPLAINT_WINDOW_DAYS:
        reasons.append(LATE)
    if not _identified(complainant):
        reasons.append(NO_IDENTITY)
    if subject_matter is None or not subject_matter.strip():
        reasons.append(NO_SUBJECT_MATTER)
    return reasons


def _identified(complainant: dict[str, Any] | None) -> bool:
    """A name and a way to reach them (UU 25/2009 on a written complaint)."""
    if not complainant:
        return False

    def given(key: str) -> bool:
        value = complainant.get(key)
        return isinstance(value, str) and bool(value.strip())

    return given("name") and any(given(k) for k in ("phone", "email", "address"))


class Complaint(Case, ClockedCase):
    @staticmethod
    def create_id(channel: str, external_id: str, **_: Any) -> uuid.UUID:
        return complaint_id(channel, external_id)

    @classmethod
    def receive(cls, channel: str, external_id: str, complainant: dict[str, Any] | None,
                subject_matter: str | None, description: str, service_received_on: date,
                received_at: datetime | None, related_application_id: str | None,
                actor: dict[str, Any], at: datetime,
                seal: Callable[[Any], Any] | None = None,
                tracking_number: str | None = None) -> Complaint:
        """Record a submission and classify it. `at` is when the system records it;
        `received_at` when the channel got it (a letter, a box opened later), default `at`.
        `seal` (from the service) turns the personal data into what the event stores:
        applied after the classification, which needs the plaintext. `tracking_number`:
        drawn by the service with the office's key (None: the number derived from the id,
        as cases received before keep)."""
        if channel not in COMPLAINT_CHANNELS:
            raise InvalidInput("channel", f"must be one of {', '.join(COMPLAINT_CHANNELS)}")
        if not external_id.strip():
            raise InvalidInput("external_id", "must not be empty")
        if complainant is not None and not isinstance(complainant, dict):
            raise InvalidInput("complainant", "must be an object or null")
        received_at = stated_time("received_at", received_at, at)
        if service_received_on > received_at.astimezone(JAKARTA).date():
            raise InvalidInput("service_received_on", "is after received_at")
        reasons = classify_intake(complainant, subject_matter, service_received_on, received_at)
        if seal is not None:
            complainant = seal(dict(complainant)) if complainant is not None else None
            subject_matter = seal(subject_matter) if subject_matter is not None else None
            description = seal(description)
        return cls(
            channel=channel, external_id=external_id,
            complainant=dict(complainant) if complainant is not None else None,
            subject_matter=subject_matter, description=description,
            service_received_on=service_received_on, received_at=received_at,
            recorded_at=at, related_application_id=related_application_id,
            kind=SUGGESTION if reasons else COMPLAINT, reasons=reasons,
            sla_working_days=RESPONSE_WORKING_DAYS, actor=actor,
            tracking_number=tracking_number,
        )

    @event("Received")
    def __init__(self, channel: str, external_id: str, complainant: dict[str, Any] | None,
                 subject_matter: str | None, description: str, service_received_on: date,
                 received_at: datetime, recorded_at: datetime,
                 related_application_id: str | None, kind: str, reasons: list[str],
                 sla_working_days: int, actor: dict[str, Any],
                 tracking_number: str | None = None) -> None:
        self.channel = channel
        self._tracking_number = tracking_number  # None: received before numbers were keyed
        self.external_id = external_id
        self.complainant = complainant
        self.subject_matter = subject_matter
        self.description = description
        self.service_received_on = service_received_on
        self.received_at = received_at
        self.recorded_at = recorded_at
        self.related_application_id = related_application_id
        self.kind = kind
        # What intake found (kept for the record); `reasons` is the current answer and
        # is emptied by a reclassification.
        self.intake_reasons = list(reasons)
        self.reasons = list(reasons)
        self.sla_working_days = sla_working_days
        self.unit = COMPLAINTS_UNIT
        self.status = RECEIVED
        self.tier = FIRST_TIER
        self.tier_since = recorded_at
        self.tier_history: list[dict[str, Any]] = []
        self.assignee: str | None = None
        self.sla_clock = SlaClock()
        self.clock_after("complaint.received", kind=kind, received_at=received_at)
        self.reclassification: dict[str, Any] | None = None
        self.classification: dict[str, Any] | None = None
        self.analysis: dict[str, Any] | None = None
        self.findings: dict[str, Any] | None = None
        self.apip_approval: dict[str, Any] | None = None
        self.track: str | None = None
        self.agencies: list[str] = []
        self.track_history: list[dict[str, Any]] = []
        self.response: dict[str, Any] | None = None
        self.notifications: list[dict[str, Any]] = []
        self.superior_reports: list[dict[str, Any]] = []
        self.closure: dict[str, Any] | None = None

    @property
    def tracking_number(self) -> str:
        return self._tracking_number or legacy_tracking_number(self.id)

    @property
    def reason(self) -> str | None:
        """The first reason it is a suggestion; None for a complaint."""
        return self.reasons[0] if self.reasons else None

    @property
    def is_suggestion(self) -> bool:
        return self.kind == SUGGESTION

    @property
    def is_closed(self) -> bool:
        return self.status == CLOSED

    @property
    def concerns_head(self) -> bool:
        """The complaint is about the head of office (a fact of its classification)."""
        return bool(self.classification and self.classification.get("concerns_head"))

    # -- reclassification -----------------------------------------------------------
    def reclassify(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        """An officer treats a late suggestion as a complaint after all (the seed says a
        late one *may* be treated as a suggestion). The 14 working days count from this
        decision, not from receipt: until now the office owed no answer (a late
        submission is a suggestion), and a clock counted from receipt would often be
        breached, and escalated, the moment the office takes the complaint on. The event
        records both instants: `received_at` (receipt) and `at` (the decision)."""
        self.check_open("reclassification")
        if not self.is_suggestion:
            raise RuleViolation("it is already a complaint", rule="already_a_complaint")
        if self.reasons != [LATE]:
            raise RuleViolation(
                "only a suggestion that is late and nothing else may become a complaint: "
                f"this one is {', '.join(self.reasons)}",
                rule="reclassification_only_when_only_late", reasons=self.reasons)
        if self.status != RECEIVED:
            raise RuleViolation(f"the suggestion is already {self.status}",
                                rule=f"reclassification_not_allowed_when_{self.status}",
                                status=self.status)
        if not reason.strip():
            raise InvalidInput("reason", "a reclassification must give its reason")
        self._reclassified(reason=reason, actor=actor, at=at, received_at=self.received_at)

    @event("Reclassified")
    def _reclassified(self, reason: str, actor: dict[str, Any], at: datetime,
                      received_at: datetime | None = None) -> None:
        self.reclassification = {"from_reasons": self.reasons, "reason": reason,
                                 "by": actor["id"], "at": at,
                                 "received_at": received_at or self.received_at}
        self.kind = COMPLAINT
        self.reasons = []
        self.clock_after("complaint.reclassified", at=at)

    # -- review and classification (seed 6.5.c) --------------------------------------
    def classify(self, service_code: str, problem_type: str,
                 actor: dict[str, Any], at: datetime, concerns_head: bool = False) -> None:
        """`concerns_head`: the complaint is about the head of office himself, who then
        may not approve involving APIP about it (seed 6.7.c, "or as the regulations
        provide")."""
        self.check_step("classification", RECEIVED, complaint_only=True)
        if not service_code.strip():
            raise InvalidInput("service_code", "must name the service")
        if problem_type not in PROBLEM_TYPES:
            raise InvalidInput("problem_type", f"must be one of {', '.join(PROBLEM_TYPES)}")
        self._classified(service_code=service_code, problem_type=problem_type,
                         concerns_head=concerns_head, actor=actor, at=at)

    @event("Classified")
    def _classified(self, service_code: str, problem_type: str,
                    actor: dict[str, Any], at: datetime, concerns_head: bool = False) -> None:
        self.classification = {"service_code": service_code, "problem_type": problem_type,
                               "concerns_head": concerns_head, "by": actor["id"], "at": at}
        self.status = CLASSIFIED

    # -- analysis (seed 6.6) --------------------------------------------------------------
    def analyse(self, core_problem: str, standard_refs: list[str],
                documents_checked: list[str], handling_plan: str,
                actor: dict[str, Any], at: datetime) -> None:
        self.check_step("analysis", CLASSIFIED, requires="classification", complaint_only=True)
        if not core_problem.strip():
            raise InvalidInput("core_problem", "formulate the core problem")
        if not [r for r in standard_refs if r.strip()]:
            raise InvalidInput("standard_refs",
                               "link the complaint to the service standard, SOP or regulation")
        if handling_plan not in HANDLING_PLANS:
            raise InvalidInput("handling_plan", f"must be one of {', '.join(HANDLING_PLANS)}")
        self._analysed(core_problem=core_problem, standard_refs=list(standard_refs),
                       documents_checked=list(documents_checked), handling_plan=handling_plan,
                       actor=actor, at=at)

    @event("Analysed")
    def _analysed(self, core_problem: str, standard_refs: list[str],
                  documents_checked: list[str], handling_plan: str,
                  actor: dict[str, Any], at: datetime) -> None:
        self.analysis = {"core_problem": core_problem, "standard_refs": standard_refs,
                         "documents_checked": documents_checked,
                         "handling_plan": handling_plan, "by": actor["id"], "at": at}
        self.status = ANALYSED

    # -- carrying out the handling plan (seed 6.6.e) ----------------------------------------
    def record_findings(self, actions: list[str], consulted: list[str], outcome: str,
                        note: str | None, actor: dict[str, Any], at: datetime) -> None:
        """The clarification, confirmation, examination or investigation the analysis
        planned, carried out: what was done, the documents and people consulted, and
        whether it proved the complaint's matter. Once, after the analysis and before the
        answer, before or after the track (the track says who resolves it; the findings
        what is true); the answer needs them, since it must rest on proven facts."""
        self.check_step("findings", ANALYSED, IN_RESOLUTION, requires="analysis",
                        complaint_only=True)
        if self.findings is not None:
            raise RuleViolation("the findings are already recorded",
                                rule="findings_already_recorded")
        actions = [a for a in actions if a.strip()]
        if not actions:
            raise InvalidInput("actions", "say what was done to carry out the handling plan")
        if outcome not in FINDINGS_OUTCOMES:
            raise InvalidInput("outcome", f"must be one of {', '.join(FINDINGS_OUTCOMES)}")
        self._findings_recorded(actions=actions, consulted=[c for c in consulted if c.strip()],
                                outcome=outcome, note=note, actor=actor, at=at)

    @event("FindingsRecorded")
    def _findings_recorded(self, actions: list[str], consulted: list[str], outcome: str,
                           note: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.findings = {"actions": actions, "consulted": consulted, "outcome": outcome,
                         "note": note, "by": actor["id"], "at": at}

    # -- resolution track (seed 6.7) -------------------------------------------------------
    def approve_apip(self, reason: str, actor: dict[str, Any], at: datetime,
                     authority: str | None = None) -> None:
        """The head of DPMPTSP (or of the agency concerned, named by `authority`) approves
        involving APIP (seed 6.7.c). Possible once the analysis is done, also after
        another track was tried and failed. Who may approve is the command's policy
        (`APPROVES_APIP` in services/domain/policy.py); the case records the approval.

        A complaint about the head himself is approved "as the regulations provide": by
        another authority (the regent's inspectorate), which the approval must name."""
        self.check_step("apip approval", ANALYSED, IN_RESOLUTION, requires="analysis",
                        complaint_only=True)
        if self.apip_approval is not None:
            raise RuleViolation("APIP involvement is already approved",
                                rule="apip_already_approved")
        if not reason.strip():
            raise InvalidInput("reason", "an approval must give its reason")
        if self.concerns_head and (authority is None
                                   or authority.strip() == DEFAULT_APIP_AUTHORITY):
            raise InvalidInput("authority", "the complaint concerns the head of office: name "
                               "the authority that approved (e.g. the regent's inspectorate)")
        authority = DEFAULT_APIP_AUTHORITY if authority is None else authority
        if not authority.strip():
            raise InvalidInput("authority", "must name the approving head")
        self._apip_approved(reason=reason, authority=authority, actor=actor, at=at)

    @event("ApipInvolvementApproved")
    def _apip_approved(self, reason: str, authority: str, actor: dict[str, Any],
                       at: datetime) -> None:
        self.apip_approval = {"reason": reason, "authority": authority, "by": actor["id"],
                              "at": at}

    def choose_track(self, track: str, agencies: list[str] | None,
                     actor: dict[str, Any], at: datetime) -> None:
        """After the analysis. The track may change until the answer (an internal
        resolution that fails may go to the technical team or, approved, to APIP)."""
        self.check_step("track", ANALYSED, IN_RESOLUTION, requires="analysis",
                        complaint_only=True)
        if track not in TRACKS:
            raise InvalidInput("track", f"must be one of {', '.join(TRACKS)}")
        agencies = [a for a in (agencies or []) if a.strip()]
        if track == TECHNICAL_TEAM and not agencies:
            raise InvalidInput("agencies", "name the technical team or agencies involved")
        if track == INTERNAL and agencies:
            raise InvalidInput("agencies", "an internal resolution involves no other agency")
        if track == APIP and self.apip_approval is None:
            raise RuleViolation("involving APIP needs the approval of the head",
                                rule="apip_requires_head_approval")
        if self.track == track and self.agencies == agencies:
            raise RuleViolation(f"the track is already {track}", rule="track_unchanged")
        self._track_chosen(track=track, agencies=agencies, actor=actor, at=at)

    @event("TrackChosen")
    def _track_chosen(self, track: str, agencies: list[str], actor: dict[str, Any],
                      at: datetime) -> None:
        self.track = track
        self.agencies = agencies
        self.track_history.append({"track": track, "agencies": agencies, "by": actor["id"],
                                   "at": at})
        self.status = IN_RESOLUTION

    # -- answer and follow-up (seed 6.4, 6.8) --------------------------------------------
    def respond(self, text: str, actor: dict[str, Any], at: datetime) -> None:
        """The answer: stops a complaint's clock, and rests on the recorded findings. A
        suggestion may be answered (an acknowledgement) straight away; it has no clock to
        stop and nothing to prove."""
        self.check_open("response")
        if self.response is not None:
            raise RuleViolation("the complaint is already answered", rule="already_answered")
        if not self.is_suggestion:
            self.check_step("response", IN_RESOLUTION, requires="track")
            if self.findings is None:
                raise RuleViolation("record the findings (what the handling plan proved) "
                                    "before answering", rule="findings_required")
        if not text.strip():
            raise InvalidInput("text", "the answer must not be empty")
        self._responded(text=text, actor=actor, at=at)

    @event("Responded")
    def _responded(self, text: str, actor: dict[str, Any], at: datetime) -> None:
        self.response = {"text": text, "by": actor["id"], "at": at}
        self.status = ANSWERED
        self.clock_after("complaint.responded", at=at)

    def notify_complainant(self, channel: str, actor: dict[str, Any], at: datetime) -> None:
        """The result was told to the complainant (again, if by several channels)."""
        self.check_step("notification", ANSWERED, requires="response")
        if channel not in COMPLAINT_CHANNELS:
            raise InvalidInput("channel", f"must be one of {', '.join(COMPLAINT_CHANNELS)}")
        self._complainant_notified(channel=channel, actor=actor, at=at)

    @event("ComplainantNotified")
    def _complainant_notified(self, channel: str, actor: dict[str, Any], at: datetime) -> None:
        self.notifications.append({"channel": channel, "by": actor["id"], "at": at})

    def report_to_superior(self, text: str, actor: dict[str, Any], at: datetime) -> None:
        """A written report of the result to the tier above (each level reports to the
        one above it, so there may be several)."""
        self.check_step("superior report", ANSWERED, requires="response")
        if not text.strip():
            raise InvalidInput("text", "the report must not be empty")
        self._reported_to_superior(text=text, to_tier=tier_above(self.tier), actor=actor, at=at)

    @event("ReportedToSuperior")
    def _reported_to_superior(self, text: str, to_tier: str | None, actor: dict[str, Any],
                              at: datetime) -> None:
        self.superior_reports.append({"text": text, "from_tier": self.tier, "to_tier": to_tier,
                                      "by": actor["id"], "at": at})

    def close(self, note: str | None, actor: dict[str, Any], at: datetime) -> None:
        """A complaint closes once answered, the complainant told and the result reported
        to the direct superior (seed 6.8: both are the end of the handling; the report is
        how supervision tier by tier learns of it); a suggestion at any time."""
        self.check_open("closure")
        if not self.is_suggestion:
            self.check_step("closure", ANSWERED, requires="response")
            if not self.notifications:
                raise RuleViolation("tell the complainant the result before closing",
                                    rule="closure_requires_notification")
            if not self.superior_reports:
                raise RuleViolation("report the result to the direct superior before closing",
                                    rule="superior_report_required")
        self._closed(note=note, actor=actor, at=at)

    @event("Closed")
    def _closed(self, note: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.closure = {"note": note, "by": actor["id"], "at": at}
        self.status = CLOSED

    # -- confidentiality (UU 27/2022) -----------------------------------------------------
    @property
    def confidentiality(self) -> dict[str, Any] | None:
        return getattr(self, "_confidentiality", None)

    def mark_confidential(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        """The complainant's identity is kept from the handling staff from now on."""
        if not reason.strip():
            raise InvalidInput("reason", "say why the identity is confidential")
        if self.confidentiality is not None:
            raise RuleViolation("the complaint is already confidential",
                                rule="already_confidential")
        self._confidentiality_marked(reason=reason, actor=actor, at=at)

    @event("ConfidentialityMarked")
    def _confidentiality_marked(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        self._confidentiality = {"reason": reason, "by": actor["id"], "at": at}

    # -- guards ---------------------------------------------------------------------
    def check_step(self, step: str, *allowed: str, requires: str | None = None,
                   complaint_only: bool = False) -> None:
        """The seed's steps run in order. Too early: `<step>_requires_<previous step>`;
        already past it: `<step>_not_allowed_when_<status>`."""
        self.check_open(step)
        if complaint_only and self.is_suggestion:
            raise RuleViolation(f"{step} is a step of complaint handling: this is a suggestion",
                                rule="not_a_complaint", reasons=self.reasons)
        if self.status in allowed:
            return
        name = step.replace(" ", "_")
        too_early = STATUSES.index(self.status) < min(STATUSES.index(s) for s in allowed)
        raise RuleViolation(
            f"{step} is not possible while the complaint is {self.status} "
            f"(it needs: {' or '.join(allowed)})",
            rule=f"{name}_requires_{requires}" if too_early and requires
            else f"{name}_not_allowed_when_{self.status}",
            status=self.status)
