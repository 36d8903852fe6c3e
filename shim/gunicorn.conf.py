"""Gunicorn settings for nomadjobs: ONE process, many threads.

The whole cluster lives in the worker's memory, so a second worker would be a
second, unrelated cluster. Concurrency comes from threads (gthread); blocking queries
park a thread for up to 5 minutes, so there are many threads and the worker timeout is
longer than any wait.

    gunicorn -c shim/gunicorn.conf.py 'shim:create_app()'
    NOMADJOBS_BIND=127.0.0.1:5646 gunicorn -c shim/gunicorn.conf.py      # shim.wsgi:app

Options for the cluster travel as NOMADJOBS_* environment variables (see shim/wsgi.py).
"""

import os
import sys

from shim.server import SWITCH_INTERVAL_S

sys.setswitchinterval(SWITCH_INTERVAL_S)  # read in the arbiter: the worker forked from it inherits it

wsgi_app = "shim.wsgi:app"  # used when no app is named on the command line
bind = [os.environ.get("NOMADJOBS_BIND", "127.0.0.1:4646")]

workers = 1  # the state is in-process: never more than one
worker_class = "gthread"
threads = int(os.environ.get("NOMADJOBS_THREADS", "1024"))  # one per request in flight (long polls included)
worker_connections = 2 * threads  # gthread refuses connections beyond this
backlog = 2048

# gthread heartbeats from its main loop, so a long poll in a thread never trips this;
# it only has to exceed Nomad's 5-minute blocking cap (plus jitter) with room to spare.
timeout = 600
graceful_timeout = int(os.environ.get("NOMADJOBS_GRACEFUL_TIMEOUT", "10"))  # then open long polls are cut
keepalive = 30  # Go's server keeps idle connections; clients (requests) reuse them

# Gunicorn >= 25.1 opens a control socket at a FIXED default path
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl): two servers side by side
# would fight over it. nomadjobs needs no runtime control, so it is off.
control_socket_disable = True

preload_app = False  # build the cluster inside the worker, after the fork
accesslog = os.environ.get("NOMADJOBS_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("NOMADJOBS_LOG_LEVEL", "info")
proc_name = "nomadjobs"
