"""Serve ``bench.trivial_app:app`` with the SAME settings ``nomadjobs-server`` uses.

    python -m bench.serve_trivial --server gunicorn|granian --bind 127.0.0.1:PORT
    python -m bench.serve_trivial --server gunicorn|granian --bind 127.0.0.1:PORT --app blocking

``--app blocking`` serves ``bench.blocking_app:app`` (blocking queries only) instead.

gunicorn: ``shim/gunicorn.conf.py`` unchanged, only the app named on the command line
differs. granian: ``shim.server.run_granian`` itself is called, with the app target
swapped, so every Granian option (workers, blocking threads, backpressure, backlog...)
is the shipped one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

TARGETS = {"trivial": "bench.trivial_app:app", "blocking": "bench.blocking_app:app"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--server", choices=("gunicorn", "granian"), required=True)
    p.add_argument("--bind", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--app", choices=sorted(TARGETS), default="trivial")
    args = p.parse_args()
    target = TARGETS[args.app]
    import shim.server as srv

    threads = args.threads or srv.DEFAULT_THREADS
    host, port = srv.parse_bind(args.bind)
    os.environ["NOMADJOBS_BIND"] = args.bind
    os.environ["NOMADJOBS_THREADS"] = str(threads)
    os.environ.setdefault("NOMADJOBS_LOG_LEVEL", "warning")
    if args.server == "gunicorn":
        from gunicorn.app.wsgiapp import WSGIApplication

        conf = Path(srv.__file__).with_name("gunicorn.conf.py")
        sys.argv = ["bench-trivial", "-c", str(conf), target]
        WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()
    else:
        import granian

        real = granian.Granian

        def patched(_shipped_target: str, **kwargs):  # type: ignore[no-untyped-def]
            return real(target, **kwargs)

        granian.Granian = patched  # run_granian imports it at call time
        srv.run_granian(host, port, threads, "warning")


if __name__ == "__main__":
    main()
