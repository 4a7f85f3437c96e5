"""Settings as an operator gives them: ``hoard server`` started for real with bad values (it must
stop at once with one line naming the setting, the value and what is allowed, never a traceback),
with a TOML settings file under the environment and the options, and the data folder's modes."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, SECRET_KEY, HoardServer, free_port
from tests.wire import Reply, error_code, signed

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any HOARD_* variable of the machine's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("HOARD_")}
    env.update(extra)
    return env


def run_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None, dirs: list[str] | None = None) -> subprocess.CompletedProcess:
    """``hoard server`` expected to refuse to start: it must exit by itself, well within the timeout."""
    command = [sys.executable, "-m", "hoard", "server", *args, *(dirs if dirs is not None else [str(tmp_path / "data")])]
    return subprocess.run(command, env=clean_env(**(env or {})), capture_output=True, text=True, timeout=60, cwd=tmp_path)


def assert_refused(result: subprocess.CompletedProcess, *lines: str) -> None:
    """Exit status 2 and exactly ``lines`` on stderr, each a pattern for one ``Error:`` line."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    got = result.stderr.strip().splitlines()
    assert len(got) == len(lines), output
    for line, pattern in zip(got, lines, strict=True):
        assert re.fullmatch(pattern, line), f"{line!r} does not match {pattern!r}"


BAD_VARIABLES = [
    ("HOARD_BODY_TIMEOUT", "-5", "a number > 0"),
    ("HOARD_BODY_TIMEOUT", "inf", "a number > 0"),
    ("HOARD_WORKERS", "abc", "an integer from 1 to 64"),
    ("HOARD_WORKERS", "0", "an integer from 1 to 64"),
    ("HOARD_LOG_LEVEL", "loud", "one of debug, info, warning, error"),
    ("HOARD_PROBE_INTERVAL", "0", "a number > 0"),
    ("HOARD_RECLAIM_GRACE", "-1", "a number >= 0"),
    ("HOARD_SCANNER_RATE", "nan", "a number >= 0"),
    ("HOARD_INLINE_LIMIT", "2000000", "an integer from 0 to 1048576"),
    ("HOARD_MAX_OBJECT_SIZE", "0", "an integer from 1 to 5497558138880"),
    ("HOARD_REGION", "eu west 1", "1 to 40 letters, digits or -"),
    ("HOARD_REGION_STRICT", "maybe", r"true or false \(also 1 or 0, yes or no, on or off\)"),
    ("HOARD_DOMAIN", "S3_Local", "a host name in lower case, such as s3.localhost"),
    ("HOARD_ADDRESS", "localhost", "HOST:PORT with a port from 1 to 65535"),
    ("HOARD_PARITY", "-1", r"0 with one drive, else 1 to half the drives of an erasure set \(1 to 2 with three drives\)"),
]


@pytest.mark.parametrize(("variable", "value", "allowed"), BAD_VARIABLES, ids=[f"{v}={x}" for v, x, _ in BAD_VARIABLES])
def test_bad_variable_stops_the_server_with_one_line(tmp_path, variable, value, allowed):
    port = free_port()
    address = [] if variable == "HOARD_ADDRESS" else ["--address", f"127.0.0.1:{port}"]  # the option would win
    result = run_server(tmp_path, *address, env={variable: value})
    assert_refused(result, re.escape(f"Error: {variable}='{value}': expected ") + allowed)
    # Refused before anything was made or served.
    assert not (tmp_path / "data").exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--workers", "0"], "Error: --workers='0': expected an integer from 1 to 64"),
        (["--log-level", "loud"], "Error: --log-level='loud': expected one of debug, info, warning, error"),
        (["--address", "127.0.0.1:99999"], "Error: --address='127.0.0.1:99999': expected HOST:PORT with a port from 1 to 65535"),
    ],
    ids=["workers", "log-level", "address"],
)
def test_bad_option_names_the_option(tmp_path, args, line):
    assert_refused(run_server(tmp_path, *args), re.escape(line))
    assert not (tmp_path / "data").exists()


