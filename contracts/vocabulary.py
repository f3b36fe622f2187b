"""The fixed lists of the office, each defined once: every Literal type a contract,
a request or a read model uses, and the tuple of its values in the seed's order.

Everything else derives from here (`typing.get_args`), so adding a channel or a problem
type is one edit. The values are the wire names; labels in Bahasa Indonesia belong to
whoever renders them.
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["channel", "officer", "supervisor", "head", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)

Tier = Literal["pelaksana", "kepala_seksi", "kepala_bidang", "kepala_dinas"]
"""Low to high: berjenjang supervision, from the officer up to the head of the office."""
TIERS: tuple[Tier, ...] = get_args(Tier)
FIRST_TIER: Tier = TIERS[0]

ApplicationChannel = Literal["oss", "mpp_counter", "web_dpmptsp", "web_mpp"]
APPLICATION_CHANNELS: tuple[ApplicationChannel, ...] = get_args(ApplicationChannel)

ComplaintChannel = Literal[
    "officer", "mpp_counter", "letter", "phone", "sms", "whatsapp", "email", "twitter",
    "instagram", "web_dpmptsp", "web_mpp", "form", "complaint_box",
]
"""The seed's complaint channels a-m, in its order."""
COMPLAINT_CHANNELS: tuple[ComplaintChannel, ...] = get_args(ComplaintChannel)

Channel = Literal[ApplicationChannel, ComplaintChannel]
"""Any intake channel (survey responses come from any of them)."""
CHANNELS: tuple[str, ...] = tuple(dict.fromkeys(APPLICATION_CHANNELS + COMPLAINT_CHANNELS))

Unit = Literal["perizinan", "pengaduan"]
"""The units whose officers work cases: each catalogue service names one (KBLI 10510:
`perizinan`); complaints and suggestions are worked by `pengaduan`."""
UNITS: tuple[Unit, ...] = get_args(Unit)
COMPLAINTS_UNIT: Unit = "pengaduan"

ProblemType = Literal["requirements", "procedure", "time", "fee", "product", "facilities",
                      "competence", "other"]
"""The components of the service standard a complaint concerns (seed 6.5.c.2)."""
PROBLEM_TYPES: tuple[ProblemType, ...] = get_args(ProblemType)

HandlingPlan = Literal["clarification", "confirmation", "examination", "investigation"]
"""Seed 6.6.d: clarification, confirmation, research or examination, investigation."""
HANDLING_PLANS: tuple[HandlingPlan, ...] = get_args(HandlingPlan)

Track = Literal["internal", "technical_team", "apip"]
"""Seed 6.7 a-c: handled inside the office, by a technical team, or by APIP."""
TRACKS: tuple[Track, ...] = get_args(Track)

FindingsOutcome = Literal["proven", "not_proven", "partly_proven"]
"""Seed 6.6.e: what carrying out the handling plan proved of the complaint's matter."""
FINDINGS_OUTCOMES: tuple[FindingsOutcome, ...] = get_args(FindingsOutcome)

BusinessScale = Literal["mikro", "kecil", "menengah", "besar"]
BUSINESS_SCALES: tuple[BusinessScale, ...] = get_args(BusinessScale)

NibSource = Literal["given", "derived"]
"""Where a certificate's NIB came from: `given` by the channel (OSS issues NIBs, and a
business keeps one across its applications), or `derived` by this office when none was
given (a stand-in, not OSS's number)."""
NIB_SOURCES: tuple[NibSource, ...] = get_args(NibSource)

Verdict = Literal["approve", "reject"]
"""A technical review's recommendation, and a decision's outcome."""
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

CaseType = Literal["application", "complaint"]
"""The kinds of case the office works (a survey response is not a case)."""
CASE_TYPES: tuple[CaseType, ...] = get_args(CaseType)

ComplaintKind = Literal["complaint", "suggestion"]
"""What a submission to the complaints unit turned out to be: only a complaint has a clock."""
COMPLAINT_KINDS: tuple[ComplaintKind, ...] = get_args(ComplaintKind)

SuggestionReason = Literal["late", "no_identity", "no_subject_matter"]
"""Why a submission is a suggestion, in the order API.md names the first of them."""
SUGGESTION_REASONS: tuple[SuggestionReason, ...] = get_args(SuggestionReason)

SlaState = Literal["not_started", "running", "at_risk", "paused", "met", "breached",
                   "withdrawn"]
"""Where a case's legal clock stands (API.md `sla.state`); `withdrawn`: the application
was withdrawn, its clock stopped neither met nor breached."""
SLA_STATES: tuple[SlaState, ...] = get_args(SlaState)

DayKind = Literal["holiday", "working_day"]
"""An office calendar correction: a day off decreed, or a holiday revoked."""
DAY_KINDS: tuple[DayKind, ...] = get_args(DayKind)

ApplicationStatus = Literal["awaiting_verification", "returned_for_correction", "complete",
                            "reviewed", "approved", "rejected", "issued", "withdrawn"]
"""An application's status, in the order of its life."""
APPLICATION_STATUSES: tuple[ApplicationStatus, ...] = get_args(ApplicationStatus)

ComplaintStatus = Literal["received", "classified", "analysed", "in_resolution", "answered",
                          "closed"]
"""A complaint's (or suggestion's) status, in the order of its life."""
COMPLAINT_STATUSES: tuple[ComplaintStatus, ...] = get_args(ComplaintStatus)

CLOSED_STATUSES: tuple[ApplicationStatus | ComplaintStatus, ...] = (
    "issued", "rejected", "withdrawn", "closed")
"""Where a case's work is over: nothing is open, no clock runs."""
