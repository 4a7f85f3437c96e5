"""``hoard backup``, ``hoard restore`` and ``hoard backup verify`` as a user runs them, against
real servers: a versioned, locked bucket with every kind of version backed up, changed, backed up
again (only what is new is read), restored byte for byte with its metadata, tags and locks, and
restored as it was at an earlier instant; a bucket without versioning whose deletions are kept;
a backup kept in a bucket of a second server and restored from there; a backup killed halfway
and resumed; damage found by verify; and the mistakes users make, each refused in one line."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from hoard.backup.archive import Archive
from hoard.backup.store import FolderStore
from tests.conftest import HoardServer, wait_for

REMOTE_KEYS = ("REMOTEBACKUPKEY00001", "remote-backup-secret/0123456789")
MIB = 1 << 20


@pytest.fixture(scope="module")
def primary(tmp_path_factory):
    # Two worker processes: consecutive requests of one run may reach either.
    srv = HoardServer(tmp_path_factory.mktemp("primary") / "data", extra_args=["--workers", "2"]).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A second site, with root keys of its own: reached through an AWS profile."""
    access, secret = REMOTE_KEYS
    srv = HoardServer(
        tmp_path_factory.mktemp("remote") / "data", env_extra={"HOARD_ROOT_ACCESS_KEY": access, "HOARD_ROOT_SECRET_KEY": secret}
    ).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture
def env(primary, remote, tmp_path) -> dict[str, str]:
    """A user's environment: the primary's root keys and endpoint, and a profile for the remote."""
    access, secret = REMOTE_KEYS
    config = tmp_path / "aws-config"
    config.write_text(f"[profile remote]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n")
    out = {k: v for k, v in primary.env().items() if not k.startswith("AWS_")}
    out.update(
        HOARD_ENDPOINT=primary.endpoint,
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return out


def hoard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hoard", *args], env=env, capture_output=True, text=True, timeout=300)


def summary(env: dict[str, str], *args: str) -> dict:
    done = hoard(env, *args, "--json")
    assert done.returncode == 0, f"hoard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.splitlines()[-1])


def one_error(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def new_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


def multipart(s3, bucket: str, key: str, parts: list[bytes], **args) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **args)["UploadId"]
    done = []
    for number, body in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})


