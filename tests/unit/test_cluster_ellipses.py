"""Drive specs with {a...b} ranges, and NODE:DIR specs of a cluster pool: pure."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoard.cli.main import expand_dirs
from hoard.cluster.ellipses import DriveSpec, expand, parse_drive_specs


def test_a_spec_without_a_range_is_itself():
    assert expand("/mnt/disk") == ["/mnt/disk"]
    assert expand("/mnt/{1..4}") == ["/mnt/{1..4}"]  # two dots: a folder name, not a range


def test_one_range():
    assert expand("/mnt/disk{1...4}") == [f"/mnt/disk{i}" for i in range(1, 5)]


def test_zero_padding_is_kept():
    assert expand("/d{01...12}")[:2] == ["/d01", "/d02"]
    assert expand("/d{01...12}")[-1] == "/d12"
    assert expand("/d{001...002}") == ["/d001", "/d002"]
    assert expand("/d{8...10}") == ["/d8", "/d9", "/d10"]  # no leading zero: no padding


def test_several_ranges_the_first_varies_slowest():
    assert expand("n{1...2}:/data{1...3}") == [
        "n1:/data1", "n1:/data2", "n1:/data3",
        "n2:/data1", "n2:/data2", "n2:/data3",
    ]  # fmt: skip
    assert len(expand("r{1...2}n{1...3}:/d{1...4}x{5...6}")) == 2 * 3 * 4 * 2


def test_a_one_number_range():
    assert expand("/d{3...3}") == ["/d3"]


def test_an_empty_range_is_refused_with_the_range_named():
    with pytest.raises(ValueError, match=re.escape("empty range {4...1}")):
        expand("/mnt/disk{4...1}")


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5)), min_size=1, max_size=3))
def test_expansion_counts_and_order(ranges):
    spec = "".join(f"x{{{low}...{low + extra}}}" for low, extra in ranges)
    out = expand(spec)
    expected = 1
    for _, extra in ranges:
        expected *= extra + 1
    assert len(out) == expected == len(set(out))
    assert out == sorted(out, key=lambda s: [int(n) for n in re.findall(r"\d+", s)])


def test_node_dir_specs():
    drives = parse_drive_specs(["n{1...2}:/data{1...2}", "hoard-3.example:/srv/d1"])
    assert drives == [
        DriveSpec("n1", "/data1"), DriveSpec("n1", "/data2"),
        DriveSpec("n2", "/data1"), DriveSpec("n2", "/data2"),
        DriveSpec("hoard-3.example", "/srv/d1"),
    ]  # fmt: skip
    assert str(drives[0]) == "n1:/data1"


def test_the_issue_pool_is_sixteen_drives():
    assert len(parse_drive_specs(["n{1...4}:/data{1...4}"])) == 16


@pytest.mark.parametrize("spec", ["/data1", ":/data1"])
def test_a_missing_node_is_refused(spec):
    with pytest.raises(ValueError, match="missing node"):
        parse_drive_specs([spec])


@pytest.mark.parametrize("spec", ["n1:data1", "n1:", "n1:./d"])
def test_a_relative_path_is_refused(spec):
    with pytest.raises(ValueError, match="absolute path"):
        parse_drive_specs([spec])


@pytest.mark.parametrize("node", ["-n1", "n1-", "n_1", "n 1", "n1..x", "[::1]"])
def test_a_node_that_is_no_host_name_is_refused(node):
    with pytest.raises(ValueError, match="not a node name"):
        parse_drive_specs([f"{node}:/d"])


@pytest.mark.parametrize(
    "specs",
    [
        ["n1:/d1", "n1:/d1"],
        ["n{1...2}:/d{1...2}", "n2:/d2"],
        ["n1:/d1/", "n1:/d1"],  # one folder, two spellings
        ["N1:/d1", "n1:/d1"],  # host names are case-insensitive
    ],
)
def test_a_drive_given_twice_is_refused(specs):
    with pytest.raises(ValueError, match="given twice"):
        parse_drive_specs(specs)


def test_a_range_error_comes_through_parsing():
    with pytest.raises(ValueError, match="empty range"):
        parse_drive_specs(["n{2...1}:/d"])


def test_expand_dirs_keeps_its_behaviour():
    assert expand_dirs(("/mnt/disk{1...3}", "/other")) == [Path("/mnt/disk1"), Path("/mnt/disk2"), Path("/mnt/disk3"), Path("/other")]
    assert expand_dirs(("/d{1...2}/s{01...02}",)) == [Path(p) for p in ("/d1/s01", "/d1/s02", "/d2/s01", "/d2/s02")]
    with pytest.raises(click.BadParameter, match="empty range"):
        expand_dirs(("/mnt/disk{9...1}",))
