"""``hoard dr drill STRATEGY``: a disaster, end to end, measured.

Two sites (two ``hoard server`` processes of the drill's own in a temporary folder, or two
servers given by URL), one bucket, a write load (``Load``) on the primary. After ``duration``
seconds the primary is lost (SIGKILL); a monitor notices (``DETECT_FAILURES`` failed probes
``DETECT_INTERVAL`` apart); the strategy fails over (one command, timed); clients switch to the
site that is left; the writes acknowledged before the loss are checked against what that site
holds (the RPO); the first write it acknowledges ends the RTO. After ``outage`` more seconds the
old primary is started again on its data, the strategy fails back (one command), clients return,
and every write acknowledged in the whole drill is read back from the site serving at the end
(``lost``: missing or other bytes).

The strategies (docs/dr.md):
- backup-restore: ``hoard backup`` of the primary's bucket every ``backup_interval`` seconds into
  a folder (standing in for off-site storage); the secondary has nothing until the failover
  restores the backup into it (``hoard dr promote --from-backup``); failback: backup of the
  secondary, restored into the old primary (``hoard dr failback --via-backup``), twice.
- pilot-light: the primary's bucket replicates to the secondary, which nothing else uses;
  promotion checks it and prepares replication back; failback configures it and catches up.
- warm-standby: as pilot light, and the secondary also serves reads all along (checked before
  the loss) and is configured from the start to replicate back, so promotion only checks.
- active-active: the two buckets replicate to each other and each site takes half the clients;
  no promotion: the lost site's clients switch to the other one.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hoard.dr import measure, state
from hoard.dr.load import Load, StandbyReader
from hoard.dr.sites import Keys, LocalSite, Site, SiteError, hoard_command

STRATEGIES = ("backup-restore", "pilot-light", "warm-standby", "active-active")
DETECT_INTERVAL = 1.0
DETECT_FAILURES = 2
PROBE_TIMEOUT = 2.0
OPERATOR_WAIT = 600.0  # for a primary stopped or started by hand


@dataclass
class Options:
    strategy: str
    duration: float = 20.0
    rate: float = 100.0
    outage: float = 10.0
    size: int = 1024
    backup_interval: float = 5.0
    settle: float = 2.0  # seconds of writes to the primary, once back, before the load stops
    primary: str | None = None
    secondary: str | None = None
    kill_command: str | None = None
    restart_command: str | None = None
    keep: bool = False
    rpo_target: float = 15.0
    rto_target: float = 30.0
    timeout: float = 600.0  # bounds each wait: a catch-up, a restore, the final drain


class DrillError(Exception):
    """The drill could not be run to its end; the message says where it stopped."""


class Drill:
    def __init__(self, options: Options, keys: Keys, say: Callable[[str], None]) -> None:
        if options.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {options.strategy!r}: expected one of {', '.join(STRATEGIES)}")
        self.o = options
        self.keys = keys
        self._say = say
        self.t0 = time.time()
        self.id = secrets.token_hex(3)
        self.bucket = f"dr-drill-{self.id}"
        self.local = options.primary is None
        self.result: dict = {"strategy": options.strategy}
        self.workdir = Path(tempfile.mkdtemp(prefix=f"hoard-dr-{options.strategy}-"))
        self.primary: Site
        self.secondary: Site
        # Remotes, named after the site they point at.
        self.to_secondary = f"dr-{self.id}-secondary"
        self.to_primary = f"dr-{self.id}-primary"
        self.backups = self.workdir / "backup"  # the primary's backups (backup-restore)
        self.failback_backup = self.workdir / "failback-backup"

    def say(self, text: str) -> None:
        self._say(f"[{time.time() - self.t0:6.1f} s] {text}")

    # -- the whole drill ----------------------------------------------------------------------
    def run(self) -> dict:
        self.failed = True
        self.touched = False
        try:
            self._sites()
            self._drill()
            self.failed = False
            return self.result
        finally:
            self._end()

    def _sites(self) -> None:
        if self.local:
            self.primary = LocalSite("primary", self.workdir / "primary", self.keys)
            self.secondary = LocalSite("secondary", self.workdir / "secondary", self.keys)
            for site in (self.primary, self.secondary):
                site.start()
            self.say(f"sites started in {self.workdir}: primary {self.primary.url}, secondary {self.secondary.url}")
        else:
            assert self.o.primary and self.o.secondary
            self.primary = Site("primary", self.o.primary, self.keys)
            self.secondary = Site("secondary", self.o.secondary, self.keys)
            for site in (self.primary, self.secondary):
                if not site.answers():
                    raise DrillError(f"the {site.name} site {site.url} does not answer")
            self.say(f"sites: primary {self.primary.url}, secondary {self.secondary.url}")
        self.result["sites"] = {"primary": self.primary.url, "secondary": self.secondary.url}
        self.result["bucket"] = self.bucket

    def _drill(self) -> None:
        o = self.o
        self.touched = True  # the sites now hold something of the drill's
        self._setup()
        groups = {"a": "primary", "b": "secondary"} if o.strategy == "active-active" else {"app": "primary"}
        self.load = Load({"primary": self.primary, "secondary": self.secondary}, self.bucket, o.rate, o.size, groups)
        self.say(f"load: {o.rate:g} PUT/s of {o.size} B objects for {o.duration:g} s, to " + (
            "both sites (half each)" if o.strategy == "active-active" else "the primary"))  # fmt: skip
        self.load.start()
        side = self._side_jobs_start()
        time.sleep(o.duration)
        self._before_loss()
        loss = self._lose_primary(side)
        detected = self._detect(loss)
        self.result["detect_s"] = round(detected - loss, 3)
        self.say(f"primary lost: noticed after {detected - loss:.1f} s ({DETECT_FAILURES} failed probes)")
        self._failover()
        self._failover_check(loss)
        first = self._first_write(loss)
        rto = measure.rto(loss, first)
        self.result["rto_s"] = round(rto, 3) if rto is not None else None
        self.say(f"first write acknowledged by the secondary {rto:.1f} s after the loss" if rto is not None else "no write acknowledged by the secondary")
        if first is not None:
            time.sleep(max(first + o.outage - time.time(), 0))
        self._restart_primary()
        self._failback()
        self._final_check(loss)

    # -- set-up -------------------------------------------------------------------------------
    def _setup(self) -> None:
        s = self.o.strategy
        p, q = self.primary, self.secondary
        state.versioned_bucket(p, self.bucket)
        if s == "backup-restore":
            self.say(f"set-up: bucket {self.bucket} (versioned) on the primary; the secondary is empty; backups every {self.o.backup_interval:g} s into {self.backups}")
            return
        state.versioned_bucket(q, self.bucket)
        self._replicate(p, q, self.to_secondary)
        if s == "pilot-light":
            self.say(f"set-up: bucket {self.bucket} replicated primary -> secondary (remote {self.to_secondary})")
        elif s == "warm-standby":
            self._replicate(q, p, self.to_primary)
            self.say(f"set-up: bucket {self.bucket} replicated primary -> secondary; secondary -> primary configured for failback; reads served by the secondary")
        else:
            self._replicate(q, p, self.to_primary)
            self.say(f"set-up: bucket {self.bucket} on both sites, each replicating to the other")

    def _replicate(self, source: Site, target: Site, remote: str) -> None:
        state.ensure_remote(source, remote, target.url, self.keys.access_key, self.keys.secret_key)
        source.s3().put_bucket_replication(Bucket=self.bucket, ReplicationConfiguration=state.replication_configuration(remote, self.bucket))

    # -- while the load runs ------------------------------------------------------------------
    def _side_jobs_start(self) -> object:
        if self.o.strategy == "backup-restore":
            loop = _BackupLoop(self.primary, self.bucket, self.backups, self.o.backup_interval, self.say)
            loop.start()
            return loop
        if self.o.strategy == "warm-standby":
            reader = StandbyReader(self.secondary, self.bucket, self.load)
            reader.start()
            return reader
        return None

    def _before_loss(self) -> None:
        if self.o.strategy != "backup-restore":
            with contextlib.suppress(SiteError):
                lag = state.backlog(self.primary, self.bucket)
                self.result["replication_backlog_at_loss"] = lag["pending"] + lag["failed"]
                self.result["replication_lag_at_loss_s"] = round(lag["lag_seconds"], 3)
                self.say(f"replication before the loss: {lag['pending'] + lag['failed']} versions waiting, lag {lag['lag_seconds']:.1f} s")

    def _lose_primary(self, side: object) -> float:
        """Lose the primary; the instant it was gone."""
        written = len(self.load.acknowledged())
        if isinstance(self.primary, LocalSite):
            pid = self.primary.pid
            self.primary.kill()
            loss = time.time()
            self.say(f"primary killed (SIGKILL, pid {pid}) after {written} acknowledged writes")
        elif self.o.kill_command:
            _shell(self.o.kill_command, "--kill-command")
            loss = time.time()
            self.say(f"primary stopped by {self.o.kill_command!r}")
        else:
            self.say(f"STOP THE PRIMARY NOW ({self.primary.url}): kill its server, or cut it off the network")
            if not self.primary.wait_answering(OPERATOR_WAIT, answering=False):
                raise DrillError(f"the primary {self.primary.url} still answers after {OPERATOR_WAIT:g} s")
            loss = time.time()
        self.result["duration_s"] = round(loss - self.load.started, 3)
        self.result["written_before_loss"] = len(self.load.acknowledged(before=loss))
        self.result["achieved_rate"] = round(self.result["written_before_loss"] / max(loss - self.load.started, 1e-9), 1)
        if isinstance(side, _BackupLoop):
            side.lose()  # the backup job ran at the primary's site: it is lost with it
            self.result["backups"] = len(side.completed)
            if side.completed:
                age = loss - side.completed[-1]
                self.result["last_backup_age_s"] = round(age, 3)
                self.say(f"backups completed: {len(side.completed)}; the last began {age:.1f} s before the loss")
        elif isinstance(side, StandbyReader):
            side.stop()
            self.result.update(standby_reads=side.reads, standby_reads_ok=side.ok, standby_reads_not_yet=side.not_yet)
            self.say(f"reads served by the standby before the loss: {side.ok} of {side.reads} whole ({side.not_yet} keys not replicated yet, {len(side.errors)} errors)")
            if side.ok == 0 or side.errors:
                raise DrillError(f"the warm standby did not serve reads: {side.ok} of {side.reads} whole; {'; '.join(side.errors[:3])}")
        return loss

    def _detect(self, loss: float) -> float:
        """When a monitor probing the primary would have declared it lost."""
        failures = 0
        while True:
            if self.primary.answers(timeout=PROBE_TIMEOUT):
                failures = 0
            else:
                failures += 1
                if failures >= DETECT_FAILURES:
                    return time.time()
            time.sleep(DETECT_INTERVAL)

    # -- failover -----------------------------------------------------------------------------
    def _failover(self) -> None:
        s = self.o.strategy
        if s == "active-active":
            self.load.switch("a", "secondary")
            self.say("the primary's clients now write to the secondary (no promotion)")
            self.result["promote_s"] = None
            return
        args = ["dr", "promote", self.bucket, "--site", self.secondary.url]
        if s == "backup-restore":
            args += ["--from-backup", str(self.backups)]
        else:
            args += ["--peer", self.primary.url, "--remote", self.to_primary]
        seconds = self._command(self.secondary, args)
        self.result["promote_s"] = round(seconds, 3)
        self.load.switch("app", "secondary")
        self.say("clients switched to the secondary")

    def _command(self, site: Site, args: list[str]) -> float:
        """Run ``hoard ARGS`` as the operator would, its lines shown; its duration."""
        self.say("$ hoard " + " ".join(args))
        started = time.monotonic()
        try:
            done = site.hoard(*args, timeout=self.o.timeout)
        except SiteError as e:
            raise DrillError(str(e)) from None
        seconds = time.monotonic() - started
        for line in done.stdout.splitlines():
            self._say(f"           | {line}")
        self.say(f"  ({seconds:.1f} s)")
        return seconds

    def _failover_check(self, loss: float) -> None:
        held = state.holding(self.secondary, self.bucket)
        before = self.load.acknowledged(before=loss)
        rpo, missing = measure.rpo(before, held, loss)
        self.result["rpo_s"] = round(rpo, 3)
        self.result["missing_at_failover"] = missing
        self.say(f"at failover the secondary lacks {missing} of the {len(before)} writes acknowledged before the loss: RPO {rpo:.1f} s")

    def _first_write(self, loss: float) -> float | None:
        group = "a" if self.o.strategy == "active-active" else "app"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            first = self.load.first_ack("secondary", after=loss, group=group)
            if first is not None:
                return first
            time.sleep(0.05)
        return None

    # -- failback -----------------------------------------------------------------------------
    def _restart_primary(self) -> None:
        if isinstance(self.primary, LocalSite):
            self.primary.start()
            self.say(f"primary started again on its data (pid {self.primary.pid})")
        elif self.o.restart_command:
            _shell(self.o.restart_command, "--restart-command")
            if not self.primary.wait_answering(60):
                raise DrillError(f"the primary {self.primary.url} does not answer after {self.o.restart_command!r}")
            self.say(f"primary started again by {self.o.restart_command!r}")
        else:
            self.say(f"START THE PRIMARY AGAIN NOW ({self.primary.url}), on its data")
            if not self.primary.wait_answering(OPERATOR_WAIT):
                raise DrillError(f"the primary {self.primary.url} does not answer after {OPERATOR_WAIT:g} s")
        self.back = time.time()

    def _failback(self) -> None:
        s = self.o.strategy
        args = ["dr", "failback", self.bucket, "--site", self.primary.url, "--from", self.secondary.url]
        args += ["--via-backup", str(self.failback_backup)] if s == "backup-restore" else ["--remote", self.to_primary]
        self.result["failback_s"] = round(self._command(self.secondary, args), 3)
        group = "a" if s == "active-active" else "app"
        switched = time.time()
        self.load.switch(group, "primary")
        self.result["outage_writes"] = len([a for a in self.load.acknowledged() if a.site == "secondary" and a.key.startswith(group + "/")])
        self.say("clients back on the primary")
        time.sleep(self.o.settle)
        self.load.stop()
        back = len([a for a in self.load.acknowledged() if a.site == "primary" and a.acked >= switched])
        self.say(f"load stopped: {len(self.load.acks)} writes acknowledged in all, {back} by the primary since it is back, {len(self.load.failures)} failed")
        if s == "backup-restore":
            # What the secondary took until the clients left it: the same command again (incremental).
            self.result["failback_s"] = round(self.result["failback_s"] + self._command(self.secondary, args), 3)
        else:
            for site in (self.secondary, self.primary):
                try:
                    state.wait_backlog(site, self.bucket, self.o.timeout, say=self.say)
                except SiteError as e:
                    raise DrillError(str(e)) from None
            self.say("replication drained on both sites")

    def _final_check(self, loss: float) -> None:
        acks = self.load.acknowledged()
        self.result["written"] = len(acks)
        self.result["failed_writes"] = len(self.load.failures)
        lost = {a.key for a in measure.missing(acks, state.holding(self.primary, self.bucket))}
        lost |= {a.key for a in state.read_back(self.primary, self.bucket, acks)}
        converged = None
        if self.o.strategy in ("pilot-light", "warm-standby"):
            on_secondary = measure.missing(acks, state.holding(self.secondary, self.bucket))
            self.result["missing_on_secondary"] = len(on_secondary)
        elif self.o.strategy == "active-active":
            lost |= {a.key for a in measure.missing(acks, state.holding(self.secondary, self.bucket))}
            only_primary, only_secondary = measure.differences(state.versions(self.primary, self.bucket), state.versions(self.secondary, self.bucket))
            converged = only_primary == only_secondary == 0
            self.result["versions_only_on_primary"] = only_primary
            self.result["versions_only_on_secondary"] = only_secondary
        self.result["converged"] = converged
        self.result["lost"] = len(lost)
        self.result["bad_etags"] = len(self.load.bad_etags)
        where = "either site" if self.o.strategy == "active-active" else "the primary"
        self.say(f"after failback {where} lacks {len(lost)} of the {len(acks)} acknowledged writes (each read back whole)")
        if converged is not None:
            self.say("both sites hold the same versions" if converged else f"the sites differ: {self.result['versions_only_on_primary']} versions only on the primary, {self.result['versions_only_on_secondary']} only on the secondary")
        rpo, rto = self.result.get("rpo_s"), self.result.get("rto_s")
        self.result["targets"] = {"rpo_s": self.o.rpo_target, "rto_s": self.o.rto_target, "lost": 0}
        self.result["met"] = bool(
            rpo is not None and rpo < self.o.rpo_target and rto is not None and rto < self.o.rto_target and not lost and converged is not False
        )

    # -- the end ------------------------------------------------------------------------------
    def _end(self) -> None:
        load = getattr(self, "load", None)
        if load is not None:
            load.stop()
        for site in (getattr(self, "primary", None), getattr(self, "secondary", None)):
            if isinstance(site, LocalSite):
                site.stop()
                self.result.setdefault("server_tracebacks", 0)
                self.result["server_tracebacks"] += site.tracebacks()
        if not self.local and self.touched:
            if not self.o.keep and not self.failed:
                self._clean_remote_sites()
            else:
                self.say(f"left on the sites: the bucket {self.bucket}, its replication, the remotes {self.to_secondary} and {self.to_primary}")
        if (self.o.keep or self.failed) and self.touched:
            self.say(f"kept for inspection (the sites' data and server.log, the backups): {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _clean_remote_sites(self) -> None:
        """Leave the given sites as they were: the drill's bucket, its replication and remotes gone."""
        for site in (getattr(self, "primary", None), getattr(self, "secondary", None)):
            if site is None or not site.answers():
                continue
            try:
                s3 = site.s3(timeout=60)
                with contextlib.suppress(Exception):
                    s3.delete_bucket_replication(Bucket=self.bucket)
                for name in (self.to_primary, self.to_secondary):
                    site.hoard("admin", "remote", "remove", name, check=False, timeout=60)
                found = state.versions(site, self.bucket)
                for i in range(0, len(found), 1000):
                    batch = [{"Key": k, "VersionId": v} for k, v, _ in found[i:i + 1000]]
                    s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                s3.delete_bucket(Bucket=self.bucket)
            except Exception as e:  # noqa: BLE001 - said, and the drill's figures stand
                if "NoSuchBucket" not in str(e):
                    self.say(f"could not remove the drill's bucket {self.bucket} at {site.url}: {e}")


