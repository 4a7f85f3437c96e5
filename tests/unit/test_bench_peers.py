"""The benchmark's second peer (SeaweedFS): its command line and config, the per-peer ratios, the
strace counts and the "where SeaweedFS is faster" section. Pure helpers only: nothing starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import faster, report, servers, summary, syscalls
from benchmarks.workloads import plan_for, workloads

PORTS = {"master": (1001, 1002), "volume": (1003, 1004), "filer": (1005, 1006), "s3": (1007, 1008)}


def test_seaweedfs_config_gives_the_benchmark_keys_every_action() -> None:
    doc = servers.seaweedfs_config(servers.CREDS)
    json.dumps(doc)  # written as JSON
    (identity,) = doc["identities"]
    assert identity["credentials"] == [{"accessKey": servers.CREDS.access_key, "secretKey": servers.CREDS.secret_key}]
    assert set(identity["actions"]) == {"Admin", "Read", "Write", "List", "Tagging"}


def test_seaweedfs_args_give_every_port_and_bind_loopback() -> None:
    args = servers.seaweedfs_args(Path("/bin/weed"), Path("/d"), Path("/c.json"), PORTS, Path("/s"))
    assert args[:2] == ["/bin/weed", "server"]
    flags = dict(a.split("=", 1) for a in args[2:] if "=" in a)
    assert flags["-dir"] == "/d" and flags["-s3.config"] == "/c.json"
    assert flags["-ip"] == flags["-ip.bind"] == "127.0.0.1"
    for component, (http, grpc) in PORTS.items():
        assert flags[f"-{component}.port"] == str(http)
        assert flags[f"-{component}.port.grpc"] == str(grpc)
    assert {"-filer", "-s3"} <= set(args)
    # nothing reaches out, and no default port of an extra endpoint is taken
    assert flags["-master.telemetry"] == "false"
    assert flags["-s3.port.iceberg"] == flags["-s3.port.lance"] == "0"
    assert flags["-filer.localSocket"].startswith("/s/") and flags["-s3.localSocket"].startswith("/s/")


def test_free_ports_are_distinct() -> None:
    ports = servers.free_ports(8)
    assert len(set(ports)) == 8


def _sample(workload: str, server: str, rnd: int, ops: float, cpu_1k: float | None) -> dict:
    return {
        "workload": workload, "server": server, "round": rnd, "ops_per_s": ops, "mib_per_s": ops / 256, "p50_ms": 1.0,
        "p99_ms": 2.0, "cpu_s_per_gib": None, "cpu_s_per_1k_ops": cpu_1k, "client_cpu_s": 0.1, "elapsed_s": 1.0,
        "errors": 0, "first_error": "", "truncated": False, "peak_rss_mib": 10.0, "peak_pss_mib": 8.0,
    }  # fmt: skip


def _rows() -> list[dict]:
    work = [w for w in workloads(plan_for(True)) if w.key == "put-4k-c16"]
    samples = []
    for rnd, (h, m, s) in enumerate(((1000, 250, 2000), (1200, 300, 1000), (900, 300, 1800)), start=1):
        samples += [
            _sample("put-4k-c16", "hoard", rnd, h, 1.0),
            _sample("put-4k-c16", "moto", rnd, m, 4.0),
            _sample("put-4k-c16", "seaweedfs", rnd, s, 0.5),
        ]
    samples.append(_sample("put-4k-c16", "hoard", 4, 1000, 1.0))  # a round no peer ran: no ratio
    return summary.summarize(samples, work, "moto", ["seaweedfs"])


def test_ratios_per_round_for_every_peer_moto_stays_at_the_top() -> None:
    (row,) = _rows()
    assert row["throughput_ratio_per_round"] == [4.0, 4.0, 3.0]
    assert row["throughput_ratio"] == 4.0 and row["cpu_ratio"] == 0.25
    assert row["peer"] is row["peers"]["moto"]["server"]
    sw = row["peers"]["seaweedfs"]
    assert sw["throughput_ratio_per_round"] == [0.5, 1.2, 0.5]
    assert sw["throughput_ratio"] == 0.5
    assert sw["cpu_ratio_per_round"] == [2.0, 2.0, 2.0]
    assert sw["server"]["rounds"] == 3


def test_per_round_ratios_skip_missing_and_zero() -> None:
    mine = [{"round": 1, "ops_per_s": 10, "cpu_s_per_1k_ops": None}, {"round": 2, "ops_per_s": 10, "cpu_s_per_1k_ops": 2.0}]
    theirs = {1: {"ops_per_s": 0, "cpu_s_per_1k_ops": 1.0}, 2: {"ops_per_s": 5, "cpu_s_per_1k_ops": 0}}
    assert summary.per_round_ratios(mine, theirs, "ops_per_s") == ([2.0], [])


def test_summarize_without_peers() -> None:
    work = [w for w in workloads(plan_for(True)) if w.key == "put-4k-c16"]
    (row,) = summary.summarize([_sample("put-4k-c16", "hoard", 1, 5, 1.0)], work, None)
    assert row["peer"] is None and row["throughput_ratio"] is None and row["peers"] == {}


STRACE = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 61.27    0.080541         201       400           fsync
 20.00    0.020000          50       404         4 openat
 10.00    0.010000          13        76           fdatasync
  8.73    0.011479          57       200           renameat2
------ ----------- ----------- --------- --------- ----------------
100.00    0.131459         122      1080         4 total
"""


