"""ClusterStorage's placement and layout handling, with no other node running: the other nodes'
drives are RemoteDrives whose addresses refuse at once (nothing listens on ports 1-3), and a
silent node's are marked offline without being asked."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from hoard.cluster.view import ClusterView, PoolView
from hoard.model import Placement
from hoard.storage.cluster_storage import ClusterStorage
from hoard.storage.drive import DriveState
from hoard.storage.errors import DocumentConflict, NotInLayout
from hoard.storage.remote import RemoteDrive


class Documents(dict):
    def get_document(self, name: str) -> bytes | None:
        return self.get(name)

    def put_document(self, name: str, data: bytes) -> None:
        self[name] = data

    def put_newer_document(self, name: str, data: bytes, generation: int) -> bool:
        if name in self and json.loads(self[name])["generation"] >= generation:
            return False
        self[name] = data
        return True

    def put_new_document(self, name: str, data: bytes) -> bytes:
        return self.setdefault(name, data)

    def document_generation(self, name: str) -> int | None:
        return json.loads(self[name])["generation"] if name in self else None

    def delete_document(self, name: str) -> None:
        self.pop(name, None)

    def documents(self, prefix: str) -> dict[str, bytes]:
        return {k: v for k, v in self.items() if k.startswith(prefix)}


def pool(number: int, nodes: list[str], sets: int = 2, state: str = "active", parity: int = 2) -> PoolView:
    members = tuple(tuple((node, f"p{number}s{s}{node}d{d}") for node in nodes for d in range(2)) for s in range(sets))
    return PoolView(number, state, parity, members)


NODES = ["n2", "n3"]
ADVERTISE = {"n1": "http://127.0.0.1:1", "n2": "http://127.0.0.1:2", "n3": "http://127.0.0.1:3"}


@pytest.fixture
def storage(tmp_path) -> ClusterStorage:
    s = ClusterStorage([tmp_path / "d1"], "n1")
    s.connect(Documents(), lambda node: lambda *args: {})
    return s


def view(version: int, *pools: PoolView, free: dict[int, int] | None = None, live: set[str] | None = None) -> ClusterView:
    return ClusterView(version, pools, ADVERTISE, frozenset(live if live is not None else ADVERTISE), free or dict.fromkeys((p.pool for p in pools), 1))


def test_pools_are_chosen_in_proportion_to_free_space_and_kept_in_the_placement(storage):
    storage.apply(view(2, pool(1, NODES), pool(2, NODES), free={1: 3_000, 2: 1_000}))
    chosen = Counter(storage.placement("b", f"k{i}", "STANDARD").pool for i in range(4000))
    assert set(chosen) == {1, 2} and 2.6 < chosen[1] / chosen[2] < 3.4
    placement = storage.placement("b", "k", "STANDARD")
    assert Placement.from_json(placement.to_json()) == placement  # the pool survives the record
    eset = storage.set_of(placement)
    assert eset in storage.sets and all(isinstance(d, RemoteDrive) for d in eset.drives)
    assert len(storage.sets) == 4 and placement.data == 2 and placement.parity == 2


def test_a_draining_or_full_pool_takes_no_writes_and_no_pool_is_a_503(storage):
    with pytest.raises(NotInLayout, match="no pool yet"):
        storage.placement("b", "k", "STANDARD")
    storage.apply(view(2, pool(1, NODES, state="draining"), pool(2, NODES), pool(3, NODES), free={1: 10**9, 2: 0, 3: 5}))
    assert {storage.placement("b", f"k{i}", "STANDARD").pool for i in range(200)} == {3}
    # Reads still find versions in the draining pool: the layout keeps it.
    assert storage.set_of(Placement(1, 2, 2, (0, 1, 2, 3), 1)) is storage.sets[1]
    with pytest.raises(NotInLayout):
        storage.set_of(Placement(0, 2, 2, (0, 1, 2, 3), 9))


def test_a_pool_given_is_kept_even_draining_and_one_not_read_yet_is_a_503(storage):
    storage.apply(view(2, pool(1, NODES, state="draining"), pool(2, NODES), free={1: 10**9, 2: 1}))
    # A multipart upload begun in pool 1 before it drained: its parts and object stay there.
    assert {storage.placement("b", f"k{i}", "STANDARD", pool=1).pool for i in range(50)} == {1}
    assert storage.draining() == {1}
    # A pool added a moment ago that this node has not read: never another pool in its place.
    with pytest.raises(NotInLayout, match="pool 3 is not in this node's layout"):
        storage.placement("b", "k", "STANDARD", pool=3)
    storage.apply(view(3, pool(1, NODES, state="decommissioned"), pool(2, NODES), pool(3, NODES)))
    assert storage.placement("b", "k", "STANDARD", pool=3).pool == 3 and storage.draining() == set()
    with pytest.raises(NotInLayout):
        storage.placement("b", "k", "STANDARD", pool=1)


def test_reduced_redundancy_takes_less_parity_in_its_pool(storage):
    storage.apply(view(2, pool(1, NODES, sets=1, parity=2)))
    assert storage.placement("b", "k", "REDUCED_REDUNDANCY").parity == 1
    assert storage.placement("b", "k", "STANDARD").parity == 2


def test_a_new_layout_version_rebuilds_the_pools_keeping_each_remote_drive(storage):
    storage.apply(view(2, pool(1, NODES, sets=1)))
    first = storage.sets[0].drives[0]
    storage.apply(view(2, pool(1, NODES, sets=1), pool(2, NODES, sets=1)))  # same version: nothing read
    assert len(storage.sets) == 1
    storage.apply(view(3, pool(1, NODES, sets=1), pool(2, NODES, sets=1)))
    assert len(storage.sets) == 2 and storage.sets[0].drives[0] is first and storage.layout_version == 3
    assert [s.index for s in storage.sets] == [0, 1]


def test_a_silent_nodes_drives_are_offline_without_being_asked(storage):
    storage.apply(view(2, pool(1, NODES, sets=1), live={"n1", "n2"}))
    states = {(d.node, d.state) for d in storage.sets[0].drives}
    assert states == {("n2", DriveState.ONLINE), ("n3", DriveState.OFFLINE)}
    assert storage.set_health()[0]["usable"] == 2
    storage.apply(view(2, pool(1, NODES, sets=1), live={"n1", "n3"}))
    assert {d.node for d in storage.sets[0].drives if not d.usable} >= {"n2"}


def test_shared_documents_are_the_databases_one_copy(storage):
    storage.write_shared("iam.json", b"v1")
    storage.write_shared("iam.json", b"v2")
    assert storage.read_newest("iam.json") == [b"v2"] and storage.read_newest("none") == []
    storage.write_credentials(b'{"access_key": "A"}')
    storage.write_credentials(b'{"access_key": "A"}')  # the same root again: fine
    with pytest.raises(Exception, match="first"):
        storage.write_credentials(b'{"access_key": "B"}')  # another node's root was stored first
    assert storage.read_credentials() == b'{"access_key": "A"}'
    assert storage.index_id() is None and storage.index_candidates() == []


def test_a_node_that_moves_is_reached_at_its_new_address(storage):
    storage.apply(view(2, pool(1, NODES, sets=1)))
    drive = next(d for d in storage.sets[0].drives if d.node == "n2")
    assert (drive.connections.host, drive.connections.port) == ("127.0.0.1", 2)
    moved = ClusterView(2, (pool(1, NODES, sets=1),), {**ADVERTISE, "n2": "http://127.0.0.2:9"}, frozenset(ADVERTISE), {1: 1})
    storage.apply(moved)  # the same layout version: only the address changed
    assert (drive.connections.host, drive.connections.port) == ("127.0.0.2", 9)
    assert drive in storage.sets[0].drives  # the same drive, not a new one


def test_a_generational_document_is_written_only_over_an_older_one(storage):
    storage.write_shared("iam.json", b'{"generation": 1, "users": ["a"]}')
    storage.write_shared("iam.json", b'{"generation": 2, "users": ["a", "b"]}')
    # Another node's change made from generation 1: refused, so it is made again from 2.
    with pytest.raises(DocumentConflict):
        storage.write_shared("iam.json", b'{"generation": 2, "users": ["a", "c"]}')
    assert storage.read_newest("iam.json") == [b'{"generation": 2, "users": ["a", "b"]}']
