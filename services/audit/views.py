"""What `GET /cases/{id}` answers an auditor: the case as its own service shows it
(`GET /applications/{id}`, `GET /complaints/{id}`), which case type it is, and which
point of its history it was rebuilt at."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from services.applications.views import ApplicationView
from services.complaints.views import ComplaintView


class AsOf(msgspec.Struct, kw_only=True):
    """The point of the case's history the view was rebuilt at."""

    requested: str
    """`as_of` as asked: a version or a time."""
    version: int
    """The last version at that point."""
    time: datetime
    """When that version happened."""
    position: int
    """Its global position in its stream."""
    current_version: int


class ApplicationAsOf(ApplicationView, kw_only=True):
    case_type: Literal["application"]
    as_of: AsOf | None
    """Null: as it stands now."""


class ComplaintAsOf(ComplaintView, kw_only=True):
    case_type: Literal["complaint"]
    as_of: AsOf | None
    """Null: as it stands now."""


CaseAsOf = ApplicationAsOf | ComplaintAsOf
