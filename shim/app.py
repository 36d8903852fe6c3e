"""The Falcon application: Nomad's HTTP agent in front of a :class:`~nomadjobs.cluster.Cluster`.

Routing copies Nomad's ``net/http`` ServeMux instead of Falcon's URI templates: a few
exact paths plus subtree prefixes (``/v1/job/``...), each handed to a small
dispatcher that picks the endpoint by suffix or prefix the way Nomad's handlers do.
That is the only way to address job IDs containing ``/`` (dispatched and periodic
children). One sink receives every request; every error becomes plain text in
:func:`_error_handler`.
"""

from __future__ import annotations

import gzip
import html
import logging
import posixpath
import threading
import zlib
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional, Protocol, cast
from urllib.parse import quote

import falcon
from falcon.stream import BoundedStream
from falcon.util.misc import code_to_http_status
from falcon.util.uri import parse_query_string

from nomadjobs import codec
from nomadjobs.cluster import Cluster
from nomadjobs.errors import NomadError

from . import resources as r
from .admin import add_admin_routes
from .forward import forward, should_forward

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger("nomadjobs.shim")

PLAIN = "text/plain; charset=utf-8"


# --- routing ---------------------------------------------------------------------------------

# Nomad's job routes, matched by suffix in this order (command/agent/job_endpoint.go).
JOB_SUFFIXES: tuple[tuple[str, type[r.Endpoint]], ...] = (
    ("/evaluate", r.JobEvaluate),
    ("/allocations", r.JobAllocations),
    ("/evaluations", r.JobEvaluations),
    ("/periodic/force", r.JobPeriodicForce),
    ("/plan", r.JobPlan),
    ("/summary", r.JobSummary),
    ("/dispatch", r.JobDispatch),
    ("/versions", r.JobVersions),
    ("/revert", r.JobRevert),
    ("/deployments", r.JobDeployments),
    ("/deployment", r.JobLatestDeployment),
    ("/stable", r.JobStable),
)

# /v1/deployment/ sub-routes are matched by prefix (deployment_endpoint.go).
DEPLOYMENT_PREFIXES: tuple[tuple[str, type[r.Endpoint]], ...] = (
    ("allocations/", r.DeploymentAllocations),
    ("fail/", r.DeploymentFail),
    ("pause/", r.DeploymentPause),
    ("promote/", r.DeploymentPromote),
    ("allocation-health/", r.DeploymentAllocHealth),
)

EXACT: dict[str, type[r.Endpoint]] = {
    "/v1/jobs": r.Jobs,
    "/v1/validate/job": r.ValidateJob,
    "/v1/evaluations": r.Evaluations,
    "/v1/allocations": r.Allocations,
    "/v1/deployments": r.Deployments,
    "/v1/nodes": r.Nodes,
    "/v1/search": r.Search,
    "/v1/status/leader": r.StatusLeader,
    "/v1/status/peers": r.StatusPeers,
    "/v1/agent/self": r.AgentSelf,
    "/v1/regions": r.Regions,
    "/v1/agent/members": r.AgentMembers,
    "/v1/agent/servers": r.AgentServers,
    "/v1/agent/join": r.AgentJoin,
    "/v1/agent/force-leave": r.AgentForceLeave,
    "/v1/agent/health": r.AgentHealth,
    "/v1/metrics": r.Metrics,
    "/v1/system/gc": r.SystemGC,
    "/v1/system/reconcile/summaries": r.SystemReconcileSummaries,
    "/v1/jobs/parse": r.JobsParse,
    "/v1/client/gc": r.ClientGC,
    "/v1/client/stats": r.ClientStats,
    "/v1/acl/bootstrap": r.ACLBootstrap,
    "/v1/acl/policies": r.ACLPolicies,
    "/v1/acl/tokens": r.ACLTokens,
    "/v1/acl/token": r.ACLTokenCreate,
    "/v1/acl/token/self": r.ACLTokenSelf,
}

Route = tuple[r.Endpoint, str]


