"""``hoard admin cluster rotate-key``: every node moved from the old cluster key to the new one.

The new key reaches the nodes the way the first one did: the operator copies the key file that
``hoard cluster rotate-key`` wrote (old key first, new key accepted) to every node, and each node
takes it up within seconds (hoard.membership.KeyFileWatcher). The key never crosses the network.
This finishes the rotation through the internal API (signed, as every node-to-node call), in
steps each given to every node before the next, so no node ever signs with a key another node
does not hold:

1. check every registered node is live and holds the new key;
2. the catalog lists the new key first (a node restarted from here on joins with either);
3. every node signs with the new key (``promote``: its file rewritten new key first);
4. every node drops the old key (``retire``), and the catalog lists the new key alone.

Each step is idempotent on a node, so a rotation cut short (a node unreachable at step 3) is
finished by running the command again. A node with several worker processes answers each step
in one of them; the others take the file it wrote up within their watcher's round, so each
step is followed by a wait of ``settle`` seconds before the next one starts.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass

from hoard.cluster.internal_auth import Signer, signer_for
from hoard.cluster.keys import LiveKeyring
from hoard.internal_api import INTERNAL_PREFIX
from hoard.meta.cluster import ClusterCatalog, NodeRow
from hoard.storage.remote import NodeConnections, TlsContext

log = logging.getLogger("hoard.cluster")
KEY_PATH = INTERNAL_PREFIX + "key"
CALL_TIMEOUT = 10.0


class RotationRefused(Exception):
    """The rotation cannot go on: the HTTP status to answer and why (never a key)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class NodeKeys:
    node: str
    current: str
    accepted: str | None

    def holds(self, key_id: str) -> bool:
        return key_id in (self.current, self.accepted)


def _call(node: NodeRow, sign: Signer, method: str, query: str = "", tls: TlsContext | None = None) -> NodeKeys:
    # As the drives' calls (hoard.storage.remote): over the cluster's mutual TLS where the node
    # serves it, every request signed.
    conn: http.client.HTTPConnection | None = None
    try:
        conn = NodeConnections(node.internal_url, connect_timeout=CALL_TIMEOUT, io_timeout=CALL_TIMEOUT, tls=tls).take(fresh=True)
        conn.request(method, KEY_PATH + (f"?{query}" if query else ""), body=b"", headers=sign(method, KEY_PATH, query, 0))
        response = conn.getresponse()
        raw = response.read()
    except OSError as e:
        raise RotationRefused(503, f"node {node.name} ({node.internal_url}) cannot be reached: {e}") from None
    finally:
        if conn is not None:
            conn.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = {}
    if response.status != 200:
        raise RotationRefused(409 if response.status < 500 else 503, f"node {node.name}: {doc.get('message') or response.reason}")
    return NodeKeys(node.name, doc["current"], doc.get("accepted"))


def rotate_cluster_key(
    catalog: ClusterCatalog, keys: LiveKeyring, me: str, live_within: float, settle: float = 0.0, tls: TlsContext | None = None
) -> dict:
    """Finish the rotation under way (see the module's text); returns the new key's id, the old
    one's and the nodes moved. ``tls``: the internal API's mutual TLS, if the cluster uses it.
    Raises RotationRefused. Blocks."""
    sign_for = signer_for(keys, me)
    nodes = catalog.nodes()
    silent = sorted(n.name for n in nodes if n.heartbeat_age >= live_within)
    if silent:
        raise RotationRefused(
            503, f"node(s) {', '.join(silent)} not live: every registered node takes each step of a rotation (start them first)"
        )
    states = [_call(n, sign_for(n.name), "GET", tls=tls) for n in nodes]
    new, old = _keys_of_rotation(catalog.info().key_ids, states)
    lacking = sorted(s.node for s in states if not s.holds(new))
    if lacking:
        raise RotationRefused(
            409, f"node(s) {', '.join(lacking)} do not hold key {new} yet: copy the key file hoard cluster rotate-key wrote to them"
        )
    catalog.set_key_ids([new, old])
    time.sleep(settle)  # every worker of every node holds the new key
    for step in ("promote", "retire"):
        for n in nodes:
            _call(n, sign_for(n.name), "POST", urllib.parse.urlencode({"key": new, "step": step}), tls)
        time.sleep(settle)
    catalog.set_key_ids([new])
    log.info("cluster key rotated: key %s signs on every node (%d), key %s is retired", new, len(nodes), old)
    return {"key_id": new, "retired": old, "nodes": [n.name for n in nodes]}


def _keys_of_rotation(catalog_ids: tuple[str, ...], states: list[NodeKeys]) -> tuple[str, str]:
    """(new key, old key). The catalog lists the new key first once a rotation passed step 2;
    before that it lists the old key alone, and the new one is the other key the nodes hold."""
    if len(catalog_ids) == 2:
        return catalog_ids[0], catalog_ids[1]
    (old,) = catalog_ids
    others = sorted({k for s in states for k in (s.current, s.accepted) if k is not None and k != old})
    if not others:
        raise RotationRefused(
            409, f"no rotation under way: every node holds key {old} alone (hoard cluster rotate-key makes a new one to copy to them)"
        )
    if len(others) > 1:
        raise RotationRefused(409, f"the nodes hold different new keys ({', '.join(others)}): copy the same key file to every node")
    return others[0], old
