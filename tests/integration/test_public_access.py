"""A bucket's public-access block: stored, read back, removed, kept across restarts, and
enforced where it can matter today (public ACLs and public policies refused with 403)."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
from botocore.exceptions import ClientError

from tests.conftest import HoardServer
from tests.integration.test_multipart import error
from tests.wire import signed

BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def test_put_get_delete(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket=bucket)
    assert error(exc) == (404, "NoSuchPublicAccessBlockConfiguration")
    conf = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=conf)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == conf
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    assert s3.delete_public_access_block(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket=bucket)
    assert error(exc) == (404, "NoSuchPublicAccessBlockConfiguration")
    with pytest.raises(ClientError) as exc:
        s3.put_public_access_block(Bucket="no-such-bucket-here", PublicAccessBlockConfiguration=conf)
    assert error(exc) == (404, "NoSuchBucket")


def test_malformed_configuration_changes_nothing(server, s3, bucket):
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
    body = b"<PublicAccessBlockConfiguration><BlockPublicAcls>maybe</BlockPublicAcls></PublicAccessBlockConfiguration>"
    target = f"/{bucket}?publicAccessBlock"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("PUT", target, body=body, headers=signed(server, "PUT", target, body))
    reply = conn.getresponse()
    assert reply.status == 400 and b"MalformedXML" in reply.read()
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == BLOCK_ALL


def test_public_acls_refused_with_403_when_blocked(s3, bucket):
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    for acl in ("public-read", "public-read-write", "authenticated-read"):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="k", Body=b"", ACL=acl)
        assert error(exc) == (403, "AccessDenied")
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_acl(Bucket=bucket, ACL=acl)
        assert error(exc) == (403, "AccessDenied")
        with pytest.raises(ClientError) as exc:
            s3.create_multipart_upload(Bucket=bucket, Key="k", ACL=acl)
        assert error(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    assert error(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")  # nothing was stored
    s3.put_object(Bucket=bucket, Key="k", Body=b"private", ACL="private")
    with pytest.raises(ClientError) as exc:
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert error(exc) == (403, "AccessDenied")
    assert len(s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]) == 1  # still the owner's alone
    # Without the block, a public ACL is taken.
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k2", Body=b"", ACL="public-read")
    assert len(s3.get_object_acl(Bucket=bucket, Key="k2")["Grants"]) == 2
    s3.delete_object(Bucket=bucket, Key="k2")


def test_public_policy_refused_with_403_when_blocked(s3, bucket):
    public = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    )
    private = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    )
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicPolicy": True})
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy=public)
    assert error(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert error(exc) == (404, "NoSuchBucketPolicy")  # the refused one was not kept
    s3.put_bucket_policy(Bucket=bucket, Policy=private)  # not public: the block lets it through
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(private)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy="not json")
    assert error(exc) == (400, "MalformedPolicy")


def test_block_survives_a_restart_and_an_index_rebuild(tmp_path):
    srv = HoardServer(tmp_path / "data").start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="kept")
        s3.put_public_access_block(Bucket="kept", PublicAccessBlockConfiguration=BLOCK_ALL)
        srv.stop()
        srv.start()
        assert s3.get_public_access_block(Bucket="kept")["PublicAccessBlockConfiguration"] == BLOCK_ALL
        srv.admin("rebuild-index")
        assert s3.get_public_access_block(Bucket="kept")["PublicAccessBlockConfiguration"] == BLOCK_ALL
        srv.stop()
        for index in (tmp_path / "data" / ".hoard").glob("meta.db*"):
            index.unlink()
        srv.start()
        assert s3.get_public_access_block(Bucket="kept")["PublicAccessBlockConfiguration"] == BLOCK_ALL
    finally:
        srv.stop()


def test_bucket_files_end_as_the_index_after_concurrent_changes_in_two_workers(tmp_path):
    """Two worker processes changing one bucket's configuration at once: whatever order their
    writes of the bucket files took, the files end as the index does (an index rebuilt from
    the drives shows the same configuration)."""
    srv = HoardServer(tmp_path / "data", extra_args=["--workers", "2"]).start()
    try:
        clients = [srv.client(), srv.client()]
        clients[0].create_bucket(Bucket="raced")

        def change(n: int) -> None:
            for i in range(25):
                clients[n].put_bucket_tagging(Bucket="raced", Tagging={"TagSet": [{"Key": "writer", "Value": f"{n}-{i}"}]})
                conf = {"BlockPublicAcls": bool(i % 2), "IgnorePublicAcls": bool(n)}
                clients[n].put_public_access_block(Bucket="raced", PublicAccessBlockConfiguration=conf)

        threads = [threading.Thread(target=change, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s3 = srv.client()
        tags_before = s3.get_bucket_tagging(Bucket="raced")["TagSet"]
        block_before = s3.get_public_access_block(Bucket="raced")["PublicAccessBlockConfiguration"]
        srv.stop()
        for index in (tmp_path / "data" / ".hoard").glob("meta.db*"):
            index.unlink()
        srv.start()
        assert s3.get_bucket_tagging(Bucket="raced")["TagSet"] == tags_before
        assert s3.get_public_access_block(Bucket="raced")["PublicAccessBlockConfiguration"] == block_before
    finally:
        srv.stop()


def test_server_wide_block(tmp_path):
    """HOARD_BLOCK_PUBLIC_ACCESS: every bucket as if its block were fully on, whatever it says."""
    import requests

    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_BLOCK_PUBLIC_ACCESS": "true"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="open")
        s3.put_object(Bucket="open", Key="k", Body=b"x")
        public = json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::open/*"}]}
        )
        for call in (
            lambda: s3.put_bucket_policy(Bucket="open", Policy=public),
            lambda: s3.put_object_acl(Bucket="open", Key="k", ACL="public-read"),
            lambda: s3.put_object(Bucket="open", Key="p", Body=b"p", ACL="public-read"),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            assert error(exc) == (403, "AccessDenied")
        assert requests.get(f"{srv.endpoint}/open/k", timeout=10).status_code == 403
        with pytest.raises(ClientError):
            s3.head_object(Bucket="open", Key="p")
    finally:
        srv.stop()
    # Public grants made before the setting was turned on are ignored under it.
    srv = HoardServer(tmp_path / "data", port=srv.port).start()
    try:
        srv.client().put_object_acl(Bucket="open", Key="k", ACL="public-read")
        assert requests.get(f"{srv.endpoint}/open/k", timeout=10).status_code == 200
    finally:
        srv.stop()
    srv = HoardServer(tmp_path / "data", port=srv.port, env_extra={"HOARD_BLOCK_PUBLIC_ACCESS": "1"}).start()
    try:
        assert requests.get(f"{srv.endpoint}/open/k", timeout=10).status_code == 403
    finally:
        srv.stop()
