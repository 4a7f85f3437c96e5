"""HTTPS (``hoard server --certs-dir DIR``) as users meet it: boto3 with ``verify=``, the AWS CLI
with ``--ca-bundle``, curl with ``--cacert``, presigned URLs, clients that do not trust the
certificate, plain HTTP sent to the HTTPS port; a certificate renewed while the server runs (and
a bad renewal, which must not take the server down); ``--workers 2``; ``hoard admin`` over https;
``hoard admin certs self-signed``; and bad certificates at start."""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import boto3
import psutil
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import SSLError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY, HoardServer, aws_cli, free_port, wait_for
from tests.wire import read_reply, signed

MiB = 1024 * 1024
RELOAD_WAIT = 30.0  # the servers look at their certificate files every 3 s


def make_certs(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """``hoard admin certs self-signed FOLDER ARGS``, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOARD_")}
    return subprocess.run(
        [sys.executable, "-m", "hoard", "admin", "certs", "self-signed", str(folder), *args], env=env, capture_output=True, text=True, timeout=60
    )


def new_pair(folder: Path, *args: str) -> Path:
    done = make_certs(folder, *args)
    assert done.returncode == 0, done.stderr
    return folder


def serial_of(pem_file: Path) -> int:
    return x509.load_pem_x509_certificate(pem_file.read_bytes()).serial_number


def unverified() -> ssl.SSLContext:
    """A client that takes any certificate: to look at the one the server presents."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class TlsServer(HoardServer):
    certs: Path | None = None  # the folder given as --certs-dir
    ca: Path | None = None  # what clients trust: a copy of the certificate served at start

    def __post_init__(self) -> None:
        assert self.certs is not None
        self.extra_args = ["--certs-dir", str(self.certs), *self.extra_args]
        # A copy: the folder's files are replaced by the renewal tests.
        self.ca = self.certs.parent / f"ca-{uuid.uuid4().hex[:8]}.pem"
        shutil.copyfile(self.certs / "public.crt", self.ca)

    @property
    def endpoint(self) -> str:
        return f"https://{self.address}:{self.port}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        return http.client.HTTPSConnection(self.address, self.port, timeout=timeout, context=unverified())

    def client(self, verify: str | bool | None = None, **config) -> boto3.client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            verify=str(self.ca) if verify is None else verify,
            config=Config(**{"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}, **config}),
        )

    def admin_env(self, **extra: str) -> dict[str, str]:
        env = self.env()
        env["HOARD_ENDPOINT"] = self.endpoint
        env.update(extra)
        return env

    def presented(self) -> tuple[int, str]:
        """On a new connection: the serial number of the certificate presented, and the worker
        that answered (``w0``, ``w1``: the end of x-amz-id-2)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=unverified())
        try:
            conn.request("GET", "/")
            answer = conn.getresponse()
            answer.read()
            assert conn.sock is not None
            serial = x509.load_der_x509_certificate(conn.sock.getpeercert(binary_form=True)).serial_number
            return serial, answer.getheader("x-amz-id-2", "").rsplit("-", 1)[-1]
        finally:
            conn.close()


def hoard_admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hoard", "admin", *args], env=env, capture_output=True, text=True, timeout=300)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's shell with the server's keys and no AWS configuration of the machine's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HOARD_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        }
    )
    env.update(extra)
    return env


def run(command: list[str], env: dict[str, str], cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module", params=[1, 2], ids=["one-process", "two-workers"])
def tls_server(request, tmp_path_factory) -> TlsServer:
    """An HTTPS server on a self-signed certificate, as one process and as two workers."""
    base = tmp_path_factory.mktemp("tls")
    certs = new_pair(base / "certs")
    workers = ["--workers", str(request.param)] if request.param > 1 else []
    srv = TlsServer(base / "data", extra_args=workers, certs=certs).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture
def s3(tls_server):
    return tls_server.client()


@pytest.fixture
def bucket(s3) -> str:
    name = f"tls-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


# -- clients that trust the certificate ---------------------------------------------------------
def test_boto3_put_get_list_and_multipart(tls_server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello over TLS")
    assert s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hello over TLS"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["hello.txt"]
    data = os.urandom(11 * MiB)
    s3.upload_fileobj(_Reader(data), bucket, "big.bin", Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].endswith('-3"') and head["ContentLength"] == len(data)
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    # Over https boto3 leaves the payload unsigned (UNSIGNED-PAYLOAD) unless asked: ask, so that
    # a signed payload's hash is checked over TLS too.
    signing = tls_server.client(s3={"addressing_style": "path", "payload_signing_enabled": True})
    signing.put_object(Bucket=bucket, Key="signed", Body=b"x" * 100_000)
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == b"x" * 100_000


class _Reader:
    """A file-like body, so that boto3 uploads it in parts."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        chunk = self.data[self.pos : end]
        self.pos += len(chunk)
        return chunk


@pytest.mark.parametrize("signature", ["s3v4", "s3"], ids=["sigv4", "sigv2"])
def test_presigned_urls_with_requests_and_curl(tls_server, s3, bucket, tmp_path, signature):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared over https")
    signer = tls_server.client(signature_version=signature)
    url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=300)
    # The host the URL names, port and all, is what was signed.
    assert url.startswith(f"https://127.0.0.1:{tls_server.port}/{bucket}/shared.txt?")
    got = requests.get(url, verify=str(tls_server.ca), timeout=30)
    assert (got.status_code, got.content) == (200, b"shared over https")
    fetched = subprocess.run(["curl", "-sS", "--fail", "--cacert", str(tls_server.ca), url], capture_output=True, timeout=60)
    assert fetched.returncode == 0 and fetched.stdout == b"shared over https", fetched.stderr
    # A presigned PUT, uploaded by curl.
    put_url = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "from-curl"}, ExpiresIn=300)
    (tmp_path / "upload.txt").write_bytes(b"uploaded by curl")
    put = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", str(tls_server.ca), "--upload-file", str(tmp_path / "upload.txt"), put_url],
        capture_output=True,
        timeout=60,
    )
    assert put.returncode == 0, put.stderr
    assert s3.get_object(Bucket=bucket, Key="from-curl")["Body"].read() == b"uploaded by curl"
    if signature == "s3v4":
        # SigV4 signs the host, port and all: the URL used with another name of the server is refused.
        other = url.replace("127.0.0.1", "localhost", 1)
        assert requests.get(other, verify=str(tls_server.ca), timeout=30).status_code == 403


