"""The Merges page: scheduled (with countdown and undo), running, succeeded and failed merge jobs; retry and pause
(docs/architecture.md, "Merges").

Pausing has one endpoint per action (a domain, or all domains), each reading `paused` ("1" or "0") and going back to
a `next` on this site; the Operations page posts to the same endpoints."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from matches import roles
from matches.access import Request, require_domain, require_perm, return_address, visible_domains
from matches.models import Domain, MergeJob, OpsSwitch
from matches.selectors import merges as merge_reads
from matches.services import decisions, domains, merges
from matches.views.htmx import render_fragment, render_page

TEMPLATE = "matches/merges/list.html"
PAGE_SIZE = 50


def _countdown(seconds: float) -> str:
    seconds = int(seconds)
    if seconds <= 0:
        return "due now"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"in {hours} h {minutes:02d} m"
    if minutes:
        return f"in {minutes} m {secs:02d} s"
    return f"in {secs} s"


def _decorate(jobs, user, *, paused_all: bool | None = None) -> None:
    """What each row shows and offers, computed once here instead of in the template. A scheduled job of a paused
    domain (or while all merges are paused) reads "paused", not "due now": it waits for the resume."""
    now = timezone.now()
    if paused_all is None:
        paused_all = OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)
    for job in jobs:
        decision = job.decision
        job.group = decision.group
        job.domain = decision.group.run.domain
        job.countdown = _countdown((job.not_before - now).total_seconds())
        job.is_due = job.not_before <= now
        job.paused = paused_all or job.domain.merges_paused
        if job.plan:
            job.chunks_total = len(job.plan)
        else:
            try:
                job.chunks_total = len(merges.merge_plan(decision))
            except merges.MergePlanError:
                job.chunks_total = 0
        job.merge_count = len(decision.merged_profile_ids)
        job.undoable = decision.can_undo(user)
        job.retryable = job.can_retry(user)
        job.live = job.status in (MergeJob.Status.SCHEDULED, MergeJob.Status.RUNNING)


def _back(request: Request) -> HttpResponse:
    target = return_address(request, request.POST.get("next") or request.GET.get("next"))
    return HttpResponseRedirect(target) if target else redirect("merges")


@require_GET
@require_perm(roles.VIEW_QUEUES)
def index(request: Request) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in MergeJob.Status.values:
        status = ""
    visible = visible_domains(request.user)
    domains = list(visible.order_by("name"))
    domain = next((d for d in domains if d.name == request.GET.get("domain")), None)
    if request.GET.get("domain") and domain is None and Domain.objects.filter(name=request.GET["domain"]).exists():
        raise Http404("No such domain.")
    page = Paginator(merge_reads.merge_jobs_list(status=status, domain=domain, domains=visible), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    paused_all = OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES)
    _decorate(page.object_list, request.user, paused_all=paused_all)
    context = {
        "page": page,
        "jobs": page.object_list,
        "status": status,
        "statuses": MergeJob.Status.values,
        "counts": merge_reads.merge_job_counts(domain=domain, domains=visible),
        "domain": domain,
        "domains": domains,
        "paused_all": paused_all,
        "now": timezone.now(),
    }
    return render_page(request, TEMPLATE, context, partial="jobs")


@require_GET
@require_perm(roles.VIEW_QUEUES)
def row(request: Request, pk: int) -> HttpResponse:
    """One row, polled every 5 s while the job is scheduled or running."""
    job = merge_reads.merge_job_get(pk)
    require_domain(request.user, job.decision.group.run.domain_id)
    _decorate([job], request.user)
    return render_fragment(request, TEMPLATE, "job-row", {"job": job})


@require_GET
@require_perm(roles.VIEW_QUEUES)
def countdown(request: Request, pk: int) -> HttpResponse:
    """The countdown badge alone (for the group page), polled every 5 s while the job waits or runs."""
    job = merge_reads.merge_job_get(pk)
    require_domain(request.user, job.decision.group.run.domain_id)
    _decorate([job], request.user)
    return render_fragment(request, TEMPLATE, "countdown", {"job": job, "poll": True})


def _after_action(request: Request, job: MergeJob, note: str, *, ok: bool) -> HttpResponse:
    if request.htmx:
        job = merge_reads.merge_job_get(job.pk)
        _decorate([job], request.user)
        return render_fragment(request, TEMPLATE, "job-row", {"job": job, "note": note, "note_ok": ok})
    (messages.success if ok else messages.error)(request, note)
    return _back(request)


@require_POST
@require_perm(roles.DECIDE)
def undo(request: Request, pk: int) -> HttpResponse:
    job = merge_reads.merge_job_get(pk)
    require_domain(request.user, job.decision.group.run.domain_id)
    try:
        decisions.decision_undo(
            decision=job.decision, actor=request.user, reason=request.POST.get("reason", "").strip()
        )
    except decisions.DecisionRefused as exc:
        return _after_action(request, job, str(exc), ok=False)
    note = f"Merge undone: group {job.decision.group.match_id} is back in its queue."
    return _after_action(request, job, note, ok=True)


@require_POST
@require_perm(roles.ADMINISTER)
def retry(request: Request, pk: int) -> HttpResponse:
    job = merge_reads.merge_job_get(pk)
    require_domain(request.user, job.decision.group.run.domain_id)
    try:
        merges.merge_job_retry(job=job, actor=request.user)
    except merges.MergeRefused as exc:
        return _after_action(request, job, str(exc), ok=False)
    return _after_action(request, job, "Retry scheduled: the profiles are re-checked before any merge call.", ok=True)


def _paused(request: Request) -> bool:
    return request.POST.get("paused") == "1"


@require_POST
@require_perm(roles.ADMINISTER)
def domain_pause(request: Request, name: str) -> HttpResponse:
    """Pause or resume one domain's merges (`paused` = "1" or "0")."""
    domain = get_object_or_404(Domain, name=name)
    paused = _paused(request)
    domains.domain_set_merges_paused(actor=request.user, domain=domain, paused=paused)
    messages.success(request, f"Merges {'paused' if paused else 'resumed'} for {domain.name}.")
    return _back(request)


@require_POST
@require_perm(roles.ADMINISTER)
def pause_all(request: Request) -> HttpResponse:
    """Pause or resume every domain's merges (`paused` = "1" or "0"); a resume leaves domain pauses in place."""
    paused = _paused(request)
    merges.merges_set_paused_all(actor=request.user, paused=paused)
    messages.success(
        request, "Merges paused for every domain." if paused else "Merges resumed (domain pauses still apply)."
    )
    return _back(request)
