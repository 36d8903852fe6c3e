"""One small resource per Nomad endpoint.

Each resource checks the method, parses the path ID, query and body, calls ONE
service method and writes the answer with Nomad's headers. Errors are raised
(:class:`~nomadjobs.errors.NomadError`, :class:`~nomadjobs.codec.DecodeError`) and
turned into responses by the app's single error handler. No rules live here: the
checks Nomad's HTTP layer makes belong to the services, so library callers get them too.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol

import attrs
from falcon.typing import ReadableIO

from nomadjobs import codec
from nomadjobs import structs as s
from nomadjobs.acl_service import ACLService
from nomadjobs.cluster import Cluster
from nomadjobs.core.raft import Replica
from nomadjobs.errors import NomadError, bad_request, method_not_allowed
from nomadjobs.limits import DEFAULT_LIMITS, Limits
from nomadjobs.golang.url import parse_query
from nomadjobs.query import (QueryMeta, QueryOptions, WriteOptions, parse_bool_lenient, parse_bool_param,
                             pretty)

JSON = "application/json"
READ = frozenset({"GET"})
WRITE = frozenset({"PUT", "POST"})


class Api:
    """What the resources call: the cluster's Jobs service and the other endpoints."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.jobs = cluster.jobs
        self.services = cluster.services


# --- what the endpoints use of a request and a response ------------------------------------------
#
# falcon.Request and falcon.Response have all of it, and so do the app's lightweight
# stand-ins on its fast paths (app.ReadRequest for GETs, app.LiteRequest for writes,
# app.ReadResponse).

class Request(Protocol):
    """A request as the endpoints read it: method, query string and headers."""

    @property
    def method(self) -> str: ...

    @property
    def query_string(self) -> str: ...

    @property
    def params(self) -> Mapping[str, str | list[str]]: ...

    def get_header(self, name: str) -> Optional[str]: ...


class BodyRequest(Request, Protocol):
    """A request whose body an endpoint may read (see :func:`read_body`)."""

    @property
    def env(self) -> Mapping[str, Any]: ...

    @property
    def content_length(self) -> Optional[int]: ...

    @property
    def stream(self) -> ReadableIO: ...

    @property
    def bounded_stream(self) -> ReadableIO: ...


class Response(Protocol):
    """A response as the endpoints write it: status, headers, content type and bytes
    (or a stream of them)."""

    data: Optional[bytes]
    stream: Any
    status: int | str

    @property
    def content_type(self) -> Optional[str]: ...

    @content_type.setter
    def content_type(self, value: str) -> None: ...

    def set_header(self, name: str, value: str) -> None: ...

    def append_header(self, name: str, value: str) -> None: ...


# --- request parsing -----------------------------------------------------------------------

_PARSED_PARAMS: dict[str, dict[str, str]] = {}


def params(req: Request) -> dict[str, str]:
    """Query parameters, first value of each (Go's ``Query().Get``: a pair with a
    malformed escape is dropped, ``;`` separates like ``&``)."""
    qs = req.query_string
    if not qs:
        return {}
    found = _PARSED_PARAMS.get(qs)
    if found is None:
        found = {key: values[0] for key, values in parse_query(qs).items()}
        if len(_PARSED_PARAMS) >= 1024:
            _PARSED_PARAMS.clear()
        _PARSED_PARAMS[qs] = found
    return found


def _token_header(req: Request) -> Optional[dict[str, str]]:
    token = req.get_header("X-Nomad-Token")
    return {"X-Nomad-Token": token} if token is not None else None


_PARSED_QUERIES: dict[tuple[str, Optional[str]], QueryOptions] = {}


def query_options(req: Request) -> QueryOptions:
    # The options are immutable and depend on the query string and token alone:
    # clients repeat the same few, so keep the last parses (not the refusals).
    key = (req.query_string, req.get_header("X-Nomad-Token"))
    q = _PARSED_QUERIES.get(key)
    if q is None:
        q = QueryOptions.parse(params(req), None if key[1] is None else {"X-Nomad-Token": key[1]})
        if len(_PARSED_QUERIES) >= 1024:
            _PARSED_QUERIES.clear()
        _PARSED_QUERIES[key] = q
    return q


