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
# A grammar error comes from pyhcl's parser, whose texts and positions are its own
# (docs/differences.md); string and end-of-file errors are Go HCL's. The 0.7.1
# release's Go 1.9 writes duration errors without the quotes the reference binary's
# later Go adds.
PYHCL_SYNTAX = {"syntax_missing_equals"}
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
        with pytest.raises(JobspecError, match="^error parsing: "):
            parse(path.read_text())
        return
    with pytest.raises(JobspecError) as caught:
        parse(path.read_text())
    message = str(caught.value)
    if path.stem in LATER_GO:
        expected = expected.replace('"', "")
    assert message == expected


def test_strings_are_read_as_go_hcl_reads_them() -> None:
    job = parse('job "j" {\n  meta {\n    a = "tab\\there"\n    b = "q\\"uote \\\\ \\u00e9\\x41\\101"\n'
                '    c = "${env[\\"X\\"]} \\\\n"\n  }\n}\n')
    assert job["Meta"] == {"a": "tab\there", "b": 'q"uote \\ \u00e9AA', "c": '${env[\\"X\\"]} \\n'}
    with pytest.raises(JobspecError, match=r"^error parsing: At 2:11: illegal char escape$"):
        parse('job "j" {\n  id = "a\\qb"\n}\n')
    with pytest.raises(JobspecError, match=r"^error parsing: At 3:1: literal not terminated$"):
        parse('job "j" {\n  id = "open\n')


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


# --- round trip: a generated job, written as HCL, parses back to itself --------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nomadjobs import codec  # noqa: E402
from nomadjobs import structs as s  # noqa: E402
from nomadjobs.canonicalize import api_canonicalize  # noqa: E402
from nomadjobs.testing import jobs  # noqa: E402


def _hcl_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # HCL's string escapes are JSON's
    if isinstance(value, list):
        return "[" + ", ".join(_hcl_value(v) for v in value) + "]"
    raise TypeError(value)


def _lines(fields: dict, indent: str) -> list[str]:
    return [f"{indent}{key} = {_hcl_value(value)}" for key, value in fields.items() if value is not None]


def _block(head: str, fields: dict, indent: str, inner: list[str] = ()) -> list[str]:
    return [f"{indent}{head} {{", *_lines(fields, indent + "  "), *inner, f"{indent}}}"]


def _map_block(head: str, values: dict | None, indent: str) -> list[str]:
    return _block(head, dict(values), indent) if values is not None else []


def _constraint_blocks(constraints: list | None, indent: str) -> list[str]:
    out: list[str] = []
    for c in constraints or ():
        if c.Operand == "distinct_hosts":
            out += _block("constraint", {"distinct_hosts": True, "attribute": c.LTarget or None,
                                         "value": c.RTarget or None}, indent)
        else:
            out += _block("constraint", {"attribute": c.LTarget, "value": c.RTarget, "operator": c.Operand}, indent)
    return out


def _update_block(u: s.UpdateStrategy | None, indent: str) -> list[str]:
    if u is None:
        return []
    return _block("update", {"stagger": u.Stagger, "max_parallel": u.MaxParallel, "health_check": u.HealthCheck,
                             "min_healthy_time": u.MinHealthyTime, "healthy_deadline": u.HealthyDeadline,
                             "auto_revert": u.AutoRevert, "canary": u.Canary}, indent)


