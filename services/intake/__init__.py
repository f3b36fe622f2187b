"""Intake from channel services over NATS (API.md, "NATS"): the same bodies as the HTTP
POSTs, as requests on `ptsp.intake.<case-type>.<channel>`."""

from services.intake.nats_intake import NatsIntake

__all__ = ["NatsIntake"]
