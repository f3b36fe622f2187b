"""Contracts of the satisfaction survey (SKM): the intake message (HTTP body of `POST
/surveys/responses` and NATS request on `ptsp.intake.survey.<channel>`) and every event
as it travels on JetStream (`ptsp.surveys.<tag>`).

Rules (DESIGN.md): frozen, kw_only, an explicit stable tag per event; change by adding
fields with defaults only; an incompatible change is a new tag plus an upcaster. The
contract classes are named like the `SurveyResponse` aggregate's events (the mapping is
by name); the tags are `survey.<event in snake case>`.

Scores and respondent facts are closed: an unknown element or fact is refused (400),
not dropped, so a misspelt `behavior` never vanishes silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from contracts.common import CaseEvent
from contracts.vocabulary import CaseType, Channel

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Score = Annotated[int, msgspec.Meta(ge=1, le=4)]

# API.md: survey responses come from any application or complaint channel.
SurveyChannel = Channel
# The respondent facts of the regulation's questionnaire (PermenPANRB 14/2017).
AgeBand = Literal["under_20", "20_29", "30_39", "40_49", "50_59", "60_plus"]
Sex = Literal["male", "female"]
Education = Literal["sd_or_below", "smp", "sma", "d1_d3", "d4", "s1", "s2", "s3"]
"""SD ke bawah, SMP (SLTP), SMA (SLTA), D1-D3, D4, S1, S2, S3."""
Occupation = Literal["civil_servant", "military", "police", "private_employee",
                     "entrepreneur", "student", "other"]
"""PNS, TNI, POLRI, swasta, wirausaha, pelajar/mahasiswa, lainnya."""


# -- intake -----------------------------------------------------------------------
class Scores(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The nine elements, 1 (tidak baik) to 4 (sangat baik); an element left out (or
    null) was not answered. At least one must be."""

    requirements: Score | None = None
    procedure: Score | None = None
    time: Score | None = None
    fee: Score | None = None
    product: Score | None = None
    competence: Score | None = None
    behaviour: Score | None = None
    facilities: Score | None = None
    complaint_handling: Score | None = None


class Respondent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who answered: personal data, every fact optional."""

    age_band: AgeBand | None = None
    sex: Sex | None = None
    education: Education | None = None
    occupation: Occupation | None = None


class SurveyIntake(msgspec.Struct, frozen=True, kw_only=True):
    channel: SurveyChannel
    external_id: NonEmpty
    service_code: NonEmpty
    scores: Scores
    respondent: Respondent | None = None
    case_id: UUID | None = None
    """The application or complaint the respondent was served in, if known."""
    responded_at: datetime | None = None
    """When the respondent filled it in (a paper form entered later); default: now; not in
    the future. Without an offset it is Asia/Jakarta time. It decides the quarter."""


class SurveyIntakeAccepted(msgspec.Struct, frozen=True, kw_only=True):
    id: str


# -- events -----------------------------------------------------------------------


class Responded(CaseEvent, tag="survey.responded", frozen=True):
    channel: str
    external_id: str
    service_code: str
    scores: dict[str, int]
    """Only the elements answered."""
    respondent: dict[str, Any] | None
    """Only the facts given; null when none were. When the response names a case they
    describe that case's person, and are sealed under their data subject (an envelope
    `{subject, kid, sealed, v}`, as every personal datum in an event)."""
    responded_at: datetime
    linked_case_id: str | None = None
    linked_case_type: CaseType | None = None


EVENT_TYPES: tuple[type[CaseEvent], ...] = (Responded,)