def test_browser_upload_answers_an_https_location(tls_server, s3, bucket):
    """PostObject, as a form on an https page posts it: the new object's URL says https."""
    post = s3.generate_presigned_post(bucket, "from-a-form.txt", Fields={"success_action_status": "201"}, Conditions=[{"success_action_status": "201"}])
    assert post["url"].startswith("https://")
    answer = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"posted over https")}, verify=str(tls_server.ca), timeout=30)
    assert answer.status_code == 201, answer.text
    location = ET.fromstring(answer.content).findtext("Location")
    assert location == f"https://127.0.0.1:{tls_server.port}/{bucket}/from-a-form.txt"
    assert answer.headers["location"] == location
    assert s3.get_object(Bucket=bucket, Key="from-a-form.txt")["Body"].read() == b"posted over https"


def test_aws_cli_with_ca_bundle(tls_server, bucket, tmp_path):
    (tmp_path / "notes.txt").write_text("notes over https\n")
    env = user_env(tmp_path)
    aws = [*aws_cli(), "--endpoint-url", tls_server.endpoint, "--ca-bundle", str(tls_server.ca)]
    run([*aws, "s3", "cp", "notes.txt", f"s3://{bucket}/notes.txt"], env, tmp_path)
    assert "notes.txt" in run([*aws, "s3", "ls", f"s3://{bucket}"], env, tmp_path).stdout
    run([*aws, "s3", "cp", f"s3://{bucket}/notes.txt", "back.txt"], env, tmp_path)
    assert (tmp_path / "back.txt").read_text() == "notes over https\n"
    # Or from the environment, unchanged scripts: AWS_ENDPOINT_URL and AWS_CA_BUNDLE.
    env = user_env(tmp_path, AWS_ENDPOINT_URL=tls_server.endpoint, AWS_CA_BUNDLE=str(tls_server.ca))
    assert bucket in run([*aws_cli(), "s3", "ls"], env, tmp_path).stdout


