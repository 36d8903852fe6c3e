"""Network bookkeeping for one node (``nomad/structs/network.go``): bandwidth per
device, ports in use per IP, and the offer for a task's network ask."""

from __future__ import annotations

import functools
import ipaddress
import random
from typing import Iterable, Iterator, Optional

from ..structs import Allocation, NetworkResource, Node, evolve

MIN_DYNAMIC_PORT = 20000
MAX_DYNAMIC_PORT = 32000
MAX_RAND_PORT_ATTEMPTS = 20
MAX_VALID_PORT = 65536
# Guard against walking an enormous CIDR block (Nomad would walk it all).
_MAX_IPS_PER_NETWORK = 65536


class NetworkError(Exception):
    pass


class _StackedPorts:
    """Ports in use on one IP: a shared, read-only set plus this index's own."""

    __slots__ = ("base", "own")

    def __init__(self, base: set[int] | _StackedPorts) -> None:
        self.base = base
        self.own: set[int] = set()

    def __contains__(self, port: object) -> bool:
        return port in self.own or port in self.base

    def add(self, port: int) -> None:
        self.own.add(port)

    def __iter__(self) -> Iterator[int]:
        yield from self.base
        yield from self.own

    def __or__(self, other: set[int]) -> set[int]:
        return self.base | self.own | other


class NetworkIndex:
    def __init__(self) -> None:
        self.avail_networks: list[NetworkResource] = []
        self.avail_bandwidth: dict[str, int] = {}
        self.used_ports: dict[str, set[int] | _StackedPorts] = {}
        self.used_bandwidth: dict[str, int] = {}
        # IPs whose port set is shared with the index this one overlays.
        self._shared: Optional[set[str]] = None

    def copy(self) -> "NetworkIndex":
        """An independent copy (port sets copied)."""
        other = NetworkIndex()
        other.avail_networks = list(self.avail_networks)
        other.avail_bandwidth = dict(self.avail_bandwidth)
        other.used_ports = {ip: set(ports) for ip, ports in self.used_ports.items()}
        other.used_bandwidth = dict(self.used_bandwidth)
        return other

    def overlay(self) -> "NetworkIndex":
        """A copy in O(devices + IPs): port sets are shared with this index, which
        must not change afterwards, and stacked with the overlay's own on its first
        write to an IP."""
        other = NetworkIndex()
        other.avail_networks = self.avail_networks
        other.avail_bandwidth = self.avail_bandwidth
        other.used_ports = dict(self.used_ports)
        other.used_bandwidth = dict(self.used_bandwidth)
        other._shared = set(other.used_ports)
        return other

    def overcommitted(self) -> bool:
        avail = self.avail_bandwidth
        for dev, used in self.used_bandwidth.items():
            if used > avail.get(dev, 0):
                return True
        return False

    def set_node(self, node: Node) -> bool:
        """Index the node's networks and its reserved ports; True on a collision."""
        for n in (node.Resources.Networks if node.Resources else None) or ():
            if n.Device:
                self.avail_networks.append(n)
                self.avail_bandwidth[n.Device] = n.MBits or 0
        collide = False
        for n in (node.Reserved.Networks if node.Reserved else None) or ():
            if self.add_reserved(n):
                collide = True
        return collide

    def add_allocs(self, allocs: Iterable[Allocation]) -> bool:
        collide = False
        for alloc in allocs:
            tasks = alloc.TaskResources or {}
            for name in sorted(tasks):
                nets = tasks[name].Networks
                if nets and self.add_reserved(nets[0]):
                    collide = True
        return collide

    def add_reserved(self, n: NetworkResource) -> bool:
        used = self.used_ports.get(n.IP)
        if used is None:
            used = self.used_ports[n.IP] = set()
        elif self._shared and n.IP in self._shared:
            self._shared.discard(n.IP)
            used = self.used_ports[n.IP] = _StackedPorts(used)
        collide = False
        for port in list(n.ReservedPorts or ()) + list(n.DynamicPorts or ()):
            if port.Value < 0 or port.Value >= MAX_VALID_PORT:
                return True
            if port.Value in used:
                collide = True
            else:
                used.add(port.Value)
        self.used_bandwidth[n.Device] = self.used_bandwidth.get(n.Device, 0) + (n.MBits or 0)
        return collide

    def _yield_ips(self) -> Iterator[tuple[NetworkResource, str]]:
        for n in self.avail_networks:
            ips = _small_block(n.CIDR)
            if ips is not None:
                for ip in ips:
                    yield n, ip
                continue
            try:
                net = ipaddress.ip_network(n.CIDR, strict=False)
            except ValueError:
                continue
            for i, addr in enumerate(_all_addresses(net)):
                if i >= _MAX_IPS_PER_NETWORK:
                    break
                yield n, str(addr)

    def assign_network(self, ask: NetworkResource, rng: random.Random) -> NetworkResource:
        """An offer satisfying ``ask`` on one of the node's IPs, or NetworkError."""
        err = "no networks available"
        bandwidth_failed: set[int] = set()
        for n, ip in self._yield_ips():
            if id(n) in bandwidth_failed:
                continue  # same device, same answer
            avail = self.avail_bandwidth.get(n.Device, 0)
            used_bw = self.used_bandwidth.get(n.Device, 0)
            if used_bw + (ask.MBits or 0) > avail:
                err = "bandwidth exceeded"
                bandwidth_failed.add(id(n))
                continue
            used = self.used_ports.get(ip, set())
            bad = None
            for port in ask.ReservedPorts or ():
                if port.Value < 0 or port.Value >= MAX_VALID_PORT:
                    bad = f"invalid port {port.Value} (out of range)"
                    break
                if port.Value in used:
                    bad = "reserved port collision"
                    break
            if bad is not None:
                err = bad
                continue
            dyn = _dynamic_ports_stochastic(used, ask, rng)
            if dyn is None:
                dyn = _dynamic_ports_precise(used, ask, rng)
                if dyn is None:
                    err = "dynamic port selection failed"
                    continue
            dynamic = [evolve(p, Value=v) for p, v in zip(ask.DynamicPorts or (), dyn)]
            return NetworkResource(Device=n.Device, CIDR="", IP=ip, MBits=ask.MBits,
                                   ReservedPorts=list(ask.ReservedPorts) if ask.ReservedPorts else None,
                                   DynamicPorts=dynamic or None)
        raise NetworkError(err)