class Router:
    """Path -> (endpoint, ID). Mirrors ServeMux: exact patterns, then the longest
    subtree prefix, then a dispatcher per subtree."""

    def __init__(self, api: r.Api) -> None:
        self.exact = {path: cls(api) for path, cls in EXACT.items()}
        # No job suffix ends another, so at most one matches and the order does not
        # matter: one-segment suffixes are looked up by the path's last segment.
        self.job_segments = {suffix[1:]: cls(api) for suffix, cls in JOB_SUFFIXES if suffix.count("/") == 1}
        self.job_suffixes = [(suffix, cls(api)) for suffix, cls in JOB_SUFFIXES if suffix.count("/") > 1]
        self.job = r.Job(api)
        self.deployment_prefixes = [(prefix, cls(api)) for prefix, cls in DEPLOYMENT_PREFIXES]
        self.deployment = r.DeploymentRead(api)
        self.eval = r.EvaluationRead(api)
        self.eval_allocs = r.EvaluationAllocations(api)
        self.alloc = r.AllocationRead(api)
        self.node = r.NodeRead(api)
        self.node_allocs = r.NodeAllocations(api)
        self.acl_policy = r.ACLPolicy(api)
        self.keyring = r.AgentKeyring(api)
        self.operator = r.Operator(api)
        self.client_fs = r.ClientFs(api)
        self.client_alloc = r.ClientAllocation(api)
        self.node_writes = {"drain": r.NodeDrain(api), "evaluate": r.NodeEvaluate(api), "purge": r.NodePurge(api)}
        self.acl_token = r.ACLToken(api)
        self.subtrees: list[tuple[str, Callable[[str], Route]]] = [
            ("/v1/job/", self._job),
            ("/v1/evaluation/", self._evaluation),
            ("/v1/allocation/", lambda rest: (self.alloc, rest)),
            ("/v1/deployment/", self._deployment),
            ("/v1/node/", self._node),
            ("/v1/acl/policy/", lambda rest: (self.acl_policy, rest)),
            ("/v1/agent/keyring/", lambda rest: (self.keyring, rest)),
            ("/v1/operator/", lambda rest: (self.operator, rest)),
            ("/v1/client/fs/", lambda rest: (self.client_fs, rest)),
            ("/v1/client/allocation/", lambda rest: (self.client_alloc, rest)),
            ("/v1/acl/token/", lambda rest: (self.acl_token, rest)),
        ]

    def resolve(self, path: str) -> Optional[Route]:
        """The endpoint for a clean path, or None (then see :meth:`redirect_target`)."""
        if ("//" in path or "/." in path) and clean_path(path) != path:
            return None  # Go redirects before matching
        endpoint = self.exact.get(path)
        if endpoint is not None:
            return endpoint, ""
        for prefix, dispatch in self.subtrees:
            if path.startswith(prefix):
                return dispatch(path[len(prefix):])
        return None

    def redirect_target(self, path: str) -> Optional[str]:
        """Where Go's ServeMux would send a 301: unclean paths, and a subtree root
        asked for without its trailing slash."""
        clean = clean_path(path)
        if clean != path:
            return clean
        if path + "/" in (p for p, _ in self.subtrees):
            return path + "/"
        return None

    def _job(self, rest: str) -> Route:
        head, sep, segment = rest.rpartition("/")
        if sep:
            found = self.job_segments.get(segment)
            if found is not None:
                return found, head
        for suffix, endpoint in self.job_suffixes:
            if rest.endswith(suffix):
                return endpoint, rest[: -len(suffix)]
        return self.job, rest

    def _evaluation(self, rest: str) -> Route:
        if rest.endswith("/allocations"):
            return self.eval_allocs, rest[: -len("/allocations")]
        return self.eval, rest

    def _deployment(self, rest: str) -> Route:
        for prefix, endpoint in self.deployment_prefixes:
            if rest.startswith(prefix):
                return endpoint, rest[len(prefix):]
        return self.deployment, rest

    def _node(self, rest: str) -> Route:
        # NodeSpecificRequest dispatches on the path's suffix.
        if rest.endswith("/allocations"):
            return self.node_allocs, rest[: -len("/allocations")]
        for suffix, endpoint in self.node_writes.items():
            if rest.endswith("/" + suffix):
                return endpoint, rest[: -len(suffix) - 1]
        return self.node, rest


