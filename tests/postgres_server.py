"""A real PostgreSQL server for tests: initdb and pg_ctl in a temporary folder, as the postgres user.

The binaries come from ``pg_config --bindir`` (Debian's ``postgresql`` package, which .ci/run
installs). Without them the fixture fails, never skips: a skipped store is an untested store.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.conftest import free_port


def bindir() -> Path:
    """PostgreSQL's server programs (``pg_config --bindir``); the test fails naming the package without them."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        pytest.fail("PostgreSQL is not installed (no pg_config on PATH): `apt-get install -y postgresql`, as .ci/run does")
    bindir = Path(subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True).stdout.strip())
    if not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        pytest.fail(f"no initdb or pg_ctl in {bindir} (pg_config --bindir): install the PostgreSQL server (`apt-get install -y postgresql`)")
    return bindir


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1:port, its socket in its own folder, trust authentication."""

    def __init__(self) -> None:
        self.bindir = bindir()
        self.root = Path(tempfile.mkdtemp(prefix="hoard-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root and there is no postgres user to run PostgreSQL as")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self.as_user, *argv], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "--data-checksums", "--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync")
        self.resume()

    def halt(self) -> None:
        """The server gone as if its machine died (its data kept): ``resume`` brings it back."""
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], capture_output=True)

    def resume(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=100"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def pid(self) -> int:
        """The postmaster's process id (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def create_database(self) -> str:
        """A fresh, empty database; its connection string."""
        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.conninfo(name)

    def drop_database(self, conninfo: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
