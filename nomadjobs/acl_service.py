"""The ACL endpoints: bootstrap, policies and tokens (Nomad v0.7.1 ``nomad/acl_endpoint.go``).

Each method is one RPC with its checks in Nomad's order: ACLs enabled, region,
the caller's rights, validation, then one write through the FSM. Reads block like
every other query (``index``/``wait``), except ``token/self``. Errors carry Nomad's
text: validation and lookups are 500s, only ``Permission denied`` and ``ACL token
not found`` are 403s, and ``token/self`` answers an unknown secret with a 404.
"""

from __future__ import annotations

import re

from typing import Any, Optional

from . import acl as aclmod
from . import fsm as cmds
from . import structs as s
from .core.protocol import Core
from .errors import NomadError, TOKEN_NOT_FOUND, not_found, permission_denied
from .golang.multierror import multierror
from .golang.time import rfc3339
from .jobs import JobsService
from .query import QueryMeta, QueryOptions, WriteOptions
from .services import UUIDPrefixError, uuid_prefix
from .state.store import ACL_POLICY, ACL_TOKEN, StateReader

#: A file in the data dir that allows one more bootstrap (Nomad's aclBootstrapReset).
ACL_BOOTSTRAP_RESET = "acl-bootstrap-reset"

__all__ = ["ACLService", "BOOTSTRAP_TOKEN_NAME"]

BOOTSTRAP_TOKEN_NAME = "Bootstrap Token"
ACL_DISABLED = "ACL support disabled"


def policy_stub(policy: s.ACLPolicy) -> s.ACLPolicyListStub:
    return s.ACLPolicyListStub(Name=policy.Name, Description=policy.Description, Hash=policy.Hash,
                               CreateIndex=policy.CreateIndex, ModifyIndex=policy.ModifyIndex)


def token_stub(token: s.ACLToken) -> s.ACLTokenListStub:
    return s.ACLTokenListStub(AccessorID=token.AccessorID, Name=token.Name, Type=token.Type,
                              Policies=token.Policies, Global=token.Global, Hash=token.Hash,
                              CreateTime=token.CreateTime, CreateIndex=token.CreateIndex,
                              ModifyIndex=token.ModifyIndex)


