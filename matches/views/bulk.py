"""Bulk decisions on the merge or reject queue, offered only when the queue's estimate allows it (docs/thresholds.md,
"Bulk decisions"; docs/architecture.md, "Admin").

Select, confirm, run: a small job runs inline, a large one in a worker, its page polling the progress. The evidence
(estimate, interval, upper bound, decisions, runs, method) sits beside the confirmation; without it the page says why
and what would help, and the service refuses a job anyway."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from matches import roles
from matches.access import Request, require_perm
from matches.forms import BulkForm
from matches.models import BulkJob, Domain, Queue
from matches.selectors import admin as admin_reads
from matches.selectors import bulk as bulk_reads
from matches.services import bulk
from matches.views.htmx import render_page

admin_only = require_perm(roles.ADMINISTER)

BULK_LIST_LIMIT = 100


@require_http_methods(["GET", "POST"])
@admin_only
def page(request: Request, name: str, queue: str) -> HttpResponse:
    domain = get_object_or_404(Domain, name=name)
    if queue not in admin_reads.BULK_QUEUES:
        return HttpResponse(status=404)
    run = domain.latest_completed_run()
    policy = domain.policy()
    groups = admin_reads.queue_groups(run=run, policy=policy, queue=queue) if run else None
    evidence = bulk_reads.bulk_evidence(domain=domain, queue=queue, policy=policy, run=run)
    context = {
        "domain": domain,
        "queue": queue,
        "run": run,
        "policy": policy,
        "qa": admin_reads.latest_qa_result(domain=domain, queue=queue, run=run),
        "qa_drawn": domain.qa_samples.filter(queue=queue, run=run).order_by("-created_at", "-id").first(),
        "jobs": admin_reads.bulk_jobs_recent(domain=domain),
        "action_label": "Approve merges" if queue == Queue.MERGE else "Reject",
        "evidence": evidence,
    }
    if request.method == "POST":
        form = BulkForm(request.POST)
        if not form.is_valid():
            messages.error(request, form.error_text())
            return redirect("admin-bulk", name=domain.name, queue=queue)
        selected, scope = form.cleaned_data["groups"], form.cleaned_data["scope"]
        if scope == "selected" and not selected:
            messages.error(request, "Select at least one group, or choose all in the queue.")
            return redirect("admin-bulk", name=domain.name, queue=queue)
        if not evidence.allowed:
            messages.error(request, evidence.refusal)
            return redirect("admin-bulk", name=domain.name, queue=queue)
        if form.cleaned_data["step"] == "run":
            try:
                created = bulk.bulk_job_create(
                    actor=request.user,
                    domain=domain,
                    queue=queue,
                    policy_id=form.cleaned_data["policy_id"],
                    group_ids=selected if scope == "selected" else None,
                )
            except bulk.BulkRefused as exc:
                messages.error(request, str(exc))
                return redirect("admin-bulk", name=domain.name, queue=queue)
            if created.total <= bulk.INLINE_LIMIT:
                bulk.bulk_job_execute(job_id=created.pk)
            return redirect("admin-bulk-job", pk=created.pk)
        count = len(selected) if scope == "selected" else (groups.count() if groups is not None else 0)
        context.update(step="confirm", scope=scope, selected=selected, count=count)
        return render(request, "matches/admin/bulk.html", context)
    shown = list(groups[:BULK_LIST_LIMIT]) if groups is not None else []
    context.update(
        step="select",
        total=groups.count() if groups is not None else 0,
        groups=shown,
        sampled=admin_reads.qa_sampled_group_ids(g.pk for g in shown) if groups is not None else set(),
    )
    return render(request, "matches/admin/bulk.html", context)


@require_GET
@admin_only
def job(request: Request, pk: int) -> HttpResponse:
    job = get_object_or_404(BulkJob.objects.select_related("domain", "created_by"), pk=pk)
    return render_page(request, "matches/admin/bulk_job.html", {"job": job}, partial="progress")
