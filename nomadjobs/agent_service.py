"""The agent, operator and metrics endpoints of one simulated dev agent (server and
client in one), as v0.7.1 answers them (``command/agent/agent_endpoint.go``,
``operator_endpoint.go``, ``metrics_endpoint.go``; ``nomad/status_endpoint.go``,
``nomad/operator_endpoint.go``).

The server group is :meth:`AgentService.servers_in_group`: this server alone, or the
Raft group of a replicated one; members, ``status/peers`` and the Raft
configuration follow it.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from . import acl as aclmod
from . import structs as s
from .core.protocol import Core
from .errors import NomadError, bad_request, not_found, permission_denied
from .jobs import JobsService
from .query import QueryOptions
from .services import SERF_ADDR, SERF_PORT, SERVER_NAME, group_servers, server_member, this_server

__all__ = ["AgentService"]

RPC_PORT = "4647"
METRICS_INTERVAL_NS = 10 * 10**9  # the agent's in-memory sink (command/agent/command.go)


class AgentService:
    """One method per endpoint; errors are :class:`NomadError` with Nomad's text."""

    def __init__(self, core: Core, jobs: JobsService) -> None:
        self.core = core
        self.jobs = jobs
        #: The client's servers (``/v1/agent/servers``), as ip:port; None: the group's.
        self.client_servers: Optional[list[str]] = None
        self.started_ns = time.time_ns()

    # --- checks -----------------------------------------------------------------------------
    def _acl(self, token: str) -> Optional[aclmod.ACL]:
        return aclmod.resolve(self.core.snapshot(), True, token) if self.core.acl_enabled else None

    def _require(self, token: str, allowed: str) -> None:
        acl = self._acl(token)
        if acl is not None and not getattr(acl, allowed)():
            raise permission_denied()

    def _require_management(self, token: str) -> None:
        acl = self._acl(token)
        if acl is not None and not acl.management:
            raise permission_denied()

    # --- the server group -----------------------------------------------------------------
    def servers_in_group(self) -> list[dict[str, Any]]:
        """The servers of the Raft group: (member, RPC address, leader?)."""
        servers = group_servers(self.core)
        return [{"member": server_member(self.core.region, self.core.datacenter, server, len(servers)),
                 "rpc": server.rpc, "leader": server.leader} for server in servers]

    def members(self, q: QueryOptions = QueryOptions()) -> dict[str, Any]:
        """GET /v1/agent/members (Status.Members; node read; never forwarded)."""
        self._require(q.token, "allow_node_read")
        return {"ServerName": this_server(self.core).name, "ServerRegion": self.core.region, "ServerDC": self.core.datacenter,
                "Members": [server["member"] for server in self.servers_in_group()]}

    def raft_configuration(self, q: QueryOptions = QueryOptions()) -> dict[str, Any]:
        """GET /v1/operator/raft/configuration (management)."""
        self.jobs._check_region(q.region)
        self._require_management(q.token)
        servers = [{"Address": server["rpc"], "ID": server["rpc"], "Leader": server["leader"],
                    "Node": server["member"]["Name"], "Voter": True} for server in self.servers_in_group()]
        return {"Index": 1, "Servers": servers}

    def raft_remove_peer(self, address: str, q: QueryOptions = QueryOptions()) -> None:
        """DELETE /v1/operator/raft/peer?address= (management)."""
        self.jobs._check_region(q.region)
        self._require_management(q.token)
        if address not in {server["rpc"] for server in self.servers_in_group()}:
            raise NomadError(f'address "{address}" was not found in the Raft configuration')
        if self.core.replica is not None:
            # A group's servers are given at start (--peers); PySyncObj's membership
            # changes are not used.
            raise NomadError("the servers of a nomadjobs Raft group are fixed at start: "
                             f"{address} cannot be removed")
        # The only server: Nomad would remove it and lose its leader; this one stays.

    # --- the client agent ---------------------------------------------------------------------
    def list_servers(self, token: str = "") -> list[str]:
        """GET /v1/agent/servers (agent read)."""
        self._require(token, "allow_agent_read")
        return sorted(self._client_servers())

    def _client_servers(self) -> list[str]:
        if self.client_servers is not None:
            return self.client_servers
        return [server.rpc for server in group_servers(self.core)]

    def update_servers(self, addresses: list[str], token: str = "") -> None:
        """PUT /v1/agent/servers?address=... (agent write): replaces the list."""
        if not addresses:
            raise bad_request("missing server address")
        self._require(token, "allow_agent_write")
        # resolveServer: a missing port is Nomad's RPC port.
        self.client_servers = [a if ":" in a else f"{a}:{RPC_PORT}" for a in addresses]

    def join(self, addresses: list[str]) -> dict[str, Any]:
        """PUT /v1/agent/join?address=... (no ACL): serf join. Only this server's own
        gossip address answers; a failure is reported in the body, as Nomad does."""
        if not addresses:
            raise bad_request("missing address to join")
        joined = sum(1 for a in addresses if (a if ":" in a else f"{a}:{SERF_PORT}") == SERF_ADDR)
        if joined:
            return {"error": "", "num_joined": joined}
        errors = [f"Failed to join {a.rsplit(':', 1)[0]}: dial tcp {a if ':' in a else f'{a}:{SERF_PORT}'}: "
                  f"connect: connection refused" for a in addresses]
        text = f"{len(errors)} error(s) occurred:\n\n" + "\n".join(f"* {e}" for e in errors)
        return {"error": text, "num_joined": 0}

    def force_leave(self, node: str, token: str = "") -> None:
        """PUT /v1/agent/force-leave?node= (agent write): nothing to remove here."""
        if not node:
            raise bad_request("missing node to force leave")
        self._require(token, "allow_agent_write")

    def health(self, kinds: Optional[list[str]]) -> dict[str, Any]:
        """GET /v1/agent/health (no ACL): the client has servers, the server a leader.
        ``kinds`` is the ``type`` parameters (None: both)."""
        want = {"client", "server"} if kinds is None else set(kinds)
        out: dict[str, Any] = {}
        if "client" in want:
            ok = bool(self._client_servers())
            out["client"] = {"message": "ok" if ok else "no known servers", "ok": ok}
        if "server" in want:
            # Status.Leader, forwarded to the leader: with none, Nomad's ErrNoLeader.
            leader = any(server.leader for server in group_servers(self.core))
            out["server"] = {"message": "ok" if leader else "No cluster leader", "ok": leader}
        return out

    def keyring(self, operation: str, token: str = "") -> None:
        """/v1/agent/keyring/<op> (agent write): gossip encryption is off on this agent,
        so every operation fails as a dev agent's does."""
        if operation not in ("list", "install", "use", "remove"):
            raise not_found("resource not found")
        self._require(token, "allow_agent_write")
        raise NomadError("1/1 nodes reported failure")

    # --- metrics --------------------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """GET /v1/metrics (no ACL): the in-memory sink's shape, gauges from the state."""
        core = self.core
        now = core.now_ns()
        state = core.snapshot()
        host = {"host": SERVER_NAME}
        gauges: list[dict[str, Any]] = []

        def gauge(name: str, value: float, labels: Optional[dict[str, str]] = None) -> None:
            gauges.append({"Labels": {**(labels or {}), **host}, "Name": name, "Value": float(value)})

        for node in sorted(state.nodes(), key=lambda n: n.ID):
            labels = {"datacenter": node.Datacenter or "", "node_id": node.ID or ""}
            allocs = state.allocs_by_node(node.ID)
            live = [a for a in allocs if not a.terminal()]
            used = [0, 0, 0, 0]
            for alloc in live:
                r = alloc.Resources or s.Resources()
                used = [used[0] + (r.CPU or 0), used[1] + (r.DiskMB or 0), used[2] + (r.IOPS or 0),
                        used[3] + (r.MemoryMB or 0)]
            cap = node.Resources or s.Resources()
            total = [cap.CPU or 0, cap.DiskMB or 0, cap.IOPS or 0, cap.MemoryMB or 0]
            for kind, u, t in zip(("cpu", "disk", "iops", "memory"), used, total):
                gauge(f"nomad.client.allocated.{kind}", u, labels)
                gauge(f"nomad.client.unallocated.{kind}", t - u, labels)
            counts = {"blocked": 0, "migrating": 0, "pending": 0, "running": 0, "terminal": 0}
            for alloc in allocs:
                if alloc.terminal():
                    counts["terminal"] += 1
                elif alloc.ClientStatus == s.ALLOC_CLIENT_RUNNING:
                    counts["running"] += 1
                else:
                    counts["pending"] += 1
            for kind, n in counts.items():
                gauge(f"nomad.client.allocations.{kind}", n, labels)
        blocked = sum(1 for ev in state.evals() if ev.Status == s.EVAL_STATUS_BLOCKED)
        gauge("nomad.nomad.blocked_evals.total_blocked", blocked)
        gauge("nomad.nomad.blocked_evals.total_escaped", 0)
        gauge("nomad.nomad.broker.total_ready", sum(1 for ev in state.evals() if ev.Status == s.EVAL_STATUS_PENDING))
        gauge("nomad.nomad.broker.total_unacked", 0)
        gauge("nomad.nomad.heartbeat.active", sum(1 for n in state.nodes() if n.Status == s.NODE_STATUS_READY))
        gauge("nomad.nomad.plan.queue_depth", 0)
        gauge("nomad.uptime", max(0, (time.time_ns() - self.started_ns) // 10**9))
        gauges.sort(key=lambda g: (g["Name"], sorted(g["Labels"].items())))
        interval = now - now % METRICS_INTERVAL_NS
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(interval // 10**9))
        return {"Counters": [], "Gauges": gauges, "Points": [], "Samples": [], "Timestamp": stamp}