def test_every_bad_value_gets_its_line(tmp_path):
    result = run_server(tmp_path, "--workers", "x", env={"HOARD_BODY_TIMEOUT": "-1", "HOARD_LOG_LEVEL": "Chatty"})
    assert_refused(
        result,
        re.escape("Error: HOARD_BODY_TIMEOUT='-1': expected a number > 0"),
        re.escape("Error: HOARD_LOG_LEVEL='Chatty': expected one of debug, info, warning, error"),
        re.escape("Error: --workers='x': expected an integer from 1 to 64"),
    )


def test_log_level_in_any_case(tmp_path):
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_LOG_LEVEL": "WARNING"}).start()
    try:
        srv.client().list_buckets()
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_one_root_key_without_the_other_is_refused(tmp_path):
    # Served with generated keys instead, the configured one would just fail to sign in.
    result = run_server(tmp_path, env={"HOARD_ROOT_ACCESS_KEY": "myaccesskey"})
    assert_refused(result, re.escape("Error: HOARD_ROOT_ACCESS_KEY is set but HOARD_ROOT_SECRET_KEY is not: set both, or neither"))
    result = run_server(tmp_path, env={"HOARD_ROOT_ACCESS_KEY": "my/key", "HOARD_ROOT_SECRET_KEY": "short"})
    assert_refused(
        result,
        re.escape("Error: HOARD_ROOT_ACCESS_KEY='my/key': expected 3 to 128 letters, digits or . _ ~ + = @ -"),
        re.escape("Error: HOARD_ROOT_SECRET_KEY='short': expected 8 to 128 printable ASCII characters, no spaces"),
    )


def test_parity_is_checked_against_the_drives(tmp_path):
    assert_refused(run_server(tmp_path, env={"HOARD_PARITY": "1"}), re.escape("Error: HOARD_PARITY=1: expected 0: a single drive has no parity"))
    four = [str(tmp_path / f"d{i}") for i in range(4)]
    assert_refused(
        run_server(tmp_path, "--parity", "3", dirs=four),
        re.escape("Error: --parity=3: expected 1 to 2 for erasure sets of 4 drives"),
    )
    assert_refused(
        run_server(tmp_path, env={"HOARD_REDUCED_PARITY": "4"}, dirs=four),
        re.escape("Error: HOARD_REDUCED_PARITY=4: expected 1 to 2 for erasure sets of 4 drives"),
    )
    assert not any(Path(d).exists() for d in four)
    seventeen = [str(tmp_path / f"d{i}") for i in range(17)]
    assert_refused(run_server(tmp_path, dirs=seventeen), r"Error: 17 drives cannot be split into equal erasure sets .*")
    assert not any(Path(d).exists() for d in seventeen)


def test_three_drives_mirror(tmp_path):
    """Three drives start with their default parity (a mirror: every drive a whole copy) and
    keep serving with one of them gone."""
    drives = [tmp_path / f"d{i}" for i in range(3)]
    srv = HoardServer(tmp_path / "data", drives=drives).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="mirrored")
        body = os.urandom(300 * 1024)  # above the inline limit: shard files on the drives
        s3.put_object(Bucket="mirrored", Key="k", Body=body)
        for drive in drives:
            shards = [p for p in (drive / ".hoard" / "shards").rglob("*") if p.is_file()]
            assert len(shards) == 1 and shards[0].stat().st_size > len(body)
        srv.stop()
        shutil.rmtree(drives[0])
        srv.start()
        assert s3.get_object(Bucket="mirrored", Key="k")["Body"].read() == body
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


def test_data_folder_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    result = run_server(tmp_path)
    assert_refused(result, re.escape(f"Error: DIR '{tmp_path / 'data'}': expected a folder (or none yet, to be created), not a file"))


def test_unknown_variable_is_warned_about(tmp_path):
    srv = HoardServer(tmp_path / "data", env_extra={"HOARD_WORKRES": "2"}).start()
    srv.stop()
    assert "HOARD_WORKRES is not a Hoard setting: ignored" in srv.log()