def write_options(req: Request) -> WriteOptions:
    return WriteOptions.parse(params(req), _token_header(req))


class BodyReadError(Exception):
    """The server could not read the request body (a broken chunked encoding):
    Go's message for it, and what had been read before the break."""

    def __init__(self, message: str, partial: bytes) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial


def read_body(req: BodyRequest, max_bytes: int) -> bytes:
    """The request body, refused (400, nothing kept past the limit) when it is larger
    than ``max_bytes`` (``Limits.max_body_bytes``; Nomad reads any size). Raises
    :class:`BodyReadError` when the body cannot be read."""
    if req.content_length is not None:
        stream = req.bounded_stream
        if req.content_length > max_bytes:
            raise _drop_too_large(stream, max_bytes)
        return stream.read()
    # Chunked uploads carry no Content-Length; servers that de-chunk say so.
    if req.env.get("wsgi.input_terminated"):
        try:
            body = req.stream.read(max_bytes + 1)
        except Exception as err:  # the server's own parser refused the chunked encoding
            raise BodyReadError(_go_chunked_error(err), _read_so_far(req.stream)) from None
        if len(body) > max_bytes:
            raise _drop_too_large(req.stream, max_bytes)
        return body
    return b""


def _go_chunked_error(err: Exception) -> str:
    """Go's net/http message (net/http/internal/chunked.go) for gunicorn's error."""
    name = type(err).__name__
    if name == "InvalidChunkSize":
        data = getattr(err, "data", b"")
        if isinstance(data, bytes) and data.startswith(b"line over"):
            return "header line too long"
        return "invalid byte in chunk length"
    if name == "NoMoreData" or (name == "ChunkMissingTerminator" and not getattr(err, "term", b"")):
        return "unexpected EOF"
    return "malformed chunked encoding"


def _read_so_far(stream: Any) -> bytes:
    """What gunicorn had de-chunked before the error (its Body and ChunkedReader
    buffers), so the JSON decoder sees what Go's would have seen; b"" elsewhere."""
    parts = []
    for holder in (stream, getattr(stream, "reader", None)):
        buf = getattr(holder, "buf", None)
        getvalue = getattr(buf, "getvalue", None)
        if callable(getvalue):
            value = getvalue()
            if isinstance(value, bytes):
                parts.append(value)
    return b"".join(parts)


def _drop_too_large(stream: ReadableIO, max_bytes: int) -> NomadError:
    # Read the rest and drop it in pieces: clients that send the whole body before
    # reading the answer would otherwise see a reset, not the 400.
    while stream.read(1 << 16):
        pass
    return bad_request(f"Request body larger than {max_bytes} bytes; this server accepts at most "
                       f"{max_bytes} (max_body_bytes)")


def decode(req: BodyRequest, cls: type, limits: Limits = DEFAULT_LIMITS) -> Any:
    try:
        body = read_body(req, limits.max_body_bytes)
    except BodyReadError as err:
        # Go's JSON decoder reads the body as it goes: a syntax error (or a whole
        # value) before the break decides; running out of data gives the read error.
        try:
            return codec.decode_body(err.partial, cls, limits.max_json_depth)
        except codec.DecodeError as decode_err:
            if str(decode_err) in ("EOF", "unexpected EOF"):
                raise bad_request(err.message) from None
            raise
    return codec.decode_body(body, cls, limits.max_json_depth)


# --- response writing ------------------------------------------------------------------------

def set_index(resp: Response, index: int) -> None:
    resp.set_header("X-Nomad-Index", str(index))


def set_query_meta(resp: Response, index: int, known_leader: bool = True, last_contact: int = 0) -> None:
    set_index(resp, index)
    resp.set_header("X-Nomad-Knownleader", "true" if known_leader else "false")
    resp.set_header("X-Nomad-Lastcontact", str(last_contact))


def wants_pretty(req: Request) -> bool:
    qs = req.query_string
    if "pretty" not in qs and "%" not in qs:  # the key cannot be spelled: no parse needed
        return False
    found = params(req)
    return "pretty" in found and pretty(found)


