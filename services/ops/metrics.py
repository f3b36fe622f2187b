"""Prometheus metrics, every name prefixed `ptsp_` (API.md, "Operations").

Two kinds (this module: the first; `services.ops.scrape`: the second and the exposition):

- counted where things happen, in whichever process they happen: request durations
  (`ptsp_http_request_duration_seconds`, by route template, method and status), intake
  outcomes (`ptsp_intake_total`, by case type, channel and outcome), group-commit batch
  sizes (`ptsp_group_commit_batch_size`) and notifications (`ptsp_notifications_total`,
  by way and outcome). Under `ptsp up` every process writes them to
  prometheus-client's multiprocess directory (`PROMETHEUS_MULTIPROC_DIR`, which `ptsp up`
  sets to DATA_DIR/metrics for its children and empties at each start), and a scrape
  adds up every HTTP worker and the pipeline;
- read from Postgres at scrape time, so they are right whichever process answers and
  need no hook in the relay or the projections: `ptsp_relay_lag_events` (stored events
  not yet published, by stream), `ptsp_projection_lag_events` (stored events a read
  model, or the notifier's step consumer, has not applied, by read model),
  `ptsp_cases_sla` (open cases by SLA state), the notifier's outbox backlog
  (`ptsp_notifications_pending` by way, up to `scrape.PENDING_CAP`,
  `ptsp_notifications_oldest_pending_seconds`,
  `ptsp_notifications_due_seconds`: how long a due message has waited for a sender) and
  `ptsp_audit_chain_alarm` (1 when the chain keeper raised its alarm).

Lags count rows, not notification ids (ids have gaps: a rolled-back insert burns one),
capped at `LAG_CAP` so that a scrape stays cheap even when a consumer is far behind.

Labels hold no personal data: route templates (`/track/{tracking_number}`, never the
path), known case types and channels only (anything else is `other`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from contracts.vocabulary import CHANNELS

CASE_TYPES = ("application", "complaint", "survey")

# Our own registry: a test process that builds many apps counts into one set, and the
# library's default collectors (process, platform) stay out of a multiprocess scrape.
REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_DURATION = Histogram(
    "ptsp_http_request_duration_seconds", "Time to answer an HTTP request.",
    ("route", "method", "status"), registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
INTAKE = Counter(
    "ptsp_intake", "Intake requests (HTTP and NATS) by case type, channel and outcome: "
    "created, repeated (idempotent repeat), refused (4xx), rate_limited (429), failed (5xx).",
    ("case_type", "channel", "outcome"), registry=REGISTRY)
NOTIFICATIONS = Counter(
    "ptsp_notifications", "Notification messages by way (`email` or the channel) and "
    "outcome: sent, failed (tried again later), dead (a dead letter), erased (the person's "
    "data was erased: not sent), no_address (no e-mail address given).",
    ("channel", "outcome"), registry=REGISTRY)
GROUP_COMMIT_BATCH = Histogram(
    "ptsp_group_commit_batch_size", "Commands written in one event-store transaction.",
    registry=REGISTRY, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))


def count_nats_intake(subject: str, status: int) -> None:
    """One intake message on `ptsp.intake.<case-type>.<channel>` answered with `status`."""
    parts = subject.split(".")
    count_intake(parts[2] if len(parts) == 4 else "other",
                 parts[3] if len(parts) == 4 else None, status)


def intake_outcome(status: int) -> str:
    if status == 201:
        return "created"
    if status < 300:
        return "repeated"
    if status == 429:
        return "rate_limited"
    return "refused" if status < 500 else "failed"


def count_intake(case_type: str, channel: str | None, status: int) -> None:
    """One intake request answered with `status`, over HTTP or NATS."""
    INTAKE.labels(case_type if case_type in CASE_TYPES else "other",
                  channel if channel in CHANNELS else "other",
                  intake_outcome(status)).inc()


def count_notification(way: str, outcome: str) -> None:
    """One message settled (or tried) by the notifier (services/notifications)."""
    NOTIFICATIONS.labels(way if way == "email" or way in CHANNELS else "other", outcome).inc()


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_DURATION.labels(route, method, str(status)).observe(seconds)


def observe_batch(size: int) -> None:
    """One group-commit transaction of `size` commands."""
    GROUP_COMMIT_BATCH.observe(size)
