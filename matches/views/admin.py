"""Admin pages: domains, thresholds (preview, evidence, QA samples), bulk decisions, pulls, operations, users.

Every view needs the Administer permission; plain forms work without JavaScript, htmx swaps the inline partials."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from matches import aws, roles
from matches import evidence as ev
from matches import selectors_admin as sel
from matches.access import require_perm
from matches.forms_admin import DomainForm, UserCreateForm
from matches.models import BulkJob, Domain, MatchRun, OpsSwitch, QASample, QuarantinedMatch
from matches.services import bulk, ops, qa, thresholds
from matches.services.domains import domain_save, domain_set_merges_paused
from matches.services.merges import merges_set_paused_all
from matches.services.users import LastAdminError, user_create, user_set_active, user_set_roles

User = get_user_model()
admin_only = require_perm(roles.ADMINISTER)


def _render(request: HttpRequest, template: str, context: dict, partial: str | None = None, status: int = 200):
    name = f"{template}#{partial}" if partial and request.htmx else template
    return render(request, name, context, status=status)


def _domain(name: str) -> Domain:
    return get_object_or_404(Domain, name=name)


# Domains -------------------------------------------------------------------------------------------------------------


@require_GET
@admin_only
def domains(request):
    return render(request, "matches/admin/domains.html", {"domains": Domain.objects.all(), "form": DomainForm()})


@require_POST
@admin_only
def domain_add(request):
    form = DomainForm(request.POST)
    if form.is_valid():
        name = form.cleaned_data["name"]
        if Domain.objects.filter(name=name).exists():
            form.add_error("name", "A domain with this name exists already: edit it instead.")
        else:
            try:
                domain_save(actor=request.user, name=name, **form.values())
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Domain {name} added with the default thresholds.")
                return redirect("admin_domain_edit", name=name)
    return render(request, "matches/admin/domains.html", {"domains": Domain.objects.all(), "form": form}, status=400)


@require_http_methods(["GET", "POST"])
@admin_only
def domain_edit(request, name: str):
    domain = _domain(name)
    if request.method == "POST":
        form = DomainForm(request.POST, editing=True, initial={"name": domain.name})
        if form.is_valid():
            try:
                domain_save(actor=request.user, name=domain.name, **form.values())
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Saved {domain.name}.")
                return redirect("admin_domain_edit", name=domain.name)
    else:
        initial = {f: getattr(domain, f) for f in DomainForm.base_fields}
        form = DomainForm(initial=initial, editing=True)
    status = 400 if form.errors else 200
    return render(request, "matches/admin/domain_edit.html", {"domain": domain, "form": form}, status=status)


def connection_report(domain: Domain) -> dict:
    """GetDomain, reduced to what an admin needs to see: matching, its schedule and AWS's own auto-merging."""
    try:
        response = aws.get_domain(domain)
    except aws.MatchdeskAwsError as exc:
        return {"ok": False, "error": str(exc), "code": exc.code}
    matching = response.get("Matching") or {}
    auto = matching.get("AutoMerging") or {}
    schedule = matching.get("JobSchedule") or {}
    return {
        "ok": True,
        "matching_enabled": bool(matching.get("Enabled")),
        "schedule_day": schedule.get("DayOfTheWeek", ""),
        "schedule_time": schedule.get("Time", ""),
        "auto_merging": bool(auto.get("Enabled")),
        "auto_min_score": auto.get("MinAllowedConfidenceScoreForMerging"),
        "profile_count": (response.get("Stats") or {}).get("ProfileCount"),
    }


@require_POST
@admin_only
def domain_test(request, name: str):
    domain = _domain(name)
    context = {"domain": domain, "connection": connection_report(domain), "form": None}
    if request.htmx:
        return render(request, "matches/admin/domain_edit.html#connection", context)
    initial = {f: getattr(domain, f) for f in DomainForm.base_fields}
    context["form"] = DomainForm(initial=initial, editing=True)
    return render(request, "matches/admin/domain_edit.html", context)


