"""What "the same answer" means between a real agent and nomadjobs.

Each side's answers go through its own :class:`Normalizer`, which keeps state for the
whole sequence:

- every UUID becomes ``<id:N>``, N counting the side's distinct UUIDs in order of first
  appearance, so "the same ID as before" is still checked, while the random values are
  not; child jobs (``parent/dispatch-<time>-<hex>``, ``parent/periodic-<time>``) become
  ``parent/<child:N>`` the same way;
- times (``SubmitTime``, event ``Time``, ``StartedAt``...) become ``<time>`` unless they
  are Go's zero value, which stays; dynamic port numbers become ``<port>``; the agent's
  address becomes ``<addr>``; computed node classes become ``<class>``;
- indexes (``X-Nomad-Index`` and every ``*Index`` field) become ``<index>``, and their
  relations inside one answer (which are equal, which is larger, which are zero) are
  compared instead, except an allocation's ``ModifyIndex`` and its health report's (they
  depend on which of its client's 200 ms sync batches a report fell into) and the
  ``ModifyIndex`` of evaluations that race the blocked-eval reaper (:func:`reaper_raced`);
  a number quoted after "index" in an error text is masked the same way;
- lists of objects with an ``ID`` (or an ACL token's ``AccessorID``) and a
  ``CreateIndex`` are put in creation order first (Nomad lists them in the order of
  their random IDs);
- an allocation of a job with more than one task group has its ``Metrics`` masked
  (:func:`placed_in_group_order`);
- in a list of evaluations, a run of ``deployment-watcher`` evaluations of one deployment
  with no other evaluation of its job between them counts as one (see
  :func:`collapse_watcher_runs`). How many evaluations
  such a run has is not fixed by the operations: Nomad's deployment watcher re-checks
  on every change to the deployment's allocations (real clients report when they
  report), against the index of the job's evaluation whose random ID sorts first
  (``latestEvalIndex`` takes ``evals[0]``); nomadjobs models the same rule (see
  ``nomadjobs/lifecycle/deployments.py``) with IDs of its own.

An empty 200 answer's content type is not compared (Go sends none, nomadjobs a JSON
one). Two answers match when the status, the content type, ``X-Nomad-KnownLeader``, the
presence of ``X-Nomad-Index``, the normalised body and the index relations all agree.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from .http import NO_ANSWER, Answer

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHILD_RE = re.compile(r"/(?:dispatch-\d+-[0-9a-f]{8}|periodic-\d+)")
ADDR_RE = re.compile(r"127\.0\.0\.1:\d+")
# Where each side keeps allocation directories (a temporary data dir, a fixed path).
ALLOC_DIR_RE = re.compile(r"(?:/[\w.+-]+)+/alloc/(?=[0-9a-f]{8}-)")
CLASS_RE = re.compile(r"\bv1:\d+\b")
INDEX_TEXT_RE = re.compile(r"(?i)(index:? )(\d+)")
# Go 1.9 (Nomad 0.7.1's release toolchain) names the innermost struct and the field in
# encoding/json's type errors; later Go versions print the whole field path after it.
GO_FIELD_PATH_RE = re.compile(r"Go struct field (\w+)\.(?:\w+\.)*(\w+) of type")
TIME_KEYS = frozenset({"SubmitTime", "CreateTime", "ModifyTime", "Time", "StartedAt", "FinishedAt", "LastRestart",
                       "StatusUpdatedAt", "NextPeriodicLaunch", "AllocationTime", "LastContact", "Launch",
                       "LaunchTime", "ModTime"})
ZERO_TIMES = frozenset({0, "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"})
COMPARED_HEADERS = ("content-type", "x-nomad-knownleader")


def is_index_key(key: str) -> bool:
    return key == "Index" or key.endswith("Index")


def _creation_key(item: dict[str, Any]) -> tuple[Any, ...]:
    # Objects created by one entry are told apart by what they are, not by when their
    # clients happened to report (ModifyIndex comes last: real clients batch by time).
    return (item.get("CreateIndex", 0), str(item.get("JobID", "")), str(item.get("Name", "")),
            str(item.get("TaskGroup", "")), str(item.get("TriggeredBy", "")), str(item.get("Status", "")),
            item.get("ModifyIndex", 0))


def placed_in_group_order(alloc: dict[str, Any]) -> bool:
    """An allocation of a job with several task groups: Nomad's reconciler walks the
    groups in Go map order (random; v0.7.1 ``scheduler/reconcile.go``, ``Compute``), so
    which group's allocations a plan places first, and so each one's scores (bin-packing,
    job anti-affinity) and exhaustion counts, vary from run to run."""
    job = alloc.get("Job")
    return isinstance(job, dict) and len(job.get("TaskGroups") or ()) > 1


def reaper_raced(value: dict[str, Any]) -> bool:
    """An evaluation whose ModifyIndex races Nomad's duplicate-blocked-eval reaper: the
    evaluation that made a blocked one (complete, with a ``BlockedEval``) and a blocked
    evaluation the reaper cancelled. The reaper cancels from its own goroutine, so the
    worker's update of the first and the reaper's of the second land in either order
    (one real agent shows both orders in one sequence); nomadjobs fixes one."""
    if "TriggeredBy" not in value:
        return False
    if value.get("Status") == "complete" and value.get("BlockedEval"):
        return True
    return value.get("Status") == "canceled" and str(value.get("StatusDescription", "")).startswith(
        "existing blocked evaluation exists for job")


def collapse_watcher_runs(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluations in creation order, each run of ``deployment-watcher`` evaluations of
    one deployment (no other evaluation of the job between them) read as one: the first
    (the one that acted: its ID is the one allocations name), finished when the last
    finished (its ``ModifyIndex``, which ``X-Nomad-Index`` may equal)."""
    out: list[dict[str, Any]] = []
    last_of_job: dict[Any, int] = {}  # job -> position in out of its latest evaluation
    for ev in evals:
        job = (ev.get("Namespace"), ev.get("JobID"))
        at = last_of_job.get(job)
        if (at is not None and ev.get("TriggeredBy") == "deployment-watcher"
                and out[at].get("TriggeredBy") == "deployment-watcher"
                and out[at].get("DeploymentID") == ev.get("DeploymentID")):
            out[at] = {**out[at], "ModifyIndex": ev.get("ModifyIndex")}
            continue
        last_of_job[job] = len(out)
        out.append(ev)
    return out