class ACLService:
    """One method per ACL endpoint; reads return ``(model, QueryMeta)``, writes the
    written model (or None) and the index it was written at."""

    def __init__(self, core: Core, jobs: JobsService) -> None:
        self.core = core
        self.jobs = jobs

    # --- shared -------------------------------------------------------------------------
    def _enabled(self, region: str) -> StateReader:
        if not self.core.acl_enabled:
            raise NomadError(ACL_DISABLED)
        self.jobs._check_region(region)
        return self.core.snapshot()

    def _management(self, state: StateReader, secret: str) -> None:
        """The write RPCs' check: a management token, or 403 (anonymous included)."""
        if not aclmod.resolve(state, True, secret).management:
            raise permission_denied()

    def _apply(self, command: Any) -> int:
        result = self.core.apply(command)
        if result.error is not None:
            raise NomadError(result.error)
        return result.index

    # --- bootstrap ----------------------------------------------------------------------
    def bootstrap(self, secret: Optional[str] = None, w: WriteOptions = WriteOptions()) -> tuple[s.ACLToken, int]:
        """PUT /v1/acl/bootstrap (ACL.Bootstrap): the first management token; the
        caller's token is not looked at. ``secret`` fixes its SecretID (the library's
        and the server's ``--acl-token``; Nomad always draws one)."""
        state = self._enabled(w.region)
        done = state.acl_bootstrap_index()
        reset = 0
        if done:  # checked before the write too, as Nomad's RPC does
            reset = self._reset_index()
            if reset == 0:
                raise NomadError(f"ACL bootstrap already done (reset index: {done})")
            if reset != done:
                raise NomadError(f"Invalid bootstrap reset index (specified {reset}, reset index: {done})")
        token = s.ACLToken(AccessorID=self.core.new_id(), SecretID=secret or self.core.new_id(),
                           Name=BOOTSTRAP_TOKEN_NAME, Type=s.ACL_MANAGEMENT_TOKEN, Global=True,
                           CreateTime=rfc3339(self.core.now_ns()))
        token = s.evolve(token, Hash=aclmod.token_hash(token))
        index = self._apply(cmds.ACLTokenBootstrap(token, reset))
        stored = self.core.snapshot().acl_token_by_accessor(token.AccessorID)
        assert stored is not None  # just written
        return stored, index

    def _reset_index(self) -> int:
        """The index in the data dir's ``acl-bootstrap-reset`` file (Nomad's
        fileBootstrapResetIndex, ``%d`` of its text), or 0 without one."""
        directory = self.core.data_dir()
        if directory is None:
            return 0
        try:
            text = (directory / ACL_BOOTSTRAP_RESET).read_text()
        except OSError:
            return 0
        found = re.match(r"\s*\+?(\d+)", text)
        return int(found.group(1)) if found and int(found.group(1)) < 2**64 else 0

    # --- policies -----------------------------------------------------------------------
    def list_policies(self, q: QueryOptions) -> tuple[list[s.ACLPolicyListStub], QueryMeta]:
        """GET /v1/acl/policies (ACL.ListPolicies): all of them for a management
        token, the token's own otherwise."""
        state = self._enabled(q.region)
        acl = aclmod.resolve(state, True, q.token)
        names: Optional[set[str]] = None
        if not acl.management:
            token = aclmod.lookup_token(state, q.token)  # anonymous: the UUID index refuses ""
            names = set(token.Policies or ()) if token is not None else set()

        def run(state: StateReader) -> tuple[list[s.ACLPolicyListStub], int]:
            policies = state.acl_policies_by_prefix(q.prefix) if q.prefix else state.acl_policies()
            out = [policy_stub(p) for p in policies if names is None or p.Name in names]
            return out, max(state.table_index(ACL_POLICY), 1)

        return self.jobs.blocking_query(q, (ACL_POLICY,), run)

    def get_policy(self, name: str, q: QueryOptions) -> tuple[s.ACLPolicy, QueryMeta]:
        """GET /v1/acl/policy/:name (ACL.GetPolicy): a management token, or a token
        that holds the policy."""
        state = self._enabled(q.region)
        acl = aclmod.resolve(state, True, q.token)
        if not acl.management:
            token = aclmod.lookup_token(state, q.token)
            if token is None or name not in (token.Policies or ()):
                raise permission_denied()

        def run(state: StateReader) -> tuple[Optional[s.ACLPolicy], int]:
            policy = state.acl_policy(name)
            return policy, (policy.ModifyIndex if policy is not None else state.table_index(ACL_POLICY))

        policy, meta = self.jobs.blocking_query(q, (ACL_POLICY,), run)
        if policy is None:
            raise not_found("ACL policy not found", meta.index)
        return policy, meta

    def upsert_policy(self, policy: s.ACLPolicy, w: WriteOptions = WriteOptions()) -> int:
        """PUT /v1/acl/policy/:name (ACL.UpsertPolicies) -> the write's index."""
        state = self._enabled(w.region)
        self._management(state, w.token)
        errors = aclmod.validate_policy(policy)
        if errors:
            raise NomadError(f"policy 0 invalid: {multierror(errors)}")
        policy = s.ACLPolicy(Name=policy.Name, Description=policy.Description, Rules=policy.Rules,
                             Hash=aclmod.policy_hash(policy))
        return self._apply(cmds.ACLPolicyUpsert([policy]))

    def delete_policy(self, name: str, w: WriteOptions = WriteOptions()) -> int:
        """DELETE /v1/acl/policy/:name (ACL.DeletePolicies): a write even when there is
        no such policy, as in Nomad."""
        state = self._enabled(w.region)
        self._management(state, w.token)
        return self._apply(cmds.ACLPolicyDelete([name]))

    # --- tokens -------------------------------------------------------------------------
    def list_tokens(self, q: QueryOptions) -> tuple[list[s.ACLTokenListStub], QueryMeta]:
        """GET /v1/acl/tokens (ACL.ListTokens): management only."""
        state = self._enabled(q.region)
        self._management(state, q.token)
        prefix = ""
        if q.prefix:
            try:
                prefix = uuid_prefix(q.prefix)
            except UUIDPrefixError as exc:
                raise NomadError(f"acl token lookup failed: index error: {exc}") from None

        def run(state: StateReader) -> tuple[list[s.ACLTokenListStub], int]:
            tokens = state.acl_tokens_by_prefix(prefix) if prefix else state.acl_tokens()
            return [token_stub(t) for t in tokens], state.table_index(ACL_TOKEN)

        return self.jobs.blocking_query(q, (ACL_TOKEN,), run)

    def get_token(self, accessor_id: str, q: QueryOptions) -> tuple[s.ACLToken, QueryMeta]:
        """GET /v1/acl/token/:accessor (ACL.GetToken): a management token, or the
        token itself."""
        state = self._enabled(q.region)
        acl = aclmod.resolve(state, True, q.token)
        if not aclmod.is_uuid(accessor_id):
            raise NomadError(aclmod.TOKEN_LOOKUP_FAILED)

        def run(state: StateReader) -> tuple[Optional[s.ACLToken], int]:
            token = state.acl_token_by_accessor(accessor_id)
            if not acl.management and (token is None or token.SecretID != q.token):
                raise permission_denied()
            return token, (token.ModifyIndex if token is not None else state.table_index(ACL_TOKEN))

        token, meta = self.jobs.blocking_query(q, (ACL_TOKEN,), run)
        if token is None:
            raise not_found(TOKEN_NOT_FOUND, meta.index)
        return token, meta

    def token_self(self, q: QueryOptions) -> tuple[s.ACLToken, QueryMeta]:
        """GET /v1/acl/token/self (ACL.ResolveToken): never blocks; an unknown secret
        is a 404 here (403 everywhere else)."""
        state = self._enabled(q.region)
        token = aclmod.lookup_token(state, q.token)
        if token is None:
            raise not_found(TOKEN_NOT_FOUND, state.table_index(ACL_TOKEN))
        return token, QueryMeta(token.ModifyIndex)

    def upsert_token(self, token: s.ACLToken, w: WriteOptions = WriteOptions()) -> tuple[s.ACLToken, int]:
        """POST /v1/acl/token and /v1/acl/token/:accessor (ACL.UpsertTokens): creates
        a token when it has no AccessorID, else replaces its name, type and policies."""
        # A global token is written in the authoritative region whatever was asked.
        state = self._enabled("" if token.Global else w.region)
        self._management(state, w.token)
        errors = aclmod.validate_token(token)
        if errors:
            raise NomadError(f"token 0 invalid: {multierror(errors)}")
        if not token.AccessorID:
            token = s.ACLToken(AccessorID=self.core.new_id(), SecretID=self.core.new_id(), Name=token.Name,
                               Type=token.Type, Policies=token.Policies, Global=token.Global,
                               CreateTime=rfc3339(self.core.now_ns()))
        else:
            if not aclmod.is_uuid(token.AccessorID):
                raise NomadError(f"token lookup failed: {aclmod.TOKEN_LOOKUP_FAILED}")
            existing = state.acl_token_by_accessor(token.AccessorID)
            if existing is None:
                raise NomadError(f"cannot find token {token.AccessorID}")
            if existing.Global != token.Global:
                raise NomadError(f"cannot toggle global mode of {token.AccessorID}")
            token = s.evolve(existing, Name=token.Name, Type=token.Type, Policies=token.Policies)
        token = s.evolve(token, Hash=aclmod.token_hash(token))
        index = self._apply(cmds.ACLTokenUpsert([token]))
        stored = self.core.snapshot().acl_token_by_accessor(token.AccessorID)
        assert stored is not None  # just written
        return stored, index

    def delete_token(self, accessor_id: str, w: WriteOptions = WriteOptions()) -> int:
        """DELETE /v1/acl/token/:accessor (ACL.DeleteTokens)."""
        state = self._enabled(w.region)
        self._management(state, w.token)
        if not aclmod.is_uuid(accessor_id):
            raise NomadError(f"token lookup failed: {aclmod.TOKEN_LOOKUP_FAILED}")
        if state.acl_token_by_accessor(accessor_id) is None:
            raise NomadError(f"Cannot delete nonexistent tokens: {accessor_id}")
        return self._apply(cmds.ACLTokenDelete([accessor_id]))
