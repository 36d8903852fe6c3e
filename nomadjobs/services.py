"""The endpoints around the Jobs API that real clients call next.

Evaluations, allocations, deployments, nodes, prefix search, status, regions and
the agent's self description, with Nomad v0.7.1's shapes, indexes and messages
(``nomad/*_endpoint.go`` and ``command/agent/*_endpoint.go``). Reads go through the
Jobs service's blocking query, so ``index``/``wait`` behave the same everywhere;
deployment writes go through :class:`nomadjobs.lifecycle.Lifecycle`.
Like the Jobs service, the checks Nomad's HTTP layer makes (the 400s) live here.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

import attrs

from . import acl as aclmod
from . import fsm as cmds
from . import structs as s
from .core.protocol import Core
from .errors import NomadError, bad_request, not_found, permission_denied
from .fleet import agent_node
from .jobs import JobsService, alloc_stub
from .lifecycle import Lifecycle
from .golang.strconv import parse_bool
from .query import QueryMeta, QueryOptions, WriteOptions
from .state.store import ALLOCS, DEPLOYMENT, EVALS, JOBS, NODES, StateReader

T = TypeVar("T")

NOMAD_VERSION = "0.7.1"
LEADER_RPC_ADDR = "127.0.0.1:4647"
SERVER_NAME = "nomadjobs"
SERF_HOST, SERF_PORT = "127.0.0.1", 4648
SERF_ADDR = f"{SERF_HOST}:{SERF_PORT}"
SEARCH_TRUNCATE_LIMIT = 20  # nomad/search_endpoint.go truncateLimit

# Search contexts in Nomad's order (structs.Context values; "deployment" is singular).
CTX_ALLOCS, CTX_JOBS, CTX_NODES, CTX_EVALS, CTX_DEPLOYMENTS, CTX_ALL = (
    "allocs", "jobs", "nodes", "evals", "deployment", "all")
SEARCH_CONTEXTS = (CTX_ALLOCS, CTX_JOBS, CTX_NODES, CTX_EVALS, CTX_DEPLOYMENTS)
CONTEXT_TABLE = {CTX_ALLOCS: ALLOCS, CTX_JOBS: JOBS, CTX_NODES: NODES, CTX_EVALS: EVALS,
                 CTX_DEPLOYMENTS: DEPLOYMENT}


class UUIDPrefixError(ValueError):
    """go-memdb's UUIDFieldIndex refusing a prefix; ``str()`` is its message."""


def uuid_prefix(prefix: str) -> str:
    """Validate an ID prefix the way go-memdb's UUID index does and return it in the
    canonical hyphenated, lower-case form used to scan the tables (memdb compares the
    decoded bytes: hyphens may sit anywhere and hex case does not matter)."""
    if len(prefix) > 36:
        raise UUIDPrefixError(f"Invalid UUID length. UUID have 36 characters; got {len(prefix)}")
    hyphens = prefix.count("-")
    if hyphens > 4:
        raise UUIDPrefixError(f'UUID should have maximum of 4 "-"; got {hyphens}')
    digits = prefix.replace("-", "")
    if len(digits) % 2:
        raise UUIDPrefixError("Input (without hyphens) must be even length")
    for ch in digits:
        if ch not in "0123456789abcdefABCDEF":
            # Go's hex.InvalidByteError prints the byte with %#U.
            raise UUIDPrefixError(f"Invalid UUID: encoding/hex: invalid byte: U+{ord(ch):04X} '{ch}'")
    digits = digits.lower()
    out = []
    for i, ch in enumerate(digits):
        if i in (8, 12, 16, 20):
            out.append("-")
        out.append(ch)
    return "".join(out)


def round_uuid_down_if_odd(prefix: str, context: str) -> str:
    """Search's roundUUIDDownIfOdd: an odd number of hex digits loses its last one
    (jobs excepted; note Nomad decides by the *requested* context)."""
    if context == CTX_JOBS:
        return prefix
    if (len(prefix) - prefix.count("-")) % 2 == 0:
        return prefix
    return prefix[:-1]


