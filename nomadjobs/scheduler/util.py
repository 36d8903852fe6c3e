"""Helpers shared by the schedulers (``scheduler/util.go`` and a few struct methods)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..structs import (
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_PENDING,
    ALLOC_CLIENT_RUNNING,
    ALLOC_DESIRED_STOP,
    EVAL_STATUS_BLOCKED,
    EVAL_STATUS_PENDING,
    NODE_STATUS_DOWN,
    NODE_STATUS_READY,
    TRIGGER_ROLLING_UPDATE,
    Allocation,
    AllocMetric,
    Evaluation,
    Job,
    NetworkResource,
    Node,
    PlanResult,
    Resources,
    TaskGroup,
    UpdateStrategy,
    evolve,
)
from .context import PlanBuilder
from .interfaces import Planner, StateReader

# DesiredDescription strings (scheduler/generic_sched.go).
ALLOC_NOT_NEEDED = "alloc not needed due to job update"
ALLOC_MIGRATING = "alloc is being migrated"
ALLOC_UPDATING = "alloc is being updated due to job update"
ALLOC_LOST = "alloc is lost since its node is down"
ALLOC_IN_PLACE = "alloc updating in-place"
ALLOC_NODE_TAINTED = "alloc not needed as node is tainted"

BLOCKED_EVAL_MAX_PLAN_DESC = "created due to placement conflicts"
BLOCKED_EVAL_FAILED_PLACEMENTS = "created to place remaining allocations"

TASK_STATE_DEAD = "dead"
TASK_EVENT_TERMINATED = "Terminated"


class MaxAttemptsReached(Exception):
    """retryMax gave up (SetStatusError with status failed)."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"maximum attempts reached ({attempts})")


def shared_resources(tg: TaskGroup) -> Resources:
    """A new allocation's SharedResources: ``&structs.Resources{DiskMB: tg.EphemeralDisk.SizeMB}``
    (generic_sched.go, system_sched.go), a server-side struct whose other ints are 0, not nil."""
    disk = (tg.EphemeralDisk.SizeMB or 0) if tg.EphemeralDisk else 0
    return Resources(CPU=0, MemoryMB=0, DiskMB=disk, IOPS=0)


def inplace_shared_resources(existing: Allocation, tg: TaskGroup) -> Resources:
    """An in-place update keeps the allocation's SharedResources (inplaceUpdate copies the
    alloc and only replaces EvalID, Job, Resources, TaskResources and Metrics)."""
    return existing.SharedResources if existing.SharedResources is not None else shared_resources(tg)


# --- allocation names ---------------------------------------------------------------------

def alloc_name(job_id: str, group: str, idx: int) -> str:
    return f"{job_id}.{group}[{idx}]"


def alloc_index(alloc: Allocation) -> int:
    """The ``<n>`` of ``<job>.<group>[<n>]`` (0 when unparsable, like Go's Atoi)."""
    name = alloc.Name
    start = name.rfind("[")
    if start < 0 or not name.endswith("]"):
        return 0
    try:
        return max(0, int(name[start + 1:-1]))
    except ValueError:
        return 0


# --- allocation predicates -------------------------------------------------------------------

def ran_successfully(alloc: Allocation) -> bool:
    """Every task finished with a clean Terminated event."""
    if not alloc.TaskStates:
        return False
    for state in alloc.TaskStates.values():
        events = state.Events or []
        if state.State != TASK_STATE_DEAD or not events:
            return False
        last = events[-1]
        if last.Type != TASK_EVENT_TERMINATED or last.ExitCode != 0:
            return False
    return True


def node_terminal(node: Optional[Node]) -> bool:
    return node is None or node.Status == NODE_STATUS_DOWN


def node_ready(node: Optional[Node]) -> bool:
    return node is not None and node.Status == NODE_STATUS_READY and not node.Drain


def filter_terminal_allocs(allocs: list[Allocation]) -> tuple[list[Allocation], dict[str, Allocation]]:
    """Non-terminal allocs, and the newest terminal alloc per name."""
    live: list[Allocation] = []
    terminal: dict[str, Allocation] = {}
    for a in allocs:
        if a.terminal():
            cur = terminal.get(a.Name)
            if cur is None or cur.CreateIndex < a.CreateIndex:
                terminal[a.Name] = a
        else:
            live.append(a)
    return live, terminal