def test_parse_strace_counts() -> None:
    assert syscalls.parse_counts(STRACE) == {"fsync": 400, "openat": 404, "fdatasync": 76, "renameat2": 200}
    assert syscalls.parse_counts("") == {}


def test_calls_per_put() -> None:
    pp = syscalls.per_put({"fsync": 400, "fdatasync": 76, "sync_file_range": 1000, "openat": 404}, 200)
    assert pp["fsync"] == 2.0 and pp["fdatasync"] == 0.38 and pp["openat"] == 2.02
    assert pp["durable"] == 2.38  # sync_file_range only starts writeback: not counted as waiting
    assert pp["unlinkat"] == 0.0
    assert syscalls.per_put({"fsync": 3}, 0)["durable"] == 0.0


@pytest.mark.parametrize(
    ("workload", "payload", "size", "load"),
    [
        ("put-4k-c16", "signed", 4096, "PUT 4 KiB, c16"),
        ("mixed-70-30", "signed", 64 << 10, "PUT 4 KiB, c16"),
        ("put-1m-c1", "signed", 1 << 20, "PUT 1 MiB, c8"),
        ("multipart", "unsigned", 8 << 20, "PUT 1 MiB, c8"),
        ("put-64m-c8", "unsigned", 64 << 20, "PUT 64 MiB, c1"),
        ("delete-4k-c16", "-", 0, "DELETE 4 KiB, c16"),
        ("get-4k-c16", "-", 4096, None),
    ],
)
def test_strace_load_of_a_workload(workload: str, payload: str, size: int, load: str | None) -> None:
    assert faster.strace_load(workload, payload, size) == load
    assert load is None or load in {label for label, *_ in syscalls.LOADS}


def test_faster_rows_and_busy_cores() -> None:
    rows = _rows()
    assert [r["workload"] for r in faster.faster_rows(rows, "seaweedfs")] == ["put-4k-c16"]
    assert faster.faster_rows(rows, "moto") == []
    assert faster.busy_cores({"ops_per_s": 1000, "cpu_s_per_1k_ops": 0.5}) == 0.5
    assert faster.busy_cores({"ops_per_s": None, "cpu_s_per_1k_ops": 0.5}) is None


def test_report_shows_seaweedfs_beside_moto() -> None:
    rows = _rows()
    doc = {
        "run": {
            "mode": "quick", "started": "2026-01-01 00:00 UTC", "duration_s": 1.0, "rounds": 3, "hoard_version": "0",
            "hoard_source": "here", "git": "abc", "peer": "moto", "peer_version": "moto_server 5",
            "peers": {
                "moto": {"label": "moto_server", "version": "5", "command": None},
                "seaweedfs": {"label": "SeaweedFS", "version": "4.48", "command": "weed server -s3"},
            },
        },
        "machine": {}, "ceilings": {}, "summary": rows, "targets": [], "profile": {},
        "syscalls": {"seaweedfs": {"PUT 4 KiB, c16": {"puts": 200, "errors": 0, "calls": {}, "per_put": syscalls.per_put({}, 200)}},
                     "hoard": {"PUT 4 KiB, c16": {"puts": 200, "errors": 0, "calls": {}, "per_put": syscalls.per_put({"fsync": 400}, 200)}}},
    }  # fmt: skip
    md = report.markdown(doc)
    assert "against moto_server 5 and SeaweedFS 4.48" in md
    assert "| Hoard/SeaweedFS (median) |" in md and "| 1800.0 op/s | 0.50x | 0.50, 1.20, 0.50 | 2.00x |" in md
    assert "## Where SeaweedFS is faster" in md and "### PUT 4 KiB, c16: Hoard/SeaweedFS 0.50x throughput" in md
    assert "Hoard 2 fsync + 0 fdatasync, 0 `openat` and 0 `unlink(at)` per PUT" in md and "SeaweedFS 0 fsync + 0 fdatasync" in md
    assert "`weed server -s3`" in md
    assert "| PUT 4 KiB, c16 | seaweedfs |" in md


def test_the_large_get_target_is_seventy_percent_and_names_the_machine_bounds() -> None:
    from benchmarks import targets

    summary = [{"workload": "get-64m-c1", "title": "GET 64 MiB, c1", "peer": None, "note": "", "hoard": {"mib_per_s": 1400.0, "peak_rss_mib": 100.0, "peak_pss_mib": 90.0}}]
    ceilings = {"loopback_sendrecv": {"value": 2000.0}, "file_read_verify_send": {"value": 1100.0}, "client_get": {"value": 1000.0}}
    row = next(r for r in targets.evaluate(summary, ceilings, "moto") if r["key"] == "ceiling:get-64m-c1")
    assert row["target"] == "GET 64 MiB (c1) >= 70% of the loopback (send/recv) ceiling"
    assert row["met"] is True
    assert row["measured"] == "1400 of 2000 MiB/s = 70%; bounds on this machine: file_read_verify_send 55%, client_get 50%"
    summary[0]["hoard"]["mib_per_s"] = 1390.0
    assert next(r for r in targets.evaluate(summary, ceilings, "moto") if r["key"] == "ceiling:get-64m-c1")["met"] is False


def test_the_verified_file_send_ceiling_moves_bytes(tmp_path) -> None:
    from benchmarks import ceilings

    assert ceilings.file_read_verify_send(0.2, tmp_path) > 0
    assert list(tmp_path.iterdir()) == []  # its file is gone
