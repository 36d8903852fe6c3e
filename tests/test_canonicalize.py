"""API-layer and server-side canonicalization, implicit constraints, spec changes."""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomadjobs import codec
from nomadjobs.canonicalize import (
    BATCH_UPDATE_WARNING,
    OLD_UPDATE_WARNING,
    VAULT_CONSTRAINT,
    api_canonicalize,
    fill_zero_values,
    server_canonicalize,
    set_implicit_constraints,
    spec_changed,
)
from nomadjobs.golang.strconv import quote as go_quote
from nomadjobs.structs import (
    CheckRestart,
    Constraint,
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

from conformance import GOLDEN_DIR  # noqa: E402  (vendored recordings)

GOLDEN = GOLDEN_DIR
S = 10**9
# Fields the server stamps on write; the canonical spec never decides them.
STAMPED = ("Status", "SubmitTime", "CreateIndex", "ModifyIndex", "JobModifyIndex", "Version", "Stable")


def golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


def request_job(name: str) -> Job:
    return codec.from_wire(golden(name)["request"]["body"]["Job"], Job)


def full(job: Job) -> tuple[Job, list[str]]:
    """The whole register path up to validation: api layer, server, implicit constraints."""
    canon, warnings = server_canonicalize(api_canonicalize(job))
    return set_implicit_constraints(canon), warnings


def wire_without_stamps(job_wire: dict) -> dict:
    return {k: v for k, v in job_wire.items() if k not in STAMPED}


def simple_job(**overrides) -> Job:
    task = Task(Name="t", Driver="exec", Config={"command": "/bin/true"})
    fields = dict(ID="j", Datacenters=["dc1"], TaskGroups=[TaskGroup(Name="web", Tasks=[task])])
    fields.update(overrides)
    return Job(**fields)


# --- golden recordings -----------------------------------------------------------------

@pytest.mark.parametrize("register,read", [
    ("03_register_example.json", "07_read_job.json"),
    ("26_update_enforce_index_ok.json", "27_read_job_after_update.json"),
])
def test_register_body_canonicalizes_to_what_nomad_stored(register, read):
    job, warnings = full(request_job(register))
    expected = golden(read)["response"]["body_json"]
    assert warnings == []
    assert wire_without_stamps(codec.to_wire(job)) == wire_without_stamps(expected)


def test_parameterized_batch_body_matches_its_dispatched_child():
    parent, warnings = full(request_job("56_register_param_batch.json"))
    child = golden("63_read_dispatched_child.json")["response"]["body_json"]
    assert warnings == []
    # A dispatched child is the parent copy with these fields replaced.
    replaced = ("ID", "Name", "ParentID", "ParameterizedJob", "Meta", "Payload")
    ours = {k: v for k, v in wire_without_stamps(codec.to_wire(parent)).items() if k not in replaced}
    theirs = {k: v for k, v in wire_without_stamps(child).items() if k not in replaced}
    assert ours == theirs
    assert parent.ParameterizedJob == ParameterizedJobConfig(Payload="optional", MetaRequired=["who"],
                                                             MetaOptional=["note"])


def test_periodic_batch_body():
    job, warnings = full(request_job("68_register_periodic_batch.json"))
    assert warnings == []
    assert job.Periodic == PeriodicConfig(Enabled=True, Spec="0 0 1 1 *", SpecType="cron", ProhibitOverlap=True,
                                          TimeZone="UTC")
    wire = codec.to_wire(job)
    assert wire["Update"] == {"Stagger": 0, "MaxParallel": 0, "HealthCheck": "", "MinHealthyTime": 0,
                              "HealthyDeadline": 0, "AutoRevert": False, "Canary": 0}
    assert wire["TaskGroups"][0]["Update"] is None
    assert wire["TaskGroups"][0]["RestartPolicy"] == {"Attempts": 15, "Interval": 168 * 3600 * S,
                                                      "Delay": 15 * S, "Mode": "delay"}


def test_raw_exec_service_body_merges_job_update_into_group():
    job, _ = full(request_job("75_register_raw_exec_service.json"))
    assert job.Update == UpdateStrategy(Stagger=30 * S, MaxParallel=1, HealthCheck="", MinHealthyTime=0,
                                        HealthyDeadline=0, AutoRevert=False, Canary=0)
    assert job.TaskGroups[0].Update == UpdateStrategy(Stagger=30 * S, MaxParallel=1, HealthCheck="checks",
                                                      MinHealthyTime=1 * S, HealthyDeadline=60 * S,
                                                      AutoRevert=False, Canary=0)
    assert job.TaskGroups[0].RestartPolicy == RestartPolicy(Attempts=2, Interval=60 * S, Delay=15 * S,
                                                            Mode="delay")


# --- api layer defaults ----------------------------------------------------------------

def test_minimal_job_gets_every_api_default():
    job = api_canonicalize(Job(ID="web", TaskGroups=[TaskGroup(Tasks=[Task(Name="t", Driver="exec")])]))
    assert (job.Name, job.Region, job.Namespace, job.Type, job.Priority) == ("web", "global", "default",
                                                                            "service", 50)
    assert (job.Stop, job.AllAtOnce, job.ParentID, job.VaultToken, job.Status) == (False, False, "", "", "")
    assert (job.Version, job.SubmitTime, job.JobModifyIndex) == (0, 0, 0)
    assert job.Update == UpdateStrategy(Stagger=0, MaxParallel=0, HealthCheck="", MinHealthyTime=0,
                                        HealthyDeadline=0, AutoRevert=False, Canary=0)
    tg = job.TaskGroups[0]
    assert (tg.Name, tg.Count, tg.Update) == ("", 1, None)
    assert tg.EphemeralDisk == EphemeralDisk(Sticky=False, SizeMB=300, Migrate=False)
    assert tg.RestartPolicy == RestartPolicy(Attempts=2, Interval=60 * S, Delay=15 * S, Mode="delay")
    task = tg.Tasks[0]
    assert task.Resources == Resources(CPU=100, MemoryMB=300, DiskMB=0, IOPS=0, Networks=None)
    assert task.KillTimeout == 5 * S
    assert task.LogConfig == LogConfig(MaxFiles=10, MaxFileSizeMB=10)


def test_name_defaults_to_id_only_when_absent():
    assert api_canonicalize(Job(ID="a")).Name == "a"
    assert api_canonicalize(Job(ID="a", Name="")).Name == ""


def test_server_stamped_fields_from_the_client_are_not_kept():
    job = api_canonicalize(Job(ID="a", Status="running", Version=7, JobModifyIndex=99, Stable=True,
                               SubmitTime=12345))
    assert (job.Status, job.Version, job.JobModifyIndex, job.Stable, job.SubmitTime) == ("", 0, 0, False, 0)


@pytest.mark.parametrize("job_type,expected", [
    ("service", RestartPolicy(Attempts=2, Interval=60 * S, Delay=15 * S, Mode="delay")),
    ("system", RestartPolicy(Attempts=2, Interval=60 * S, Delay=15 * S, Mode="delay")),
    ("batch", RestartPolicy(Attempts=15, Interval=7 * 24 * 3600 * S, Delay=15 * S, Mode="delay")),
    ("whatever", RestartPolicy(Attempts=15, Interval=7 * 24 * 3600 * S, Delay=15 * S, Mode="delay")),
])
def test_restart_policy_default_depends_on_type(job_type, expected):
    job = api_canonicalize(simple_job(Type=job_type))
    assert job.TaskGroups[0].RestartPolicy == expected


def test_restart_policy_fields_override_individually():
    tg = TaskGroup(Name="g", RestartPolicy=RestartPolicy(Attempts=7, Mode="fail"))
    job = api_canonicalize(Job(ID="x", Type="batch", TaskGroups=[tg]))
    assert job.TaskGroups[0].RestartPolicy == RestartPolicy(Attempts=7, Interval=7 * 24 * 3600 * S,
                                                            Delay=15 * S, Mode="fail")


def test_partial_ephemeral_disk_is_filled_field_by_field():
    job = api_canonicalize(Job(ID="x", TaskGroups=[TaskGroup(EphemeralDisk=EphemeralDisk(Sticky=True))]))
    assert job.TaskGroups[0].EphemeralDisk == EphemeralDisk(Sticky=True, SizeMB=300, Migrate=False)


def test_conversion_drops_disk_and_network_device_and_defaults_mbits():
    res = Resources(CPU=250, DiskMB=500, Networks=[
        NetworkResource(Device="eth0", CIDR="10.0.0.0/8", ReservedPorts=[Port(Label="http", Value=80)],
                        DynamicPorts=[]),
    ])
    job = api_canonicalize(simple_job(TaskGroups=[TaskGroup(Name="g", Tasks=[Task(Name="t", Resources=res)])]))
    out = job.TaskGroups[0].Tasks[0].Resources
    assert out == Resources(CPU=250, MemoryMB=300, DiskMB=0, IOPS=0, Networks=[
        NetworkResource(Device="", CIDR="10.0.0.0/8", IP="", MBits=10,
                        ReservedPorts=[Port(Label="http", Value=80)], DynamicPorts=None),
    ])


def test_job_update_keeps_only_old_fields_and_groups_inherit_the_full_block():
    job = api_canonicalize(simple_job(Update=UpdateStrategy(MaxParallel=2, HealthyDeadline=120 * S,
                                                            Canary=1)))
    assert job.Update == UpdateStrategy(Stagger=30 * S, MaxParallel=2, HealthCheck="", MinHealthyTime=0,
                                        HealthyDeadline=0, AutoRevert=False, Canary=0)
    assert job.TaskGroups[0].Update == UpdateStrategy(Stagger=30 * S, MaxParallel=2, HealthCheck="checks",
                                                      MinHealthyTime=10 * S, HealthyDeadline=120 * S,
                                                      AutoRevert=False, Canary=1)


def test_group_update_fields_win_over_job_update():
    tg = TaskGroup(Name="g", Update=UpdateStrategy(MaxParallel=5, AutoRevert=True))
    job = api_canonicalize(Job(ID="x", Update=UpdateStrategy(MaxParallel=2, Canary=3), TaskGroups=[tg]))
    assert job.TaskGroups[0].Update == UpdateStrategy(Stagger=30 * S, MaxParallel=5, HealthCheck="checks",
                                                      MinHealthyTime=10 * S, HealthyDeadline=5 * 60 * S,
                                                      AutoRevert=True, Canary=3)


def test_empty_job_update_block_still_hands_defaults_down():
    job = api_canonicalize(simple_job(Update=UpdateStrategy()))
    assert job.TaskGroups[0].Update == UpdateStrategy(Stagger=30 * S, MaxParallel=1, HealthCheck="checks",
                                                      MinHealthyTime=10 * S, HealthyDeadline=5 * 60 * S,
                                                      AutoRevert=False, Canary=0)


def test_all_zero_job_update_is_not_inherited():
    zero = UpdateStrategy(Stagger=0, MaxParallel=0, HealthCheck="", MinHealthyTime=0, HealthyDeadline=0,
                          AutoRevert=False, Canary=0)
    job = api_canonicalize(simple_job(Update=zero))
    assert job.TaskGroups[0].Update is None


def test_service_level_check_restart_is_not_merged_into_checks():
    # v0.7.1 api/tasks.go Service.Canonicalize assigns the merge to a copy of each check
    # (ranged by value), so the service's check_restart never reaches its checks; a real
    # 0.7.1 agent answers exactly this. Each check keeps its own, Grace defaulting to 1s.
    svc = Service(PortLabel="http", CheckRestart=CheckRestart(Limit=3, Grace=10 * S, IgnoreWarnings=True),
                  Id="ignored", Checks=[
        ServiceCheck(Name="a", Type="http", CheckRestart=CheckRestart(Grace=5 * S, IgnoreWarnings=True)),
        ServiceCheck(Name="b", Type="tcp"),
        ServiceCheck(Name="c", Type="tcp", CheckRestart=CheckRestart(Limit=1)),
    ])
    job = api_canonicalize(Job(ID="x", Name="shop", TaskGroups=[
        TaskGroup(Name="web", Tasks=[Task(Name="front", Services=[svc])])]))
    out = job.TaskGroups[0].Tasks[0].Services[0]
    assert (out.Name, out.AddressMode, out.Id, out.CheckRestart) == ("shop-web-front", "auto", "", None)
    assert out.Checks[0].CheckRestart == CheckRestart(Limit=0, Grace=5 * S, IgnoreWarnings=True)
    assert out.Checks[1].CheckRestart is None
    assert out.Checks[2].CheckRestart == CheckRestart(Limit=1, Grace=1 * S, IgnoreWarnings=False)


def test_check_without_any_check_restart_keeps_none():
    svc = Service(Name="s", Checks=[ServiceCheck(Name="a", Type="tcp")])
    job = api_canonicalize(simple_job(TaskGroups=[TaskGroup(Name="g", Tasks=[Task(Name="t", Services=[svc])])]))
    assert job.TaskGroups[0].Tasks[0].Services[0].Checks[0].CheckRestart is None


def test_template_vault_and_artifact_defaults():
    task = Task(
        Name="t",
        Templates=[Template(DestPath="local/a", ChangeMode="signal"), Template(ChangeSignal="sigusr1")],
        Vault=Vault(Policies=["p"]),
        Artifacts=[TaskArtifact(GetterSource="https://example.com/dl/tool.tar.gz?x=1", GetterMode="file"),
                   TaskArtifact(GetterSource="git::https://example.com/repo")],
    )
    job = api_canonicalize(simple_job(TaskGroups=[TaskGroup(Name="g", Tasks=[task])]))
    out = job.TaskGroups[0].Tasks[0]
    assert out.Templates[0] == Template(SourcePath="", DestPath="local/a", EmbeddedTmpl="", ChangeMode="signal",
                                        ChangeSignal="SIGHUP", Splay=5 * S, Perms="0644", LeftDelim="{{",
                                        RightDelim="}}", Envvars=False, VaultGrace=15 * S)
    assert (out.Templates[1].ChangeMode, out.Templates[1].ChangeSignal) == ("restart", "SIGUSR1")
    assert out.Vault == Vault(Policies=["p"], Env=True, ChangeMode="restart", ChangeSignal="SIGHUP")
    assert out.Artifacts[0].RelativeDest == "local/tool.tar.gz?x=1"
    assert (out.Artifacts[1].GetterMode, out.Artifacts[1].RelativeDest) == ("any", "local/")


@pytest.mark.parametrize("tz", [None, ""])
def test_periodic_defaults(tz):
    job = api_canonicalize(Job(ID="x", Type="batch", Periodic=PeriodicConfig(Spec="@daily", TimeZone=tz)))
    assert job.Periodic == PeriodicConfig(Enabled=True, Spec="@daily", SpecType="cron", ProhibitOverlap=False,
                                          TimeZone="UTC")


def test_empty_collections_become_null_in_conversion():
    job = api_canonicalize(Job(ID="x", Constraints=[], TaskGroups=[]))
    assert job.Constraints is None and job.TaskGroups is None


# --- server canonicalize -----------------------------------------------------------------

def test_server_nulls_empty_maps_and_defaults_namespace():
    task = Task(Name="t", Driver="exec", Config={}, Env={}, Meta={}, KillTimeout=0,
                Services=[Service(Name="${BASE}-x", Tags=[], Checks=[])])
    job = fill_zero_values(Job(ID="j", Name="jn", Type="service", Namespace="", Meta={},
                               TaskGroups=[TaskGroup(Name="g", Meta={}, Tasks=[task])]))
    out, warnings = server_canonicalize(job)
    assert warnings == []
    assert (out.Namespace, out.Meta) == ("default", None)
    tg = out.TaskGroups[0]
    assert tg.Meta is None
    assert tg.RestartPolicy == RestartPolicy(Attempts=2, Interval=60 * S, Delay=15 * S, Mode="delay")
    assert tg.EphemeralDisk == EphemeralDisk(Sticky=False, SizeMB=300, Migrate=False)
    t = tg.Tasks[0]
    assert (t.Config, t.Env, t.Meta, t.KillTimeout) == (None, None, None, 5 * S)
    assert t.Resources == Resources(CPU=100, MemoryMB=300, DiskMB=0, IOPS=0, Networks=None)
    assert t.Services[0] == Service(Name="jn-g-t-x", PortLabel="", AddressMode="", Tags=None, Checks=None)


def test_service_name_interpolation_and_check_names():
    svc = Service(Name="${JOB}.${TASKGROUP}.${TASK}.${NOMAD_META_x}",
                  Checks=[ServiceCheck(Type="tcp", Args=[], Header={"A": []})])
    job = fill_zero_values(Job(ID="j", Name="shop", Type="service",
                               TaskGroups=[TaskGroup(Name="web", Tasks=[Task(Name="api", Services=[svc])])]))
    out, _ = server_canonicalize(job)
    s = out.TaskGroups[0].Tasks[0].Services[0]
    assert s.Name == "shop.web.api.${NOMAD_META_x}"
    assert s.Checks[0].Name == 'service: "shop.web.api.${NOMAD_META_x}" check'
    assert s.Checks[0].Args is None
    assert s.Checks[0].Header == {"A": None}


def test_server_uppercases_signals_and_defaults_payload_requirement():
    task = Task(Name="t", Vault=Vault(Policies=["p"], ChangeMode="signal", ChangeSignal="sighup"),
                Templates=[Template(ChangeMode="signal", ChangeSignal="sigusr2")])
    job = fill_zero_values(Job(ID="j", Type="batch", ParameterizedJob=ParameterizedJobConfig(),
                               TaskGroups=[TaskGroup(Name="g", Tasks=[task])]))
    out, _ = server_canonicalize(job)
    t = out.TaskGroups[0].Tasks[0]
    assert (t.Vault.ChangeSignal, t.Templates[0].ChangeSignal) == ("SIGHUP", "SIGUSR2")
    assert out.ParameterizedJob.Payload == "optional"


def test_task_disk_moves_to_group_when_given_directly():
    task = Task(Name="t", Resources=Resources(CPU=100, MemoryMB=100, DiskMB=700))
    job = fill_zero_values(Job(ID="j", Type="service", TaskGroups=[TaskGroup(Name="g", Tasks=[task])]))
    out, _ = server_canonicalize(job)
    assert out.TaskGroups[0].EphemeralDisk.SizeMB == 700


def test_old_style_update_is_converted_with_ten_percent_rounding():
    groups = [TaskGroup(Name="foo", Count=2), TaskGroup(Name="bar", Count=14), TaskGroup(Name="baz", Count=26)]
    job = fill_zero_values(Job(ID="j", Type="service", TaskGroups=groups,
                               Update=UpdateStrategy(Stagger=20 * S, MaxParallel=2)))
    out, warnings = server_canonicalize(job)
    assert warnings == [OLD_UPDATE_WARNING]
    assert [tg.Update.MaxParallel for tg in out.TaskGroups] == [1, 1, 3]
    assert out.TaskGroups[0].Update == UpdateStrategy(Stagger=30 * S, MaxParallel=1, HealthCheck="checks",
                                                      MinHealthyTime=20 * S, HealthyDeadline=300 * S,
                                                      AutoRevert=False, Canary=0)
    # The job-level block itself is left as given.
    assert (out.Update.Stagger, out.Update.MaxParallel) == (20 * S, 2)


def test_old_style_update_single_group_keeps_max_parallel_clamped_to_count():
    job = fill_zero_values(Job(ID="j", Type="service", TaskGroups=[TaskGroup(Name="foo", Count=2)],
                               Update=UpdateStrategy(Stagger=10 * S, MaxParallel=200)))
    out, warnings = server_canonicalize(job)
    assert warnings == [OLD_UPDATE_WARNING]
    assert out.TaskGroups[0].Update.MaxParallel == 2


def test_http_jobs_with_update_do_not_trigger_the_conversion():
    _, warnings = full(simple_job(Update=UpdateStrategy(MaxParallel=1)))
    assert warnings == []


def test_batch_update_is_removed_with_a_warning():
    out, warnings = full(simple_job(Type="batch", Update=UpdateStrategy(MaxParallel=3, Canary=1)))
    assert warnings == [BATCH_UPDATE_WARNING]
    assert out.TaskGroups[0].Update is None
    assert out.Update == UpdateStrategy(Stagger=0, MaxParallel=0, HealthCheck="", MinHealthyTime=0,
                                        HealthyDeadline=0, AutoRevert=False, Canary=0)


def test_batch_without_update_has_no_warning():
    _, warnings = full(simple_job(Type="batch"))
    assert warnings == []


def test_unknown_type_gets_no_server_restart_policy():
    job = fill_zero_values(Job(ID="j", Type="odd", TaskGroups=[TaskGroup(Name="g")]))
    out, _ = server_canonicalize(job)
    assert out.TaskGroups[0].RestartPolicy is None


# --- implicit constraints --------------------------------------------------------------

def test_vault_constraint_added_once():
    tasks = [Task(Name="a", Vault=Vault(Policies=["p"])), Task(Name="b", Vault=Vault(Policies=["q"]))]
    job, _ = full(simple_job(TaskGroups=[TaskGroup(Name="g", Tasks=tasks), TaskGroup(Name="plain")]))
    assert job.TaskGroups[0].Constraints == [VAULT_CONSTRAINT]
    assert job.TaskGroups[1].Constraints is None
    assert set_implicit_constraints(job) == job


def test_signal_constraint_collects_sorted_unique_signals():
    tasks = [
        Task(Name="a", KillSignal="SIGTERM", Templates=[Template(DestPath="x", ChangeMode="signal",
                                                                 ChangeSignal="SIGUSR1")]),
        Task(Name="b", Vault=Vault(Policies=["p"], ChangeMode="signal", ChangeSignal="SIGHUP")),
        Task(Name="c", KillSignal="SIGTERM"),
    ]
    existing = Constraint(LTarget="${attr.kernel.name}", RTarget="linux", Operand="=")
    job, _ = full(simple_job(TaskGroups=[TaskGroup(Name="g", Tasks=tasks, Constraints=[existing])]))
    assert job.TaskGroups[0].Constraints == [
        existing,
        VAULT_CONSTRAINT,
        Constraint(LTarget="${attr.os.signals}", RTarget="SIGHUP,SIGTERM,SIGUSR1", Operand="set_contains"),
    ]
    assert set_implicit_constraints(job) == job


def test_no_needs_no_change():
    job, _ = full(simple_job())
    assert set_implicit_constraints(job) is job


# --- spec changes -------------------------------------------------------------------------

def test_spec_changed_ignores_server_stamps_only():
    job, _ = full(simple_job())
    stamped = attrs.evolve(job, Status="running", StatusDescription="x", Stable=True, Version=4, CreateIndex=3,
                           ModifyIndex=9, JobModifyIndex=8, SubmitTime=123)
    assert not spec_changed(job, stamped)
    assert spec_changed(job, attrs.evolve(job, Priority=60))
    assert spec_changed(job, attrs.evolve(job, Stop=True))
    assert spec_changed(job, attrs.evolve(job, Meta={"a": "b"}))
    tg = attrs.evolve(job.TaskGroups[0], Count=5)
    assert spec_changed(job, attrs.evolve(job, TaskGroups=[tg]))
    assert spec_changed(None, job)


def test_identical_resubmission_is_not_a_change():
    first, _ = full(request_job("03_register_example.json"))
    again, _ = full(request_job("03_register_example.json"))
    assert not spec_changed(first, again)
    update, _ = full(request_job("26_update_enforce_index_ok.json"))
    assert spec_changed(first, update)


def test_go_quote():
    assert go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'
    assert go_quote("é\U0001F600", ascii_only=True) == '"\\u00e9\\U0001f600"'


# --- properties -------------------------------------------------------------------------

names = st.text(alphabet="abcxyz-_/ 1", min_size=0, max_size=6)
maybe = lambda s: st.none() | s  # noqa: E731
durations = st.sampled_from([0, -1, 1 * S, 5 * S, 30 * S, 60 * S, 3600 * S])
small_ints = st.integers(min_value=-2, max_value=30)

update_strategies = st.builds(
    UpdateStrategy, Stagger=maybe(durations), MaxParallel=maybe(small_ints),
    HealthCheck=maybe(st.sampled_from(["checks", "manual", "task_states", "", "bogus"])),
    MinHealthyTime=maybe(durations), HealthyDeadline=maybe(durations), AutoRevert=maybe(st.booleans()),
    Canary=maybe(small_ints))
checks = st.builds(ServiceCheck, Name=names, Type=st.sampled_from(["tcp", "http", "script", "x"]),
                   PortLabel=names, Interval=durations, Timeout=durations,
                   CheckRestart=maybe(st.builds(CheckRestart, Limit=small_ints, Grace=maybe(durations))),
                   Args=maybe(st.lists(names, max_size=2)), Header=maybe(st.dictionaries(names, st.lists(names),
                                                                                          max_size=2)))
services = st.builds(Service, Name=names, PortLabel=names, AddressMode=st.sampled_from(["", "auto", "driver"]),
                     Tags=maybe(st.lists(names, max_size=2)), Checks=maybe(st.lists(checks, max_size=2)),
                     CheckRestart=maybe(st.builds(CheckRestart, Limit=small_ints)))
networks = st.builds(NetworkResource, Device=names, MBits=maybe(small_ints),
                     ReservedPorts=maybe(st.lists(st.builds(Port, Label=names, Value=small_ints), max_size=2)),
                     DynamicPorts=maybe(st.lists(st.builds(Port, Label=names), max_size=2)))
tasks = st.builds(
    Task, Name=names, Driver=st.sampled_from(["exec", "raw_exec", "docker", "java", "qemu", "rkt", "x", ""]),
    Config=maybe(st.dictionaries(st.sampled_from(["command", "image", "args", "bogus"]),
                                 st.one_of(st.text(max_size=3), st.floats(allow_nan=False), st.booleans(),
                                           st.none(), st.lists(st.text(max_size=2), max_size=2)), max_size=3)),
    Env=maybe(st.dictionaries(names, names, max_size=2)), Meta=maybe(st.dictionaries(names, names, max_size=2)),
    Services=maybe(st.lists(services, max_size=2)),
    Vault=maybe(st.builds(Vault, Policies=maybe(st.lists(st.sampled_from(["a", "root"]), max_size=2)),
                          ChangeMode=maybe(st.sampled_from(["signal", "restart", "noop", "x"])),
                          ChangeSignal=maybe(st.sampled_from(["", "sighup"])))),
    Templates=maybe(st.lists(st.builds(Template, DestPath=maybe(names),
                                       ChangeMode=maybe(st.sampled_from(["signal", "restart", "noop", "x"])),
                                       Perms=maybe(st.sampled_from(["0644", "999", ""]))), max_size=2)),
    Constraints=maybe(st.lists(st.builds(Constraint, LTarget=names,
                                         RTarget=st.sampled_from(["", "1", "(", ">= 1.0", "x"]),
                                         Operand=st.sampled_from(["", "=", "regexp", "version", "distinct_hosts",
                                                                  "distinct_property", "set_contains", "?"])),
                               max_size=2)),
    Resources=maybe(st.builds(Resources, CPU=maybe(st.integers(0, 600)), MemoryMB=maybe(st.integers(0, 600)),
                              DiskMB=maybe(st.integers(0, 50)), Networks=maybe(st.lists(networks, max_size=2)))),
    KillTimeout=maybe(durations), LogConfig=maybe(st.builds(LogConfig, MaxFiles=maybe(small_ints))),
    Artifacts=maybe(st.lists(st.builds(TaskArtifact, GetterSource=maybe(names),
                                       GetterMode=maybe(st.sampled_from(["any", "file", "x"])),
                                       RelativeDest=maybe(names)), max_size=2)),
    Leader=st.booleans(), KillSignal=st.sampled_from(["", "SIGINT"]), ShutdownDelay=durations)
groups = st.builds(
    TaskGroup, Name=maybe(names), Count=maybe(small_ints), Update=maybe(update_strategies),
    RestartPolicy=maybe(st.builds(RestartPolicy, Attempts=maybe(small_ints), Interval=maybe(durations),
                                  Delay=maybe(durations), Mode=maybe(st.sampled_from(["delay", "fail", "x"])))),
    EphemeralDisk=maybe(st.builds(EphemeralDisk, SizeMB=maybe(st.integers(0, 400)))),
    Tasks=maybe(st.lists(tasks, max_size=2)), Meta=maybe(st.dictionaries(names, names, max_size=2)))
jobs = st.builds(
    Job, ID=maybe(names), Name=maybe(names), Namespace=maybe(st.sampled_from(["", "default", "other"])),
    Type=maybe(st.sampled_from(["service", "batch", "system", "_core", "x"])), Priority=maybe(st.integers(-1, 120)),
    Datacenters=maybe(st.lists(names, max_size=2)), TaskGroups=maybe(st.lists(groups, max_size=3)),
    Update=maybe(update_strategies),
    Periodic=maybe(st.builds(PeriodicConfig, Enabled=maybe(st.booleans()),
                             Spec=maybe(st.sampled_from(["", "* * * * *", "bogus", "0 0 1 1 * 2030"])),
                             TimeZone=maybe(st.sampled_from(["", "UTC", "Nowhere/Land"])))),
    ParameterizedJob=maybe(st.builds(ParameterizedJobConfig, Payload=st.sampled_from(["", "required", "x"]),
                                     MetaRequired=maybe(st.lists(names, max_size=2)),
                                     MetaOptional=maybe(st.lists(names, max_size=2)))),
    Meta=maybe(st.dictionaries(names, names, max_size=2)), Payload=maybe(st.binary(max_size=3)))

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs)
def test_canonicalization_is_idempotent(job):
    once, _ = full(job)
    again, _ = full(once)
    assert again == once
    assert server_canonicalize(once)[0] == once
    assert not spec_changed(once, again)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs)
def test_canonical_job_prints_values_where_nomad_does(job):
    once, _ = full(job)
    wire = codec.to_wire(once)
    for key in ("Stop", "Region", "Namespace", "ID", "Name", "Type", "Priority", "Update", "VaultToken"):
        assert wire[key] is not None
    for tg in wire["TaskGroups"] or ():
        assert tg["Name"] is not None and tg["Count"] is not None and tg["EphemeralDisk"] is not None
        for t in tg["Tasks"] or ():
            assert t["Resources"] is not None and t["LogConfig"] is not None
            assert t["KillTimeout"] is not None
            assert all(t["Resources"][k] is not None for k in ("CPU", "MemoryMB", "DiskMB", "IOPS"))
            for net in t["Resources"]["Networks"] or ():
                assert net["MBits"] is not None
            for tmpl in t["Templates"] or ():
                assert all(v is not None for v in tmpl.values())
    # And the canonical job survives the wire unchanged.
    assert codec.from_wire(wire, Job) == once
