"""compose.yaml and deploy/ say what the drill (bench/drill.py) runs, and what the code
reads: streams at 3 replicas, fsync on every write, TLS at the proxy, every replica's
metrics scraped, the keys made once before the replicas start."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.drill import NatsCluster
from services.settings import FROM_ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_streams_at_three_replicas_a_setting_the_service_reads() -> None:
    env = compose()["x-ptsp-env"]
    assert env["PTSP_STREAM_REPLICAS"] == "3"
    assert FROM_ENVIRONMENT["PTSP_STREAM_REPLICAS"][0] == "stream_replicas"
    assert Settings.from_env({"PTSP_STREAM_REPLICAS": "3"}).stream_replicas == 3
    assert "Not read by the service" not in (ROOT / "compose.yaml").read_text()


def test_every_node_fsyncs_every_write_in_compose_and_in_the_drill(tmp_path: Path) -> None:
    assert "sync_interval: always" in (ROOT / "deploy/nats/common.conf").read_text()
    keys = tmp_path / "keys"
    cluster = NatsCluster(tmp_path / "nats", keys)
    config = cluster._config(cluster.nodes[0]).read_text()
    assert "sync_interval: always" in config and "include ./auth.conf" in config
    assert (tmp_path / "nats" / "auth.conf").read_text() == \
        (ROOT / "deploy/nats/auth.conf").read_text()


def test_prometheus_scrapes_the_metrics_port_of_every_replica() -> None:
    services = compose()["services"]
    port = int(compose()["x-ptsp-env"]["PTSP_METRICS_PORT"])
    assert str(port) in services["ptsp"]["expose"]
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    [job] = scrape["scrape_configs"]
    [dns] = job["dns_sd_configs"]
    assert dns["names"] == ["ptsp"] and dns["port"] == port
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]


def test_alerts_hold_the_readiness_thresholds() -> None:
    alerts = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    defaults = Settings()
    assert f"(ptsp_relay_lag_events) > {defaults.ready_max_relay_lag}" in alerts
    assert f"(ptsp_projection_lag_events) > {defaults.ready_max_projection_lag}" in alerts
    due = defaults.ready_max_notification_due_seconds
    assert f"max(ptsp_notifications_due_seconds) > {due:g}" in alerts


def test_the_proxy_terminates_tls() -> None:
    caddy = (ROOT / "deploy/Caddyfile").read_text()
    assert "auto_https off" not in caddy
    assert "tls {$PTSP_TLS:internal}" in caddy and "{$PTSP_DOMAIN:localhost} {" in caddy
    proxy = compose()["services"]["proxy"]
    assert any(p.endswith(":443") for p in proxy["ports"])
    assert "caddy:/data" in proxy["volumes"]   # certificates survive a restart


def test_keys_are_made_once_before_the_replicas_and_shared() -> None:
    services = compose()["services"]
    script = services["keys"]["command"][-1]
    for make in ("office_key", "token_issuer", "event_signer", "personal_data_vault"):
        assert f"{make}(settings)" in script, make
    assert services["ptsp"]["depends_on"]["keys"]["condition"] == \
        "service_completed_successfully"
    assert {"keys:/var/lib/ptsp/keys", "audit:/var/lib/ptsp/audit"} <= \
        set(services["ptsp"]["volumes"])
