"""The ACL endpoints over HTTP, with the answers a real v0.7.1 agent gives (recorded
by hand against ``nomad agent -dev`` with ``acl { enabled = true }``): bootstrap,
policies, tokens, token self, and what each kind of token may do."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Iterator

import falcon.testing
import nomad
import pytest

from nomadjobs import Cluster
from nomadjobs import structs as s
from nomadjobs.acl import PolicyError, parse_policy, policy_hash, token_hash
from shim import create_app
from shim.testserver import NomadServer

UUID_ERROR = "acl token lookup failed: index error: UUID must be 36 characters"
UNKNOWN = "00000000-0000-4000-8000-00000000dead"
READ_RULES = 'namespace "default" {\n  policy = "read"\n}\n'


class Api:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.client = falcon.testing.TestClient(create_app(cluster))

    def call(self, method: str, path: str, token: str = "", **kw: Any) -> falcon.testing.Result:
        headers = {"X-Nomad-Token": token} if token else {}
        return self.client.simulate_request(method, path, headers=headers, **kw)

    def expect(self, status: int, text: str, method: str, path: str, token: str = "", **kw: Any) -> None:
        before = self.cluster.dump()
        r = self.call(method, path, token, **kw)
        assert (r.status_code, r.text) == (status, text)
        assert self.cluster.dump() == before  # a refused request writes nothing


@pytest.fixture
def api() -> Iterator[Api]:
    cluster = Cluster(acl=True, acl_bootstrap=False)
    yield Api(cluster)
    cluster.close()


def _bootstrap(api: Api) -> dict[str, Any]:
    r = api.call("PUT", "/v1/acl/bootstrap")
    assert r.status_code == 200
    return r.json  # type: ignore[no-any-return]


def test_bootstrap_once_then_the_0_7_1_error(api: Api) -> None:
    r = api.call("POST", "/v1/acl/bootstrap", token=UNKNOWN)  # the caller's token is ignored
    token = r.json
    assert r.status_code == 200 and int(r.headers["X-Nomad-Index"]) == token["CreateIndex"]
    assert list(token) == ["AccessorID", "SecretID", "Name", "Type", "Policies", "Global", "Hash", "CreateTime",
                           "CreateIndex", "ModifyIndex"]
    assert (token["Name"], token["Type"], token["Policies"], token["Global"]) == \
        ("Bootstrap Token", "management", None, True)
    # Nomad's hash of every bootstrap token (BLAKE2b-256 of its name, type and scope).
    assert token["Hash"] == "BUJ3BerTfrqFVm1P+vZr1gz9ubOkd+JAvYjNAJyaU9Y="
    api.expect(500, f"ACL bootstrap already done (reset index: {token['CreateIndex']})", "PUT", "/v1/acl/bootstrap")
    api.expect(405, "Invalid method", "GET", "/v1/acl/bootstrap")


def test_acl_endpoints_with_acls_off_say_so() -> None:
    cluster = Cluster()
    api = Api(cluster)
    for method, path in (("PUT", "/v1/acl/bootstrap"), ("GET", "/v1/acl/policies"), ("GET", "/v1/acl/tokens"),
                         ("GET", "/v1/acl/token/self"), ("DELETE", "/v1/acl/policy/x")):
        api.expect(500, "ACL support disabled", method, path)


def test_policy_write_read_list_delete(api: Api) -> None:
    mgmt = _bootstrap(api)["SecretID"]
    body = {"Name": "readonly", "Description": "Read only", "Rules": READ_RULES}
    r = api.call("PUT", "/v1/acl/policy/readonly", mgmt, json=body)
    assert (r.status_code, r.text) == (200, "")
    index = int(r.headers["X-Nomad-Index"])
    r = api.call("GET", "/v1/acl/policy/readonly", mgmt)
    policy = r.json
    assert policy == {**body, "Hash": "esY4NR6b6VuoJ9E3W1UkJDeM0uwUcraL/kmmLgD3IJw=", "CreateIndex": index,
                      "ModifyIndex": index}
    assert r.headers["X-Nomad-Index"] == str(index) and r.headers["X-Nomad-Knownleader"] == "true"
    r = api.call("GET", "/v1/acl/policies", mgmt)
    assert r.json == [{k: policy[k] for k in ("Name", "Description", "Hash", "CreateIndex", "ModifyIndex")}]
    assert api.call("GET", "/v1/acl/policies?prefix=read", mgmt).json == r.json
    assert api.call("GET", "/v1/acl/policies?prefix=x", mgmt).json == []
    # An update keeps CreateIndex; a delete is a write even for a missing policy.
    api.call("POST", "/v1/acl/policy/readonly", mgmt, json={**body, "Description": "ro"})
    again = api.call("GET", "/v1/acl/policy/readonly", mgmt).json
    assert again["CreateIndex"] == index < again["ModifyIndex"]
    for name in ("readonly", "never-was"):
        r = api.call("DELETE", f"/v1/acl/policy/{name}", mgmt)
        assert (r.status_code, r.text) == (200, "") and int(r.headers["X-Nomad-Index"]) == api.cluster.index
    r = api.call("GET", "/v1/acl/policy/readonly", mgmt)
    assert (r.status_code, r.text, r.headers["X-Nomad-Index"]) == (404, "ACL policy not found",
                                                                   str(api.cluster.index))


def test_policy_errors(api: Api) -> None:
    mgmt = _bootstrap(api)["SecretID"]
    api.expect(400, "Missing Policy Name", "GET", "/v1/acl/policy/", mgmt)
    api.expect(400, "ACL policy name does not match request path", "PUT", "/v1/acl/policy/a", mgmt,
               json={"Name": "b", "Rules": READ_RULES})
    api.expect(500, "unexpected EOF", "PUT", "/v1/acl/policy/a", mgmt, body='{"Name":')
    api.expect(405, "Invalid method", "PATCH", "/v1/acl/policy/a", mgmt)
    api.expect(500, "policy 0 invalid: 3 error(s) occurred:\n\n* invalid name 'x.y'\n"
                    "* failed to parse rules: Invalid namespace policy: "
                    '&acl.NamespacePolicy{Name:"default", Policy:"bogus", Capabilities:[]string(nil)}\n'
                    "* description longer than 256",
               "PUT", "/v1/acl/policy/x.y", mgmt,
               json={"Name": "x.y", "Description": "d" * 257, "Rules": 'namespace "default" { policy = "bogus" }'})
    api.expect(403, "Permission denied", "PUT", "/v1/acl/policy/a", json={"Name": "a", "Rules": READ_RULES})
    api.expect(403, "ACL token not found", "PUT", "/v1/acl/policy/a", UNKNOWN, json={"Name": "a", "Rules": ""})
    api.expect(500, UUID_ERROR, "PUT", "/v1/acl/policy/a", "not-a-uuid", json={"Name": "a", "Rules": ""})
    # Anonymous callers cannot read policies at all: the UUID index refuses "".
    api.expect(500, UUID_ERROR, "GET", "/v1/acl/policies")
    api.expect(500, UUID_ERROR, "GET", "/v1/acl/policy/a")


@pytest.mark.parametrize("rules,message", [
    ('namespace "default" { capabilities = ["list-jobs", "fly"] }',
     "Invalid namespace capability 'fly': "
     '&acl.NamespacePolicy{Name:"default", Policy:"", Capabilities:[]string{"list-jobs", "fly"}}'),
    ('namespace "a.b" { policy = "read" }',
     'Invalid namespace name: &acl.NamespacePolicy{Name:"a.b", Policy:"read", Capabilities:[]string(nil)}'),
    ('agent { policy = "bogus" }', 'Invalid agent policy: &acl.AgentPolicy{Policy:"bogus"}'),
    ("node {}", 'Invalid node policy: &acl.NodePolicy{Policy:""}'),
    ('operator { policy = "admin" }', 'Invalid operator policy: &acl.OperatorPolicy{Policy:"admin"}'),
    ('quota { policy = "x" }', 'Invalid quota policy: &acl.QuotaPolicy{Policy:"x"}'),
    ('foo = "bar"', 'Invalid policy: foo = "bar"'),
])
def test_policy_rules_are_checked_as_acl_parse_checks_them(rules: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(rules)
    assert str(info.value) == message


def test_valid_rules() -> None:
    assert parse_policy("").namespaces == ()  # empty rules grant nothing, and are valid
    assert parse_policy('namespace "default" {}').namespaces[0].capabilities == ()
    policy = parse_policy('namespace "default" {\n policy = "write"\n capabilities = ["sentinel-override"]\n}\n'
                          'node { policy = "read" }\nagent { policy = "write" }')
    assert policy.namespaces[0].capabilities == ("sentinel-override", "list-jobs", "read-job", "submit-job",
                                                 "dispatch-job", "read-logs", "read-fs")
    assert policy.coarse == {"node": "read", "agent": "write"}


def test_hashes_are_nomads_blake2b() -> None:
    policy = s.ACLPolicy(Name="readonly", Description="Read only", Rules=READ_RULES)
    assert base64.b64encode(policy_hash(policy)).decode() == "esY4NR6b6VuoJ9E3W1UkJDeM0uwUcraL/kmmLgD3IJw="
    token = s.ACLToken(Name="ci", Type="client", Policies=["a", "b"], Global=False)
    assert token_hash(token) == hashlib.blake2b(b"ciclientablocal", digest_size=32).digest()


def test_tokens_create_read_update_list_delete(api: Api) -> None:
    boot = _bootstrap(api)
    mgmt = boot["SecretID"]
    api.call("PUT", "/v1/acl/policy/readonly", mgmt, json={"Name": "readonly", "Rules": READ_RULES})
    r = api.call("POST", "/v1/acl/token", mgmt, json={"Name": "ci", "Type": "client", "Policies": ["readonly"],
                                                       "SecretID": "ignored", "CreateIndex": 7})
    token = r.json
    assert r.status_code == 200 and int(r.headers["X-Nomad-Index"]) == token["CreateIndex"] == api.cluster.index
    assert token["SecretID"] != "ignored" and len(token["SecretID"]) == 36 and token["Global"] is False
    accessor, secret = token["AccessorID"], token["SecretID"]
    # The token reads itself (by accessor and as self); another client token may not.
    assert api.call("GET", f"/v1/acl/token/{accessor}", secret).json == token
    r = api.call("GET", "/v1/acl/token/self", secret)
    assert r.json == token and r.headers["X-Nomad-Index"] == str(token["ModifyIndex"])
    # A client token lists the policies it holds.
    assert [p["Name"] for p in api.call("GET", "/v1/acl/policies", secret).json] == ["readonly"]
    api.expect(200, api.call("GET", "/v1/acl/policy/readonly", secret).text, "GET", "/v1/acl/policy/readonly",
               secret)
    api.expect(403, "Permission denied", "GET", "/v1/acl/tokens", secret)
    api.expect(403, "Permission denied", "GET", f"/v1/acl/token/{boot['AccessorID']}", secret)
    # Update by accessor: name and policies change, the secret and creation stay.
    r = api.call("POST", f"/v1/acl/token/{accessor}", mgmt,
                 json={"AccessorID": accessor, "Name": "ci2", "Type": "client", "Policies": ["readonly", "x"]})
    updated = r.json
    assert (updated["Name"], updated["SecretID"], updated["CreateIndex"]) == ("ci2", secret, token["CreateIndex"])
    assert updated["ModifyIndex"] > token["ModifyIndex"] and updated["Hash"] != token["Hash"]
    stubs = api.call("GET", "/v1/acl/tokens", mgmt).json
    assert sorted(t["AccessorID"] for t in stubs) == sorted([accessor, boot["AccessorID"]])
    assert all("SecretID" not in t for t in stubs)
    assert [t["AccessorID"] for t in api.call("GET", f"/v1/acl/tokens?prefix={accessor[:4]}", mgmt).json] == \
        [t["AccessorID"] for t in stubs if t["AccessorID"].startswith(accessor[:4])]
    r = api.call("DELETE", f"/v1/acl/token/{accessor}", mgmt)
    assert (r.status_code, r.text) == (200, "")
    api.expect(404, "ACL token not found", "GET", "/v1/acl/token/self", secret)
    api.expect(500, f"Cannot delete nonexistent tokens: {accessor}", "DELETE", f"/v1/acl/token/{accessor}", mgmt)


def test_token_errors(api: Api) -> None:
    boot = _bootstrap(api)
    mgmt = boot["SecretID"]
    api.expect(500, "token 0 invalid: 1 error(s) occurred:\n\n* client token missing policies",
               "POST", "/v1/acl/token", mgmt, json={"Type": "client"})
    api.expect(500, "token 0 invalid: 1 error(s) occurred:\n\n* management token cannot be associated with policies",
               "POST", "/v1/acl/token", mgmt, json={"Type": "management", "Policies": ["a"]})
    api.expect(500, "token 0 invalid: 2 error(s) occurred:\n\n* token name too long\n"
                    "* token type must be client or management",
               "POST", "/v1/acl/token", mgmt, json={"Name": "n" * 65, "Type": "bogus"})
    api.expect(400, "ACL token accessor does not match request path", "POST", f"/v1/acl/token/{UNKNOWN}", mgmt,
               json={"Type": "management"})
    api.expect(500, f"cannot find token {UNKNOWN}", "POST", f"/v1/acl/token/{UNKNOWN}", mgmt,
               json={"AccessorID": UNKNOWN, "Type": "management"})
    api.expect(500, f"cannot toggle global mode of {boot['AccessorID']}", "POST",
               f"/v1/acl/token/{boot['AccessorID']}", mgmt,
               json={"AccessorID": boot["AccessorID"], "Type": "management", "Global": False})
    api.expect(400, "Missing Token Accessor", "GET", "/v1/acl/token/", mgmt)
    api.expect(404, "ACL token not found", "GET", f"/v1/acl/token/{UNKNOWN}", mgmt)
    api.expect(500, UUID_ERROR, "GET", "/v1/acl/token/abc", mgmt)
    api.expect(403, "Permission denied", "POST", "/v1/acl/token", json={"Type": "management"})
    api.expect(403, "Permission denied", "GET", "/v1/acl/tokens")
    api.expect(500, "acl token lookup failed: index error: Input (without hyphens) must be even length",
               "GET", "/v1/acl/tokens?prefix=abc", mgmt)
    # token/self: an unknown well-formed secret is a 404 here, a 403 elsewhere.
    api.expect(404, "ACL token not found", "GET", "/v1/acl/token/self", UNKNOWN)
    api.expect(403, "ACL token not found", "GET", "/v1/acl/tokens", UNKNOWN)
    api.expect(500, UUID_ERROR, "GET", "/v1/acl/token/self")
    api.expect(405, "Invalid method", "PUT", "/v1/acl/token/self", mgmt)


def test_node_and_agent_rules_open_their_endpoints(api: Api) -> None:
    mgmt = _bootstrap(api)["SecretID"]
    for name, rules in (("nodes", 'node { policy = "read" }'), ("agent", 'agent { policy = "read" }'),
                        ("both", 'node { policy = "write" }\nagent { policy = "deny" }')):
        api.call("PUT", f"/v1/acl/policy/{name}", mgmt, json={"Name": name, "Rules": rules})
    secrets = {name: api.call("POST", "/v1/acl/token", mgmt,
                              json={"Type": "client", "Policies": [name]}).json["SecretID"]
               for name in ("nodes", "agent", "both")}
    status = {name: (api.call("GET", "/v1/nodes", secret).status_code,
                     api.call("GET", "/v1/agent/self", secret).status_code,
                     api.call("GET", "/v1/jobs", secret).status_code) for name, secret in secrets.items()}
    assert status == {"nodes": (200, 403, 403), "agent": (403, 200, 403), "both": (200, 403, 403)}


def test_python_nomad_and_a_fresh_server() -> None:
    server = NomadServer(Cluster(clock="wall", acl=True, acl_bootstrap=False))
    try:
        anonymous = nomad.Nomad(host=server.host, port=server.port, timeout=10)
        token = anonymous.acl.generate_bootstrap()
        api = nomad.Nomad(host=server.host, port=server.port, token=token["SecretID"], timeout=10)
        policy = {"Name": "ro", "Description": "", "Rules": READ_RULES}
        assert api.acl.create_policy("ro", policy).ok
        assert api.acl.get_policy("ro")["Rules"] == READ_RULES
        created = api.acl.create_token({"Name": "ci", "Type": "client", "Policies": ["ro"]})
        assert api.acl.get_token(created["AccessorID"])["Name"] == "ci"
        assert {t["Name"] for t in api.acl.get_tokens()} == {"Bootstrap Token", "ci"}
        assert nomad.Nomad(host=server.host, port=server.port, token=created["SecretID"],
                           timeout=10).acl.get_self_token()["AccessorID"] == created["AccessorID"]
        assert api.acl.delete_token(created["AccessorID"])
        assert api.acl.delete_policy("ro")
        assert api.acl.get_policies() == []
    finally:
        server.stop()
