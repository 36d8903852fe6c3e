"""Deploy a job, follow its deployment with blocking queries, revert if it fails.

The kind of deploy script nomadjobs exists to test. It only speaks Nomad's HTTP API
(through python-nomad), so it runs unchanged against a real Nomad 0.7 agent or against
``nomadjobs-server``::

    nomadjobs-server &                          # 127.0.0.1:4646, wall clock
    python examples/deploy_with_revert.py       # deploys v0, then a crashing v1, reverts

``deploy()`` is the reusable part: register, wait for the deployment of the new
version (``GET /v1/job/<id>/deployment?index=N&wait=5s``, each call returning when
something changed), and on failure revert to the newest stable version.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import nomad

TERMINAL = ("successful", "failed", "cancelled")
S = 1_000_000_000  # Nomad's JSON durations are nanoseconds

# A small service: two instances, healthy after running 1s, rolled one at a time.
WEB: dict[str, Any] = {
    "ID": "web", "Name": "web", "Type": "service", "Datacenters": ["dc1"],
    "Update": {"MaxParallel": 1, "MinHealthyTime": 1 * S, "HealthyDeadline": 10 * S, "AutoRevert": False},
    "TaskGroups": [{
        "Name": "web", "Count": 2,
        "RestartPolicy": {"Attempts": 0, "Interval": 60 * S, "Delay": 1 * S, "Mode": "fail"},
        "Tasks": [{"Name": "server", "Driver": "exec",
                   "Config": {"command": "/bin/sleep", "args": ["3600"]},
                   "Resources": {"CPU": 100, "MemoryMB": 64}}],
    }],
}


def crashing(job: dict[str, Any]) -> dict[str, Any]:
    """The same job, but its task exits 1 shortly after starting. (On nomadjobs the
    ``nomadjobs.*`` task meta shapes the simulated process; a real agent ignores it,
    and the bad command fails there instead.)"""
    bad = copy.deepcopy(job)
    task = bad["TaskGroups"][0]["Tasks"][0]
    task["Config"] = {"command": "/bin/false"}
    task["Meta"] = {"nomadjobs.run_for": "200ms", "nomadjobs.exit_code": "1"}
    return bad


@dataclass
class DeployResult:
    version: int                    # the version this deploy registered
    status: str                     # its deployment's final status
    description: str
    reverted_to: Optional[int] = None
    revert_status: Optional[str] = None


def wait_for_deployment(client: nomad.Nomad, job_id: str, version: int, timeout_s: float = 60.0,
                        wait: str = "5s") -> dict[str, Any]:
    """Block until the job's deployment for ``version`` is terminal; return it.

    Each request carries the last ``X-Nomad-Index`` seen, so the server holds it until
    the deployments table moves (or ``wait`` passes): no polling loop with sleeps."""
    deadline = time.monotonic() + timeout_s
    index = 0
    while time.monotonic() < deadline:
        resp = client.job.request(job_id, "deployment", method="get",
                                  params={"index": index, "wait": wait}, timeout=30)
        index = int(resp.headers["X-Nomad-Index"])
        deployment = resp.json()
        if deployment and deployment["JobVersion"] == version and deployment["Status"] in TERMINAL:
            return deployment
    raise TimeoutError(f"deployment of {job_id} v{version} not finished after {timeout_s}s")


def latest_stable_version(client: nomad.Nomad, job_id: str, below: int) -> Optional[int]:
    versions = client.job.get_versions(job_id)["Versions"]
    stable = [v["Version"] for v in versions if v["Stable"] and v["Version"] < below]
    return max(stable) if stable else None


def deploy(client: nomad.Nomad, job: dict[str, Any], timeout_s: float = 60.0) -> DeployResult:
    """Register ``job``; if its deployment fails, revert to the last stable version
    and wait for that deployment too."""
    job_id = job["ID"]
    client.job.register_job(job_id, {"Job": job})
    version = client.job.get_job(job_id)["Version"]
    deployment = wait_for_deployment(client, job_id, version, timeout_s)
    result = DeployResult(version, deployment["Status"], deployment["StatusDescription"])
    if deployment["Status"] == "successful":
        return result
    target = latest_stable_version(client, job_id, below=version)
    if target is None:
        return result  # nothing to go back to: leave the failure to a human
    # EnforcePriorVersion: do not clobber a deploy someone else made meanwhile.
    client.job.revert_job(job_id, target, enforce_prior_version=version)
    reverted = client.job.get_job(job_id)["Version"]
    back = wait_for_deployment(client, job_id, reverted, timeout_s)
    result.reverted_to = target
    result.revert_status = back["Status"]
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--address", default="http://127.0.0.1:4646", help="Nomad HTTP address")
    p.add_argument("--token", default=None, help="ACL token (X-Nomad-Token)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each deployment")
    args = p.parse_args(argv)
    client = nomad.Nomad(address=args.address, token=args.token, timeout=30)

    first = deploy(client, WEB, args.timeout)
    print(f"v{first.version}: {first.status} ({first.description})")
    second = deploy(client, crashing(WEB), args.timeout)
    print(f"v{second.version}: {second.status} ({second.description})")
    if second.reverted_to is not None:
        print(f"reverted to v{second.reverted_to}: {second.revert_status}")
    ok = first.status == "successful" and second.status == "failed" and second.revert_status == "successful"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