# Thresholds ----------------------------------------------------------------------------------------------------------


def _target(request) -> float:
    try:
        target = float(request.GET.get("target") or ev.DEFAULT_TARGET)
    except ValueError:
        return ev.DEFAULT_TARGET
    return target if 0.5 <= target < 1 else ev.DEFAULT_TARGET


def _proposed(request, domain: Domain) -> tuple[Decimal, Decimal, str]:
    policy = domain.policy()
    merge = request.GET.get("merge_min", policy.merge_min)
    reject = request.GET.get("reject_below", policy.reject_below)
    try:
        merge, reject = thresholds.threshold_parse(merge_min=merge, reject_below=reject)
    except thresholds.ThresholdInvalid as exc:
        return policy.merge_min, policy.reject_below, str(exc)
    return merge, reject, ""


def _thresholds_context(request, domain: Domain, merge: Decimal, reject: Decimal, error: str = "") -> dict:
    target = _target(request)
    run = domain.latest_completed_run()
    evidence = sel.domain_evidence(domain=domain, target=target)
    return {
        "domain": domain,
        "policy": domain.policy(),
        "merge_min": merge,
        "reject_below": reject,
        "error": error,
        "preview": sel.threshold_preview(domain=domain, merge_min=merge, reject_below=reject),
        "evidence": evidence,
        "band_rows": sel.band_rows(evidence),
        "target": target,
        "target_label": f"{target * 100:g}%",
        "min_n": ev.MIN_DECISIONS,
        "needed": max(ev.MIN_DECISIONS, ev.unanimous_needed(target)),
        "history": sel.policy_history(domain=domain),
        "qa_results": sel.qa_results(domain=domain),
        "latest_run": run,
        "note": request.POST.get("note", "") if request.method == "POST" else "",
    }


@require_GET
@admin_only
def thresholds_page(request, name: str):
    domain = _domain(name)
    merge, reject, error = _proposed(request, domain)
    context = _thresholds_context(request, domain, merge, reject, error)
    return render(request, "matches/admin/thresholds.html", context)


@require_GET
@admin_only
def thresholds_preview(request, name: str):
    domain = _domain(name)
    merge, reject, error = _proposed(request, domain)
    if not request.htmx:
        return redirect(f"{reverse('admin_thresholds', args=[domain.name])}?{request.GET.urlencode()}")
    preview = sel.threshold_preview(domain=domain, merge_min=merge, reject_below=reject)
    context = {"domain": domain, "preview": preview, "merge_min": merge, "reject_below": reject, "error": error}
    return render(request, "matches/admin/thresholds.html#preview", context)


@require_POST
@admin_only
def thresholds_save(request, name: str):
    domain = _domain(name)
    merge, reject, note = (
        request.POST.get("merge_min", ""),
        request.POST.get("reject_below", ""),
        request.POST.get("note", ""),
    )
    try:
        policy = thresholds.threshold_set(
            actor=request.user, domain=domain, merge_min=merge, reject_below=reject, note=note
        )
    except thresholds.ThresholdInvalid as exc:
        current = domain.policy()
        context = _thresholds_context(request, domain, current.merge_min, current.reject_below, str(exc))
        context.update(raw_merge=merge, raw_reject=reject)
        return render(request, "matches/admin/thresholds.html", context, status=400)
    messages.success(
        request, f"Thresholds in force for {domain.name}: merge ≥ {policy.merge_min}, reject < {policy.reject_below}."
    )
    return redirect("admin_thresholds", name=domain.name)


# QA samples ----------------------------------------------------------------------------------------------------------


