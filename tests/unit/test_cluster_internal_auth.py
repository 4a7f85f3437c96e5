"""Nodes' signed calls to each other (hoard.cluster.internal_auth): a fixed vector, checked
against a computation written here from the documented canonical form with hmac and hashlib
alone, and every way a request is refused."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import logging
import threading

import pytest

from hoard.cluster.internal_auth import InternalAuthError, InternalVerifier, NonceCache, sign_request
from hoard.cluster.keys import ClusterKey, ClusterKeyring

KEY = ClusterKey(bytes(range(32)))
OTHER_KEY = ClusterKey(bytes(range(32, 64)))
NODE, TO = "node-a", "node-b"
NONCE = "00112233445566778899aabbccddeeff"
NOW = calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0))  # 20240102T030405Z
METHOD, PATH, QUERY, LENGTH = "PUT", "/.hoard/internal/v1/shards/d1/photos/cat 1.jpg", [("part", "3"), ("block", "0")], 65536

# Computed once by hoard.cluster.internal_auth, and again below without it.
VECTOR_KEY_ID = "72d45f3941b0cdf8"
VECTOR_SIGNATURE = "2fc616651062be6bd1b1167b17267769985068ef969a17fcd2de559966080993"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _independent_signature() -> str:
    """The vector's signature from the module docstring's description, by hand."""
    canonical = "\n".join(
        [
            "PUT",
            "/.hoard/internal/v1/shards/d1/photos/cat%201.jpg",
            "block=0&part=3",
            "content-length:65536",
            "x-hoard-date:20240102T030405Z",
            "x-hoard-node:node-a",
            "x-hoard-nonce:00112233445566778899aabbccddeeff",
            "x-hoard-to:node-b",
            "",
            "content-length;x-hoard-date;x-hoard-node;x-hoard-nonce;x-hoard-to",
            "UNSIGNED-PAYLOAD",
        ]
    )
    to_sign = "\n".join(
        [
            "HOARD-HMAC-SHA256",
            "20240102T030405Z",
            "20240102/cluster/internal/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    secret = "AWS4" + base64.b64encode(bytes(range(32))).decode()
    key = secret.encode()
    for part in ("20240102", "cluster", "internal", "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _signed(keyring: ClusterKeyring = ClusterKeyring(KEY), **overrides: object) -> dict[str, str]:
    args: dict = {"node": NODE, "method": METHOD, "path": PATH, "query": QUERY, "content_length": LENGTH, "to": TO, "now": NOW}
    args.update(overrides)
    return sign_request(keyring, **args)


def _verifier(keyring: ClusterKeyring = ClusterKeyring(KEY), registered: tuple[str, ...] = (NODE, "node-c")) -> InternalVerifier:
    return InternalVerifier(keyring, lambda name: name in registered, node=TO)


def _refusal(verifier: InternalVerifier, headers: dict[str, str], *, method: str = METHOD, path: str = PATH, query=QUERY, now: float = NOW) -> InternalAuthError:
    with pytest.raises(InternalAuthError) as refused:
        verifier.verify(method, path, query, headers, now=now)
    return refused.value


# -- the fixed vector -------------------------------------------------------------------------
def test_vector_matches_the_documented_form_computed_independently():
    assert _independent_signature() == VECTOR_SIGNATURE
    key_id = hmac.new(bytes(range(32)), b"hoard-cluster-key-id", hashlib.sha256).hexdigest()[:16]
    assert key_id == VECTOR_KEY_ID


def test_signer_produces_the_vector():
    headers = _signed(nonce=NONCE)
    assert headers == {
        "content-length": "65536",
        "x-hoard-date": "20240102T030405Z",
        "x-hoard-node": "node-a",
        "x-hoard-nonce": NONCE,
        "x-hoard-to": "node-b",
        "authorization": f"HOARD-HMAC-SHA256 Key={VECTOR_KEY_ID}, Signature={VECTOR_SIGNATURE}",
    }


def test_the_query_order_and_the_paths_wire_encoding_do_not_matter():
    # The path and query are signed decoded, encoded the one AWS way: how a client puts them on
    # the wire changes nothing.
    assert _signed(nonce=NONCE, query=list(reversed(QUERY))) == _signed(nonce=NONCE)


def test_fresh_nonces_are_128_random_bits():
    nonces = {_signed()["x-hoard-nonce"] for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)


@pytest.mark.parametrize("bad", [{"node": "node a"}, {"to": ""}, {"content_length": -1}, {"nonce": "xyz"}])
def test_signer_refuses_what_it_could_not_sign_well(bad):
    with pytest.raises(ValueError):
        _signed(**bad)


# -- accepted ---------------------------------------------------------------------------------
def test_a_signed_request_names_its_node():
    assert _verifier().verify(METHOD, PATH, QUERY, _signed(), now=NOW) == NODE


@pytest.mark.parametrize("skew", [-300, 300])
def test_five_minutes_either_way_is_accepted(skew):
    assert _verifier().verify(METHOD, PATH, QUERY, _signed(), now=NOW + skew) == NODE


def test_a_request_with_no_body_and_no_query():
    headers = _signed(method="GET", query=[], content_length=0)
    assert _verifier().verify("GET", PATH, [], headers, now=NOW) == NODE


# -- refused ----------------------------------------------------------------------------------
def test_unsigned():
    headers = _signed()
    del headers["authorization"]
    refusal = _refusal(_verifier(), headers)
    assert (refusal.status, refusal.reason) == (401, "not signed (no authorization header)")


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=" + "0" * 64,
        "HOARD-HMAC-SHA256 nonsense",
        f"HOARD-HMAC-SHA256 Key={VECTOR_KEY_ID}",
        "HOARD-HMAC-SHA256 Signature=" + "0" * 64,
        f"HOARD-HMAC-SHA256 Key={VECTOR_KEY_ID}, Signature=short",
        "",
    ],
)
def test_malformed_authorization(authorization):
    assert _refusal(_verifier(), {**_signed(), "authorization": authorization}).status == 401


def test_signed_with_another_key():
    refusal = _refusal(_verifier(), _signed(ClusterKeyring(OTHER_KEY)))
    assert refusal.status == 401
    assert "does not hold" in refusal.reason


def test_a_forged_signature_under_a_known_key_id():
    headers = _signed()
    forged = _signed(ClusterKeyring(OTHER_KEY), nonce=headers["x-hoard-nonce"])["authorization"].split("Signature=")[1]
    headers["authorization"] = f"HOARD-HMAC-SHA256 Key={KEY.key_id}, Signature={forged}"
    refusal = _refusal(_verifier(), headers)
    assert (refusal.status, refusal.reason) == (401, "the signature does not match")


def test_an_unknown_key_id():
    headers = _signed()
    headers["authorization"] = headers["authorization"].replace(KEY.key_id, "0123456789abcdef")
    assert _refusal(_verifier(), headers).status == 401


@pytest.mark.parametrize(
    "change",
    [
        {"method": "DELETE"},
        {"path": PATH + "x"},
        {"path": "/.hoard/internal/v1/shards/d1/photos/cat%201.jpg"},
        {"query": [("part", "4"), ("block", "0")]},
        {"query": [*QUERY, ("extra", "")]},
    ],
    ids=["method", "path", "path-encoded-twice", "query-value", "query-added"],
)
def test_a_tampered_request_line(change):
    args = {"method": METHOD, "path": PATH, "query": QUERY, **change}
    refusal = _refusal(_verifier(), _signed(), **args)
    assert (refusal.status, refusal.reason) == (401, "the signature does not match")


@pytest.mark.parametrize(
    "header, value",
    [
        ("content-length", "65535"),
        ("x-hoard-node", "node-c"),  # another registered node: only the signature tells
        ("x-hoard-nonce", "ffeeddccbbaa99887766554433221100"),
        ("x-hoard-date", "20240102T030406Z"),
    ],
)
def test_a_tampered_header(header, value):
    refusal = _refusal(_verifier(), {**_signed(), header: value})
    assert (refusal.status, refusal.reason) == (401, "the signature does not match")


def test_meant_for_another_node():
    # Signed for node-c and sent to node-b instead: the nonce cache of node-b has never seen it.
    refusal = _refusal(_verifier(), _signed(to="node-c"))
    assert (refusal.status, refusal.reason) == (401, "meant for another node")


@pytest.mark.parametrize("name", ["content-length", "x-hoard-date", "x-hoard-node", "x-hoard-nonce", "x-hoard-to"])
def test_a_missing_signed_header(name):
    headers = _signed()
    del headers[name]
    refusal = _refusal(_verifier(), headers)
    assert (refusal.status, refusal.reason) == (401, f"{name} is missing")


@pytest.mark.parametrize(
    "header, value",
    [
        ("x-hoard-nonce", "00112233"),
        ("x-hoard-nonce", NONCE + "," + NONCE),  # the header sent twice
        ("content-length", "-1"),
        ("x-hoard-date", "2024-01-02T03:04:05Z"),
        ("x-hoard-date", "20241302T030405Z"),
        ("x-hoard-node", "node a\nforged log line"),
    ],
)
def test_a_malformed_header(header, value):
    assert _refusal(_verifier(), {**_signed(), header: value}).status == 401


@pytest.mark.parametrize("skew, reason", [(301, "signed too long ago"), (-301, "signed in the future (clocks apart?)")])
def test_expired_either_way(skew, reason):
    refusal = _refusal(_verifier(), _signed(), now=NOW + skew)
    assert (refusal.status, refusal.reason) == (401, reason)


def test_replayed():
    verifier, headers = _verifier(), _signed()
    assert verifier.verify(METHOD, PATH, QUERY, headers, now=NOW) == NODE
    refusal = _refusal(verifier, headers, now=NOW + 10)
    assert (refusal.status, refusal.reason) == (401, "replayed: the nonce was seen before")


def test_a_replay_just_inside_the_window_is_still_caught():
    # The nonce is kept until the request's own date + the window, not the arrival + the window:
    # a request signed 5 minutes ahead of the receiver's clock lives 10 minutes.
    verifier, headers = _verifier(), _signed()
    verifier.verify(METHOD, PATH, QUERY, headers, now=NOW - 300)
    assert _refusal(verifier, headers, now=NOW + 300).reason == "replayed: the nonce was seen before"


def test_unregistered_node():
    refusal = _refusal(_verifier(registered=("node-c",)), _signed())
    assert (refusal.status, refusal.reason) == (403, "the node is not registered")


def test_the_registry_and_the_cache_are_reached_only_by_signed_requests():
    asked: list[str] = []
    verifier = InternalVerifier(ClusterKeyring(KEY), lambda name: asked.append(name) or True, node=TO)
    _refusal(verifier, {**_signed(), "x-hoard-node": "node-z"})
    assert asked == [] and len(verifier.nonces) == 0


def test_an_unregistered_nodes_nonce_is_not_spent():
    registered: set[str] = set()
    verifier = InternalVerifier(ClusterKeyring(KEY), registered.__contains__, node=TO)
    headers = _signed()
    assert _refusal(verifier, headers).status == 403
    registered.add(NODE)
    assert verifier.verify(METHOD, PATH, QUERY, headers, now=NOW) == NODE


# -- rotation ---------------------------------------------------------------------------------
def test_rotation_old_key_accepted_while_held_then_refused():
    old = ClusterKeyring(KEY)
    step1 = old.accepting(OTHER_KEY)  # every node accepts the new key, still signs with the old
    step2 = step1.promoted()  # every node signs with the new key, still accepts the old
    step3 = step2.retired()
    signed_old = [_signed(old) for _ in range(3)]
    assert _verifier(step1).verify(METHOD, PATH, QUERY, signed_old[0], now=NOW) == NODE
    assert _verifier(step2).verify(METHOD, PATH, QUERY, signed_old[1], now=NOW) == NODE
    assert "does not hold" in _refusal(_verifier(step3), signed_old[2]).reason
    # A node at step 2 signs with the new key, which a node still at step 1 accepts.
    assert _verifier(step1).verify(METHOD, PATH, QUERY, _signed(step2), now=NOW) == NODE
    assert _verifier(step3).verify(METHOD, PATH, QUERY, _signed(step2), now=NOW) == NODE


# -- what is logged ---------------------------------------------------------------------------
def test_refusals_are_logged_without_the_key_or_the_signature(caplog):
    caplog.set_level(logging.DEBUG, logger="hoard.cluster")
    headers = _signed()
    signature = headers["authorization"].split("Signature=")[1]
    verifier = _verifier()
    flipped = headers["authorization"][:-1] + ("1" if signature.endswith("0") else "0")
    for tampered in ({**headers, "x-hoard-nonce": "f" * 32}, {**headers, "authorization": flipped}):
        _refusal(verifier, tampered)
    verifier.verify(METHOD, PATH, QUERY, headers, now=NOW)
    _refusal(verifier, headers)  # replayed
    _refusal(_verifier(registered=()), _signed())
    text = caplog.text
    assert len(caplog.records) == 4
    assert "the signature does not match" in text and "replayed" in text and "not registered" in text
    for secret in (KEY.text(), bytes(range(32)).hex(), signature, signature[:32]):
        assert secret not in text
    assert "node-a" in text


def test_a_malformed_node_name_is_not_logged(caplog):
    caplog.set_level(logging.WARNING, logger="hoard.cluster")
    _refusal(_verifier(), {**_signed(), "x-hoard-node": "x\nFAKE LOG LINE"})
    assert "FAKE LOG LINE" not in caplog.text


# -- the nonce cache --------------------------------------------------------------------------
def test_nonce_cache_forgets_expired_nonces_to_make_room():
    cache = NonceCache(capacity=2)
    assert cache.remember("a", until=10, now=0)
    assert cache.remember("b", until=20, now=0)
    assert cache.remember("c", until=30, now=11)  # "a" was past its time
    assert len(cache) == 2
    assert not cache.remember("b", until=40, now=11)


def test_nonce_cache_full_of_live_nonces_refuses_rather_than_forgets():
    cache = NonceCache(capacity=2)
    cache.remember("a", until=100, now=0)
    cache.remember("b", until=100, now=0)
    with pytest.raises(InternalAuthError) as refused:
        cache.remember("c", until=100, now=1)
    assert refused.value.status == 503
    assert not cache.remember("a", until=100, now=1)  # still known: still a replay


def test_a_full_cache_refuses_the_request_with_503():
    verifier = InternalVerifier(ClusterKeyring(KEY), lambda name: True, node=TO, nonce_cache=NonceCache(capacity=1))
    verifier.verify(METHOD, PATH, QUERY, _signed(), now=NOW)
    assert _refusal(verifier, _signed()).status == 503


def test_nonce_cache_is_thread_safe():
    cache = NonceCache(capacity=100_000)
    accepted: list[bool] = []
    lock = threading.Lock()

    def spend(start: int) -> None:
        results = [cache.remember(f"{n:032x}", until=1e9, now=0) for n in range(start, start + 2_000)]
        with lock:
            accepted.extend(results)

    # Four threads each spend overlapping ranges: every nonce is accepted exactly once.
    threads = [threading.Thread(target=spend, args=(offset,)) for offset in (0, 1_000, 0, 1_000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(accepted) == 3_000 and len(cache) == 3_000


# -- a chunked body (a shard streamed as it is made) --------------------------------------------
def test_a_chunked_body_signs_transfer_encoding_in_place_of_the_length():
    headers = _signed(content_length=None)
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    assert _verifier().verify(METHOD, PATH, QUERY, headers, now=NOW) == NODE


def test_a_chunked_signature_does_not_pass_for_a_sized_body_or_both():
    chunked = _signed(content_length=None)
    as_sized = {k: v for k, v in chunked.items() if k != "transfer-encoding"} | {"content-length": "0"}
    assert "signature does not match" in _refusal(_verifier(), as_sized).reason
    both = {**chunked, "content-length": "10"}
    assert _refusal(_verifier(), both).status == 401
    sized = _signed()
    as_chunked = {k: v for k, v in sized.items() if k != "content-length"} | {"transfer-encoding": "chunked"}
    assert "signature does not match" in _refusal(_verifier(), as_chunked).reason
