"""Replay the golden Nomad v0.7.1 transcripts against the app and compare answers.

Comparison rules (what "matches" means):
- the status code, and for error answers the exact body text and content type;
- for JSON answers, the same shape: same keys, same value types, same values, except
  what two real recordings already disagreed on (VOLATILITY.txt) and what is volatile
  by nature: UUIDs, times, child-job time suffixes and task ``Config`` key order;
- indexes (``X-Nomad-Index`` and every ``*Index`` field) are compared relative to each
  other inside one answer: the same equalities and the same order, and zero stays zero.

Time: the cluster runs on a virtual clock advanced by the gap between the recorded
``Date`` headers, so allocations start, finish and turn healthy as they did there.
"""

from __future__ import annotations

import json
import re
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Optional

FIXTURES = Path(__file__).resolve().parent / "golden"
SEED_SAMPLES = FIXTURES / "seed_samples.json"


def _find_golden() -> Path:
    """The recordings vendored in tests/golden/ (or NOMADJOBS_GOLDEN_DIR)."""
    import os
    if os.environ.get("NOMADJOBS_GOLDEN_DIR"):
        return Path(os.environ["NOMADJOBS_GOLDEN_DIR"])
    return FIXTURES / "nomad-0.7.1"


def seed_samples() -> list[dict]:
    """The API page's JSON samples: [{section, kind, json (text)}]."""
    return json.loads(SEED_SAMPLES.read_text())["samples"]


GOLDEN_DIR = _find_golden()

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHILD_RE = re.compile(r"/(dispatch-\d+-[0-9a-f]{8}|periodic-\d+)")
TIME_KEYS = {"SubmitTime", "CreateTime", "ModifyTime", "Time", "AllocationTime", "StartedAt", "FinishedAt",
             "LastRestart", "StatusUpdatedAt", "NextPeriodicLaunch"}
INDEX_HEADER = "X-Nomad-Index"


def load_cases() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(GOLDEN_DIR.glob("[0-9][0-9]_*.json"))]


def load_volatility() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    path = GOLDEN_DIR / "VOLATILITY.txt"
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        out[name.strip()] = {p.strip() for p in rest.split(",") if p.strip()}
    return out


def _norm_path(path: str) -> str:
    # body_json[].ClassEligibility.v1:... -> ClassEligibility (a whole volatile map)
    path = path.replace("body_json", "").replace("[]", "").lstrip(".")
    return path.split(".v1:")[0]


class Mismatch(AssertionError):
    pass


def _is_index_key(key: str) -> bool:
    return key == "Index" or key.endswith("Index")