def clean_path(path: str) -> str:
    """Go's ``cleanPath`` for the mux: path.Clean, keeping a trailing slash."""
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    clean = posixpath.normpath(path)
    if clean.startswith("//"):  # normpath keeps a leading double slash (POSIX); Go does not
        clean = "/" + clean.lstrip("/")
    if path.endswith("/") and clean != "/":
        clean += "/"
    return clean


# --- the application ---------------------------------------------------------------------------

_CANONICAL: dict[str, str] = {}


def canonical_header(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey (``x-nomad-index`` -> ``X-Nomad-Index``); Falcon
    lower-cases names and Nomad's clients see Go's spelling."""
    out = _CANONICAL.get(name)
    if out is None:
        out = "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
        if len(_CANONICAL) < 256:
            _CANONICAL[name] = out
    return out


class NomadApp(falcon.App[falcon.Request, falcon.Response]):
    """A falcon.App that writes header names the way Go does. ``cluster`` is the
    state behind it.

    GETs of Nomad's routes skip Falcon's request machinery (see :meth:`_serve_get`),
    so do PUTs and POSTs with a plain Content-Length (:meth:`_serve_write`); every
    other request goes through Falcon and the sink."""

    cluster: Cluster
    nomad_router: "Router"

    def __call__(self, env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        replica = self.cluster.replica
        if replica is not None and should_forward(replica, env["REQUEST_METHOD"], env.get("PATH_INFO") or "/",
                                                  env.get("QUERY_STRING") or ""):
            return forward(replica, env, start_response, self._serve_here, self.cluster.limits.max_body_bytes)
        return self._serve_here(env, start_response)

    def _serve_here(self, env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = env["REQUEST_METHOD"]
        if method == "GET" or (method in _FAST_WRITES and _plain_length(env.get("CONTENT_LENGTH"))):
            path = env.get("PATH_INFO") or "/"
            if not path.isascii():  # PATH_INFO is UTF-8 tunnelled as latin-1, as Falcon decodes it
                path = path.encode("iso-8859-1").decode("utf-8", "replace")
            # /_nomadjobs/ admin routes, redirects and 404s stay with Falcon.
            if path.startswith("/v1/"):
                route = self.nomad_router.resolve(path)
                if route is not None:
                    if method == "GET":
                        return self._serve_get(env, start_response, path, route)
                    return self._serve_write(env, start_response, method, path, route)
        return self._falcon_call(env, start_response)

    def _falcon_call(self, env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [(canonical_header(k), v) for k, v in headers], exc_info)

        return super().__call__(env, start)

    def _serve_get(self, env: WSGIEnvironment, start_response: StartResponse, path: str,
                   route: "Route") -> Iterable[bytes]:
        """What Falcon does for a GET that reaches the sink, minus its per-request
        cost: same endpoint, error handler and compression, same status line and
        headers in the same order (Falcon appends Content-Length, then the default
        Content-Type if none was set).

        A read whose body is the codec's cached bytes is rendered once per (body,
        meta, Accept-Encoding): the answer is a function of those alone."""
        req = ReadRequest(env, path)
        resp = ReadResponse()
        endpoint, ident = route
        key = body = None
        try:
            if endpoint.get_read:
                obj, meta = endpoint.read(req, ident)  # type: ignore[misc]  # get_read: read is set
                body = None if r.wants_pretty(req) else codec.cached_dumps(obj)
                if body is not None:
                    key = (id(body), meta.index, meta.known_leader, meta.last_contact,
                           req.get_header("Accept-Encoding"))
                    hit = _RENDERED.get(key, body)
                    if hit is not None:
                        start_response(hit[0], list(hit[1]))
                        return [hit[2]]
                r.send_read(req, resp, (obj, meta))
            else:
                # A GET has no body and no endpoint reads one for it: ReadRequest has no stream.
                endpoint.handle(req, resp, ident)  # type: ignore[arg-type]
        except Exception as ex:
            key = None
            resp.data = resp.stream = None  # as Falcon resets the body before its error handler
            _error_handler(req, resp, ex, {})
        if key is None:
            return _finish(req, resp, start_response)
        status, header_list, data = _render(req, resp)
        if data is not None:
            _RENDERED.put(key, cast(bytes, body), (status, tuple(header_list), data))  # key: body is set
        start_response(status, header_list)
        return [data] if data is not None else []

    def _serve_write(self, env: WSGIEnvironment, start_response: StartResponse, method: str, path: str,
                     route: "Route") -> Iterable[bytes]:
        """What Falcon does for a PUT or POST that reaches the sink (see :meth:`_serve_get`),
        for a request whose Content-Length, if any, is plain digits: the endpoint reads
        the body as it would from Falcon's bounded stream."""
        req = LiteRequest(env, path, method)
        resp = ReadResponse()
        endpoint, ident = route
        try:
            endpoint.handle(req, resp, ident)
            self.cluster.sync()  # acknowledge only what is on disk (with a data dir)
        except Exception as ex:
            resp.data = resp.stream = None  # as Falcon resets the body before its error handler
            _error_handler(req, resp, ex, {})
        return _finish(req, resp, start_response)