class ClusterService:
    """One method per endpoint, taking :class:`QueryOptions`/:class:`WriteOptions`
    and returning models (reads: ``(model, QueryMeta)``); errors are
    :class:`NomadError` with Nomad's text and status."""

    def __init__(self, core: Core, jobs: JobsService, lifecycle: Lifecycle) -> None:
        self.core = core
        self.jobs = jobs
        self.lifecycle = lifecycle
        self.started_ns = time.time_ns()

    # --- shared -------------------------------------------------------------------------

    def _check_region(self, region: str) -> None:
        if region and region != self.core.region:
            raise NomadError("No path to region")

    def _acl(self, token: str) -> aclmod.ACL:
        return aclmod.resolve(self.core.snapshot(), self.core.acl_enabled, token)

    def _require(self, namespace: str, token: str, capability: str) -> None:
        if self.core.acl_enabled:  # else everything is allowed: no state to read
            aclmod.require(self._acl(token), namespace, capability)

    def _read_acl(self, q: QueryOptions, capability: str) -> None:
        # Every RPC handler forwards to the request's region (or fails) before it
        # resolves the token: "No path to region" wins over "Permission denied".
        self._check_region(q.region)
        self._require(q.namespace, q.token, capability)

    def _read_node_acl(self, q: QueryOptions) -> None:
        self._check_region(q.region)  # as _read_acl: the region first
        self._require_node_read(q.token)

    def _require_node_read(self, token: str) -> None:
        if self.core.acl_enabled and not self._acl(token).allow_node_read():
            raise permission_denied()

    def _require_agent_read(self, token: str) -> None:
        if self.core.acl_enabled and not self._acl(token).allow_agent_read():
            raise permission_denied()

    def _blocking(self, q: QueryOptions, tables: Iterable[str],
                  run: Callable[[StateReader], tuple[T, int]]) -> tuple[T, QueryMeta]:
        return self.jobs.blocking_query(q, tables, run)

    @staticmethod
    def _by_id_prefix(q: QueryOptions, what: str, scan: Callable[[str], Iterable[Any]],
                      everything: Callable[[], Iterable[Any]]) -> Iterator[Any]:
        """A table's objects, restricted to ``q.prefix`` through the UUID index when given."""
        if not q.prefix:
            return iter(everything())
        try:
            prefix = uuid_prefix(q.prefix)
        except UUIDPrefixError as exc:
            raise NomadError(f"{what} lookup failed: index error: {exc}") from None
        return iter(scan(prefix))

    def _get_one(self, q: QueryOptions, table: str, lookup: Callable[[StateReader], Any], what: str) -> tuple[Any, QueryMeta]:
        """A blocking read of one object by ID: its ModifyIndex, or the table's index
        (set on the 404 too, as Nomad sets the header before deciding)."""
        def run(state: StateReader) -> tuple[Any, int]:
            obj = lookup(state)
            return obj, (obj.ModifyIndex if obj is not None else state.table_index(table))

        obj, meta = self._blocking(q, (table,), run)
        if obj is None:
            raise not_found(f"{what} not found", meta.index)
        return obj, meta

    # --- evaluations ----------------------------------------------------------------------
    def list_evals(self, q: QueryOptions) -> tuple[list[s.Evaluation], QueryMeta]:
        """GET /v1/evaluations (Eval.List)."""
        self._read_acl(q, aclmod.CAP_READ_JOB)

        def run(state: StateReader) -> tuple[list[s.Evaluation], int]:
            evals = self._by_id_prefix(q, "eval", state.evals_by_prefix, state.evals)
            return [e for e in evals if e.Namespace == q.namespace], state.table_index(EVALS)

        return self._blocking(q, (EVALS,), run)

    def get_eval(self, eval_id: str, q: QueryOptions) -> tuple[s.Evaluation, QueryMeta]:
        """GET /v1/evaluation/:id (Eval.GetEval); 404 ``eval not found``."""
        self._read_acl(q, aclmod.CAP_READ_JOB)
        return self._get_one(q, EVALS, lambda st: st.eval_by_id(eval_id), "eval")

    def eval_allocations(self, eval_id: str, q: QueryOptions) -> tuple[list[s.AllocListStub], QueryMeta]:
        """GET /v1/evaluation/:id/allocations (Eval.Allocations)."""
        self._read_acl(q, aclmod.CAP_READ_JOB)

        def run(state: StateReader) -> tuple[list[s.AllocListStub], int]:
            allocs = sorted(state.allocs_by_eval(eval_id), key=lambda a: a.ID)
            return [alloc_stub(a) for a in allocs], state.table_index(ALLOCS)

        return self._blocking(q, (ALLOCS,), run)

    # --- allocations ----------------------------------------------------------------------
    def list_allocs(self, q: QueryOptions) -> tuple[list[s.AllocListStub], QueryMeta]:
        """GET /v1/allocations (Alloc.List)."""
        self._read_acl(q, aclmod.CAP_READ_JOB)

        def run(state: StateReader) -> tuple[list[s.AllocListStub], int]:
            allocs = self._by_id_prefix(q, "alloc", state.allocs_by_prefix, state.allocs)
            return [alloc_stub(a) for a in allocs if a.Namespace == q.namespace], state.table_index(ALLOCS)

        return self._blocking(q, (ALLOCS,), run)

    def get_alloc(self, alloc_id: str, q: QueryOptions) -> tuple[s.Allocation, QueryMeta]:
        """GET /v1/allocation/:id (Alloc.GetAlloc); 404 ``alloc not found``. A
        dispatched job's payload is returned decompressed, as Nomad's agent does."""
        self._read_acl(q, aclmod.CAP_READ_JOB)
        alloc, meta = self._get_one(q, ALLOCS, lambda st: st.alloc_by_id(alloc_id), "alloc")
        if alloc.Job is not None and alloc.Job.Payload:
            from .jobs import with_decompressed_payload
            alloc = attrs.evolve(alloc, Job=with_decompressed_payload(alloc.Job))
        return alloc, meta

    # --- deployments --------------------------------------------------------------------------
    def list_deployments(self, q: QueryOptions) -> tuple[list[s.Deployment], QueryMeta]:
        """GET /v1/deployments (Deployment.List)."""
        self._read_acl(q, aclmod.CAP_READ_JOB)

        def run(state: StateReader) -> tuple[list[s.Deployment], int]:
            found = self._by_id_prefix(q, "deployment", state.deployments_by_prefix, state.deployments)
            return [d for d in found if d.Namespace == q.namespace], state.table_index(DEPLOYMENT)

        return self._blocking(q, (DEPLOYMENT,), run)

    def get_deployment(self, deployment_id: str, q: QueryOptions) -> tuple[s.Deployment, QueryMeta]:
        """GET /v1/deployment/:id (Deployment.GetDeployment); 404 ``deployment not found``."""
        self._read_acl(q, aclmod.CAP_READ_JOB)
        return self._get_one(q, DEPLOYMENT, lambda st: st.deployment_by_id(deployment_id), "deployment")

    def deployment_allocations(self, deployment_id: str, q: QueryOptions) -> tuple[list[s.AllocListStub], QueryMeta]:
        """GET /v1/deployment/allocations/:id (Deployment.Allocations)."""
        self._read_acl(q, aclmod.CAP_READ_JOB)

        def run(state: StateReader) -> tuple[list[s.AllocListStub], int]:
            allocs = sorted(state.allocs_by_deployment(deployment_id), key=lambda a: a.ID)
            return [alloc_stub(a) for a in allocs], state.table_index(ALLOCS)

        return self._blocking(q, (ALLOCS,), run)

    def _deployment_write(self, w: WriteOptions, body_region: str = "", body_namespace: str = "",
                          body_token: str = "") -> Lifecycle:
        self._check_region(w.region or body_region)
        namespace = w.namespace or body_namespace or s.DEFAULT_NAMESPACE
        self._require(namespace, w.token or body_token, aclmod.CAP_SUBMIT_JOB)
        return self.lifecycle

    @staticmethod
    def _check_body_id(path_id: str, body_id: str) -> None:
        if body_id == "":
            raise bad_request("DeploymentID must be specified")
        if body_id != path_id:
            raise bad_request("Deployment ID does not match")

    def fail_deployment(self, deployment_id: str, w: WriteOptions = WriteOptions()) -> s.DeploymentUpdateResponse:
        """PUT/POST /v1/deployment/fail/:id (no body)."""
        return self._deployment_write(w).fail_deployment(deployment_id)

    def pause_deployment(self, deployment_id: str, body: s.DeploymentPauseRequest,
                         w: WriteOptions = WriteOptions()) -> s.DeploymentUpdateResponse:
        """PUT/POST /v1/deployment/pause/:id with ``{"DeploymentID", "Pause"}``."""
        self._check_body_id(deployment_id, body.DeploymentID)
        lifecycle = self._deployment_write(w, body.Region, body.Namespace, body.AuthToken)
        return lifecycle.pause_deployment(deployment_id, body.Pause)

    def promote_deployment(self, deployment_id: str, body: s.DeploymentPromoteRequest,
                           w: WriteOptions = WriteOptions()) -> s.DeploymentUpdateResponse:
        """PUT/POST /v1/deployment/promote/:id with ``{"DeploymentID", "All", "Groups"}``."""
        self._check_body_id(deployment_id, body.DeploymentID)
        lifecycle = self._deployment_write(w, body.Region, body.Namespace, body.AuthToken)
        return lifecycle.promote_deployment(deployment_id, groups=body.Groups, all=body.All)

    def set_alloc_health(self, deployment_id: str, body: s.DeploymentAllocHealthRequest,
                         w: WriteOptions = WriteOptions()) -> s.DeploymentUpdateResponse:
        """PUT/POST /v1/deployment/allocation-health/:id."""
        self._check_body_id(deployment_id, body.DeploymentID)
        lifecycle = self._deployment_write(w, body.Region, body.Namespace, body.AuthToken)
        return lifecycle.set_alloc_health(deployment_id, body.HealthyAllocationIDs or (),
                                        body.UnhealthyAllocationIDs or ())

    # --- nodes ---------------------------------------------------------------------------------
    def list_nodes(self, q: QueryOptions) -> tuple[list[s.NodeListStub], QueryMeta]:
        """GET /v1/nodes (Node.List)."""
        self._read_node_acl(q)

        def run(state: StateReader) -> tuple[list[s.NodeListStub], int]:
            nodes = self._by_id_prefix(q, "node", state.nodes_by_prefix, state.nodes)
            return [node_stub(n) for n in nodes], state.table_index(NODES)

        return self._blocking(q, (NODES,), run)

    def get_node(self, node_id: str, q: QueryOptions) -> tuple[s.Node, QueryMeta]:
        """GET /v1/node/:id (Node.GetNode); 404 ``node not found``. The node's
        SecretID is never returned."""
        self._read_node_acl(q)
        node, meta = self._get_one(q, NODES, lambda st: st.node_by_id(node_id), "node")
        return attrs.evolve(node, SecretID=""), meta

    def node_allocations(self, node_id: str, q: QueryOptions) -> tuple[list[s.Allocation], QueryMeta]:
        """GET /v1/node/:id/allocations (Node.GetAllocs): full allocations; the index
        is the newest alloc's ModifyIndex, else the allocs table's (never 0)."""
        self._read_node_acl(q)

        def run(state: StateReader) -> tuple[list[s.Allocation], int]:
            allocs = sorted(state.allocs_by_node(node_id), key=lambda a: a.ID)
            if allocs:
                return allocs, max(a.ModifyIndex for a in allocs)
            return [], state.table_index(ALLOCS) or 1

        return self._blocking(q, (ALLOCS,), run)

    # --- search -----------------------------------------------------------------------------------
    def search(self, body: s.SearchRequest, q: QueryOptions = QueryOptions()) -> tuple[s.SearchResponse, QueryMeta]:
        """PUT/POST /v1/search (Search.PrefixSearch): IDs starting with ``Prefix`` per
        context, at most 20 each, ``Truncations`` saying whether more exist."""
        # No region check: v0.7.1's Search.PrefixSearch never forwards, so any region
        # (query string or body) is answered here.
        # The query string wins when it names a namespace (the shim copies it into the
        # body); else the body's; else default.
        namespace = q.namespace if q.namespace != s.DEFAULT_NAMESPACE else (body.Namespace or q.namespace)
        token = q.token or body.AuthToken
        acl: Optional[aclmod.ACL] = self._acl(token) if self.core.acl_enabled else None
        if acl is not None and not _sufficient_search_perms(acl, namespace, body.Context):
            raise permission_denied()
        contexts = _search_contexts(acl, namespace, body.Context)
        state = self.core.snapshot()
        lookup_prefix = round_uuid_down_if_odd(body.Prefix, body.Context)
        matches: dict[str, Optional[list[str]]] = {}
        truncations: dict[str, bool] = {}
        index = 0
        for ctx in contexts:
            if ctx not in CONTEXT_TABLE:
                raise NomadError(f"context must be one of [{' '.join(SEARCH_CONTEXTS)}] or 'all' for all "
                                 f"contexts; got \"{ctx}\"")
            try:
                candidates = _search_iter(state, ctx, namespace, lookup_prefix)
            except UUIDPrefixError:
                candidates = None  # a job name is no UUID: that context is skipped silently
            if candidates is not None:
                found, truncated = _prefix_matches(candidates, body.Prefix)
                matches[ctx] = found
                truncations[ctx] = truncated
            index = max(index, state.table_index(CONTEXT_TABLE[ctx]))
        resp = s.SearchResponse(Matches=matches, Truncations=truncations, Index=index, LastContact=0,
                                KnownLeader=True)
        return resp, QueryMeta(index=index)

    # --- node writes (nomad/node_endpoint.go) ----------------------------------------------
    def _node_for_write(self, node_id: str, token: str, region: str) -> s.Node:
        self._check_region(region)
        if self.core.acl_enabled and not self._acl(token).allow_node_write():
            raise permission_denied()
        node = self.core.snapshot().node_by_id(node_id)
        if node is None:
            raise NomadError("node not found" if len(node_id) == 36 else
                             "node lookup failed: index error: UUID must be 36 characters")
        return node

    def drain_node(self, node_id: str, enable: Optional[str], w: WriteOptions = WriteOptions()) -> dict[str, Any]:
        """PUT /v1/node/:id/drain?enable= (Node.UpdateDrain, node write): a write only
        when the drain changes; the node's jobs are evaluated either way."""
        if not enable:
            raise bad_request("missing enable value")
        try:
            drain = parse_bool(enable)
        except ValueError:
            raise bad_request("invalid enable value") from None
        with self.core.lock:
            node = self._node_for_write(node_id, w.token, w.region)
            index = 0
            if bool(node.Drain) != drain:
                result = self.core.apply(cmds.NodeDrainUpdate(node_id, drain))
                if result.error is not None:
                    raise NomadError(result.error)
                index = result.index
            eval_ids = self.lifecycle.evaluate_node(node_id)
            eval_index = self.core.snapshot().latest_index() if eval_ids else 0
            self.core.process_evals()
        return {"EvalIDs": eval_ids or None, "EvalCreateIndex": eval_index, "NodeModifyIndex": index,
                "Index": index, "LastContact": 0, "KnownLeader": False}

    def evaluate_node(self, node_id: str, w: WriteOptions = WriteOptions()) -> dict[str, Any]:
        """PUT /v1/node/:id/evaluate (Node.Evaluate, node write)."""
        with self.core.lock:
            self._node_for_write(node_id, w.token, w.region)
            eval_ids = self.lifecycle.evaluate_node(node_id)
            eval_index = self.core.snapshot().latest_index() if eval_ids else 0
            self.core.process_evals()
            nodes = len(self.core.snapshot().nodes())
        return {"HeartbeatTTL": 0, "EvalIDs": eval_ids or None, "EvalCreateIndex": eval_index, "NodeModifyIndex": 0,
                "LeaderRPCAddr": LEADER_RPC_ADDR, "NumNodes": nodes,
                "Servers": [{"RPCAdvertiseAddr": LEADER_RPC_ADDR, "RPCMajorVersion": 1, "RPCMinorVersion": 1,
                             "Datacenter": self.core.datacenter}],
                "Index": eval_index, "LastContact": 0, "KnownLeader": False}

    def purge_node(self, node_id: str, w: WriteOptions = WriteOptions()) -> dict[str, Any]:
        """PUT /v1/node/:id/purge (Node.Deregister, node write): the node goes and its
        jobs are evaluated (its allocations are lost)."""
        with self.core.lock:
            self._node_for_write(node_id, w.token, w.region)
            result, eval_ids = self.lifecycle.nodes.deregister(node_id)
            if result.error is not None:
                raise NomadError(result.error)
            eval_index = self.core.snapshot().latest_index() if eval_ids else 0
            self.core.process_evals()
        return {"HeartbeatTTL": 0, "EvalIDs": eval_ids or None, "EvalCreateIndex": eval_index,
                "NodeModifyIndex": result.index, "LeaderRPCAddr": "", "NumNodes": 0, "Servers": None,
                "Index": result.index, "LastContact": 0, "KnownLeader": False}

    # --- system ---------------------------------------------------------------------------------
    def _require_management(self, token: str) -> None:
        if self.core.acl_enabled and not self._acl(token).management:
            raise permission_denied()

    def system_gc(self, q: QueryOptions = QueryOptions()) -> None:
        """PUT /v1/system/gc (System.GarbageCollect): a forced collection, management
        only. Nomad answers before its worker runs it; here it has run."""
        self._check_region(q.region)
        self._require_management(q.token)
        self.lifecycle.gc.force()

    def reconcile_summaries(self, q: QueryOptions = QueryOptions()) -> None:
        """PUT /v1/system/reconcile/summaries (System.ReconcileJobSummaries): every job
        summary rebuilt from its allocations, plus what a dry run of the job would still
        place (Queued), management only."""
        self._check_region(q.region)
        self._require_management(q.token)
        with self.core.lock:
            result = self.core.apply(cmds.ReconcileJobSummaries(queued=self.jobs.dry_run_queued()))
        if result.error is not None:
            raise NomadError(result.error)

    def client_gc(self, token: str = "") -> None:
        """/v1/client/gc (any method): the client agent drops the directories of its
        finished allocations, which the simulated clients do not have; node write."""
        if self.core.acl_enabled and not self._acl(token).allow_node_write():
            raise permission_denied()

    # --- status, regions, agent -------------------------------------------------------------------
    def status_leader(self, q: QueryOptions = QueryOptions()) -> str:
        """GET /v1/status/leader: the leader's RPC address ("" while there is none)."""
        self._check_region(q.region)
        return next((server.rpc for server in group_servers(self.core) if server.leader), "")

    def status_peers(self, q: QueryOptions = QueryOptions()) -> list[str]:
        """GET /v1/status/peers: the Raft peers' RPC addresses."""
        self._check_region(q.region)
        return [server.rpc for server in group_servers(self.core)]

    def regions(self, q: QueryOptions = QueryOptions()) -> list[str]:
        """GET /v1/regions."""
        self._check_region(q.region)
        return [self.core.region]

    def agent_self(self, token: str = "") -> dict[str, Any]:
        """GET /v1/agent/self: a plausible dev agent (server and client in one)."""
        self._require_agent_read(token)
        return agent_self(self.core, self.started_ns)


