"""The service catalogue: each licence the office issues is a row of data, not code.

The built-in rows are in `catalogue.json` beside this file; an office adds its own with
a JSON file of the same shape named by the `PTSP_CATALOGUE` setting."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from services.applications.domain import Condition

BUILT_IN = Path(__file__).with_name("catalogue.json")


class BusinessCondition(msgspec.Struct, frozen=True, kw_only=True):
    """The requirement is a fact of the intake's business: marked met, the business's
    `field` must hold one of `allowed`, or verification is refused naming `rule`.
    `exception`: the legal ground under which it may be met otherwise (then stated by the
    officer at verification)."""

    field: Literal["scale", "in_industrial_estate"]
    allowed: list[str | bool]
    rule: str
    exception: str | None = None


class Requirement(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    text: str
    group: Literal["general", "special"]
    business: BusinessCondition | None = None


class CatalogueService(msgspec.Struct, frozen=True, kw_only=True):
    service_code: str
    name: str
    kbli: str
    risk_level: str
    unit: str
    sla_working_days: int
    fee: int = 0
    procedure_classifications: list[int] = []
    product: str = ""
    requirements: list[Requirement] = []
    information: list[str] = []

    @property
    def requirement_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.requirements)

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """The requirements decided by a fact of the business, as the aggregate checks them."""
        return tuple(
            Condition(code=r.code, field=r.business.field, allowed=tuple(r.business.allowed),
                      rule=r.business.rule, exception=r.business.exception)
            for r in self.requirements if r.business is not None)


class Catalogue:
    def __init__(self, services: list[CatalogueService]) -> None:
        self._by_code = {s.service_code: s for s in services}

    @classmethod
    def load(cls, extra: Path | None = None) -> Catalogue:
        services = msgspec.json.decode(BUILT_IN.read_bytes(), type=list[CatalogueService])
        if extra is not None:
            services += msgspec.json.decode(extra.read_bytes(), type=list[CatalogueService])
        for service in services:
            if service.fee != 0:
                # The seed: the service is free; a charge is itself a complaint matter.
                raise ValueError(f"{service.service_code}: fee must be 0 (gratis)")
        return cls(services)

    def get(self, service_code: str) -> CatalogueService | None:
        return self._by_code.get(service_code)

    def all(self) -> list[CatalogueService]:
        return list(self._by_code.values())
