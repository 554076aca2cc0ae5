"""Operations endpoints, without login (docs/architecture.md, "Operations"): /healthz (the process answers),
/readyz (its dependencies answer; 503 naming what is down) and /metrics (Prometheus text, for the allowed only)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from matches.observability import exposition
from matches.services import health


@require_GET
@never_cache
@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
@login_not_required
def readyz(request: HttpRequest) -> HttpResponse:
    checks = health.readiness()
    down = [check.name for check in checks if not check.ok]
    body = {
        "status": "ok" if not down else "unavailable",
        "down": down,
        "checks": {
            check.name: {
                "ok": check.ok,
                "seconds": round(check.seconds, 3),
                **({"error": check.error} if check.error else {}),
            }
            for check in checks
        },
    }
    return JsonResponse(body, status=503 if down else 200)


@require_GET
@never_cache
@login_not_required
def metrics(request: HttpRequest) -> HttpResponse:
    if not exposition.allowed(request):
        response = HttpResponse("Metrics need the bearer token or an allowed network.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = exposition.exposition()
    return HttpResponse(body, content_type=content_type)
