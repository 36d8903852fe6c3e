"""Seeded sequences of operations over the endpoints nomadjobs serves.

An :class:`Op` is one HTTP request. Its path and body may name things that only exist
at run time and differ between the sides, written ``{kind:args}`` and resolved on each
side just before sending (see :mod:`difftest.runner`):

- ``{index:JOB}``: the job's JobModifyIndex (0 when missing); ``{nextindex:JOB}`` one more;
- ``{version:JOB:K}``: the job's current version minus K (at least 0);
- ``{deployment:JOB}``: its latest deployment's ID; ``{alloc:JOB:N}``, ``{eval:JOB:N}``:
  its N-th allocation or evaluation in creation order; ``{child:JOB:N}``: its N-th child
  job; ``{node}``: the node; ``{xindex:PATH}``: the X-Nomad-Index ``GET PATH`` answers.
  A name that does not resolve becomes an ID that exists nowhere.

Jobs run real processes on the reference agent, so tasks are ``raw_exec`` commands
(``/bin/sleep 600`` for long-running tasks, ``/bin/true`` for batch work), and a
``docker`` job is the one that stays blocked ("missing drivers") on both sides.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any, Optional

import attrs

# Job names and what kind of job each one always is (so updates stay meaningful).
JOB_KINDS = {
    "web": "service", "api": "service", "batch": "batch", "sys": "system", "cron": "periodic",
    "param": "parameterized", "dock": "docker",
}


@attrs.frozen
class Op:
    kind: str
    method: str
    path: str
    body: Any = None              # JSON-able; strings of the form {ref} are resolved
    raw: Optional[str] = None     # a body sent as is (hostile input)
    token: str = "management"     # the ACL role whose token goes in X-Nomad-Token
    write: bool = False           # settle both sides after it

    def describe(self) -> str:
        text = f"{self.method} {self.path}"
        if self.raw is not None:
            text += f"  raw={self.raw[:120]!r}"
        elif self.body is not None:
            body = json.dumps(self.body, sort_keys=True)
            text += f"  {body[:300]}{'...' if len(body) > 300 else ''}"
        if self.token != "management":
            text += f"  [token: {self.token}]"
        return f"{self.kind}: {text}"

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Op":
        return cls(**data)


# --- job specs -----------------------------------------------------------------------------

def _task(rng: random.Random, name: str, driver: str, command: str, args: list[str]) -> dict[str, Any]:
    task: dict[str, Any] = {
        "Name": name, "Driver": driver,
        "Config": {"command": command, "args": args} if driver == "raw_exec" else
                  {"image": "redis:3.2", "port_map": [{"db": 6379}]},
        "Resources": {"CPU": rng.choice([20, 50, 100, 250]), "MemoryMB": rng.choice([16, 32, 64, 128])},
    }
    if rng.random() < 0.3:
        task["Env"] = {"MODE": rng.choice(["a", "b"]), "LEVEL": str(rng.randint(1, 3))}
    if rng.random() < 0.2:
        task["Resources"]["Networks"] = [{"MBits": 1, "DynamicPorts": [{"Label": "http"}]}]
    if rng.random() < 0.2:
        task["Meta"] = {"owner": rng.choice(["x", "y"])}
    if rng.random() < 0.15:
        task["KillTimeout"] = rng.choice([1, 3]) * 10**9
    return task


def _update(rng: random.Random) -> dict[str, Any]:
    return {"MaxParallel": rng.choice([1, 2]), "HealthCheck": "task_states", "MinHealthyTime": 10**9,
            "HealthyDeadline": 60 * 10**9, "AutoRevert": rng.random() < 0.3,
            "Canary": rng.choice([0, 0, 1]), "Stagger": 10**9}


def make_job(rng: random.Random, job_id: str) -> dict[str, Any]:
    """A valid API job of the kind ``JOB_KINDS[job_id]``, with random details."""
    kind = JOB_KINDS[job_id]
    job: dict[str, Any] = {"ID": job_id, "Name": job_id, "Datacenters": ["dc1"]}
    sleep = ("/bin/sleep", ["600"])
    if kind in ("service", "docker"):
        job["Type"] = "service"
        groups = rng.choice([1, 1, 2])
        job["TaskGroups"] = []
        for g in range(groups):
            driver = "docker" if kind == "docker" else "raw_exec"
            tg: dict[str, Any] = {"Name": f"g{g}", "Count": rng.choice([0, 1, 1, 2, 3]),
                                  "Tasks": [_task(rng, "t", driver, *sleep)]}
            if rng.random() < 0.3:
                tg["Meta"] = {"group": str(g)}
            job["TaskGroups"].append(tg)
        if rng.random() < 0.5 and kind == "service":
            job["Update"] = _update(rng)
    elif kind == "system":
        job["Type"] = "system"
        job["TaskGroups"] = [{"Name": "g0", "Tasks": [_task(rng, "t", "raw_exec", *sleep)]}]
    else:
        job["Type"] = "batch"
        job["TaskGroups"] = [{"Name": "g0", "Count": rng.choice([1, 2]),
                              "Tasks": [_task(rng, "t", "raw_exec", "/bin/true", [])]}]
        if kind == "periodic":
            job["Periodic"] = {"Enabled": True, "SpecType": "cron", "Spec": "0 0 1 1 *",
                               "ProhibitOverlap": rng.random() < 0.5}
        if kind == "parameterized":
            job["ParameterizedJob"] = {"Payload": rng.choice(["optional", "required", "forbidden"]),
                                       "MetaRequired": rng.choice([None, ["color"]]),
                                       "MetaOptional": ["size"]}
    if rng.random() < 0.3:
        job["Meta"] = {"team": rng.choice(["red", "blue"])}
    if rng.random() < 0.2:
        job["Priority"] = rng.choice([30, 50, 70])
    if rng.random() < 0.1:
        job["Constraints"] = [{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}]
    return job


# --- hostile input ------------------------------------------------------------------------------

MALFORMED = ["{", '{"Job": ', "[]", "null", "", "not json", '{"Job": {}} trailing', '{"Job": {"ID": "x",}}',
             '{"Job": {"ID": "x"}, "Job": 5}', "\x00", '{"Job": {"ID": "\\ud800"}}', '{"Job": [1, 2]}']
WRONG_VALUES: list[Any] = ["str", 1, -1, 1.5, True, None, [], {}, [None], {"a": 1}, 2**31, 2**63, 2**64, -2**63 - 1,
                           1e300, "1"]
FIELDS: list[list[Any]] = [["ID"], ["Priority"], ["Type"], ["Datacenters"], ["Datacenters", 0], ["Meta"], ["TaskGroups"],
          ["TaskGroups", 0, "Count"], ["TaskGroups", 0, "Name"], ["TaskGroups", 0, "Tasks"],
          ["TaskGroups", 0, "Tasks", 0, "Driver"], ["TaskGroups", 0, "Tasks", 0, "Config"],
          ["TaskGroups", 0, "Tasks", 0, "Resources", "CPU"], ["TaskGroups", 0, "Tasks", 0, "Resources"],
          ["TaskGroups", 0, "Tasks", 0, "Env"], ["TaskGroups", 0, "Tasks", 0, "KillTimeout"],
          ["Update"], ["Periodic"], ["AllAtOnce"], ["Constraints"], ["Region"], ["Namespace"]]
QUERIES = ["index=abc", "index=-1", "wait=abc", "wait=5", "index=1&wait=1ms", "prefix=%zz", "stale=maybe",
           "pretty=x", "region=nowhere", "namespace=other", "diffs=maybe", "purge=maybe", "index=99999999999999999999",
           "index=%C2%B2", "index=" + "9" * 5000, "index=+1", "index=0x10", "wait=" + "9" * 400 + "s",
           "wait=9223372036854775808ns", "wait=1%C2%B5s", "wait=1.5", "wait=.s", "wait=1e3s"]
METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def _set(job: dict[str, Any], path: list[Any], value: Any) -> None:
    node: Any = job
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def hostile(rng: random.Random) -> Op:
    roll = rng.random()
    if roll < 0.2:
        return Op("malformed-json", "PUT", "/v1/jobs", raw=rng.choice(MALFORMED))
    if roll < 0.55:
        job = make_job(rng, rng.choice(["web", "batch"]))
        field = rng.choice(FIELDS)
        value = copy.deepcopy(rng.choice(WRONG_VALUES))
        if field[-1] == "Count" and isinstance(value, int) and 1000 <= value < 2**63:
            # A count Go accepts but no machine can hold: the real agent runs out of
            # memory planning it (as nomadjobs would, see issue 17): not a comparison.
            value = 2**64
        try:
            _set(job, field, value)
        except (KeyError, IndexError, TypeError):
            pass
        return Op("wrong-type", "PUT", "/v1/jobs", body={"Job": job}, write=True)
    if roll < 0.6:
        # A namespace that does not exist: register refuses it; plan ignores it.
        job = make_job(rng, rng.choice(["web", "batch"]))
        job["Namespace"] = "nope"
        if rng.random() < 0.5:
            return Op("namespace", "PUT", "/v1/jobs", body={"Job": job}, write=True)
        return Op("namespace", "PUT", f"/v1/job/{job['ID']}/plan", body={"Job": job, "Diff": rng.random() < 0.5})
    if roll < 0.65:
        job = make_job(rng, "web")
        job[rng.choice(["Bogus", "id", "taskgroups", "JOB"])] = rng.choice(WRONG_VALUES)
        return Op("unknown-field", "PUT", "/v1/jobs", body={"Job": job}, write=True)
    if roll < 0.8:
        path = rng.choice(["/v1/jobs", "/v1/job/web", "/v1/job/web/versions", "/v1/job/web/allocations",
                           "/v1/job/web/evaluate", "/v1/job/web/plan", "/v1/job/web/summary", "/v1/job/web/stable",
                           "/v1/job/web/revert", "/v1/job/param/dispatch", "/v1/job/cron/periodic/force",
                           "/v1/evaluations", "/v1/deployments", "/v1/job/web/deployments"])
        return Op("method", rng.choice(METHODS), path)
    path = rng.choice(["/v1/jobs", "/v1/job/web", "/v1/job/web/versions", "/v1/job/web/allocations",
                       "/v1/evaluations", "/v1/allocations", "/v1/deployments", "/v1/job/web/summary"])
    method = "DELETE" if rng.random() < 0.1 and path == "/v1/job/web" else "GET"
    return Op("bad-query", method, f"{path}?{rng.choice(QUERIES)}", write=method == "DELETE")


# --- the sequence generator -----------------------------------------------------------------------

def _reads(rng: random.Random, job: str) -> Op:
    choice = rng.choice(["job", "versions", "allocations", "evaluations", "deployments", "deployment",
                         "summary", "list", "list-prefix", "evals", "allocs", "deps", "eval", "alloc",
                         "alloc-list-prefix"])
    paths = {
        "job": f"/v1/job/{job}", "versions": f"/v1/job/{job}/versions?diffs={rng.choice(['true', 'false'])}",
        "allocations": f"/v1/job/{job}/allocations?all={rng.choice(['true', 'false'])}",
        "evaluations": f"/v1/job/{job}/evaluations", "deployments": f"/v1/job/{job}/deployments",
        "deployment": f"/v1/job/{job}/deployment", "summary": f"/v1/job/{job}/summary", "list": "/v1/jobs",
        "list-prefix": f"/v1/jobs?prefix={job[:rng.randint(0, len(job))]}", "evals": "/v1/evaluations",
        "allocs": "/v1/allocations", "deps": "/v1/deployments", "eval": f"/v1/evaluation/{{eval:{job}:0}}",
        "alloc": f"/v1/allocation/{{alloc:{job}:0}}", "alloc-list-prefix": f"/v1/allocations?prefix={{alloc:{job}:0}}",
    }
    return Op(f"read-{choice}", "GET", paths[choice])


def _write(rng: random.Random, job: str) -> Op:
    kind = JOB_KINDS[job]
    roll = rng.random()
    if roll < 0.35:
        body: dict[str, Any] = {"Job": make_job(rng, job)}
        enforce = rng.random()
        if enforce < 0.15:
            body.update(EnforceIndex=True, JobModifyIndex=f"{{index:{job}}}")
        elif enforce < 0.22:
            body.update(EnforceIndex=True, JobModifyIndex=rng.choice([0, f"{{nextindex:{job}}}"]))
        return Op("register", "PUT", rng.choice(["/v1/jobs", f"/v1/job/{job}"]), body=body, write=True)
    if roll < 0.45:
        return Op("plan", "PUT", f"/v1/job/{job}/plan",
                  body={"Job": make_job(rng, job), "Diff": rng.random() < 0.7}, write=False)
    if roll < 0.52:
        body = {"JobID": job, "JobVersion": f"{{version:{job}:{rng.choice([0, 1, 2])}}}"}
        if rng.random() < 0.3:
            body["EnforcePriorVersion"] = f"{{version:{job}:{rng.choice([0, 1])}}}"
        return Op("revert", "PUT", f"/v1/job/{job}/revert", body=body, write=True)
    if roll < 0.58:
        return Op("stable", "PUT", f"/v1/job/{job}/stable",
                  body={"JobID": job, "JobVersion": f"{{version:{job}:{rng.choice([0, 1])}}}",
                        "Stable": rng.random() < 0.7}, write=True)
    if roll < 0.64:
        return Op("evaluate", "PUT", f"/v1/job/{job}/evaluate", write=True)
    if roll < 0.72 and kind == "parameterized":
        body = {"Meta": rng.choice([{}, {"color": "red"}, {"size": "l", "color": "b"}, {"bogus": "1"}])}
        if rng.random() < 0.5:
            body["Payload"] = rng.choice(["aGVsbG8=", ""])
        return Op("dispatch", "PUT", f"/v1/job/{job}/dispatch", body=body, write=True)
    if roll < 0.72 and kind == "periodic":
        return Op("periodic-force", "PUT", f"/v1/job/{job}/periodic/force", write=True)
    if roll < 0.8:
        purge = rng.random() < 0.3
        return Op("purge" if purge else "stop", "DELETE", f"/v1/job/{job}{'?purge=true' if purge else ''}",
                  write=True)
    if roll < 0.92:
        dep = f"{{deployment:{job}}}"
        action = rng.choice(["promote", "pause", "resume", "fail", "health"])
        if action == "promote":
            return Op("deployment-promote", "PUT", f"/v1/deployment/promote/{dep}",
                      body={"DeploymentID": dep, "All": True}, write=True)
        if action in ("pause", "resume"):
            return Op(f"deployment-{action}", "PUT", f"/v1/deployment/pause/{dep}",
                      body={"DeploymentID": dep, "Pause": action == "pause"}, write=True)
        if action == "fail":
            return Op("deployment-fail", "PUT", f"/v1/deployment/fail/{dep}", write=True)
        return Op("deployment-health", "PUT", f"/v1/deployment/allocation-health/{dep}",
                  body={"DeploymentID": dep, "HealthyAllocationIDs": [f"{{alloc:{job}:0}}"]}, write=True)
    return Op("blocking-read", "GET", f"/v1/job/{job}?index={{xindex:/v1/job/{job}}}&wait=50ms")


# --- ACLs and the collector -------------------------------------------------------------------

ACL_NAMES = ("ops", "ro", "x.y")
ACL_RULES = [
    'namespace "default" { policy = "read" }',
    'namespace "default" {\n  policy = "write"\n  capabilities = ["sentinel-override"]\n}\nnode { policy = "read" }',
    'agent { policy = "read" }\nnode { policy = "write" }',
    "",
    'namespace "default" { policy = "bogus" }',
    'namespace "default" { capabilities = ["list-jobs", "fly"] }',
    'agent { policy = "admin" }',
    'foo = "bar"',
    '{"namespace": {"default": {"policy": "read"}}}',
]


def acl_op(rng: random.Random) -> Op:
    """The ACL endpoints: with ACLs off every one answers "ACL support disabled"."""
    name = rng.choice(ACL_NAMES)
    roll = rng.random()
    if roll < 0.3:
        body = {"Name": name if rng.random() < 0.9 else "other", "Description": rng.choice(["", "d" * 300]),
                "Rules": rng.choice(ACL_RULES)}
        return Op("acl-policy-write", rng.choice(["PUT", "POST"]), f"/v1/acl/policy/{name}", body=body, write=True)
    if roll < 0.4:
        return Op("acl-policy-read", "GET", f"/v1/acl/policy/{name}")
    if roll < 0.5:
        return Op("acl-policy-list", "GET", rng.choice(["/v1/acl/policies", "/v1/acl/policies?prefix=o"]))
    if roll < 0.57:
        return Op("acl-policy-delete", "DELETE", f"/v1/acl/policy/{name}", write=True)
    if roll < 0.75:
        token_bodies: list[dict[str, Any]] = [
            {"Name": "ci", "Type": "client", "Policies": [name]},
            {"Name": "ci", "Type": "client", "Policies": ["ops", "ro"]},
            {"Name": "admin", "Type": "management"},
            {"Type": "client"}, {"Type": "management", "Policies": ["ro"]},
            {"Name": "n" * 70, "Type": "bogus"}]
        return Op("acl-token-create", "POST", "/v1/acl/token", body=rng.choice(token_bodies), write=True)
    if roll < 0.82:
        return Op("acl-token-list", "GET", "/v1/acl/tokens")
    if roll < 0.92:
        return Op("acl-token-self", "GET", "/v1/acl/token/self")
    return Op("acl-bootstrap", "PUT", "/v1/acl/bootstrap", write=True)


def system_op(rng: random.Random) -> Op:
    if rng.random() < 0.8:
        return Op("system-gc", "PUT", "/v1/system/gc", write=True)
    return Op("reconcile-summaries", "PUT", "/v1/system/reconcile/summaries", write=True)


def client_op(rng: random.Random, job: str) -> Op:
    """The client agent's and the agent's endpoints, where both sides must agree: the
    allocation directory's fixed layout, the error paths, health and addresses (a
    simulated task's output and usage are not the real process's)."""
    alloc = f"{{alloc:{job}:0}}"
    paths = {
        "client-ls-alloc": f"/v1/client/fs/ls/{alloc}?path=alloc",
        "client-stat": f"/v1/client/fs/stat/{alloc}?path={rng.choice(['alloc/data', 'alloc/tmp', 'nope'])}",
        "client-cat-dir": f"/v1/client/fs/cat/{alloc}?path=alloc/logs",
        "client-readat-dir": f"/v1/client/fs/readat/{alloc}?path=alloc/data&offset=0",
        "client-readat-escape": f"/v1/client/fs/readat/{alloc}?path=../../x&offset=0",
        "client-stream-dir": f"/v1/client/fs/stream/{alloc}?path=alloc",
        "client-stream-bad": f"/v1/client/fs/stream/{alloc}?path=x&origin={rng.choice(['mid', 'start&offset=z'])}",
        "client-logs-task": f"/v1/client/fs/logs/{alloc}?task=nope&type=stdout",
        "client-logs-bad": f"/v1/client/fs/logs/{alloc}?task=x&type=" + rng.choice(["", "both", "stdout&follow=maybe"]),
        "client-alloc-stats-task": f"/v1/client/allocation/{alloc}/stats?task=nope",
        "client-alloc-action": f"/v1/client/allocation/{alloc}/{rng.choice(['bogus', 'stats/extra'])}",
        "agent-health": "/v1/agent/health",
        "agent-servers": "/v1/agent/servers",
        "status-peers": "/v1/status/peers",
        "agent-keyring": "/v1/agent/keyring/list",
    }
    kind = rng.choice(sorted(paths))
    return Op(kind, "GET", paths[kind])


def generate(seed: int, steps: int, acl: bool = False, hostile_share: float = 0.15, acl_share: float = 0.0,
             system_share: float = 0.0, client_share: float = 0.0) -> list[Op]:
    """``steps`` operations drawn from ``seed`` (the same seed, the same sequence)."""
    rng = random.Random(seed)
    jobs = list(JOB_KINDS)
    ops: list[Op] = []
    live: list[str] = []
    for _ in range(steps):
        roll = rng.random()
        if roll < hostile_share:
            op = hostile(rng)
        elif roll < hostile_share + acl_share:
            op = acl_op(rng)
        elif roll < hostile_share + acl_share + system_share:
            op = system_op(rng)
        elif roll < hostile_share + acl_share + system_share + client_share and live:
            op = client_op(rng, rng.choice(live))
        else:
            # Mostly work on jobs already registered, so updates, reverts and deployments happen.
            job = rng.choice(live) if live and rng.random() < 0.8 else rng.choice(jobs)
            if job not in live or rng.random() < 0.55:
                op = _write(rng, job)
                if op.kind == "register" and job not in live:
                    live.append(job)
            else:
                op = _reads(rng, job)
        if acl and rng.random() < 0.3:
            from .servers import ROLES
            op = attrs.evolve(op, token=rng.choice(ROLES))
        ops.append(op)
    return ops

