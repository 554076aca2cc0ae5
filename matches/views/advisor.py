"""Two cards of the domain page, each loaded after the page: the auto-merge advisor, AWS's own auto-merging beside the
stewards' evidence (docs/architecture.md, "Auto-merge advisor"), and the drift between weekly runs ("Drift").
Admins only; they read, and change nothing."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from matches import roles
from matches.access import Request, require_perm
from matches.forms import AutoMergeScoreForm
from matches.models import Domain
from matches.selectors import advisor
from matches.selectors import drift as drift_reads
from matches.services import auto_merging
from matches.views.htmx import render_page

TEMPLATE = "matches/admin/auto_merging.html"


@require_GET
@require_perm(roles.ADMINISTER)
def domain_auto_merging(request: Request, name: str) -> HttpResponse:
    """AWS's setting (GetDomain, cached a minute; `fresh=1` reads it again), the score the evidence supports, and
    with `score=` a preview of auto-merging from that score (GetAutoMergingPreview) beside the evidence there."""
    domain = get_object_or_404(Domain, name=name)
    settings = auto_merging.auto_merging_settings(domain=domain, fresh=request.GET.get("fresh") == "1")
    at_setting = None
    if settings.ok and settings.enabled:
        at_setting = advisor.auto_merge_evidence(domain=domain, score=settings.min_score or 1.0)
    form = AutoMergeScoreForm(request.GET if "score" in request.GET else None)
    preview = candidate = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            score = float(form.cleaned_data["score"])
            preview = auto_merging.auto_merging_preview(domain=domain, min_score=score)
            candidate = advisor.auto_merge_evidence(domain=domain, score=score)
        else:
            status = 400
    baseline = at_setting or candidate or advisor.auto_merge_evidence(domain=domain, score=1.0)
    context = {
        "domain": domain,
        "settings": settings,
        "at_setting": at_setting,
        "warning": advisor.auto_merging_warning(
            enabled=settings.ok and settings.enabled, min_score=settings.min_score, evidence=at_setting
        ),
        "supported": baseline.supported if baseline else None,
        "target": baseline.target if baseline else None,
        "form": form,
        "preview": preview,
        "candidate": candidate,
    }
    return render_page(request, TEMPLATE, context, partial="advisor", target="auto-merging", status=status)


DRIFT_TEMPLATE = "matches/admin/drift.html"


@require_GET
@require_perm(roles.ADMINISTER)
def domain_drift(request: Request, name: str) -> HttpResponse:
    """The domain's latest runs, each beside the run before it: a chart and a table, flags first."""
    domain = get_object_or_404(Domain, name=name)
    drifts = drift_reads.domain_drifts(domain)
    context = {"domain": domain, "drifts": drifts[::-1], "chart": drift_reads.drift_chart(drifts)}
    return render_page(request, DRIFT_TEMPLATE, context, partial="drift", target="drift")
