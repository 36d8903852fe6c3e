"""Run one sequence on both sides in lockstep and report where the answers differ.

For each operation: resolve its ``{refs}`` on each side (:mod:`difftest.ops`), send it
to the real agent, then to nomadjobs, and compare the two answers
(:mod:`difftest.compare`). After a write, both sides are *settled* before the next
step: no evaluation pending, no allocation waiting for its client, no deployment
waiting for health, and the watched indexes still for a moment. A failing sequence is
shrunk by removing operations while the first divergence persists.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, Optional

import attrs

from .compare import Normalizer, compare_answers
from .http import NO_ANSWER, Answer
from .ops import Op
from .servers import RecordedSide, Side

MISSING_ID = "ffffffff-ffff-4fff-bfff-ffffffffffff"
REF_RE = re.compile(r"\{([a-z]+)(?::([^{}]*))?\}")
SETTLE_TABLES = ("/v1/evaluations", "/v1/allocations", "/v1/deployments", "/v1/jobs")


@attrs.frozen
class Divergence:
    step: int
    op: Op
    problems: list[str]
    real: Answer
    ours: Answer

    def report(self) -> str:
        lines = [f"step {self.step}: {self.op.describe()}"]
        lines += [f"    {p}" for p in self.problems[:12]]
        if len(self.problems) > 12:
            lines.append(f"    ... {len(self.problems) - 12} more")
        return "\n".join(lines)


@attrs.define
class Result:
    ops: list[Op]
    divergences: list[Divergence] = attrs.Factory(list)
    exchanges: list[dict[str, Any]] = attrs.Factory(list)   # the real side's, for recording
    seconds: float = 0.0
    node: dict[str, Any] = attrs.Factory(dict)              # the real agent's node

    @property
    def ok(self) -> bool:
        return not self.divergences


class Resolver:
    """Resolves ``{refs}`` against one side's current state."""

    def __init__(self, side: Side, token: str) -> None:
        self.side = side
        self.headers = {"X-Nomad-Token": token} if token else {}

    def get(self, path: str) -> Answer:
        return self.side.request("GET", path, headers=self.headers)

    def _json(self, path: str) -> Any:
        ans = self.get(path)
        return ans.json() if ans.status == 200 and ans.is_json() else None

    def ref(self, kind: str, arg: str) -> Any:
        if kind in ("index", "nextindex"):
            job = self._json(f"/v1/job/{arg}") or {}
            return int(job.get("JobModifyIndex", 0)) + (1 if kind == "nextindex" else 0)
        if kind == "version":
            name, _, back = arg.rpartition(":")
            job = self._json(f"/v1/job/{name}") or {}
            return max(0, int(job.get("Version", 0)) - int(back))
        if kind == "deployment":
            dep = self._json(f"/v1/job/{arg}/deployment")
            return dep["ID"] if isinstance(dep, dict) else MISSING_ID
        if kind in ("alloc", "eval"):
            name, _, nth = arg.rpartition(":")
            what = "allocations" if kind == "alloc" else "evaluations"
            items = self._json(f"/v1/job/{name}/{what}") or []
            items.sort(key=lambda x: (x.get("CreateIndex", 0), x.get("Name", ""), x.get("TriggeredBy", "")))
            return items[int(nth)]["ID"] if len(items) > int(nth) else MISSING_ID
        if kind == "child":
            name, _, nth = arg.rpartition(":")
            jobs = [j for j in self._json(f"/v1/jobs?prefix={name}/") or [] if j.get("ParentID") == name]
            jobs.sort(key=lambda j: (j.get("CreateIndex", 0), j["ID"]))
            return jobs[int(nth)]["ID"] if len(jobs) > int(nth) else f"{name}/missing"
        if kind == "node":
            nodes = self._json("/v1/nodes") or []
            return nodes[0]["ID"] if nodes else MISSING_ID
        if kind == "xindex":
            return int(self.get(arg).headers.get("x-nomad-index", "0"))
        raise ValueError(f"unknown reference {{{kind}:{arg}}}")

    def text(self, text: str) -> str:
        return REF_RE.sub(lambda m: str(self.ref(m.group(1), m.group(2) or "")), text)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = REF_RE.fullmatch(value)
            if whole is not None:
                return self.ref(whole.group(1), whole.group(2) or "")
            return self.text(value) if "{" in value else value
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value


def settle(side: Side, token: str, timeout: float = 20.0, quiet: float = 0.35) -> bool:
    """Wait until ``side`` has nothing in flight (see the module docstring). False when
    it did not settle within ``timeout`` (a finding in itself: it is reported)."""
    headers = {"X-Nomad-Token": token} if token else {}
    deadline = time.monotonic() + timeout
    last: Optional[tuple[str, ...]] = None
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        answers = [side.request("GET", path, headers=headers) for path in SETTLE_TABLES]
        marks = tuple(a.headers.get("x-nomad-index", "") for a in answers)
        busy = any(a.status != 200 for a in answers) or _busy(*(a.json() for a in answers[:4]))
        now = time.monotonic()
        if marks != last or busy:
            last, still_since = marks, now
        elif now - still_since >= quiet:
            return True
        time.sleep(0.05)
    return False