# --- helpers ------------------------------------------------------------------------------------

def node_stub(node: s.Node) -> s.NodeListStub:
    return s.NodeListStub(ID=node.ID, Datacenter=node.Datacenter, Name=node.Name, NodeClass=node.NodeClass,
                          Version=(node.Attributes or {}).get("nomad.version", ""), Drain=node.Drain,
                          Status=node.Status, StatusDescription=node.StatusDescription,
                          CreateIndex=node.CreateIndex, ModifyIndex=node.ModifyIndex)


def _sufficient_search_perms(acl: aclmod.ACL, namespace: str, context: str) -> bool:
    node_read = acl.allow_node_read()
    job_read = acl.allow(namespace, aclmod.CAP_READ_JOB)
    if not node_read and not job_read:
        return False
    if not node_read and context == CTX_NODES:
        return False
    if not job_read and context != CTX_NODES:
        return False
    return True


def _search_contexts(acl: Optional[aclmod.ACL], namespace: str, context: str) -> list[str]:
    wanted = list(SEARCH_CONTEXTS) if context == CTX_ALL else [context]
    if acl is None:
        return wanted
    job_read = acl.allow(namespace, aclmod.CAP_READ_JOB)
    allowed = []
    for ctx in wanted:
        if ctx in (CTX_ALLOCS, CTX_JOBS, CTX_EVALS, CTX_DEPLOYMENTS) and job_read:
            allowed.append(ctx)
        elif ctx == CTX_NODES and acl.allow_node_read():
            allowed.append(ctx)
    return allowed


