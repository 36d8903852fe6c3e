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


def test_blocking_app_parks_a_query_until_the_next_post() -> None:
    import threading

    from bench import blocking_app

    client = falcon.testing.TestClient(blocking_app.create_app())
    index = int(client.simulate_get("/v1/job/bq").headers["X-Nomad-Index"])
    # An index already behind the current one answers at once.
    assert client.simulate_get("/v1/job/bq", params={"index": index - 1, "wait": "60s"}).status_code == 200
    answers: list[falcon.testing.Result] = []
    waiter = threading.Thread(target=lambda: answers.append(
        client.simulate_get("/v1/job/bq", params={"index": index, "wait": "60s"})))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not answers  # parked: nothing moved the index
    posted = client.simulate_post("/v1/jobs", body=job_body("bq"))
    waiter.join(10)
    assert not waiter.is_alive()
    assert posted.json["Index"] == index + 1
    assert answers[0].status_code == 200 and answers[0].content == BODY
    assert answers[0].headers["X-Nomad-Index"] == str(index + 1)


def test_blocking_app_wait_times_out() -> None:
    from bench import blocking_app

    client = falcon.testing.TestClient(blocking_app.create_app())
    index = int(client.simulate_get("/v1/job/bq").headers["X-Nomad-Index"])
    got = client.simulate_get("/v1/job/bq", params={"index": index, "wait": "50ms"})
    assert got.status_code == 200 and got.headers["X-Nomad-Index"] == str(index)
    assert blocking_app.parse_wait("2m") == 120.0
    assert blocking_app.parse_wait("1h") == blocking_app.WAIT_CAP_S
    assert blocking_app.parse_wait("xs") == blocking_app.WAIT_CAP_S
