"""The two sites of a drill, as a client sees them: an S3 endpoint, the keys to sign with, and the
``hoard`` command pointed at it. A ``LocalSite`` is also a ``hoard server`` process of the drill's
own, on a free loopback port and a folder of its own, which the drill starts, kills (SIGKILL: the
site is lost, as in a power cut) and starts again on the same data."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 600.0


class SiteError(Exception):
    """A site that cannot be started, reached or driven; the message says which and why."""


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str


def keys_from_env(env: dict[str, str] | None = None) -> Keys | None:
    """The keys the drill signs with: HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY, else
    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; None if neither pair is set."""
    env = os.environ if env is None else env
    for access, secret in (("HOARD_ROOT_ACCESS_KEY", "HOARD_ROOT_SECRET_KEY"), ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")):
        if env.get(access) and env.get(secret):
            return Keys(env[access], env[secret])
    return None


def s3_client(url: str, keys: Keys, timeout: float = 10.0) -> Any:
    """A boto3 S3 client of ``url``: path-style, one attempt per call (the drill counts failures
    itself), short timeouts (a lost site must fail fast, not hang the load)."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"}, retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=2, read_timeout=timeout, max_pool_connections=32,
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
    )  # fmt: skip
    return boto3.client(
        "s3", endpoint_url=url, aws_access_key_id=keys.access_key, aws_secret_access_key=keys.secret_key,
        region_name="us-east-1", config=config,
    )  # fmt: skip


def hoard_command() -> list[str]:
    """The ``hoard`` command, as this process was started (the same installation)."""
    return [sys.executable, "-m", "hoard"]


class Site:
    """An S3 endpoint of Hoard, and the keys to sign with there."""

    def __init__(self, name: str, url: str, keys: Keys) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.keys = keys

    def __repr__(self) -> str:
        return f"{self.name} ({self.url})"

    def s3(self, timeout: float = 10.0) -> Any:
        return s3_client(self.url, self.keys, timeout)

    def env(self) -> dict[str, str]:
        """The environment a ``hoard`` command run against this site gets: its endpoint, the keys."""
        env = dict(os.environ)
        env.update({"HOARD_ENDPOINT": self.url, "HOARD_ROOT_ACCESS_KEY": self.keys.access_key, "HOARD_ROOT_SECRET_KEY": self.keys.secret_key})
        return env

    def hoard(self, *args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``hoard ARGS`` against this site, as an operator would; SiteError if it fails."""
        try:
            done = subprocess.run([*hoard_command(), *args], env=self.env(), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SiteError(f"hoard {' '.join(args)} did not finish within {timeout:g} s") from None
        if check and done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise SiteError(f"hoard {' '.join(args)} failed (exit {done.returncode}): {said[-1] if said else 'no output'}")
        return done

    def answers(self, timeout: float = 2.0) -> bool:
        """Whether anything answers HTTP at the site (any status: a refusal is an answer)."""
        parts = urllib.parse.urlsplit(self.url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def wait_answering(self, timeout: float, answering: bool = True) -> bool:
        """Poll until the site answers (or, ``answering=False``, stops answering); whether it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers(timeout=1.0) == answering:
                return True
            time.sleep(0.2)
        return self.answers(timeout=1.0) == answering


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalSite(Site):
    """A ``hoard server`` process of the drill's own: one data folder under ``folder``, a free
    loopback port kept across restarts (the other site's remote names this URL)."""

    def __init__(self, name: str, folder: Path, keys: Keys) -> None:
        self.folder = folder
        self.port = free_port()
        super().__init__(name, f"http://127.0.0.1:{self.port}", keys)
        self.data = folder / "data"
        self.log_path = folder / "server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def server_env(self) -> dict[str, str]:
        # The caller's own HOARD_* settings are not the drill's: a site gets only these.
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("HOARD_")}
        env.update(
            {
                "HOARD_ROOT_ACCESS_KEY": self.keys.access_key,
                "HOARD_ROOT_SECRET_KEY": self.keys.secret_key,
                "HOARD_LOG_LEVEL": "info",
                # The secrets key a new deployment makes goes beside its data, not into the home folder.
                "XDG_CONFIG_HOME": str(self.folder / "config"),
                # Sites run side by side: no console on its one default port.
                "HOARD_CONSOLE_ADDRESS": "off",
            }
        )
        return env

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*hoard_command(), "server", "--address", f"127.0.0.1:{self.port}", str(self.data)],
                env=self.server_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SiteError(f"the {self.name} site's server exited at start (status {self.proc.returncode}):\n{self.log_tail()}")
            if self.answers(timeout=1.0):
                return
            time.sleep(0.05)
        raise SiteError(f"the {self.name} site's server did not answer within {timeout:g} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """The site is lost: SIGKILL, no shutdown of any kind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """A clean stop (SIGTERM), at the end of the drill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def tracebacks(self) -> int:
        """How many tracebacks the server logged (an exception it did not expect)."""
        try:
            return self.log_path.read_text(errors="replace").count("Traceback")
        except OSError:
            return 0
