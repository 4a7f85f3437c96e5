"""Machines for cluster tests, made of Linux network namespaces on one kernel.

One namespace holds a bridge (the switch); each host is a namespace with one interface (eth0),
the far end of a veth pair whose near end is a port of that bridge. The test process, in the root
namespace, has a veth of its own onto the bridge, so a Hoard server it starts reaches the hosts
as a client on the same network would. Every name (namespaces, the root namespace's interface,
the temporary folder) starts with the run's prefix, ``hoardc`` and the test process's pid in
hex: runs side by side never clash, and a run that died leaves things ``sweep_leftovers`` finds.

Faults, as the tests inflict them: a host unplugged (its bridge port down: what it sends and
what is sent to it vanish, as with a dead machine or a pulled cable), nftables rules in a host's
namespace (a partition), and signals to the processes in a namespace.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

TAG = "hoardc"
# Prefixes of other runs, from the names they left: TAG, the pid in hex, then "-" or the root link's "r".
_RUN = re.compile(rf"^{TAG}([0-9a-f]+)(?:-|r$)")
# The private range the networks are cut from: one /24 per run, none already routed here.
_POOL = ipaddress.ip_network("10.213.0.0/16")


def require(*commands: str) -> list[str]:
    """The commands' paths; the test fails (never skips) naming the Debian package of each missing one."""
    packages = {"ip": "iproute2", "nft": "nftables", "etcd": "etcd-server", "patroni": "patroni", "runuser": "util-linux"}
    paths = [shutil.which(c) for c in commands]
    missing = [c for c, path in zip(commands, paths, strict=True) if path is None]
    if missing:
        names = " ".join(sorted({packages.get(c, c) for c in missing}))
        pytest.fail(f"missing {', '.join(missing)}: apt-get install -y --no-install-recommends {names} (as .ci/run does)")
    return [str(path) for path in paths]


