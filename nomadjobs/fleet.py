"""Simulated client nodes: what a fleet looks like to the scheduler.

A fleet is a list of :class:`NodeSpec` (plain data); :func:`build_node` turns one
into the ``Node`` Nomad's servers would hold for a client of that shape.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import attrs

from . import structs as s

ALL_DRIVERS = ("docker", "exec", "raw_exec", "java")


@attrs.frozen
class NodeSpec:
    name: str
    datacenter: str = "dc1"
    node_class: str = ""
    drivers: tuple[str, ...] = ALL_DRIVERS
    cpu_mhz: int = 4000
    memory_mb: int = 8192
    disk_mb: int = 100 * 1024
    iops: int = 150
    mbits: int = 1000
    ip: str = "127.0.0.1"
    device: str = "eth0"
    attributes: dict[str, str] = attrs.Factory(dict)
    meta: dict[str, str] = attrs.Factory(dict)
    #: Where the node's client agent answers (/v1/client/...); default ``<ip>:4646``.
    http_addr: str = ""


def default_fleet(size: int = 3) -> list[NodeSpec]:
    """A small cluster in dc1 offering docker, exec, raw_exec and java."""
    return [NodeSpec(name=f"node-{i + 1}", ip=f"10.0.0.{i + 1}") for i in range(size)]


def golden_fleet() -> list[NodeSpec]:
    """One dev node without docker, like the agent the golden transcripts came from."""
    return [NodeSpec(name="nomad-dev", drivers=("exec", "raw_exec", "java"), cpu_mhz=2400, memory_mb=7900)]


def fleet_by_name(name: str, size: Optional[int] = None) -> list[NodeSpec]:
    if name == "default":
        return default_fleet(size or 3)
    if name in ("golden", "dev"):
        return golden_fleet()
    if name == "large":
        return default_fleet(size or 100)
    raise ValueError(f"unknown fleet {name!r} (default, golden, large)")


def build_node(spec: NodeSpec, node_id: str, secret_id: str, computed_class: Callable[[s.Node], str],
               now_s: int) -> s.Node:
    attributes = {
        "kernel.name": "linux",
        "kernel.version": "4.19.0",
        "os.name": "debian",
        "os.version": "10",
        "os.signals": "SIGABRT,SIGALRM,SIGBUS,SIGCHLD,SIGCONT,SIGFPE,SIGHUP,SIGILL,SIGINT,SIGIO,SIGKILL,"
                      "SIGPIPE,SIGPROF,SIGQUIT,SIGSEGV,SIGSTOP,SIGSYS,SIGTERM,SIGTRAP,SIGTSTP,SIGTTIN,"
                      "SIGTTOU,SIGURG,SIGUSR1,SIGUSR2,SIGWINCH,SIGXCPU,SIGXFSZ",
        "arch": "amd64",
        "cpu.arch": "amd64",
        "cpu.numcores": str(max(1, spec.cpu_mhz // 1000)),
        "cpu.frequency": "1000",
        "cpu.totalcompute": str(spec.cpu_mhz),
        "cpu.modelname": "Simulated CPU",
        "memory.totalbytes": str(spec.memory_mb * 1024 * 1024),
        "unique.hostname": spec.name,
        "unique.network.ip-address": spec.ip,
        "unique.storage.volume": "/dev/sda1",
        "unique.storage.bytestotal": str(spec.disk_mb * 1024 * 1024),
        "unique.storage.bytesfree": str(spec.disk_mb * 1024 * 1024),
        "nomad.version": "0.7.1",
        "nomad.revision": "nomadjobs",
        "vault.version": "0.9.0",
    }
    for drv in spec.drivers:
        attributes[f"driver.{drv}"] = "1"
    if "docker" in spec.drivers:
        attributes["driver.docker.version"] = "17.12.0-ce"
    if "java" in spec.drivers:
        attributes["driver.java.version"] = "1.8.0"
    attributes.update(spec.attributes)
    node = s.Node(
        ID=node_id,
        SecretID=secret_id,
        Datacenter=spec.datacenter,
        Name=spec.name,
        HTTPAddr=spec.http_addr or f"{spec.ip}:4646",
        TLSEnabled=False,
        Attributes=attributes,
        Resources=s.Resources(CPU=spec.cpu_mhz, MemoryMB=spec.memory_mb, DiskMB=spec.disk_mb, IOPS=spec.iops,
                              Networks=[s.NetworkResource(Device=spec.device, CIDR=f"{spec.ip}/32", IP=spec.ip,
                                                          MBits=spec.mbits)]),
        Reserved=s.Resources(CPU=0, MemoryMB=0, DiskMB=0, IOPS=0, Networks=None),
        Links=None,
        Meta=dict(spec.meta) or None,
        NodeClass=spec.node_class,
        Drain=False,
        Status=s.NODE_STATUS_READY,
        StatusDescription="",
        StatusUpdatedAt=now_s,
    )
    return s.evolve(node, ComputedClass=computed_class(node))


def node_specs(specs: Sequence[NodeSpec] | str | None) -> list[NodeSpec]:
    if specs is None:
        return default_fleet()
    if isinstance(specs, str):
        return fleet_by_name(specs)
    return list(specs)


def agent_node(nodes: Sequence[s.Node]) -> Optional[s.Node]:
    """The node of the agent that serves the HTTP API: the simulated nodes share its
    address, and the client half of a dev agent is the first node to register."""
    return min(nodes, key=lambda n: (n.CreateIndex, n.ID)) if nodes else None
