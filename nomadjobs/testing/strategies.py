"""Hypothesis strategies for Nomad v0.7.1 jobs, shipped for users of ``nomadjobs``.

Every strategy yields a :class:`nomadjobs.structs.Job` in *api form*: what a client
would submit to ``PUT /v1/jobs`` (fields left ``None`` where the client leaves them
out, so Nomad's defaults still apply). Valid jobs pass
``validate_job_for_register(api_canonicalize(job))`` without errors and place fully
on a fresh ``Cluster()`` with the default fleet (3 nodes, 4000 MHz / 8 GiB each,
drivers docker, exec, raw_exec and java, datacenter ``dc1``).

``invalid_jobs()`` yields ``(job, message)`` pairs: a near-valid job with one defect
and a substring of the error Nomad answers it with.

Example::

    from hypothesis import given
    from nomadjobs import Cluster
    from nomadjobs import structs as s
    from nomadjobs.testing import service_jobs

    @given(service_jobs())
    def test_register(job):
        cluster = Cluster(seed=1)
        cluster.jobs.register_job(s.JobRegisterRequest(Job=job))
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

import attrs
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ..structs.job import (
    Constraint,
    DispatchPayloadConfig,
    EphemeralDisk,
    Job,
    LogConfig,
    NetworkResource,
    ParameterizedJobConfig,
    PeriodicConfig,
    Port,
    Resources,
    RestartPolicy,
    Task,
    TaskGroup,
    UpdateStrategy,
)

__all__ = [
    "job_ids",
    "jobs",
    "service_jobs",
    "batch_jobs",
    "system_jobs",
    "periodic_jobs",
    "parameterized_jobs",
    "invalid_jobs",
    "DRIVERS",
    "JOB_TYPES",
]

SECOND = 10**9
DRIVERS = ("exec", "raw_exec", "docker", "java")
JOB_TYPES = ("service", "batch", "system")

# Sizes chosen so one generated job always fits the default 3-node fleet, even with
# distinct_hosts: at most 2 groups x 3 allocs x 2 tasks x 500 MHz / 256 MB.
MAX_GROUPS = 2
MAX_TASKS = 2
MAX_COUNT = 3
DEFAULT_FLEET_SIZE = 3

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"


def _ident(first: str, rest: str, max_rest: int) -> SearchStrategy[str]:
    # Cheaper than st.from_regex, which dominated generation time.
    return st.builds(lambda a, b: a + b, st.sampled_from(first), st.text(alphabet=rest, max_size=max_rest))


_NAME = _ident(_LOWER, _LOWER + _DIGITS, 7)
_META_KEY = _ident(_LOWER, _LOWER + _DIGITS + "_", 7)
_META_VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_. ", max_size=12)
_COMMANDS = st.sampled_from(["/bin/sleep", "/bin/true", "/usr/bin/env", "/bin/echo"])
_ARGS = st.lists(st.sampled_from(["600", "1", "-c", "hello", "${NOMAD_ALLOC_ID}"]), max_size=3)
_IMAGES = st.sampled_from(["redis:3.2", "nginx:1.13", "alpine:3.7", "busybox"])

# Constraints every node of the default fleet satisfies (see nomadjobs.fleet.build_node).
_FLEET_CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint(LTarget="${attr.kernel.name}", RTarget="linux", Operand="="),
    Constraint(LTarget="${attr.cpu.arch}", RTarget="amd64", Operand="=="),
    Constraint(LTarget="${node.datacenter}", RTarget="dc1", Operand="="),
    Constraint(LTarget="${attr.os.name}", RTarget="deb.*", Operand="regexp"),
    Constraint(LTarget="${attr.nomad.version}", RTarget=">= 0.5.0", Operand="version"),
    Constraint(LTarget="${attr.kernel.name}", RTarget="windows", Operand="!="),
)
_DISTINCT_HOSTS = Constraint(Operand="distinct_hosts", RTarget="true")

_CRON_SPECS = ("*/5 * * * *", "0 * * * *", "@hourly", "@daily", "0 0 1 1 *", "30 2 * * 1-5", "*/15 * * * * *")
_TIME_ZONES = ("UTC", "America/New_York", "Europe/Paris")

StrategyOrValue = Union[str, SearchStrategy[str], None]


def job_ids() -> SearchStrategy[str]:
    """Job IDs Nomad accepts: no spaces (and no slashes, which only children get)."""
    return _ident(_LOWER, _LOWER + _DIGITS + "-", 15)


def _maybe(strategy: SearchStrategy[Any]) -> SearchStrategy[Any]:
    return st.none() | strategy


# Strategies are built once: constructing them inside a draw costs a validation each
# time and made generation several times slower.
_NAME_LISTS = {n: st.lists(_NAME, min_size=n, max_size=n, unique=True) for n in range(1, 9)}
_BOOL = st.booleans()
_OPT_BOOL = _maybe(_BOOL)
_OPT_META = _maybe(st.dictionaries(_META_KEY, _META_VALUE, max_size=2))
_OPT_ENV = _maybe(st.dictionaries(_ident(_LOWER.upper(), _LOWER.upper() + _DIGITS + "_", 7), _META_VALUE,
                                  max_size=2))
_OPT_LOG = _maybe(st.builds(LogConfig, MaxFiles=st.integers(1, 5), MaxFileSizeMB=st.integers(1, 10)))
_OPT_KILL = _maybe(st.integers(0, 10).map(lambda n: n * SECOND))
_OPT_DISK = _maybe(st.builds(EphemeralDisk, Sticky=_OPT_BOOL, SizeMB=st.integers(101, 500), Migrate=_OPT_BOOL))
_OPT_CPU = _maybe(st.integers(100, 500))
_MEMORY = st.sampled_from([None, 10, 32, 64, 128, 256])
_OPT_IOPS = _maybe(st.integers(0, 10))
_CONSTRAINT = st.sampled_from(_FLEET_CONSTRAINTS)
_CONSTRAINT_LISTS = st.lists(_CONSTRAINT, max_size=2, unique=True)


def _unique_names(draw: st.DrawFn, count: int) -> list[str]:
    return draw(_NAME_LISTS[count])


def _driver_config(draw: st.DrawFn, driver: str) -> dict[str, Any]:
    if driver in ("exec", "raw_exec"):
        config: dict[str, Any] = {"command": draw(_COMMANDS)}
        args = draw(_ARGS)
        if args:
            config["args"] = args
        return config
    if driver == "docker":
        config = {"image": draw(_IMAGES)}
        if draw(st.booleans()):
            config["args"] = draw(_ARGS)
        return config
    # java has no required key in 0.7.1; a jar is what users give it.
    return {"jar_path": "local/app.jar", "jvm_options": ["-Xmx64m"]}


@st.composite
def _resources(draw: st.DrawFn, networks: bool = True) -> Resources:
    nets = None
    if networks and draw(st.integers(0, 3)) == 0:
        nets = [NetworkResource(MBits=draw(st.integers(1, 20)),
                                DynamicPorts=[Port(Label=draw(st.sampled_from(["http", "db", "rpc"])))])]
    return Resources(CPU=draw(_OPT_CPU), MemoryMB=draw(_MEMORY), IOPS=draw(_OPT_IOPS), Networks=nets)


@st.composite
def _task(draw: st.DrawFn, name: str, job_type: str, dispatch_payload: bool, drivers: Sequence[str]) -> Task:
    driver = draw(st.sampled_from(list(drivers)))
    log = draw(_OPT_LOG)
    constraints = None
    if draw(st.integers(0, 4)) == 0:  # task level: no distinct_hosts allowed here
        constraints = [draw(_CONSTRAINT)]
    return Task(
        Name=name,
        Driver=driver,
        Config=_driver_config(draw, driver),
        Env=draw(_OPT_ENV),
        Resources=draw(_OPT_RESOURCES),
        Constraints=constraints,
        Meta=draw(_OPT_META),
        KillTimeout=draw(_OPT_KILL),
        LogConfig=log,
        DispatchPayload=DispatchPayloadConfig(File="input.txt") if dispatch_payload else None,
    )


@st.composite
def _restart_policy(draw: st.DrawFn) -> RestartPolicy:
    mode = draw(st.sampled_from(["delay", "fail"]))
    attempts = draw(st.integers(0 if mode == "fail" else 1, 3))
    delay = draw(st.integers(1, 15)) * SECOND
    interval = max(5 * SECOND, attempts * delay) + draw(st.integers(0, 60)) * SECOND
    return RestartPolicy(Attempts=attempts, Interval=interval, Delay=delay, Mode=mode)


@st.composite
def _update(draw: st.DrawFn) -> UpdateStrategy:
    min_healthy = draw(st.integers(0, 10)) * SECOND
    deadline = min_healthy + draw(st.integers(1, 300)) * SECOND
    return UpdateStrategy(
        Stagger=draw(_maybe(st.integers(1, 30).map(lambda n: n * SECOND))),
        MaxParallel=draw(st.integers(1, 3)),
        HealthCheck=draw(st.sampled_from(["checks", "task_states"])),
        MinHealthyTime=min_healthy,
        HealthyDeadline=deadline,
        AutoRevert=draw(st.booleans()),
        Canary=draw(st.integers(0, 1)),
    )


_OPT_RESOURCES = _maybe(_resources())
_OPT_RESTART = _maybe(_restart_policy())
_UPDATE = _update()
_OPT_UPDATE = _maybe(_UPDATE)


@st.composite
def _group(draw: st.DrawFn, name: str, job_type: str, dispatch_payload: bool, drivers: Sequence[str],
           min_count: int, max_count: int, with_update: bool) -> TaskGroup:
    n_tasks = draw(st.integers(1, MAX_TASKS))
    task_names = _unique_names(draw, n_tasks)
    tasks = [draw(_task(t, job_type, dispatch_payload, drivers)) for t in task_names]
    if job_type == "system":
        count: Optional[int] = draw(st.sampled_from([None, 1]))  # system groups run one per node
    else:
        count = draw(_maybe(st.integers(min_count, max_count)))
    constraints = None
    if draw(st.integers(0, 3)) == 0:
        constraints = [draw(_CONSTRAINT)]
    # Log storage must stay under the disk: 5 files x 10 MB at most per task.
    disk = draw(_OPT_DISK)
    return TaskGroup(
        Name=name,
        Count=count,
        Update=draw(_OPT_UPDATE) if with_update else None,
        Constraints=constraints,
        RestartPolicy=draw(_OPT_RESTART),
        Tasks=tasks,
        EphemeralDisk=disk,
        Meta=draw(_OPT_META),
    )


@st.composite
def _periodic(draw: st.DrawFn) -> PeriodicConfig:
    return PeriodicConfig(Enabled=draw(st.sampled_from([None, True])), Spec=draw(st.sampled_from(_CRON_SPECS)),
                          SpecType=draw(st.sampled_from([None, "cron"])),
                          ProhibitOverlap=draw(_maybe(st.booleans())),
                          TimeZone=draw(_maybe(st.sampled_from(_TIME_ZONES))))


@st.composite
def _parameterized(draw: st.DrawFn) -> ParameterizedJobConfig:
    keys = draw(st.lists(_META_KEY, max_size=4, unique=True))
    split = draw(st.integers(0, len(keys)))
    return ParameterizedJobConfig(Payload=draw(st.sampled_from(["optional", "required", "forbidden"])),
                                  MetaRequired=keys[:split] or None, MetaOptional=keys[split:] or None)


def _resolve(value: StrategyOrValue, default: SearchStrategy[str]) -> SearchStrategy[str]:
    if value is None:
        return default
    if isinstance(value, str):
        return st.just(value)
    return value


@st.composite
def _jobs(draw: st.DrawFn, job_type: StrategyOrValue, job_id: StrategyOrValue, periodic: bool,
          parameterized: bool, drivers: Sequence[str], max_groups: int, max_count: int,
          with_update: Optional[bool], with_constraints: bool) -> Job:
    jtype = draw(_resolve(job_type, st.sampled_from(JOB_TYPES)))
    if (periodic or parameterized) and jtype != "batch":
        raise ValueError("periodic and parameterized jobs must be batch jobs")
    jid = draw(_resolve(job_id, job_ids()))
    update_ok = jtype == "service" if with_update is None else with_update
    job_update = None
    if update_ok and draw(st.integers(0, 3)) == 0:
        job_update = draw(_UPDATE)
    # A job-level update goes through the pre-0.6 conversion, which caps a group's
    # MaxParallel at its Count: a count of 0 would then fail validation.
    min_count = 1 if job_update is not None else 0
    group_names = _unique_names(draw, draw(st.integers(1, max_groups)))
    groups = [draw(_group(g, jtype, parameterized and draw(st.booleans()), drivers, min_count,
                          max(min_count, max_count), update_ok and draw(st.booleans())))
              for g in group_names]
    constraints: Optional[list[Constraint]] = None
    if with_constraints:
        picked = draw(_CONSTRAINT_LISTS)
        # Job-level distinct_hosts spans every group: only while all allocations
        # together still fit one per node of the default fleet.
        total = sum(1 if tg.Count is None else tg.Count for tg in groups)
        if jtype != "system" and total <= DEFAULT_FLEET_SIZE and draw(st.integers(0, 4)) == 0:
            picked.append(_DISTINCT_HOSTS)
        constraints = picked or None
    return Job(
        ID=jid,
        Name=draw(st.sampled_from([None, jid])),
        Type=jtype if jtype != "service" or draw(st.booleans()) else None,  # service is the default
        Priority=draw(_maybe(st.integers(1, 100))),
        AllAtOnce=draw(_maybe(st.booleans())),
        Datacenters=["dc1"],
        Constraints=constraints,
        TaskGroups=groups,
        Update=job_update,
        Periodic=draw(_periodic()) if periodic else None,
        ParameterizedJob=draw(_parameterized()) if parameterized else None,
        Meta=draw(_OPT_META),
    )


def jobs(job_type: StrategyOrValue = None, *, job_id: StrategyOrValue = None, periodic: bool = False,
         parameterized: bool = False, drivers: Sequence[str] = DRIVERS, max_groups: int = MAX_GROUPS,
         max_count: int = MAX_COUNT, with_update: Optional[bool] = None,
         with_constraints: bool = True) -> SearchStrategy[Job]:
    """Valid Nomad jobs in api form.

    ``job_type``/``job_id``: a fixed value or a strategy (default: any of service,
    batch, system; random IDs). ``periodic``/``parameterized`` need a batch type.
    ``with_update``: None puts optional update stanzas on service jobs only.
    Keep ``max_groups``/``max_count`` at their defaults to stay within the default fleet.
    """
    if max_groups < 1 or max_count < 0:
        raise ValueError("max_groups must be >= 1 and max_count >= 0")
    if (periodic or parameterized) and isinstance(job_type, str) and job_type != "batch":
        raise ValueError("periodic and parameterized jobs must be batch jobs")
    return _jobs(job_type, job_id, periodic, parameterized, tuple(drivers), max_groups, max_count,
                 with_update, with_constraints)


def service_jobs(**kwargs: Any) -> SearchStrategy[Job]:
    return jobs("service", **kwargs)


def batch_jobs(**kwargs: Any) -> SearchStrategy[Job]:
    return jobs("batch", **kwargs)


def system_jobs(**kwargs: Any) -> SearchStrategy[Job]:
    return jobs("system", **kwargs)


def periodic_jobs(**kwargs: Any) -> SearchStrategy[Job]:
    """Batch jobs with a cron ``periodic`` stanza (children launch on the clock)."""
    return jobs("batch", periodic=True, **kwargs)


def parameterized_jobs(**kwargs: Any) -> SearchStrategy[Job]:
    """Batch jobs with a ``parameterized`` stanza, to dispatch."""
    return jobs("batch", parameterized=True, **kwargs)


# --- near-valid jobs ----------------------------------------------------------------------

def _first_group(job: Job, **changes: Any) -> Job:
    groups = list(job.TaskGroups or ())
    groups[0] = attrs.evolve(groups[0], **changes)
    return attrs.evolve(job, TaskGroups=groups)


def _first_task(job: Job, **changes: Any) -> Job:
    tg = job.TaskGroups[0]  # type: ignore[index]  # generated jobs have task groups
    tasks = list(tg.Tasks or ())
    tasks[0] = attrs.evolve(tasks[0], **changes)
    return _first_group(job, Tasks=tasks)


def _exec_without_command(job: Job) -> Job:
    return _first_task(job, Driver="exec", Config={"args": ["1"]})


# (mutation, expected message substring); each keeps the rest of the job valid.
# (Generated jobs have task groups, and groups have tasks: the index ignores below.)
_MUTATIONS: tuple[tuple[Callable[[Job], Job], str], ...] = (
    (lambda j: attrs.evolve(j, Datacenters=[]), "Missing job datacenters"),
    (lambda j: attrs.evolve(j, Datacenters=None), "Missing job datacenters"),
    (lambda j: attrs.evolve(j, Priority=0), "Job priority must be between [1, 100]"),
    (lambda j: attrs.evolve(j, Priority=101), "Job priority must be between [1, 100]"),
    (lambda j: attrs.evolve(j, Type="bogus"), 'Invalid job type: "bogus"'),
    (lambda j: attrs.evolve(j, ID=(j.ID or "x") + " x", Name="n"), "Job ID contains a space"),
    (lambda j: attrs.evolve(j, TaskGroups=None), "Missing job task groups"),
    (lambda j: _first_task(j, Driver="bogus"), "unknown driver 'bogus'"),
    (lambda j: _first_group(j, Count=-1), "Task group count can't be negative"),
    (_exec_without_command, 'field "command" is required'),
    (lambda j: _first_task(j, Driver="docker", Config={"command": "x"}), 'field "image" is required'),
    (lambda j: _first_task(j, Config={**(j.TaskGroups[0].Tasks[0].Config or {}), "bogus_key": 1}),  # type: ignore[index]
     '"bogus_key" is an invalid field'),
    (lambda j: _first_task(j, Resources=Resources(CPU=50)), "minimum CPU value is 100; got 50"),
    (lambda j: _first_task(j, Resources=Resources(MemoryMB=5)), "minimum MemoryMB value is 10; got 5"),
    (lambda j: _first_task(j, Name="a/b"), "Task name cannot include slashes"),
    (lambda j: _first_group(j, EphemeralDisk=EphemeralDisk(SizeMB=5)), "minimum DiskMB value is 10; got 5"),
    (lambda j: _first_group(j, RestartPolicy=RestartPolicy(Mode="bogus")), 'Unsupported restart mode: "bogus"'),
    (lambda j: attrs.evolve(j, TaskGroups=[j.TaskGroups[0], j.TaskGroups[0]]), "redefines"),  # type: ignore[index]
    (lambda j: attrs.evolve(j, Constraints=[Constraint(LTarget="${attr.x}", RTarget="y", Operand="~")]),
     'Unknown constraint type "~"'),
    (lambda j: attrs.evolve(j, Constraints=[Constraint(LTarget="${attr.x}", RTarget="(", Operand="regexp")]),
     "Regular expression failed to compile"),
)

_SERVICE_MUTATIONS: tuple[tuple[Callable[[Job], Job], str], ...] = (
    (lambda j: attrs.evolve(j, Periodic=PeriodicConfig(Spec="@hourly")),
     'Periodic can only be used with "batch" scheduler'),
    (lambda j: attrs.evolve(j, ParameterizedJob=ParameterizedJobConfig(Payload="optional")),
     'Parameterized job can only be used with "batch" scheduler'),
    # A job-level update would rewrite an incomplete group update (the pre-0.6
    # conversion), so these drop it.
    (lambda j: _first_group(attrs.evolve(j, Update=None), Update=UpdateStrategy(MaxParallel=0)),
     "Max parallel can not be less than one"),
    (lambda j: _first_group(attrs.evolve(j, Update=None),
                            Update=UpdateStrategy(MinHealthyTime=10 * SECOND, HealthyDeadline=5 * SECOND)),
     "Minimum healthy time must be less than healthy deadline"),
)

_SYSTEM_MUTATIONS: tuple[tuple[Callable[[Job], Job], str], ...] = (
    (lambda j: _first_group(j, Count=2), "Count cannot exceed 1 with system scheduler"),
)

_BATCH_MUTATIONS: tuple[tuple[Callable[[Job], Job], str], ...] = (
    (lambda j: attrs.evolve(j, Periodic=PeriodicConfig(Spec="not a cron", SpecType="cron")), "Invalid cron spec"),
    (lambda j: attrs.evolve(j, Periodic=PeriodicConfig(Spec="")), "Must specify a spec"),
    (lambda j: attrs.evolve(j, Periodic=PeriodicConfig(Spec="@hourly", TimeZone="Mars/Olympus")),
     'Invalid time zone "Mars/Olympus"'),
    (lambda j: attrs.evolve(j, ParameterizedJob=ParameterizedJobConfig(Payload="sometimes")),
     'Unknown payload requirement: "sometimes"'),
    (lambda j: attrs.evolve(j, ParameterizedJob=ParameterizedJobConfig(Payload="optional", MetaRequired=["k"],
                                                                      MetaOptional=["k"])),
     "Required and optional meta keys should be disjoint"),
)


@st.composite
def _invalid(draw: st.DrawFn) -> tuple[Job, str]:
    kind = draw(st.sampled_from(JOB_TYPES))
    mutations = _MUTATIONS + {"service": _SERVICE_MUTATIONS, "system": _SYSTEM_MUTATIONS,
                              "batch": _BATCH_MUTATIONS}[kind]
    mutate, message = draw(st.sampled_from(mutations))
    base = draw(jobs(kind, with_update=False if kind != "service" else None))
    return mutate(base), message


def invalid_jobs() -> SearchStrategy[tuple[Job, str]]:
    """Near-valid jobs with exactly one defect, paired with a substring of the
    message Nomad rejects them with (register answers 500 with that text)."""
    return _invalid()
