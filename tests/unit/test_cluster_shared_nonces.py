"""The nonce cache a node's worker processes share: a request replayed to any worker is refused."""

from __future__ import annotations

import multiprocessing
import os
import secrets

import pytest

from hoard.cluster.internal_auth import InternalAuthError
from hoard.cluster.shared_nonces import SLOTS, SharedNonceCache


def test_a_nonce_is_new_once_until_its_time_passes():
    cache = SharedNonceCache(buckets=4)
    nonce = secrets.token_hex(16)
    assert cache.remember(nonce, until=100.0, now=0.0)
    assert not cache.remember(nonce, until=100.0, now=50.0)  # a replay
    assert cache.remember(nonce, until=300.0, now=101.0)  # past its time: the request is too old anyway


def test_a_full_bucket_refuses_rather_than_forget_a_live_nonce():
    cache = SharedNonceCache(buckets=1)
    nonces = [secrets.token_hex(16) for _ in range(SLOTS)]
    for nonce in nonces:
        assert cache.remember(nonce, until=100.0, now=0.0)
    with pytest.raises(InternalAuthError) as full:
        cache.remember(secrets.token_hex(16), until=100.0, now=0.0)
    assert full.value.status == 503
    assert all(not cache.remember(n, until=100.0, now=1.0) for n in nonces)  # none forgotten
    assert cache.remember(secrets.token_hex(16), until=300.0, now=101.0)  # room once they pass


def _accept_all(cache: SharedNonceCache, nonces: list[str], results) -> None:
    results.put(sum(cache.remember(n, until=1e12, now=0.0) for n in nonces))


def test_workers_forked_after_it_is_made_share_one_table():
    cache = SharedNonceCache(buckets=1024)
    nonces = [secrets.token_hex(16) for _ in range(2000)]
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    # Four workers each try every nonce: each is accepted exactly once in all.
    workers = [fork.Process(target=_accept_all, args=(cache, nonces, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    accepted = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(accepted) == len(nonces)
    assert not any(cache.remember(n, until=1e12, now=0.0) for n in nonces[:50])  # the parent sees them too
    assert os.getpid()  # the parent is still the test's process
