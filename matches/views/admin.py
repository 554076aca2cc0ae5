"""Admin pages: domains, QA samples, pulls and runs, operations, users (docs/architecture.md, "Admin").
Thresholds and calibration samples are in views/thresholds.py, bulk decisions in views/bulk.py; pausing merges is
one endpoint per action in views/merges.py, which the Operations page posts to.

Every view needs the Administer permission; plain forms work without JavaScript, htmx swaps the inline partials."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from matches import roles
from matches.access import Request, require_perm
from matches.forms import DomainForm, QaDrawForm, UserCreateForm
from matches.models import Domain, MatchRun, OpsSwitch, QuarantinedMatch
from matches.selectors import access as access_reads
from matches.selectors import admin as admin_reads
from matches.services import domains as domain_service
from matches.services import ops, qa
from matches.services import users as user_service
from matches.views.htmx import render_fragment, render_page

User = get_user_model()
admin_only = require_perm(roles.ADMINISTER)


def _domain(name: str) -> Domain:
    return get_object_or_404(Domain, name=name)


# Domains -------------------------------------------------------------------------------------------------------------


@require_GET
@admin_only
def domains(request: Request) -> HttpResponse:
    return render(request, "matches/admin/domains.html", {"domains": Domain.objects.all(), "form": DomainForm()})


@require_POST
@admin_only
def domain_add(request: Request) -> HttpResponse:
    form = DomainForm(request.POST)
    if form.is_valid():
        name = form.cleaned_data["name"]
        if Domain.objects.filter(name=name).exists():
            form.add_error("name", "A domain with this name exists already: edit it instead.")
        else:
            try:
                domain_service.domain_save(actor=request.user, name=name, **form.values())
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Domain {name} added with the default thresholds.")
                return redirect("admin-domain-edit", name=name)
    return render(request, "matches/admin/domains.html", {"domains": Domain.objects.all(), "form": form}, status=400)


@require_http_methods(["GET", "POST"])
@admin_only
def domain_edit(request: Request, name: str) -> HttpResponse:
    domain = _domain(name)
    if request.method == "POST":
        form = DomainForm(request.POST, editing=True, initial={"name": domain.name})
        if form.is_valid():
            try:
                domain_service.domain_save(actor=request.user, name=domain.name, **form.values())
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Saved {domain.name}.")
                return redirect("admin-domain-edit", name=domain.name)
    else:
        initial = {f: getattr(domain, f) for f in DomainForm.base_fields}
        form = DomainForm(initial=initial, editing=True)
    status = 400 if form.errors else 200
    return render(request, "matches/admin/domain_edit.html", {"domain": domain, "form": form}, status=status)


@require_POST
@admin_only
def domain_test(request: Request, name: str) -> HttpResponse:
    domain = _domain(name)
    initial = {f: getattr(domain, f) for f in DomainForm.base_fields}
    context = {
        "domain": domain,
        "connection": domain_service.domain_test_connection(domain=domain),
        "form": DomainForm(initial=initial, editing=True),
    }
    return render_page(request, "matches/admin/domain_edit.html", context, partial="connection")


# QA samples ----------------------------------------------------------------------------------------------------------


@require_POST
@admin_only
def qa_draw(request: Request, name: str) -> HttpResponse:
    domain = _domain(name)
    form = QaDrawForm(request.POST)
    try:
        if not form.is_valid():
            raise qa.SampleRefused(" ".join(str(e) for errors in form.errors.values() for e in errors))
        sample = qa.qa_sample_draw(
            actor=request.user,
            domain=domain,
            queue=form.cleaned_data["queue"],
            rate=form.cleaned_data["percent"] / 100,
            seed=form.cleaned_data["seed"],
        )
    except qa.SampleRefused as exc:
        messages.error(request, f"No sample drawn: {exc}")
    else:
        messages.success(
            request,
            f"Drew {sample.size} of {sample.population} groups from the {sample.queue} queue (seed {sample.seed}); "
            "they go to stewards in blind review.",
        )
    return redirect(f"{reverse('admin-thresholds', args=[domain.name])}#qa")


# Runs and pulls ------------------------------------------------------------------------------------------------------


@require_GET
@admin_only
def runs(request: Request) -> HttpResponse:
    recent = list(admin_reads.runs_recent())
    pending = admin_reads.pull_requests_pending()
    context = {
        "domains": Domain.objects.all(),
        "runs": recent,
        "pending": pending,
        "outcomes": admin_reads.pull_outcomes_recent(),
        # Polled while a pull runs or waits for a worker: "Pull now" shows its progress without a reload.
        "any_running": bool(pending)
        or any(r.status == MatchRun.Status.RUNNING for r in recent)
        or admin_reads.pull_requests_unanswered(),
    }
    context["running_domains"] = admin_reads.running_domain_ids()
    return render_page(request, "matches/admin/runs.html", context, partial="runs-table")


@require_POST
@admin_only
def pull_now(request: Request, name: str) -> HttpResponse:
    domain = _domain(name)
    try:
        ops.pull_request(domain=domain, actor=request.user)
    except ops.PullRefused as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, f"Pull of {domain.name} queued: a worker starts it in a moment.")
    return redirect("admin-runs")


@require_GET
@admin_only
def run_detail(request: Request, pk: int) -> HttpResponse:
    run = get_object_or_404(MatchRun.objects.select_related("domain", "started_by"), pk=pk)
    context = {"run": run, "quarantine": admin_reads.run_quarantine(run)}
    return render_page(request, "matches/admin/run.html", context, partial="run-progress")


@require_POST
@admin_only
def quarantine_ack(request: Request, pk: int) -> HttpResponse:
    item = get_object_or_404(QuarantinedMatch.objects.select_related("run__domain"), pk=pk)
    if ops.quarantine_acknowledge(actor=request.user, item=item):
        messages.success(request, "Acknowledged.")
    item.refresh_from_db()
    if request.htmx:
        return render_fragment(request, "matches/admin/run.html", "quarantine-row", {"item": item, "run": item.run})
    return redirect("admin-run", pk=item.run_id)


# Operations ----------------------------------------------------------------------------------------------------------


@require_GET
@admin_only
def operations(request: Request) -> HttpResponse:
    heartbeats = admin_reads.heartbeats()
    context = {
        "heartbeats": heartbeats,
        "workers_stopped_at": admin_reads.workers_stopped_at(heartbeats),
        "stale_after": admin_reads.HEARTBEAT_STALE_SECONDS,
        "pause_all": OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES),
        "domains": Domain.objects.all(),
        "periodic": admin_reads.periodic_tasks(),
    }
    return render_page(request, "matches/admin/operations.html", context, partial="heartbeats")


# Users ---------------------------------------------------------------------------------------------------------------


def _users_context(form: UserCreateForm | None = None) -> dict:
    return {
        "rows": access_reads.with_domain_access(admin_reads.users_with_roles()),
        "all_roles": roles.ROLES,
        "form": form or UserCreateForm(),
        "all_domains": list(Domain.objects.order_by("name").values_list("name", flat=True)),
    }


@require_GET
@admin_only
def users(request: Request) -> HttpResponse:
    return render(request, "matches/admin/users.html", _users_context())


@require_POST
@admin_only
def user_add(request: Request) -> HttpResponse:
    form = UserCreateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            user_service.user_create(
                actor=request.user,
                username=data["username"],
                password=data["password"],
                role_names=data["roles"],
                email=data["email"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Created {data['username']}.")
            return redirect("admin-users")
    return render(request, "matches/admin/users.html", _users_context(form), status=400)


@require_POST
@admin_only
def user_roles(request: Request, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    wanted = [r for r in request.POST.getlist("roles") if r in roles.ROLES]
    try:
        user_service.user_set_roles(actor=request.user, user=user, role_names=wanted)
    except user_service.LastAdminError as exc:
        messages.error(request, f"Roles of {user.get_username()} not changed: {exc}")
    else:
        messages.success(request, f"{user.get_username()}: {', '.join(wanted) or 'no role'}.")
    return redirect("admin-users")


@require_POST
@admin_only
def user_active(request: Request, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        user_service.user_set_active(actor=request.user, user=user, active=active)
    except user_service.LastAdminError as exc:
        messages.error(request, f"{user.get_username()} not deactivated: {exc}")
    else:
        messages.success(request, f"{user.get_username()} {'reactivated' if active else 'deactivated'}.")
    return redirect("admin-users")


@require_POST
@admin_only
def user_domains(request: Request, pk: int) -> HttpResponse:
    """Limit a steward or auditor to some domains, or give them every domain (`all` = "1")."""
    user = get_object_or_404(User, pk=pk)
    everything = request.POST.get("all") == "1"
    names = [n for n in request.POST.getlist("domains") if isinstance(n, str) and len(n) <= 64]
    user_service.user_set_domains(actor=request.user, user=user, all_domains=everything, domain_names=names)
    shown = "every domain" if everything else (", ".join(sorted(names)) or "no domain")
    messages.success(request, f"{user.get_username()} sees {shown}.")
    return redirect("admin-users")
