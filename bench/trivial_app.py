"""The ceiling: a trivial Falcon WSGI app answering every GET with the same 1 KB JSON
(and every POST too, after reading its body).

Served by exactly the server configurations ``nomadjobs-server`` ships (see
``bench/serve_trivial.py``), it shows what the HTTP server plus Falcon cost on their
own, so the shim's figures can be read as a fraction of that ceiling.
"""

from __future__ import annotations

import falcon
import orjson

# 1,024 bytes of JSON, built once.
_PAD = "x" * (1024 - len(orjson.dumps({"ID": "trivial", "Pad": ""})))
BODY = orjson.dumps({"ID": "trivial", "Pad": _PAD})
assert len(BODY) == 1024, len(BODY)


class Constant:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/json"
        resp.set_header("X-Nomad-Index", "1")
        resp.data = BODY

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The POST ceiling: read the whole body (as a register does), answer the same.
        req.bounded_stream.read()
        self.on_get(req, resp)


def create_app() -> falcon.App:
    app = falcon.App()
    const = Constant()
    app.add_route("/trivial", const)
    app.add_route("/v1/jobs", const)  # so start-up probes can use the same path
    return app


app = create_app()
