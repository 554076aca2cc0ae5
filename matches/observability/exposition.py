"""The /metrics answer and who may read it.

Access (docs/architecture.md, "Operations"): a request is let in when it carries `Authorization: Bearer <METRICS_TOKEN>`
(when that setting is set), or when its address (REMOTE_ADDR: the peer, never a forwarded header a client can write)
is inside `METRICS_ALLOWED_NETWORKS` (loopback by default). Behind a reverse proxy every peer is the proxy: use the
token, or an empty network list.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode) so the
request metrics of django-prometheus add up across workers; Matchdesk's own metrics are read from Postgres and Redis
at scrape time and are the same whichever worker answers."""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpRequest
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from matches.observability.collectors import MatchdeskCollector

_own = CollectorRegistry(auto_describe=False)
_own.register(MatchdeskCollector())


def allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[len("Bearer ") :].encode(), token.encode()):
            return True
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


def exposition() -> tuple[bytes, str]:
    """Prometheus text: django-prometheus' process metrics (all workers' in multiprocess mode), then Matchdesk's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_own), CONTENT_TYPE_LATEST