def compare_json(golden: Any, ours: Any, volatile: set[str], path: str = "",
                 indexes: Optional[list[tuple[str, int, int]]] = None) -> list[str]:
    """Differences between two JSON values under the rules above (empty when equal)."""
    problems: list[str] = []
    if indexes is None:
        indexes = []
    plain = path.replace("[*]", "")
    if plain in volatile or any(plain.startswith(v + ".") or plain == v for v in volatile):
        if type(golden) is not type(ours) and not (golden is None or ours is None):
            problems.append(f"{path}: type {type(golden).__name__} != {type(ours).__name__}")
        return problems
    key = path.rsplit(".", 1)[-1]
    if isinstance(golden, dict):
        if not isinstance(ours, dict):
            return [f"{path}: expected object, got {type(ours).__name__}"]
        if key == "Config" or key == "ClassEligibility":
            if key == "ClassEligibility":
                return []
        gk, ok = set(golden), set(ours)
        if gk != ok:
            if key in ("Summary", "TaskGroups", "DesiredTGUpdates", "FailedTGAllocs", "QueuedAllocations",
                       "Meta", "Config", "TaskStates", "Updates", "NodesAvailable", "ConstraintFiltered",
                       "Details"):
                return [f"{path}: keys {sorted(gk)} != {sorted(ok)}"]
            return [f"{path}: keys differ: missing {sorted(gk - ok)}, extra {sorted(ok - gk)}"]
        for k in golden:
            problems += compare_json(golden[k], ours[k], volatile, f"{path}.{k}" if path else k, indexes)
        return problems
    if isinstance(golden, list):
        if not isinstance(ours, list):
            return [f"{path}: expected array, got {type(ours).__name__}"]
        if len(golden) != len(ours):
            return [f"{path}: length {len(golden)} != {len(ours)}"]
        if golden and all(isinstance(x, dict) and UUID_RE.fullmatch(str(x.get("ID", ""))) and "CreateIndex" in x
                          for x in golden + ours):
            # Nomad orders these by random UUIDs; pair them up by creation order instead.
            golden = sorted(golden, key=lambda x: (x["CreateIndex"], x.get("ModifyIndex", 0)))
            ours = sorted(ours, key=lambda x: (x["CreateIndex"], x.get("ModifyIndex", 0)))
        for g, o in zip(golden, ours):
            problems += compare_json(g, o, volatile, f"{path}[*]", indexes)
        return problems
    if isinstance(golden, bool) or golden is None or isinstance(ours, bool) or ours is None:
        if golden != ours:
            problems.append(f"{path}: {golden!r} != {ours!r}")
        return problems
    if key in TIME_KEYS:
        if type(golden) is not type(ours):
            problems.append(f"{path}: type {type(golden).__name__} != {type(ours).__name__}")
        elif isinstance(golden, str) and (golden == "0001-01-01T00:00:00Z") != (ours == "0001-01-01T00:00:00Z"):
            problems.append(f"{path}: zero time {golden!r} vs {ours!r}")
        elif isinstance(golden, int) and (golden == 0) != (ours == 0):
            problems.append(f"{path}: zero {golden!r} vs {ours!r}")
        return problems
    if _is_index_key(key) and isinstance(golden, int) and isinstance(ours, int):
        indexes.append((path, golden, ours))
        return problems
    if isinstance(golden, str) and isinstance(ours, str):
        g = CHILD_RE.sub("/<child>", UUID_RE.sub("<uuid>", golden))
        o = CHILD_RE.sub("/<child>", UUID_RE.sub("<uuid>", ours))
        if g != o:
            problems.append(f"{path}: {golden!r} != {ours!r}")
        return problems
    if type(golden) is not type(ours) or golden != ours:
        problems.append(f"{path}: {golden!r} != {ours!r}")
    return problems


def compare_indexes(indexes: list[tuple[str, int, int]]) -> list[str]:
    problems = []
    for i, (pa, ga, oa) in enumerate(indexes):
        if (ga == 0) != (oa == 0):
            problems.append(f"{pa}: index zero-ness {ga} vs {oa}")
        for pb, gb, ob in indexes[i + 1:]:
            if (ga == gb) != (oa == ob) or (ga < gb) != (oa < ob):
                problems.append(f"{pa}={ga}/{oa} vs {pb}={gb}/{ob}: relation differs")
    return problems


