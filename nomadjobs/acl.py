"""ACL policies and tokens, as Nomad v0.7.1 parses, combines and checks them.

Policies are written in HCL (v1) or its JSON form, e.g.::

    namespace "default" {
      policy       = "read"
      capabilities = ["submit-job"]
    }
    node  { policy = "read" }
    agent { policy = "write" }

Namespace rules match by exact name and their capabilities add up over a token's
policies, with ``deny`` anywhere clearing the namespace; the agent, node, operator and
quota rules take the strongest policy, with ``deny`` beating everything (v0.7.1
``acl/policy.go``, ``acl/acl.go``). With ACLs off every request is allowed and tokens
are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any, Iterable, Optional, Protocol

import attrs
import hcl

from . import structs as s
from .errors import NomadError, TOKEN_NOT_FOUND, permission_denied
from .golang.strconv import quote

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

POLICY_DENY, POLICY_READ, POLICY_WRITE = "deny", "read", "write"
POLICIES = (POLICY_DENY, POLICY_READ, POLICY_WRITE)

# What a namespace's ``policy`` adds to its capabilities (acl/policy.go, expandNamespacePolicy).
POLICY_SHORTHAND = {
    POLICY_DENY: (CAP_DENY,),
    POLICY_READ: (CAP_LIST_JOBS, CAP_READ_JOB),
    POLICY_WRITE: (CAP_LIST_JOBS, CAP_READ_JOB, CAP_SUBMIT_JOB, CAP_DISPATCH_JOB, CAP_READ_LOGS, CAP_READ_FS),
}

#: The policy that requests without a token get, when one by this name exists.
ANONYMOUS_POLICY = "anonymous"
#: The rules that take one policy each, and the Go type naming them in errors.
COARSE_RULES = {"agent": "AgentPolicy", "node": "NodePolicy", "operator": "OperatorPolicy", "quota": "QuotaPolicy"}

_VALID_NAME = re.compile(r"[a-zA-Z0-9-]{1,128}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: The memdb UUID index refusing a secret that is not one (nomad/state/schema.go).
TOKEN_LOOKUP_FAILED = "acl token lookup failed: index error: UUID must be 36 characters"


class PolicyError(ValueError):
    """Rules Nomad's ``acl.Parse`` refuses; ``str()`` is its message."""


@attrs.frozen
class NamespaceRule:
    name: str
    policy: str
    capabilities: tuple[str, ...]


@attrs.frozen
class Policy:
    """One parsed policy: its namespace rules (in order, shorthand expanded) and the
    coarse rules (``agent``, ``node``, ``operator``, ``quota``) it sets."""
    namespaces: tuple[NamespaceRule, ...] = ()
    coarse: dict[str, str] = attrs.Factory(dict)


def _go_namespace_rule(name: str, policy: str, caps: Optional[list[str]]) -> str:
    """``%#v`` of Go's ``*acl.NamespacePolicy``."""
    caps_text = "[]string(nil)" if caps is None else "[]string{" + ", ".join(quote(c) for c in caps) + "}"
    return f"&acl.NamespacePolicy{{Name:{quote(name)}, Policy:{quote(policy)}, Capabilities:{caps_text}}}"


def _field(block: dict[str, Any], name: str) -> Any:
    # Go's HCL decoder matches field names without regard to case.
    for key, value in block.items():
        if key.lower() == name:
            return value
    return None


def _as_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise PolicyError(f"Failed to parse ACL Policy: cannot decode {value!r} into a string")


