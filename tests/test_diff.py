"""Job diffs (structs/diff.go) and plan annotations (scheduler/annotate.go)."""

from __future__ import annotations

import json
from typing import Any, Optional

import attrs
import pytest

from nomadjobs import codec
from nomadjobs.diff import annotate, job_diff
from nomadjobs.golang.fmt import format_v as go_value
from nomadjobs.structs import (
    CheckRestart,
    Constraint,
    DesiredUpdates,
    DispatchPayloadConfig,
    EphemeralDisk,
    FieldDiff,
    Job,
    JobDiff,
    LogConfig,
    NetworkResource,
    ObjectDiff,
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


def golden_body(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())["response"]["body_json"]


# --- fixtures: a canonical-looking job ---------------------------------------------------

def make_task(**kw: Any) -> Task:
    base = Task(
        Name="redis",
        Driver="docker",
        User="",
        Config={"image": "redis:3.2", "port_map": [{"db": 6379.0}]},
        Services=[Service(
            Name="global-redis-check", PortLabel="db", AddressMode="auto", Tags=["global", "cache"],
            Checks=[ServiceCheck(Name="alive", Type="tcp", Interval=10_000_000_000, Timeout=2_000_000_000)],
        )],
        Resources=Resources(CPU=500, MemoryMB=256, DiskMB=0, IOPS=0, Networks=[
            NetworkResource(MBits=10, DynamicPorts=[Port(Label="db")]),
        ]),
        KillTimeout=5_000_000_000,
        LogConfig=LogConfig(MaxFiles=10, MaxFileSizeMB=10),
        Leader=False,
        ShutdownDelay=0,
        KillSignal="",
    )
    return attrs.evolve(base, **kw)


def make_group(**kw: Any) -> TaskGroup:
    base = TaskGroup(
        Name="cache",
        Count=1,
        Update=UpdateStrategy(Stagger=30_000_000_000, MaxParallel=1, HealthCheck="checks",
                              MinHealthyTime=10_000_000_000, HealthyDeadline=180_000_000_000,
                              AutoRevert=False, Canary=0),
        RestartPolicy=RestartPolicy(Attempts=10, Interval=300_000_000_000, Delay=25_000_000_000, Mode="delay"),
        Tasks=[make_task()],
        EphemeralDisk=EphemeralDisk(Sticky=False, SizeMB=300, Migrate=False),
    )
    return attrs.evolve(base, **kw)


def make_job(**kw: Any) -> Job:
    base = Job(
        Stop=False, Region="global", Namespace="default", ID="example", ParentID="", Name="example",
        Type="service", Priority=50, AllAtOnce=False, Datacenters=["dc1"], TaskGroups=[make_group()],
        VaultToken="", Status="pending", Version=0, Stable=False, CreateIndex=7, ModifyIndex=7,
        JobModifyIndex=7, SubmitTime=1,
    )
    return attrs.evolve(base, **kw)


def with_task(job: Job, **kw: Any) -> Job:
    group = job.TaskGroups[0]
    return attrs.evolve(job, TaskGroups=[attrs.evolve(group, Tasks=[attrs.evolve(group.Tasks[0], **kw)])])


def with_group(job: Job, **kw: Any) -> Job:
    return attrs.evolve(job, TaskGroups=[attrs.evolve(job.TaskGroups[0], **kw)])


def only_task(diff: JobDiff):
    (group,) = diff.TaskGroups
    (task,) = group.Tasks
    return task


def F(name: str, type_: str, old: str = "", new: str = "", notes: Optional[list[str]] = None) -> FieldDiff:
    return FieldDiff(Name=name, Type=type_, Old=old, New=new, Annotations=notes)


# --- goldens ---------------------------------------------------------------------------------

def test_golden_versions_diff_matches_nomad() -> None:
    body = golden_body("29_versions_diffs.json")
    v1 = codec.from_wire(body["Versions"][0], Job)
    v0 = codec.from_wire(body["Versions"][1], Job)
    assert codec.to_wire(job_diff(v0, v1, contextual=True)) == body["Diffs"][0]


def test_golden_plan_diff_with_annotations_matches_nomad() -> None:
    stored = codec.from_wire(golden_body("07_read_job.json"), Job)
    candidate = codec.from_wire(golden_body("28_versions_after_update.json")["Versions"][0], Job)
    plan = golden_body("15_plan_diff.json")
    desired = {name: codec.from_wire(d, DesiredUpdates)
               for name, d in plan["Annotations"]["DesiredTGUpdates"].items()}
    diff = annotate(job_diff(stored, candidate, contextual=True), desired)
    assert codec.to_wire(diff) == plan["Diff"]
    # Nomad prints these bytes; key order matters to byte-level comparisons too.
    assert json.dumps(codec.to_wire(diff), separators=(",", ":")) == json.dumps(plan["Diff"], separators=(",", ":"))


# --- whole jobs ------------------------------------------------------------------------------

def test_both_missing_is_an_empty_none_diff() -> None:
    assert job_diff(None, None, True) == JobDiff(Type="None")


def test_different_ids_is_an_error_with_nomads_message() -> None:
    with pytest.raises(ValueError) as err:
        job_diff(make_job(ID="a"), make_job(ID="b"), True)
    assert str(err.value) == 'can not diff jobs with different IDs: "a" and "b"'


def test_identical_jobs_list_groups_and_tasks_as_none() -> None:
    job = make_job()
    diff = job_diff(job, attrs.evolve(job, Version=3, ModifyIndex=99, SubmitTime=5, Status="running"), True)
    assert diff.Type == "None"
    assert diff.Fields is None and diff.Objects is None
    (group,) = diff.TaskGroups
    assert (group.Type, group.Fields, group.Objects) == ("None", None, None)
    assert [(t.Name, t.Type, t.Fields, t.Objects) for t in group.Tasks] == [("redis", "None", None, None)]


def test_added_job_lists_every_non_empty_field_as_added() -> None:
    diff = job_diff(None, make_job(Meta={"owner": "me"}), contextual=False)
    assert diff.Type == "Added" and diff.ID == "example"
    assert diff.Fields == [
        F("AllAtOnce", "Added", new="false"),
        F("Meta[owner]", "Added", new="me"),
        F("Name", "Added", new="example"),
        F("Namespace", "Added", new="default"),
        F("Priority", "Added", new="50"),
        F("Region", "Added", new="global"),
        F("Stop", "Added", new="false"),
        F("Type", "Added", new="service"),
    ]
    assert diff.Objects == [ObjectDiff(Name="Datacenters", Type="Added",
                                       Fields=[F("Datacenters", "Added", new="dc1")])]
    (group,) = diff.TaskGroups
    assert group.Type == "Added"
    assert group.Fields == [F("Count", "Added", new="1")]
    assert [o.Name for o in group.Objects] == ["RestartPolicy", "EphemeralDisk", "Update"]
    update = group.Objects[2]
    assert "Stagger" not in [f.Name for f in update.Fields]
    # An empty string is "absent": in contextual mode it is listed as None, here omitted.
    assert [f.Name for f in update.Fields] == ["AutoRevert", "Canary", "HealthCheck", "HealthyDeadline",
                                               "MaxParallel", "MinHealthyTime"]
    (task,) = group.Tasks
    assert task.Type == "Added"
    assert task.Fields == [
        F("Driver", "Added", new="docker"),
        F("KillTimeout", "Added", new="5000000000"),
        F("Leader", "Added", new="false"),
        F("ShutdownDelay", "Added", new="0"),
    ]
    assert [o.Name for o in task.Objects] == ["Config", "Resources", "LogConfig", "Service"]


def test_deleted_job() -> None:
    diff = job_diff(make_job(), None, contextual=True)
    assert diff.Type == "Deleted" and diff.ID == "example"
    assert all(f.Type == "Deleted" for f in diff.Fields)
    assert diff.Objects[0] == ObjectDiff(Name="Datacenters", Type="Deleted",
                                         Fields=[F("Datacenters", "Deleted", old="dc1")])
    (group,) = diff.TaskGroups
    assert group.Type == "Deleted"
    assert group.Tasks[0].Type == "Deleted"


def test_job_level_fields_are_never_contextual() -> None:
    old = make_job(Meta={"a": "1", "b": "2"})
    new = make_job(Meta={"b": "3", "c": "4"}, Priority=70)
    diff = job_diff(old, new, contextual=True)
    assert diff.Type == "Edited"
    assert diff.Fields == [
        F("Meta[a]", "Deleted", old="1"),
        F("Meta[b]", "Edited", old="2", new="3"),
        F("Meta[c]", "Added", new="4"),
        F("Priority", "Edited", old="50", new="70"),
    ]


def test_clearing_a_string_is_deleted_not_edited() -> None:
    diff = job_diff(make_job(ParentID="p"), make_job(ParentID=""), False)
    assert diff.Fields == [F("ParentID", "Deleted", old="p")]


# --- datacenters and constraints ---------------------------------------------------------

def test_datacenters_set_changes() -> None:
    old = make_job(Datacenters=["dc1", "dc2"])
    edited = job_diff(old, make_job(Datacenters=["dc3", "dc2"]), False)
    assert edited.Objects == [ObjectDiff(Name="Datacenters", Type="Edited", Fields=[
        F("Datacenters", "Added", new="dc3"), F("Datacenters", "Deleted", old="dc1")])]

    added = job_diff(old, make_job(Datacenters=["dc2", "dc1", "dc0"]), True)
    # Contextual: unchanged members are listed; order is by Old then New.
    assert added.Objects == [ObjectDiff(Name="Datacenters", Type="Added", Fields=[
        F("Datacenters", "Added", new="dc0"),
        F("Datacenters", "None", old="dc1", new="dc1"),
        F("Datacenters", "None", old="dc2", new="dc2")])]

    # A reordering is no change at all, and an unchanged set is never listed.
    assert job_diff(old, make_job(Datacenters=["dc2", "dc1"]), True).Type == "None"


def test_constraint_edit_is_delete_plus_add() -> None:
    old = make_job(Constraints=[Constraint(LTarget="${attr.kernel.name}", RTarget="linux", Operand="=")])
    new = make_job(Constraints=[Constraint(LTarget="${attr.kernel.name}", RTarget="darwin", Operand="=")])
    diff = job_diff(old, new, contextual=True)
    assert diff.Type == "Edited"
    assert diff.Objects == [
        ObjectDiff(Name="Constraint", Type="Added", Fields=[
            F("LTarget", "Added", new="${attr.kernel.name}"),
            F("Operand", "Added", new="="),
            F("RTarget", "Added", new="darwin")]),
        ObjectDiff(Name="Constraint", Type="Deleted", Fields=[
            F("LTarget", "Deleted", old="${attr.kernel.name}"),
            F("Operand", "Deleted", old="="),
            F("RTarget", "Deleted", old="linux")]),
    ]


def test_reordered_constraints_are_no_change() -> None:
    a = Constraint(LTarget="a", RTarget="1", Operand="=")
    b = Constraint(LTarget="b", RTarget="2", Operand="=")
    diff = job_diff(make_job(Constraints=[a, b]), make_job(Constraints=[b, a]), True)
    assert diff.Type == "None" and diff.Objects is None


def test_group_constraint_in_contextual_mode_lists_empty_fields_as_none() -> None:
    c = Constraint(LTarget="${meta.rack}", RTarget="", Operand="distinct_hosts")
    diff = job_diff(make_job(), with_group(make_job(), Constraints=[c]), contextual=True)
    (group,) = diff.TaskGroups
    assert group.Type == "Edited"
    assert group.Objects == [ObjectDiff(Name="Constraint", Type="Added", Fields=[
        F("LTarget", "Added", new="${meta.rack}"),
        F("Operand", "Added", new="distinct_hosts"),
        F("RTarget", "None")])]


# --- periodic / parameterized ----------------------------------------------------------------

def test_periodic_added_edited_deleted() -> None:
    periodic = PeriodicConfig(Enabled=True, Spec="*/15 * * * *", SpecType="cron", ProhibitOverlap=False,
                              TimeZone="UTC")
    added = job_diff(make_job(), make_job(Periodic=periodic), contextual=False)
    assert added.Objects == [ObjectDiff(Name="Periodic", Type="Added", Fields=[
        F("Enabled", "Added", new="true"),
        F("ProhibitOverlap", "Added", new="false"),
        F("Spec", "Added", new="*/15 * * * *"),
        F("SpecType", "Added", new="cron"),
        F("TimeZone", "Added", new="UTC")])]

    edited = job_diff(make_job(Periodic=periodic), make_job(Periodic=attrs.evolve(periodic, Spec="@daily")), True)
    assert edited.Objects == [ObjectDiff(Name="Periodic", Type="Edited", Fields=[
        F("Enabled", "None", "true", "true"),
        F("ProhibitOverlap", "None", "false", "false"),
        F("Spec", "Edited", "*/15 * * * *", "@daily"),
        F("SpecType", "None", "cron", "cron"),
        F("TimeZone", "None", "UTC", "UTC")])]

    deleted = job_diff(make_job(Periodic=periodic), make_job(), False)
    assert deleted.Objects[0].Type == "Deleted"
    assert {f.Type for f in deleted.Objects[0].Fields} == {"Deleted"}


def test_parameterized_job_with_meta_sets() -> None:
    old = make_job(ParameterizedJob=ParameterizedJobConfig(Payload="optional", MetaRequired=["a"],
                                                           MetaOptional=["x"]))
    new = make_job(ParameterizedJob=ParameterizedJobConfig(Payload="required", MetaRequired=["a", "b"],
                                                           MetaOptional=["x"]))
    diff = job_diff(old, new, contextual=True)
    assert diff.Objects == [ObjectDiff(
        Name="ParameterizedJob", Type="Edited",
        Fields=[F("Payload", "Edited", "optional", "required")],
        Objects=[
            # Contextual: the unchanged optional set is listed with type None.
            ObjectDiff(Name="MetaOptional", Type="None", Fields=[F("MetaOptional", "None", "x", "x")]),
            ObjectDiff(Name="MetaRequired", Type="Added", Fields=[
                F("MetaRequired", "Added", new="b"), F("MetaRequired", "None", "a", "a")]),
        ])]

    plain = job_diff(old, new, contextual=False)
    assert [o.Name for o in plain.Objects[0].Objects] == ["MetaRequired"]


def test_job_objects_keep_nomads_append_order() -> None:
    old = make_job()
    new = make_job(Datacenters=["dc2"], Constraints=[Constraint(LTarget="a", RTarget="b", Operand="=")],
                   Periodic=PeriodicConfig(Enabled=True, Spec="@daily", SpecType="cron",
                                           ProhibitOverlap=False, TimeZone="UTC"),
                   ParameterizedJob=ParameterizedJobConfig(Payload="optional"))
    diff = job_diff(old, new, False)
    assert [o.Name for o in diff.Objects] == ["Datacenters", "Constraint", "Periodic", "ParameterizedJob"]


# --- groups ------------------------------------------------------------------------------------

def test_group_fields_meta_and_objects() -> None:
    old = make_job()
    new = with_group(old, Count=2, Meta={"k": "v"},
                     RestartPolicy=RestartPolicy(Attempts=3, Interval=300_000_000_000, Delay=25_000_000_000,
                                                 Mode="fail"),
                     Update=attrs.evolve(old.TaskGroups[0].Update, Stagger=1, MaxParallel=2))
    (group,) = job_diff(old, new, contextual=False).TaskGroups
    assert group.Type == "Edited"
    assert group.Fields == [F("Count", "Edited", "1", "2"), F("Meta[k]", "Added", new="v")]
    assert group.Objects == [
        ObjectDiff(Name="RestartPolicy", Type="Edited", Fields=[
            F("Attempts", "Edited", "10", "3"), F("Mode", "Edited", "delay", "fail")]),
        # Stagger is left out of the group update block.
        ObjectDiff(Name="Update", Type="Edited", Fields=[F("MaxParallel", "Edited", "1", "2")]),
    ]


def test_group_edited_even_when_no_listed_field_changes() -> None:
    old = make_job()
    new = with_group(old, Update=attrs.evolve(old.TaskGroups[0].Update, Stagger=5))
    diff = job_diff(old, new, contextual=True)
    (group,) = diff.TaskGroups
    assert group.Type == "Edited"
    assert (group.Fields, group.Objects) == (None, None)
    assert group.Tasks[0].Type == "None"
    assert diff.Type == "Edited"  # the job follows its groups


def test_groups_and_tasks_sorted_by_name_with_added_and_deleted() -> None:
    web = make_group(Name="web", Tasks=[make_task(Name="nginx")])
    old = make_job(TaskGroups=[make_group(), web])
    new_cache = make_group(Tasks=[make_task(Name="sidecar", Driver="exec"), make_task()])
    new = make_job(TaskGroups=[make_group(Name="api"), new_cache])
    diff = job_diff(old, new, contextual=False)
    assert [(g.Name, g.Type) for g in diff.TaskGroups] == [("api", "Added"), ("cache", "Edited"),
                                                            ("web", "Deleted")]
    cache = diff.TaskGroups[1]
    assert [(t.Name, t.Type) for t in cache.Tasks] == [("redis", "None"), ("sidecar", "Added")]


# --- tasks -------------------------------------------------------------------------------------

def test_task_primitive_fields_env_and_meta() -> None:
    old = with_task(make_job(), Env={"A": "1", "B": "2"}, Meta={"m": "x"})
    new = with_task(make_job(), Env={"A": "1", "B": "3"}, User="nobody", KillTimeout=10_000_000_000)
    task = only_task(job_diff(old, new, contextual=True))
    assert task.Type == "Edited"
    assert task.Fields == [
        F("Env[B]", "Edited", "2", "3"),
        F("KillTimeout", "Edited", "5000000000", "10000000000"),
        F("Meta[m]", "Deleted", old="x"),
        F("User", "Added", new="nobody"),
    ]
    assert task.Objects is None


def test_config_is_flattened_with_nested_maps_and_lists() -> None:
    old = with_task(make_job(), Config={
        "image": "redis:3.2",
        "port_map": [{"db": 6379.0}],
        "args": ["-v", "--x"],
        "labels": {"a": "1"},
        "big": 1000000.0,
    })
    new = with_task(make_job(), Config={
        "image": "redis:4.0",
        "port_map": [{"db": 6380.0}],
        "args": ["-v"],
        "labels": {"a": "1", "b": True},
        "big": 1000000.0,
    })
    task = only_task(job_diff(old, new, contextual=True))
    assert task.Objects == [ObjectDiff(Name="Config", Type="Edited", Fields=[
        F("args[0]", "None", "-v", "-v"),
        F("args[1]", "Deleted", old="--x"),
        F("big", "None", "1e+06", "1e+06"),
        F("image", "Edited", "redis:3.2", "redis:4.0"),
        F("labels[a]", "None", "1", "1"),
        F("labels[b]", "Added", new="true"),
        F("port_map[0][db]", "Edited", "6379", "6380"),
    ])]


def test_config_added_and_removed() -> None:
    old = with_task(make_job(), Config=None)
    new = with_task(make_job(), Config={"command": "/bin/date"})
    task = only_task(job_diff(old, new, False))
    assert task.Objects == [ObjectDiff(Name="Config", Type="Added", Fields=[
        F("command", "Added", new="/bin/date")])]
    task = only_task(job_diff(new, old, False))
    assert task.Objects[0].Type == "Deleted"


def test_go_value_formats_like_percent_v() -> None:
    assert [go_value(v) for v in (True, False, 7, 6379.0, 0.5, 1e6, 123456.0, 1.5e-7, 0.0001, -2.0, "s")] == [
        "true", "false", "7", "6379", "0.5", "1e+06", "123456", "1.5e-07", "0.0001", "-2", "s"]


def test_resources_contextual_and_network_changes() -> None:
    old = make_job()
    res = old.TaskGroups[0].Tasks[0].Resources
    new = with_task(old, Resources=attrs.evolve(res, CPU=600, Networks=[
        NetworkResource(MBits=20, ReservedPorts=[Port(Label="http", Value=8080)],
                        DynamicPorts=[Port(Label="db")])]))
    task = only_task(job_diff(old, new, contextual=True))
    (resources,) = task.Objects
    assert resources.Name == "Resources" and resources.Type == "Edited"
    assert resources.Fields == [
        F("CPU", "Edited", "500", "600"),
        F("DiskMB", "None", "0", "0"),
        F("IOPS", "None", "0", "0"),
        F("MemoryMB", "None", "256", "256"),
    ]
    # Networks are a set: the changed network shows up as added plus deleted.
    assert resources.Objects == [
        ObjectDiff(Name="Network", Type="Added", Fields=[F("MBits", "Added", new="20")], Objects=[
            ObjectDiff(Name="Static Port", Type="Added", Fields=[
                F("Label", "Added", new="http"), F("Value", "Added", new="8080")]),
            ObjectDiff(Name="Dynamic Port", Type="Added", Fields=[F("Label", "Added", new="db")]),
        ]),
        ObjectDiff(Name="Network", Type="Deleted", Fields=[F("MBits", "Deleted", old="10")], Objects=[
            ObjectDiff(Name="Dynamic Port", Type="Deleted", Fields=[F("Label", "Deleted", old="db")]),
        ]),
    ]


def test_unchanged_networks_are_not_listed() -> None:
    old = make_job()
    new = with_task(old, Resources=attrs.evolve(old.TaskGroups[0].Tasks[0].Resources, MemoryMB=512))
    (resources,) = only_task(job_diff(old, new, contextual=True)).Objects
    assert resources.Objects is None


def test_services_keyed_by_name_and_checks_keyed_by_name() -> None:
    old = make_job()
    svc = old.TaskGroups[0].Tasks[0].Services[0]
    check = svc.Checks[0]
    new_svc = attrs.evolve(svc, PortLabel="http", Checks=[
        attrs.evolve(check, Timeout=3_000_000_000, Header={"X-A": ["1", "2"]},
                     CheckRestart=CheckRestart(Limit=3, Grace=1_000_000_000, IgnoreWarnings=False)),
        ServiceCheck(Name="http", Type="http", Path="/health", Interval=1, Timeout=1),
    ])
    extra = Service(Name="metrics", PortLabel="m", AddressMode="auto")
    new = with_task(old, Services=[extra, new_svc])
    task = only_task(job_diff(old, new, contextual=False))
    assert [(o.Name, o.Type) for o in task.Objects] == [("Service", "Edited"), ("Service", "Added")]
    edited, added = task.Objects
    assert edited.Fields == [F("PortLabel", "Edited", "db", "http")]
    assert [(o.Name, o.Type) for o in edited.Objects] == [("Check", "Edited"), ("Check", "Added")]
    alive = edited.Objects[0]
    assert alive.Fields == [F("Timeout", "Edited", "2000000000", "3000000000")]
    assert alive.Objects == [
        ObjectDiff(Name="Header", Type="Added", Fields=[F("X-A[0]", "Added", new="1"),
                                                        F("X-A[1]", "Added", new="2")]),
        ObjectDiff(Name="CheckRestart", Type="Added", Fields=[
            F("Grace", "Added", new="1000000000"), F("IgnoreWarnings", "Added", new="false"),
            F("Limit", "Added", new="3")]),
    ]
    assert added.Fields == [F("AddressMode", "Added", new="auto"), F("Name", "Added", new="metrics"),
                            F("PortLabel", "Added", new="m")]


def test_service_tags_only_change_is_an_edited_service_without_fields() -> None:
    old = make_job()
    svc = old.TaskGroups[0].Tasks[0].Services[0]
    new = with_task(old, Services=[attrs.evolve(svc, Tags=["global"])])
    task = only_task(job_diff(old, new, contextual=False))
    assert task.Objects == [ObjectDiff(Name="Service", Type="Edited")]
    contextual = only_task(job_diff(old, new, contextual=True))
    assert [f.Type for f in contextual.Objects[0].Fields] == ["None", "None", "None"]


def test_template_and_artifact_sets() -> None:
    tmpl = Template(SourcePath="", DestPath="local/a", EmbeddedTmpl="x", ChangeMode="restart", ChangeSignal="",
                    Splay=5_000_000_000, Perms="0644", LeftDelim="{{", RightDelim="}}", Envvars=False,
                    VaultGrace=0)
    art = TaskArtifact(GetterSource="http://a/b.tgz", GetterOptions={"checksum": "md5:1"}, GetterMode="any",
                       RelativeDest="local/")
    old = with_task(make_job(), Templates=[tmpl], Artifacts=[art])
    new = with_task(make_job(), Templates=[attrs.evolve(tmpl, EmbeddedTmpl="y")], Artifacts=[art])
    task = only_task(job_diff(old, new, contextual=False))
    assert [(o.Name, o.Type) for o in task.Objects] == [("Template", "Added"), ("Template", "Deleted")]
    assert task.Objects[0].Fields[0] == F("ChangeMode", "Added", new="restart")

    gone = only_task(job_diff(old, with_task(old, Artifacts=None), contextual=False))
    assert gone.Objects == [ObjectDiff(Name="Artifact", Type="Deleted", Fields=[
        F("GetterMode", "Deleted", old="any"),
        F("GetterOptions[checksum]", "Deleted", old="md5:1"),
        F("GetterSource", "Deleted", old="http://a/b.tgz"),
        F("RelativeDest", "Deleted", old="local/")])]


def test_vault_with_policies_set() -> None:
    old = with_task(make_job(), Vault=Vault(Policies=["a", "b"], Env=True, ChangeMode="restart", ChangeSignal=""))
    new = with_task(make_job(), Vault=Vault(Policies=["b", "c"], Env=True, ChangeMode="signal",
                                            ChangeSignal="SIGHUP"))
    task = only_task(job_diff(old, new, contextual=False))
    assert task.Objects == [ObjectDiff(Name="Vault", Type="Edited", Fields=[
        F("ChangeMode", "Edited", "restart", "signal"), F("ChangeSignal", "Added", new="SIGHUP")], Objects=[
        ObjectDiff(Name="Policies", Type="Edited", Fields=[
            F("Policies", "Added", new="c"), F("Policies", "Deleted", old="a")])])]


def test_task_object_order_and_dispatch_payload() -> None:
    old = make_job()
    task0 = old.TaskGroups[0].Tasks[0]
    new = with_task(old, Constraints=[Constraint(LTarget="a", RTarget="b", Operand="=")],
                    Config={"image": "redis:4"},
                    Resources=attrs.evolve(task0.Resources, CPU=1),
                    LogConfig=LogConfig(MaxFiles=1, MaxFileSizeMB=10),
                    DispatchPayload=DispatchPayloadConfig(File="in.json"),
                    Artifacts=[TaskArtifact(GetterSource="s")],
                    Services=None,
                    Vault=Vault(Policies=["p"]),
                    Templates=[Template(DestPath="d")])
    task = only_task(job_diff(old, new, contextual=False))
    assert [o.Name for o in task.Objects] == ["Constraint", "Config", "Resources", "LogConfig",
                                              "DispatchPayload", "Artifact", "Service", "Vault", "Template"]


def test_non_contextual_nested_objects_list_only_changes() -> None:
    old = make_job()
    new = with_task(old, Resources=attrs.evolve(old.TaskGroups[0].Tasks[0].Resources, MemoryMB=512))
    (resources,) = only_task(job_diff(old, new, contextual=False)).Objects
    assert resources.Fields == [F("MemoryMB", "Edited", "256", "512")]


def test_object_sorting_by_name_then_type_then_size() -> None:
    c1 = Constraint(LTarget="a", RTarget="1", Operand="=")
    c2 = Constraint(LTarget="b", RTarget="2", Operand="=")
    c3 = Constraint(LTarget="c", RTarget="", Operand="distinct_hosts")
    diff = job_diff(make_job(Constraints=[c1]), make_job(Constraints=[c3, c2]), False)
    # Edited < Added < Deleted, and among Added, fewer fields first.
    assert [(o.Type, len(o.Fields)) for o in diff.Objects] == [("Added", 2), ("Added", 3), ("Deleted", 3)]
    assert diff.Objects[0].Fields[0].New == "c"


def test_wire_shape_uses_null_for_empty_lists() -> None:
    wire = codec.to_wire(job_diff(make_job(), make_job(), True))
    assert wire == {"Fields": None, "ID": "example", "Objects": None, "TaskGroups": [
        {"Fields": None, "Name": "cache", "Objects": None, "Tasks": [
            {"Annotations": None, "Fields": None, "Name": "redis", "Objects": None, "Type": "None"}],
         "Type": "None", "Updates": None}], "Type": "None"}


# --- annotations -------------------------------------------------------------------------------

def annotated(old: Job, new: Job, **desired: DesiredUpdates) -> JobDiff:
    return annotate(job_diff(old, new, contextual=True), desired or None)


def test_updates_map_only_non_zero_with_nomads_names() -> None:
    old = make_job()
    diff = annotated(old, old, cache=DesiredUpdates(Ignore=1, Place=2, Migrate=3, Stop=4, InPlaceUpdate=5,
                                                    DestructiveUpdate=6, Canary=7))
    assert diff.TaskGroups[0].Updates == {
        "canary": 7, "create": 2, "create/destroy update": 6, "destroy": 4, "ignore": 1,
        "in-place update": 5, "migrate": 3}
    assert list(diff.TaskGroups[0].Updates) == sorted(diff.TaskGroups[0].Updates)

    sparse = annotated(old, old, cache=DesiredUpdates(Ignore=3))
    assert sparse.TaskGroups[0].Updates == {"ignore": 3}
    # A group the scheduler knows about but does nothing to gets an empty map.
    assert annotated(old, old, cache=DesiredUpdates()).TaskGroups[0].Updates == {}
    # No plan annotations at all: Updates stays null.
    assert annotate(job_diff(old, old, True), None).TaskGroups[0].Updates is None


def test_count_annotations() -> None:
    old = with_group(make_job(), Count=3)
    down = annotated(old, with_group(old, Count=1))
    assert down.TaskGroups[0].Fields == [F("Count", "Edited", "3", "1", ["forces destroy"])]
    up = annotated(old, with_group(old, Count=5))
    assert up.TaskGroups[0].Fields == [F("Count", "Edited", "3", "5", ["forces create"])]
    added = annotated(make_job(TaskGroups=[]), old)
    assert added.TaskGroups[0].Fields == [F("Count", "Added", "", "3", ["forces create"])]


def test_task_annotations_for_added_and_deleted_groups() -> None:
    job = make_job()
    added = annotated(make_job(TaskGroups=[]), job)
    assert added.TaskGroups[0].Tasks[0].Annotations == ["forces create"]
    deleted = annotated(job, make_job(TaskGroups=[]))
    assert deleted.TaskGroups[0].Fields[0].Annotations == ["forces destroy"]
    assert deleted.TaskGroups[0].Tasks[0].Annotations == ["forces destroy"]


def test_task_added_to_an_edited_group_is_a_destructive_update() -> None:
    old = make_job()
    new = with_group(old, Tasks=[make_task(), make_task(Name="sidecar")])
    tasks = annotated(old, new).TaskGroups[0].Tasks
    assert [(t.Name, t.Type, t.Annotations) for t in tasks] == [
        ("redis", "None", None), ("sidecar", "Added", ["forces create/destroy update"])]


@pytest.mark.parametrize("change, expected", [
    (dict(KillTimeout=1), "forces in-place update"),
    (dict(LogConfig=LogConfig(MaxFiles=2, MaxFileSizeMB=10)), "forces in-place update"),
    (dict(Constraints=[Constraint(LTarget="a", RTarget="b", Operand="=")]), "forces in-place update"),
    (dict(Services=None), "forces in-place update"),
    (dict(Driver="exec"), "forces create/destroy update"),
    (dict(Leader=True), "forces create/destroy update"),
    (dict(Meta={"a": "b"}), "forces create/destroy update"),
    (dict(Config={"image": "redis:4"}), "forces create/destroy update"),
    (dict(Templates=[Template(DestPath="d")]), "forces create/destroy update"),
    (dict(KillTimeout=1, Driver="exec"), "forces create/destroy update"),
])
def test_task_update_annotations(change: dict, expected: str) -> None:
    old = make_job()
    task = only_task(annotated(old, with_task(old, **change)))
    assert task.Type == "Edited"
    assert task.Annotations == [expected]


def test_service_change_is_in_place() -> None:
    old = make_job()
    svc = old.TaskGroups[0].Tasks[0].Services[0]
    new = with_task(old, Services=[attrs.evolve(svc, PortLabel="other")])
    task = only_task(annotated(old, new, cache=DesiredUpdates(InPlaceUpdate=1)))
    assert task.Annotations == ["forces in-place update"]


def test_annotate_leaves_the_input_untouched_and_handles_no_groups() -> None:
    old = make_job()
    new = with_group(old, Count=2)
    diff = job_diff(old, new, True)
    before = codec.to_wire(diff)
    annotate(diff, {"cache": DesiredUpdates(Place=1)})
    assert codec.to_wire(diff) == before
    empty = JobDiff(Type="None")
    assert annotate(empty, {"cache": DesiredUpdates(Place=1)}) == empty