def _search_iter(state: StateReader, ctx: str, namespace: str, prefix: str) -> Iterator[str]:
    """IDs in the context's ID-prefix index order. Raises UUIDPrefixError like memdb."""
    if ctx == CTX_JOBS:
        return (j.ID or "" for j in state.jobs_by_prefix(namespace, prefix))
    scan = uuid_prefix(prefix)
    if ctx == CTX_EVALS:
        return (e.ID for e in state.evals_by_prefix(scan) if e.Namespace == namespace)
    if ctx == CTX_ALLOCS:
        return (a.ID for a in state.allocs_by_prefix(scan) if a.Namespace == namespace)
    if ctx == CTX_DEPLOYMENTS:
        return (d.ID for d in state.deployments_by_prefix(scan) if d.Namespace == namespace)
    return (n.ID for n in state.nodes_by_prefix(scan))


def _prefix_matches(ids: Iterator[str], prefix: str) -> tuple[Optional[list[str]], bool]:
    """getMatches: look at no more than 20 candidates, keep those with the full
    prefix, and report whether a 21st candidate exists."""
    found: list[str] = []
    for _ in range(SEARCH_TRUNCATE_LIMIT):
        ident: Optional[str] = next(ids, None)
        if ident is None:
            break
        if ident.startswith(prefix):
            found.append(ident)
    return (found or None), next(ids, None) is not None