# Writes served without Falcon (see NomadApp._serve_write); other verbs go through it.
_FAST_WRITES = frozenset({"PUT", "POST"})
# Methods that write nothing: their answers need not wait for the durable log.
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def _plain_length(value: Optional[str]) -> bool:
    """A Content-Length that Falcon reads as this very number, or none at all (missing
    or empty: then a de-chunked body is read to its end, see resources.read_body).
    Anything else (signs, spaces, underscores, garbage) is left to Falcon."""
    return value is None or value == "" or (value.isdigit() and value.isascii())


def _render(req: r.Request, resp: "ReadResponse") -> tuple[str, list[tuple[str, str]], Optional[bytes]]:
    """Falcon's end of a request: the compression middleware, then Content-Length, the
    default Content-Type if none was set, and Go's spelling of the header names. A
    streamed answer has no length: the server sends it chunked."""
    _COMPRESSION.process_response(req, resp, None, True)
    headers = resp.headers
    data = resp.data
    if resp.stream is None:
        headers["content-length"] = str(len(data)) if data is not None else "0"
    if "content-type" not in headers:
        headers["content-type"] = falcon.MEDIA_JSON
    canonical = _CANONICAL
    return (code_to_http_status(resp.status),
            [(canonical.get(k) or canonical_header(k), v) for k, v in headers.items()], data)


def _finish(req: r.Request, resp: "ReadResponse", start_response: StartResponse) -> Iterable[bytes]:
    status, header_list, data = _render(req, resp)
    start_response(status, header_list)
    if resp.stream is not None:
        return resp.stream
    return [data] if data is not None else []


Rendered = tuple[str, tuple[tuple[str, str], ...], bytes]
# (id of the cached body, meta index, known leader, last contact, Accept-Encoding)
RenderKey = tuple[int, int, bool, int, Optional[str]]


class _RenderedReads:
    """Rendered answers (status line, headers, body) of reads, by (id of the cached
    body, meta, Accept-Encoding). An entry holds its body, so the id is not reused
    while it lives, and a hit needs that very body. Bounded by entries and by the
    bytes it keeps alive (bodies and their compressed forms); oldest first out.
    Worth it for big bodies too: compressing a list of thousands of jobs takes far
    longer than sending it."""

    def __init__(self, max_entries: int, max_bytes: int, max_body: int) -> None:
        self._data: dict[RenderKey, tuple[bytes, Rendered, int]] = {}
        self._lock = threading.Lock()
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_body = max_body

    def get(self, key: RenderKey, body: bytes) -> Optional[Rendered]:
        hit = self._data.get(key)
        if hit is not None and hit[0] is body:
            return hit[1]
        return None

    def put(self, key: RenderKey, body: bytes, rendered: Rendered) -> None:
        size = len(body) + (len(rendered[2]) if rendered[2] is not body else 0)
        if len(body) > self.max_body:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            while self._data and (len(self._data) >= self.max_entries or self._bytes + size > self.max_bytes):
                self._bytes -= self._data.pop(next(iter(self._data)))[2]
            self._data[key] = (body, rendered, size)
            self._bytes += size


_RENDERED = _RenderedReads(max_entries=4096, max_bytes=64 << 20, max_body=8 << 20)


