"""Bucket replication's configuration against real servers: remotes managed with ``hoard admin
remote`` (their secret never shown, sealed on the drives), Put/Get/DeleteBucketReplication from
boto3 and the AWS CLI naming a second Hoard as the remote, and every refusal S3 makes (and the
ones Hoard adds: an unknown remote, a destination the remote says is missing or unversioned, a
remote that cannot be reached)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import uuid

import pytest
import requests
from botocore.exceptions import ClientError
from defusedxml import ElementTree

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer, aws_cli

ROLE = "arn:aws:iam::123456789012:role/{}"


def all_bytes(folder) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != "lock")


def refused(srv: HoardServer, *args: str) -> str:
    """The one-line error of a refused admin command."""
    done = srv.admin(*args, check=False)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def error(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> HoardServer:
    server = HoardServer(tmp_path_factory.mktemp("target") / "data").start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> HoardServer:
    base = tmp_path_factory.mktemp("source")
    # Two worker processes: the one a PutBucketReplication reaches reads the remotes the leader wrote.
    server = HoardServer(base / "logs", drives=[base / f"disk{i}" for i in range(4)], extra_args=["--workers", "2"]).start()
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-5000:]


def add_remote(source: HoardServer, name: str, target: HoardServer, *extra: str) -> None:
    source.admin("remote", "add", name, target.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, *extra)


def versioned_bucket(srv: HoardServer, status: str | None = "Enabled") -> str:
    s3 = srv.client()
    name = f"repl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    if status:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    return name


def v2_rule(destination: str, **changes) -> dict:
    rule = {
        "ID": "everything",
        "Priority": 1,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{destination}"},
    }
    return {**rule, **changes}


def configuration(remote: str, *rules: dict) -> dict:
    return {"Role": ROLE.format(remote), "Rules": list(rules)}


@pytest.fixture(scope="module")
def dr(source, target) -> str:
    """A remote named "dr" on the source, writing to the target."""
    add_remote(source, "dr", target)
    return "dr"


# -- remotes ------------------------------------------------------------------------------------
def test_remotes_are_added_listed_checked_and_removed(source, target):
    secret = "remote-only-secret/" + uuid.uuid4().hex
    done = source.admin("remote", "add", "east", target.endpoint + "/", "--access-key", ACCESS_KEY, "--secret-key", secret, "--region", "eu-west-3")
    assert "Role: arn:aws:iam::000000000000:role/east" in done.stdout and secret not in done.stdout + done.stderr
    listed = source.admin("remote", "list")
    assert "east" in listed.stdout and target.endpoint in listed.stdout and "eu-west-3" in listed.stdout
    as_json = json.loads(source.admin("remote", "list", "--json").stdout)
    [east] = [r for r in as_json["remotes"] if r["name"] == "east"]
    assert east == {
        "name": "east", "url": target.endpoint, "access_key": ACCESS_KEY, "region": "eu-west-3", "ca_bundle": "",
        "role": "arn:aws:iam::000000000000:role/east",
    }  # fmt: skip
    assert secret not in listed.stdout + json.dumps(as_json)
    # On every drive, newest generation first, the secret sealed: a copy of the drives does not give it away.
    for drive in source.drives:
        stored = json.loads((drive / ".hoard" / "remotes.json").read_bytes())
        assert [r["sealed_secret"][:10] for r in stored["remotes"] if r["name"] == "east"] == ["sealed:v1:"]
        assert secret.encode() not in all_bytes(drive)
    assert "EntityAlreadyExists" in refused(source, "remote", "add", "east", target.endpoint, "--access-key", "a", "--secret-key", "b")
    # The check connects with the stored keys: this secret is not the target's.
    line = refused(source, "remote", "check", "east")
    assert line.startswith(f"Error: remote east ({target.endpoint}): ") and "SignatureDoesNotMatch" in line
    # --replace rotates the keys; now the check lists the target's buckets.
    source.admin("remote", "add", "east", target.endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, "--replace")
    bucket = versioned_bucket(target)
    checked = source.admin("remote", "check", "east")
    assert checked.stdout.startswith(f"Remote east ({target.endpoint}) answers: ")
    assert bucket in json.loads(source.admin("remote", "check", "east", "--json").stdout)["buckets"]
    source.admin("remote", "remove", "east")
    assert "east" not in source.admin("remote", "list").stdout
    assert "NoSuchEntity" in refused(source, "remote", "remove", "east")
    assert "NoSuchEntity" in refused(source, "remote", "check", "east")


def test_a_remote_that_cannot_be_reached_is_said_in_one_line(source):
    url = f"http://127.0.0.1:{free_port()}"
    source.admin("remote", "add", "nowhere", url, "--access-key", "AK", "--secret-key", "SK")
    try:
        line = refused(source, "remote", "check", "nowhere")
        assert line == f'Error: remote nowhere ({url}): Could not connect to the endpoint URL: "{url}/"'
    finally:
        source.admin("remote", "remove", "nowhere")


@pytest.mark.parametrize(
    "args",
    [
        ("bad name", "http://127.0.0.1:9"),
        ("x" * 65, "http://127.0.0.1:9"),
        ("ok", "127.0.0.1:9"),
        ("ok", "ftp://127.0.0.1:9"),
        ("ok", "http://127.0.0.1:9/bucket"),
        ("ok", "http://user:pw@127.0.0.1:9"),
        ("ok", "http://127.0.0.1:99999"),
        ("ok", "http://127.0.0.1:9", "--region", "Not A Region"),
        ("ok", "https://127.0.0.1:9", "--remote-ca-bundle", "/no/such/ca.pem"),
        ("ok", "http://127.0.0.1:9", "--remote-ca-bundle", "/etc/hostname"),
    ],
)
def test_bad_remotes_are_refused(source, args):
    name, url, *extra = args
    line = refused(source, "remote", "add", name, url, "--access-key", "AK", "--secret-key", "SK", *extra)
    assert line.startswith("Error: InvalidArgument: Invalid remote: ")
    assert name not in [r["name"] for r in json.loads(source.admin("remote", "list", "--json").stdout)["remotes"]]


def test_the_remote_of_a_replication_configuration_is_not_removed(source, target):
    add_remote(source, "in-use", target)
    destination = versioned_bucket(target)
    buckets = [versioned_bucket(source) for _ in range(2)]
    s3 = source.client()
    for bucket in buckets:
        s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=configuration("in-use", v2_rule(destination)))
    line = refused(source, "remote", "remove", "in-use")
    assert "DeleteConflict" in line and buckets[0] in line and buckets[1] in line
    s3.delete_bucket_replication(Bucket=buckets[0])
    line = refused(source, "remote", "remove", "in-use")
    assert buckets[0] not in line and f"bucket {buckets[1]}:" in line
    s3.delete_bucket_replication(Bucket=buckets[1])
    source.admin("remote", "remove", "in-use")


# -- Put, Get, Delete -----------------------------------------------------------------------------
def test_put_get_delete_round_trip(source, target, dr):
    s3 = source.client()
    bucket, destination = versioned_bucket(source), versioned_bucket(target)
    assert error(lambda: s3.get_bucket_replication(Bucket=bucket))[:2] == (404, "ReplicationConfigurationNotFoundError")
    sent = configuration(
        dr,
        v2_rule(destination, ID="gold", Priority=10, Filter={"And": {"Prefix": "logs/", "Tags": [{"Key": "class", "Value": "gold"}]}},
                DeleteMarkerReplication={"Status": "Disabled"}, Destination={"Bucket": f"arn:aws:s3:::{destination}", "StorageClass": "STANDARD_IA"}),
        v2_rule(destination, ID="rest", Priority=1, Filter={}),
    )  # fmt: skip
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=sent)
    # Every worker process answers the configuration as it was given (consecutive requests reach either).
    for _ in range(4):
        assert s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"] == sent
    # Kept in the bucket's file on every drive, with the remote the Role names.
    for drive in source.drives:
        kept = json.loads((drive / ".hoard" / "buckets" / f"{bucket}.json").read_bytes())["config"]["replication"]
        assert kept["remote"] == "dr" and [r["id"] for r in kept["rules"]] == ["gold", "rest"]
    # A second Put replaces the first; the other Role form; an ID made up when none is given.
    again = {"Role": "arn:hoard:iam:::remote/dr", "Rules": [{k: v for k, v in v2_rule(destination).items() if k != "ID"}]}
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=again)
    got = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
    assert got["Role"] == "arn:hoard:iam:::remote/dr" and len(got["Rules"]) == 1 and len(got["Rules"][0]["ID"]) == 48
    assert s3.delete_bucket_replication(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    for _ in range(4):
        assert error(lambda: s3.get_bucket_replication(Bucket=bucket))[:2] == (404, "ReplicationConfigurationNotFoundError")
    assert s3.delete_bucket_replication(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204  # none: still 204
    assert "replication" not in json.loads((source.drives[0] / ".hoard" / "buckets" / f"{bucket}.json").read_bytes())["config"]


def test_the_aws_cli_as_documented(source, target, dr, tmp_path):
    """``aws s3api put-bucket-replication --replication-configuration file://replication.json``,
    the AWS CLI's own example with the Role naming the remote, and the first schema's."""
    bucket, destination = versioned_bucket(source), versioned_bucket(target)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
    }
    env.pop("AWS_PROFILE", None)

    def aws(*args: str) -> str:
        done = subprocess.run([*aws_cli(), "--endpoint-url", source.endpoint, "s3api", *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    for document in (
        {
            "Role": ROLE.format(dr),
            "Rules": [
                {
                    "Status": "Enabled",
                    "Priority": 1,
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Filter": {"Prefix": ""},
                    "Destination": {"Bucket": f"arn:aws:s3:::{destination}"},
                }
            ],
        },
        {"Role": ROLE.format(dr), "Rules": [{"Status": "Enabled", "Prefix": "Tax", "Destination": {"Bucket": f"arn:aws:s3:::{destination}", "StorageClass": "STANDARD"}}]},
    ):
        (tmp_path / "replication.json").write_text(json.dumps(document))
        aws("put-bucket-replication", "--bucket", bucket, "--replication-configuration", f"file://{tmp_path / 'replication.json'}")
        got = json.loads(aws("get-bucket-replication", "--bucket", bucket))["ReplicationConfiguration"]
        [rule] = got["Rules"]
        assert got["Role"] == document["Role"] and {**rule, "ID": None} == {**document["Rules"][0], "ID": None}
    aws("delete-bucket-replication", "--bucket", bucket)


def test_every_rule_kind_and_the_first_schema(source, target, dr):
    s3 = source.client()
    bucket, destination = versioned_bucket(source), versioned_bucket(target)
    arn = f"arn:aws:s3:::{destination}"
    for sent in (
        configuration(dr, {"ID": "v1-a", "Prefix": "a/", "Status": "Enabled", "Destination": {"Bucket": arn}},
                      {"ID": "v1-b", "Prefix": "b/", "Status": "Disabled", "Destination": {"Bucket": arn}}),
        configuration(dr, v2_rule(destination, Filter={"Tag": {"Key": "k", "Value": "v"}}, DeleteMarkerReplication={"Status": "Disabled"},
                                  ExistingObjectReplication={"Status": "Enabled"})),
        configuration(dr, v2_rule(destination, Filter={"And": {"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]}},
                                  DeleteMarkerReplication={"Status": "Disabled"})),
    ):  # fmt: skip
        s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=sent)
        assert s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"] == sent


# -- refusals -------------------------------------------------------------------------------------
def put(srv: HoardServer, bucket: str, config: dict):
    return lambda: srv.client().put_bucket_replication(Bucket=bucket, ReplicationConfiguration=config)


def nothing_kept(srv: HoardServer, bucket: str) -> bool:
    return error(lambda: srv.client().get_bucket_replication(Bucket=bucket))[1] == "ReplicationConfigurationNotFoundError"


def test_source_versioning_must_be_enabled(source, target, dr):
    destination = versioned_bucket(target)
    for status in (None, "Suspended"):
        bucket = versioned_bucket(source, status)
        assert error(put(source, bucket, configuration(dr, v2_rule(destination)))) == (
            400, "InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication configuration",
        )  # fmt: skip
        assert nothing_kept(source, bucket)


def test_the_role_must_name_a_remote(source, target, dr):
    bucket, destination = versioned_bucket(source), versioned_bucket(target)
    with pytest.raises(ClientError) as e:
        put(source, bucket, configuration("no-such-remote", v2_rule(destination)))()
    answer = e.value.response["Error"]
    assert (answer["Code"], answer["ArgumentName"], answer["ArgumentValue"]) == ("InvalidArgument", "Role", ROLE.format("no-such-remote"))
    assert "there is no remote named no-such-remote" in answer["Message"]
    for role in ("arn:aws:iam::123456789012:user/dr", "dr", "arn:aws:s3:::dr"):
        status, code, message = error(put(source, bucket, {**configuration(dr, v2_rule(destination)), "Role": role}))
        assert (status, code) == (400, "InvalidArgument") and message.startswith("Invalid Role specified in replication configuration")
    assert nothing_kept(source, bucket)


def test_the_destination_must_exist_with_versioning_enabled(source, target, dr):
    bucket = versioned_bucket(source)
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    status, code, message = error(put(source, bucket, configuration(dr, v2_rule(missing))))
    assert (status, code) == (400, "InvalidRequest") and message.startswith("Destination bucket must exist.") and missing in message
    for versioning in (None, "Suspended"):
        unversioned = versioned_bucket(target, versioning)
        assert error(put(source, bucket, configuration(dr, v2_rule(unversioned)))) == (400, "InvalidRequest", "Destination bucket must have versioning enabled.")
    assert nothing_kept(source, bucket)


def test_a_remote_that_refuses_or_cannot_be_reached(source, target):
    bucket, destination = versioned_bucket(source), versioned_bucket(target)
    source.admin("remote", "add", "wrong-keys", target.endpoint, "--access-key", "AKIANOSUCHKEY0000000", "--secret-key", "nope")
    url = f"http://127.0.0.1:{free_port()}"
    source.admin("remote", "add", "down", url, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)
    try:
        status, code, message = error(put(source, bucket, configuration("wrong-keys", v2_rule(destination))))
        assert (status, code) == (400, "InvalidRequest") and "InvalidAccessKeyId" in message and destination in message
        status, code, message = error(put(source, bucket, configuration("down", v2_rule(destination))))
        assert (status, code) == (503, "ServiceUnavailable") and url in message and "cannot be reached" in message
        assert nothing_kept(source, bucket)
    finally:
        source.admin("remote", "remove", "wrong-keys")
        source.admin("remote", "remove", "down")


@pytest.mark.parametrize(
    ("rule", "answer"),
    [
        ({"Priority": None}, (400, "InvalidRequest")),
        ({"DeleteMarkerReplication": None}, (400, "InvalidRequest")),
        ({"Filter": {"Tag": {"Key": "k", "Value": "v"}}}, (400, "InvalidRequest")),  # delete markers have no tags
        ({"Destination": {"Bucket": "not-an-arn"}}, (400, "InvalidArgument")),
        ({"ID": "x" * 256}, (400, "InvalidArgument")),
        ({"Filter": {"Prefix": "a", "Tag": {"Key": "k", "Value": "v"}}}, (400, "MalformedXML")),
        ({"Status": "On"}, (400, "MalformedXML")),
        ({"Destination": {"Bucket": "arn:aws:s3:::{dest}", "Metrics": {"Status": "Enabled"}}}, (501, "NotImplemented")),
        ({"Destination": {"Bucket": "arn:aws:s3:::{dest}", "Account": "123456789012"}}, (501, "NotImplemented")),
        ({"SourceSelectionCriteria": {"ReplicaModifications": {"Status": "Enabled"}}}, (501, "NotImplemented")),
        ({"Filter": {"Not": {"Prefix": "tmp/"}}}, (501, "NotImplemented")),
    ],
)
def test_configurations_s3_refuses(source, target, dr, rule, answer):
    bucket, destination = versioned_bucket(source), versioned_bucket(target)
    changed = {k: (json.loads(json.dumps(v).replace("{dest}", destination))) for k, v in rule.items()}
    sent = configuration(dr, {k: v for k, v in {**v2_rule(destination), **changed}.items() if v is not None})
    assert error(put(source, bucket, sent))[:2] == answer
    assert nothing_kept(source, bucket)


def signed_put(srv: HoardServer, bucket: str, body: bytes, checksum: bool = True) -> tuple[int, str]:
    """PUT ?replication with exactly this body (signed with SigV4 as any client would)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    if checksum:
        headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    request = AWSRequest(method="PUT", url=f"{srv.endpoint}/{bucket}?replication", data=body, headers=headers)
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    prepared = request.prepare()
    answer = requests.put(prepared.url, headers=dict(prepared.headers), data=body, timeout=30)
    code = ElementTree.fromstring(answer.content).findtext("Code") if answer.content else ""
    return answer.status_code, code


