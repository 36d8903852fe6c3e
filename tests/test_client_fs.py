"""The client's allocation filesystem and logs (/v1/client/fs/...), with the answers a
real v0.7.1 agent gives for the same layout and output (recorded by hand)."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Iterator

import falcon.testing
import pytest

from nomadjobs import Cluster
from nomadjobs.errors import NomadError
from nomadjobs.query import QueryOptions, WriteOptions
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
    assert [(f["Name"], f["FileMode"], f["Size"]) for f in task] == \
        [("local", "drwxrwxrwx", 4096), ("secrets", "drwxrwxrwx", 60), ("tmp", "dtrwxrwxrwx", 4096)]
    shared = client.simulate_get(f"/v1/client/fs/ls/{alloc}?path=alloc").json
    assert [(f["Name"], f["FileMode"]) for f in shared] == \
        [("data", "drwxrwxrwx"), ("logs", "drwxrwxrwx"), ("tmp", "drwxrwxrwx")]  # only a task's tmp is sticky
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


def test_readat_checks_secrets_then_opens_then_seeks(api) -> None:
    """AllocDir.ReadAt's order, as a real agent answers it."""
    client, alloc, _ = api
    base = f"/var/lib/nomad/alloc/{alloc}"
    path = f"/v1/client/fs/readat/{alloc}?offset=0&path="
    assert get(client, path + "talker/secrets") == (500, "Reading secret file prohibited: talker/secrets")
    assert get(client, path + "talker/secrets/x") == (500, "Reading secret file prohibited: talker/secrets/x")
    assert get(client, path + "nope") == (500, f"open {base}/nope: no such file or directory")
    assert get(client, path + "alloc/logs") == (200, "")  # a directory reads as nothing
    assert get(client, f"/v1/client/fs/readat/{alloc}?offset=-3&path=alloc/logs/talker.stdout.0") == \
        (500, f"can't seek to offset '\ufffd': seek {base}/alloc/logs/talker.stdout.0: invalid argument")


def _follow(cluster: Cluster, answer, heartbeat: float = 0.05):
    answer.heartbeat_seconds = heartbeat
    return iter(answer)


def test_stream_sends_the_file_then_what_is_appended_then_heartbeats(api) -> None:
    _, alloc, cluster = api
    q = QueryOptions()
    name = "alloc/logs/talker.stdout.0"
    frames = _follow(cluster, cluster.client.stream(alloc, name, None, None, q))
    assert next(frames) == b'{"Offset":6,"Data":"aGVsbG8K","File":"alloc/logs/talker.stdout.0"}'
    assert next(frames) == b"{}"  # nothing new: the heartbeat
    cluster.fail_task(alloc)  # restarted in place: it writes its output again
    cluster.advance(20)
    assert next(frames) == b'{"Offset":12,"Data":"aGVsbG8K","File":"alloc/logs/talker.stdout.0"}'
    # From the end, and a path the way the caller spelled it.
    tail = _follow(cluster, cluster.client.stream(alloc, "alloc/../alloc/logs/talker.stdout.0", "3", "end", q))
    assert json.loads(next(tail)) == {"Offset": 12, "Data": base64.b64encode(b"lo\n").decode(),
                                      "File": "alloc/../alloc/logs/talker.stdout.0"}
    # An offset past the end: Nomad's watcher takes the file for a truncated one.
    past = _follow(cluster, cluster.client.stream(alloc, name, "100", None, q))
    assert json.loads(next(past)) == {"Offset": 12, "Data": base64.b64encode(b"hello\nhello\n").decode(),
                                      "File": name, "FileEvent": "file truncated"}
    base = f"/var/lib/nomad/alloc/{alloc}"
    errors = [((alloc, "", None, None), "must provide a file name"),
              (("", name, None, None), "must provide a valid alloc id"),
              ((alloc, name, "x", None), 'error parsing offset: strconv.ParseInt: parsing "x": invalid syntax'),
              ((alloc, name, None, "mid"), "origin must be start or end"),
              ((alloc, "alloc/logs", None, None), 'file "alloc/logs" is a directory'),
              ((alloc, "nope", None, None), f"stat {base}/nope: no such file or directory"),
              ((alloc, name, "100", "end"), f"can't seek to offset '\ufffd': seek {base}/{name}: invalid argument")]
    for args, message in errors:
        with pytest.raises(NomadError) as caught:
            cluster.client.stream(*args, q)
        assert caught.value.message == message


def test_a_followed_log_ends_with_its_file(api) -> None:
    """When the allocation is collected its directory goes, and the stream says so."""
    _, alloc, cluster = api
    q = QueryOptions()
    frames = _follow(cluster, cluster.client.logs(alloc, "talker", "stderr", None, "true", None, None, q))
    assert next(frames) == b'{"Offset":5,"Data":"b29wcwo=","File":"alloc/logs/talker.stderr.0"}'
    cluster.jobs.deregister_job("talk", True, WriteOptions())
    cluster.advance(10)
    cluster.services.system_gc()
    assert cluster.snapshot().alloc_by_id(alloc) is None
    assert list(frames) == [b'{"Offset":5,"File":"alloc/logs/talker.stderr.0","FileEvent":"file deleted"}']


def test_plain_follow_writes_no_heartbeat_and_ends_when_the_reader_goes(api) -> None:
    _, alloc, cluster = api
    present = [True, True, False]
    answer = cluster.client.logs(alloc, "talker", "stdout", "true", "true", None, None, QueryOptions(),
                                 alive=lambda: present.pop(0))
    started = time.monotonic()
    assert list(_follow(cluster, answer)) == [b"hello\n"]  # ends at the third beat, having written no more
    assert time.monotonic() - started >= 0.1
    # Without a probe, each beat is an empty chunk: the server's write finds a gone reader.
    frames = _follow(cluster, cluster.client.logs(alloc, "talker", "stdout", "true", "true", None, None,
                                                  QueryOptions()))
    assert [next(frames), next(frames)] == [b"hello\n", b""]


def test_closing_the_cluster_ends_open_streams() -> None:
    cluster = Cluster(seed=4)
    cluster.register({"ID": "talk", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "grp", "Tasks": [{
        "Name": "talker", "Driver": "exec", "Config": {"command": "/bin/sh"}, "Meta": {"nomadjobs.stdout": "hi\n"},
        "Resources": {"CPU": 100, "MemoryMB": 32}}]}]})
    cluster.advance(2)
    alloc = next(iter(cluster.snapshot().allocs())).ID
    frames = _follow(cluster, cluster.client.logs(alloc, "talker", "stdout", None, "true", None, None,
                                                  QueryOptions()), heartbeat=0.5)
    assert next(frames).startswith(b'{"Offset":3,')
    threading.Timer(0.2, cluster.close).start()
    assert list(frames) == []  # noticed at the first beat: no heartbeat after the close
