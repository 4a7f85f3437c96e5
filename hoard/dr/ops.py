"""The two commands of a disaster: ``hoard dr promote`` (fail over to the site that is left) and
``hoard dr failback`` (once the lost site is back: give it what it missed, so that clients can
return to it). The drills run them as an operator would, as commands, and time them.

Promote:
- from a backup (``--from-backup DIR``, the backup-restore strategy): restore the latest backup
  into the bucket at the site (``hoard restore``, the bucket created if missing), then check it;
- otherwise (the bucket already replicated there): check the bucket is there with versioning
  Enabled, and make sure what is written there from now on goes back to the old primary once it
  returns: a bucket that already replicates somewhere (warm standby, active/active) keeps its
  configuration; one that does not (pilot light) gets a remote toward the old primary (``--peer``)
  and, if the old primary answers, a replication configuration toward it. S3 (and Hoard) ask the
  destination bucket when a configuration is put, so with the old primary down that part waits
  for ``hoard dr failback``.

Failback (``--site`` the old primary, back; ``--from`` the site serving meanwhile):
- by replication: the serving site's bucket replicates to the old primary (configured now, with
  its existing versions queued, if it was not: pilot light), and the command waits until both
  sites have sent everything queued before it started: the old primary then holds every version
  the other site took during the outage, and the other site what the old primary had not sent
  before its loss. Where replication was configured all along (warm standby, active/active),
  the versions written during the outage are queued already, and those that failed meanwhile
  are retried at most 30 s apart; ``--resync`` queues every version of the bucket again at once
  instead (``hoard admin replicate resync``: a HEAD for each version the old primary has, so
  only worth it for a small bucket, or one whose queue was lost to an index rebuild);
- by backup (``--via-backup DIR``, the backup-restore strategy): back up the serving site's bucket
  into DIR (incremental) and restore it into the old primary's bucket (only what it lacks). Run it
  again once clients are back on the old primary, for what the other site took meanwhile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from hoard.dr import state
from hoard.dr.sites import Keys, Site, SiteError

Say = Callable[[str], None]
CATCH_UP_TIMEOUT = 600.0
MAX_RETRY_DELAY = 30.0  # the server's replication retries a failed version at most this far apart


def remote_name(url: str) -> str:
    """A remote's default name, from the URL it points at: ``127.0.0.1-9000`` for http://127.0.0.1:9000."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in host).strip("-.")
    return name[:64] or "peer"


def _error_code(e: Exception) -> str:
    return getattr(e, "response", {}).get("Error", {}).get("Code", "") or type(e).__name__


def _summary(done_stdout: str) -> dict:
    """The JSON summary ``hoard backup`` / ``hoard restore --json`` print as their last line."""
    return json.loads(done_stdout.strip().splitlines()[-1])


def check_bucket(site: Site, bucket: str, versioned: bool = True) -> None:
    s3 = site.s3()
    try:
        s3.head_bucket(Bucket=bucket)
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except Exception as e:  # noqa: BLE001 - said as the site said it
        raise SiteError(f"{site.url} does not serve the bucket {bucket}: {_error_code(e)}: {e}") from None
    if versioned and status != "Enabled":
        raise SiteError(f"the bucket {bucket} at {site.url} does not have versioning Enabled (replication needs it)")


