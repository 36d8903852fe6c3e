"""ACL tokens and namespace policies, as Nomad v0.7.1 evaluates them for jobs.

Policies are written in HCL (v1) or its JSON form, e.g.::

    namespace "default" {
      policy       = "read"
      capabilities = ["submit-job"]
    }

A namespace rule matches by exact name; ``deny`` anywhere wins. With ACLs off every
request is allowed and tokens are ignored.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Optional, Protocol

import attrs
import hcl

from . import structs as s
from .errors import NomadError, TOKEN_NOT_FOUND, permission_denied

CAP_DENY = "deny"
CAP_LIST_JOBS = "list-jobs"
CAP_READ_JOB = "read-job"
CAP_SUBMIT_JOB = "submit-job"
CAP_DISPATCH_JOB = "dispatch-job"
CAP_READ_LOGS = "read-logs"
CAP_READ_FS = "read-fs"
CAP_SENTINEL_OVERRIDE = "sentinel-override"

CAPABILITIES = frozenset({CAP_DENY, CAP_LIST_JOBS, CAP_READ_JOB, CAP_SUBMIT_JOB, CAP_DISPATCH_JOB,
                          CAP_READ_LOGS, CAP_READ_FS, CAP_SENTINEL_OVERRIDE})

POLICY_SHORTHAND = {
    "deny": {CAP_DENY},
    "read": {CAP_LIST_JOBS, CAP_READ_JOB},
    "write": {CAP_LIST_JOBS, CAP_READ_JOB, CAP_SUBMIT_JOB, CAP_DISPATCH_JOB, CAP_READ_LOGS, CAP_READ_FS},
}

ANONYMOUS_POLICY = "anonymous"


class PolicyError(ValueError):
    pass


def parse_rules(rules: str) -> dict[str, frozenset[str]]:
    """Policy text -> namespace -> capabilities. Raises PolicyError like Nomad's
    ``Failed to parse ACL Policy`` family."""
    try:
        data = json.loads(rules) if rules.lstrip().startswith("{") else hcl.loads(rules)
    except Exception as exc:  # pyhcl raises a variety of parser errors
        raise PolicyError(f"Failed to parse ACL Policy: {exc}") from None
    namespaces = data.get("namespace") or {}
    if isinstance(namespaces, list):  # HCL may give a list of blocks
        merged: dict[str, Any] = {}
        for block in namespaces:
            merged.update(block)
        namespaces = merged
    out: dict[str, frozenset[str]] = {}
    for name, rule in namespaces.items():
        caps: set[str] = set()
        policy = rule.get("policy", "")
        if policy:
            if policy not in POLICY_SHORTHAND:
                raise PolicyError(f"Invalid namespace policy: {policy!r}")
            caps |= POLICY_SHORTHAND[policy]
        for cap in rule.get("capabilities", []) or []:
            if cap not in CAPABILITIES:
                raise PolicyError(f"Invalid namespace capability: {cap!r}")
            caps.add(cap)
        out[name] = frozenset(caps)
    return out


@attrs.frozen
class ACL:
    """The rights of one resolved token."""
    management: bool = False
    namespaces: dict[str, frozenset[str]] = attrs.Factory(dict)

    def allow(self, namespace: str, capability: str) -> bool:
        if self.management:
            return True
        caps = self.namespaces.get(namespace)
        if not caps or CAP_DENY in caps:
            return False
        return capability in caps


ALLOW_ALL = ACL(management=True)


def compile_acl(policies: Iterable[s.ACLPolicy]) -> ACL:
    merged: dict[str, set[str]] = {}
    for policy in policies:
        try:
            rules = parse_rules(policy.Rules)
        except PolicyError as exc:
            # nomad/structs/funcs.go CompileACLObject: a stored policy that does not
            # parse fails the request (500) instead of escaping as a Python error.
            raise NomadError(f"failed to parse {json.dumps(policy.Name)}: {exc}") from None
        for ns, caps in rules.items():
            merged.setdefault(ns, set()).update(caps)
    # deny anywhere clears the namespace
    return ACL(namespaces={ns: frozenset({CAP_DENY}) if CAP_DENY in caps else frozenset(caps)
                           for ns, caps in merged.items()})


class ACLState(Protocol):
    """What :func:`resolve` reads from a state snapshot."""

    def acl_policy(self, name: str) -> Optional[s.ACLPolicy]: ...

    def acl_token_by_secret(self, secret: str) -> Optional[s.ACLToken]: ...


def resolve(state: ACLState, enabled: bool, secret: str) -> ACL:
    """Token secret -> ACL. Raises NomadError(403) for an unknown secret."""
    if not enabled:
        return ALLOW_ALL
    if not secret:
        policies = [p for p in [state.acl_policy(ANONYMOUS_POLICY)] if p is not None]
        return compile_acl(policies)
    token: Optional[s.ACLToken] = state.acl_token_by_secret(secret)
    if token is None:
        raise NomadError(TOKEN_NOT_FOUND)
    if token.is_management():
        return ALLOW_ALL
    policies = [p for p in (state.acl_policy(name) for name in token.Policies or ()) if p is not None]
    return compile_acl(policies)


def require(acl: ACL, namespace: str, *capabilities: str) -> None:
    for cap in capabilities:
        if not acl.allow(namespace, cap):
            raise permission_denied()
