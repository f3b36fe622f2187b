"""Who may do what on NATS: one user per channel service and per part of the system, each
with the subjects it may publish and subscribe to, and the client side that picks a
part's credentials.

Users (the server's `authorization` block; the embedded server's config and
`deploy/nats/auth.conf` are both rendered from `USERS` here):

- `channel-<c>` for each intake channel: publishes only `ptsp.intake.*.<c>`, and receives
  only its own replies, on the inbox prefix `_INBOX.<c>` (a request from a client with
  the default `_INBOX` prefix is refused: replies carry the tracking PIN, so one channel
  must not read another's). It also takes `ptsp.outbound.<c>` requests and answers them.
- `intake`: takes `ptsp.intake.>` and answers each request once (`allow_responses`);
  it publishes nothing else.
- `relay`: the only one that publishes domain events (`ptsp.<stream>.>`) and creates
  and updates the JetStream streams.
- `projections`: consumes only (pull consumers, acks); publishes no event.
- `notifier`: consumes like the projections and sends `ptsp.outbound.<channel>`.
- `admin` (embedded server only): every right, for an operator's tools and the tests.
- `ptsp` (deploy only): the service of `compose.yaml`, whose every replica runs intake,
  relay and projections in one `ptsp up`: their rights together, never a channel's.

Passwords are not stored one by one: each is an HMAC of the user's name under one secret,
`keys/nats.key` (0600, made on first use), so a new channel needs no new file and the
operator can print any user's credentials again (`ptsp nats-credentials`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from contracts.vocabulary import CHANNELS
from services.infra.signing import b64url, secret_bytes

SECRET_FILE = "nats.key"
ADMIN = "admin"
INTAKE, RELAY, PROJECTIONS, NOTIFIER = "intake", "relay", "projections", "notifier"
SERVICE = "ptsp"
"""The deploy's one service user (every replica runs every part)."""

_JS_CONSUME = ("$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.CONSUMER.>", "$JS.ACK.>")
_JS_MANAGE_STREAMS = ("$JS.API.INFO", "$JS.API.STREAM.CREATE.*", "$JS.API.STREAM.UPDATE.*",
                      "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.NAMES")
_NOT_EVENTS = ("ptsp.intake.>", "ptsp.outbound.>")
"""Under `ptsp.` but not domain events: the relay may not publish there."""


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...] = ()
    publish_deny: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    allow_responses: bool = False

    def __or__(self, other: Permissions) -> Permissions:
        def union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(a + b))
        return Permissions(union(self.publish, other.publish),
                           union(self.publish_deny, other.publish_deny),
                           union(self.subscribe, other.subscribe),
                           self.allow_responses or other.allow_responses)

    def as_config(self) -> dict[str, Any]:
        # No publish allow list would mean "publish anything": deny all instead (replies
        # still pass with allow_responses, which the server checks after the deny).
        publish: dict[str, list[str]] = ({"allow": list(self.publish)} if self.publish
                                         else {"deny": [">"]})
        if self.publish and self.publish_deny:
            publish["deny"] = list(self.publish_deny)
        config: dict[str, Any] = {"publish": publish,
                                  "subscribe": {"allow": list(self.subscribe)}
                                  if self.subscribe else {"deny": [">"]}}
        if self.allow_responses:
            config["allow_responses"] = True
        return config


def channel_user(channel: str) -> str:
    return f"channel-{channel}"


def inbox_prefix(channel: str) -> str:
    """Where a channel service must receive its replies (nats-py `inbox_prefix`, the
    `nats` tool's `--inbox-prefix`)."""
    return f"_INBOX.{channel}"


def channel_permissions(channel: str) -> Permissions:
    return Permissions(publish=(f"ptsp.intake.*.{channel}",),
                       subscribe=(f"{inbox_prefix(channel)}.>", f"ptsp.outbound.{channel}"),
                       allow_responses=True)


ROLES: dict[str, Permissions] = {
    INTAKE: Permissions(subscribe=("ptsp.intake.>",), allow_responses=True),
    RELAY: Permissions(publish=("ptsp.>", *_JS_MANAGE_STREAMS), publish_deny=_NOT_EVENTS,
                       subscribe=("_INBOX.>",)),
    PROJECTIONS: Permissions(publish=_JS_CONSUME, subscribe=("_INBOX.>",)),
    NOTIFIER: Permissions(publish=(*_JS_CONSUME, "ptsp.outbound.>"), subscribe=("_INBOX.>",)),
}
"""The parts of the system, each connecting under its own name."""


def users(channels: Iterable[str] = CHANNELS) -> dict[str, Permissions]:
    """Every user but the embedded server's admin and the deploy's service user."""
    table = dict(ROLES)
    table.update({channel_user(c): channel_permissions(c) for c in channels})
    return table


def service_permissions() -> Permissions:
    """The deploy's `ptsp` user: every part of the system in one process set."""
    combined = Permissions()
    for permissions in ROLES.values():
        combined = combined | permissions
    # The union allows `ptsp.>` (the relay's) and answering channel requests; what the
    # relay may not publish stays denied, except the notifier's outbound requests.
    return Permissions(combined.publish, ("ptsp.intake.>",), combined.subscribe, True)