class _BackupLoop:
    """``hoard backup BUCKET DIR`` of the primary, again and again: a run starts ``interval``
    seconds after the previous one started, or at once if that one took longer. It runs at the
    primary's site, so the primary's loss kills it (SIGKILL) mid-run."""

    def __init__(self, site: Site, bucket: str, folder: Path, interval: float, say: Callable[[str], None]) -> None:
        self.site, self.bucket, self.folder, self.interval, self.say = site, bucket, folder, interval, say
        self.completed: list[float] = []  # when each completed run began (its listing then)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="dr-backup", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.time()
            with self._lock:
                if self._stop.is_set():
                    return
                self._proc = subprocess.Popen(
                    [*hoard_command(), "backup", self.bucket, str(self.folder), "--jobs", "8", "--json"],
                    env=self.site.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )  # fmt: skip
            out, err = self._proc.communicate()
            if self._stop.is_set():
                return
            if self._proc.returncode == 0:
                self.completed.append(began)
                summary = json.loads(out.strip().splitlines()[-1])
                self.say(f"backup: {summary['copied']} versions copied in {time.time() - began:.1f} s ({summary['listed']} listed)")
            else:
                self.failures.append(err.strip()[-300:])
                self.say(f"backup failed: {err.strip().splitlines()[-1] if err.strip() else self._proc.returncode}")
            self._stop.wait(max(began + self.interval - time.time(), 0))

    def lose(self) -> None:
        with self._lock:
            self._stop.set()
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
        self._thread.join(timeout=30)


def _shell(command: str, option: str) -> None:
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise DrillError(f"{option} {command!r} failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