def send(req: Request, resp: Response, obj: Any) -> None:
    resp.content_type = JSON
    resp.data = codec.dumps(obj, wants_pretty(req))


def send_read(req: Request, resp: Response, result: tuple[Any, QueryMeta]) -> None:
    obj, meta = result
    set_query_meta(resp, meta.index, meta.known_leader, meta.last_contact)
    send(req, resp, obj)


def send_write(req: Request, resp: Response, obj: Any) -> None:
    set_index(resp, obj.Index)
    send(req, resp, obj)


def send_plain(req: Request, resp: Response, obj: Any) -> None:
    """Already wire-shaped data (status, regions, agent self): no index headers."""
    resp.content_type = JSON
    resp.data = codec.dumps_wire(obj, wants_pretty(req))


# --- base --------------------------------------------------------------------------------------

class Endpoint:
    """``methods`` allowed (None: any verb performs the request), then :meth:`serve`.

    Reads answered with the query meta headers define :meth:`read` instead; a GET
    of such an endpoint is ``send_read(req, resp, endpoint.read(req, ident))``
    (``get_read`` says so), which lets the app serve it without a Response."""

    methods: Optional[frozenset[str]] = READ
    read: Optional[Callable[[Request, str], tuple[Any, QueryMeta]]] = None

    def __init__(self, api: Api) -> None:
        self.api = api
        self.limits = api.cluster.limits
        self.jobs = api.jobs
        self.services = api.services
        self.get_read = self.read is not None and (self.methods is None or "GET" in self.methods)
        replica = api.cluster.replica
        if self.read is not None and replica is not None:
            self.read = _with_leader_meta(self.read, replica)

    def decode(self, req: BodyRequest, cls: type) -> Any:
        """The request body as ``cls``, within the cluster's limits."""
        return decode(req, cls, self.limits)

    def handle(self, req: BodyRequest, resp: Response, ident: str) -> None:
        if self.methods is not None and req.method not in self.methods:
            raise method_not_allowed()
        self.serve(req, resp, ident)

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        assert self.read is not None  # an endpoint defines serve or read
        send_read(req, resp, self.read(req, ident))


def _with_leader_meta(read: Callable[[Request, str], tuple[Any, QueryMeta]],
                      replica: Replica) -> Callable[[Request, str], tuple[Any, QueryMeta]]:
    """A replicated server's reads say whether it knows a leader and when it last heard
    from it (X-Nomad-KnownLeader, X-Nomad-LastContact), as Nomad's do."""
    def leader_read(req: Request, ident: str) -> tuple[Any, QueryMeta]:
        obj, meta = read(req, ident)
        return obj, attrs.evolve(meta, known_leader=replica.known_leader(), last_contact=replica.last_contact_ms())
    return leader_read


# --- jobs -------------------------------------------------------------------------------------

class Jobs(Endpoint):
    """/v1/jobs: list (GET) and register (PUT/POST)."""

    methods = READ | WRITE

    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.jobs.list_jobs(query_options(req))

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        if req.method == "GET":
            send_read(req, resp, self.read(req, ident))
        else:
            body = self.decode(req, s.JobRegisterRequest)
            send_write(req, resp, self.jobs.register_job(body, write_options(req), None))


class JobsParse(Endpoint):
    """/v1/jobs/parse (PUT/POST; from later Nomad versions): a job file's API job."""

    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.JobsParseRequest)
        send_plain(req, resp, self.jobs.parse_job(body.JobHCL, body.Canonicalize))


class Job(Endpoint):
    """/v1/job/:id: read, register (ID must match unless empty), deregister."""

    methods = READ | WRITE | {"DELETE"}

    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.jobs.get_job(ident, query_options(req))

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        if req.method == "GET":
            send_read(req, resp, self.read(req, ident))
        elif req.method == "DELETE":
            purge = parse_bool_param(params(req), "purge")
            send_write(req, resp, self.jobs.deregister_job(ident, purge, write_options(req)))
        else:
            body = self.decode(req, s.JobRegisterRequest)
            send_write(req, resp, self.jobs.register_job(body, write_options(req), ident or None))


