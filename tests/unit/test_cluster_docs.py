"""docs/cluster.md shows users the Patroni configuration the cluster tests run."""

from __future__ import annotations

from pathlib import Path

from tests.cluster.metadata_tier import PATRONI_TEMPLATE, ROOT, etcd_flags, hoard_conninfo
from tests.cluster.netns import Host


def test_the_documentation_shows_what_the_tests_run():
    """docs/cluster.md gives users the Patroni file, the etcd flags and Hoard's connection
    string these tests run, word for word."""
    doc = (ROOT / "docs" / "cluster.md").read_text()
    template = "".join(line for line in PATRONI_TEMPLATE.read_text().splitlines(keepends=True) if not line.startswith("# "))
    assert f"```yaml\n{template}```" in doc
    assert hoard_conninfo("10.0.0.11,10.0.0.12,10.0.0.13", "hoard") in doc
    machines = [Host(f"etcd{n}", "", f"10.0.0.1{n}", "") for n in (1, 2, 3)]
    command = doc.replace("\\\n  ", "")
    for flag in etcd_flags(machines[0], machines, Path("/var/lib/etcd/hoard"), "hoard-meta"):
        assert flag in command, flag
