"""The client's allocation filesystem and logs (/v1/client/fs/...), with the answers a
real v0.7.1 agent gives for the same layout and output (recorded by hand)."""

from __future__ import annotations

import base64
from typing import Iterator

import falcon.testing
import pytest

from nomadjobs import Cluster
from shim import create_app


@pytest.fixture
def api() -> Iterator[tuple[falcon.testing.TestClient, str, Cluster]]:
    cluster = Cluster(seed=4)
    cluster.register({"ID": "talk", "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "grp", "Tasks": [{
        "Name": "talker", "Driver": "exec", "Config": {"command": "/bin/sh"},
        "Meta": {"nomadjobs.stdout": "hello\n", "nomadjobs.stderr": "oops\n", "nomadjobs.run_for": "600s"},
        "Resources": {"CPU": 100, "MemoryMB": 32}}]}]})
    cluster.advance(2)
    alloc = next(iter(cluster.snapshot().allocs())).ID
    yield falcon.testing.TestClient(create_app(cluster)), alloc, cluster
    cluster.close()


def get(client: falcon.testing.TestClient, path: str) -> tuple[int, str]:
    r = client.simulate_get(path)
    return r.status_code, r.text


def test_ls_and_stat_show_the_allocation_directory(api) -> None:
    client, alloc, _ = api
    root = client.simulate_get(f"/v1/client/fs/ls/{alloc}").json
    assert [(f["Name"], f["IsDir"], f["FileMode"], f["Size"]) for f in root] == \
        [("alloc", True, "drwxrwxrwx", 4096), ("talker", True, "drwxrwxrwx", 4096)]
    assert list(root[0]) == ["FileMode", "IsDir", "ModTime", "Name", "Size"]
    logs = client.simulate_get(f"/v1/client/fs/ls/{alloc}?path=alloc/logs").json
    assert [(f["Name"], f["Size"]) for f in logs] == [("talker.stderr.0", 5), ("talker.stdout.0", 6)]
    task = client.simulate_get(f"/v1/client/fs/ls/{alloc}?path=talker").json
    assert [(f["Name"], f["FileMode"]) for f in task] == [("local", "drwxrwxrwx"), ("secrets", "drwxrwxrwx"),
                                                          ("tmp", "dtrwxrwxrwx")]
    assert client.simulate_get(f"/v1/client/fs/stat/{alloc}?path=alloc/logs/talker.stdout.0").json["Size"] == 6
    base = f"/var/lib/nomad/alloc/{alloc}"
    assert get(client, f"/v1/client/fs/ls/{alloc}?path=nope") == (500, f"open {base}/nope: no such file or directory")
    assert get(client, f"/v1/client/fs/ls/{alloc}?path=alloc/logs/talker.stdout.0") == \
        (500, f"readdirent {base}/alloc/logs/talker.stdout.0: not a directory")
    assert get(client, f"/v1/client/fs/ls/{alloc}?path=../../") == (500, "Path escapes the alloc directory")
    assert get(client, "/v1/client/fs/ls/") == (500, "must provide a valid alloc id")
    unknown = "00000000-0000-0000-0000-000000000000"
    assert get(client, f"/v1/client/fs/ls/{unknown}?path=/") == (500, f'unknown allocation ID "{unknown}"')
    assert get(client, f"/v1/client/fs/stat/{alloc}") == (500, "must provide a file name")
    assert get(client, f"/v1/client/fs/stat/{alloc}?path=x") == (500, f"stat {base}/x: no such file or directory")
    assert get(client, f"/v1/client/fs/bogus/{alloc}") == (404, "Invalid method")


def test_cat_and_readat_read_the_task_output(api) -> None:
    client, alloc, _ = api
    assert get(client, f"/v1/client/fs/cat/{alloc}?path=alloc/logs/talker.stdout.0") == (200, "hello\n")
    assert get(client, f"/v1/client/fs/cat/{alloc}?path=alloc/logs") == (500, 'file "alloc/logs" is a directory')
    path = f"/v1/client/fs/readat/{alloc}?path=alloc/logs/talker.stdout.0"
    assert get(client, path + "&offset=1&limit=3") == (200, "ell")
    assert get(client, path + "&offset=2") == (200, "llo\n")
    assert get(client, path + "&offset=99") == (200, "")
    assert get(client, path) == (500, 'error parsing offset: strconv.ParseInt: parsing "": invalid syntax')
    assert get(client, path + "&offset=0&limit=abc") == \
        (500, 'error parsing limit: strconv.ParseInt: parsing "abc": invalid syntax')


def test_logs_are_framed_or_plain(api) -> None:
    client, alloc, cluster = api
    base = f"/v1/client/fs/logs/{alloc}?task=talker"
    assert get(client, base + "&type=stdout") == \
        (200, '{"Offset":6,"Data":"aGVsbG8K","File":"alloc/logs/talker.stdout.0"}')
    assert get(client, base + "&type=stdout&origin=end&offset=3") == \
        (200, '{"Offset":6,"Data":"bG8K","File":"alloc/logs/talker.stdout.0"}')
    assert base64.b64decode("bG8K") == b"lo\n"
    assert get(client, base + "&type=stderr&plain=true") == (200, "oops\n")
    assert get(client, base + "&type=stdout&plain=true&offset=99") == (200, "")
    assert get(client, base) == (500, "must provide log type (stdout/stderr)")
    assert get(client, f"/v1/client/fs/logs/{alloc}?type=stdout") == (500, "must provide task name")
    assert get(client, base + "&type=stdout&plain=maybe") == \
        (500, 'Failed to parse plain field to boolean: strconv.ParseBool: parsing "maybe": invalid syntax')
    assert get(client, base + "&type=stdout&origin=middle") == (500, "origin must be start or end")
    assert get(client, f"/v1/client/fs/logs/{alloc}?task=nope&type=stdout") == \
        (404, 'task group "grp" does not have task with name "nope"')
    # A task restarted writes its output again, as a real process would.
    cluster.fail_task(alloc)
    cluster.advance(20)
    assert get(client, base + "&type=stdout&plain=true") == (200, "hello\nhello\n")


def test_read_fs_is_required_with_acls() -> None:
    cluster = Cluster(seed=4, acl=True)
    cluster.register({"ID": "t", "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [{
        "Name": "t", "Driver": "exec", "Config": {"command": "/bin/sh"},
        "Resources": {"CPU": 100, "MemoryMB": 32}}]}]}, token=cluster.bootstrap_token.SecretID)
    cluster.advance(1)
    alloc = next(iter(cluster.snapshot().allocs())).ID
    client = falcon.testing.TestClient(create_app(cluster))
    assert get(client, f"/v1/client/fs/ls/{alloc}") == (403, "Permission denied")
    r = client.simulate_get(f"/v1/client/fs/ls/{alloc}", headers={"X-Nomad-Token": cluster.bootstrap_token.SecretID})
    assert r.status_code == 200
