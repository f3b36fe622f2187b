"""Settings, read once. Nothing else in the project reads the environment.

Every field can be set by an environment variable named in its comment; the `ptsp`
command's flags override them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ptsp"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    """PTSP_DATA_DIR: embedded Postgres and NATS data, the office keys, checkpoints."""
    database_url: str | None = None
    """DATABASE_URL: an external Postgres; unset, `ptsp up` starts its own."""
    nats_url: str | None = None
    """NATS_URL: an external JetStream server; unset, `ptsp up` starts its own. Its
    credentials may come with it (`nats://user:password@host:4222`); every part of the
    system then connects with them."""
    nats_creds: Path | None = None
    """PTSP_NATS_CREDS: a NATS creds file (JWT and seed; needs the `nkeys` package) for an
    external server, used when NATS_URL carries no credentials. The embedded server needs
    neither: each part connects as its own user, with passwords from `keys/nats.key`."""
    host: str = "127.0.0.1"
    """PTSP_HOST: the interface the HTTP server listens on."""
    port: int = 8000
    """PTSP_PORT: the HTTP port."""
    public_url: str | None = None
    """PTSP_PUBLIC_URL: the base URL printed on certificates (QR); default http://HOST:PORT."""
    simulated_clock: datetime | None = None
    """PTSP_SIMULATED_CLOCK: start the whole system on a simulated clock at this time."""
    catalogue: Path | None = None
    """PTSP_CATALOGUE: a JSON file of extra service catalogue rows."""
    at_risk_ratio: float = 0.8
    """PTSP_AT_RISK_RATIO: share of the working days used from which a clock is at risk."""
    token_ttl_hours: float = 24 * 7
    """PTSP_TOKEN_TTL_HOURS: how long a token from `ptsp token` stays valid (real time)."""
    max_body_bytes: int = 1024 * 1024
    """Requests over this get 413 (API.md: 1 MiB)."""
    group_commit_max: int = 64
    """PTSP_GROUP_COMMIT_MAX: most commands written in one event-store transaction."""
    pipeline_nice: int = 10
    """PTSP_PIPELINE_NICE: the pipeline process's scheduling niceness (0-19; 0: as the
    HTTP workers). Its work (relay, read models, timers, notifications) can wait a
    moment, a request cannot: when the CPU is short the HTTP workers run first and the
    pipeline catches up in larger batches, which cost it far less per event
    (services/processes.py, `lower_priority`)."""
    stream_replicas: int = 1
    """PTSP_STREAM_REPLICAS: JetStream replicas of each stream the project creates (3 in
    production, on a 3-node cluster)."""
    intake_rate_per_second: float = 50.0
    """PTSP_INTAKE_RATE: intake requests (POST /applications, /complaints, surveys) a
    channel may make per second over HTTP, on average; above it: 429 with Retry-After."""
    intake_burst: int = 200
    """PTSP_INTAKE_BURST: how many intake requests a channel may make at once."""
    revocation_refresh_seconds: float = 5.0
    """How often the services reload the revoked tokens from the credentials table."""
    audit_checkpoint_events: int = 1000
    """PTSP_AUDIT_CHECKPOINT_EVENTS: sign a checkpoint of the audit chain's head after at
    most this many newly chained events..."""
    audit_checkpoint_seconds: float = 60.0
    """PTSP_AUDIT_CHECKPOINT_SECONDS: ...or this long after the last one, when the head moved."""
    rejected_retention_days: float = 30.0
    """PTSP_REJECTED_RETENTION_DAYS: how long refused NATS intake messages (redacted, in
    `intake_rejected`) are kept for an operator before they are purged."""
    checkpoint_mirror: Path | None = None
    """PTSP_CHECKPOINT_MIRROR: a second place for the signed checkpoints (a file, or a
    directory that gets `checkpoints.jsonl`): another disk, a write-once mount, a share
    off the machine. Verification compares it with `DATA_DIR/audit/checkpoints.jsonl`."""
    # -- operations (services/ops) --
    metrics_port: int | None = None
    """PTSP_METRICS_PORT: also serve `GET /metrics` without a token on this port (for a
    Prometheus on a private network); `GET /metrics` on the API port needs head or
    auditor. Served by the pipeline process of `ptsp up`."""
    metrics_dir: Path | None = None
    """PROMETHEUS_MULTIPROC_DIR: prometheus-client's multiprocess directory (the library
    reads it itself); `ptsp up` sets it to DATA_DIR/metrics for its processes, so every
    HTTP worker and the pipeline are counted together."""
    log_format: str | None = None
    """PTSP_LOG_FORMAT: `json` (one object per line) or `text`; unset: json for `ptsp up`
    and its processes, text for the other commands."""
    ready_max_relay_lag: int = 5000
    """PTSP_READY_MAX_RELAY_LAG: stored events not yet on JetStream (any stream) above
    which `GET /ready` answers 503."""
    ready_max_projection_lag: int = 20000
    """PTSP_READY_MAX_PROJECTION_LAG: stored events a read model (or the notifier's step
    consumer) has not applied yet above which `GET /ready` answers 503."""
    ready_max_notification_due_seconds: float = 900.0
    """PTSP_READY_MAX_NOTIFICATION_DUE_SECONDS: how long a notification may be due with
    no sender taking it before `GET /ready` answers 503 naming the notifier. Above the
    sender's longest pause of a closed way (5 minutes) and a slow batch (an adapter
    taking its 10 s for each of 50 messages), so that only a sender that does not run,
    or cannot keep up, trips it."""
    # -- the staff console (services/console) --
    office_name: str = "DPMPTSP Kabupaten Purwakarta"
    """PTSP_OFFICE_NAME: the office as the console and its reports name it."""
    console_idle_minutes: float = 60.0
    """PTSP_CONSOLE_IDLE_MINUTES: a console session ends after this long without a request."""
    console_session_hours: float = 12.0
    """PTSP_CONSOLE_SESSION_HOURS: a console session ends this long after sign-in, in use
    or not."""

    # -- notifications (services/notifications) --
    smtp_host: str | None = None
    """PTSP_SMTP_HOST: the SMTP server e-mail notifications go through; unset, e-mail
    waits in the outbox (`ptsp notifications list`) until one is set."""
    smtp_port: int = 25
    """PTSP_SMTP_PORT: its port (25; 587 is usual with STARTTLS)."""
    smtp_user: str | None = None
    """PTSP_SMTP_USER: log in as this user (with PTSP_SMTP_PASSWORD); unset: no login."""
    smtp_password: str | None = None
    """PTSP_SMTP_PASSWORD: the SMTP user's password."""
    smtp_starttls: bool = False
    """PTSP_SMTP_STARTTLS: `true` to upgrade the connection with STARTTLS (the server's
    certificate is checked) before logging in and sending; `false` (default) sends plain."""
    mail_from: str = "DPMPTSP <noreply@localhost>"
    """PTSP_MAIL_FROM: the sender of notification e-mail (its domain also names the
    messages' Message-ID)."""
    notify_max_attempts: int = 8
    """PTSP_NOTIFY_MAX_ATTEMPTS: attempts at one message before it becomes a dead letter
    (`ptsp notifications list --status dead`, `ptsp notifications resend ID`)."""
    notify_backoff_seconds: float = 5.0
    """PTSP_NOTIFY_BACKOFF_SECONDS: the wait after a first failed attempt; it doubles with
    every further one (at most an hour)."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        changes: dict[str, Any] = {}
        for variable, (name, parse) in FROM_ENVIRONMENT.items():
            if value := env.get(variable):
                try:
                    changes[name] = parse(value)
                except ValueError as e:
                    raise ValueError(f"{variable}={value!r}: {e}") from None
        return replace(cls(), **changes)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def audit_dir(self) -> Path:
        """Signed checkpoints of the audit chain: outside the database on purpose."""
        return self.data_dir / "audit"


def _true_or_false(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError("must be true or false")
    return value == "true"


def _in_range(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"must be from {low} to {high}")
    return value


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}")
    return value


# Which environment variable sets which field, and how its text is read.
FROM_ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "PTSP_DATA_DIR": ("data_dir", Path),
    "DATABASE_URL": ("database_url", str),
    "NATS_URL": ("nats_url", str),
    "PTSP_NATS_CREDS": ("nats_creds", Path),
    "PTSP_HOST": ("host", str),
    "PTSP_PORT": ("port", int),
    "PTSP_PUBLIC_URL": ("public_url", str),
    "PTSP_SIMULATED_CLOCK": ("simulated_clock", datetime.fromisoformat),
    "PTSP_CATALOGUE": ("catalogue", Path),
    "PTSP_AT_RISK_RATIO": ("at_risk_ratio", float),
    "PTSP_TOKEN_TTL_HOURS": ("token_ttl_hours", float),
    "PTSP_GROUP_COMMIT_MAX": ("group_commit_max", int),
    "PTSP_PIPELINE_NICE": ("pipeline_nice", lambda v: _in_range(int(v), 0, 19)),
    "PTSP_STREAM_REPLICAS": ("stream_replicas", int),
    "PTSP_INTAKE_RATE": ("intake_rate_per_second", float),
    "PTSP_INTAKE_BURST": ("intake_burst", int),
    "PTSP_AUDIT_CHECKPOINT_EVENTS": ("audit_checkpoint_events", int),
    "PTSP_AUDIT_CHECKPOINT_SECONDS": ("audit_checkpoint_seconds", float),
    "PTSP_CHECKPOINT_MIRROR": ("checkpoint_mirror", Path),
    "PTSP_REJECTED_RETENTION_DAYS": ("rejected_retention_days", float),
    "PTSP_METRICS_PORT": ("metrics_port", int),
    "PROMETHEUS_MULTIPROC_DIR": ("metrics_dir", Path),
    "PTSP_LOG_FORMAT": ("log_format", lambda v: _one_of(v, ("json", "text"))),
    "PTSP_READY_MAX_RELAY_LAG": ("ready_max_relay_lag", int),
    "PTSP_READY_MAX_PROJECTION_LAG": ("ready_max_projection_lag", int),
    "PTSP_READY_MAX_NOTIFICATION_DUE_SECONDS": ("ready_max_notification_due_seconds", float),
    "PTSP_OFFICE_NAME": ("office_name", str),
    "PTSP_CONSOLE_IDLE_MINUTES": ("console_idle_minutes", float),
    "PTSP_CONSOLE_SESSION_HOURS": ("console_session_hours", float),
    "PTSP_SMTP_HOST": ("smtp_host", str),
    "PTSP_SMTP_PORT": ("smtp_port", int),
    "PTSP_SMTP_USER": ("smtp_user", str),
    "PTSP_SMTP_PASSWORD": ("smtp_password", str),
    "PTSP_SMTP_STARTTLS": ("smtp_starttls", _true_or_false),
    "PTSP_MAIL_FROM": ("mail_from", str),
    "PTSP_NOTIFY_MAX_ATTEMPTS": ("notify_max_attempts", int),
    "PTSP_NOTIFY_BACKOFF_SECONDS": ("notify_backoff_seconds", float),
}
