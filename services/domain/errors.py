"""Domain errors: raised by aggregates and services, mapped to HTTP status codes in one
place (`services.http.errors`)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the domain names. `rule` is a stable machine-readable code."""

    rule: str = "domain_error"

    def __init__(self, detail: str, *, rule: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if rule is not None:
            self.rule = rule
        self.extra = extra


class RuleViolation(DomainError):
    """The case's state forbids this step now (HTTP 409)."""


class ConcurrencyConflict(DomainError):
    """Another write reached the case first; the caller may re-read and retry (HTTP 409)."""

    rule = "concurrent_write_lost"


class InvalidInput(DomainError):
    """Well-formed but invalid input; `field` names it (HTTP 422)."""

    rule = "invalid_input"

    def __init__(self, field: str, reason: str, *, rule: str | None = None) -> None:
        """`rule`: a named rule the value breaks (the default names none)."""
        super().__init__(f"{field}: {reason}", rule=rule, field=field, reason=reason)
        self.field = field


class NotFound(DomainError):
    """No such case, certificate or thing (HTTP 404)."""

    rule = "not_found"


class Forbidden(DomainError):
    """Valid credentials, but not for this (HTTP 403)."""

    rule = "forbidden"