class Normalizer:
    """One side's normalisation state for one sequence (see the module docstring)."""

    def __init__(self, go_field_paths: bool = False) -> None:
        self.ids: dict[str, str] = {}
        self.children: dict[str, str] = {}
        #: The answers come from a build of a later Go than 1.9 (see GO_FIELD_PATH_RE).
        self.go_field_paths = go_field_paths

    def _id(self, match: re.Match[str]) -> str:
        value = match.group(0)
        if value not in self.ids:
            self.ids[value] = f"<id:{len(self.ids) + 1}>"
        return self.ids[value]

    def _child(self, match: re.Match[str]) -> str:
        value = match.group(0)
        if value not in self.children:
            self.children[value] = f"/<child:{len(self.children) + 1}>"
        return self.children[value]

    def text(self, value: str) -> str:
        value = ALLOC_DIR_RE.sub("<alloc-dir>/", value)
        value = UUID_RE.sub(self._id, value)
        value = CHILD_RE.sub(self._child, value)
        value = ADDR_RE.sub("<addr>", value)
        return CLASS_RE.sub("<class>", value)

    def error_text(self, value: str) -> str:
        if self.go_field_paths:
            value = GO_FIELD_PATH_RE.sub(r"Go struct field \1.\2 of type", value)
        return INDEX_TEXT_RE.sub(lambda m: m.group(1) + "<n>", self.text(value))

    def value(self, value: Any, key: str = "", indexes: Optional[list[int]] = None) -> Any:
        """``value`` normalised; index values found are appended to ``indexes``."""
        if indexes is None:
            indexes = []
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            # An allocation's ModifyIndex comes from its client's report, and which of
            # the client's 200 ms sync batches a report falls into depends on when its
            # task started: relations to it are timing, not behaviour.
            # Its DeploymentStatus.ModifyIndex (the health report) likewise.
            client_reported = ("ClientStatus" in value and "TaskGroup" in value) or (
                key == "DeploymentStatus" and "Healthy" in value)
            for k, v in value.items():
                if k == "Metrics" and client_reported and placed_in_group_order(value):
                    out[k] = "<placement metrics: group order>"
                    continue
                if (client_reported or reaper_raced(value)) and k == "ModifyIndex" and isinstance(v, int) and v > 0:
                    out[k] = "<index>"
                    continue
                out[self.text(k)] = self.value(v, k, indexes)
            return out
        if isinstance(value, list):
            items = value
            if items and all(isinstance(x, dict) and "CreateIndex" in x and isinstance(x.get("ID"), str)
                             for x in items):
                items = sorted(items, key=_creation_key)
                if all("TriggeredBy" in x for x in items):
                    items = collapse_watcher_runs(items)
            elif items and all(isinstance(x, dict) and "CreateIndex" in x and isinstance(x.get("AccessorID"), str)
                               for x in items):
                # ACL tokens: listed by their random AccessorID.
                items = sorted(items, key=lambda x: (x.get("CreateIndex", 0), str(x.get("Name", ""))))
            if key == "DynamicPorts":
                return [{**self.value(p, "", indexes), "Value": "<port>"} if isinstance(p, dict) else p
                        for p in items]
            return [self.value(x, key, indexes) for x in items]
        if isinstance(value, bool) or value is None:
            return value
        if key in TIME_KEYS:
            return value if value in ZERO_TIMES else "<time>"
        if is_index_key(key) and isinstance(value, int):
            indexes.append(value)
            return "<index>"
        if isinstance(value, str):
            return self.text(value)
        return value

    def answer(self, answer: Answer) -> tuple[dict[str, Any], list[int]]:
        """(normalised answer, index values in traversal order, X-Nomad-Index first)."""
        indexes: list[int] = []
        if "x-nomad-index" in answer.headers:
            indexes.append(int(answer.headers["x-nomad-index"]))
        headers: dict[str, Any] = {h: answer.headers.get(h) for h in COMPARED_HEADERS}
        headers["x-nomad-index"] = "x-nomad-index" in answer.headers
        text = answer.body.decode("utf-8", "replace")
        body: Any
        if not answer.body and answer.status == 200:
            # An empty answer: Go sends no Content-Type, nomadjobs a JSON one (a listed
            # difference, docs/differences.md: a WSGI app must name one).
            headers["content-type"] = None
            body = ""
        elif answer.is_json():
            try:
                body = self.value(json.loads(text), "", indexes)
            except ValueError:
                body = {"<invalid json>": self.error_text(text)}
        else:
            body = self.error_text(text)
        return {"status": answer.status, "headers": headers, "body": body}, indexes


