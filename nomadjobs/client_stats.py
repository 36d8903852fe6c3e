"""What a simulated client's stats collector would report (v0.7.1 ``client/stats``
and the drivers' ``Stats``), computed from the state.

A simulated task runs no process, so it uses nothing unless its meta says otherwise:
``nomadjobs.cpu_percent`` (of one core, as the executor measures it) and
``nomadjobs.rss_bytes``. Only running tasks report usage, as on a real client; the
host's figures are the node's resources less what its running tasks use.

The answers are wire-shaped dicts with keys in the order Nomad's codec writes them
(alphabetical).
"""

from __future__ import annotations

from typing import Any, Optional

from . import structs as s

__all__ = ["META_CPU_PERCENT", "META_RSS_BYTES", "alloc_usage", "host_stats", "running_tasks", "task_names"]

META_CPU_PERCENT = "nomadjobs.cpu_percent"
META_RSS_BYTES = "nomadjobs.rss_bytes"

# Which fields each driver's collector samples (client/driver: docker.go, executor.go).
_DOCKER_MEMORY = ["RSS", "Cache", "Swap", "Max Usage"]
_DOCKER_CPU = ["Throttled Periods", "Throttled Time", "Percent"]
_EXECUTOR_MEMORY = ["RSS", "Swap"]
_EXECUTOR_CPU = ["System Mode", "User Mode", "Percent"]

MIB = 1024 * 1024
TASK_RUNNING = "running"  # a TaskState's State


def _usage(cpu_percent: float, ticks: float, rss: int, cpu_measured: Optional[list[str]],
           memory_measured: Optional[list[str]]) -> dict[str, Any]:
    return {
        "CpuStats": {"Measured": cpu_measured, "Percent": cpu_percent, "SystemMode": 0.0,
                     "ThrottledPeriods": 0, "ThrottledTime": 0, "TotalTicks": ticks, "UserMode": cpu_percent},
        "MemoryStats": {"Cache": 0, "KernelMaxUsage": 0, "KernelUsage": 0, "MaxUsage": 0,
                        "Measured": memory_measured, "RSS": rss, "Swap": 0},
    }


def _meta_number(meta: Optional[dict[str, str]], key: str) -> float:
    try:
        return max(0.0, float((meta or {}).get(key, "0")))
    except ValueError:
        return 0.0


def _cores(node: Optional[s.Node]) -> int:
    try:
        return max(1, int(((node.Attributes or {}) if node is not None else {}).get("cpu.numcores", "1")))
    except ValueError:
        return 1


def _total_compute(node: Optional[s.Node]) -> int:
    return (node.Resources.CPU or 0) if node is not None and node.Resources is not None else 0


def running_tasks(alloc: s.Allocation) -> list[s.Task]:
    """The group's tasks whose state says running, in the group's order."""
    group = alloc.Job.lookup_task_group(alloc.TaskGroup) if alloc.Job is not None else None
    if group is None:
        return []
    states = alloc.TaskStates or {}
    return [t for t in group.Tasks or () for st in (states.get(t.Name or ""),)
            if st is not None and st.State == TASK_RUNNING]


def task_names(alloc: s.Allocation) -> list[str]:
    """The tasks the allocation's runner has (its group's)."""
    group = alloc.Job.lookup_task_group(alloc.TaskGroup) if alloc.Job is not None else None
    return [t.Name or "" for t in (group.Tasks or ())] if group is not None else []


def _task_usage(task: s.Task, node: Optional[s.Node], now_ns: int) -> dict[str, Any]:
    percent = _meta_number(task.Meta, META_CPU_PERCENT)
    rss = int(_meta_number(task.Meta, META_RSS_BYTES))
    ticks = percent / 100 * _total_compute(node) / _cores(node)  # the executor's TicksConsumed
    docker = task.Driver == "docker"
    usage = _usage(percent, ticks, rss, _DOCKER_CPU if docker else _EXECUTOR_CPU,
                   _DOCKER_MEMORY if docker else _EXECUTOR_MEMORY)
    # A simulated task has no processes to list.
    return {"Pids": None, "ResourceUsage": usage, "Timestamp": now_ns}


def _join(into: Optional[list[str]], other: Optional[list[str]]) -> list[str]:
    """client/structs joinStringSet: order kept, duplicates dropped, never nil."""
    out = list(into or ())
    out.extend(x for x in other or () if x not in out)
    return out


def _sum(usages: list[dict[str, Any]]) -> dict[str, Any]:
    total = _usage(0.0, 0.0, 0, None, None)
    for usage in usages:
        for section in ("CpuStats", "MemoryStats"):
            mine, theirs = total[section], usage[section]
            for key, value in theirs.items():
                mine[key] = _join(mine[key], value) if key == "Measured" else mine[key] + value
    return total


def alloc_usage(running: list[s.Task], node: Optional[s.Node], now_ns: int) -> dict[str, Any]:
    """``AllocResourceUsage`` of an allocation on ``node`` whose ``running`` tasks
    report usage."""
    tasks = {t.Name or "": _task_usage(t, node, now_ns) for t in running}
    return {"ResourceUsage": _sum([u["ResourceUsage"] for u in tasks.values()]), "Tasks": tasks,
            "Timestamp": max((u["Timestamp"] for u in tasks.values()), default=0)}


def host_stats(node: s.Node, allocs: list[s.Allocation], uptime_s: int, now_ns: int) -> dict[str, Any]:
    """``stats.HostStats`` of ``node`` running ``allocs`` (its live ones)."""
    running = [t for a in allocs if a.ClientStatus == s.ALLOC_CLIENT_RUNNING for t in running_tasks(a)]
    usages = [_task_usage(t, node, now_ns)["ResourceUsage"] for t in running]
    ticks = sum(u["CpuStats"]["TotalTicks"] for u in usages)
    compute = _total_compute(node)
    busy = min(100.0, ticks / compute * 100) if compute else 0.0
    cores = _cores(node)
    resources = node.Resources or s.Resources()
    memory_total = (resources.MemoryMB or 0) * MIB
    memory_used = min(memory_total, sum(u["MemoryStats"]["RSS"] for u in usages))
    disk_size = (resources.DiskMB or 0) * MIB
    disk_used = min(disk_size, sum(((a.Resources.DiskMB or 0) if a.Resources is not None else 0) * MIB
                                   for a in allocs if not a.terminal()))
    disk = {"Available": disk_size - disk_used, "Device": (node.Attributes or {}).get("unique.storage.volume", ""),
            "InodesUsedPercent": 0.0, "Mountpoint": "/", "Size": disk_size, "Used": disk_used,
            "UsedPercent": disk_used / disk_size * 100 if disk_size else 0.0}
    return {
        "AllocDirStats": {**disk, "Device": "", "Mountpoint": ""},
        "CPU": [{"CPU": f"cpu{i}", "Idle": 100.0 - busy, "System": 0.0, "Total": busy, "User": busy}
                for i in range(cores)],
        "CPUTicksConsumed": ticks,
        "DiskStats": [disk],
        "Memory": {"Available": memory_total - memory_used, "Free": memory_total - memory_used,
                   "Total": memory_total, "Used": memory_used},
        "Timestamp": now_ns,
        "Uptime": uptime_s,
    }
