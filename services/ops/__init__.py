"""Running it like a service: metrics, readiness, structured logs, backup and restore."""