@attrs.frozen
class GroupServer:
    """One server of the Raft group, as the status and agent endpoints show it."""

    name: str
    rpc: str  # its RPC address: the Raft address of a replicated server
    leader: bool
    alive: bool
    is_self: bool


def group_servers(core: Core) -> list[GroupServer]:
    """The servers of this server's group: itself alone, or its Raft peers, named
    ``nomadjobs-1``... in the order of their addresses."""
    replica = core.replica
    if replica is None:
        return [GroupServer(SERVER_NAME, LEADER_RPC_ADDR, True, True, True)]
    leader = replica.leader_addr()
    mine = replica.settings.bind
    return [GroupServer(f"{SERVER_NAME}-{number}", addr, addr == leader, addr == mine or replica.reachable(addr),
                        addr == mine)
            for number, addr in enumerate(replica.servers(), 1)]


def this_server(core: Core) -> GroupServer:
    return next(server for server in group_servers(core) if server.is_self)


def server_member(region: str, datacenter: str, server: Optional[GroupServer] = None,
                  expect: int = 1) -> dict[str, Any]:
    """A serf member of the server group, in ``ServerMember``'s field order."""
    name, addr, port = SERVER_NAME, SERF_HOST, "4647"
    status = "alive"
    if server is not None:
        name, status = server.name, "alive" if server.alive else "failed"
        if server.rpc != LEADER_RPC_ADDR:
            addr, _, port = server.rpc.rpartition(":")
    bootstrap = {"bootstrap": "1"} if expect == 1 else {"expect": str(expect)}
    return {
        "Name": f"{name}.{region}", "Addr": addr, "Port": SERF_PORT,
        "Tags": {"build": NOMAD_VERSION, "port": port, **bootstrap, "role": "nomad", "region": region,
                 "dc": datacenter, "vsn": "1", "mvn": "1"},
        "Status": status, "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
        "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4,
    }


