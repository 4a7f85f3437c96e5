"""The order an inline version's records are read in on a set spread over nodes: this node's
drives first, then each other node's drives together (one request per node), the nodes taken in
a turn that changes with the version, so that small reads spread over the nodes."""

from __future__ import annotations

from collections import Counter

from hoard.storage.drive import LocalDrive
from hoard.storage.erasure_set import _nearest_first, new_id
from hoard.storage.remote import NodeConnections, RemoteDrive


def _set_over_four_nodes(tmp_path) -> list:
    """Eight drives as node n1 sees a set of 4+4: two of its own, two on each of n2, n3, n4, interleaved."""
    drives: list = []
    connections = {node: NodeConnections(f"http://127.0.0.1:1/{node}") for node in ("n2", "n3", "n4")}
    for position in range(8):
        node = ("n1", "n2", "n3", "n4")[position % 4]
        if node == "n1":
            drives.append(LocalDrive(tmp_path / f"d{position}", position=position))
        else:
            drives.append(RemoteDrive(position, node, f"drive-{position}", connections[node], lambda *a: {}))
    return drives


def test_local_drives_first_then_one_node_at_a_time(tmp_path):
    drives = _set_over_four_nodes(tmp_path)
    order = sorted(range(8), key=_nearest_first(drives, new_id()))
    assert [drives[i].remote for i in order] == [False, False] + [True] * 6
    nodes = [drives[i].node for i in order[2:]]
    # Each node's two drives next to each other: the two records a 4+4 read still needs are one request.
    assert nodes[0] == nodes[1] and nodes[2] == nodes[3] and nodes[4] == nodes[5] and len(set(nodes)) == 3


def test_the_node_asked_first_turns_with_the_version(tmp_path):
    drives = _set_over_four_nodes(tmp_path)
    first = Counter()
    for _ in range(600):
        order = sorted(range(8), key=_nearest_first(drives, new_id()))
        first[drives[order[2]].node] += 1
    assert set(first) == {"n2", "n3", "n4"} and min(first.values()) > 120, first  # about 200 each
    # The same version always asks the same node first (a retried read goes the same way).
    data_id = new_id()
    assert len({tuple(sorted(range(8), key=_nearest_first(drives, data_id))) for _ in range(5)}) == 1