@require_POST
@admin_only
def qa_draw(request, name: str):
    domain = _domain(name)
    try:
        percent = Decimal(request.POST.get("percent", "2"))
        seed = request.POST.get("seed", "").strip()
        sample = qa.qa_sample_draw(
            actor=request.user,
            domain=domain,
            queue=request.POST.get("queue", ""),
            rate=percent / 100,
            seed=int(seed) if seed else None,
        )
    except (qa.SampleRefused, ArithmeticError, ValueError) as exc:
        messages.error(request, f"No sample drawn: {exc}")
    else:
        messages.success(
            request,
            f"Drew {sample.size} of {sample.population} groups from the {sample.queue} queue (seed {sample.seed}); "
            "they go to stewards in blind review.",
        )
    return redirect(f"{reverse('admin_thresholds', args=[domain.name])}#qa")


# Bulk decisions ------------------------------------------------------------------------------------------------------

BULK_LIST_LIMIT = 100


@require_http_methods(["GET", "POST"])
@admin_only
def bulk_page(request, name: str, queue: str):
    domain = _domain(name)
    if queue not in QASample.Queue.values:
        return HttpResponse(status=404)
    run = domain.latest_completed_run()
    policy = domain.policy()
    groups = sel.queue_groups(run=run, policy=policy, queue=queue) if run else None
    context = {
        "domain": domain,
        "queue": queue,
        "run": run,
        "policy": policy,
        "qa": sel.latest_qa_result(domain=domain, queue=queue, run=run),
        "qa_drawn": domain.qa_samples.filter(queue=queue, run=run).order_by("-created_at", "-id").first(),
        "jobs": sel.bulk_jobs_recent(domain=domain),
        "action_label": "Approve merges" if queue == "merge" else "Reject",
    }
    if request.method == "POST":
        selected = [int(pk) for pk in request.POST.getlist("group") if pk.isdigit()]
        scope = request.POST.get("scope", "selected")
        if scope == "selected" and not selected:
            messages.error(request, "Select at least one group, or choose all in the queue.")
            return redirect("admin_bulk", name=domain.name, queue=queue)
        if request.POST.get("step") == "run":
            try:
                job = bulk.bulk_job_create(
                    actor=request.user,
                    domain=domain,
                    queue=queue,
                    policy_id=int(request.POST.get("policy_id", 0)),
                    group_ids=selected if scope == "selected" else None,
                )
            except bulk.BulkRefused as exc:
                messages.error(request, str(exc))
                return redirect("admin_bulk", name=domain.name, queue=queue)
            if job.total <= bulk.INLINE_LIMIT:
                bulk.bulk_job_execute(job_id=job.pk)
            return redirect("admin_bulk_job", pk=job.pk)
        count = len(selected) if scope == "selected" else (groups.count() if groups is not None else 0)
        context.update(step="confirm", scope=scope, selected=selected, count=count)
        return render(request, "matches/admin/bulk.html", context)
    total = groups.count() if groups is not None else 0
    context.update(
        step="select",
        total=total,
        groups=list(groups[:BULK_LIST_LIMIT]) if groups is not None else [],
        sampled=sel.qa_sampled_group_ids(g.pk for g in groups[:BULK_LIST_LIMIT]) if groups is not None else set(),
    )
    return render(request, "matches/admin/bulk.html", context)


@require_GET
@admin_only
def bulk_job(request, pk: int):
    job = get_object_or_404(BulkJob.objects.select_related("domain", "created_by"), pk=pk)
    return _render(request, "matches/admin/bulk_job.html", {"job": job}, partial="progress")


# Runs and pulls ------------------------------------------------------------------------------------------------------


@require_GET
@admin_only
def runs(request):
    recent = list(sel.runs_recent())
    context = {
        "domains": Domain.objects.all(),
        "runs": recent,
        "any_running": any(r.status == MatchRun.Status.RUNNING for r in recent),
    }
    context["running_domains"] = {r.domain_id for r in MatchRun.objects.filter(status=MatchRun.Status.RUNNING)}
    return _render(request, "matches/admin/runs.html", context, partial="runs-table")


@require_POST
@admin_only
def pull_now(request, name: str):
    domain = _domain(name)
    try:
        ops.pull_request(domain=domain, actor=request.user)
    except ops.PullRefused as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, f"Pull of {domain.name} queued: a worker starts it in a moment.")
    return redirect("admin_runs")


