"""The awaiting-approval list and what a second person does on it: approve, or send back with a reason
(docs/architecture.md, "Four-eyes approval"). Roles are enforced here and again in the service and on the model."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from matches import roles
from matches.access import Request, limited_domain_ids, require_domain, require_perm
from matches.models import Approval
from matches.selectors import approvals as approval_reads
from matches.services import approvals


@require_GET
@require_perm(roles.VIEW_QUEUES)
def index(request: Request) -> HttpResponse:
    domain = request.GET.get("domain", "")
    limit = limited_domain_ids(request.user)
    awaiting = approval_reads.approvals_awaiting(domain=domain, domain_ids=limit)
    for approval in awaiting:
        approval.refusal = approval.refusal_for(request.user)
    context = {
        "awaiting": awaiting,
        "sent_back": approval_reads.approvals_sent_back(domain=domain, domain_ids=limit),
        "domain_filter": domain,
    }
    return render(request, "matches/review/approvals.html", context)


def _subject(approval: Approval) -> str:
    if approval.decision is not None:
        return f"group {approval.decision.group.match_id}"
    return f"bulk job {approval.bulk_job_id}"


@require_POST
@require_perm(roles.DECIDE)
def approve(request: Request, pk: int) -> HttpResponse:
    approval = get_object_or_404(Approval.objects.select_related("decision__group"), pk=pk)
    require_domain(request.user, approval.domain_id)
    try:
        approvals.approval_approve(approval=approval, actor=request.user, note=request.POST.get("note", ""))
        messages.success(request, f"Approved {_subject(approval)}: its undo window starts now.")
    except approvals.ApprovalRefused as exc:
        messages.error(request, str(exc))
    return redirect("approvals")


@require_POST
@require_perm(roles.DECIDE)
def send_back(request: Request, pk: int) -> HttpResponse:
    approval = get_object_or_404(Approval.objects.select_related("decision__group"), pk=pk)
    require_domain(request.user, approval.domain_id)
    try:
        approvals.approval_send_back(approval=approval, actor=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, f"Sent back {_subject(approval)}; nothing runs until it is resolved.")
    except approvals.ApprovalRefused as exc:
        messages.error(request, str(exc))
    return redirect("approvals")
