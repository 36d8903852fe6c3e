"""Every ```python sample in docs/ and the README runs.

The samples of one document run in order in one namespace (a later sample may use
what an earlier one defined; those in the library docs are each complete). A sample
whose first line is ``# file: test_<name>.py`` is a pytest module instead: it runs in
a pytest subprocess (so through the installed ``nomadjobs`` plugin, as in a user's
suite) and all its tests must pass.
"""

from __future__ import annotations

import http.cookiejar  # noqa: F401 - imported before any test: see test_document_samples_run
import re
from pathlib import Path
from typing import NamedTuple

import nomad  # noqa: F401
import pytest
import requests  # noqa: F401

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
TEST_FILE = re.compile(r"^# file: (test_\w+\.py)\n")

# Samples of documents owned elsewhere that are fragments or benchmarks, not programs:
# (file, block number) -> why it is not run. A new fragment fails this test on purpose.
NOT_PROGRAMS = {
    ("docs/state-store.md", 2): "a fragment (`...` inside a write transaction)",
    ("docs/state-store.md", 3): "a fragment (db.wait signature)",
    ("docs/state-store.md", 4): "a benchmark over 100k rows: minutes, and prints timings",
}


class Sample(NamedTuple):
    path: str
    number: int  # 1-based, in document order
    line: int
    code: str


def samples() -> list[Sample]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        for number, match in enumerate(FENCE.finditer(text), start=1):
            line = text.count("\n", 0, match.start()) + 2
            found.append(Sample(str(doc.relative_to(ROOT)), number, line, match.group(1)))
    return found


SAMPLES = samples()


def test_the_documents_have_samples() -> None:
    by_doc = {s.path for s in SAMPLES}
    for doc in ("README.md", "docs/getting-started.md", "docs/library.md", "docs/cookbook.md",
                "docs/configuration.md"):
        assert doc in by_doc, f"{doc} lost its code samples"


def _is_test_file(sample: Sample) -> bool:
    return TEST_FILE.match(sample.code) is not None


PROGRAM_DOCS = sorted({s.path for s in SAMPLES if not _is_test_file(s)})
TEST_FILES = [s for s in SAMPLES if _is_test_file(s)]


@pytest.mark.parametrize("doc", PROGRAM_DOCS)
def test_document_samples_run(doc: str) -> None:
    # No pytester here: it restores sys.modules after each test, and a module imported
    # anew (http.cookiejar under requests) would no longer match classes already held.
    namespace = {"__name__": "__docs__"}
    for sample in SAMPLES:
        if sample.path != doc or _is_test_file(sample) or (doc, sample.number) in NOT_PROGRAMS:
            continue
        code = compile(sample.code, f"{sample.path}:{sample.line}", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation is the test input


@pytest.mark.parametrize("sample", TEST_FILES, ids=[f"{s.path}#{s.number}" for s in TEST_FILES])
def test_document_test_files_pass(sample: Sample, request: pytest.FixtureRequest) -> None:
    pytester: pytest.Pytester = request.getfixturevalue("pytester")
    name = TEST_FILE.match(sample.code)
    assert name is not None
    pytester.makepyfile(**{name.group(1)[:-3]: sample.code})
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes.get("passed", 0) >= 1 and not outcomes.get("failed"), \
        "\n".join(result.outlines[-30:])


def test_fragments_listed_still_exist() -> None:
    # A stale entry would silently skip a sample that took its place.
    present = {(s.path, s.number) for s in SAMPLES}
    assert set(NOT_PROGRAMS) <= present


def test_every_server_option_is_in_the_configuration_table() -> None:
    from shim.server import OPTIONS
    table = (ROOT / "docs" / "configuration.md").read_text()
    for option in OPTIONS:
        assert f"| `{option.flag}" in table and f"| `{option.env}` |" in table, option.flag


def test_every_public_state_reader_method_is_documented() -> None:
    from nomadjobs.state.store import StateReader
    library = (ROOT / "docs" / "library.md").read_text()
    public = [name for name in vars(StateReader) if not name.startswith("_")]
    assert len(public) > 30
    for name in public:
        assert f"`{name}(" in library or f"`{name}`" in library, name
