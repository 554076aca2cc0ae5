from django.shortcuts import render
from django.views.decorators.http import require_GET

from matches import roles
from matches.access import require_perm
from matches.selectors import domains_overview


@require_GET
@require_perm(roles.VIEW_QUEUES)
def home(request):
    return render(request, "matches/home.html", {"overview": domains_overview()})