# -- clients that do not ------------------------------------------------------------------------
def test_a_client_without_the_ca_is_refused(tls_server, bucket, tmp_path):
    untrusting = tls_server.client(verify=True)  # the system's CAs: they never signed this certificate
    with pytest.raises(SSLError, match="certificate verify failed"):
        untrusting.list_buckets()
    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        requests.get(tls_server.endpoint + "/", timeout=30)
    curl = subprocess.run(["curl", "-sS", tls_server.endpoint + "/"], capture_output=True, text=True, timeout=60)
    assert curl.returncode == 60, curl.stderr  # curl: "SSL certificate problem"
    cli = run([*aws_cli(), "--endpoint-url", tls_server.endpoint, "s3", "ls"], user_env(tmp_path), tmp_path, ok=False)
    assert cli.returncode != 0 and "SSL validation failed" in cli.stderr and "certificate verify failed" in cli.stderr
    # A certificate for other names: the name check refuses it.
    context = ssl.create_default_context(cafile=str(tls_server.ca))
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as sock:
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            context.wrap_socket(sock, server_hostname="s3.example.com")
    # And the server still serves the clients that trust it.
    assert any(b["Name"] == bucket for b in tls_server.client().list_buckets()["Buckets"])


def test_plain_http_to_the_https_port_fails_cleanly(tls_server, s3, bucket):
    for _ in range(3):
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", tls_server.port, timeout=30)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            conn.request("GET", "/")
            conn.getresponse().read()
        conn.close()
        assert time.monotonic() - started < 5, "the server held a plain-HTTP connection instead of closing it"
    curl = subprocess.run(["curl", "-sS", "--max-time", "20", f"http://127.0.0.1:{tls_server.port}/"], capture_output=True, text=True, timeout=60)
    assert curl.returncode in (52, 56), curl.stderr  # an empty reply, or the connection reset
    # Bytes that are no TLS at all, then silence: closed too, perhaps after a TLS alert.
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as sock:
        sock.sendall(b"\x00" * 64)
        try:
            while sock.recv(100):
                pass
        except ConnectionResetError:
            pass
    s3.put_object(Bucket=bucket, Key="still", Body=b"serving")
    assert s3.get_object(Bucket=bucket, Key="still")["Body"].read() == b"serving"


# -- the protocol over TLS ----------------------------------------------------------------------
def tls_socket(srv: TlsServer) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(srv.ca))
    return context.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10), server_hostname="127.0.0.1")


def test_a_head_past_the_bound_is_answered_over_tls(tls_server, s3, bucket):
    sock = tls_socket(tls_server)
    try:
        head = f"PUT /{bucket}/long-head HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-Pad-{i}: {'p' * 1000}\r\n" for i in range(80))
        sock.sendall(head.encode())
        reply = read_reply(sock)
    finally:
        sock.close()
    assert reply is not None and (reply.status, reply.code) == (400, "RequestHeaderSectionTooLarge"), reply
    assert reply.headers.get("connection") == "close"
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="long-head")


def test_close_notify_mid_body_is_a_disconnect(tls_server, s3, bucket):
    """TLS has no half-close to answer after: a client that ends its TLS session mid-body has
    gone, as after a reset. Nothing is stored, nothing is logged as a failure, the server serves on."""
    target = f"/{bucket}/cut-short"
    headers = signed(tls_server, "PUT", target, headers={"Content-Length": "1000"}, unsigned_payload=True)
    sock = tls_socket(tls_server)
    head = f"PUT {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode() + os.urandom(500))
    time.sleep(0.3)
    try:
        sock.unwrap()  # close_notify
    except (ssl.SSLError, OSError):
        pass  # the server closed without waiting for it: as good
    sock.close()
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="cut-short")
    s3.put_object(Bucket=bucket, Key="after", Body=b"fine")
    log = tls_server.log()
    assert "has no effect when using ssl" not in log and "SSL connection is closed" not in log, log


