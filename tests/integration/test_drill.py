"""The scale-out drill (bench/drill.py), short: three clustered nats-server processes with
streams at 3 replicas, two `ptsp up` replicas on one Postgres, intake under load while a
JetStream node, the relay's lock holder and an HTTP replica are killed with -9 in turn.
Nothing accepted is lost, nothing is applied twice, the relay fails over."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import drill

pytestmark = pytest.mark.integration


def test_faults_lose_nothing_and_apply_nothing_twice(tmp_path: Path) -> None:
    results = drill.run(tmp_path, rate=30, window=4)
    checks = results["checks"]
    assert checks["caught_up"], checks
    assert checks["accepted"] > 0 and checks["unanswered"] == 0, checks
    assert checks["events_lost"] == 0, checks
    assert checks["applied_twice"] == 0, checks
    assert checks["cases_created_twice"] == 0, checks
    phases = results["phases"]
    for name, phase in phases.items():
        # Every submission of every phase was answered, on one replica or the other.
        assert phase["accepted"] == phase["requests"] > 0, (name, phase)
    assert phases["nats_node_killed"]["stream_replicas"] == 3
    relay = phases["relay_holder_killed"]
    assert relay["lock_taken_over_s"] is not None and relay["lock_taken_over_s"] < 10, relay
    assert relay["publishing_resumed_s"] is not None
    # Afterwards both replicas are ready, and each serves its metrics port.
    for name, replica in results["replicas"].items():
        assert replica["ready"] == 200 and replica["problems"] == [], (name, replica)
        assert {"ptsp_intake_total", "ptsp_relay_lag_events",
                "ptsp_projection_lag_events"} <= set(replica["metrics"]), replica
    text = drill.table(results)
    assert "events lost: **0**" in text and "applied twice: **0**" in text
