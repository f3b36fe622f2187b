"""The satisfaction survey service: intake of answers (idempotent, optionally linked to
the case the respondent was served in). The IKM itself is computed from the read model
(`projections.survey_responses`), not here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from eventsourcing.application import AggregateNotFoundError

from contracts import surveys as contracts
from contracts.mapping import ContractRegistry
from contracts.surveys import SurveyIntake
from services.domain.actors import Actor
from services.domain.clock import JAKARTA, Clock
from services.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from services.infra.groupcommit import GroupCommitter
from services.infra.personal_data import PersonalDataVault, envelopes_in
from services.infra.store import EventStoreApplication
from services.surveys.domain import SurveyResponse


class Surveys(EventStoreApplication):
    name = "surveys"


# Domain event → contract Struct (for the relay and the audit history).
CONTRACTS = ContractRegistry(contracts.EVENT_TYPES)


# What the survey service needs from elsewhere: on the embedded default the other
# services themselves; scaled out, clients of their HTTP APIs would do.
class ServiceCatalogue(Protocol):
    def get(self, service_code: str) -> Any: ...


class CaseLookup(Protocol):
    async def get(self, case_id: uuid.UUID, version: int | None = None) -> Any: ...

    def sealed(self, case: Any) -> Sequence[Any]: ...


@dataclass
class SurveyService:
    store: Surveys
    committer: GroupCommitter
    clock: Clock
    catalogue: ServiceCatalogue
    cases: dict[str, CaseLookup]
    """Where a linked case may be: {"application": ..., "complaint": ...}."""
    vault: PersonalDataVault | None = None
    """Seals the respondent's facts when the response names a case (None: kept clear,
    as in the pure tests)."""

    async def submit(self, intake: SurveyIntake, actor: Actor) -> tuple[SurveyResponse, bool]:
        """Returns the response and whether it was created now (False: a repeat of the
        same (channel, external_id), which writes nothing)."""
        if self.catalogue.get(intake.service_code) is None:
            raise InvalidInput("service_code", f"unknown service {intake.service_code!r}; "
                               "GET /services lists them")
        responded_at = intake.responded_at
        if responded_at is not None and responded_at.tzinfo is None:
            responded_at = responded_at.replace(tzinfo=JAKARTA)  # API.md: +07:00 by default
        linked = (await self._linked_case(intake.case_id, intake.service_code)
                  if intake.case_id is not None else None)
        seal = None
        if linked is not None and intake.respondent is not None and self.vault is not None:
            seal = await self.vault.sealer(self._subject_of(*linked))
        response = SurveyResponse.respond(
            channel=intake.channel, external_id=intake.external_id,
            service_code=intake.service_code,
            scores=msgspec.to_builtins(intake.scores),
            respondent=(msgspec.to_builtins(intake.respondent)
                        if intake.respondent is not None else None),
            linked_case_id=str(intake.case_id) if intake.case_id is not None else None,
            linked_case_type=linked[0] if linked is not None else None,
            responded_at=responded_at, actor=actor.as_record(), at=self.clock.now(), seal=seal,
        )
        keys = (self.vault.take_new_keys(envelopes_in(response.respondent))
                if self.vault is not None else [])
        try:
            await self.committer.save(response, keys=keys)  # the key with the event
            return response, True
        except ConcurrencyConflict:
            return await self.get(response.id), False

    async def get(self, response_id: uuid.UUID) -> SurveyResponse:
        try:
            return await asyncio.to_thread(lambda: self.store.repository.get(response_id))
        except AggregateNotFoundError:
            raise NotFound(f"no survey response {response_id}") from None

    async def _linked_case(self, case_id: uuid.UUID, service_code: str) -> tuple[str, Any]:
        """The kind of case the response is linked to, and the case; an application
        must be for the service the respondent scores."""
        for case_type, lookup in self.cases.items():
            try:
                case = await lookup.get(case_id)
            except NotFound:
                continue
            if case_type == "application" and case.service_code != service_code:
                raise InvalidInput("service_code", f"application {case_id} is for service "
                                   f"{case.service_code}, not {service_code}")
            return case_type, case
        raise InvalidInput("case_id", f"no application or complaint {case_id}")

    def _subject_of(self, case_type: str, case: Any) -> str:
        """The data subject of the case's person: the one their own data is sealed under
        (so one erasure covers both), or the case alone when it holds none."""
        for envelope in envelopes_in(*self.cases[case_type].sealed(case)):
            return str(envelope["subject"])
        assert self.vault is not None
        return self.vault.subject_of(None, case.id)
