"""Differential conformance: the same operations against a real Nomad v0.7.1 agent and
a nomadjobs server, side by side, compared answer by answer.

- :mod:`difftest.servers`: the two sides (a ``nomad agent -dev`` from ``NOMAD_BIN`` on
  loopback ports, and nomadjobs on a node mirrored from it), and a recorded side that
  plays a transcript back.
- :mod:`difftest.ops`: seeded generation of operation sequences over the endpoints
  nomadjobs serves, hostile input included.
- :mod:`difftest.compare`: normalisation (IDs, times, indexes, addresses) and comparison.
- :mod:`difftest.runner`: lockstep runs with settling, shrinking, and recording.

``python -m difftest --help`` runs it; docs/testing.md describes it.
"""