def test_admin_over_https(tls_server, tmp_path):
    env = tls_server.admin_env()
    # --ca-bundle before or after the subcommand; HOARD_CA_BUNDLE; AWS_CA_BUNDLE.
    for args, extra in (
        (["--ca-bundle", str(tls_server.ca), "info", "--json"], {}),
        (["info", "--json", "--ca-bundle", str(tls_server.ca)], {}),
        (["info", "--json"], {"HOARD_CA_BUNDLE": str(tls_server.ca)}),
        (["info", "--json"], {"AWS_CA_BUNDLE": str(tls_server.ca)}),
    ):
        for _ in range(2):  # with workers, either may answer: the other passes it to the leader over TLS
            done = hoard_admin({**env, **extra}, *args)
            assert done.returncode == 0, done.stderr
            assert '"drives"' in done.stdout
    healed = hoard_admin({**env, "HOARD_CA_BUNDLE": str(tls_server.ca)}, "heal", "--shallow")
    assert healed.returncode == 0 and "unrecoverable" in healed.stdout, healed.stderr
    # Without the certificate: refused, in one line that says what to give.
    error = one_line_error(hoard_admin(env, "info"))
    assert "certificate" in error and "--ca-bundle" in error, error
    # http:// to the https port: one line that says to use https://.
    plain = tls_server.endpoint.replace("https://", "http://")
    error = one_line_error(hoard_admin(env, "--endpoint", plain, "--ca-bundle", str(tls_server.ca), "info"))
    assert "https://" in error, error
    (tmp_path / "empty.pem").write_text("")
    error = one_line_error(hoard_admin(env, "--ca-bundle", str(tmp_path / "empty.pem"), "info"))
    assert "CA bundle" in error, error
    error = one_line_error(hoard_admin(env, "--ca-bundle", str(tmp_path / "missing.pem"), "info"))
    assert "missing.pem" in error, error


# -- the banner -----------------------------------------------------------------------------------
def test_banner_says_https_and_its_lines_work_pasted(tmp_path):
    certs = new_pair(tmp_path / "certs")
    srv = TlsServer(tmp_path / "data", certs=certs).start()
    try:
        assert f"serving S3 on https://127.0.0.1:{srv.port} " in srv.log()
        exports = [line.strip() for line in srv.log().splitlines() if line.strip().startswith("export AWS_")]
        assert exports == [f"export AWS_ENDPOINT_URL=https://127.0.0.1:{srv.port}", f"export AWS_CA_BUNDLE={(certs / 'public.crt').absolute()}"]
        aws = " ".join(aws_cli())
        script = "\n".join([*exports, f"{aws} s3 mb s3://from-the-banner", f"{aws} s3 ls"])
        assert "from-the-banner" in run(["bash", "-c", script], user_env(tmp_path), tmp_path).stdout
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


# -- renewal while serving ------------------------------------------------------------------------
def wait_for_serial(srv: TlsServer, serial: int, workers: set[str] | None = None) -> None:
    """Until new connections present ``serial`` (in each of ``workers``, with workers)."""
    seen: dict[str, int] = {}

    def presented() -> bool:
        got, worker = srv.presented()
        seen[worker] = got
        return all(seen.get(w) == serial for w in (workers or {worker}))

    assert wait_for(presented, timeout=RELOAD_WAIT), f"still presented: {seen}, expected {serial:x}\n{srv.log()}"


