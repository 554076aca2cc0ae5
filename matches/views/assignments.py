"""Assignment and age (docs/architecture.md, "Assignment and age"): a steward's "My work", and the admin page that
assigns work and sets the domain's review deadline. Roles are enforced here and again in the service."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from matches import roles
from matches.access import Request, get_domain_or_404, limited_domain_ids, require_perm
from matches.forms.workflow import AssignmentForm, DeadlineForm
from matches.models import Assignment, Domain
from matches.selectors import assignments as assignment_reads
from matches.selectors import review as review_reads
from matches.services import assignments

TEMPLATE = "matches/admin/assignments.html"


@require_GET
@require_perm(roles.DECIDE)
def my_work(request: Request) -> HttpResponse:
    lists = assignment_reads.my_work(actor=request.user, domain_ids=limited_domain_ids(request.user))
    return render(request, "matches/review/my_work.html", {"lists": lists})


def _context(domain: Domain, *, form: AssignmentForm | None = None, deadline: DeadlineForm | None = None) -> dict:
    qc = review_reads.queue_context(domain)
    return {
        "domain": domain,
        "lists": assignment_reads.domain_assignments(domain=domain),
        "form": form or AssignmentForm(),
        "deadline": deadline or DeadlineForm(initial={"days": domain.review_deadline_days}),
        "overdue": assignment_reads.overdue_count(domain=domain, run=qc.run),
    }


@require_GET
@require_perm(roles.ADMINISTER)
def page(request: Request, name: str) -> HttpResponse:
    return render(request, TEMPLATE, _context(get_domain_or_404(request, name)))


@require_POST
@require_perm(roles.ADMINISTER)
def add(request: Request, name: str) -> HttpResponse:
    domain = get_domain_or_404(request, name)
    form = AssignmentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            made = assignments.assignment_create(
                actor=request.user,
                domain=domain,
                assignee=data["assignee"],
                queue=data["queue"],
                count=data["count"],
                score_min=data["score_min"],
                score_max=data["score_max"],
                note=data["note"],
            )
            messages.success(
                request, f"Assigned {made.count} group{'s' if made.count != 1 else ''} to {made.assignee}."
            )
            return redirect("admin-assignments", domain.name)
        except assignments.AssignmentRefused as exc:
            form.add_error(None, str(exc))
    return render(request, TEMPLATE, _context(domain, form=form), status=400)


@require_POST
@require_perm(roles.ADMINISTER)
def close(request: Request, pk: int) -> HttpResponse:
    assignment = get_object_or_404(Assignment.objects.select_related("domain"), pk=pk)
    try:
        assignments.assignment_close(actor=request.user, assignment=assignment)
        messages.success(request, "Assignment withdrawn: its groups are everyone's again.")
    except assignments.AssignmentRefused as exc:
        messages.error(request, str(exc))
    return redirect("admin-assignments", assignment.domain.name)


@require_POST
@require_perm(roles.ADMINISTER)
def deadline(request: Request, name: str) -> HttpResponse:
    domain = get_domain_or_404(request, name)
    form = DeadlineForm(request.POST)
    if form.is_valid():
        try:
            assignments.review_deadline_set(actor=request.user, domain=domain, days=form.cleaned_data["days"])
            messages.success(request, "Review deadline saved.")
            return redirect("admin-assignments", domain.name)
        except assignments.AssignmentRefused as exc:
            form.add_error("days", str(exc))
    return render(request, TEMPLATE, _context(domain, deadline=form), status=400)