# -- the settings file -------------------------------------------------------------------------


def start(tmp_path: Path, *args: str, env: dict[str, str], port: int) -> tuple[subprocess.Popen, Path]:
    """``hoard server ARGS DIR`` (its address from the settings, not from the test), running."""
    log = tmp_path / f"hoard-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hoard", "server", *args, str(tmp_path / "data")],
        # Not the console's default port, which a server of the machine's may hold.
        env=clean_env(**{"HOARD_CONSOLE_ADDRESS": "off", **env}), stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, log
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"hoard server did not start:\n{log.read_text()}")


def test_settings_file_under_environment_and_options(tmp_path):
    port = free_port()
    config = tmp_path / "hoard.toml"
    config.write_text(
        f'address = "127.0.0.1:{port}"\n'
        'region = "eu-west-3"\n'
        "region_strict = true\n"
        "max_object_size = 10\n"
        "workers = 2\n"
        f'root_access_key = "{ACCESS_KEY}"\n'
        f'root_secret_key = "{SECRET_KEY}"\n'
    )
    # The environment beats the file (max_object_size), the option beats both (workers).
    proc, log = start(tmp_path, "--config", str(config), "--workers", "1", env={"HOARD_MAX_OBJECT_SIZE": "20", "HOARD_WORKERS": "2"}, port=port)
    try:
        server = HoardServer(tmp_path / "data", port=port)
        s3 = boto3.client(
            "s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name="eu-west-3", config=Config(retries={"max_attempts": 1}),
        )
        s3.create_bucket(Bucket="configured")
        assert s3.get_bucket_location(Bucket="configured")["LocationConstraint"] == "eu-west-3"
        s3.put_object(Bucket="configured", Key="twenty", Body=b"x" * 20)
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="configured", Key="too-big", Body=b"x" * 21)
        assert error_code(e) == "EntityTooLarge"
        # region_strict from the file: a signature for us-east-1 is refused.
        reply = send(port, "GET", "/configured", signed(server, "GET", "/configured"))
        assert (reply.status, reply.code, reply.field("Region")) == (400, "AuthorizationHeaderMalformed", "eu-west-3")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    output = log.read_text()
    assert "worker processes" not in output and "Traceback" not in output


def test_settings_file_from_the_environment(tmp_path):
    port = free_port()
    config = tmp_path / "hoard.toml"
    config.write_text(f'log_level = "warning"\nbody_timeout = 1.5\nroot_access_key = "{ACCESS_KEY}"\nroot_secret_key = "{SECRET_KEY}"\n')
    proc, log = start(tmp_path, "--address", f"127.0.0.1:{port}", env={"HOARD_CONFIG": str(config)}, port=port)
    try:
        server = HoardServer(tmp_path / "data", port=port)
        server.client().create_bucket(Bucket="slow")
        # A body that stalls is answered RequestTimeout after the file's 1.5 s, not the default 20.
        headers = signed(server, "PUT", "/slow/k", unsigned_payload=True)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(f"PUT /slow/k HTTP/1.1\r\n{head}Content-Length: 100\r\n\r\nabc".encode())
            began = time.monotonic()
            answer = conn.recv(65536)
            waited = time.monotonic() - began
            while answer and b"</Error>" not in answer:  # the head and the body may come apart
                more = conn.recv(65536)
                if not more:
                    break
                answer += more
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert answer.startswith(b"HTTP/1.1 400") and b"<Code>RequestTimeout</Code>" in answer, answer
    assert 1.0 <= waited < 10
    output = log.read_text()
    # log_level from the file: warning, so uvicorn's info lines are not there.
    assert "Uvicorn running" not in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("workres = 2\n", r"Error: HOARD_CONFIG='.*hoard\.toml': unknown setting 'workres' \(.*\)"),
        ('workers = "two"\n', r"Error: .*hoard\.toml: workers='two': expected an integer from 1 to 64"),
        ("workers = [\n", r"Error: HOARD_CONFIG='.*hoard\.toml': not a readable TOML file: .*"),
        ('config = "other.toml"\n', r"Error: HOARD_CONFIG='.*hoard\.toml': unknown setting 'config' \(.*\)"),
    ],
    ids=["misspelt", "bad-value", "not-toml", "nested"],
)
def test_bad_settings_file(tmp_path, text, line):
    (tmp_path / "hoard.toml").write_text(text)
    assert_refused(run_server(tmp_path, env={"HOARD_CONFIG": str(tmp_path / "hoard.toml")}), line)


