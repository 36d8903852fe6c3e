"""``python -m difftest``: run seeded sequences against ``$NOMAD_BIN`` and nomadjobs.

Examples::

    NOMAD_BIN=/path/to/nomad python -m difftest --seeds 1-5 --sequences 20 --steps 25
    NOMAD_BIN=... python -m difftest --seeds 7 --sequences 1 --steps 100 --acl
    NOMAD_BIN=... python -m difftest --seeds 3 --record tests/golden/differential
    NOMAD_BIN=... python -m difftest --reproduce report.json --record tests/golden/differential

Each sequence gets a fresh agent and a fresh nomadjobs server. A diverging sequence is
shrunk (unless ``--no-shrink``) and printed as a reproduction; ``--record DIR`` writes
the real agent's answers to every sequence that matches as a transcript the CI suite
replays (``tests/test_differential.py``). Exit status: 0 when nothing diverged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Optional

from .ops import Op, generate
from .runner import Divergence, Result, run_sequence, shrink
from .servers import OursServer, RealAgent, Side, go_version


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def start_agent(binary: str, acl: bool, attempts: int = 3) -> RealAgent:
    """A fresh reference agent. Its ports are picked free and bound a moment later, so
    with runs side by side another agent can take one first: then it does not come
    up, and a new one on new ports is tried."""
    for _ in range(attempts - 1):
        try:
            return RealAgent(binary, acl=acl)
        except TimeoutError:
            pass
    return RealAgent(binary, acl=acl)


def run_live(binary: str, ops: list[Op], acl: bool, seed: int, stop_at_first: bool = True,
             log: Callable[[str], None] = lambda _: None, against_self: bool = False) -> Result:
    """One sequence on a fresh agent and a fresh nomadjobs server; with ``against_self``,
    on two fresh agents instead (how much the reference disagrees with itself)."""
    agent = start_agent(binary, acl)
    try:
        node = agent.node()
        ours: Side = start_agent(binary, acl) if against_self else OursServer(node, acl=acl, seed=seed)
        try:
            result = run_sequence(ops, agent, ours, stop_at_first=stop_at_first, log=log)
            result.node = node
            return result
        finally:
            ours.close()
    finally:
        agent.close()


def record(result: Result, directory: Path, name: str, acl: bool, binary: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"name": name, "acl": acl, "nomad": "0.7.1", "go": go_version(binary),
                                "node": result.node, "ops": [op.to_dict() for op in result.ops],
                                "exchanges": result.exchanges},
                               indent=1, sort_keys=True) + "\n")
    return path


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m difftest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nomad", default=os.environ.get("NOMAD_BIN"), help="the Nomad v0.7.1 binary (NOMAD_BIN)")
    p.add_argument("--seeds", default="1", help="seeds: 1,2,5-9 (one sequence per seed and index)")
    p.add_argument("--sequences", type=int, default=1, help="sequences per seed")
    p.add_argument("--offset", type=int, default=0,
                   help="first sequence index per seed (to split one seed over several runs)")
    p.add_argument("--steps", type=int, default=25, help="operations per sequence")
    p.add_argument("--acl", action="store_true", help="ACLs on, tokens of several policies")
    p.add_argument("--hostile", type=float, default=0.15, help="share of hostile operations")
    p.add_argument("--acl-ops", type=float, default=0.0,
                   help="share of ACL endpoint operations (policies, tokens, bootstrap)")
    p.add_argument("--system-ops", type=float, default=0.0,
                   help="share of forced garbage collections and summary reconciles")
    p.add_argument("--client-ops", type=float, default=0.0,
                   help="share of client agent and agent endpoint reads (allocation directory, errors)")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--keep-going", action="store_true", help="report every divergence of a sequence")
    p.add_argument("--record", type=Path, help="write matching sequences as transcripts here")
    p.add_argument("--report", type=Path, help="write a JSON summary here")
    p.add_argument("--reproduce", type=Path,
                   help="run the reproductions of a --report file instead of generated sequences")
    p.add_argument("--show", action="store_true", help="print both raw answers of a diverging step")
    p.add_argument("--confirm", type=int, default=2, metavar="N",
                   help="run a diverging sequence N more times; one that never diverges again is "
                        "reported as timing-dependent, apart from the divergences")
    p.add_argument("--self-check", action="store_true",
                   help="run every sequence on two real agents instead: the reference's own variance")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    if not a.nomad:
        p.error("no Nomad binary: set NOMAD_BIN or pass --nomad")

    def log(text: str) -> None:
        if a.verbose:
            print(text, flush=True)

    started = time.monotonic()
    runs = failures = unconfirmed = steps = 0
    classes: Counter[str] = Counter()
    found: list[dict[str, object]] = []
    if a.reproduce:
        found_before = json.loads(a.reproduce.read_text())["found"]
        plan = [(int(f["seed"]), [Op.from_dict(op) for op in f["reproduction"]]) for f in found_before]
    else:
        plan = [(seed * 100_000 + n, generate(seed * 100_000 + n, a.steps, acl=a.acl, hostile_share=a.hostile,
                                                    acl_share=a.acl_ops, system_share=a.system_ops,
                                                    client_share=a.client_ops))
                for seed in _seeds(a.seeds) for n in range(a.offset, a.offset + a.sequences)]
    for sequence_seed, ops in plan:
        result = run_live(a.nomad, ops, a.acl, sequence_seed, stop_at_first=not a.keep_going, log=log,
                          against_self=a.self_check)
        runs += 1
        steps += len(ops) if result.ok else result.divergences[0].step + 1
        if result.ok:
            print(f"seed {sequence_seed}: {len(ops)} steps match ({result.seconds:.1f} s)", flush=True)
            if a.record:
                name = f"{'repro' if a.reproduce else 'seq'}-{sequence_seed}{'-acl' if a.acl else ''}"
                record(result, a.record, name, a.acl, a.nomad)
            continue
        first: Divergence = result.divergences[0]
        print(f"seed {sequence_seed}: DIVERGES at step {first.step}", flush=True)
        print(first.report(), flush=True)
        if a.show:
            for side, ans in (("nomad", first.real), ("nomadjobs", first.ours)):
                index = ans.headers.get("x-nomad-index")
                print(f"  --- {side}: {ans.status} X-Nomad-Index {index}\n  {ans.body.decode(errors='replace')}")
        minimal = ops[:first.step + 1]
        again = sum(bool(run_live(a.nomad, minimal, a.acl, sequence_seed, against_self=a.self_check).divergences)
                    for _ in range(a.confirm))
        if a.confirm and not again:
            # Both sides are deterministic programs of the same sequence, but the agent
            # runs on real time; a divergence that never comes back depends on timing.
            unconfirmed += 1
            print(f"  did not reproduce in {a.confirm} more runs: timing-dependent", flush=True)
            found.append({"seed": sequence_seed, "step": first.step, "kind": first.op.kind,
                          "problems": first.problems[:10], "reproduced": f"0/{a.confirm}",
                          "reproduction": [op.to_dict() for op in minimal]})
            continue
        failures += 1
        classes[first.op.kind] += 1
        if not a.no_shrink:
            def fails(candidate: list[Op]) -> Optional[Divergence]:
                res = run_live(a.nomad, candidate, a.acl, sequence_seed)
                return res.divergences[0] if res.divergences else None
            minimal = shrink(minimal, fails, log=log)
        print(f"  reproduction ({len(minimal)} steps):", flush=True)
        for op in minimal:
            print(f"    {op.describe()}", flush=True)
        found.append({"seed": sequence_seed, "step": first.step, "kind": first.op.kind,
                      "problems": first.problems[:10], "reproduced": f"{again}/{a.confirm}",
                      "reproduction": [op.to_dict() for op in minimal]})
    elapsed = time.monotonic() - started
    print(f"\n{runs} sequences, {steps} steps, {failures} diverged, {unconfirmed} timing-dependent, "
          f"{elapsed:.0f} s; by operation: {dict(classes)}")
    if a.report:
        a.report.write_text(json.dumps({"sequences": runs, "steps": steps, "diverged": failures,
                                        "timing_dependent": unconfirmed, "by_kind": dict(classes),
                                        "found": found}, indent=1) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
