"""Go's formatting where Nomad's messages inherit it: ``%q`` (strconv.Quote) is the
one implementation every message uses, control and non-printable characters included."""

from __future__ import annotations

import pytest

from nomadjobs.diff import job_diff
from nomadjobs.golang.strconv import quote
from nomadjobs.lifecycle.periodic import PeriodicDispatcher
from nomadjobs.structs import Job

# strconv.Quote's answers (Go 1.9, as Nomad 0.7.1 was built: DEL is \u007f there; Go 1.19,
# which the reference build uses, prints \x7f).
GO_QUOTE = [
    ("plain", '"plain"'),
    ('say "hi" \\ bye', '"say \\"hi\\" \\\\ bye"'),
    ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
    ("nul\x00 del\x7f", '"nul\\x00 del\\u007f"'),
    ("é and 日本", '"é and 日本"'),
    ("zero\u200bwidth", '"zero\\u200bwidth"'),
    ("\U0001f600", '"\U0001f600"'),
    ("\U000e0001", '"\\U000e0001"'),
]


@pytest.mark.parametrize("text,expected", GO_QUOTE)
def test_quote_is_strconv_quote(text: str, expected: str) -> None:
    assert quote(text) == expected


def test_quote_to_ascii_escapes_everything_beyond_ascii() -> None:
    assert quote("é\U0001f600", ascii_only=True) == '"\\u00e9\\U0001f600"'


def test_diff_of_different_ids_quotes_like_go() -> None:
    with pytest.raises(ValueError) as err:
        job_diff(Job(ID="a\tb"), Job(ID="c\x07"), True)
    assert str(err.value) == 'can not diff jobs with different IDs: "a\\tb" and "c\\a"'


def test_force_run_of_an_untracked_job_quotes_like_go(nomad_cluster) -> None:  # type: ignore[no-untyped-def]
    dispatcher: PeriodicDispatcher = nomad_cluster.lifecycle.periodic
    with pytest.raises(ValueError) as err:
        dispatcher.force_run("default", "night\x01ly")
    assert str(err.value) == "can't force run non-tracked job \"night\\x01ly\" (default)"


def test_parse_query_is_go_1_9s() -> None:
    from nomadjobs.golang.url import parse_query

    assert parse_query("prefix=%zz&index=1") == {"index": ["1"]}  # a malformed escape drops its pair only
    assert parse_query("a=1;b=2&c") == {"a": ["1"], "b": ["2"], "c": [""]}
    assert parse_query("x=%41%42+c&x=2&y=%e2%82%ac") == {"x": ["AB c", "2"], "y": ["€"]}
    assert parse_query("q=%4&&=v") == {"": ["v"]}


def test_a_query_parameter_go_cannot_unescape_is_ignored() -> None:
    from falcon import testing

    from nomadjobs import Cluster
    from shim import create_app

    cluster = Cluster(seed=1)
    cluster.register({"ID": "web", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [{
        "Name": "t", "Driver": "exec", "Config": {"command": "/bin/true"},
        "Resources": {"CPU": 100, "MemoryMB": 64}}]}]})
    client = testing.TestClient(create_app(cluster))
    evals = client.simulate_get("/v1/evaluations", query_string="prefix=%zz")
    assert evals.status_code == 200 and len(evals.json) == 1  # as if no prefix had been given
    jobs = client.simulate_get("/v1/jobs", query_string="prefix=w;prefix=%zz")
    assert [j["ID"] for j in jobs.json] == ["web"]