class NatsSecret:
    """The one secret every password derives from."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> NatsSecret:
        return cls(secret_bytes(keys_dir / SECRET_FILE))

    @classmethod
    def load(cls, keys_dir: Path) -> NatsSecret | None:
        path = keys_dir / SECRET_FILE
        return cls(path.read_bytes()) if path.exists() else None

    def password(self, user: str) -> str:
        """The user's password, always beginning with a letter. The deploy's servers read
        passwords from their environment (`password: $VAR`, unquoted: the config format
        has no quoted variable), and their parser takes a value beginning with `-` or a
        digit for a number or a date: `-l…` stopped a server with "Expected a digit",
        `9-x…` with "All ISO8601 dates must be in full Zulu form" (about one key in four
        made such a password for one of the users). A letter in front keeps it text; a
        password that began with a letter is what it was."""
        mac = b64url(hmac.digest(self._secret, f"nats-user:{user}".encode(), hashlib.sha256))
        return mac if mac[0].isascii() and mac[0].isalpha() else f"p{mac}"


def _entry(user: str, password: str, permissions: Permissions | None) -> str:
    fields = [f"user: {json.dumps(user)}", f"password: {password}"]
    if permissions is not None:
        fields.append(f"permissions: {json.dumps(permissions.as_config())}")
    return "    {" + ", ".join(fields) + "}"


def authorization(entries: Iterable[tuple[str, str, Permissions | None]]) -> str:
    """The server's `authorization` block. Each password is config text: a quoted
    literal, or an unquoted `$VARIABLE` the server reads from its environment."""
    lines = ",\n".join(_entry(user, password, perms) for user, password, perms in entries)
    return f"authorization {{\n  users: [\n{lines}\n  ]\n}}\n"


def embedded_authorization(secret: NatsSecret) -> str:
    entries: list[tuple[str, str, Permissions | None]] = [
        (ADMIN, json.dumps(secret.password(ADMIN)), None)]
    entries += [(user, json.dumps(secret.password(user)), perms)
                for user, perms in users().items()]
    return authorization(entries)


ROUTE = "route"
"""The deploy's cluster nodes, to each other (compose.yaml gives them the routes)."""
DEPLOY_HEADER = """\
# Generated by services/infra/nats_auth.py (deploy_authorization): who may do what.
# Passwords come from the environment: compose.yaml passes them from .env, made with
# `ptsp nats-credentials --env >> .env`. A unit test keeps this file as the code makes it.
"""


_ENV_NAMES = {SERVICE: "PTSP_NATS_PASSWORD", ROUTE: "NATS_ROUTE_PASSWORD"}


def env_name(user: str) -> str:
    """The environment variable holding a user's password in the deploy."""
    return _ENV_NAMES.get(user) or "NATS_PASSWORD_" + user.removeprefix("channel-").upper()


def deploy_users() -> list[str]:
    """Every user of the deploy whose password the environment holds."""
    return [SERVICE, ROUTE, *(channel_user(c) for c in CHANNELS)]


def deploy_authorization() -> str:
    """`deploy/nats/auth.conf`: the service user and the channels (no roles of their
    own: each replica runs every part), passwords from the environment."""
    entries: list[tuple[str, str, Permissions | None]] = [
        (SERVICE, f"${env_name(SERVICE)}", service_permissions())]
    entries += [(channel_user(c), f"${env_name(channel_user(c))}", channel_permissions(c))
                for c in CHANNELS]
    return DEPLOY_HEADER + authorization(entries)


def servers(url: str) -> list[str]:
    """NATS_URL as nats-py takes it: one URL, or a comma-separated list (a cluster's nodes,
    so that the first connection does not depend on one node being up)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme or "nats", netloc, parts.path, parts.query, ""))


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def redacted(url: str) -> str:
    """A NATS URL (or comma-separated list) as a log line may show it: no credentials."""
    return ",".join(without_credentials(u) for u in servers(url))


def _is_loopback(host: str | None) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class NatsAuth:
    """Which credentials a part of the system connects with. In order:
    1. the URL's own `user:password@` (an external server; every part uses them);
    2. `PTSP_NATS_CREDS`, a creds file (nats-py needs the `nkeys` package for it);
    3. on a loopback URL, the part's own user from `keys/nats.key` (the embedded
       server's: its passwords never leave the machine);
    4. none: an external server without credentials is the operator's choice."""

    keys_dir: Path | None = None
    creds_file: Path | None = None

    def options(self, url: str, role: str) -> dict[str, Any]:
        """Keyword arguments for `nats.connect` (URLs may be a comma-separated list)."""
        first = urlsplit(url.split(",")[0].strip())
        if first.username:
            # Given explicitly, not only in the URL: nats-py connects to the cluster's other
            # nodes it learns of (a failover) with these, not with the URL's alone.
            return {"user": unquote(first.username), "password": unquote(first.password or "")}
        if self.creds_file is not None:
            return {"user_credentials": str(self.creds_file)}
        if self.keys_dir is not None and _is_loopback(first.hostname):
            secret = NatsSecret.load(self.keys_dir)
            if secret is not None:
                return {"user": role, "password": secret.password(role)}
        return {}