def render_hcl(job: s.Job) -> str:
    """A job file saying what ``job`` says (the test's writer, not a library one)."""
    out = [f'job "{job.ID}" {{']
    out += _lines({"type": job.Type, "priority": job.Priority, "datacenters": job.Datacenters,
                   "region": job.Region, "all_at_once": job.AllAtOnce}, "  ")
    out += _constraint_blocks(job.Constraints, "  ") + _update_block(job.Update, "  ")
    if job.Periodic is not None:
        p = job.Periodic
        out += _block("periodic", {"cron": p.Spec, "enabled": p.Enabled, "prohibit_overlap": p.ProhibitOverlap,
                                   "time_zone": p.TimeZone}, "  ")
    if job.ParameterizedJob is not None:
        p = job.ParameterizedJob
        out += _block("parameterized", {"payload": p.Payload, "meta_required": p.MetaRequired,
                                        "meta_optional": p.MetaOptional}, "  ")
    out += _map_block("meta", job.Meta, "  ")
    for g in job.TaskGroups or ():
        inner = _constraint_blocks(g.Constraints, "    ") + _update_block(g.Update, "    ")
        if g.RestartPolicy is not None:
            r = g.RestartPolicy
            inner += _block("restart", {"attempts": r.Attempts, "interval": r.Interval, "delay": r.Delay,
                                        "mode": r.Mode}, "    ")
        if g.EphemeralDisk is not None:
            d = g.EphemeralDisk
            inner += _block("ephemeral_disk", {"sticky": d.Sticky, "migrate": d.Migrate, "size": d.SizeMB}, "    ")
        inner += _map_block("meta", g.Meta, "    ")
        for t in g.Tasks or ():
            body = _lines({"driver": t.Driver, "kill_timeout": t.KillTimeout}, "      ")
            body += _map_block("config", t.Config, "      ") + _map_block("env", t.Env, "      ")
            body += _map_block("meta", t.Meta, "      ") + _constraint_blocks(t.Constraints, "      ")
            if t.LogConfig is not None:
                body += _block("logs", {"max_files": t.LogConfig.MaxFiles,
                                        "max_file_size": t.LogConfig.MaxFileSizeMB}, "      ")
            if t.DispatchPayload is not None:
                body += _block("dispatch_payload", {"file": t.DispatchPayload.File}, "      ")
            if t.Resources is not None:
                r = t.Resources
                nets: list[str] = []
                for n in r.Networks or ():
                    ports = [line for p in n.DynamicPorts or () for line in _block(f'port "{p.Label}"', {}, "          ")]
                    ports += [line for p in n.ReservedPorts or ()
                              for line in _block(f'port "{p.Label}"', {"static": p.Value}, "          ")]
                    nets += _block("network", {"mbits": n.MBits}, "        ", ports)
                body += _block("resources", {"cpu": r.CPU, "memory": r.MemoryMB, "disk": r.DiskMB,
                                             "iops": r.IOPS}, "      ", nets)
            inner += [f'    task "{t.Name}" {{', *body, "    }"]
        out += _block(f'group "{g.Name}"', {"count": g.Count}, "  ", inner)
    out.append("}")
    return "\n".join(out) + "\n"


def _canonical(job: s.Job) -> object:
    wire = codec.to_wire(api_canonicalize(job))
    periodic = wire.get("Periodic")
    if periodic:  # a job file can only say cron
        periodic["SpecType"] = "cron"
    return wire


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(job=st.one_of(jobs(), jobs("batch", periodic=True), jobs("batch", parameterized=True)))
def test_a_generated_job_written_as_hcl_parses_back_to_itself(job: s.Job) -> None:
    text = render_hcl(job)
    parsed = codec.job_from_dict(parse(text))
    assert _canonical(parsed) == _canonical(job), text


# --- hostile input: a refusal, never a crash --------------------------------------------------

ODD_SHAPES = ['job = 1', 'job "x" = 1', 'job "x" { group = 1 }', 'job "x" { update = 1 }', 'job "x" { periodic = [1] }',
              'job "x" { priority = 1e999 }', 'job "x" { group "g" { restart = "x" } }', 'job "x" {' * 2000,
              'job "x" { group "g" { ephemeral_disk = 2 } }', 'job "x" { parameterized = true }', '\x00']


@pytest.mark.parametrize("text", ODD_SHAPES)
def test_odd_shapes_are_refused_not_crashed(text: str) -> None:
    try:
        parse(text)
    except JobspecError as exc:
        assert str(exc)


_PIECES = st.sampled_from(list('{}[]=",\n #/*<-$\\abc1.\t') + ["<<EOF\n", "\nEOF\n", "${", '"\\q"', "1e999"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mutated_job_file_parses_or_is_refused(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(VALID)).read_text()
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + text[at + data.draw(st.integers(1, 5)):]
        else:
            text = text[:at] + data.draw(_PIECES) + text[at:]
    try:
        job = parse(text)
    except JobspecError:
        return
    assert isinstance(job, dict) and "TaskGroups" in job
