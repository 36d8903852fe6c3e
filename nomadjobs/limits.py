"""What one request may ask of the server: the limits Nomad does not have.

Nomad 0.7.1 accepts a task group ``Count`` of two billion and then runs out of memory
placing it, reads request bodies of any size, and decodes JSON of any depth. An
embedded test server shares its process (and often its host) with the code under
test, so these are bounded here, each with a default far above what a real job needs,
and each listed in docs/differences.md. A request over a limit is refused whole,
before anything is written.
"""

from __future__ import annotations

import attrs

__all__ = ["Limits", "DEFAULT_LIMITS"]


def _positive(_: object, attribute: "attrs.Attribute[int]", value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


@attrs.frozen
class Limits:
    #: Allocations one job may ask for: the sum of its task groups' ``Count``
    #: (a 1,000,000 count takes about a second and 180 MB to plan).
    max_job_allocations: int = attrs.field(default=100_000, validator=_positive)
    #: Bytes in one request body (the HTTP server's; the library takes any size).
    max_body_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=_positive)
    #: Nesting of JSON arrays and objects in one request body. A job is about ten
    #: deep; answers are encoded by orjson, which stops at 255.
    max_json_depth: int = attrs.field(default=128, validator=_positive)

    def allocation_error(self, total: int) -> str:
        return (f"Job asks for {total} allocations; this server accepts at most "
                f"{self.max_job_allocations} per job (max_job_allocations)")


DEFAULT_LIMITS = Limits()