def test_a_renewed_certificate_is_served_to_new_connections(tmp_path):
    certs = new_pair(tmp_path / "certs")
    srv = TlsServer(tmp_path / "data", certs=certs).start()
    try:
        old_serial = serial_of(certs / "public.crt")
        s3 = srv.client()
        s3.create_bucket(Bucket="renewal")
        # A keep-alive connection made with the old certificate.
        kept = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=10, context=ssl.create_default_context(cafile=str(srv.ca)))
        kept.request("GET", "/", headers=signed(srv, "GET", "/"))
        assert kept.getresponse().read()
        sock = kept.sock

        done = make_certs(certs, "--force")  # the renewal: a new key and certificate, a new serial
        assert done.returncode == 0, done.stderr
        new_serial = serial_of(certs / "public.crt")
        assert new_serial != old_serial
        wait_for_serial(srv, new_serial)

        # New clients trust the new certificate; the old one no longer verifies.
        renewed = srv.client(verify=str(certs / "public.crt"))
        renewed.put_object(Bucket="renewal", Key="after", Body=b"renewed")
        with pytest.raises(SSLError, match="certificate verify failed"):
            srv.client().list_buckets()  # a new connection, trusting only the old certificate
        # The connection made before goes on with the certificate it was made with.
        kept.request("GET", "/renewal/after", headers=signed(srv, "GET", "/renewal/after"))
        assert kept.getresponse().read() == b"renewed"
        assert kept.sock is sock
        assert x509.load_der_x509_certificate(sock.getpeercert(binary_form=True)).serial_number == old_serial
        kept.close()
        assert "serving the new certificate for localhost" in srv.log()
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_a_bad_renewal_keeps_the_certificate_in_service(tmp_path):
    certs = new_pair(tmp_path / "certs")
    other = new_pair(tmp_path / "other")
    srv = TlsServer(tmp_path / "data", certs=certs).start()
    try:
        serial = serial_of(certs / "public.crt")
        s3 = srv.client()
        s3.create_bucket(Bucket="kept")

        def refused(why: str) -> None:
            assert wait_for(lambda: why in srv.log(), timeout=RELOAD_WAIT), srv.log()
            assert srv.presented()[0] == serial
            s3.put_object(Bucket="kept", Key="k", Body=b"still served")  # new connections still verify

        # Another pair's key: the certificate in service is the one served, and works.
        shutil.copyfile(other / "private.key", certs / "private.key")
        refused("private.key is not the key of the certificate in public.crt")
        # Not a certificate at all.
        (certs / "public.crt").write_text("not a certificate\n")
        refused("public.crt holds no PEM certificate")
        # Gone (a renewal half done, left so).
        (certs / "private.key").unlink()
        refused("there is no private.key in it")
        # Each bad state said once, not at every look.
        time.sleep(7)
        assert len(re.findall(r"changed, but cannot be served", srv.log())) == 3, srv.log()
        assert srv.presented()[0] == serial

        # Then a good pair: served.
        shutil.copyfile(other / "private.key", certs / "private.key")
        shutil.copyfile(other / "public.crt", certs / "public.crt")
        wait_for_serial(srv, serial_of(other / "public.crt"))
        assert srv.client(verify=str(other / "public.crt")).get_object(Bucket="kept", Key="k")["Body"].read() == b"still served"
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_workers_serve_https_and_each_renews(tmp_path):
    certs = new_pair(tmp_path / "certs")
    srv = TlsServer(tmp_path / "data", certs=certs, extra_args=["--workers", "2"]).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="workers")
        for i in range(20):  # new connections: both workers answer some
            s3.put_object(Bucket="workers", Key=f"k{i}", Body=b"x")
        assert len(s3.list_objects_v2(Bucket="workers")["Contents"]) == 20
        wait_for_serial(srv, serial_of(certs / "public.crt"), {"w0", "w1"})
        # An admin request reaching worker 1 is passed to the leader (over TLS: uvicorn serves the
        # leader's socket as it serves the port) and answered.
        for _ in range(300):
            conn = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=30, context=ssl.create_default_context(cafile=str(srv.ca)))
            conn.request("GET", "/.hoard/admin/v1/info", headers=signed(srv, "GET", "/.hoard/admin/v1/info"))
            answer = conn.getresponse()
            body = answer.read()
            conn.close()
            if answer.getheader("x-amz-id-2", "").endswith("-w1"):
                assert answer.status == 200 and json.loads(body)["workers"] == 2, body
                break
        else:
            raise AssertionError("no connection reached worker 1")

        assert make_certs(certs, "--force").returncode == 0
        renewed = serial_of(certs / "public.crt")
        wait_for_serial(srv, renewed, {"w0", "w1"})

        # A worker started again after the renewal serves the new certificate from its first
        # connection, although it was forked from the supervisor's copy of the old one.
        worker = next(p for p in psutil.Process(srv.proc.pid).children() if "worker 1" in " ".join(p.cmdline()))
        worker.send_signal(signal.SIGKILL)
        assert wait_for(lambda: "worker 1" in " ".join(" ".join(p.cmdline()) for p in psutil.Process(srv.proc.pid).children() if p.pid != worker.pid))
        deadline = time.monotonic() + RELOAD_WAIT
        while time.monotonic() < deadline:
            try:
                serial, answered = srv.presented()
            except OSError:
                continue
            if answered == "w1":
                assert serial == renewed
                break
        else:
            raise AssertionError("worker 1 never answered again")
        assert srv.client(verify=str(certs / "public.crt")).get_object(Bucket="workers", Key="k0")["Body"].read() == b"x"
    finally:
        srv.stop()
    assert "Traceback" not in srv.log(), srv.log()