_ENVIRON_KEYS: dict[str, str] = {}  # header name -> WSGI environ key


class ReadRequest:
    """The part of a falcon.Request that the read endpoints, the error handler and
    the compression use, read straight from the WSGI environ. GETs carry no body,
    so there is no stream."""

    __slots__ = ("env", "method", "path", "query_string", "_params")

    def __init__(self, env: WSGIEnvironment, path: str, method: str = "GET") -> None:
        self.env = env
        self.method = method
        self.path = path
        self.query_string = env.get("QUERY_STRING", "")
        self._params: Optional[dict[str, Any]] = None

    @property
    def params(self) -> dict[str, Any]:
        """Falcon's parse with the app's options: blank values kept, no CSV split."""
        if self._params is None:
            qs = self.query_string
            self._params = parse_query_string(qs, keep_blank=True, csv=False) if qs else {}
        return self._params

    def get_header(self, name: str) -> Optional[str]:
        key = _ENVIRON_KEYS.get(name)
        if key is None:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            if len(_ENVIRON_KEYS) < 64:
                _ENVIRON_KEYS[name] = key
        value: Optional[str] = self.env.get(key)  # CGI header variables are str
        return value

    @property
    def relative_uri(self) -> str:
        uri: str = self.env.get("SCRIPT_NAME", "") + self.path
        return uri + "?" + self.query_string if self.query_string else uri


class LiteRequest(ReadRequest):
    """A ReadRequest with a body, for writes whose Content-Length is plain digits or
    absent (see :func:`_plain_length`): the streams Falcon would give the endpoints."""

    __slots__ = ()

    @property
    def content_length(self) -> Optional[int]:
        value = self.env.get("CONTENT_LENGTH")
        return int(value) if value else None

    @property
    def stream(self) -> Any:
        return self.env["wsgi.input"]

    @property
    def bounded_stream(self) -> BoundedStream:
        return BoundedStream(self.env["wsgi.input"], self.content_length or 0)


class ReadResponse:
    """The part of a falcon.Response the endpoints write: status, headers (names
    lower-cased, insertion-ordered, as Falcon keeps them) and bytes."""

    __slots__ = ("status", "headers", "data", "stream")

    def __init__(self) -> None:
        self.status: int | str = 200
        self.headers: dict[str, str] = {}
        self.data: Optional[bytes] = None
        self.stream: Optional[Iterable[bytes]] = None

    def set_header(self, name: str, value: Any) -> None:
        self.headers[name.lower()] = str(value)

    def append_header(self, name: str, value: Any) -> None:
        """As Falcon's: a second value joins the first, comma-separated."""
        key = name.lower()
        old = self.headers.get(key)
        self.headers[key] = f"{old}, {value}" if old else str(value)

    @property
    def content_type(self) -> Optional[str]:
        return self.headers.get("content-type")

    @content_type.setter
    def content_type(self, value: str) -> None:
        self.headers["content-type"] = value


class _Compression:
    """Nomad wraps its mux in gorilla's CompressHandler: ``Vary: Accept-Encoding``
    on every answer, and gzip or deflate (whichever the client lists first) for
    clients that accept it."""

    def process_response(self, req: r.Request, resp: r.Response, resource: Any,
                         req_succeeded: bool) -> None:
        vary = getattr(resp, "headers", {}).get("vary")  # CORS's Vary: Origin goes after
        resp.set_header("Vary", f"Accept-Encoding, {vary}" if vary else "Accept-Encoding")
        accept = req.get_header("Accept-Encoding")
        stream = getattr(resp, "stream", None)
        data = resp.data
        if not accept or (data is None and stream is None):
            return
        for token in accept.split(","):
            token = token.strip()
            if token not in ("gzip", "deflate"):
                continue
            if stream is not None:
                resp.stream = _compressed(stream, token)
            elif data is None:
                return
            elif token == "gzip":
                resp.data = gzip.compress(data, compresslevel=6, mtime=0)
            else:
                comp = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw DEFLATE, as Go's flate writer
                resp.data = comp.compress(data) + comp.flush()
            resp.set_header("Content-Encoding", token)
            return


