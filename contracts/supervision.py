"""What the supervision queries answer (API.md, "Supervision"): the case list, the
escalation queue and the SLA timers, read from the read models."""

from __future__ import annotations

from datetime import date, datetime

import msgspec
from msgspec import UNSET, UnsetType

from contracts.vocabulary import (
    ApplicationStatus,
    CaseType,
    ComplaintKind,
    ComplaintStatus,
    DayKind,
    SlaState,
    Tier,
)


class CaseSla(msgspec.Struct, kw_only=True):
    """A case's legal clock (API.md `sla`). A case whose clock has no timer yet (an
    application not yet complete, a suggestion) shows only the first four fields."""

    started_at: datetime | None
    due_at: datetime | None
    state: SlaState
    working_days_used: int
    working_days_limit: int | UnsetType = UNSET
    finished_at: datetime | UnsetType | None = UNSET


NOT_STARTED = CaseSla(started_at=None, due_at=None, state="not_started", working_days_used=0)


class CaseSummary(msgspec.Struct, kw_only=True):
    """One case in a list: the read model's columns and its clock."""

    id: str
    type: CaseType
    tracking_number: str | None
    status: ApplicationStatus | ComplaintStatus | None
    kind: ComplaintKind | None
    """Complaints only: a complaint or a suggestion."""
    channel: str | None
    unit: str | None
    tier: Tier
    assignee: str | None
    service_code: str | None
    created_at: datetime
    updated_at: datetime
    sla: CaseSla


class CaseList(msgspec.Struct, kw_only=True):
    """`GET /cases`: newest first, one page."""

    items: list[CaseSummary]
    page: int
    page_size: int
    total: int
    """How many cases the filters select (1,000 when `total_exact` is false)."""
    total_exact: bool = True
    """False only for an `sla_state` filter beside `status` selecting more than 1,000
    cases: then `total` says "1,000 or more"."""
    next_cursor: str | None = None
    """Pass it as `cursor` for the next page; null on the last."""


class EscalationQueue(msgspec.Struct, kw_only=True):
    """`GET /queues/escalation`: open cases with a clock (a suggestion has none), breached
    first, then at risk, running, paused, then by deadline."""

    tier: Tier | None
    items: list[CaseSummary]
    next_cursor: str | None = None
    """Pass it as `cursor` for the next page; null on the last."""


class CalendarCorrection(msgspec.Struct, kw_only=True):
    """An office calendar correction as the SLA timers apply it."""

    date: date
    kind: DayKind
    reason: str
    declared_at: datetime
    declared_by: str


class SlaList(msgspec.Struct, kw_only=True):
    """`GET /sla`: timers, nearest deadline first, one page, and the calendar corrections
    they follow."""

    state: SlaState | None
    total: int
    items: list[CaseSummary]
    calendar_corrections: list[CalendarCorrection]
    next_cursor: str | None = None
    """Pass it as `cursor` for the next page; null on the last."""