def agent_self(core: Core, started_ns: int) -> dict[str, Any]:
    """The parts of ``agentSelf`` clients read: ``config.Region``/``Datacenter``,
    ``member.Name``/``Tags``, and ``stats``."""
    me = this_server(core)
    servers = group_servers(core)
    leader = next((server.rpc for server in servers if server.leader), "")
    name = me.name
    acl_enabled = bool(core.acl_enabled)
    state = core.snapshot()
    index = state.latest_index()
    config = {
        "Region": core.region,
        "Datacenter": core.datacenter,
        "NodeName": name,
        "DataDir": "",
        "LogLevel": "INFO",
        "BindAddr": "127.0.0.1",
        "EnableDebug": False,
        "Ports": {"HTTP": 4646, "RPC": 4647, "Serf": 4648},
        "Addresses": {"HTTP": "127.0.0.1", "RPC": "127.0.0.1", "Serf": "127.0.0.1"},
        "AdvertiseAddrs": {"HTTP": "127.0.0.1:4646", "RPC": "127.0.0.1:4647", "Serf": "127.0.0.1:4648"},
        "Client": {"Enabled": True, "NodeClass": "", "Meta": None, "Options": None},
        "Server": {"Enabled": True, "BootstrapExpect": 1, "NumSchedulers": 1, "EnabledSchedulers": None},
        "ACL": {"Enabled": acl_enabled, "TokenTTL": 30_000_000_000, "PolicyTTL": 30_000_000_000,
                "ReplicationToken": ""},
        "Vault": {"Enabled": False},
        "LeaveOnInt": False,
        "LeaveOnTerm": False,
        "DisableUpdateCheck": True,
        "DisableAnonymousSignature": True,
        "HTTPAPIResponseHeaders": {},
        "Revision": "nomadjobs",
        "Version": NOMAD_VERSION,
        "VersionPrerelease": "",
    }
    member = server_member(core.region, core.datacenter, me, len(servers))
    raft = ({"state": "Leader", "applied_index": str(index), "commit_index": str(index),
             "last_log_index": str(index), "num_peers": "0"} if core.replica is None else core.replica.raft_stats())
    node = agent_node(state.nodes())
    uptime_s = max(0, (time.time_ns() - started_ns) // 10**9)
    stats = {
        "nomad": {"server": "true", "leader": "true" if me.leader else "false", "leader_addr": leader,
                  "bootstrap": "true" if len(servers) == 1 else "false", "known_regions": "1"},
        "raft": raft,
        "client": {"known_servers": ",".join(server.rpc for server in servers), "last_heartbeat": "0", "heartbeat_ttl": "0",
                   **({"node_id": node.ID, "num_allocations": str(len(state.allocs_by_node(node.ID)))}
                      if node is not None else {"num_allocations": "0"})},
        "runtime": {"arch": "amd64", "os": "linux", "version": "python", "max_procs": str(os.cpu_count() or 1),
                    "goroutines": "0", "cpu_count": str(os.cpu_count() or 1), "uptime_s": str(uptime_s)},
    }
    return {"config": config, "member": member, "stats": stats}