# --- nodes ----------------------------------------------------------------------------------

def ready_nodes_in_dcs(state: StateReader, dcs: list[str]) -> tuple[list[Node], dict[str, int]]:
    """Ready, non-draining nodes of ``dcs`` in ID order, and how many per DC. Worked
    out once per version of the nodes table (every evaluation asks)."""
    token = state.nodes_token()
    key = ("scheduler.ready-nodes", tuple(dcs))
    hit = state.memo.get(key) if token is not None else None
    if hit is None or hit[0] is not token:
        by_dc = {dc: 0 for dc in dcs}
        out = []
        for node in sorted(state.nodes(), key=lambda n: n.ID):
            if node.Status != NODE_STATUS_READY or node.Drain or node.Datacenter not in by_dc:
                continue
            out.append(node)
            by_dc[node.Datacenter] += 1
        hit = (token, out, by_dc)
        if token is not None:
            state.memo[key] = hit
    return list(hit[1]), dict(hit[2])  # callers shuffle and count down their copies


def tainted_nodes(state: StateReader, allocs: list[Allocation]) -> dict[str, Optional[Node]]:
    """Nodes of the allocs that are gone, down or draining (None for gone)."""
    out: dict[str, Optional[Node]] = {}
    seen: set[str] = set()
    for a in allocs:
        if a.NodeID in seen:
            continue
        seen.add(a.NodeID)
        node = state.node_by_id(a.NodeID)
        if node is None:
            out[a.NodeID] = None
        elif node.Status == NODE_STATUS_DOWN or node.Drain:
            out[a.NodeID] = node
    return out


def update_non_terminal_allocs_to_lost(plan: PlanBuilder, tainted: dict[str, Optional[Node]],
                                       allocs: list[Allocation], now: int) -> None:
    """Allocs already told to stop on a down node whose client never confirmed
    are marked lost."""
    for a in allocs:
        if a.NodeID not in tainted or not node_terminal(tainted[a.NodeID]):
            continue
        if a.DesiredStatus == ALLOC_DESIRED_STOP and a.ClientStatus in (ALLOC_CLIENT_RUNNING, ALLOC_CLIENT_PENDING):
            plan.append_update(a, ALLOC_DESIRED_STOP, ALLOC_LOST, ALLOC_CLIENT_LOST, now)


# --- job comparison -----------------------------------------------------------------------------

def combined_task_meta(job: Job, group: str, task_name: str) -> Optional[dict[str, str]]:
    tg = job.lookup_task_group(group)
    if tg is None:
        return None
    task = next((t for t in tg.Tasks or () if t.Name == task_name), None)
    if task is None:
        return None
    meta = dict(task.Meta or {})
    for src in (tg.Meta or {}, job.Meta or {}):
        for k, v in src.items():
            meta.setdefault(k, v)
    return meta


def network_port_map(n: NetworkResource) -> dict[str, int]:
    m = {p.Label: p.Value for p in n.ReservedPorts or ()}
    for p in n.DynamicPorts or ():
        m[p.Label] = -1  # dynamic values are assigned per alloc: only the label counts
    return m


def tasks_updated(job_a: Job, job_b: Job, group: str) -> bool:
    """Would moving an alloc of ``group`` between the two jobs need a new alloc?"""
    a = job_a.lookup_task_group(group)
    b = job_b.lookup_task_group(group)
    if a is None or b is None:
        return True
    if len(a.Tasks or ()) != len(b.Tasks or ()):
        return True
    if a.EphemeralDisk != b.EphemeralDisk:
        return True
    b_tasks = {t.Name: t for t in b.Tasks or ()}
    for at in a.Tasks or ():
        bt = b_tasks.get(at.Name)
        if bt is None:
            return True
        if (at.Driver != bt.Driver or at.User != bt.User or at.Config != bt.Config or at.Env != bt.Env
                or at.Artifacts != bt.Artifacts or at.Vault != bt.Vault or at.Templates != bt.Templates):
            return True
        if combined_task_meta(job_a, group, at.Name) != combined_task_meta(job_b, group, bt.Name):
            return True
        ar, br = at.Resources, bt.Resources
        a_nets = (ar.Networks if ar else None) or []
        b_nets = (br.Networks if br else None) or []
        if len(a_nets) != len(b_nets):
            return True
        for an, bn in zip(a_nets, b_nets):
            if an.MBits != bn.MBits or network_port_map(an) != network_port_map(bn):
                return True
        if ar is None or br is None:
            if ar != br:
                return True
            continue
        if ar.CPU != br.CPU or ar.MemoryMB != br.MemoryMB or ar.IOPS != br.IOPS:
            return True
    return False