def promote(site: Site, bucket: str, say: Say, peer: str | None = None, remote: str | None = None,
            peer_keys: Keys | None = None, from_backup: str | None = None, jobs: int = 16) -> dict:  # fmt: skip
    """Make ``site`` the primary of ``bucket``; what was done, as a dict."""
    started = time.monotonic()
    done: dict = {"site": site.url, "bucket": bucket}
    if not site.answers():
        raise SiteError(f"{site.url} does not answer: nothing to promote")
    if from_backup is not None:
        say(f"restoring the backup {from_backup} into {bucket} at {site.url}")
        summary = _summary(site.hoard("restore", from_backup, bucket, "--jobs", str(jobs), "--json").stdout)
        say(f"  {summary['restored']} versions restored, {summary['already']} already there")
        done["restored"] = summary["restored"]
        check_bucket(site, bucket, versioned=False)
    else:
        check_bucket(site, bucket)
        config = state.replication_of(site, bucket)
        if config is not None:
            say(f"{bucket} at {site.url} already replicates through the remote {config['Role'].rsplit('/', 1)[-1]}: "
                "what is written here goes there once it answers")  # fmt: skip
            done["replicates_back"] = "configured before"
        elif peer is not None:
            keys = peer_keys or site.keys
            name = remote or remote_name(peer)
            if state.ensure_remote(site, name, peer, keys.access_key, keys.secret_key):
                say(f"remote {name} added at {site.url}, toward {peer}")
            try:
                site.s3().put_bucket_replication(Bucket=bucket, ReplicationConfiguration=state.replication_configuration(name, bucket, existing=True))
                say(f"{bucket} at {site.url} now replicates to {peer}")
                done["replicates_back"] = "configured now"
            except Exception as e:  # noqa: BLE001 - the old primary is down, as expected in a disaster
                say(f"replication back to {peer} not configured yet ({_error_code(e)}): hoard dr failback configures it once {peer} answers")
                done["replicates_back"] = "at failback"
    done["seconds"] = round(time.monotonic() - started, 3)
    say(f"{site.url} is the primary of {bucket} now: point the clients at it")
    return done


def failback(site: Site, current: Site, bucket: str, say: Say, remote: str | None = None, via_backup: str | None = None,
             resync: bool = False, jobs: int = 16, timeout: float = CATCH_UP_TIMEOUT) -> dict:  # fmt: skip
    """Bring ``site`` (the old primary, back) up to date from ``current``; what was done."""
    started = time.monotonic()
    done: dict = {"site": site.url, "from": current.url, "bucket": bucket}
    if not site.answers():
        raise SiteError(f"{site.url} does not answer: start it again first")
    if via_backup is not None:
        say(f"backing up {bucket} at {current.url} into {via_backup}")
        summary = _summary(current.hoard("backup", bucket, via_backup, "--jobs", str(jobs), "--json").stdout)
        say(f"  {summary['copied']} versions copied, {summary['already']} already in the backup")
        say(f"restoring {via_backup} into {bucket} at {site.url}")
        summary = _summary(site.hoard("restore", via_backup, bucket, "--jobs", str(jobs), "--json").stdout)
        say(f"  {summary['restored']} versions restored, {summary['already']} already there")
        done["restored"] = summary["restored"]
    else:
        check_bucket(site, bucket)
        check_bucket(current, bucket)
        if state.replication_of(current, bucket) is None:
            keys = current.keys
            name = remote or remote_name(site.url)
            if state.ensure_remote(current, name, site.url, keys.access_key, keys.secret_key):
                say(f"remote {name} added at {current.url}, toward {site.url}")
            current.s3().put_bucket_replication(Bucket=bucket, ReplicationConfiguration=state.replication_configuration(name, bucket, existing=True))
            say(f"{bucket} at {current.url} now replicates to {site.url}, its existing versions queued")
        elif resync:
            queued = current.hoard("admin", "replicate", "resync", bucket, "--no-wait", timeout=120).stdout.strip()
            say(f"{current.url}: {queued}")
        else:
            say(f"{bucket} at {current.url} already replicates: what it took meanwhile is queued there, retried at most {MAX_RETRY_DELAY:g} s apart")
        mark = time.time()
        for side in (current, site):
            s = state.wait_backlog(side, bucket, timeout, since=mark, say=say)
            say(f"{side.url}: caught up, all it had queued is sent ({s['pending'] + s['failed']} newer versions on their way)")
    done["seconds"] = round(time.monotonic() - started, 3)
    say(f"{site.url} holds what {current.url} took meanwhile: point the clients back at it")
    return done
