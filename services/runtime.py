"""The running system: every service wired to its store, clock, keys and calendar.

One object, built from Settings and a database URL; `ptsp up`, the tests and the
benchmarks all build the system through it, so there is one way the parts fit together.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from projections.case_views import CaseViews
from projections.runner import Rebuildable
from projections.runner import install as install_read_models
from projections.sla_timers import SlaTimers
from projections.survey_responses import SurveyResponses
from services.applications.application import CONTRACTS as APPLICATION_CONTRACTS
from services.applications.application import Applications, ApplicationService
from services.applications.catalogue import Catalogue
from services.audit.service import AuditService
from services.calendar.application import CONTRACTS as CALENDAR_CONTRACTS
from services.calendar.application import Calendars, CalendarService
from services.cases.commands import BREACH_ESCALATION
from services.cases.service import CaseService
from services.complaints.application import CONTRACTS as COMPLAINT_CONTRACTS
from services.complaints.application import Complaints, ComplaintService
from services.domain.actors import Actor
from services.domain.clock import Clock, SimulatedClock
from services.evaluations.service import CONTRACTS as EVALUATION_CONTRACTS
from services.evaluations.service import Evaluations, EvaluationService
from services.http.ratelimit import TokenBuckets
from services.infra import credentials, pg, shared_clock
from services.infra.event_signing import EventSigner
from services.infra.eventlog import Stream
from services.infra.groupcommit import GroupCommitter
from services.infra.nats_auth import PROJECTIONS, NatsAuth
from services.infra.personal_data import PersonalDataVault
from services.infra.signing import OFFICE_KEY_FILE, OfficeKey
from services.infra.store import EventStoreApplication, eventsourcing_env
from services.infra.tasks import cancel_and_wait
from services.infra.tokens import TokenIssuer
from services.infra.tracking_key import TrackingKey
from services.intake.nats_intake import NatsIntake, case_types
from services.notifications.notifier import Notifier
from services.ops.metrics_port import MetricsPort
from services.ops.readiness import Probe
from services.ops.scrape import ReadModel, Sources, exposition
from services.pipeline import Pipeline
from services.settings import Settings
from services.staff import passwords
from services.staff.register import CONTRACTS as STAFF_CONTRACTS
from services.staff.register import StaffService, StaffStore
from services.surveys.application import CONTRACTS as SURVEY_CONTRACTS
from services.surveys.application import Surveys, SurveyService

SLA_TIMER = Actor(id="sla-timer", role="system")

log = logging.getLogger("ptsp")

POOL_MAX = 8
"""asyncpg connections per process at most: event writes (one writer per store), case
loads, the vault, read models and their queries. The whole budget of a process, with
eventsourcing's own (services/infra/store.py) and the LISTEN and NATS intake
connections, is in README, "Benchmarks"."""


def office_key(settings: Settings) -> OfficeKey:
    return OfficeKey.load_or_create(settings.keys_dir / OFFICE_KEY_FILE)


def personal_data_vault(settings: Settings) -> PersonalDataVault:
    """The vault secret lives in the keys directory, outside the database."""
    return PersonalDataVault.load_or_create(settings.keys_dir / "personal-data-vault.key")


def tracking_key(settings: Settings) -> TrackingKey:
    """Tracking numbers and PINs (services/infra/tracking_key.py): one secret, shared by
    every process and replica through the keys directory."""
    return TrackingKey.of_keys_dir(settings.keys_dir)


def token_issuer(settings: Settings) -> TokenIssuer:
    return TokenIssuer.of_keys_dir(settings.keys_dir)


def event_signer(settings: Settings) -> EventSigner:
    """The relay's signing key: every domain event on JetStream carries its signature."""
    return EventSigner.of_keys_dir(settings.keys_dir)


def nats_auth(settings: Settings) -> NatsAuth:
    """Which credentials each part of the system connects to NATS with."""
    return NatsAuth(keys_dir=settings.keys_dir, creds_file=settings.nats_creds)


