"""What the servers do when a node changes (nomad/node_endpoint.go @ v0.7.1).

A node going down, coming (back) to ``ready`` or having its drain flag set gets
``node-update`` evaluations: one per job with allocations on the node (terminal ones
included, deduplicated by job) plus one per system job. A node turning ``ready`` also
unblocks blocked evaluations (capacity appeared).
"""

from __future__ import annotations

from typing import Any, Optional

import attrs

from .. import fsm as cmds
from .. import structs as s
from ..clock import Timer
from ..core.protocol import Core
from ..state.store import StateReader


@attrs.define(eq=False)
class _PendingEvals:
    node_index: int
    targets: list[tuple[str, str, Optional[s.Job]]]
    timer: Optional[Timer] = None


class NodeWatcher:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._status: dict[str, str] = {}  # last status seen per node (to spot transitions)
        self._pending: dict[str, _PendingEvals] = {}  # node evals to commit, per node

    # --- listener (schedules only) -----------------------------------------------------
    def on_apply(self, command: Any, result: cmds.ApplyResult) -> None:
        if result.error is not None:
            return
        if isinstance(command, cmds.NodeRegister):
            self._status_changed(command.node.ID, command.node.Status)
        elif isinstance(command, cmds.NodeStatusUpdate):
            self._status_changed(command.node_id, command.status)
        elif isinstance(command, cmds.NodeDrainUpdate):
            # v0.7.1 always evaluates on a drain change (system jobs may need it).
            self._schedule_evals(command.node_id)
            if not command.drain:
                self.core.unblock()
        elif isinstance(command, cmds.NodeDeregister):
            self._status.pop(command.node_id, None)

    def _status_changed(self, node_id: str, status: str) -> None:
        old = self._status.get(node_id, s.NODE_STATUS_INIT)
        self._status[node_id] = status
        to_ready = status == s.NODE_STATUS_READY and old != s.NODE_STATUS_READY
        if status == s.NODE_STATUS_DOWN or to_ready:
            self._schedule_evals(node_id)
        if to_ready:
            self.core.unblock()

    def _schedule_evals(self, node_id: str) -> None:
        # Upstream creates these inside the node RPC, so what they cover is decided
        # by the state right after the node write; only the commit waits for a timer.
        state = self.core.snapshot()
        node = state.node_by_id(node_id)
        node_index = node.ModifyIndex if node is not None else 0
        targets = self.targets(state, node_id)
        if not targets:
            return
        pending = self._pending.get(node_id)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            known = {t[1] for t in pending.targets}
            targets = pending.targets + [t for t in targets if t[1] not in known]
        entry = _PendingEvals(node_index, targets)
        entry.timer = self.core.clock.call_later(0, lambda: self.flush(node_id))
        self._pending[node_id] = entry

    @staticmethod
    def targets(state: StateReader, node_id: str) -> list[tuple[str, str, Optional[s.Job]]]:
        """Node.createNodeEvals' job list: every job with an alloc on the node (memdb
        order, terminal allocs included), then every system job not yet covered."""
        targets: list[tuple[str, str, Optional[s.Job]]] = []
        seen: set[str] = set()
        for alloc in state.allocs_by_node(node_id):
            if alloc.JobID in seen:
                continue
            seen.add(alloc.JobID)
            job = alloc.Job
            current = state.job_by_id(alloc.Namespace, alloc.JobID)
            if current is not None and (job is None or job.CreateIndex != current.CreateIndex):
                # Deliberate difference: Nomad types the eval from the alloc's job, which
                # may be a purged earlier incarnation of this ID (its GC would clear those
                # allocs; nothing here does). The live job's type is the one to schedule.
                job = current
                if current.is_periodic() or current.is_parameterized():
                    continue  # parents are never scheduled themselves
            targets.append((alloc.Namespace, alloc.JobID, job))
        for job in sorted(state.jobs(), key=lambda j: (j.Namespace or "", j.ID or "")):
            job_id = job.ID or ""  # stored jobs have IDs and namespaces
            if job.Type != s.JOB_TYPE_SYSTEM or job_id in seen:
                continue
            seen.add(job_id)
            targets.append((job.Namespace or s.DEFAULT_NAMESPACE, job_id, job))
        return targets

    def evaluate_now(self, node_id: str) -> list[str]:
        """Node.createNodeEvals at once: the node's evaluations, written now (those a
        node write just queued included); returns their IDs."""
        if node_id not in self._pending:
            self._schedule_evals(node_id)
        return self.flush(node_id)

    def deregister(self, node_id: str) -> tuple[cmds.ApplyResult, list[str]]:
        """Node.Deregister: the node goes, then the jobs of its allocations (which the
        delete leaves) and every system job are evaluated. Returns the delete's result
        and the evaluations' IDs."""
        targets = self.targets(self.core.snapshot(), node_id)
        result = self.core.apply(cmds.NodeDeregister(node_id))
        if result.error is not None:
            return result, []
        evals = [self._eval(ns, job_id, job, node_id, result.index) for ns, job_id, job in targets
                 if job is None or not (job.is_periodic() or job.is_parameterized())]
        if evals:
            self.core.apply(cmds.EvalUpdate(evals))
        return result, [e.ID or "" for e in evals]

    # --- writes --------------------------------------------------------------------------
    def flush(self, node_id: Optional[str] = None) -> list[str]:
        """Commit the node evaluations now (for one node, or every node waiting);
        returns their IDs."""
        ids = [node_id] if node_id is not None else sorted(self._pending)
        created: list[str] = []
        for nid in ids:
            entry = self._pending.pop(nid, None)
            if entry is None:
                continue
            if entry.timer is not None:
                entry.timer.cancel()
            # The timer can fire after other writes (a virtual clock fires it on the next
            # advance): a job re-registered meanwhile is scheduled as it is now, as it
            # would have been had the evals been written with the node update.
            state = self.core.snapshot()
            evals = []
            for ns, job_id, job in entry.targets:
                current = state.job_by_id(ns, job_id)
                if current is not None:
                    if current.is_periodic() or current.is_parameterized():
                        continue  # parents are never scheduled themselves
                    job = current
                evals.append(self._eval(ns, job_id, job, nid, entry.node_index))
            if not evals:
                continue
            self.core.apply(cmds.EvalUpdate(evals))
            created.extend(e.ID for e in evals)
        return created

    def _eval(self, namespace: str, job_id: str, job: Optional[s.Job], node_id: str,
              node_index: int) -> s.Evaluation:
        return s.Evaluation(ID=self.core.new_id(), Namespace=namespace,
                            Priority=(job.Priority or 0) if job is not None else s.JOB_DEFAULT_PRIORITY,
                            Type=(job.Type or "") if job is not None else s.JOB_TYPE_SERVICE,
                            TriggeredBy=s.TRIGGER_NODE_UPDATE, JobID=job_id, NodeID=node_id,
                            NodeModifyIndex=node_index, Status=s.EVAL_STATUS_PENDING)