class Replayer:
    """Drives a falcon test client through the transcript, keeping what it must carry
    over between cases (child job IDs, the virtual clock)."""

    def __init__(self, client: Any, cluster: Any) -> None:
        self.client = client
        self.cluster = cluster
        self.child_ids: dict[str, str] = {}
        # golden index -> ours, learned from answers, to rebase indexes that requests and
        # error texts quote (EnforceIndex bodies, blocking ?index=, conflict messages)
        self.index_map: dict[int, int] = {}
        self.last_date: Optional[float] = None
        self.volatility = load_volatility()

    def _advance_to(self, case: dict) -> None:
        date = dict(case["response"]["headers"]).get("Date")
        if date is None:
            return
        ts = parsedate_to_datetime(date).timestamp()
        if self.last_date is not None and ts > self.last_date:
            self.cluster.advance(ts - self.last_date)
        else:
            # Cases recorded within one second of Date: each one stands for 0.1 s, about
            # what a request and the clients' 200 ms update batching took in the recording.
            self.cluster.advance(0.1)
        self.last_date = ts

    def _path(self, path: str) -> str:
        for golden_id, ours in self.child_ids.items():
            path = path.replace(golden_id, ours)
        return path

    def request(self, case: dict) -> Any:
        req = case["request"]
        path = self._path(req["path"])
        body = req.get("body_raw")
        if body is None and req.get("body") is not None:
            body = json.dumps(req["body"])
        if body is not None and req.get("body") is not None and "JobModifyIndex" in req["body"]:
            rebased = dict(req["body"])
            rebased["JobModifyIndex"] = self.index_map.get(rebased["JobModifyIndex"], rebased["JobModifyIndex"])
            body = json.dumps(rebased)
        headers = {k: v for k, v in (req.get("headers") or {}).items()}
        path_only, _, query = path.partition("?")
        kwargs = dict(headers=headers, query_string=query or None)
        if body is not None:
            kwargs["body"] = body
        return self.client.simulate_request(req["method"], path_only, **kwargs)

    def run_case(self, case: dict) -> list[str]:
        self._advance_to(case)
        name = f"{case['seq']:02d}_{case['case']}.json"
        waker = None
        if case["case"] == "blocking_read_woken":
            waker = threading.Thread(target=self._toggle_stable, args=(0.3,))
            waker.start()
        if case["case"] == "blocking_read_woken" or "index=" in case["request"]["path"]:
            # the recorded query names absolute indexes; ask with ours
            case = self._rebase_blocking(case)
        result = self.request(case)
        if waker is not None:
            waker.join()
        return self.compare(case, result, name)

    def _rebase_blocking(self, case: dict) -> dict:
        case = json.loads(json.dumps(case))
        req = case["request"]
        path = req["path"]
        m = re.search(r"index=(\d+)", path)
        if m and int(m.group(1)) > 1:
            target = path.split("?")[0]
            current = self.client.simulate_get(self._path(target))
            ours = int(current.headers.get("X-Nomad-Index", "0"))
            req["path"] = path.replace(f"index={m.group(1)}", f"index={ours}")
        return case

    def _toggle_stable(self, delay: float) -> None:
        time.sleep(delay)
        job = json.loads(self.client.simulate_get("/v1/job/example").text)
        self.client.simulate_post("/v1/job/example/stable",
                                  body=json.dumps({"JobID": "example", "JobVersion": job["Version"],
                                                   "Stable": not job["Stable"]}))

    def compare(self, case: dict, result: Any, name: str) -> list[str]:
        expected = case["response"]
        problems = []
        if result.status_code != expected["status"]:
            problems.append(f"status {expected['status']} != {result.status_code} ({result.text[:200]!r})")
            return problems
        gheaders = {k.lower(): v for k, v in expected["headers"]}
        oheaders = {k.lower(): v for k, v in result.headers.items()}
        for h in ("content-type", "x-nomad-knownleader", "x-nomad-lastcontact"):
            if (h in gheaders) != (h in oheaders):
                problems.append(f"header {h}: {'missing' if h in gheaders else 'unexpected'}")
            elif h in gheaders and h != "x-nomad-lastcontact" and gheaders[h] != oheaders[h]:
                problems.append(f"header {h}: {gheaders[h]!r} != {oheaders[h]!r}")
        if ("x-nomad-index" in gheaders) != ("x-nomad-index" in oheaders):
            problems.append("header X-Nomad-Index presence differs")
        if expected.get("body_json") is None:
            text = re.sub(r"\b(\d+)\b", lambda m: str(self.index_map.get(int(m.group(1)), m.group(1))),
                          expected["body_raw"]) if "index" in expected["body_raw"] else expected["body_raw"]
            if result.text != text:
                problems.append(f"body {expected['body_raw']!r} != {result.text!r}")
            return problems
        try:
            ours = json.loads(result.text)
        except ValueError:
            return problems + [f"body is not JSON: {result.text[:200]!r}"]
        if case["case"] == "dispatch" and isinstance(ours, dict):
            self.child_ids[expected["body_json"]["DispatchedJobID"]] = ours["DispatchedJobID"]
        volatile = {_norm_path(p) for p in self.volatility.get(name, set())}
        indexes: list[tuple[str, int, int]] = []
        if "x-nomad-index" in gheaders and "x-nomad-index" in oheaders:
            indexes.append(("X-Nomad-Index", int(gheaders["x-nomad-index"]), int(oheaders["x-nomad-index"])))
        problems += compare_json(expected["body_json"], ours, volatile, "", indexes)
        for _, g, o in indexes:
            if g and o:
                self.index_map.setdefault(g, o)
        if "headers[][]" not in self.volatility.get(name, set()):
            problems += compare_indexes(indexes)
        return problems
