"""The home page: every domain with its queues (docs/architecture.md, "Review")."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from matches import roles
from matches.access import Request, require_perm, visible_domains
from matches.selectors import home as home_reads


@require_GET
@require_perm(roles.VIEW_QUEUES)
def home(request: Request) -> HttpResponse:
    return render(
        request, "matches/home.html", {"overview": home_reads.domains_overview(domains=visible_domains(request.user))}
    )