def _compressed(chunks: Iterable[bytes], token: str) -> Iterator[bytes]:
    """A stream compressed as it goes: each chunk is flushed (a sync flush, as the
    handler's Flush does), so the client gets it at once."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31 if token == "gzip" else -15)
    try:
        for chunk in chunks:
            if not chunk:  # a probe for a reader that has gone: nothing to compress
                yield chunk
                continue
            out = comp.compress(chunk) + comp.flush(zlib.Z_SYNC_FLUSH)
            if out:
                yield out
        yield comp.flush()
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


_COMPRESSION = _Compression()


class _ErrorRequest(Protocol):
    """What the error handler reads of a request (falcon.Request, ReadRequest)."""

    @property
    def method(self) -> str: ...

    @property
    def relative_uri(self) -> str: ...


class _TextResponse(r.Response, Protocol):
    """A response that the error handler and the sink can answer with a status of their
    own (falcon.Response, ReadResponse)."""

    status: int | str


def _send_text(resp: _TextResponse, status: int, text: str) -> None:
    resp.status = status
    resp.content_type = PLAIN
    resp.data = text.encode()


def _error_handler(req: _ErrorRequest, resp: _TextResponse, ex: Exception, params: dict[str, Any]) -> None:
    """The one place errors become responses: Nomad's bare text with its status."""
    if isinstance(ex, NomadError):
        if ex.index is not None:
            # Reads set their meta before deciding on a 404.
            r.set_query_meta(resp, ex.index)
        _send_text(resp, ex.code, ex.message)
    elif isinstance(ex, codec.DecodeError):
        _send_text(resp, 400, str(ex))
    elif isinstance(ex, falcon.HTTPError):
        # Falcon's own refusals (e.g. an unreadable request): plain text as well.
        headers = ex.headers or {}
        for name, value in (headers.items() if isinstance(headers, Mapping) else headers):
            resp.set_header(name, value)
        _send_text(resp, ex.status_code, ex.title or "")
    else:
        log.exception("internal error serving %s %s", req.method, req.relative_uri)
        _send_text(resp, 500, "Internal Server Error")


def create_app(cluster: Cluster) -> falcon.App[falcon.Request, falcon.Response]:
    """A Falcon WSGI app serving Nomad v0.7.1's HTTP API from ``cluster`` (kept as
    ``app.cluster``), with the ``/_nomadjobs/`` test-control endpoints beside it.
    Servers that import an app by name use :mod:`shim.wsgi`, which builds the cluster
    from the ``NOMADJOBS_*`` environment."""
    app = NomadApp(middleware=[_COMPRESSION])
    app.cluster = cluster
    app.req_options.keep_blank_qs_values = True  # ``?pretty`` has no value
    app.req_options.auto_parse_qs_csv = False
    app.req_options.strip_url_path_trailing_slash = False  # /v1/job/ is the empty ID
    router = app.nomad_router = Router(r.Api(cluster))
    # Non-Nomad controls (state dump/load, reset, clock) under their own /_nomadjobs/ prefix.
    add_admin_routes(app, cluster)

    def sink(req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        path = req.path
        route = router.resolve(path)
        if route is None:
            target = router.redirect_target(path)
            if target is None or req.method == "CONNECT":
                _send_text(resp, 404, "404 page not found\n")
                return
            # Go rebuilds the URL (url.URL.String), percent-escaping the path, so a
            # decoded control character (CR/LF included) never reaches the header.
            target = quote(target, safe="/$&+,:;=@")
            if req.query_string:
                target += "?" + req.query_string
            resp.status = 301
            resp.set_header("Location", target)
            if req.method in ("GET", "HEAD"):  # what Go's http.Redirect writes
                resp.content_type = "text/html; charset=utf-8"
                resp.data = f'<a href="{html.escape(target)}">Moved Permanently</a>.\n\n'.encode()
            else:
                resp.content_type = PLAIN
            return
        endpoint, ident = route
        endpoint.handle(req, resp, ident)
        if req.method not in _READS:
            cluster.sync()  # acknowledge only what is on disk (with a data dir)

    app.add_sink(sink, "/")
    app.add_error_handler(Exception, _error_handler)
    return app
