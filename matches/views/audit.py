"""Audit history pages: the event log, chain verification, CSV exports, timelines, reports and
erasure (docs/architecture.md, "Audit"). Auditors and admins read; only admins erase."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TypeVar

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from matches import audit_display, exports, roles
from matches.access import (
    Request,
    get_domain_or_404,
    get_group_or_404,
    require_perm,
    visible_domain_names,
    visible_domains,
)
from matches.forms import AuditFilterForm, ErasureForm, ReportFilterForm
from matches.models import PROFILE_ID_RE, AuditEvent
from matches.selectors import audit as audit_reads
from matches.selectors import quality as quality_reads
from matches.selectors import reports as report_reads
from matches.selectors import timelines
from matches.selectors.audit import AuditFilters
from matches.selectors.reports import ReportFilters
from matches.services import audit_history, erasure, history
from matches.views.htmx import render_page

ACTION_HINTS = (
    "decision.",
    "decision.merge",
    "decision.reject",
    "decision.split",
    "decision.undo",
    "decision.reopen",
    "group.",
    "comment.added",
    "merge.",
    "merges.",
    "pull.",
    "threshold.changed",
    "profile.erased",
    "export.",
    "audit.verified",
    "auth.",
    "user.",
    "domain.",
)


F = TypeVar("F", AuditFilters, ReportFilters)


def scoped(request: Request, filters: F) -> F:
    """The filters limited to the domains the reader may see; a filter naming a domain outside them is a 404."""
    names = visible_domain_names(request.user)
    if names is None:
        return filters
    if filters.domain and filters.domain not in names:
        raise Http404("No such domain.")
    return replace(filters, domains=names)


def _query_without(request: Request, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@require_GET
@require_perm(roles.VIEW_AUDIT)
def index(request: Request) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = scoped(request, form.filters())
    before = form.cleaned_data.get("before") if form.is_bound and form.is_valid() else None
    page = audit_reads.audit_page(filters, before=before) if not form.errors else audit_reads.AuditPage([], None)
    audit_display.decorate(page.events)
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "before": before,
        "query": _query_without(request, "before"),
        "action_hints": ACTION_HINTS,
        "domains": visible_domains(request.user).order_by("name").values_list("name", flat=True),
        "last_check": AuditEvent.objects.filter(action="audit.verified")
        .select_related("actor")
        .order_by("-seq")
        .first(),
    }
    return render_page(request, "matches/audit/list.html", context, partial="events", target="events")


@require_POST
@require_perm(roles.VIEW_AUDIT)
def verify(request: Request) -> HttpResponse:
    status = audit_history.audit_chain_verify(actor=request.user)
    if status.ok:
        messages.success(request, f"Audit chain intact: {status.checked} events verified.")
    else:
        messages.error(
            request,
            f"Audit chain BROKEN at event #{status.first_bad_seq}: {status.reason} "
            f"({status.checked} verified before it).",
        )
    return redirect("audit")


def _export_response(rows, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="matchdesk-{name}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@require_GET
@require_perm(roles.VIEW_AUDIT)
def export_events(request: Request) -> HttpResponseBase:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest("Invalid filters: " + "; ".join(str(e) for e in form.errors.values()))
    filters = scoped(request, form.filters())
    _, upto = audit_history.export_start(actor=request.user, kind="events", filters=filters)
    return _export_response(exports.events_csv(filters, upto_seq=upto), "audit-events")


@require_GET
@require_perm(roles.VIEW_AUDIT)
def export_decisions(request: Request) -> HttpResponseBase:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest("Invalid filters: " + "; ".join(str(e) for e in form.errors.values()))
    filters = scoped(request, form.filters())
    _, upto = audit_history.export_start(actor=request.user, kind="decisions", filters=filters)
    return _export_response(exports.decisions_csv(filters, upto_id=upto), "decisions")


# Timelines -----------------------------------------------------------------------------------------------------------


@require_GET
@require_perm(roles.VIEW_QUEUES)
def group_history(request: Request, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk)
    return render(
        request,
        "matches/audit/group_history.html",
        {"group": group, "group_page_url": audit_display.group_url(group.pk)},
    )


def _profile_id_or_404(profile_id: str) -> str:
    if not re.match(PROFILE_ID_RE, profile_id):
        raise Http404("Not a profile id")
    return profile_id


@require_GET
@require_perm(roles.VIEW_AUDIT)
def profile_timeline(request: Request, domain: str, profile_id: str) -> HttpResponse:
    domain_obj = get_domain_or_404(request, domain)
    profile_id = _profile_id_or_404(profile_id)
    aws_history = history.profile_history_fetch(domain=domain_obj, profile_id=profile_id)
    timeline = timelines.profile_timeline(domain=domain_obj, profile_id=profile_id)
    audit_display.decorate(timeline.events)
    context = {"erase_form": ErasureForm(), "attributes": _flat_attributes(timeline), "aws_history": aws_history}
    return render(request, "matches/audit/profile.html", {"t": timeline, **context})


def _flat_attributes(timeline) -> list[tuple[str, str]]:
    attrs = timeline.profile.attributes if timeline.profile else {}
    rows = []
    for key, value in sorted((attrs or {}).items()):
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", str(v)) for k, v in sorted(value.items()) if v not in ("", None)]
        elif value not in ("", None, [], {}):
            rows.append((key, str(value)))
    return rows


@require_POST
@require_perm(roles.ADMINISTER)
def profile_erase(request: Request, domain: str, profile_id: str) -> HttpResponse:
    domain_obj = get_domain_or_404(request, domain)
    profile_id = _profile_id_or_404(profile_id)
    form = ErasureForm(request.POST)
    back = reverse("profile-timeline", args=[domain_obj.name, profile_id])
    if not form.is_valid():
        messages.error(request, "Give a reason and confirm the erasure: it cannot be undone.")
        return redirect(back)
    try:
        result = erasure.profile_snapshots_erase(
            actor=request.user, domain=domain_obj, profile_id=profile_id, reason=form.cleaned_data["reason"]
        )
    except erasure.ErasureRefused as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(
        request,
        f"Erased profile {profile_id} from {result.snapshots_erased} snapshot(s) "
        f"({result.snapshots_emptied} emptied entirely); cached attributes cleared. "
        "Decisions and the audit chain remain.",
    )
    return redirect(back)


# Reports -------------------------------------------------------------------------------------------------------------


@require_GET
@require_perm(roles.VIEW_AUDIT)
def reports(request: Request) -> HttpResponse:
    form = ReportFilterForm(request.GET or None)
    f = scoped(request, form.filters())
    by_steward = audit_display.weekly_matrix(
        report_reads.decisions_per_week(f, by="actor__username"), by="actor__username"
    )
    by_bucket = audit_display.weekly_matrix(report_reads.decisions_per_week(f, by="bucket"), by="bucket")
    agreement = report_reads.agreement_by_steward(f)
    for row in agreement:
        row["merge_rate"] = audit_display.pct(row["merge_agreed"], row["merge_queue"])
        row["reject_rate"] = audit_display.pct(row["reject_agreed"], row["reject_queue"])
    reversals = report_reads.reversal_rates(f)
    for row in reversals:
        row["undo_rate"] = audit_display.pct(row["undone"], row["merges"])
        row["reopen_rate"] = audit_display.pct(row["reopened"], row["rejects"])
    totals = {k: sum(r[k] for r in reversals) for k in ("merges", "undone", "rejects", "reopened")}
    totals["undo_rate"] = audit_display.pct(totals["undone"], totals["merges"])
    totals["reopen_rate"] = audit_display.pct(totals["reopened"], totals["rejects"])
    agree_totals = {
        k: sum(r[k] for r in agreement)
        for k in ("decided", "merge_queue", "merge_agreed", "reject_queue", "reject_agreed", "review_queue")
    }
    agree_totals["merge_rate"] = audit_display.pct(agree_totals["merge_agreed"], agree_totals["merge_queue"])
    agree_totals["reject_rate"] = audit_display.pct(agree_totals["reject_agreed"], agree_totals["reject_queue"])
    qa = report_reads.qa_sample_results(f)
    for row in qa or []:
        row["agree_rate"] = audit_display.pct(row["agreed"], row["decided"])
    return render(
        request,
        "matches/audit/reports.html",
        {
            "form": form,
            "domains": visible_domains(request.user).order_by("name").values_list("name", flat=True),
            "by_steward": by_steward,
            "by_bucket": by_bucket,
            "bucket_chart": audit_display.stacked_bars(by_bucket),
            "agreement": agreement,
            "agree_totals": agree_totals,
            "reversals": reversals,
            "reversal_totals": totals,
            "qa": qa,
            "approvals": report_reads.approval_report(f),
            # Reviewer quality and overdue groups (docs/architecture.md, "Reviewer quality", "Assignment and age").
            "quality": quality_reads.steward_quality(f),
            "overdue": quality_reads.overdue_by_domain(domain=f.domain, domains=f.domains),
        },
    )