def _blocks(value: Any) -> list[dict[str, Any]]:
    """A stanza's bodies: pyhcl gives one mapping, or a list when repeated."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def parse_policy(rules: str) -> Policy:
    """Policy text -> :class:`Policy`, or :class:`PolicyError` with Nomad's message
    (acl/policy.go ``Parse``; empty rules are a valid policy that grants nothing)."""
    if rules == "":
        return Policy()
    try:
        data = hcl.loads(rules)
    except Exception as exc:  # pyhcl raises a variety of parser errors
        raise PolicyError(f"Failed to parse ACL Policy: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"Invalid policy: {rules}")
    namespaces: list[tuple[str, dict[str, Any]]] = []
    coarse: dict[str, str] = {}
    for key, value in data.items():
        stanza = key.lower()
        if stanza == "namespace":
            for block in _blocks(value):
                for name, body in block.items():
                    for one in _blocks(body) or [{}]:
                        namespaces.append((name, one))
        elif stanza in COARSE_RULES:
            for block in _blocks(value) or [{}]:
                coarse[stanza] = _as_str(_field(block, "policy"))
    if not namespaces and not coarse:
        raise PolicyError(f"Invalid policy: {rules}")
    parsed: list[NamespaceRule] = []
    for name, body in namespaces:
        policy = _as_str(_field(body, "policy"))
        raw_caps = _field(body, "capabilities")
        caps = None if raw_caps is None else [_as_str(c) for c in (raw_caps if isinstance(raw_caps, list)
                                                                      else [raw_caps])]
        if not _VALID_NAME.fullmatch(name):
            raise PolicyError(f"Invalid namespace name: {_go_namespace_rule(name, policy, caps)}")
        if policy and policy not in POLICIES:
            raise PolicyError(f"Invalid namespace policy: {_go_namespace_rule(name, policy, caps)}")
        for cap in caps or ():
            if cap not in CAPABILITIES:
                raise PolicyError(f"Invalid namespace capability '{cap}': {_go_namespace_rule(name, policy, caps)}")
        parsed.append(NamespaceRule(name, policy, tuple(caps or ()) + POLICY_SHORTHAND.get(policy, ())))
    for stanza in COARSE_RULES:  # Go checks them in this order
        if stanza in coarse and coarse[stanza] not in POLICIES:
            raise PolicyError(f"Invalid {stanza} policy: "
                              f"&acl.{COARSE_RULES[stanza]}{{Policy:{quote(coarse[stanza])}}}")
    return Policy(tuple(parsed), coarse)


def parse_rules(rules: str) -> dict[str, frozenset[str]]:
    """Policy text -> namespace -> capabilities (see :func:`parse_policy`)."""
    out: dict[str, set[str]] = {}
    for rule in parse_policy(rules).namespaces:
        out.setdefault(rule.name, set()).update(rule.capabilities)
    return {name: frozenset(caps) for name, caps in out.items()}


# --- validation and hashes (nomad/structs/structs.go) ------------------------------------------

def validate_policy(policy: s.ACLPolicy) -> list[str]:
    """``ACLPolicy.Validate``: every problem, in Nomad's order."""
    errors = []
    if not _VALID_NAME.fullmatch(policy.Name):
        errors.append(f"invalid name '{policy.Name}'")
    try:
        parse_policy(policy.Rules)
    except PolicyError as exc:
        errors.append(f"failed to parse rules: {exc}")
    if len(policy.Description.encode("utf-8", "surrogatepass")) > 256:
        errors.append("description longer than 256")
    return errors


def validate_token(token: s.ACLToken) -> list[str]:
    """``ACLToken.Validate``: every problem, in Nomad's order."""
    errors = []
    if len(token.Name.encode("utf-8", "surrogatepass")) > 64:
        errors.append("token name too long")
    if token.Type == s.ACL_CLIENT_TOKEN:
        if not token.Policies:
            errors.append("client token missing policies")
    elif token.Type == s.ACL_MANAGEMENT_TOKEN:
        if token.Policies:
            errors.append("management token cannot be associated with policies")
    else:
        errors.append("token type must be client or management")
    return errors


def _blake2b(*parts: str) -> bytes:
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
    return digest.digest()


def policy_hash(policy: s.ACLPolicy) -> bytes:
    """``ACLPolicy.SetHash``: BLAKE2b-256 over name, description and rules."""
    return _blake2b(policy.Name, policy.Description, policy.Rules)


def token_hash(token: s.ACLToken) -> bytes:
    """``ACLToken.SetHash``: BLAKE2b-256 over name, type, policies and scope."""
    return _blake2b(token.Name, token.Type, *(token.Policies or ()), "global" if token.Global else "local")


def hash_text(digest: Optional[bytes]) -> str:
    return base64.b64encode(digest or b"").decode()