def history(s3, bucket: str) -> dict[str, list[dict]]:
    """Each key's versions, oldest first."""
    out: dict[str, list[dict]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [dict(v, marker=False) for v in page.get("Versions", [])] + [dict(m, marker=True) for m in page.get("DeleteMarkers", [])]
        for item in items:
            out.setdefault(item["Key"], []).append(item)
    for versions in out.values():
        versions.sort(key=lambda v: v["LastModified"])
    return out


def content(s3, bucket: str, key: str, version_id: str | None = None) -> dict:
    """What a reader sees of a version: bytes, content headers, metadata, tags, storage class, locks."""
    args = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    answer = s3.get_object(**args)
    raw = answer["ResponseMetadata"]["HTTPHeaders"]
    tags = s3.get_object_tagging(**args)["TagSet"] if answer.get("TagCount") else []
    return {
        "sha256": hashlib.sha256(answer["Body"].read()).hexdigest(),
        "etag": answer["ETag"],
        "headers": {h: raw.get(h) for h in ("content-type", "content-encoding", "content-disposition", "content-language", "cache-control", "expires")},
        "metadata": answer["Metadata"],
        "tags": sorted((t["Key"], t["Value"]) for t in tags),
        "storage_class": answer.get("StorageClass", "STANDARD"),
        "lock": (answer.get("ObjectLockMode"), answer.get("ObjectLockRetainUntilDate"), answer.get("ObjectLockLegalHoldStatus")),
    }


def same_bucket(s3, source: str, restored: str, s3_restored=None) -> None:
    """Every key has the same versions in the same order, each read back alike."""
    s3_restored = s3_restored or s3
    theirs, ours = history(s3, source), history(s3_restored, restored)
    assert sorted(theirs) == sorted(ours)
    for key, versions in theirs.items():
        assert [v["marker"] for v in versions] == [v["marker"] for v in ours[key]], key
        for old, new in zip(versions, ours[key], strict=True):
            if not old["marker"]:
                assert content(s3, source, key, old["VersionId"]) == content(s3_restored, restored, key, new["VersionId"]), key


def current(s3, bucket: str) -> dict[str, dict]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            out[item["Key"]] = content(s3, bucket, item["Key"])
    return out


def stamp_between() -> str:
    """An instant strictly after everything written so far and before anything written next."""
    time.sleep(0.05)
    moment = datetime.now(UTC)
    time.sleep(0.05)
    return moment.isoformat()


def test_versioned_locked_bucket_backed_up_incrementally_and_restored(primary, env, tmp_path):
    s3 = primary.client()
    bucket = new_name("photos")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "media"}]})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://example.com"]}]})
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/public/*"}],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    headers = {"ContentType": "text/plain; charset=utf-8", "CacheControl": "max-age=60", "ContentDisposition": 'attachment; filename="a.txt"', "ContentLanguage": "fr", "ContentEncoding": "identity", "Expires": datetime(2031, 1, 1, tzinfo=UTC)}
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"first", Metadata={"author": "ada"}, Tagging="stage=draft&n=1", **headers)
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"second", Metadata={"author": "bob"})
    s3.delete_object(Bucket=bucket, Key="doc.txt")
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"third", Tagging="stage=final")
    s3.put_object_tagging(Bucket=bucket, Key="doc.txt", Tagging={"TagSet": [{"Key": "note", "Value": "a b+c=d/ü@x:y"}, {"Key": "k 2", "Value": ""}]})
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"short-lived")
    s3.delete_object(Bucket=bucket, Key="gone.txt")
    multipart(s3, bucket, "big.bin", [os.urandom(5 * MIB), os.urandom(1000)], Metadata={"kind": "video"}, Tagging="size=big", ContentType="video/mp4")
    until = datetime.now(UTC) + timedelta(days=1)
    s3.put_object(Bucket=bucket, Key="locked.bin", Body=b"keep me", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    s3.put_object(Bucket=bucket, Key="held.bin", Body=b"on hold", ObjectLockLegalHoldStatus="ON")
    s3.put_object(Bucket=bucket, Key="public/logo.png", Body=b"\x89PNG", ContentType="image/png")
    for tricky in ("../../etc/passwd", "a//b", "dir/", "ünï cödé ☃.txt"):
        s3.put_object(Bucket=bucket, Key=tricky, Body=tricky.encode())
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    first_versions = sum(1 for vs in history(s3, bucket).values() for v in vs if not v["marker"])
    before = current(s3, bucket)
    moment = stamp_between()

    dest = tmp_path / "backup"
    first = summary(env, "backup", bucket, str(dest))
    assert (first["copied"], first["delete_markers"], first["already"], first["failed"]) == (first_versions, 2, 0, [])
    assert {"tagging", "cors", "policy", "versioning", "object_lock"} <= set(first["config"])
    # No key became a path: the keys are only in the manifest.
    assert not any("etc" in str(p.relative_to(dest)) or "passwd" in p.name for p in dest.rglob("*"))

    # Changes: a new version, a deleted key, a new key. The next run reads only those.
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"fourth")
    s3.delete_object(Bucket=bucket, Key="big.bin")
    s3.put_object(Bucket=bucket, Key="new.txt", Body=b"new")
    second = summary(env, "backup", bucket, str(dest))
    assert (second["copied"], second["delete_markers"], second["already"], second["gone"]) == (2, 1, first["listed"], 0)
    assert second["copied_bytes"] == len(b"fourth") + len(b"new")

    verified = summary(env, "backup", "verify", str(dest))
    assert verified["ok"] and verified["versions"] == first_versions + 2

    # The whole history into a new bucket, made as the first was (object lock, configuration).
    restored = new_name("restored")
    done = summary(env, "restore", str(dest), restored)
    assert done["created"] and done["object_lock"] and done["failed"] == [] and done["restored"] == done["wanted"]
    same_bucket(s3, bucket, restored)
    assert content(s3, restored, "locked.bin")["lock"][0] == "GOVERNANCE"
    assert content(s3, restored, "held.bin")["lock"][2] == "ON"
    assert s3.get_bucket_tagging(Bucket=restored)["TagSet"] == [{"Key": "team", "Value": "media"}]
    assert s3.get_bucket_cors(Bucket=restored)["CORSRules"][0]["AllowedOrigins"] == ["https://example.com"]
    # The policy is the restored bucket's: its ARNs name it.
    assert json.loads(s3.get_bucket_policy(Bucket=restored)["Policy"])["Statement"][0]["Resource"] == f"arn:aws:s3:::{restored}/public/*"

    # Run again, it writes nothing: what is there is known by its ETags.
    again = summary(env, "restore", str(dest), restored)
    assert (again["restored"], again["already"]) == (0, done["wanted"])
    same_bucket(s3, bucket, restored)

    # As it was before the changes, into a bucket that exists without versioning or object lock.
    plain = new_name("plain")
    s3.create_bucket(Bucket=plain)
    back = hoard(env, "restore", str(dest), plain, "--as-of", moment)
    assert back.returncode == 0, back.stderr
    assert "has no object lock: 2 versions restored without their retention or legal hold" in back.stdout
    assert "already existed: its configuration was left as it is" in back.stdout
    expected = {key: dict(c, lock=(None, None, None)) for key, c in before.items()}
    assert current(s3, plain) == expected
    assert "gone.txt" not in expected and "new.txt" not in expected and expected["doc.txt"]["sha256"] == hashlib.sha256(b"third").hexdigest()
    # Unix seconds say the same instant.
    unix = str(datetime.fromisoformat(moment).timestamp())
    plain2 = new_name("plain")
    s3.create_bucket(Bucket=plain2)
    assert summary(env, "restore", str(dest), plain2, "--as-of", unix)["restored"] == len(before)


def test_bucket_without_versioning_keeps_what_was_deleted(primary, env, tmp_path):
    s3 = primary.client()
    bucket = new_name("plain")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="stays", Body=b"1")
    s3.put_object(Bucket=bucket, Key="changes", Body=b"old")
    s3.put_object(Bucket=bucket, Key="deleted", Body=b"doomed")
    dest = tmp_path / "backup"
    assert summary(env, "backup", bucket, str(dest))["copied"] == 3
    moment = stamp_between()
    s3.put_object(Bucket=bucket, Key="changes", Body=b"new")
    s3.delete_object(Bucket=bucket, Key="deleted")
    second = summary(env, "backup", bucket, str(dest))
    assert (second["copied"], second["already"], second["gone"]) == (1, 1, 2)  # the old "changes" and "deleted"
    assert summary(env, "backup", bucket, str(dest))["copied"] == 0

    now = new_name("now")
    summary(env, "restore", str(dest), now)
    assert {k: c["sha256"] for k, c in current(s3, now).items()} == {
        "stays": hashlib.sha256(b"1").hexdigest(),
        "changes": hashlib.sha256(b"new").hexdigest(),
    }
    assert s3.get_bucket_versioning(Bucket=now).get("Status") is None  # made as the source was
    then = new_name("then")
    summary(env, "restore", str(dest), then, "--as-of", moment)
    assert {k: c["sha256"] for k, c in current(s3, then).items()} == {
        "stays": hashlib.sha256(b"1").hexdigest(),
        "changes": hashlib.sha256(b"old").hexdigest(),
        "deleted": hashlib.sha256(b"doomed").hexdigest(),
    }


def test_backup_kept_on_another_endpoint(primary, remote, env):
    s3, far = primary.client(), _client_with(remote, *REMOTE_KEYS)
    bucket = new_name("site")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="reports/q1.csv", Body=b"a,b\n1,2\n", ContentType="text/csv", Metadata={"owner": "finance"})
    s3.put_object(Bucket=bucket, Key="reports/q1.csv", Body=b"a,b\n1,3\n", ContentType="text/csv", Tagging="v=2")
    multipart(s3, bucket, "reports/big.bin", [os.urandom(5 * MIB), os.urandom(10)])
    s3.put_object(Bucket=bucket, Key="other/skip.txt", Body=b"not under the prefix")
    dest = "s3://backups/nightly/site"
    remote_args = ("--backup-endpoint", remote.endpoint, "--backup-profile", "remote")
    first = summary(env, "backup", f"{bucket}/reports/", dest, *remote_args)
    assert (first["copied"], first["failed"]) == (3, [])
    assert summary(env, "backup", f"{bucket}/reports/", dest, *remote_args)["copied"] == 0
    stored = [o["Key"] for o in far.list_objects_v2(Bucket="backups", Prefix="nightly/site/")["Contents"]]
    assert "nightly/site/hoard-backup.json" in stored and any(k.startswith("nightly/site/data/") for k in stored)
    assert summary(env, "backup", "verify", dest, *remote_args)["ok"]

    restored = new_name("from-remote")
    done = summary(env, "restore", dest, restored, *remote_args)
    assert (done["restored"], done["failed"]) == (3, [])
    theirs = {k: vs for k, vs in history(s3, bucket).items() if k.startswith("reports/")}
    ours = history(s3, restored)
    assert sorted(theirs) == sorted(ours)
    for key, versions in theirs.items():
        pairs = zip(versions, ours[key], strict=True)
        assert all(content(s3, bucket, key, a["VersionId"]) == content(s3, restored, key, b["VersionId"]) for a, b in pairs)
    # The wrong keys for the backup's endpoint: S3's refusal, in one line.
    refused = hoard(env, "backup", "verify", dest, "--backup-endpoint", remote.endpoint)
    assert refused.returncode == 1 and one_error(refused).startswith("Error: InvalidAccessKeyId: ")


def _client_with(server: HoardServer, access: str, secret: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=access, aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def killed_when(env: dict[str, str], args: list[str], ready) -> None:
    """Run ``hoard ARGS`` and SIGKILL it once ``ready()`` holds."""
    run = subprocess.Popen([sys.executable, "-m", "hoard", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(ready, timeout=60)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert run.returncode == -signal.SIGKILL


def test_a_killed_backup_or_restore_resumes_without_copying_again(primary, env, tmp_path):
    s3 = primary.client()
    bucket = new_name("many")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    count = 300
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"k/{i:04d}", Body=os.urandom(2048)), range(count)))
    dest = tmp_path / "backup"
    journal = dest / "journal"
    killed_when(env, ["backup", bucket, str(dest), "--jobs", "1"], lambda: journal.is_dir() and len(list(journal.iterdir())) >= 25)
    recorded = len(Archive.open(FolderStore(dest)).load().versions)
    assert 25 <= recorded < count, "the backup finished before it could be killed"

    resumed = summary(env, "backup", bucket, str(dest))
    assert (resumed["copied"], resumed["already"]) == (count - recorded, recorded)
    assert list((dest / "tmp").iterdir()) == []
    verified = summary(env, "backup", "verify", str(dest))
    assert verified["ok"] and verified["versions"] == count

    # A restore killed halfway, run again: every key once, none twice.
    restored = new_name("again")
    killed_when(env, ["restore", str(dest), restored, "--jobs", "1"], lambda: _count(s3, restored) >= 25)
    written = _count(s3, restored)
    assert written < count, "the restore finished before it could be killed"
    finished = summary(env, "restore", str(dest), restored)
    assert finished["already"] >= written and finished["already"] + finished["restored"] == count
    versions = history(s3, restored)
    assert len(versions) == count and all(len(v) == 1 for v in versions.values())


def _count(s3, bucket: str) -> int:
    """Versions in ``bucket``; 0 before it is made."""
    try:
        return sum(len(page.get("Versions", [])) for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchBucket":
            raise
        return 0


def in_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "hoard", *args], env={**env, "COLUMNS": "120"}, stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal's other end is closed: the command is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    return proc.wait(timeout=60), shown.decode(errors="replace")


def test_progress_bar_in_a_terminal_summary_lines_otherwise(primary, env, tmp_path):
    s3 = primary.client()
    bucket = new_name("shown")
    s3.create_bucket(Bucket=bucket)
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=os.urandom(50_000))
    dest = tmp_path / "backup"
    status, shown = in_a_terminal(env, "backup", bucket, str(dest))
    assert status == 0, shown
    assert f"Backing up {bucket} (5 versions)" in shown and "100%" in shown, shown
    assert f"Backed up {bucket} to {dest}: 5 versions copied (244.1 KiB)" in shown, shown
    status, shown = in_a_terminal(env, "restore", str(dest), bucket + "-copy")
    assert status == 0 and f"Restoring into {bucket}-copy (5 versions)" in shown and "100%" in shown, shown
    # Not a terminal: no bar, only the summary.
    piped = hoard(env, "backup", "verify", str(dest))
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout == f"Verified {dest}: 5 versions in 5 data files (244.1 KiB), all intact\n"


def test_verify_names_damaged_and_missing_files(primary, env, tmp_path):
    s3 = primary.client()
    bucket = new_name("fragile")
    s3.create_bucket(Bucket=bucket)
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=f"bytes of {key}".encode() * 100)
    dest = tmp_path / "backup"
    summary(env, "backup", bucket, str(dest))
    ok = hoard(env, "backup", "verify", str(dest))
    assert ok.returncode == 0 and "all intact" in ok.stdout

    data = sorted(p for p in (dest / "data").rglob("*") if p.is_file())
    flipped, lost = data[0], data[1]
    raw = bytearray(flipped.read_bytes())
    raw[17] ^= 0x01
    flipped.write_bytes(bytes(raw))
    lost.unlink()
    bad = hoard(env, "backup", "verify", str(dest))
    assert bad.returncode == 1
    assert one_error(bad) == f"Error: 2 damaged or missing files in {dest}"
    named = [line for line in bad.stderr.splitlines() if line.startswith("damaged: ")]
    assert len(named) == 2, bad.stderr
    rel = lambda p: str(p.relative_to(dest))  # noqa: E731
    assert any(line.startswith(f"damaged: {rel(flipped)}: damaged, its SHA-256 does not match") for line in named), named
    assert any(line.startswith(f"damaged: {rel(lost)}: missing (the bytes of ") for line in named), named

    # A manifest chunk changed by one byte: named too, and the data of its entries still checked.
    chunk = next((dest / "manifest").iterdir())
    chunk.write_bytes(chunk.read_bytes().replace(b'"run"', b'"rum"', 1))
    worse = hoard(env, "backup", "verify", str(dest))
    assert worse.returncode == 1 and one_error(worse) == f"Error: 3 damaged or missing files in {dest}"
    assert f"damaged: {rel(chunk)}: its SHA-256 does not match: damaged" in worse.stderr.splitlines()
    # A backup whose manifest is damaged is not restored from as if it were whole.
    refused = hoard(env, "restore", str(dest), new_name("t"))
    assert refused.returncode == 1 and "the backup's manifest is damaged" in one_error(refused)


def test_mistakes_are_refused_in_one_line(primary, env, tmp_path):
    s3 = primary.client()
    bucket = new_name("mine")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    dest = tmp_path / "backup"
    summary(env, "backup", bucket, str(dest))

    missing = hoard(env, "backup", "no-such-bucket-here", str(tmp_path / "other"))
    assert missing.returncode == 1
    assert one_error(missing).startswith("Error: NoSuchBucket: The specified bucket does not exist")
    assert not (tmp_path / "other").exists()  # nothing made for a backup that cannot be

    assert hoard(env, "backup", "other-bucket", str(dest)).returncode != 0
    other = hoard(env, "backup", f"{bucket}/photos", str(dest))
    assert other.returncode == 2 and f"holds the backup of '{bucket}'" in one_error(other)

    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    cluttered = hoard(env, "backup", bucket, str(tmp_path / "stuff"))
    assert cluttered.returncode == 2 and "neither empty nor a Hoard backup" in one_error(cluttered)
    assert [p.name for p in (tmp_path / "stuff").iterdir()] == ["notes.txt"]  # left as it was

    for args in (("restore", str(tmp_path / "stuff"), "target"), ("backup", "verify", str(tmp_path / "stuff"))):
        refused = hoard(env, *args)
        assert refused.returncode == 2 and "is not a Hoard backup (it has no hoard-backup.json)" in one_error(refused), args

    for bad in ("yesterday", "2026-13-45", "12:00"):
        refused = hoard(env, "restore", str(dest), new_name("t"), "--as-of", bad)
        assert refused.returncode == 2 and f"Invalid value for '--as-of': {bad!r} is not a point in time" in one_error(refused)

    unreachable = hoard(env, "backup", bucket, str(dest), "--endpoint", "http://127.0.0.1:1")
    assert unreachable.returncode == 1 and one_error(unreachable).startswith("Error: cannot reach http://127.0.0.1:1")
    url = hoard(env, "backup", bucket, str(dest), "--endpoint", "ftp://x")
    assert url.returncode == 2 and "must be an http:// or https:// URL" in one_error(url)


def test_encrypted_versions_are_backed_up_and_restored_encrypted_alike(primary, env, tmp_path):
    s3 = primary.client()
    bucket = new_name("sealed")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    kms_key = json.loads(primary.admin("kms", "key", "create", "--json").stdout)
    kms = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key["arn"]}
    s3.put_object(Bucket=bucket, Key="by-default", Body=b"d" * 3000)
    s3.put_object(Bucket=bucket, Key="kms", Body=b"k" * 4000, **kms)
    multipart(s3, bucket, "kms-parts", [os.urandom(5 * MIB), b"tail"], **kms)  # its ETag is no MD5 of MD5s
    dest = tmp_path / "backup"
    first = summary(env, "backup", bucket, str(dest))
    assert (first["copied"], first["failed"], first["changed"]) == (3, [], 0)
    restored = new_name("unsealed")
    done = summary(env, "restore", str(dest), restored)
    assert done["failed"] == [] and done["restored"] == 3
    for key in ("by-default", "kms", "kms-parts"):
        assert content(s3, restored, key)["sha256"] == content(s3, bucket, key)["sha256"], key
    assert s3.head_object(Bucket=restored, Key="by-default")["ServerSideEncryption"] == "AES256"
    for key in ("kms", "kms-parts"):
        head = s3.head_object(Bucket=restored, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key["arn"], key
    rule = s3.get_bucket_encryption(Bucket=restored)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
