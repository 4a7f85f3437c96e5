"""The options PostgresMetaStore opens its connections with (no database needed)."""

from __future__ import annotations

import pytest

from hoard.meta.postgres import connection_options


def _timeout(options: dict) -> int | None:
    assert options["autocommit"] is True  # the store says BEGIN itself
    return options.get("connect_timeout")


def test_the_store_gives_a_connect_timeout_where_the_operator_gave_none(monkeypatch):
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert _timeout(connection_options("host=pg1,pg2 dbname=hoard", 10)) == 10
    assert _timeout(connection_options("postgresql://hoard@pg1/hoard", 2.5)) == 2


@pytest.mark.parametrize(
    "conninfo", ["host=pg1,pg2,pg3 dbname=hoard connect_timeout=2", "postgresql://hoard@pg1,pg2/hoard?connect_timeout=2"]
)
def test_the_operators_connect_timeout_is_kept(monkeypatch, conninfo):
    # With several hosts it is how long a dead one holds up the next: the store's default must
    # not override it.
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert _timeout(connection_options(conninfo, 10)) is None


def test_pgconnect_timeout_is_the_operators_too(monkeypatch):
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "3")
    assert _timeout(connection_options("host=pg1 dbname=hoard", 10)) is None