# --- evaluations ---------------------------------------------------------------------------------

def blocked_eval(ev: Evaluation, new_id: str, class_eligibility: Optional[dict[str, bool]],
                 escaped: bool) -> Evaluation:
    return Evaluation(
        ID=new_id, Namespace=ev.Namespace, Priority=ev.Priority, Type=ev.Type,
        TriggeredBy=ev.TriggeredBy, JobID=ev.JobID, JobModifyIndex=ev.JobModifyIndex,
        Status=EVAL_STATUS_BLOCKED, PreviousEval=ev.ID, ClassEligibility=class_eligibility,
        EscapedComputedClass=escaped,
    )


def next_rolling_eval(ev: Evaluation, new_id: str, wait: int) -> Evaluation:
    return Evaluation(
        ID=new_id, Namespace=ev.Namespace, Priority=ev.Priority, Type=ev.Type,
        TriggeredBy=TRIGGER_ROLLING_UPDATE, JobID=ev.JobID, JobModifyIndex=ev.JobModifyIndex,
        Status=EVAL_STATUS_PENDING, Wait=wait, PreviousEval=ev.ID,
    )


def set_status(planner: Planner, ev: Evaluation, next_eval: Optional[Evaluation],
               spawned_blocked: Optional[Evaluation], tg_metrics: Optional[dict[str, AllocMetric]],
               status: str, desc: str, queued: Optional[dict[str, int]], deployment_id: str) -> None:
    changes: dict[str, Any] = {
        "Status": status,
        "StatusDescription": desc,
        "DeploymentID": deployment_id,
        "FailedTGAllocs": dict(tg_metrics) if tg_metrics else None,
    }
    if next_eval is not None:
        changes["NextEval"] = next_eval.ID
    if spawned_blocked is not None:
        changes["BlockedEval"] = spawned_blocked.ID
    if queued is not None:
        changes["QueuedAllocations"] = dict(queued)
    planner.update_eval(evolve(ev, **changes))


def retry_max(limit: int, cb: Callable[[], bool], reset: Optional[Callable[[], bool]]) -> None:
    """Run ``cb`` until it reports done; attempts restart whenever progress was made."""
    attempts = 0
    while attempts < limit:
        if cb():
            return
        if reset is not None and reset():
            attempts = 0
        else:
            attempts += 1
    raise MaxAttemptsReached(limit)


def progress_made(result: Optional[PlanResult]) -> bool:
    return result is not None and bool(result.NodeUpdate or result.NodeAllocation
                                       or result.Deployment is not None or result.DeploymentUpdates)


def full_commit(plan_allocs: dict[str, list[Allocation]], result: PlanResult) -> bool:
    expected = sum(len(v) for v in plan_allocs.values())
    actual = sum(len((result.NodeAllocation or {}).get(k, ())) for k in plan_allocs)
    return expected == actual


def adjust_queued_allocations(result: Optional[PlanResult], queued: dict[str, int], created_ids: set[str]) -> None:
    """Placed allocations no longer count as queued. Nomad spots new allocs by
    CreateIndex == ModifyIndex; we know which IDs this scheduler created."""
    if result is None:
        return
    placed = result.NodeAllocation or {}
    for node_id in sorted(placed):
        for alloc in placed[node_id]:
            if alloc.ID in created_ids and alloc.TaskGroup in queued:
                queued[alloc.TaskGroup] -= 1


def job_stopped(job: Optional[Job]) -> bool:
    return job is None or bool(job.Stop)


def group_update_strategy(tg: TaskGroup) -> Optional[UpdateStrategy]:
    """The group's update block when it asks for rolling updates (MaxParallel > 0)."""
    u = tg.Update
    if u is None or not (u.MaxParallel or 0):
        return None
    return u