class JobEvaluate(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_write(req, resp, self.jobs.evaluate_job(ident, write_options(req)))  # no body read


class JobAllocations(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        all_allocs = parse_bool_lenient(params(req), "all")
        return self.jobs.job_allocations(ident, all_allocs, query_options(req))


class JobEvaluations(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.jobs.job_evaluations(ident, query_options(req))


class JobPeriodicForce(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_write(req, resp, self.jobs.periodic_force(ident, write_options(req)))  # no body read


class JobPlan(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.JobPlanRequest)
        send_write(req, resp, self.jobs.plan_job(body, write_options(req), ident))


class JobSummary(Endpoint):
    methods = None  # Nomad performs the read for any verb

    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.jobs.job_summary(ident, query_options(req))


class JobDispatch(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.JobDispatchRequest)
        send_write(req, resp, self.jobs.dispatch_job(ident, body, write_options(req)))


class JobVersions(Endpoint):
    methods = None  # Nomad performs the read for any verb

    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        diffs = parse_bool_param(params(req), "diffs")  # before index/wait, as Nomad does
        return self.jobs.job_versions(ident, diffs, query_options(req))


class JobRevert(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.JobRevertRequest)
        out = self.jobs.revert_job(ident, body, write_options(req))
        # Revert goes through Nomad's read-meta path with a meta nobody filled in.
        set_query_meta(resp, out.Index, out.KnownLeader, out.LastContact)
        send(req, resp, out)


class JobDeployments(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.jobs.job_deployments(ident, query_options(req))


class JobLatestDeployment(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.jobs.job_latest_deployment(ident, query_options(req))


class JobStable(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.JobStabilityRequest)
        send_write(req, resp, self.jobs.stable_job(ident, body, write_options(req)))


class ValidateJob(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.JobValidateRequest)
        send(req, resp, self.jobs.validate_job(body, write_options(req)))  # no index header


# --- evaluations, allocations ------------------------------------------------------------------

class Evaluations(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.list_evals(query_options(req))


class EvaluationRead(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.get_eval(ident, query_options(req))


class EvaluationAllocations(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.eval_allocations(ident, query_options(req))


class Allocations(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.list_allocs(query_options(req))


class AllocationRead(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.get_alloc(ident, query_options(req))


# --- deployments -------------------------------------------------------------------------------

class Deployments(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.list_deployments(query_options(req))


class DeploymentRead(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.get_deployment(ident, query_options(req))


class DeploymentAllocations(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.deployment_allocations(ident, query_options(req))


class DeploymentFail(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_write(req, resp, self.services.fail_deployment(ident, write_options(req)))  # no body read


class DeploymentPause(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.DeploymentPauseRequest)
        send_write(req, resp, self.services.pause_deployment(ident, body, write_options(req)))


class DeploymentPromote(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.DeploymentPromoteRequest)
        send_write(req, resp, self.services.promote_deployment(ident, body, write_options(req)))


class DeploymentAllocHealth(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.DeploymentAllocHealthRequest)
        send_write(req, resp, self.services.set_alloc_health(ident, body, write_options(req)))


# --- nodes, search, status, agent ----------------------------------------------------------------

class Nodes(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.list_nodes(query_options(req))


class NodeRead(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.get_node(ident, query_options(req))


class NodeAllocations(Endpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.services.node_allocations(ident, query_options(req))


class Search(Endpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        body = self.decode(req, s.SearchRequest)
        # Nomad's parse: a non-empty ?namespace= replaces the body's, even "default".
        namespace = params(req).get("namespace")
        if namespace:
            body = s.evolve(body, Namespace=namespace)
        send_read(req, resp, self.services.search(body, query_options(req)))


class StatusLeader(Endpoint):
    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_plain(req, resp, self.services.status_leader(query_options(req)))


class StatusPeers(Endpoint):
    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_plain(req, resp, self.services.status_peers(query_options(req)))


class Regions(Endpoint):
    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_plain(req, resp, self.services.regions(query_options(req)))


class AgentSelf(Endpoint):
    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        # Nomad's agent endpoint reads only the token, not index/wait.
        send_plain(req, resp, self.services.agent_self(req.get_header("X-Nomad-Token") or ""))


# --- ACLs (command/agent/acl_endpoint.go) ---------------------------------------------------

def send_index_only(resp: Response, index: int) -> None:
    """A write that answers nothing: 200, an empty body and ``X-Nomad-Index`` (and a
    JSON Content-Type, which Go leaves out: see docs/differences.md)."""
    set_index(resp, index)
    resp.content_type = JSON
    resp.data = b""


class ACLEndpoint(Endpoint):
    """The ACL handlers answer an undecodable body with a 500 (their decodeBody
    errors are not coded), unlike the job endpoints' 400."""

    def decode(self, req: BodyRequest, cls: type) -> Any:
        try:
            return super().decode(req, cls)
        except codec.DecodeError as exc:
            raise NomadError(str(exc)) from None

    @property
    def acl(self) -> ACLService:
        return self.api.cluster.acl


class ACLBootstrap(ACLEndpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        token, index = self.acl.bootstrap(w=write_options(req))
        set_index(resp, index)
        send(req, resp, token)


class ACLPolicies(ACLEndpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.acl.list_policies(query_options(req))


class ACLPolicy(ACLEndpoint):
    """/v1/acl/policy/:name: GET, PUT/POST, DELETE."""

    methods = None

    def handle(self, req: BodyRequest, resp: Response, ident: str) -> None:
        if not ident:
            raise bad_request("Missing Policy Name")
        if req.method == "GET":
            send_read(req, resp, self.acl.get_policy(ident, query_options(req)))
        elif req.method in WRITE:
            policy = self.decode(req, s.ACLPolicy)
            if policy.Name != ident:
                raise bad_request("ACL policy name does not match request path")
            send_index_only(resp, self.acl.upsert_policy(policy, write_options(req)))
        elif req.method == "DELETE":
            send_index_only(resp, self.acl.delete_policy(ident, write_options(req)))
        else:
            raise method_not_allowed()


class ACLTokens(ACLEndpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.acl.list_tokens(query_options(req))


class ACLTokenCreate(ACLEndpoint):
    """/v1/acl/token: PUT/POST creates (or, with an AccessorID in the body, updates)."""

    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        token = self.decode(req, s.ACLToken)
        saved, index = self.acl.upsert_token(token, write_options(req))
        set_index(resp, index)
        send(req, resp, saved)


class ACLTokenSelf(ACLEndpoint):
    def read(self, req: Request, ident: str) -> tuple[Any, QueryMeta]:
        return self.acl.token_self(query_options(req))


class ACLToken(ACLEndpoint):
    """/v1/acl/token/:accessor: GET, PUT/POST (update), DELETE."""

    methods = None

    def handle(self, req: BodyRequest, resp: Response, ident: str) -> None:
        if not ident:
            raise bad_request("Missing Token Accessor")
        if req.method == "GET":
            send_read(req, resp, self.acl.get_token(ident, query_options(req)))
        elif req.method in WRITE:
            token = self.decode(req, s.ACLToken)
            if token.AccessorID != ident:
                raise bad_request("ACL token accessor does not match request path")
            saved, index = self.acl.upsert_token(token, write_options(req))
            set_index(resp, index)
            send(req, resp, saved)
        elif req.method == "DELETE":
            send_index_only(resp, self.acl.delete_token(ident, write_options(req)))
        else:
            raise method_not_allowed()


# --- system and client (command/agent/system_endpoint.go, alloc_endpoint.go) --------------------

class SystemGC(Endpoint):
    methods = frozenset({"PUT"})

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        self.services.system_gc(query_options(req))
        send_empty(resp)


class SystemReconcileSummaries(Endpoint):
    methods = frozenset({"PUT"})

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        self.services.reconcile_summaries(query_options(req))
        send_empty(resp)


class ClientGC(Endpoint):
    methods = None  # any verb: Nomad's handler never looks at it

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        self.services.client_gc(query_options(req).token)
        send_empty(resp)


# --- agent, operator, metrics, node writes (command/agent/*_endpoint.go) -------------------------

def send_empty(resp: Response, status: int = 200) -> None:
    """An answer with nothing in it (and a JSON Content-Type, see send_index_only)."""
    resp.status = status
    resp.content_type = JSON
    resp.data = b""


def all_params(req: Request, key: str) -> list[str]:
    """Every value of a repeated query parameter (``?address=a&address=b``)."""
    return parse_query(req.query_string).get(key, []) if req.query_string else []


def _token(req: Request) -> str:
    return req.get_header("X-Nomad-Token") or ""


class AgentEndpoint(Endpoint):
    @property
    def agent(self) -> Any:
        return self.api.cluster.agent


class AgentMembers(AgentEndpoint):
    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_plain(req, resp, self.agent.members(query_options(req)))


class AgentServers(AgentEndpoint):
    methods = READ | WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        if req.method == "GET":
            send_plain(req, resp, self.agent.list_servers(_token(req)))
        else:
            self.agent.update_servers(all_params(req, "address"), _token(req))
            send_empty(resp)


class AgentJoin(AgentEndpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_plain(req, resp, self.agent.join(all_params(req, "address")))


class AgentForceLeave(AgentEndpoint):
    methods = WRITE

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        self.agent.force_leave(params(req).get("node", ""), _token(req))
        send_empty(resp)


class AgentHealth(AgentEndpoint):
    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        query_options(req)  # index and wait are parsed (and refused) as everywhere
        kinds = all_params(req, "type") if "type" in params(req) else None
        health = self.agent.health(kinds)
        if not all(part["ok"] for part in health.values()):
            # Nomad answers 500 with the JSON as the error text (encoding/json: Ok, then Message).
            raise NomadError(json.dumps({kind: {"ok": part["ok"], "message": part["message"]}
                                         for kind, part in health.items()}, separators=(",", ":")), 500)
        send_plain(req, resp, health)


class AgentKeyring(AgentEndpoint):
    methods = None  # Nomad's handler never looks at the method

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        self.agent.keyring(ident, _token(req))


class Metrics(AgentEndpoint):
    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_plain(req, resp, self.agent.metrics())


class Operator(AgentEndpoint):
    """/v1/operator/: raft/configuration (a prefix, as Nomad matches it) and raft/peer."""

    methods = None

    def handle(self, req: BodyRequest, resp: Response, ident: str) -> None:
        if ident.startswith("raft/configuration"):
            if req.method != "GET":
                send_empty(resp, 405)  # an empty body here, unlike elsewhere
                return
            send_plain(req, resp, self.agent.raft_configuration(query_options(req)))
        elif ident.startswith("raft/peer"):
            if req.method != "DELETE":
                send_empty(resp, 405)
                return
            found = params(req)
            if "address" not in found:
                raise bad_request("Must specify ?address with IP:port of peer to remove")
            self.agent.raft_remove_peer(found["address"], query_options(req))
            send_empty(resp)
        else:
            raise NomadError("Invalid method", 404)


class NodeWrite(Endpoint):
    """The node writes: the answer, and ``X-Nomad-Index`` from one of its fields."""

    methods = WRITE
    index_field = "Index"

    def answer(self, req: BodyRequest, ident: str) -> dict[str, Any]:
        raise NotImplementedError

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        answer = self.answer(req, ident)
        set_index(resp, answer[self.index_field])
        send_plain(req, resp, answer)


class NodeDrain(NodeWrite):
    def answer(self, req: BodyRequest, ident: str) -> dict[str, Any]:
        return self.services.drain_node(ident, params(req).get("enable"), write_options(req))


class NodeEvaluate(NodeWrite):
    index_field = "EvalCreateIndex"

    def answer(self, req: BodyRequest, ident: str) -> dict[str, Any]:
        return self.services.evaluate_node(ident, write_options(req))


class NodePurge(NodeWrite):
    index_field = "NodeModifyIndex"

    def answer(self, req: BodyRequest, ident: str) -> dict[str, Any]:
        return self.services.purge_node(ident, write_options(req))


# --- the client's allocation filesystem (command/agent/fs_endpoint.go) ----------------------------

TEXT = "text/plain; charset=utf-8"


def send_body(resp: Response, body: "bytes | Iterable[bytes]") -> None:
    """Text bytes, or an endless stream of them (sent chunked as it comes)."""
    resp.content_type = TEXT
    if isinstance(body, bytes):
        resp.data = body
    else:
        resp.stream = body


def peer_alive(req: Request) -> Optional[Callable[[], bool]]:
    """Whether the client of a streamed answer is still there, where the server hands
    the app its socket (gunicorn does; a stream that writes nothing for a while
    cannot tell otherwise)."""
    env = getattr(req, "env", None)
    sock = env.get("gunicorn.socket") if env is not None else None
    if sock is None:
        return None

    def alive() -> bool:
        try:
            peeked: bytes = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            return peeked != b""  # b"": the peer closed
        except BlockingIOError:
            return True
        except OSError:
            return False
    return alive


class ClientEndpoint(Endpoint):
    """The client agent's routes: any verb performs the request, and they are wrapped
    in rs/cors (origins ``*``, methods GET and HEAD, any header)."""

    methods = None

    def handle(self, req: BodyRequest, resp: Response, ident: str) -> None:
        origin = req.get_header("Origin")
        wanted = req.get_header("Access-Control-Request-Method")
        if req.method == "OPTIONS" and wanted:  # a preflight: answered by the wrapper alone
            for vary in ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"):
                resp.append_header("Vary", vary)
            if origin and wanted.upper() in ("GET", "HEAD"):
                resp.set_header("Access-Control-Allow-Origin", "*")
                resp.set_header("Access-Control-Allow-Methods", wanted.upper())
                asked = req.get_header("Access-Control-Request-Headers")
                if asked:
                    resp.set_header("Access-Control-Allow-Headers",
                                    ", ".join(h.strip() for h in asked.split(",") if h.strip()))
            resp.status = 200
            resp.data = b""
            return
        resp.append_header("Vary", "Origin")
        if origin and req.method in ("GET", "HEAD"):
            resp.set_header("Access-Control-Allow-Origin", "*")
        self.serve(req, resp, ident)


class ClientFs(ClientEndpoint):
    """/v1/client/fs/<op>/<alloc>."""

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        op, _, alloc_id = ident.partition("/")
        client = self.api.cluster.client
        found = params(req)
        q = query_options(req)
        path = found.get("path", "")
        if op == "ls":
            send_plain(req, resp, client.ls(alloc_id, path, q))
        elif op == "stat":
            send_plain(req, resp, client.stat(alloc_id, path, q))
        elif op == "cat":
            send_body(resp, client.cat(alloc_id, path, q))
        elif op == "readat":
            send_body(resp, client.readat(alloc_id, path, found.get("offset"), found.get("limit"), q))
        elif op == "stream":
            send_body(resp, client.stream(alloc_id, path, found.get("offset"), found.get("origin"), q,
                                          peer_alive(req)))
        elif op == "logs":
            send_body(resp, client.logs(alloc_id, found.get("task", ""), found.get("type", ""),
                                        found.get("plain"), found.get("follow"), found.get("offset"),
                                        found.get("origin"), q, peer_alive(req)))
        else:
            raise NomadError("Invalid method", 404)


class ClientAllocation(ClientEndpoint):
    """/v1/client/allocation/<alloc>/<stats|snapshot|gc>."""

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        client = self.api.cluster.client
        parts = ident.split("/")
        action = parts[1] if len(parts) == 2 else ""
        q = query_options(req)
        if action == "stats":
            send_plain(req, resp, client.alloc_stats(parts[0], params(req).get("task", ""), q))
        elif action == "snapshot":
            resp.content_type = "application/octet-stream"
            resp.data = client.alloc_snapshot(parts[0], q)
        elif action == "gc":
            client.alloc_gc(parts[0], q)
            send_empty(resp)
        else:
            raise NomadError("resource not found", 404)


class ClientStats(ClientEndpoint):
    """/v1/client/stats: the agent's node's host stats."""

    def serve(self, req: BodyRequest, resp: Response, ident: str) -> None:
        send_plain(req, resp, self.api.cluster.client.host_stats(query_options(req)))
