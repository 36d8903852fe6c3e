"""The bench's ceiling app: what it answers is what the HTTP rows are compared with."""

from __future__ import annotations

import falcon.testing

from bench.loadgen import job_body
from bench.trivial_app import BODY, create_app


def test_get_and_post_answer_the_same_kilobyte() -> None:
    client = falcon.testing.TestClient(create_app())
    got = client.simulate_get("/trivial")
    posted = client.simulate_post("/v1/jobs", body=job_body("ceiling"),
                                  headers={"Content-Type": "application/json"})
    assert len(BODY) == 1024
    for result in (got, posted):
        assert result.status_code == 200
        assert result.content == BODY
        assert result.headers["X-Nomad-Index"] == "1"