def is_uuid(text: str) -> bool:
    return len(text) == 36 and _UUID.fullmatch(text) is not None


# --- combining and checking ---------------------------------------------------------------------

_STRENGTH = {"": 0, POLICY_READ: 1, POLICY_WRITE: 2, POLICY_DENY: 3}


@attrs.frozen
class ACL:
    """The rights of one resolved token."""
    management: bool = False
    namespaces: dict[str, frozenset[str]] = attrs.Factory(dict)
    #: agent, node, operator, quota -> the strongest policy granted ("" for none).
    coarse: dict[str, str] = attrs.Factory(dict)

    def allow(self, namespace: str, capability: str) -> bool:
        if self.management:
            return True
        caps = self.namespaces.get(namespace)
        if not caps or CAP_DENY in caps:
            return False
        return capability in caps

    def _coarse(self, rule: str, write: bool) -> bool:
        if self.management:
            return True
        policy = self.coarse.get(rule, "")
        return policy == POLICY_WRITE or (not write and policy == POLICY_READ)

    def allow_node_read(self) -> bool:
        return self._coarse("node", write=False)

    def allow_node_write(self) -> bool:
        return self._coarse("node", write=True)

    def allow_agent_read(self) -> bool:
        return self._coarse("agent", write=False)

    def allow_agent_write(self) -> bool:
        return self._coarse("agent", write=True)


ALLOW_ALL = ACL(management=True)


def compile_acl(policies: Iterable[s.ACLPolicy]) -> ACL:
    merged: dict[str, set[str]] = {}
    coarse: dict[str, str] = {}
    for policy in policies:
        try:
            parsed = parse_policy(policy.Rules)
        except PolicyError as exc:
            # nomad/structs/funcs.go CompileACLObject: a stored policy that does not
            # parse fails the request (500) instead of escaping as a Python error.
            raise NomadError(f"failed to parse {json.dumps(policy.Name)}: {exc}") from None
        for rule in parsed.namespaces:
            merged.setdefault(rule.name, set()).update(rule.capabilities)
        for name, value in parsed.coarse.items():
            if _STRENGTH[value] > _STRENGTH[coarse.get(name, "")]:
                coarse[name] = value
    # deny anywhere clears the namespace
    return ACL(namespaces={ns: frozenset({CAP_DENY}) if CAP_DENY in caps else frozenset(caps)
                           for ns, caps in merged.items()},
               coarse=coarse)


class ACLState(Protocol):
    """What :func:`resolve` reads from a state snapshot."""

    def acl_policy(self, name: str) -> Optional[s.ACLPolicy]: ...

    def acl_token_by_secret(self, secret: str) -> Optional[s.ACLToken]: ...


def lookup_token(state: ACLState, secret: str) -> Optional[s.ACLToken]:
    """The token with this secret, or None; a secret that is not a UUID fails the
    lookup itself, as memdb's UUID index does (500). A token stored under another
    secret (a server started with ``--acl-token``) is still found."""
    token = state.acl_token_by_secret(secret)
    if token is None and not is_uuid(secret):
        raise NomadError(TOKEN_LOOKUP_FAILED)
    return token


def resolve(state: ACLState, enabled: bool, secret: str) -> ACL:
    """Token secret -> ACL. Raises NomadError(403) for an unknown secret."""
    if not enabled:
        return ALLOW_ALL
    if not secret:
        policies = [p for p in [state.acl_policy(ANONYMOUS_POLICY)] if p is not None]
        return compile_acl(policies)
    token = lookup_token(state, secret)
    if token is None:
        raise NomadError(TOKEN_NOT_FOUND)
    if token.is_management():
        return ALLOW_ALL
    # Policies that do not exist are ignored (nomad/acl.go, resolveTokenFromSnapshotCache).
    policies = [p for p in (state.acl_policy(name) for name in token.Policies or ()) if p is not None]
    return compile_acl(policies)


def require(acl: ACL, namespace: str, *capabilities: str) -> None:
    for cap in capabilities:
        if not acl.allow(namespace, cap):
            raise permission_denied()