def index_relations(indexes: list[int]) -> list[tuple[int, int, str]]:
    """Every pair's relation (``=``, ``<``, ``>``) and each value's zero-ness."""
    out = [(i, i, "0" if v == 0 else "+") for i, v in enumerate(indexes)]
    for i, a in enumerate(indexes):
        for j in range(i + 1, len(indexes)):
            b = indexes[j]
            out.append((i, j, "=" if a == b else "<" if a < b else ">"))
    return out


def diff(real: Any, ours: Any, path: str = "") -> list[str]:
    """Readable differences between two normalised values."""
    if isinstance(real, dict) and isinstance(ours, dict):
        out: list[str] = []
        for k in real.keys() - ours.keys():
            out.append(f"{path}.{k}: only in nomad ({_short(real[k])})")
        for k in ours.keys() - real.keys():
            out.append(f"{path}.{k}: only in nomadjobs ({_short(ours[k])})")
        for k in real.keys() & ours.keys():
            out += diff(real[k], ours[k], f"{path}.{k}")
        return sorted(out)
    if isinstance(real, list) and isinstance(ours, list):
        if len(real) != len(ours):
            return [f"{path}: {len(real)} items in nomad, {len(ours)} in nomadjobs: {_short(real)} vs {_short(ours)}"]
        out = []
        for i, (r, o) in enumerate(zip(real, ours)):
            out += diff(r, o, f"{path}[{i}]")
        return out
    if type(real) is not type(ours) or real != ours:
        return [f"{path}: nomad {_short(real)} != nomadjobs {_short(ours)}"]
    return []


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def compare_answers(real: Answer, ours: Answer, real_norm: Normalizer, ours_norm: Normalizer) -> list[str]:
    """The differences between two answers to the same request (empty: they match)."""
    if real.status == NO_ANSWER and ours.status >= 400:
        # Deliberate (docs/differences.md): where a request crashes Nomad's handler
        # (a null element in a list of structs), nomadjobs refuses it with an error.
        return []
    r, r_idx = real_norm.answer(real)
    o, o_idx = ours_norm.answer(ours)
    problems = diff(r, o)
    if not problems and r_idx and len(r_idx) == len(o_idx):
        rel_r, rel_o = index_relations(r_idx), index_relations(o_idx)
        bad = [(a, b, x, y) for (a, b, x), (_, _, y) in zip(rel_r, rel_o) if x != y]
        for a, b, x, y in bad[:5]:
            what = "zero-ness" if a == b else "relation"
            problems.append(f"index {what} #{a}/#{b}: nomad {x} ({r_idx[a]},{r_idx[b]}) "
                            f"nomadjobs {y} ({o_idx[a]},{o_idx[b]})")
    return problems
