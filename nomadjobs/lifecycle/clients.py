"""Simulated client agents: what v0.7.1's alloc and task runners report to the servers.

For every allocation a plan places on a node, a runner plays the client's part on the
clock: tasks are received, set up and started (one ``running`` update), batch tasks exit
after a while (``complete``), stopped allocations are killed (``Killing``/``Killed``), a
failing task goes through the group's restart policy, and allocations of a deployment
report their health (``task_states`` logic: every task running for MinHealthyTime before
HealthyDeadline; ``checks`` behaves the same since no Consul checks are simulated;
``manual`` reports nothing).

Everything that writes runs in timer callbacks; the FSM listener only schedules timers.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

import attrs

from .. import fsm as cmds
from .. import structs as s
from ..clock import Timer
from ..core.protocol import Core
from ..golang.time import format_duration, parse_duration, rfc3339, rfc3339_ns
from ..state.store import StateReader
from . import taskevents as ev

MS = 1_000_000
S = 1_000_000_000

# Task meta keys a test can use to shape a simulated task.
META_RUN_FOR = "nomadjobs.run_for"      # Go duration: the task exits after running this long
META_EXIT_CODE = "nomadjobs.exit_code"  # exit code used when it does

TASK_PENDING = "pending"
TASK_RUNNING = "running"
TASK_DEAD = "dead"

DEFAULT_KILL_TIMEOUT = 5 * S


@attrs.define
class ClientTiming:
    """Delays of the simulated clients (virtual or wall nanoseconds). The defaults
    follow the golden recording: tasks received ~15 ms and running ~50 ms after
    placement."""
    received_ns: int = 15 * MS    # placement -> Received / Task Setup events
    start_ns: int = 50 * MS       # placement -> Started and the ``running`` update
    batch_run_ns: int = 100 * MS  # how long a batch task runs before exiting 0
    kill_ns: int = 10 * MS        # desired stop -> Killing / Killed and the final update
    # How updates reach the servers: each client sends what changed every
    # ``sync_interval_ns`` (client.go allocSyncIntv), and the server commits what
    # arrived within ``server_batch_ns`` as one entry (node_endpoint.go
    # batchUpdateInterval). 0 sends each update on its own, at once.
    sync_interval_ns: int = 200 * MS
    server_batch_ns: int = 50 * MS


@attrs.define(eq=False)
class _Task:
    name: str
    kill_timeout: int
    run_for: Optional[int]
    exit_code: int
    state: str = TASK_PENDING
    failed: bool = False
    restarts: int = 0
    last_restart: int = 0
    started_at: int = 0
    finished_at: int = 0
    events: list[s.TaskEvent] = attrs.Factory(list)
    # Restart tracker (client/restarts.go): attempts counted per interval window.
    rt_count: int = 0
    rt_window_start: int = 0
    timer: Optional[Timer] = None

    def to_state(self) -> s.TaskState:
        return s.TaskState(State=self.state, Failed=self.failed, Restarts=self.restarts,
                           LastRestart=rfc3339(self.last_restart), StartedAt=rfc3339(self.started_at),
                           FinishedAt=rfc3339(self.finished_at), Events=list(self.events))

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@attrs.define(eq=False)
class _AllocRunner:
    alloc_id: str
    node_id: str
    job_type: str
    group: s.TaskGroup
    tasks: dict[str, _Task]
    placed_ns: int
    deployment_id: str = ""
    started: bool = False
    stopping: bool = False
    done: bool = False
    # Every task has finished and the client said so; Nomad's alloc runner lives on
    # until the servers stop the allocation, and then reports once more (handleDestroy).
    finished: bool = False
    timers: list[Timer] = attrs.Factory(list)
    # Deployment health watcher (client/alloc_runner_health_watch.go).
    health: Optional[bool] = None
    health_sent: bool = False
    health_at: int = 0
    health_timer: Optional[Timer] = None
    deadline_timer: Optional[Timer] = None

    def cancel_health(self) -> None:
        for t in (self.health_timer, self.deadline_timer):
            if t is not None:
                t.cancel()
        self.health_timer = self.deadline_timer = None

    def cancel_all(self) -> None:
        for t in self.timers:
            t.cancel()
        self.timers.clear()
        for task in self.tasks.values():
            task.cancel()
        self.cancel_health()


# Commands that exit as soon as they start, whatever the job type, and their exit codes.
QUICK_COMMANDS = {"/bin/true": 0, "true": 0, "/usr/bin/true": 0, "/bin/false": 1, "false": 1, "/usr/bin/false": 1}


def _task_from_spec(spec: s.Task, job_type: str, timing: ClientTiming) -> _Task:
    meta = spec.Meta or {}
    run_for: Optional[int] = timing.batch_run_ns if job_type == s.JOB_TYPE_BATCH else None
    exit_code = 0
    command = (spec.Config or {}).get("command")
    if isinstance(command, str) and command in QUICK_COMMANDS:
        # A service task running /bin/true exits at once and waits to restart, as on a
        # real client; any other command runs until stopped (or for nomadjobs.run_for).
        run_for, exit_code = timing.batch_run_ns, QUICK_COMMANDS[command]
    if META_RUN_FOR in meta:
        run_for = parse_duration(meta[META_RUN_FOR])
    exit_code = int(meta.get(META_EXIT_CODE, str(exit_code)))
    return _Task(name=spec.Name or "", kill_timeout=spec.KillTimeout or DEFAULT_KILL_TIMEOUT,
                 run_for=run_for, exit_code=exit_code)


def client_status(tasks: list[_Task]) -> str:
    """getClientStatus: failed > running > pending > complete."""
    failed = any(t.state == TASK_DEAD and t.failed for t in tasks)
    if failed:
        return s.ALLOC_CLIENT_FAILED
    if any(t.state == TASK_RUNNING for t in tasks):
        return s.ALLOC_CLIENT_RUNNING
    if any(t.state == TASK_PENDING for t in tasks):
        return s.ALLOC_CLIENT_PENDING
    return s.ALLOC_CLIENT_COMPLETE


def default_restart_policy(job_type: str) -> s.RestartPolicy:
    if job_type in (s.JOB_TYPE_SERVICE, s.JOB_TYPE_SYSTEM):
        return s.RestartPolicy(Attempts=2, Interval=60 * S, Delay=15 * S, Mode="delay")
    return s.RestartPolicy(Attempts=15, Interval=7 * 24 * 3600 * S, Delay=15 * S, Mode="delay")


class SimulatedClients:
    """The client agents of every node, as far as the servers can see them."""

    def __init__(self, core: Core, timing: Optional[ClientTiming] = None) -> None:
        self.core = core
        self.timing = timing or ClientTiming()
        self.runners: dict[str, _AllocRunner] = {}
        # Deployments whose allocs never pass their health checks (a fault).
        self.stalled: set[str] = set()
        # Runners with news for the servers, per node, until that client's next sync tick.
        self._dirty: dict[str, dict[str, _AllocRunner]] = {}
        self._ticks: dict[str, Timer] = {}
        # Updates handed to the servers, committed together when the batch window closes.
        self._batch: list[s.Allocation] = []
        self._batch_timer: Optional[Timer] = None

    # --- listener (schedules only) ---------------------------------------------------
    def on_apply(self, command: Any, result: cmds.ApplyResult) -> None:
        if result.error is not None:
            return
        if isinstance(command, cmds.ApplyPlanResults):
            self._on_plan(command)
        elif isinstance(command, cmds.NodeStatusUpdate) and command.status == s.NODE_STATUS_DOWN:
            self.node_down(command.node_id)
        elif isinstance(command, cmds.NodeDeregister):
            self.node_down(command.node_id)

    def _on_plan(self, command: cmds.ApplyPlanResults) -> None:
        state = self.core.snapshot()
        for planned in command.allocs:
            alloc = state.alloc_by_id(planned.ID)
            if alloc is None:
                continue
            runner = self.runners.get(alloc.ID)
            if alloc.ClientStatus == s.ALLOC_CLIENT_LOST:
                if runner is not None:
                    self._drop(runner)  # its node is gone: nobody reports anything
                continue
            if alloc.DesiredStatus in (s.ALLOC_DESIRED_STOP, s.ALLOC_DESIRED_EVICT):
                if runner is not None and not runner.stopping:
                    runner.stopping = True
                    runner.timers.append(self.core.clock.call_later(self.timing.kill_ns, partial(self._kill, runner)))
                continue
            if alloc.DesiredStatus != s.ALLOC_DESIRED_RUN:
                continue
            if runner is None:
                if alloc.ClientStatus == s.ALLOC_CLIENT_PENDING and self._node_up(state, alloc.NodeID):
                    self._new_runner(alloc)
                continue
            # An in-place update: the client picks up the new spec, and a new
            # deployment restarts its health watcher.
            tg = alloc.Job.lookup_task_group(alloc.TaskGroup) if alloc.Job is not None else None
            if tg is not None:
                runner.group = tg
            if alloc.DeploymentID != runner.deployment_id:
                runner.deployment_id = alloc.DeploymentID
                runner.health = None
                runner.health_sent = False
                runner.cancel_health()
                if runner.started:
                    runner.timers.append(self.core.clock.call_later(0, partial(self._rewatch, runner)))

    @staticmethod
    def _node_up(state: StateReader, node_id: str) -> bool:
        node = state.node_by_id(node_id)
        return node is not None and node.Status != s.NODE_STATUS_DOWN

    def resume(self, state: StateReader) -> int:
        """After a restore: start the allocations the clients had not started yet
        (placed, wanted running, on a node that is up), and take up again the ones
        they run, as a real client that outlived its servers does: their tasks go
        on from what was last reported (a batch task still exits when its time is up,
        a stopped allocation is still killed). Returns how many started."""
        started = 0
        now = self.core.now_ns()
        for alloc in state.allocs():
            if alloc.ID in self.runners or not self._node_up(state, alloc.NodeID):
                continue
            if alloc.DesiredStatus == s.ALLOC_DESIRED_RUN and alloc.ClientStatus == s.ALLOC_CLIENT_PENDING:
                self._new_runner(alloc)
                started += 1
            elif alloc.ClientStatus == s.ALLOC_CLIENT_RUNNING:
                self._adopt(alloc, now)
        return started

    def _adopt(self, alloc: s.Allocation, now: int) -> None:
        job = alloc.Job
        tg = job.lookup_task_group(alloc.TaskGroup) if job is not None else None
        if job is None or tg is None:
            return
        job_type = job.Type or s.JOB_TYPE_SERVICE
        tasks: dict[str, _Task] = {}
        for spec in tg.Tasks or ():
            task = _task_from_spec(spec, job_type, self.timing)
            reported = (alloc.TaskStates or {}).get(task.name)
            if reported is not None:
                task.state = reported.State or TASK_PENDING
                task.failed = bool(reported.Failed)
                task.restarts = reported.Restarts or 0
                task.last_restart = rfc3339_ns(reported.LastRestart or s.ZERO_TIME)
                task.started_at = rfc3339_ns(reported.StartedAt or s.ZERO_TIME)
                task.finished_at = rfc3339_ns(reported.FinishedAt or s.ZERO_TIME)
                task.events = list(reported.Events or ())
                task.rt_window_start = task.started_at
            tasks[task.name] = task
        runner = _AllocRunner(alloc_id=alloc.ID, node_id=alloc.NodeID, job_type=job_type, group=tg, tasks=tasks,
                              placed_ns=now, deployment_id=alloc.DeploymentID, started=True)
        if alloc.DeploymentStatus is not None and alloc.DeploymentStatus.Healthy is not None:
            runner.health, runner.health_sent = alloc.DeploymentStatus.Healthy, True
        self.runners[alloc.ID] = runner
        if alloc.DesiredStatus != s.ALLOC_DESIRED_RUN:
            runner.stopping = True
            runner.timers.append(self.core.clock.call_later(self.timing.kill_ns, partial(self._kill, runner)))
            return
        for task in tasks.values():
            if task.state == TASK_RUNNING and task.run_for is not None:
                left = max(0, task.started_at + task.run_for - now)
                task.timer = self.core.clock.call_later(left, partial(self._exited, runner, task, task.exit_code))
            elif task.state == TASK_PENDING and task.events and task.events[-1].Type == ev.RESTARTING:
                last = task.events[-1]
                left = max(0, (last.Time or 0) + (last.StartDelay or 0) - now)
                task.timer = self.core.clock.call_later(left, partial(self._restart, runner, task))
        runner.timers.append(self.core.clock.call_later(0, partial(self._rewatch, runner)))

    def _new_runner(self, alloc: s.Allocation) -> None:
        job = alloc.Job
        tg = job.lookup_task_group(alloc.TaskGroup) if job is not None else None
        if job is None or tg is None:
            return
        job_type = job.Type or s.JOB_TYPE_SERVICE
        tasks = {t.Name or "": _task_from_spec(t, job_type, self.timing) for t in tg.Tasks or ()}
        runner = _AllocRunner(alloc_id=alloc.ID, node_id=alloc.NodeID, job_type=job_type, group=tg, tasks=tasks,
                              placed_ns=self.core.now_ns(), deployment_id=alloc.DeploymentID)
        self.runners[alloc.ID] = runner
        runner.timers.append(self.core.clock.call_later(self.timing.start_ns, lambda: self._start(runner)))

    def node_down(self, node_id: str) -> None:
        """The node's client is gone: its runners stop without a word."""
        for runner in [r for r in self.runners.values() if r.node_id == node_id]:
            self._drop(runner)

    def _drop(self, runner: _AllocRunner) -> None:
        runner.done = True
        runner.cancel_all()
        self.runners.pop(runner.alloc_id, None)

    # --- the task lifecycle (timer callbacks) ------------------------------------------
    def _start(self, runner: _AllocRunner) -> None:
        if runner.done or runner.stopping:
            return
        now = self.core.now_ns()
        received_at = min(runner.placed_ns + self.timing.received_ns, now)
        for task in runner.tasks.values():
            task.events.append(ev.received(received_at))
            task.events.append(ev.task_setup(min(received_at + 50_000, now)))
            task.rt_window_start = now
            self._run_task(runner, task, now)
        runner.started = True
        self._arm_deadline(runner, now)
        self._sync(runner)

    def _run_task(self, runner: _AllocRunner, task: _Task, now: int) -> None:
        task.events.append(ev.started(now))
        if task.state != TASK_RUNNING:
            task.started_at = now
        task.state = TASK_RUNNING
        if task.run_for is not None:
            task.timer = self.core.clock.call_later(
                task.run_for, lambda: self._exited(runner, task, task.exit_code))

    def _exited(self, runner: _AllocRunner, task: _Task, exit_code: int, message: str = "",
                driver_error: Optional[str] = None) -> None:
        """The task's process ended (or its driver failed to start it): apply the
        restart policy and report."""
        if runner.done or task.state == TASK_DEAD:
            return
        task.timer = None
        now = self.core.now_ns()
        if driver_error is not None:
            task.events.append(ev.driver_failure(now, driver_error))
            success = False
        else:
            task.events.append(ev.terminated(now, exit_code, 0, message))
            success = exit_code == 0
        verdict, delay, reason = self._restart_decision(runner, task, success, now)
        if verdict == ev.RESTARTING:
            task.state = TASK_PENDING
            task.events.append(ev.restarting(now, delay, reason))
            task.restarts += 1
            task.last_restart = now
            task.timer = self.core.clock.call_later(delay, lambda: self._restart(runner, task))
        elif verdict == ev.NOT_RESTARTING:
            task.events.append(ev.not_restarting(now, reason))
            self._dead(task, now, failed=True)
            for sibling in runner.tasks.values():
                if sibling is not task and sibling.state != TASK_DEAD:
                    sibling.cancel()
                    sibling.events.append(ev.sibling_failed(now, task.name))
                    sibling.events.append(ev.killing(now, sibling.kill_timeout))
                    sibling.events.append(ev.killed(now))
                    self._dead(sibling, now)
        else:
            self._dead(task, now)
        self._sync(runner)

    def _restart(self, runner: _AllocRunner, task: _Task) -> None:
        if runner.done or runner.stopping or task.state != TASK_PENDING:
            return
        task.timer = None
        self._run_task(runner, task, self.core.now_ns())
        self._sync(runner)

    @staticmethod
    def _dead(task: _Task, now: int, failed: bool = False) -> None:
        task.cancel()
        task.state = TASK_DEAD
        task.failed = task.failed or failed
        if task.started_at:
            task.finished_at = now

    def _restart_decision(self, runner: _AllocRunner, task: _Task, success: bool, now: int) -> tuple[str, int, str]:
        """RestartTracker.GetState of v0.7.1, without the jitter (StartDelay = Delay)."""
        policy = runner.group.RestartPolicy or default_restart_policy(runner.job_type)
        attempts = policy.Attempts or 0
        interval = policy.Interval or 0
        delay = policy.Delay or 0
        if attempts == 0:
            return (ev.TERMINATED if success else ev.NOT_RESTARTING), 0, ev.REASON_NO_RESTARTS
        if now > task.rt_window_start + interval:
            task.rt_count = 0
            task.rt_window_start = now
        if success and runner.job_type == s.JOB_TYPE_BATCH:
            return ev.TERMINATED, 0, ev.REASON_UNNECESSARY
        task.rt_count += 1
        if task.rt_count > attempts:
            if policy.Mode == "fail":
                reason = (f"Exceeded allowed attempts {attempts} in interval {format_duration(interval)} "
                          f'and mode is "fail"')
                return ev.NOT_RESTARTING, 0, reason
            return ev.RESTARTING, max(0, task.rt_window_start + interval - now), ev.REASON_DELAY
        return ev.RESTARTING, delay, ev.REASON_WITHIN_POLICY

    def _kill(self, runner: _AllocRunner) -> None:
        if runner.done:
            return
        if not self._node_up(self.core.snapshot(), runner.node_id):
            self._drop(runner)
            return
        runner.cancel_all()
        now = self.core.now_ns()
        for task in runner.tasks.values():
            if task.state == TASK_DEAD:
                continue
            if not runner.started:
                task.events.append(ev.received(now))
            else:
                task.events.append(ev.killing(now, task.kill_timeout))
                task.events.append(ev.killed(now))
            self._dead(task, now)
        self._sync(runner)

    # --- deployment health -------------------------------------------------------------
    def _health_enabled(self, runner: _AllocRunner) -> bool:
        update = runner.group.Update
        return bool(runner.deployment_id) and update is not None and update.HealthCheck != "manual"

    def _arm_deadline(self, runner: _AllocRunner, now: int) -> None:
        if not self._health_enabled(runner) or runner.health is not None:
            return
        update = runner.group.Update  # set: health is enabled
        deadline = (update.HealthyDeadline if update is not None else 0) or 0
        if runner.deadline_timer is not None:
            runner.deadline_timer.cancel()
        runner.deadline_timer = self.core.clock.call_at(now + deadline, lambda: self._health_deadline(runner))

    def _rewatch(self, runner: _AllocRunner) -> None:
        if runner.done or runner.stopping:
            return
        self._arm_deadline(runner, self.core.now_ns())
        self._watch_health(runner)
        if runner.health is not None and not runner.health_sent:
            self._sync(runner)

    def _watch_health(self, runner: _AllocRunner) -> None:
        """Re-read the task states: a dead task makes the alloc unhealthy at once;
        all tasks running arms the MinHealthyTime timer from the latest start."""
        if not self._health_enabled(runner) or runner.health is not None or runner.stopping:
            return
        latest = 0
        for task in runner.tasks.values():
            if task.failed or task.finished_at:
                runner.health = False
                runner.cancel_health()
                return
            if task.state != TASK_RUNNING:
                latest = 0
                break
            latest = max(latest, task.started_at)
        if latest == 0 or runner.deployment_id in self.stalled:
            if runner.health_timer is not None:
                runner.health_timer.cancel()
                runner.health_timer = None
            return
        update = runner.group.Update
        at = latest + ((update.MinHealthyTime if update is not None else 0) or 0)
        if runner.health_timer is not None and runner.health_at == at:
            return
        if runner.health_timer is not None:
            runner.health_timer.cancel()
        runner.health_at = at
        runner.health_timer = self.core.clock.call_at(at, lambda: self._health_decided(runner, True))

    def _health_decided(self, runner: _AllocRunner, healthy: bool) -> None:
        if runner.done or runner.health is not None or runner.stopping:
            return
        runner.health = healthy
        runner.cancel_health()
        self._sync(runner)

    def _health_deadline(self, runner: _AllocRunner) -> None:
        runner.deadline_timer = None
        self._health_decided(runner, False)

    def force_unhealthy(self, alloc_id: str) -> bool:
        """Fault: the client decides the alloc is unhealthy now. False if it has no
        health to report (not simulated, not in a deployment, or already decided)."""
        runner = self.runners.get(alloc_id)
        if runner is None or not runner.deployment_id or runner.health is not None:
            return False
        runner.health = False
        runner.cancel_health()
        self._sync(runner)
        return True

    # --- reporting ---------------------------------------------------------------------
    def _sync(self, runner: _AllocRunner) -> None:
        """The alloc's client view changed: it goes to the servers (Node.UpdateAlloc)
        at its client's next sync tick, batched as Nomad's clients and servers do."""
        if runner.done:
            return
        self._watch_health(runner)
        if self.timing.sync_interval_ns <= 0:
            update = self._report(runner)
            self._commit([update] if update is not None else [])
            return
        self._dirty.setdefault(runner.node_id, {})[runner.alloc_id] = runner
        if runner.node_id not in self._ticks:
            interval = self.timing.sync_interval_ns
            # Each client's ticker has its own phase (from its node ID, so runs repeat).
            phase = int(runner.node_id.replace("-", "")[:8] or "0", 16) % interval
            delay = (phase - self.core.now_ns()) % interval or interval
            self._ticks[runner.node_id] = self.core.clock.call_later(delay, partial(self._tick, runner.node_id))

    def _tick(self, node_id: str) -> None:
        """A client's sync tick: what changed since the last one goes to the servers."""
        self._ticks.pop(node_id, None)
        dirty = self._dirty.pop(node_id, {})
        for alloc_id in sorted(dirty):
            update = self._report(dirty[alloc_id])
            if update is not None:
                self._batch.append(update)
        if self._batch and self._batch_timer is None:
            self._batch_timer = self.core.clock.call_later(self.timing.server_batch_ns, self._commit_batch)

    def _commit_batch(self) -> None:
        batch, self._batch, self._batch_timer = self._batch, [], None
        self._commit(batch)

    def _report(self, runner: _AllocRunner) -> Optional[s.Allocation]:
        """The update the client sends for ``runner`` now (None: nothing to send). A
        runner whose tasks have all finished is done after this report."""
        if runner.done:
            return None
        stored = self.core.snapshot().alloc_by_id(runner.alloc_id)
        if stored is None or stored.ClientStatus == s.ALLOC_CLIENT_LOST:
            self._drop(runner)
            return None
        if runner.finished:
            # Stopped after it finished: the final sync of an unchanged allocation.
            self._drop(runner)
            return s.evolve(stored, ModifyTime=self.core.now_ns())
        tasks = list(runner.tasks.values())
        status = client_status(tasks)
        deployment_status = stored.DeploymentStatus
        if runner.health is not None and not runner.health_sent:
            if deployment_status is None or deployment_status.Healthy is None:
                deployment_status = s.AllocDeploymentStatus(Healthy=runner.health)
            runner.health_sent = True
        if status in (s.ALLOC_CLIENT_COMPLETE, s.ALLOC_CLIENT_FAILED):
            if runner.stopping:
                self._drop(runner)  # the kill's report is the final one
            else:
                runner.finished = True
                runner.cancel_all()
                runner.cancel_health()
        return s.evolve(stored, ClientStatus=status, ClientDescription="",
                        TaskStates={t.name: t.to_state() for t in tasks},
                        DeploymentStatus=deployment_status, ModifyTime=self.core.now_ns())

    def _commit(self, updates: list[s.Allocation]) -> None:
        if not updates:
            return
        self.core.apply(cmds.AllocClientUpdate(updates))
        if any(u.ClientStatus in (s.ALLOC_CLIENT_COMPLETE, s.ALLOC_CLIENT_FAILED) for u in updates):
            # Capacity freed on the node: blocked evaluations may fit now.
            self.core.unblock()

    # --- faults --------------------------------------------------------------------------
    def fail_task(self, alloc_id: str, task: Optional[str] = None, exit_code: int = 1, message: str = "",
                  driver_error: Optional[str] = None) -> None:
        runner = self.runners.get(alloc_id)
        if runner is None or not runner.started:
            raise ValueError(f'alloc "{alloc_id}" has no running simulated task')
        names = [task] if task is not None else [n for n, t in runner.tasks.items() if t.state != TASK_DEAD][:1]
        for name in names:
            if name not in runner.tasks:
                raise ValueError(f'alloc "{alloc_id}" has no task "{name}"')
            target = runner.tasks[name]
            target.cancel()
            self._exited(runner, target, exit_code, message, driver_error)