def test_missing_settings_file(tmp_path):
    assert_refused(run_server(tmp_path, "--config", "nowhere.toml"), re.escape("Error: --config='nowhere.toml': no such file"))


def send(port: int, method: str, target: str, headers: dict[str, str]) -> Reply:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, target, headers=headers)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


# -- the data folder's modes -------------------------------------------------------------------


def modes(root: Path) -> dict[str, int]:
    """Every folder and file under ``root``/.hoard, and ``root`` itself, with its permission bits."""
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in (root / ".hoard").rglob("*"):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return out


def test_data_is_readable_by_the_server_user_only(tmp_path):
    data = tmp_path / "data"
    srv = HoardServer(data, env_extra={"HOARD_ROOT_ACCESS_KEY": "", "HOARD_ROOT_SECRET_KEY": ""})
    srv.start()
    try:
        access, secret = srv.generated_root_keys()
        s3 = boto3.client("s3", endpoint_url=srv.endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                          region_name="us-east-1")
        s3.create_bucket(Bucket="private")
        s3.put_object(Bucket="private", Key="small", Body=b"tiny")
        s3.put_object(Bucket="private", Key="large", Body=os.urandom(256 * 1024))
        found = modes(data)
        for name in ("meta.db", "meta.db-wal", "meta.db-shm", "format.json", "index-id", "root-credentials.json", "buckets/private.json"):
            assert found.pop(f".hoard/{name}") == 0o600, name
        assert found.pop(".") == 0o700  # made by Hoard, so its own
        assert {mode for path, mode in found.items() if (data / path).is_dir()} == {0o700}
        assert {mode for path, mode in found.items() if (data / path).is_file()} == {0o600}
        assert any("/records/" in path for path in found) and any("/shards/" in path for path in found)
        srv.stop()

        # As an older Hoard left them: everything readable by every local user.
        for path in [data / ".hoard", *(data / ".hoard").rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        srv.start()
        assert s3.get_object(Bucket="private", Key="large")["ContentLength"] == 256 * 1024
        tightened = modes(data)
        assert all(
            mode == 0o700 for path, mode in tightened.items() if path != "." and (data / path).is_dir()
        ), tightened
        top_files = [p for p in (data / ".hoard").iterdir() if p.is_file()] + list((data / ".hoard" / "buckets").iterdir())
        assert {stat.S_IMODE(p.stat().st_mode) for p in top_files} == {0o600}
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()


# -- the documentation -------------------------------------------------------------------------


def readme_rows() -> dict[str, list[str]]:
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `HOARD_") and len(cells) == 5:
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_setting_is_in_the_readme_table_and_the_help(tmp_path):
    from hoard.config import Settings, allowed, default_text, env_name, option_of

    rows = readme_rows()
    help_text = subprocess.run(
        [sys.executable, "-m", "hoard", "server", "--help"], env=clean_env(), capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for name in Settings.model_fields:
        variable = env_name(name)
        assert variable in rows, f"{variable} has no row in the README's settings table"
        _, option, default, allowed_text, _meaning = rows[variable]
        assert option == (f"`{option_of(name)}`" if option_of(name) else ""), variable
        assert default == f"`{default_text(name)}`", variable
        assert allowed_text == allowed(name), variable
        assert re.search(rf"^\s*{variable}\b.*\(default: {re.escape(default_text(name))}\)", help_text, re.M), variable
        if option_of(name):
            assert re.search(rf"^\s*{option_of(name)}\b", help_text, re.M), option_of(name)
    assert set(rows) == {env_name(name) for name in Settings.model_fields}, "the README's table names settings that do not exist"
