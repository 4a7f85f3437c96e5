"""``hoard dr drill STRATEGY`` as an operator runs it: each of the four strategies end to end (two
sites of the drill's own, a write load, the primary killed with SIGKILL, failover, failback) at a
size that fits CI, held to the targets (RPO under 15 s, RTO under 30 s, no acknowledged write lost
after failback; active/active: both sites converge to the same versions); the same drill between
two servers it is given (killed and started again by the commands it is given, its bucket and
remotes removed afterwards); and the mistakes, each refused in one line."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer

SMALL = ["--duration", "4", "--rate", "50", "--outage", "3"]


def hoard(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hoard", *args], capture_output=True, text=True, timeout=timeout, env=env)


def measured(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_error(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("strategy", ["backup-restore", "pilot-light", "warm-standby", "active-active"])
def test_each_drill_meets_its_targets(strategy):
    done = hoard("dr", "drill", strategy, *SMALL, "--json")
    r = measured(done)
    assert r["strategy"] == strategy
    assert r["rpo_s"] < 15, r
    assert r["rto_s"] < 30, r
    assert r["lost"] == 0, r
    assert r["met"] is True and r["server_tracebacks"] == 0, r
    # The load ran, the primary was lost under it, and the secondary took writes meanwhile.
    assert r["written_before_loss"] >= 150 and r["outage_writes"] > 0 and r["written"] > r["written_before_loss"], r
    assert r["bad_etags"] == 0
    if strategy == "backup-restore":
        assert r["backups"] >= 1 and r["promote_s"] > 0, r
    if strategy in ("pilot-light", "warm-standby"):
        assert r["missing_on_secondary"] == 0, r  # replication goes on both ways after failback
    if strategy == "warm-standby":
        assert r["standby_reads_ok"] > 0 and r["standby_reads_ok"] == r["standby_reads"] - r["standby_reads_not_yet"], r
    if strategy == "active-active":
        assert r["converged"] is True and r["promote_s"] is None, r
        assert r["versions_only_on_primary"] == r["versions_only_on_secondary"] == 0
    else:
        assert r["converged"] is None
    # The human lines say the same, before the JSON.
    assert f"RPO  {r['rpo_s']:.1f} s" in done.stdout and "lost 0 acknowledged writes after failback: met" in done.stdout
    assert "primary killed (SIGKILL" in done.stdout and "$ hoard dr failback" in done.stdout


def test_a_drill_between_servers_it_is_given(tmp_path):
    """--primary URL --secondary URL: the drill stops and starts the primary with the commands it
    is given, and leaves both servers as it found them."""
    for site in ("primary", "secondary"):
        (tmp_path / site).mkdir()
    primary = HoardServer(tmp_path / "primary" / "data").start()
    secondary = HoardServer(tmp_path / "secondary" / "data").start()
    pid_file = tmp_path / "restarted.pid"
    env = primary.env()
    restart = (
        f"cd {shlex.quote(str(tmp_path))} && "
        + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith(("HOARD_", "XDG_")))
        + f" {shlex.quote(sys.executable)} -m hoard server --address 127.0.0.1:{primary.port} {shlex.quote(str(primary.data_dir))}"
        + f" >> {shlex.quote(str(tmp_path / 'restarted.log'))} 2>&1 & echo $! > {shlex.quote(str(pid_file))}"
    )
    user = {k: v for k, v in os.environ.items() if not k.startswith(("HOARD_", "AWS_"))}
    user.update(HOARD_ROOT_ACCESS_KEY=ACCESS_KEY, HOARD_ROOT_SECRET_KEY=SECRET_KEY)
    try:
        done = hoard(
            "dr", "drill", "warm-standby", *SMALL, "--json", "--primary", primary.endpoint, "--secondary", secondary.endpoint,
            "--kill-command", f"kill -KILL {primary.proc.pid}", "--restart-command", restart, env=user,
        )  # fmt: skip
        r = measured(done)
        assert r["rpo_s"] < 15 and r["rto_s"] < 30 and r["lost"] == 0 and r["met"], r
        assert r["sites"] == {"primary": primary.endpoint, "secondary": secondary.endpoint}
        assert "primary stopped by 'kill -KILL" in done.stdout
        # Left as found: the drill's bucket and remotes are gone from both.
        for site in (primary, secondary):
            assert site.client().list_buckets()["Buckets"] == []
            assert json.loads(site.admin("remote", "list", "--json").stdout)["remotes"] == []
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        primary.stop()
        secondary.stop()
    assert "Traceback" not in secondary.log() and "Traceback" not in (tmp_path / "restarted.log").read_text()


def test_mistakes_are_refused_in_one_line(tmp_path):
    unknown = hoard("dr", "drill", "hot-spare")
    assert unknown.returncode == 2 and "'hot-spare' is not one of" in one_error(unknown)
    half = hoard("dr", "drill", "pilot-light", "--primary", "http://127.0.0.1:9")
    assert half.returncode == 2 and "give both --primary and --secondary" in one_error(half)
    alone = hoard("dr", "drill", "pilot-light", "--kill-command", "true")
    assert alone.returncode == 2 and "go with --primary and --secondary" in one_error(alone)
    not_url = hoard("dr", "drill", "pilot-light", "--primary", "127.0.0.1:9000", "--secondary", "http://127.0.0.1:9")
    assert not_url.returncode == 2 and "expected an http:// or https:// URL" in one_error(not_url)
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("HOARD_", "AWS_"))}
    no_keys = hoard("dr", "promote", "photos", "--site", "http://127.0.0.1:9", env=bare)
    assert no_keys.returncode == 2 and "no keys" in one_error(no_keys)
    keyed = {**bare, "HOARD_ROOT_ACCESS_KEY": ACCESS_KEY, "HOARD_ROOT_SECRET_KEY": SECRET_KEY}
    gone = hoard("dr", "promote", "photos", "--site", "http://127.0.0.1:9", env=keyed)
    assert gone.returncode == 1 and "does not answer" in one_error(gone)
    nobody = hoard("dr", "drill", "pilot-light", "--primary", "http://127.0.0.1:9", "--secondary", "http://127.0.0.1:7", env=keyed)
    assert nobody.returncode == 1 and "does not answer" in one_error(nobody)