def test_documents_that_are_not_replication_configurations(source, target, dr):
    bucket, destination = versioned_bucket(source), versioned_bucket(target)
    good = (
        f"<ReplicationConfiguration><Role>{ROLE.format(dr)}</Role><Rule><ID>a</ID><Priority>1</Priority><Status>Enabled</Status>"
        f"<Filter/><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>"
        f"<Destination><Bucket>arn:aws:s3:::{destination}</Bucket></Destination></Rule></ReplicationConfiguration>"
    ).encode()
    for body in (b"", b"garbage", b"<ReplicationConfiguration>", good.replace(b"<Filter/>", b"<Filter/><Surprise/>"), b"<Tagging/>"):
        assert signed_put(source, bucket, body) == (400, "MalformedXML"), body
    assert signed_put(source, bucket, good, checksum=False) == (400, "InvalidRequest")  # S3 wants the body's checksum
    assert nothing_kept(source, bucket)
    assert signed_put(source, bucket, good) == (200, "")
    assert source.client().get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]["Rules"][0]["ID"] == "a"


def test_versioning_cannot_be_suspended_while_replication_is_configured(source, target, dr):
    s3 = source.client()
    bucket, destination = versioned_bucket(source), versioned_bucket(target)
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=configuration(dr, v2_rule(destination)))
    status, code, message = error(lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}))
    assert (status, code) == (409, "InvalidBucketState") and message.startswith("A replication configuration is present on this bucket")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # no change: allowed
    s3.delete_bucket_replication(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_remotes_and_configurations_survive_a_restart(tmp_path, target):
    drives = [tmp_path / f"disk{i}" for i in range(2)]
    srv = HoardServer(tmp_path / "logs", drives=drives).start()
    try:
        add_remote(srv, "dr", target)
        bucket, destination = versioned_bucket(srv), versioned_bucket(target)
        sent = configuration("dr", v2_rule(destination))
        srv.client().put_bucket_replication(Bucket=bucket, ReplicationConfiguration=sent)
        srv.stop()
        srv = HoardServer(srv.data_dir, port=srv.port, drives=drives).start()
        assert srv.client().get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"] == sent
        assert destination in json.loads(srv.admin("remote", "check", "dr", "--json").stdout)["buckets"]
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_a_remote_with_a_user_of_its_own_as_documented(source, target, tmp_path):
    """docs/replication.md's way: a user of the remote with s3:* on the destination bucket only."""
    destination, other = versioned_bucket(target), versioned_bucket(target)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{destination}", f"arn:aws:s3:::{destination}/*"]},
            {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
        ],
    }
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    user = f"replicator-{uuid.uuid4().hex[:6]}"
    target.admin("user", "add", user)
    target.admin("policy", "create", user, str(tmp_path / "policy.json"))
    target.admin("policy", "attach", user, "--user", user)
    key = json.loads(target.admin("key", "create", "--user", user, "--json").stdout)
    source.admin("remote", "add", user, target.endpoint, "--access-key", key["access_key"], "--secret-key", key["secret_key"])
    try:
        assert json.loads(source.admin("remote", "check", user, "--json").stdout)["ok"]
        bucket = versioned_bucket(source)
        s3 = source.client()
        s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=configuration(user, v2_rule(destination)))
        status, code, message = error(put(source, bucket, configuration(user, v2_rule(other))))
        assert (status, code) == (400, "InvalidRequest") and "AccessDenied" in message
        assert s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]["Rules"][0]["Destination"]["Bucket"].endswith(destination)
        s3.delete_bucket_replication(Bucket=bucket)
    finally:
        source.admin("remote", "remove", user)
