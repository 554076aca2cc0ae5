"""gunicorn's settings for Matchdesk's web process, read from the working directory by `gunicorn reviewapp.wsgi` (the
Dockerfile, docker-compose.yml and `make demo` all start it so). The command line still wins: they pass --bind.

Static files are WhiteNoise's (reviewapp/settings.py, after `collectstatic`), so gunicorn serves the whole site.
Environment: WEB_CONCURRENCY (workers, default 3), GUNICORN_TIMEOUT (seconds a request may take, default 60),
PROMETHEUS_MULTIPROC_DIR (an empty directory the workers share; a dead worker's files are marked so)."""

from __future__ import annotations

import os

wsgi_app = "reviewapp.wsgi"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# Shorter than scripts/supervise.py's 25 s before SIGKILL: a stop lets requests in flight finish, then ends.
graceful_timeout = 10
# No control socket (gunicornc): its default is one path per user, which two gunicorns on one host would share.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def child_exit(server, worker) -> None:  # noqa: ARG001 (gunicorn's hook signature)
    """A worker that exits leaves its metric files: prometheus_client's multiprocess mode must be told."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
