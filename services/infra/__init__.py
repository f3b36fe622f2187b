"""Infrastructure: the event store and its group commit, the relay and the event log,
the embedded servers, the personal-data vault, signing keys, credentials, the shared
simulated clock. Knows Postgres, NATS and files; knows no HTTP."""