@dataclass
class System:
    settings: Settings
    database_url: str
    clock: Clock
    applications: ApplicationService
    complaints: ComplaintService
    calendar: CalendarService
    tokens: TokenIssuer
    office_key: OfficeKey
    surveys: SurveyService
    staff: StaffService
    """The staff register: who may be assigned cases and sign in to the console."""
    evaluations: EvaluationService
    """The yearly evaluations of the service standard and their improvement plans."""
    nats_url: str | None = None
    """Where intake requests arrive (`ptsp.intake.<case-type>.<channel>`); None: HTTP only."""
    committers: list[GroupCommitter] = field(default_factory=list)
    stores: list[EventStoreApplication] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _intake: NatsIntake | None = None
    with_pipeline: bool = True
    """With NATS: also run the relay, the projections, the SLA timers and the audit chain."""
    with_intake: bool = True
    """With NATS: answer intake requests."""
    pool: asyncpg.Pool | None = None
    """asyncpg pool for the read models (projections and their queries)."""
    pipeline: Pipeline | None = None
    audit: AuditService | None = None
    """Case histories and the hash chain over every stored event (its keeper runs here)."""
    vault: PersonalDataVault | None = None
    """Keys of the data subjects (personal data is sealed before it enters an event)."""
    metrics_port: MetricsPort | None = None
    """`PTSP_METRICS_PORT`, served by the process that runs the pipeline."""

    @classmethod
    def build(cls, settings: Settings, database_url: str, nats_url: str | None = None,
              with_pipeline: bool = True, with_intake: bool = True) -> System:
        env = eventsourcing_env(database_url)
        clock: Clock = (SimulatedClock(settings.simulated_clock)
                        if settings.simulated_clock else Clock())
        key = office_key(settings)
        vault = personal_data_vault(settings)
        tracking = tracking_key(settings)
        calendars = Calendars(env=env)
        calendar_committer = GroupCommitter(calendars, settings.group_commit_max)
        calendar = CalendarService(calendars, calendar_committer, clock)
        staff_store = StaffStore(env=env)
        staff_committer = GroupCommitter(staff_store, settings.group_commit_max)
        staff = StaffService(staff_store, staff_committer, clock)
        evaluations_store = Evaluations(env=env)
        evaluations_committer = GroupCommitter(evaluations_store, settings.group_commit_max)
        evaluations = EvaluationService(evaluations_store, evaluations_committer, clock)
        applications_store = Applications(env=env)
        applications_committer = GroupCommitter(applications_store, settings.group_commit_max)
        applications = ApplicationService(
            applications_store, applications_committer, clock, calendar,
            Catalogue.load(settings.catalogue), key, settings.base_url, settings.at_risk_ratio,
            vault=vault, staff=staff, tracking=tracking)
        complaints_store = Complaints(env=env)
        complaints_committer = GroupCommitter(complaints_store, settings.group_commit_max)
        complaints = ComplaintService(
            complaints_store, complaints_committer, clock, calendar, applications.catalogue,
            applications, settings.at_risk_ratio, vault=vault, staff=staff, tracking=tracking)
        surveys_store = Surveys(env=env)
        surveys_committer = GroupCommitter(surveys_store, settings.group_commit_max)
        surveys = SurveyService(
            surveys_store, surveys_committer, clock, applications.catalogue,
            {"application": applications, "complaint": complaints}, vault)
        return cls(
            settings=settings, database_url=database_url, nats_url=nats_url,
            with_pipeline=with_pipeline, with_intake=with_intake, clock=clock,
            applications=applications, complaints=complaints, calendar=calendar,
            tokens=token_issuer(settings), office_key=key, surveys=surveys, vault=vault,
            staff=staff, evaluations=evaluations,
            committers=[calendar_committer, applications_committer, complaints_committer,
                        surveys_committer, staff_committer, evaluations_committer],
            stores=[calendars, applications_store, complaints_store, surveys_store,
                    staff_store, evaluations_store],
        )

    async def start(self) -> None:
        self.pool = await pg.create_pool(self.database_url, min_size=1, max_size=POOL_MAX)
        if self.vault is not None:
            await self.vault.attach(self.pool)  # its keys table, before the first write
        for committer in self.committers:
            await committer.start(self.pool)  # events are written and read on this pool
        # A correction recorded by any process reaches this one at once (NOTIFY, and the
        # version checked before a deadline is shown).
        await self.calendar.attach(self.pool)
        self._tasks.append(asyncio.create_task(self.calendar.follow(self.database_url),
                                               name="calendar-follow"))
        self.staff.attach(self.pool)
        async with self.pool.acquire() as conn:
            await passwords.install(conn)
        if isinstance(self.clock, SimulatedClock):
            # One simulated clock for every process of the system.
            async with self.pool.acquire() as conn:
                await shared_clock.publish(conn, self.clock, replace=False)
                await shared_clock.adopt(conn, self.clock)
            self._tasks.append(asyncio.create_task(shared_clock.follow(self.pool, self.clock),
                                                   name="clock-follow"))
        await self.reload_revocations(install=True)
        self._tasks.append(asyncio.create_task(self._refresh_revocations(),
                                               name="revocations-refresh"))
        await install_read_models(self.pool, self.projections())
        self.audit = self.audit_service(self.pool, keep=self.with_pipeline)
        await self.audit.start()
        if self.nats_url and self.with_pipeline:
            self.pipeline = Pipeline(self.pool, self.nats_url, self.streams(),
                                     self.projections(), self.clock, self.escalate_for_breach,
                                     stream_replicas=self.settings.stream_replicas,
                                     signer=event_signer(self.settings),
                                     auth=nats_auth(self.settings),
                                     notifier=Notifier(self.settings, self.database_url,
                                                       self.applications, self.complaints))
            await self.pipeline.start()
        if self.nats_url and self.with_intake:
            # Last: intake is taken only once everything it needs is running.
            self._intake = NatsIntake(
                self.nats_url,
                case_types(self.applications, self.complaints, self.surveys),
                database_url=self.database_url, max_bytes=self.settings.max_body_bytes,
                rejected_retention_days=self.settings.rejected_retention_days,
                auth=nats_auth(self.settings),
                limiter=TokenBuckets(self.settings.intake_rate_per_second,
                                     self.settings.intake_burst))
            await self._intake.start()
        if self.settings.metrics_port and self.with_pipeline:
            self.metrics_port = MetricsPort(self.settings.host, self.settings.metrics_port,
                                            self.exposition)
            await self.metrics_port.start()

    def streams(self) -> list[Stream]:
        """Each event store as the relay, the audit chain and the rebuild read it."""
        stores = {s.name: s for s in self.stores}
        return [
            Stream("calendar", stores["calendar"], CALENDAR_CONTRACTS),
            Stream("applications", stores["applications"], APPLICATION_CONTRACTS),
            Stream("complaints", stores["complaints"], COMPLAINT_CONTRACTS),
            Stream("surveys", stores["surveys"], SURVEY_CONTRACTS),
            Stream("staff", stores["staff"], STAFF_CONTRACTS),
            Stream("evaluations", stores["evaluations"], EVALUATION_CONTRACTS),
        ]

    def projections(self) -> list[Rebuildable]:
        """Every read model fed from JetStream (and rebuilt from the store)."""
        return [CaseViews(), SlaTimers(self.settings.at_risk_ratio), SurveyResponses()]

    def metrics_sources(self) -> Sources:
        """What `/metrics` and `/ready` read: the streams, the read models and where every
        process's counts are (services/ops)."""
        return Sources(self.streams(),
                       [ReadModel(p.name, tuple(p.streams)) for p in self.projections()],
                       self.settings.metrics_dir)

    async def exposition(self) -> bytes:
        """The Prometheus text of `/metrics`."""
        return await exposition(self.pool, self.metrics_sources(), self.clock.now(),
                                bool(self.audit and self.audit.alarm))

    def readiness_probe(self) -> Probe:
        options = nats_auth(self.settings).options(self.nats_url, PROJECTIONS) \
            if self.nats_url else {}
        return Probe(self.metrics_sources(), self.nats_url, options,
                     self.settings.ready_max_relay_lag, self.settings.ready_max_projection_lag,
                     self.settings.ready_max_notification_due_seconds)

    def audit_service(self, pool: asyncpg.Pool, keep: bool) -> AuditService:
        return AuditService.of(self.settings, pool, self.streams(), self.office_key,
                               self.applications, self.complaints, self.database_url,
                               keep=keep)

    async def escalate_for_breach(self, case_type: str, case_id: UUID, clock_span: int) -> None:
        """The SLA timer's command to the case's owning service."""
        service: CaseService[Any, Any] = (
            self.applications if case_type == "application" else self.complaints)
        await service.do(BREACH_ESCALATION, case_id, SLA_TIMER, clock_span=clock_span)

    async def stop(self) -> None:
        if self.metrics_port is not None:
            await self.metrics_port.stop()
            self.metrics_port = None
        if self._intake is not None:
            # First: messages under way still need the committers to finish and reply.
            await self._intake.stop()
            self._intake = None
        if self.pipeline is not None:
            await self.pipeline.stop()
            self.pipeline = None
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()
        for committer in self.committers:
            await committer.stop()
        for store in self.stores:
            store.close()
        if self.audit is not None:
            # After the committers: chains their last writes and signs the head.
            await self.audit.stop()
            self.audit = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def reload_revocations(self, install: bool = False) -> None:
        """Load the revoked tokens from the credentials table into memory."""
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            if install:
                await credentials.install(conn)
            await credentials.load_revocations(conn, self.tokens.revocations)

    async def _refresh_revocations(self) -> None:
        # `ptsp token revoke` writes the table; requests read the list in memory.
        while True:
            await asyncio.sleep(self.settings.revocation_refresh_seconds)
            try:
                await self.reload_revocations()
            except Exception:
                log.warning("reloading revoked tokens failed", exc_info=True)
