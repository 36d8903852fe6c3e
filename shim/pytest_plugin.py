"""pytest fixtures for testing code that talks to Nomad (registered as the ``nomadjobs``
plugin through the ``pytest11`` entry point: installing nomadjobs is enough).

* ``nomad_cluster``: a fresh in-process :class:`~nomadjobs.Cluster` per test, on a
  virtual clock (time moves only when the test calls ``advance``).
* ``nomad_server``: a live HTTP server for one test on a free ``127.0.0.1`` port;
  hand ``.address`` (or ``.host``/``.port``) to python-nomad or requests, and use
  ``.cluster`` to drive the simulation. Wall clock by default.
* ``nomad_cluster_factory`` / ``nomad_server_factory``: make more, with options.
* ``nomad_raft_group``: three ``nomadjobs-server`` processes forming one Raft group on
  free loopback ports, with a leader elected (:class:`shim.testgroup.RaftGroup`: stop,
  kill, isolate and restart any of them); ``nomad_raft_group_factory(size=3,
  server="granian", args=())`` for other shapes.

Options come from the ``nomad`` marker, then from keyword arguments to a factory::

    @pytest.mark.nomad(fleet="golden", acl=True, seed=3, clock="virtual")
    def test_x(nomad_server): ...

``fleet`` is ``"default"``, ``"golden"``, ``"large"`` or a list of ``NodeSpec``;
``nodes`` sizes the default and large fleets; ``acl=True`` turns ACLs on and puts the
management token's SecretID in ``.token`` (server) / ``.bootstrap_token`` (cluster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

import pytest

if TYPE_CHECKING:  # the plugin loads in every pytest run: import the library only when used
    from nomadjobs.cluster import Cluster
    from nomadjobs.fleet import NodeSpec

    from .testgroup import RaftGroup
    from .testserver import NomadServer

__all__ = ["OPTIONS", "cluster_options", "make_cluster"]

# Every option the marker and the factories accept.
OPTIONS = frozenset({"fleet", "nodes", "seed", "acl", "clock", "region", "datacenter", "simulate_clients",
                     "history"})

MARKER_HELP = ("nomad(fleet='default'|'golden'|'large'|[NodeSpec], nodes=N, seed=0, acl=False, "
               "clock='virtual'|'wall', region='global'): options of the nomadjobs fixtures")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


def cluster_options(node: Optional[pytest.Item], **overrides: Any) -> dict[str, Any]:
    """The options for a cluster: the closest ``nomad`` marker's, then ``overrides``."""
    options: dict[str, Any] = {}
    if node is not None:
        # Outermost first (module, class, function), so the closest marker wins.
        for marker in reversed(list(node.iter_markers("nomad"))):
            if marker.args:
                raise pytest.UsageError("@pytest.mark.nomad takes keyword arguments only")
            options.update(marker.kwargs)
    options.update(overrides)
    unknown = set(options) - OPTIONS
    if unknown:
        raise pytest.UsageError(f"unknown nomadjobs option(s) {sorted(unknown)}; known: {sorted(OPTIONS)}")
    return options


def make_cluster(**options: Any) -> Cluster:
    """A :class:`Cluster` from fixture options (see the module docstring)."""
    from nomadjobs.cluster import Cluster
    from nomadjobs.fleet import fleet_by_name

    fleet: Sequence[NodeSpec] | str | None = options.pop("fleet", None)
    nodes: Optional[int] = options.pop("nodes", None)
    if nodes is not None:
        fleet = fleet_by_name(fleet if isinstance(fleet, str) else "default", nodes)
    return Cluster(fleet, **options)


@pytest.fixture
def nomad_cluster_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Cluster]]:
    """``make(**options) -> Cluster``; every cluster made is closed after the test.
    Options: the ``nomad`` marker's, overridden by the call's."""
    made: list[Cluster] = []

    def make(**overrides: Any) -> Cluster:
        options = cluster_options(request.node, **overrides)
        options.setdefault("clock", "virtual")
        cluster = make_cluster(**options)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


@pytest.fixture
def nomad_cluster(nomad_cluster_factory: Callable[..., Cluster]) -> Cluster:
    """A fresh in-process cluster (virtual clock unless the marker says otherwise)."""
    return nomad_cluster_factory()


@pytest.fixture
def nomad_server_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., "NomadServer"]]:
    """``start(cluster=None, **options) -> NomadServer`` on a free loopback port; every
    server started is stopped after the test. Pass ``cluster`` to serve one you built
    (two servers may share a cluster); otherwise one is made from the options (the
    ``nomad`` marker's, overridden by the call's; wall clock by default)."""
    from .testserver import NomadServer

    started: list["NomadServer"] = []

    def start(cluster: Optional["Cluster"] = None, **overrides: Any) -> "NomadServer":
        if cluster is None:
            options = cluster_options(request.node, **overrides)
            options.setdefault("clock", "wall")
            cluster = make_cluster(**options)
        elif overrides:
            raise TypeError("pass either a cluster or options, not both")
        server = NomadServer(cluster)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def nomad_server(nomad_server_factory: Callable[..., "NomadServer"]) -> Iterator["NomadServer"]:
    """A live Nomad HTTP API on ``127.0.0.1:<free port>`` for this test:
    ``.address``/``.url``, ``.host``, ``.port``, ``.token`` (ACLs on), ``.cluster``.
    ``NOMAD_ADDR`` (and ``NOMAD_TOKEN`` with ACLs) point at it for the test's duration,
    so code under test that builds its own client finds it."""
    server = nomad_server_factory()
    with server.environment():
        yield server


@pytest.fixture
def nomad_raft_group_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., "RaftGroup"]]:
    """``start(size=3, server="granian", args=()) -> RaftGroup`` with a leader elected;
    every process of every group is killed after the test."""
    from .testgroup import RaftGroup

    groups: list["RaftGroup"] = []

    def start(size: int = 3, server: str = "granian", args: Sequence[str] = ()) -> "RaftGroup":
        group = RaftGroup(tmp_path_factory.mktemp("raft-group"), size=size, server=server, args=args,
                          start=False)
        groups.append(group)
        for number in range(size):
            group.start(number)
        group.leader()
        return group

    yield start
    for group in groups:
        group.close()


@pytest.fixture
def nomad_raft_group(nomad_raft_group_factory: Callable[..., "RaftGroup"]) -> "RaftGroup":
    """Three replicated servers in their own processes, a leader elected (see the
    module docstring)."""
    return nomad_raft_group_factory()
