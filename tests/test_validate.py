"""Validation and warnings: Nomad v0.7.1's exact messages."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import attrs
import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomadjobs import codec
from nomadjobs.canonicalize import api_canonicalize
from nomadjobs.golang.multierror import warnings_text
from nomadjobs.golang.regexp import compile_error as go_regexp_error
from nomadjobs.structs import (
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
    Service,
    ServiceCheck,
    Task,
    TaskArtifact,
    TaskGroup,
    Template,
    UpdateStrategy,
    Vault,
)
from nomadjobs.validate import (
    cron_parse_error,
    croniter_args,
    job_warnings,
    render_errors,
    validate,
    validate_constraint,
    validate_driver_config,
    validate_job_for_register,
)

from test_canonicalize import jobs as job_strategy

from conformance import GOLDEN_DIR  # noqa: E402  (vendored recordings)

GOLDEN = GOLDEN_DIR
S = 10**9


def task(**kw) -> Task:
    fields = dict(Name="t", Driver="exec", Config={"command": "/bin/true"})
    fields.update(kw)
    return Task(**fields)


def job(groups=None, **kw) -> Job:
    fields = dict(ID="j", Datacenters=["dc1"],
                  TaskGroups=groups if groups is not None else [TaskGroup(Name="web", Tasks=[task()])])
    fields.update(kw)
    return Job(**fields)


def register(j: Job) -> tuple[list[str], list[str]]:
    """Errors and warnings for an api-level job, the way the HTTP register path sees it."""
    _, errors, warnings = validate_job_for_register(api_canonicalize(j))
    return errors, warnings


def errors_of(j: Job) -> list[str]:
    return register(j)[0]


def group_error(inner: list[str], group: str = "web") -> str:
    return f"Task group {group} validation failed: {render_errors(inner)}"


def task_error(inner: list[str], name: str = "t", group: str = "web") -> str:
    return group_error([f"Task {name} validation failed: {render_errors(inner)}"], group)


def test_valid_job_has_no_errors_or_warnings():
    assert register(job()) == ([], [])


def test_golden_invalid_job_message():
    case = json.loads((GOLDEN / "24_register_invalid_job.json").read_text())
    body = codec.from_wire(case["request"]["body"]["Job"], Job)
    errors, _ = register(body)
    assert render_errors(errors) == case["response"]["body_raw"]
    assert render_errors(errors) == "2 error(s) occurred:\n\n* Missing job datacenters\n* Missing job task groups"


def test_job_level_field_errors_in_order():
    bare = Job(ID="has space", Region="", Name="", Namespace="", Type="", Priority=0, TaskGroups=None)
    assert validate(bare) == [
        "Missing job region",
        "Job ID contains a space",
        "Missing job name",
        "Job must be in a namespace",
        "Missing job type",
        "Job priority must be between [1, 100]",
        "Missing job datacenters",
        "Missing job task groups",
    ]
    assert validate(attrs.evolve(bare, ID="", Type="cron"))[1:6] == ["Missing job ID",
        "Missing job name", "Job must be in a namespace", 'Invalid job type: "cron"',
        "Job priority must be between [1, 100]"]
    assert validate(attrs.evolve(bare, ID=""))[1] == "Missing job ID"


def test_group_without_tasks_nests_its_error():
    errors = errors_of(job([TaskGroup(Name="web")]))
    assert errors == ["Task group web validation failed: 1 error(s) occurred:\n\n* Missing tasks for task group"]
    assert render_errors(errors) == ("1 error(s) occurred:\n\n* Task group web validation failed: 1 error(s) "
                                     "occurred:\n\n* Missing tasks for task group")


def test_duplicate_and_unnamed_groups():
    groups = [TaskGroup(Name="web", Tasks=[task()]), TaskGroup(Name="web", Tasks=[task()]),
              TaskGroup(Name="", Tasks=[task()])]
    assert errors_of(job(groups)) == [
        "Job task group 2 redefines 'web' from group 1",
        "Job task group 3 missing name",
        "Task group  validation failed: 1 error(s) occurred:\n\n* Missing task group name",
    ]


def test_bad_restart_policy():
    rp = RestartPolicy(Attempts=0, Interval=1 * S, Delay=10 * S, Mode="bogus")
    errors = errors_of(job([TaskGroup(Name="web", RestartPolicy=rp, Tasks=[task()])]))
    assert errors == [group_error([render_errors([
        'Unsupported restart mode: "bogus"',
        'Restart policy "bogus" with 0 attempts is ambiguous',
        "Interval can not be less than 5s (got 1s)",
    ])])]


def test_restart_policy_that_cannot_fit_its_interval():
    rp = RestartPolicy(Attempts=3, Interval=60 * S, Delay=30 * S, Mode="delay")
    errors = errors_of(job([TaskGroup(Name="web", RestartPolicy=rp, Tasks=[task()])]))
    assert errors == [group_error([render_errors([
        "Nomad can't restart the TaskGroup 3 times in an interval of 1m0s with a delay of 30s"])])]


def test_fail_mode_allows_zero_attempts():
    rp = RestartPolicy(Attempts=0, Mode="fail")
    assert errors_of(job([TaskGroup(Name="web", RestartPolicy=rp, Tasks=[task()])])) == []


def test_bad_update_block():
    u = UpdateStrategy(Stagger=0, MaxParallel=0, HealthCheck="bogus", MinHealthyTime=10 * S,
                       HealthyDeadline=5 * S, Canary=-1)
    errors = errors_of(job([TaskGroup(Name="web", Update=u, Tasks=[task()])]))
    assert errors == [group_error([render_errors([
        'Invalid health check given: "bogus"',
        "Max parallel can not be less than one: 0 < 1",
        "Canary count can not be less than zero: -1 < 0",
        "Minimum healthy time must be less than healthy deadline: 10s > 5s",
        "Stagger must be greater than zero: 0s",
    ])])]


def test_update_negative_times():
    u = UpdateStrategy(MinHealthyTime=-1 * S, HealthyDeadline=0)
    errors = errors_of(job([TaskGroup(Name="web", Update=u, Tasks=[task()])]))
    assert errors == [group_error([render_errors([
        "Minimum healthy time may not be less than zero: -1s",
        "Healthy deadline must be greater than zero: 0s",
    ])])]


def test_small_ephemeral_disk_and_log_storage():
    errors = errors_of(job([TaskGroup(Name="web", EphemeralDisk=EphemeralDisk(SizeMB=5), Tasks=[task()])]))
    assert errors == [group_error([
        "minimum DiskMB value is 10; got 5",
        "Task t validation failed: 1 error(s) occurred:\n\n"
        "* log storage (100 MB) must be less than requested disk capacity (5 MB)",
    ])]


@pytest.mark.parametrize("constraint,expected", [
    (Constraint(LTarget="a", RTarget="b", Operand=""), ["Missing constraint operand", 'Unknown constraint type ""']),
    (Constraint(LTarget="", RTarget="b", Operand="="), ["No LTarget provided but is required by constraint"]),
    (Constraint(LTarget="a", RTarget="", Operand="!="), ['Operator "!=" requires an RTarget']),
    (Constraint(LTarget="a", RTarget="(", Operand="regexp"),
     ["Regular expression failed to compile: error parsing regexp: missing closing ): `(`"]),
    (Constraint(LTarget="a", RTarget="bogus version", Operand="version"),
     ["Version constraint is invalid: Malformed constraint: bogus version"]),
    (Constraint(LTarget="a", RTarget=">= 0.6.1, < 1.0", Operand="version"), []),
    (Constraint(LTarget="a", RTarget="~> 1.2.3-beta+build", Operand="version"), []),
    (Constraint(LTarget="a", RTarget="", Operand="set_contains"), ["Set contains constraint requires an RTarget"]),
    (Constraint(LTarget="", RTarget="", Operand="distinct_hosts"), []),
    (Constraint(LTarget="${meta.rack}", RTarget="", Operand="distinct_property"), []),
    (Constraint(LTarget="${meta.rack}", RTarget="abc", Operand="distinct_property"),
     ['Failed to convert RTarget "abc" to uint64: strconv.ParseUint: parsing "abc": invalid syntax']),
    (Constraint(LTarget="${meta.rack}", RTarget="0", Operand="distinct_property"),
     ["Distinct Property must have an allowed count of 1 or greater: 0 < 1"]),
    (Constraint(LTarget="a", RTarget="b", Operand="~="), ['Unknown constraint type "~="']),
    (Constraint(LTarget="a", RTarget="^linux$", Operand="regexp"), []),
])
def test_constraint_operands(constraint, expected):
    assert validate_constraint(constraint) == expected


def test_constraint_errors_at_each_level():
    bad = Constraint(LTarget="a", RTarget="", Operand="<")
    errors = errors_of(job([TaskGroup(Name="web", Constraints=[bad], Tasks=[task(Constraints=[bad])])],
                           Constraints=[bad]))
    inner = "Constraint 1 validation failed: 1 error(s) occurred:\n\n* Operator \"<\" requires an RTarget"
    assert errors == [inner, group_error([inner, f"Task t validation failed: {render_errors([inner])}"])]


def test_task_level_distinct_operands_are_disallowed():
    c = Constraint(Operand="distinct_hosts")
    assert errors_of(job([TaskGroup(Name="web", Tasks=[task(Constraints=[c])])])) == [
        task_error(["Constraint 1 has disallowed Operand at task level: distinct_hosts"])]


@pytest.mark.parametrize("pattern,expected", [
    ("a)b", "error parsing regexp: unexpected ): `a)b`"),
    ("[a", "error parsing regexp: missing closing ]: `[a`"),
    ("*a", "error parsing regexp: missing argument to repetition operator: `*`"),
    ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
    (r"(a)\1", "error parsing regexp: invalid escape sequence: `\\1`"),
    ("(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
    ("a{1001}", "error parsing regexp: invalid repeat count: `{1001}`"),
    ("[z-a]", "error parsing regexp: invalid character class range: `z-a`"),
    ("\\", "error parsing regexp: trailing backslash at end of expression: ``"),
    (r"(?i)^\pL+[[:digit:]]\z", None),
    (r"[]a]\x{41}\101", None),
])
def test_go_regexp_errors(pattern, expected):
    assert go_regexp_error(pattern) == expected


def test_resource_minimums():
    res = Resources(CPU=50, MemoryMB=5, IOPS=-1, Networks=[NetworkResource(MBits=0)])
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Resources=res)])]))
    assert errors == [task_error([render_errors([
        "minimum CPU value is 100; got 50",
        "minimum MemoryMB value is 10; got 5",
        "minimum IOPS value is 0; got -1",
        "network resource at index 0 failed: 1 error(s) occurred:\n\n* minimum MBits value is 1; got 0",
    ])])]
    assert render_errors(errors).count("error(s) occurred") == 5


def test_task_field_errors():
    bad = task(Name="a/b", KillTimeout=-1, ShutdownDelay=-1, LogConfig=LogConfig(MaxFiles=0, MaxFileSizeMB=0))
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[bad])]))
    assert errors == [task_error([
        "Task name cannot include slashes",
        "KillTimeout must be a positive value",
        "ShutdownDelay must be a positive value",
        render_errors(["minimum number of files is 1; got 0", "minimum file size is 1MB; got 0"]),
    ], name="a/b")]


def test_task_names_leaders_and_static_ports():
    ports = Resources(Networks=[NetworkResource(ReservedPorts=[Port(Label="http", Value=8080)])])
    tasks = [task(Name="a", Leader=True, Resources=ports), task(Name="a", Leader=True, Resources=ports),
             task(Name="")]
    assert errors_of(job([TaskGroup(Name="web", Tasks=tasks)])) == [group_error([
        "Task 2 redefines 'a' from task 1",
        "Static port 8080 already reserved by a:http",
        "Task 3 missing name",
        "Only one task may be marked as leader",
        "Task  validation failed: 1 error(s) occurred:\n\n* Missing task name",
    ])]


def test_disk_on_a_task_is_rejected_outside_http():
    # Over HTTP DiskMB is dropped; a library caller can still send it, and the
    # server first moves the task's disk to the group.
    canon = api_canonicalize(job())
    t = attrs.evolve(canon.TaskGroups[0].Tasks[0], Resources=Resources(CPU=100, MemoryMB=100, DiskMB=5, IOPS=0))
    j = attrs.evolve(canon, TaskGroups=[attrs.evolve(canon.TaskGroups[0], Tasks=[t])])
    checked, errors, _ = validate_job_for_register(j)
    assert checked.TaskGroups[0].EphemeralDisk.SizeMB == 5
    assert errors == [group_error([
        "minimum DiskMB value is 10; got 5",
        "Task t validation failed: " + render_errors([
            "Task can't ask for disk resources, they have to be specified at the task group level.",
            "log storage (100 MB) must be less than requested disk capacity (5 MB)",
        ]),
    ])]


def test_unknown_driver_message_swaps_group_and_task():
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Name="api", Driver="lxd")])]))
    assert errors == ['failed to create driver for task "web" in group "api" for validation: unknown driver \'lxd\'']


def test_empty_driver_is_reported_twice():
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Driver="")])]))
    assert errors == [task_error(["Missing task driver"]),
                      'failed to create driver for task "web" in group "t" for validation: unknown driver \'\'']


def test_missing_docker_image():
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Driver="docker", Config={"port_map": []})])]))
    assert errors == ['group "web" -> task "t" -> config: 1 error(s) occurred:\n\n* field "image" is required']


@pytest.mark.parametrize("driver,config,expected", [
    ("docker", {"image": "redis", "bogus": 1.0, "privileged": "yes"},
     ['"bogus" is an invalid field', 'field "privileged" with input "yes" doesn\'t seem to be of type boolean']),
    ("docker", {"image": ""}, ['field "image" is required, but no value was found']),
    ("docker", {"image": None}, ['field "image" is required, but no value was found']),
    ("docker", {"image": "x", "shm_size": 64.0, "port_map": [{"db": 6379.0}]}, []),
    ("docker", {"image": "x", "shm_size": "64"},
     ['field "shm_size" with input "64" doesn\'t seem to be of type integer']),
    ("exec", {"command": 5.0}, ['field "command" with input %!q(float64=5) doesn\'t seem to be of type string']),
    ("exec", {"command": "x", "args": "a b"}, ['field "args" with input "a b" doesn\'t seem to be of type array']),
    ("raw_exec", None, ['field "command" is required']),
    ("java", {"jar_path": "a.jar", "class": "Main", "jvm_options": ["-Xmx1g"]}, []),
    ("java", {"image": "x"}, ['"image" is an invalid field']),
    ("qemu", {"image_path": "a.img", "graceful_shutdown": True, "accelerator": "kvm"}, []),
    ("qemu", {}, ['field "image_path" is required']),
    ("rkt", {"image": "coreos.com/etcd", "trust_prefix": "coreos.com", "debug": 1.0},
     ['field "debug" with input %!q(float64=1) doesn\'t seem to be of type boolean']),
    ("exec", {"command": "x", "args": 1234567.0},
     ['field "args" with input %!q(float64=1.234567e+06) doesn\'t seem to be of type array']),
])
def test_driver_config_schemas(driver, config, expected):
    assert validate_driver_config(driver, config) == expected


def test_signals_on_drivers_that_cannot_send_them():
    t = task(Driver="qemu", Config={"image_path": "a.img"}, KillSignal="SIGINT",
             Templates=[Template(DestPath="local/x", EmbeddedTmpl="x", ChangeMode="signal",
                                 ChangeSignal="SIGHUP")])
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[t])]))
    assert errors == ['group "web" -> task "t": driver "qemu" doesn\'t support sending signals. '
                      "Requested signals are SIGHUP, SIGINT"]


def test_signals_are_fine_on_exec():
    assert errors_of(job([TaskGroup(Name="web", Tasks=[task(KillSignal="SIGINT")])])) == []


def test_core_type_and_payload_come_last():
    errors = errors_of(job(Type="_core", Payload=b"x", Priority=0))
    assert errors == ["Job priority must be between [1, 100]", "job type cannot be core",
                      "job can't be submitted with a payload, only dispatched"]


def test_system_count_above_one():
    errors = errors_of(job([TaskGroup(Name="web", Count=3, Tasks=[task()])], Type="system"))
    assert errors == ["Job task group web has count 3. Count cannot exceed 1 with system scheduler"]
    assert errors_of(job([TaskGroup(Name="web", Count=1, Tasks=[task()])], Type="system")) == []


# --- periodic ---------------------------------------------------------------------------

def test_periodic_on_service():
    errors = errors_of(job(Periodic=PeriodicConfig(Spec="0 0 1 1 *")))
    assert errors == ['Periodic can only be used with "batch" scheduler']


def test_disabled_periodic_is_not_validated():
    assert errors_of(job(Periodic=PeriodicConfig(Enabled=False, Spec="bogus", SpecType="x"))) == []


@pytest.mark.parametrize("periodic,inner", [
    (PeriodicConfig(Spec="bogus"), ['Invalid cron spec "bogus": missing field(s)']),
    (PeriodicConfig(Spec=""), ["Must specify a spec", 'Invalid cron spec "": missing field(s)']),
    (PeriodicConfig(Spec="61 * * * *"), ["Invalid cron spec \"61 * * * *\": syntax error in minute field: '61'"]),
    (PeriodicConfig(Spec="0 0 32 * *"),
     ["Invalid cron spec \"0 0 32 * *\": syntax error in day-of-month field: '32'"]),
    (PeriodicConfig(Spec="0 0 * * FUNDAY"),
     ["Invalid cron spec \"0 0 * * FUNDAY\": syntax error in day-of-week field: 'funday'"]),
    (PeriodicConfig(Spec="* * * * *", TimeZone="Mars/Olympus"),
     ['Invalid time zone "Mars/Olympus": unknown time zone Mars/Olympus']),
    (PeriodicConfig(Spec="* * * * *", TimeZone="../etc/passwd"),
     ['Invalid time zone "../etc/passwd": time: invalid location name']),
    (PeriodicConfig(Spec="* * * * *", SpecType="interval"), ['Unknown periodic specification type "interval"']),
])
def test_periodic_errors_are_nested_under_the_job(periodic, inner):
    errors = errors_of(job(Type="batch", Periodic=periodic))
    assert errors == [render_errors(inner)]


@pytest.mark.parametrize("spec", ["0 0 1 1 *", "*/5 * * * *", "0 9-17 * * mon-fri", "@daily", "@hourly",
                                  "0 0 1 1 * 2030", "30 0 0 1 1 * *", "0 0 L * *", "0 12 * JAN,jul *"])
def test_accepted_cron_specs(spec):
    assert cron_parse_error(spec) is None
    assert errors_of(job(Type="batch", Periodic=PeriodicConfig(Spec=spec, TimeZone="Europe/Paris"))) == []


def test_test_spec_type_skips_cron():
    assert errors_of(job(Type="batch", Periodic=PeriodicConfig(Spec="1,2,3", SpecType="_internal_test"))) == []


def test_croniter_args_follow_nomad_field_layout():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def next_after(spec):
        expr, kwargs = croniter_args(spec)
        return croniter(expr, start, **kwargs).get_next(datetime)

    assert next_after("0 0 1 1 *") == datetime(2027, 1, 1, tzinfo=timezone.utc)
    # Six fields: the sixth is a year, not seconds.
    assert next_after("0 0 1 1 * 2030") == datetime(2030, 1, 1, tzinfo=timezone.utc)
    # Seven fields: seconds first.
    assert next_after("30 0 0 1 1 * *") == datetime(2026, 1, 1, 0, 0, 30, tzinfo=timezone.utc)
    assert next_after("@yearly") == datetime(2027, 1, 1, tzinfo=timezone.utc)


# --- parameterized ----------------------------------------------------------------------

def test_parameterized_overlapping_meta_and_bad_payload():
    pj = ParameterizedJobConfig(Payload="sometimes", MetaRequired=["a", "b"], MetaOptional=["b", "c", "a", "b"])
    errors = errors_of(job(Type="batch", ParameterizedJob=pj))
    assert errors == [render_errors([
        'Unknown payload requirement: "sometimes"',
        "Required and optional meta keys should be disjoint. Following keys exist in both: [b a]",
    ])]


def test_parameterized_on_service_and_empty_payload_defaults():
    assert errors_of(job(ParameterizedJob=ParameterizedJobConfig())) == [
        'Parameterized job can only be used with "batch" scheduler']
    assert errors_of(job(Type="batch", ParameterizedJob=ParameterizedJobConfig(Payload=""))) == []


# --- services, vault, templates, artifacts, dispatch payload -------------------------------

def test_service_errors():
    net = Resources(Networks=[NetworkResource(DynamicPorts=[Port(Label="http")])])
    services = [
        Service(Name="bad_name!", PortLabel="http", AddressMode="nat"),
        Service(Name="dup", PortLabel="http"),
        Service(Name="dup", PortLabel="http"),
        Service(Name="noport", Checks=[ServiceCheck(Name="c", Type="tcp", Interval=10 * S, Timeout=2 * S)]),
        Service(Name="missing", PortLabel="grpc"),
    ]
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Resources=net, Services=services)])]))
    assert errors == [task_error([render_errors([
        "service[0] \"bad_name!\" validation failed: 2 error(s) occurred:\n\n"
        "* service name must be valid per RFC 1123 and can contain only alphanumeric characters or dashes: "
        "\"bad_name!\"\n"
        "* service address_mode must be \"auto\", \"host\", or \"driver\"; not \"nat\"",
        'service "dup" is duplicate',
        "service[3] \"noport\" validation failed: 1 error(s) occurred:\n\n"
        "* check c invalid: check requires a port but neither check nor service \"noport\" have a port",
        'check "c" is missing a port',
        'port label "grpc" referenced by services missing does not exist',
    ])])]


def test_service_name_may_contain_interpolation():
    net = Resources(Networks=[NetworkResource(DynamicPorts=[Port(Label="http")])])
    services = [Service(Name="api-${NOMAD_META_color}", PortLabel="http")]
    assert errors_of(job([TaskGroup(Name="web", Tasks=[task(Resources=net, Services=services)])])) == []


def test_check_errors():
    net = Resources(Networks=[NetworkResource(DynamicPorts=[Port(Label="http")])])
    checks = [
        ServiceCheck(Name="a", Type="http", Interval=10 * S, Timeout=2 * S),
        ServiceCheck(Name="b", Type="grpc", Interval=10 * S, Timeout=2 * S),
        ServiceCheck(Name="c", Type="tcp", Interval=500 * 10**6, Timeout=2 * S),
        ServiceCheck(Name="d", Type="script", Command="/bin/check", Interval=10 * S, Timeout=0),
        ServiceCheck(Name="e", Type="tcp", Interval=10 * S, Timeout=2 * S, AddressMode="auto"),
        ServiceCheck(Name="f", Type="tcp", Interval=10 * S, Timeout=2 * S, PortLabel="8080"),
    ]
    services = [Service(Name="svc", PortLabel="http", Checks=checks)]
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Resources=net, Services=services)])]))
    assert errors == [task_error([render_errors([
        "service[0] \"svc\" validation failed: 5 error(s) occurred:\n\n"
        "* check a invalid: http type must have a valid http path\n"
        "* check b invalid: invalid type (\"grpc\"), must be one of \"http\", \"tcp\", or \"script\" type\n"
        "* check c invalid: interval (500ms) cannot be lower than 1s\n"
        "* check d invalid: missing required value timeout. Timeout cannot be less than 1s\n"
        "* check e invalid: invalid address_mode \"auto\" - auto only valid for services",
        'check "f" cannot use a numeric port 8080 without setting address_mode="driver"',
    ])])]


def test_vault_errors():
    t = task(Vault=Vault(Policies=["root"], ChangeMode="signal", ChangeSignal=""))
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[t])]))
    # The empty signal also becomes an implicit set_contains constraint with no
    # RTarget, which Nomad then rejects (after the Vault version constraint).
    assert errors == [group_error([
        "Constraint 2 validation failed: 1 error(s) occurred:\n\n* Set contains constraint requires an RTarget",
        "Task t validation failed: " + render_errors(["Vault validation failed: " + render_errors([
            'Can not specify "root" policy',
            'Signal must be specified when using change mode "signal"',
        ])]),
    ])]
    t = task(Vault=Vault(Policies=[], ChangeMode="explode"))
    assert errors_of(job([TaskGroup(Name="web", Tasks=[t])])) == [task_error([
        "Vault validation failed: " + render_errors(["Policy list cannot be empty",
                                                     'Unknown change mode "explode"'])])]


def test_template_errors():
    templates = [
        Template(DestPath="../../escape", ChangeMode="bogus", Splay=-1, Perms="0999", VaultGrace=-1 * S),
        Template(EmbeddedTmpl="x", DestPath="local/a", ChangeMode="signal", ChangeSignal=""),
        Template(EmbeddedTmpl="x", DestPath="local/a"),
    ]
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Templates=templates)])]))
    template_errors = [
        "Template 1 validation failed: " + render_errors([
            "Must specify a source path or have an embedded template",
            "destination escapes allocation directory",
            "Invalid change mode. Must be one of the following: noop, signal, restart",
            "Must specify positive splay value",
            'Failed to parse "0999" as octal: strconv.ParseUint: parsing "0999": invalid syntax',
            "Vault grace must be greater than zero: -1s < 0",
        ]),
        "Template 2 validation failed: " + render_errors(["Must specify signal value when change mode is signal"]),
        "Template 3 has same destination as 2",
    ]
    assert errors == [group_error([
        # Template 2's empty signal becomes an implicit constraint with no RTarget.
        "Constraint 1 validation failed: 1 error(s) occurred:\n\n* Set contains constraint requires an RTarget",
        "Task t validation failed: " + render_errors(template_errors),
    ])]


def test_template_without_destination_and_big_perms():
    templates = [Template(SourcePath="in.tpl", Perms="10000")]
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Templates=templates)])]))
    assert errors == [task_error(["Template 1 validation failed: " + render_errors([
        "Must specify a destination for the template",
        'Failed to parse "10000" as octal: strconv.ParseUint: parsing "10000": value out of range',
    ])])]


def test_artifact_errors():
    artifacts = [
        TaskArtifact(GetterSource="", GetterMode="tarball", RelativeDest="../../.."),
        TaskArtifact(GetterSource="http://x/y", GetterOptions={"checksum": "md5"}),
        TaskArtifact(GetterSource="http://x/y", GetterOptions={"checksum": "md5:abc"}),
        TaskArtifact(GetterSource="http://x/y", GetterOptions={"checksum": "crc:abcd"}),
        TaskArtifact(GetterSource="http://x/y", GetterOptions={"checksum": "sha1:abcd"}),
        TaskArtifact(GetterSource="http://x/y", GetterOptions={"checksum": "md5:zz"}),
        TaskArtifact(GetterSource="http://x/y", GetterOptions={"checksum": "md5:" + "ab" * 16}),
    ]
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[task(Artifacts=artifacts)])]))
    assert errors == [task_error([
        "Artifact 1 validation failed: " + render_errors([
            "source must be specified",
            'invalid artifact mode "tarball"; must be one of: any, file, dir',
            "destination escapes allocation directory",
        ]),
        "Artifact 2 validation failed: " + render_errors(['checksum must be given as "type:value"; got "md5"']),
        "Artifact 3 validation failed: " + render_errors(["invalid checksum: encoding/hex: odd length hex string"]),
        "Artifact 4 validation failed: " + render_errors(["unsupported checksum type: crc"]),
        "Artifact 5 validation failed: " + render_errors(["invalid sha1 checksum: abcd"]),
        "Artifact 6 validation failed: " + render_errors(["invalid checksum: encoding/hex: invalid byte: U+007A 'z'"]),
    ])]


def test_dispatch_payload_escape():
    ok = task(DispatchPayload=DispatchPayloadConfig(File="input/data.json"))
    bad = task(Name="u", DispatchPayload=DispatchPayloadConfig(File="../../../../x"))
    errors = errors_of(job([TaskGroup(Name="web", Tasks=[ok, bad])], Type="batch"))
    assert errors == [task_error(
        ["Dispatch Payload validation failed: destination escapes allocation directory"], name="u")]


# --- warnings -------------------------------------------------------------------------

def test_max_parallel_above_count_warns():
    j = job([TaskGroup(Name="web", Count=2, Tasks=[task()])], Update=UpdateStrategy(MaxParallel=3))
    errors, warnings = register(j)
    assert errors == []
    assert warnings == ['Group "web" has warnings: 1 error(s) occurred:\n\n* Update max parallel count is greater '
                        "than task group count (3 > 2). A destructive change would result in the simultaneous "
                        "replacement of all allocations."]
    assert warnings_text(warnings).startswith('1 warning(s):\n\n* Group "web" has warnings: 1 error(s) occurred:')
    assert job_warnings(api_canonicalize(j)) == warnings


def test_batch_update_warning_reaches_register():
    errors, warnings = register(job(Type="batch", Update=UpdateStrategy(MaxParallel=5)))
    assert errors == []
    assert warnings == ["Update stanza is disallowed for batch jobs since v0.6.0. The update block has "
                        "automatically been removed"]


def test_job_warnings_come_before_canonicalize_warnings():
    groups = [TaskGroup(Name="web", Count=1, Tasks=[task()], Update=UpdateStrategy(MaxParallel=4))]
    canon = api_canonicalize(job(groups))
    # Force the pre-0.6 conversion on a second group without its own strategy.
    extra = attrs.evolve(canon.TaskGroups[0], Name="other", Update=None, Count=1)
    canon = attrs.evolve(canon, TaskGroups=[canon.TaskGroups[0], extra],
                         Update=attrs.evolve(canon.Update, Stagger=5 * S, MaxParallel=1))
    _, _, warnings = validate_job_for_register(canon)
    assert warnings[0].startswith('Group "web" has warnings:')
    assert warnings[1].startswith("A best effort conversion to new update stanza")


# --- properties -----------------------------------------------------------------------

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_strategy)
def test_validate_never_raises(raw):
    for candidate in (raw, api_canonicalize(raw)):
        _, errors, warnings = validate_job_for_register(candidate)
        assert all(isinstance(e, str) and e for e in errors)
        assert all(isinstance(w, str) and w for w in warnings)
        assert validate(candidate) is not None
        render_errors(errors)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab()[]{}*+?|^$\\.-:=!<>PpQEdxz01789,^") + ["é", "\n"]),
               max_size=12))
def test_regexp_checker_never_raises_and_agrees_on_plain_python_failures(pattern):
    problem = go_regexp_error(pattern)
    assert problem is None or problem.startswith("error parsing regexp: ")
    if problem is None:
        # Whatever RE2 accepts here, the translated pattern must not be an obvious
        # structural error that Python reports for the raw text too.
        try:
            re.compile(pattern)
        except re.error as exc:
            assert not exc.msg.startswith(("missing ), unterminated", "unbalanced parenthesis",
                                           "unterminated character set", "nothing to repeat"))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789*/,-? LW#@abcdefghijklmnopqrstuvwxyz")), max_size=30))
def test_cron_checker_never_raises(spec):
    problem = cron_parse_error(spec)
    if problem is None:
        expr, kwargs = croniter_args(spec)
        croniter(expr, datetime(2026, 1, 1, tzinfo=timezone.utc), **kwargs)