@require_GET
@admin_only
def run_detail(request, pk: int):
    run = get_object_or_404(MatchRun.objects.select_related("domain", "started_by"), pk=pk)
    context = {"run": run, "quarantine": sel.run_quarantine(run)}
    return _render(request, "matches/admin/run.html", context, partial="run-progress")


@require_POST
@admin_only
def quarantine_ack(request, pk: int):
    item = get_object_or_404(QuarantinedMatch.objects.select_related("run__domain"), pk=pk)
    if ops.quarantine_acknowledge(actor=request.user, item=item):
        messages.success(request, "Acknowledged.")
    item.refresh_from_db()
    if request.htmx:
        return render(request, "matches/admin/run.html#quarantine-row", {"item": item, "run": item.run})
    return redirect("admin_run", pk=item.run_id)


# Operations ----------------------------------------------------------------------------------------------------------


@require_GET
@admin_only
def operations(request):
    from django_celery_beat.models import PeriodicTask

    context = {
        "heartbeats": sel.heartbeats(),
        "stale_after": sel.HEARTBEAT_STALE_SECONDS,
        "pause_all": OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES),
        "domains": Domain.objects.all(),
        "periodic": PeriodicTask.objects.select_related("interval", "crontab").order_by("name")[:50],
    }
    return _render(request, "matches/admin/operations.html", context, partial="heartbeats")


@require_POST
@admin_only
def domain_pause(request, name: str):
    domain = _domain(name)
    paused = request.POST.get("paused") == "1"
    domain_set_merges_paused(actor=request.user, domain=domain, paused=paused)
    messages.success(request, f"Merges {'paused' if paused else 'resumed'} for {domain.name}.")
    return redirect("admin_operations")


@require_POST
@admin_only
def pause_all(request):
    on = request.POST.get("on") == "1"
    merges_set_paused_all(actor=request.user, paused=on)
    messages.success(
        request, "Merges paused for every domain." if on else "Merges resumed (domain pauses still apply)."
    )
    return redirect("admin_operations")


# Users ---------------------------------------------------------------------------------------------------------------


def _users_context(form=None) -> dict:
    users = User.objects.prefetch_related("groups").order_by("username")
    rows = [{"user": u, "roles": sorted(g.name for g in u.groups.all() if g.name in roles.ROLES)} for u in users]
    return {"rows": rows, "all_roles": roles.ROLES, "form": form or UserCreateForm()}


@require_GET
@admin_only
def users(request):
    return render(request, "matches/admin/users.html", _users_context())


@require_POST
@admin_only
def user_add(request):
    form = UserCreateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        user_create(
            actor=request.user,
            username=data["username"],
            password=data["password"],
            role_names=data["roles"],
            email=data["email"],
        )
        messages.success(request, f"Created {data['username']}.")
        return redirect("admin_users")
    return render(request, "matches/admin/users.html", _users_context(form), status=400)


@require_POST
@admin_only
def user_roles(request, pk: int):
    user = get_object_or_404(User, pk=pk)
    wanted = [r for r in request.POST.getlist("roles") if r in roles.ROLES]
    try:
        user_set_roles(actor=request.user, user=user, role_names=wanted)
    except LastAdminError as exc:
        messages.error(request, f"Roles of {user.get_username()} not changed: {exc}")
    else:
        messages.success(request, f"{user.get_username()}: {', '.join(wanted) or 'no role'}.")
    return redirect("admin_users")


@require_POST
@admin_only
def user_active(request, pk: int):
    user = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        user_set_active(actor=request.user, user=user, active=active)
    except LastAdminError as exc:
        messages.error(request, f"{user.get_username()} not deactivated: {exc}")
    else:
        messages.success(request, f"{user.get_username()} {'reactivated' if active else 'deactivated'}.")
    return redirect("admin_users")
