"""The nonce cache a node's worker processes share: a request replayed to any worker is refused."""

from __future__ import annotations

import os
import random
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


def test_half_the_table_fills_without_a_bucket_refusing():
    # With one bucket per nonce, 4,096 nonces on 1,024 buckets of 8 filled some bucket nearly
    # always; a nonce's choice of two buckets keeps every one below full up to about 70 %.
    cache = SharedNonceCache(buckets=1024)
    pick = random.Random(5)
    nonces = [pick.randbytes(16).hex() for _ in range(cache.capacity // 2)]
    assert all(cache.remember(n, until=100.0, now=0.0) for n in nonces)
    assert len(cache) == len(nonces)
    assert not any(cache.remember(n, until=100.0, now=1.0) for n in nonces)  # each a replay, wherever it went


def _fork_accepting(cache: SharedNonceCache, nonces: list[str]) -> tuple[int, int]:
    """A child process that tries every nonce and writes how many it was first to; (pid, read end).
    Plain os.fork and a pipe: the child touches no lock another test's thread could hold."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            accepted = sum(cache.remember(n, until=1e12, now=0.0) for n in nonces)
            os.write(write_end, str(accepted).encode())
        except BaseException as e:  # noqa: BLE001 - said to the parent, which fails the test with it
            os.write(write_end, f"{type(e).__name__}: {e}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    return pid, read_end


def test_workers_forked_after_it_is_made_share_one_table():
    cache = SharedNonceCache(buckets=1024)
    nonces = [secrets.token_hex(16) for _ in range(2000)]
    # Four workers each try every nonce: each is accepted exactly once in all.
    children = [_fork_accepting(cache, nonces) for _ in range(4)]
    accepted = []
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as answer:
            said = answer.read().decode()
            assert said.isdigit(), f"a worker failed: {said!r}"
            accepted.append(int(said))
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    assert sum(accepted) == len(nonces) and min(accepted) >= 0, accepted
    assert not any(cache.remember(n, until=1e12, now=0.0) for n in nonces[:50])  # the parent sees them too
