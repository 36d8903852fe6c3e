"""Lifecycles on the clock: simulated clients, deployment watcher, periodic dispatcher."""

from __future__ import annotations

from typing import Any, Optional


class Lifecycle:
    """Placeholder wiring; the simulated clients, deployment watcher and periodic
    dispatcher register their listeners here."""

    def __init__(self, cluster: Any, simulate_clients: bool = True) -> None:
        self.cluster = cluster
        self.simulate_clients = simulate_clients

    def next_periodic_launch(self, job: Any, after_ns: int) -> Optional[int]:
        return None
