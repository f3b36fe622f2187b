"""Audit: case histories and the case as of a time or version (from the event store
itself), and tamper evidence (a hash chain over every stored event, with signed
checkpoints outside the database)."""
