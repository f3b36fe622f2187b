"""What `GET /track/{tracking_number}?pin=` answers (API.md, "People and channels")."""

from __future__ import annotations

from datetime import datetime

import msgspec

from services.tracking.texts import TrackedKind


class TrackingStep(msgspec.Struct, kw_only=True):
    step: str
    """A milestone's name (`submitted`, `declared_complete`, `issued`, `received`, ...)."""
    at: datetime
    """When the office recorded it (Asia/Jakarta)."""
    text: str
    """The step in Bahasa Indonesia."""


class Tracking(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A case as its holder sees it: no personal data, no staff, no free text."""

    tracking_number: str
    kind: TrackedKind
    status: str
    status_text: str
    """The status in Bahasa Indonesia."""
    due_at: datetime | None = None
    """While the service's clock runs (also once it is overdue): when it ends. Absent
    before it starts, while it is paused (a file with the applicant) and once it stops."""
    steps: list[TrackingStep]
    """The milestones so far, oldest first."""
