"""Who may do what on NATS (services/infra/nats_auth.py): the users, the deploy's config
kept equal to the code's, and which credentials each part of the system connects with."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
from pathlib import Path

from contracts.vocabulary import CHANNELS
from services.infra import nats_auth
from services.infra.embedded import nats_server_binary
from services.infra.nats_auth import NatsAuth, NatsSecret
from services.infra.signing import b64url

ROOT = Path(__file__).parents[2]


def test_a_channel_publishes_only_its_own_intake_and_reads_only_its_own_replies() -> None:
    config = nats_auth.channel_permissions("oss").as_config()
    assert config["publish"] == {"allow": ["ptsp.intake.*.oss"]}
    assert config["subscribe"] == {"allow": ["_INBOX.oss.>", "ptsp.outbound.oss"]}
    assert set(nats_auth.users()) >= {f"channel-{c}" for c in CHANNELS}


def test_only_the_relay_publishes_events_and_the_consumers_publish_nothing_of_ptsp() -> None:
    users = nats_auth.users()
    for name, permissions in users.items():
        publishes_events = any(p in ("ptsp.>", "ptsp.applications.>", ">")
                               for p in permissions.publish)
        assert publishes_events == (name == nats_auth.RELAY), name
    assert set(users[nats_auth.RELAY].publish_deny) == {"ptsp.intake.>", "ptsp.outbound.>"}
    # Nothing to publish but its replies: the server denies the rest.
    assert users[nats_auth.INTAKE].as_config()["publish"] == {"deny": [">"]}
    assert users[nats_auth.INTAKE].allow_responses


def test_the_deploy_config_is_what_the_code_makes() -> None:
    assert (ROOT / "deploy/nats/auth.conf").read_text() == nats_auth.deploy_authorization()


def test_compose_gives_the_nats_nodes_every_password_the_config_reads() -> None:
    read = set(re.findall(r"password: \$([A-Z_]+)",
                          (ROOT / "deploy/nats/auth.conf").read_text()
                          + (ROOT / "deploy/nats/common.conf").read_text()))
    compose = (ROOT / "compose.yaml").read_text()
    given = set(re.findall(r"^    ([A-Z_]+): \$\{\1:\?", compose, flags=re.MULTILINE))
    assert read == given == {nats_auth.env_name(u) for u in nats_auth.deploy_users()}


def test_passwords_derive_from_one_secret_and_differ_per_user(tmp_path: Path) -> None:
    secret = NatsSecret.load_or_create(tmp_path)
    again = NatsSecret.load_or_create(tmp_path)
    assert secret.password("relay") == again.password("relay") != secret.password("intake")
    assert (tmp_path / "nats.key").stat().st_mode & 0o077 == 0


def test_which_credentials_a_part_connects_with(tmp_path: Path) -> None:
    secret = NatsSecret.load_or_create(tmp_path)
    auth = NatsAuth(keys_dir=tmp_path)
    # An embedded (loopback) server: the part's own user.
    assert auth.options("nats://127.0.0.1:4222", "relay") == {
        "user": "relay", "password": secret.password("relay")}
    # The URL's own credentials win; a remote server never gets the embedded passwords.
    # The URL's own credentials, given explicitly: a failover to a node the cluster
    # announced (whose URL carries none) still authenticates.
    assert auth.options("nats://ptsp:p%40w@nats:4222,nats://ptsp:p%40w@nats2:4222",
                        "relay") == {"user": "ptsp", "password": "p@w"}
    assert auth.options("nats://nats:4222", "relay") == {}
    # A creds file, for a server without user:password in the URL.
    creds = NatsAuth(keys_dir=tmp_path, creds_file=tmp_path / "ptsp.creds")
    assert creds.options("nats://nats:4222", "relay") == {
        "user_credentials": str(tmp_path / "ptsp.creds")}
    # No secret at all (an external server without credentials): nothing.
    assert NatsAuth(keys_dir=tmp_path / "none").options("nats://127.0.0.1:4222", "relay") == {}


def test_a_url_gets_and_loses_its_credentials() -> None:
    url = nats_auth.with_credentials("nats://127.0.0.1:4222", "channel-oss", "p/w")
    assert url == "nats://channel-oss:p%2Fw@127.0.0.1:4222"
    assert nats_auth.without_credentials(url) == "nats://127.0.0.1:4222"


def test_every_password_begins_with_a_letter() -> None:
    for n in range(300):
        secret = NatsSecret(hashlib.sha256(f"key {n}".encode()).digest())
        for user in [*nats_auth.users(), *nats_auth.deploy_users()]:
            password = secret.password(user)
            assert password[0].isascii() and password[0].isalpha(), (n, user, password)


def test_the_deploy_servers_start_with_passwords_from_their_environment(
        tmp_path: Path) -> None:
    """A key whose raw passwords begin with `-` and with a digit and a `-` (the server
    took them for a number and a date and refused to start): `nats-server -t` reads the
    deploy's config with the passwords `ptsp nats-credentials --env` gives."""
    def raw(secret: NatsSecret, user: str) -> str:
        return b64url(hmac.digest(secret._secret, f"nats-user:{user}".encode(),
                                  hashlib.sha256))

    users = nats_auth.deploy_users()
    found: dict[str, NatsSecret] = {}
    for n in range(5000):
        secret = NatsSecret(hashlib.sha256(f"key {n}".encode()).digest())
        for user in users:
            first = raw(secret, user)[:2]
            if first[0] == "-":
                found.setdefault("dash", secret)
            elif first[0].isdigit() and first[1] == "-":
                found.setdefault("date", secret)
        if len(found) == 2:
            break
    assert set(found) == {"dash", "date"}
    for secret in found.values():
        for name in ("auth.conf", "common.conf"):
            (tmp_path / name).write_text((ROOT / "deploy/nats" / name).read_text())
        (tmp_path / "node.conf").write_text("server_name: n1\ninclude ./common.conf\n")
        env = {**os.environ, **{nats_auth.env_name(u): secret.password(u) for u in users}}
        checked = subprocess.run([str(nats_server_binary()), "-c", "node.conf", "-t"],
                                 cwd=tmp_path, env=env, capture_output=True, text=True,
                                 timeout=30)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "is valid" in checked.stdout + checked.stderr