def run(*argv: str, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _namespaces() -> list[str]:
    # "name (id: 3)" or "name", one a line.
    return [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()]


def _pids_in(netns: str) -> list[int]:
    return [int(p) for p in run("ip", "netns", "pids", netns, check=False).split()]


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_everything_in(netns: str, timeout: float = 10) -> None:
    """SIGKILL every process in ``netns`` until none is left (one forked while the others were
    being killed is killed in the next round)."""
    deadline = time.monotonic() + timeout
    while pids := _pids_in(netns):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {pids} in {netns} outlived SIGKILL")
        _signal(pids, signal.SIGKILL)
        time.sleep(0.05)


def _kill_namespace(netns: str) -> None:
    """Kill what runs in ``netns`` and delete it (a namespace with a process left in it lives on)."""
    kill_everything_in(netns)
    run("ip", "netns", "delete", netns, check=False)


def _dead_run(name: str) -> bool:
    match = _RUN.match(name)
    return match is not None and not psutil.pid_exists(int(match.group(1), 16))


def sweep_leftovers() -> None:
    """Remove what runs that are gone left behind: namespaces (and what still runs in them), the
    root namespace's links, temporary folders. A live run's things are left alone."""
    for netns in filter(_dead_run, _namespaces()):
        _kill_namespace(netns)
    for link in re.findall(r"^\d+: ([^:@]+)", run("ip", "-o", "link", "show"), flags=re.M):
        if _dead_run(link):
            run("ip", "link", "delete", link, check=False)
    for folder in Path(tempfile.gettempdir()).glob(f"{TAG}*"):
        if _dead_run(folder.name):
            shutil.rmtree(folder, ignore_errors=True)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of the pool no address of the root namespace is in (another run's, or the machine's)."""
    taken = {ipaddress.ip_interface(a).network for a in re.findall(r"inet (\S+)", run("ip", "-4", "-o", "addr", "show"))}
    subnets = list(_POOL.subnets(new_prefix=24))
    start = os.getpid() % len(subnets)  # runs side by side start their search in different places
    for subnet in subnets[start:] + subnets[:start]:
        if not any(subnet.overlaps(t) for t in taken):
            return subnet
    raise RuntimeError(f"no free /24 left in {_POOL}")


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    address: str
    port: str  # its port on the bridge, in the bridge's namespace

    def argv(self, *argv: str, user: str | None = None) -> list[str]:
        """``argv`` run inside this host (as ``user``: PostgreSQL and Patroni refuse root)."""
        as_user = ["runuser", "-u", user, "--"] if user else []
        return ["ip", "netns", "exec", self.netns, *as_user, *argv]


class Network:
    """A bridge, the hosts plugged into it, and the test process's own port on it."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            pytest.fail("the cluster tests make network namespaces: run them as root")
        require("ip", "nft", "runuser")
        self.prefix = f"{TAG}{os.getpid():x}"
        self.subnet = _free_subnet()
        self.bridge = f"{self.prefix}-switch"
        self.root_link = f"{self.prefix}r"
        self.hosts: dict[str, Host] = {}
        self._addresses = iter(self.subnet.hosts())
        self.client_address = str(next(self._addresses))  # the test process's, in the root namespace

    def create(self) -> None:
        """The switch, and the test process's port on it (``destroy`` undoes even half of it)."""
        run("ip", "netns", "add", self.bridge)
        self._in_bridge("link", "add", "switch", "type", "bridge")
        self._in_bridge("link", "set", "switch", "up")
        run("ip", "link", "add", self.root_link, "type", "veth", "peer", "name", "client", "netns", self.bridge)
        self._plug_port("client")
        run("ip", "addr", "add", f"{self.client_address}/{self.subnet.prefixlen}", "dev", self.root_link)
        run("ip", "link", "set", self.root_link, "up")

    def _in_bridge(self, *argv: str) -> None:
        run("ip", "-n", self.bridge, *argv)

    def _plug_port(self, port: str) -> None:
        self._in_bridge("link", "set", port, "master", "switch")
        self._in_bridge("link", "set", port, "up")

    def add_host(self, name: str) -> Host:
        host = Host(name, f"{self.prefix}-{name}", str(next(self._addresses)), name)
        run("ip", "netns", "add", host.netns)
        self._in_bridge("link", "add", host.port, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        self._plug_port(host.port)
        run("ip", "-n", host.netns, "addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev", "eth0")
        run("ip", "-n", host.netns, "link", "set", "eth0", "up")
        run("ip", "-n", host.netns, "link", "set", "lo", "up")
        self.hosts[name] = host
        return host

    # -- faults ------------------------------------------------------------------------------
    def unplug(self, host: Host) -> None:
        """The host's cable pulled: nothing it sends arrives, nothing sent to it is answered (no
        reset, no refusal: a peer's connection to it hangs as with a dead machine)."""
        self._in_bridge("link", "set", host.port, "down")

    def plug(self, host: Host) -> None:
        self._in_bridge("link", "set", host.port, "up")

    def isolate(self, host: Host, peers: list[Host]) -> None:
        """Drop, inside ``host``, every packet to or from ``peers``, both ways; the rest of the
        network (the test process among it) still reaches it."""
        addresses = ", ".join(p.address for p in peers)
        self._partition(host, f"""
            chain input {{ type filter hook input priority 0; ip saddr {{ {addresses} }} drop; }}
            chain output {{ type filter hook output priority 0; ip daddr {{ {addresses} }} drop; }}""")

    def refuse_from(self, host: Host, peers: list[Host]) -> None:
        """Drop, inside ``host``, what arrives from ``peers``, one way: what it sends still leaves
        (its heartbeat reaches the database, the peers' calls to it go unanswered)."""
        addresses = ", ".join(p.address for p in peers)
        self._partition(host, f"chain input {{ type filter hook input priority 0; ip saddr {{ {addresses} }} drop; }}")

    def _partition(self, host: Host, chains: str) -> None:
        """nftables ``chains`` in the host's partition table (``reconnect`` deletes it)."""
        rules = f"table inet {TAG}_partition {{\n{chains}\n}}\n"  # nft wants a new line after a chain's block
        subprocess.run(["ip", "netns", "exec", host.netns, "nft", "-f", "-"], input=rules, text=True, check=True, capture_output=True)

    def reconnect(self, host: Host) -> None:
        """Undo ``isolate`` and ``refuse_from``."""
        run("ip", "netns", "exec", host.netns, "nft", "delete", "table", "inet", f"{TAG}_partition", check=False)

    def kill_all(self, host: Host) -> None:
        """Every process of the host SIGKILLed: the machine died."""
        kill_everything_in(host.netns)

    def destroy(self) -> None:
        for host in self.hosts.values():
            _kill_namespace(host.netns)
        _kill_namespace(self.bridge)
        run("ip", "link", "delete", self.root_link, check=False)  # gone with its peer's namespace, if not yet