@functools.lru_cache(maxsize=1024)
def _small_block(cidr: str) -> Optional[tuple[str, ...]]:
    """The addresses of a block of at most 256 (parsed once per CIDR: every node
    visit walks its networks), or None for a larger or unparseable one."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    if net.num_addresses > 256:
        return None
    return tuple(str(a) for a in _all_addresses(net))


def _all_addresses(net: ipaddress.IPv4Network | ipaddress.IPv6Network
                   ) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    if net.num_addresses == 1:
        yield net.network_address
        return
    # Nomad walks from the masked address through the whole block.
    start = int(net.network_address)
    for i in range(net.num_addresses):
        yield ipaddress.ip_address(start + i)


def _reserved_values(ask: NetworkResource) -> set[int]:
    return {p.Value for p in ask.ReservedPorts or ()}


def _dynamic_ports_stochastic(used: set[int] | _StackedPorts, ask: NetworkResource, rng: random.Random
                              ) -> Optional[list[int]]:
    reserved = _reserved_values(ask)
    picked: list[int] = []
    for _ in ask.DynamicPorts or ():
        for _attempt in range(MAX_RAND_PORT_ATTEMPTS):
            port = MIN_DYNAMIC_PORT + rng.randrange(MAX_DYNAMIC_PORT - MIN_DYNAMIC_PORT)
            if port in used or port in reserved or port in picked:
                continue
            picked.append(port)
            break
        else:
            return None
    return picked


def _dynamic_ports_precise(used: set[int] | _StackedPorts, ask: NetworkResource, rng: random.Random
                           ) -> Optional[list[int]]:
    taken = used | _reserved_values(ask)
    available = [p for p in range(MIN_DYNAMIC_PORT, MAX_DYNAMIC_PORT + 1) if p not in taken]
    need = len(ask.DynamicPorts or ())
    if len(available) < need:
        return None
    for i in range(need):
        j = rng.randrange(len(available))
        available[i], available[j] = available[j], available[i]
    return available[:need]
