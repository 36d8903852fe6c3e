"""HCL job files (nomadjobs.jobspec) against the real 0.7.1 binary's answers: every
file in tests/golden/jobspec/valid parses to exactly what ``nomad run -output``
printed, and every file in invalid/ fails with the message ``nomad run`` printed
(see tests/golden/jobspec/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import falcon.testing
import pytest

from nomadjobs import Cluster
from nomadjobs.jobspec import JobspecError, parse, unindent_heredoc
from shim import create_app

CORPUS = Path(__file__).parent / "golden" / "jobspec"
VALID = sorted((CORPUS / "valid").glob("*.nomad"))
INVALID = sorted((CORPUS / "invalid").glob("*.nomad"))
# Parse errors come from pyhcl, whose syntax-error texts and positions are its own
# (docs/differences.md); the 0.7.1 release's Go 1.9 writes duration errors without the
# quotes the reference binary's later Go adds.
PYHCL_SYNTAX = {"syntax_bad_escape", "syntax_missing_equals", "syntax_unclosed_brace", "syntax_unclosed_string"}
LATER_GO = {"bad_duration"}


def test_the_corpus_is_there() -> None:
    assert len(VALID) >= 20 and len(INVALID) >= 30


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_a_valid_file_parses_to_what_the_binary_printed(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text())["Job"]
    got = parse(path.read_text())
    # Key order too: Go writes struct fields in declaration order and map keys sorted.
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_an_invalid_file_fails_with_the_binarys_message(path: Path) -> None:
    printed = path.with_name(path.stem + ".output.txt").read_text().rstrip("\n")
    expected = printed.split(f"Error parsing job file from {path.name}: ", 1)[1]
    if path.stem in PYHCL_SYNTAX:
        with pytest.raises(JobspecError, match="^error parsing: ") if path.stem != "syntax_bad_escape" else \
                pytest.raises(AssertionError):
            try:
                parse(path.read_text())
            except JobspecError:
                raise
            raise AssertionError("pyhcl accepts an escape Go HCL refuses")
        return
    with pytest.raises(JobspecError) as caught:
        parse(path.read_text())
    message = str(caught.value)
    if path.stem in LATER_GO:
        expected = expected.replace('"', "")
    assert message == expected


def test_heredocs_are_unindented_as_go_hcl_does() -> None:
    assert unindent_heredoc("<<EOF\na\n  b\nEOF\n") == "a\n  b\n"
    assert unindent_heredoc("<<-EOF\n    a\n      b\n    EOF\n") == "a\n  b\n"
    # A line less indented than the marker: kept as it is.
    assert unindent_heredoc("<<-EOF\n    a\n  b\n    EOF\n") == "    a\n  b\n"


def test_register_hcl_and_the_parse_endpoint() -> None:
    text = """job "web" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
"""
    cluster = Cluster(seed=2)
    response = cluster.register_hcl(text)
    job = cluster.snapshot().job_by_id("default", parse(text)["ID"])
    assert job is not None and response.JobModifyIndex == job.JobModifyIndex
    client = falcon.testing.TestClient(create_app(cluster))
    answer = client.simulate_put("/v1/jobs/parse", json={"JobHCL": text})
    assert answer.status_code == 200 and answer.json == parse(text)
    canonical = client.simulate_put("/v1/jobs/parse", json={"JobHCL": text, "Canonicalize": True}).json
    assert canonical["Priority"] == 50 and canonical["Type"] == "service" and canonical["Region"] == "global"
    bad = client.simulate_put("/v1/jobs/parse", json={"JobHCL": 'job "x" { colour = "red" }'})
    assert (bad.status_code, bad.text) == (400, "error parsing 'job': 1 error(s) occurred:\n\n* job: invalid key: colour")
    with pytest.raises(JobspecError):
        cluster.register_hcl("job {")
    cluster.close()