def _busy(evals: list[dict[str, Any]], allocs: list[dict[str, Any]], deployments: list[dict[str, Any]],
          jobs: Optional[list[dict[str, Any]]] = None) -> bool:
    if any(e.get("Status") == "pending" for e in evals):
        return True
    # Batch work here is /bin/true: its allocation is running only on its way to
    # complete (a forced GC in between would find it live on one side only).
    batch = {j.get("ID") for j in jobs or () if j.get("Type") == "batch"}
    for a in allocs:
        if a.get("DesiredStatus") == "run" and a.get("ClientStatus") == "pending":
            return True
        if a.get("DesiredStatus") == "run" and a.get("ClientStatus") == "running" and a.get("JobID") in batch:
            return True
        if a.get("DesiredStatus") in ("stop", "evict") and a.get("ClientStatus") in ("pending", "running"):
            return True
    for d in deployments:
        if d.get("Status") != "running":
            continue
        groups = list((d.get("TaskGroups") or {}).values())
        for group in groups:
            placed = group.get("PlacedAllocs", 0)
            decided = group.get("HealthyAllocs", 0) + group.get("UnhealthyAllocs", 0)
            canaries = group.get("DesiredCanaries", 0) and not group.get("Promoted")
            if decided < placed or (not canaries and placed < group.get("DesiredTotal", 0)):
                return True
        # A health report newer than every evaluation of the job: the watcher's
        # evaluation for it is due (after its 1 s per-job batch), even when the
        # deployment then waits for a promotion.
        job = d.get("JobID")
        evaluated = max((e.get("SnapshotIndex") or e.get("CreateIndex", 0) for e in evals if e.get("JobID") == job),
                        default=0)
        if any(a.get("JobID") == job and (a.get("DeploymentStatus") or {}).get("ModifyIndex", 0) > evaluated
               for a in allocs):
            return True
        # Every group healthy and nothing to promote: the watcher is about to mark it
        # successful (after its 1 s per-job batch and the 250 ms eval batch).
        if all(g.get("HealthyAllocs", 0) >= g.get("DesiredTotal", 0)
               and not (g.get("DesiredCanaries", 0) and not g.get("Promoted")) for g in groups):
            return True
    return False


def _encode(op: Op, body: Any) -> Optional[bytes]:
    if op.raw is not None:
        return op.raw.encode("utf-8", "surrogatepass")
    if body is None:
        return None
    return json.dumps(body).encode()


def run_sequence(ops: list[Op], real: Side, ours: Side, *, stop_at_first: bool = True,
                 log: Callable[[str], None] = lambda _: None) -> Result:
    """Run ``ops`` on both sides (each fresh) and collect the divergences."""
    started = time.monotonic()
    result = Result(list(ops))
    norms = (Normalizer(go_field_paths=getattr(real, "go_field_paths", False)),
             Normalizer(go_field_paths=getattr(ours, "go_field_paths", False)))
    for step, op in enumerate(ops):
        answers: list[Answer] = []
        for side in (real, ours):
            secret = side.secret(op.token) if op.token != "anonymous" else ""
            admin = side.secret("management")
            if isinstance(side, RecordedSide):
                answers.append(side.request(op.method, op.path))
                continue
            resolver = Resolver(side, admin)
            path = resolver.text(op.path)
            body = resolver.value(op.body)
            headers = {"X-Nomad-Token": secret} if secret else {}
            if op.raw is not None or body is not None:
                headers["Content-Type"] = "application/json"
            try:
                answer = side.request(op.method, path, _encode(op, body), headers)
            except OSError as exc:
                # The side is gone (the reference can crash or run out of memory).
                problems = [f"{side.name} stopped answering: {exc}"]
                result.divergences.append(Divergence(step, op, problems, Answer(NO_ANSWER, {}, b""),
                                                     Answer(NO_ANSWER, {}, b"")))
                log(result.divergences[-1].report())
                result.seconds = time.monotonic() - started
                return result
            answers.append(answer)
            if side is real:
                result.exchanges.append({"op": op.to_dict(), "path": path, "body": body,
                                         "answer": answer.to_dict()})
            # Any request that was accepted may have written (a probe of another
            # method on a write endpoint, e.g. POST .../periodic/force, is a write).
            wrote = op.write or (op.method not in ("GET", "HEAD") and answer.status == 200)
            if wrote and not settle(side, admin):
                log(f"step {step}: {side.name} did not settle")
        problems = compare_answers(answers[0], answers[1], *norms)
        if problems:
            result.divergences.append(Divergence(step, op, problems, answers[0], answers[1]))
            log(result.divergences[-1].report())
            if stop_at_first:
                break
    result.seconds = time.monotonic() - started
    return result


def shrink(ops: list[Op], fails: Callable[[list[Op]], Optional[Divergence]], budget: int = 40,
           log: Callable[[str], None] = lambda _: None) -> list[Op]:
    """A smaller sequence that still diverges (greedy: drop chunks, then single steps,
    keeping any removal after which ``fails`` still reports a divergence)."""
    current = list(ops)
    tries = 0
    chunk = max(1, len(current) // 2)
    while chunk >= 1 and tries < budget:
        i = 0
        changed = False
        while i < len(current) and tries < budget:
            candidate = current[:i] + current[i + chunk:]
            if not candidate:
                i += chunk
                continue
            tries += 1
            if fails(candidate) is not None:
                log(f"shrunk to {len(candidate)} steps")
                current = candidate
                changed = True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return current


def replay(transcript: dict[str, Any], log: Callable[[str], None] = lambda _: None) -> Result:
    """Run a recorded sequence against a fresh nomadjobs server, comparing with the real
    agent's recorded answers (no binary needed)."""
    from .servers import OursServer

    minor = int(str(transcript.get("go", "go1.9")).split(".")[1])
    real = RecordedSide(transcript["exchanges"], go_field_paths=minor > 9)
    ours = OursServer(transcript["node"], acl=bool(transcript.get("acl")))
    try:
        return run_sequence([Op.from_dict(op) for op in transcript["ops"]], real, ours, log=log)
    finally:
        ours.close()