def test_stopping_does_not_wait_on_idle_tls_clients(tmp_path):
    """An SDK keeps idle connections open and reads nothing from them, so it never answers the
    server's close_notify: the server must stop promptly anyway (systemctl stop, Ctrl-C)."""
    certs = new_pair(tmp_path / "certs")
    srv = TlsServer(tmp_path / "data", certs=certs).start()
    idle = []
    for _ in range(3):
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=30, context=ssl.create_default_context(cafile=str(srv.ca)))
        conn.request("GET", "/")
        conn.getresponse().read()
        idle.append(conn)  # kept open, as a connection pool keeps it
    assert srv.proc is not None
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn ends by the signal it stopped for
    assert time.monotonic() - started < 10, "the server waited on idle clients to stop"
    for conn in idle:
        conn.close()
    assert "Traceback" not in srv.log()


# -- hoard admin certs self-signed ------------------------------------------------------------------
def test_self_signed_certificate(tmp_path):
    folder = tmp_path / "certs"
    done = make_certs(folder, "--host", "s3.example.test", "--host", "192.0.2.7")
    assert done.returncode == 0, done.stderr
    assert f"AWS_CA_BUNDLE={(folder / 'public.crt').absolute()}" in done.stdout
    assert (folder / "private.key").stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate((folder / "public.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "s3.example.test"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "192.0.2.7")}
    key = serialization.load_pem_private_key((folder / "private.key").read_bytes(), password=None)
    assert key.public_key() == cert.public_key()

    # Refuses to replace a pair, unless told to.
    before = (folder / "public.crt").read_bytes(), (folder / "private.key").read_bytes()
    again = make_certs(folder)
    assert again.returncode == 1 and "--force" in one_line_error(again)
    assert ((folder / "public.crt").read_bytes(), (folder / "private.key").read_bytes()) == before
    assert make_certs(folder, "--force", "--host", "s3.example.test").returncode == 0
    assert serial_of(folder / "public.crt") != cert.serial_number

    # Strict verifiers (Python 3.13's default) take it, for each of its names.
    srv = TlsServer(tmp_path / "data", certs=folder).start()
    try:
        for name in ("localhost", "127.0.0.1", "s3.example.test"):
            context = ssl.create_default_context(cafile=str(srv.ca))
            context.verify_flags |= ssl.VERIFY_X509_STRICT
            with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock, context.wrap_socket(sock, server_hostname=name):
                pass
    finally:
        srv.stop()


# -- bad certificates at start ----------------------------------------------------------------------
def start_refused(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOARD_")}
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "hoard", "server", "--address", f"127.0.0.1:{port}", *args, str(tmp_path / "data")],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    return done


def test_a_bad_certificate_stops_the_server_at_start(tmp_path):
    good = new_pair(tmp_path / "good")
    other = new_pair(tmp_path / "other")

    def refused(folder: Path, problem: str, via: str = "option") -> None:
        if via == "option":
            done, name = start_refused(tmp_path, "--certs-dir", str(folder)), "--certs-dir"
        elif via == "env":
            done, name = start_refused(tmp_path, env={"HOARD_CERTS_DIR": str(folder)}), "HOARD_CERTS_DIR"
        else:
            settings = tmp_path / "hoard.toml"
            settings.write_text(f'certs_dir = "{folder}"\n')
            done, name = start_refused(tmp_path, "--config", str(settings)), f"{settings}: certs_dir"
        assert done.stderr.strip() == f"Error: {name}='{folder}': {problem}", done.stderr

    refused(tmp_path / "none", "not a folder (it should hold public.crt and private.key)")
    refused(tmp_path / "none", "not a folder (it should hold public.crt and private.key)", via="env")
    refused(tmp_path / "none", "not a folder (it should hold public.crt and private.key)", via="file")

    mismatched = tmp_path / "mismatched"
    mismatched.mkdir()
    shutil.copyfile(good / "public.crt", mismatched / "public.crt")
    refused(mismatched, "there is no private.key in it (it should hold public.crt and private.key)")
    shutil.copyfile(other / "private.key", mismatched / "private.key")
    refused(mismatched, "private.key is not the key of the certificate in public.crt", via="env")
    (mismatched / "public.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    refused(mismatched, "public.crt holds no PEM certificate")

    encrypted = tmp_path / "encrypted"
    encrypted.mkdir()
    shutil.copyfile(good / "public.crt", encrypted / "public.crt")
    key = serialization.load_pem_private_key((good / "private.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    (encrypted / "private.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"secret"))
    )
    refused(encrypted, "private.key is encrypted: give the key without a passphrase")
