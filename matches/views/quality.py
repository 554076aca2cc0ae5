"""Reviewer quality (docs/architecture.md, "Reviewer quality"): the blind judgement page a steward answers, the
disagreements an admin settles, and the admin's known answers and rates. Roles are enforced here and again in the
service."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from matches import compare, roles
from matches.access import Request, get_domain_or_404, require_domain, require_perm, visible_domain_names
from matches.forms.workflow import KnownAnswerForm, QualityRatesForm, ResolveForm
from matches.models import Judgement, KnownAnswer, MatchGroup, Profile
from matches.selectors import quality as quality_reads
from matches.selectors import review as review_reads
from matches.services import quality
from matches.views import queues
from matches.views.groups import LEGEND


def _own_judgement(request: Request, pk: int) -> Judgement:
    """A judgement is shown only to the steward it was served to (anyone else: not found, nothing leaks)."""
    judgement = get_object_or_404(
        Judgement.objects.select_related("domain", "group__run__domain", "reference__snapshot"), pk=pk
    )
    if judgement.actor_id != request.user.pk:
        raise Http404("No such item.")
    require_domain(request.user, judgement.domain_id)  # served before the steward's access was narrowed
    return judgement


def _columns(judgement: Judgement) -> tuple[list[review_reads.Column], list]:
    """The profiles as the first decision saw them (its snapshot: the group may have been merged since), without
    score, queue, decision or who decided: the steward answers on the evidence alone."""
    snapshot = judgement.reference.snapshot
    held = snapshot.profiles if snapshot is not None and snapshot.erased_at is None else {}
    ids = list(judgement.group.profile_ids)
    attributes = {pid: (held.get(pid) or {}).get("attributes") for pid in ids}
    columns = [
        review_reads.Column(
            i + 1,
            pid,
            None
            if attributes[pid] is None
            else Profile(domain=judgement.domain, profile_id=pid, attributes=attributes[pid]),
        )
        for i, pid in enumerate(ids)
    ]
    rows = compare.compare_profiles([(pid, attributes[pid]) for pid in ids], main_profile_id=ids[0])
    return columns, rows


@require_GET
@require_perm(roles.DECIDE)
def judgement(request: Request, pk: int) -> HttpResponse:
    item = _own_judgement(request, pk)
    columns, rows = _columns(item)
    context = {
        "item": item,
        "domain": item.domain,
        "columns": columns,
        "rows": rows,
        "legend": LEGEND,
        "queue": queues.queue_param(request.GET.get("queue")) or "",
        "answerable": item.answered_at is None,
    }
    return render(request, "matches/review/judgement.html", context)


@require_POST
@require_perm(roles.DECIDE)
def judgement_answer(request: Request, pk: int) -> HttpResponse:
    item = _own_judgement(request, pk)
    queue = queues.queue_param(request.POST.get("queue")) or review_reads.REVIEW
    try:
        quality.judgement_answer(
            judgement=item,
            actor=request.user,
            answer=request.POST.get("action", ""),
            kept_profile_ids=request.POST.getlist("keep"),
            reason=request.POST.get("reason", "").strip(),
        )
    except quality.QualityRefused as exc:
        messages.error(request, str(exc))
        return redirect("judgement", item.pk)
    messages.success(request, "Answer recorded. It changes nothing by itself.")
    if queue not in review_reads.QUEUES:
        queue = review_reads.REVIEW
    domain = item.domain
    qc = review_reads.queue_context(domain)
    served = queues.serve_next(request, run=qc.run, policy=qc.policy, queue=queue, exclude=[])
    if served.group is None:
        return redirect(queues.queue_url(domain, queue))
    return redirect(queues.served_url(served, queue))


# Disagreements: an admin keeps the decision or takes it back ---------------------------------------------------------


@require_GET
@require_perm(roles.VIEW_AUDIT)
def disagreements(request: Request) -> HttpResponse:
    domain = request.GET.get("domain", "")[:64]
    names = visible_domain_names(request.user)
    if domain and names is not None and domain not in names:
        raise Http404("No such domain.")
    waiting = list(quality_reads.disagreements(domain=domain, domains=names))
    for item in waiting:
        job = getattr(item.reference, "merge_job", None)
        item.can_take_back = item.reference.action == "reject" or (job is not None and job.status in job.NOT_STARTED)
    context = {
        "waiting": waiting,
        "settled": quality_reads.disagreements(domain=domain, settled=True, domains=names),
        "can_settle": request.user.has_perm(roles.ADMINISTER),
        "domain_filter": domain,
    }
    return render(request, "matches/review/disagreements.html", context)


@require_POST
@require_perm(roles.ADMINISTER)
def judgement_resolve(request: Request, pk: int) -> HttpResponse:
    item = get_object_or_404(Judgement, pk=pk)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose to keep the decision or take it back.")
        return redirect("quality-disagreements")
    try:
        quality.judgement_resolve(
            judgement=item, actor=request.user, take_back=form.cleaned_data["take_back"], note=form.cleaned_data["note"]
        )
        words = "taken back: the group is open again" if form.cleaned_data["take_back"] else "kept"
        messages.success(request, f"Decision on group {item.group_id} {words}.")
    except quality.QualityRefused as exc:
        messages.error(request, str(exc))
    return redirect("quality-disagreements")


# Known answers and rates (admin) -------------------------------------------------------------------------------------


@require_GET
@require_perm(roles.ADMINISTER)
def known_answers(request: Request, name: str) -> HttpResponse:
    domain = get_domain_or_404(request, name)
    return render(request, "matches/admin/known_answers.html", _known_context(domain))


def _known_context(domain, form=None, rates=None) -> dict:
    answers = (
        KnownAnswer.objects.filter(domain=domain, retired_at__isnull=True)
        .select_related("group", "decision__actor", "created_by")
        .prefetch_related("judgements")
        .order_by("-created_at")[:200]
    )
    for known in answers:
        judged = [j for j in known.judgements.all() if j.answered_at is not None]
        known.judged, known.agreed = len(judged), sum(1 for j in judged if j.agrees)
    return {
        "domain": domain,
        "answers": answers,
        "form": form or KnownAnswerForm(),
        "rates": rates
        or QualityRatesForm(
            initial={"known_answer_rate": domain.known_answer_rate, "second_review_rate": domain.second_review_rate}
        ),
    }


@require_POST
@require_perm(roles.ADMINISTER)
def known_answer_add(request: Request, name: str) -> HttpResponse:
    domain = get_domain_or_404(request, name)
    form = KnownAnswerForm(request.POST)
    if form.is_valid():
        group = MatchGroup.objects.filter(pk=form.cleaned_data["group"], run__domain=domain).first()
        if group is None:
            form.add_error("group", f"No group with that number in {domain.name}.")
        else:
            try:
                quality.known_answer_mark(actor=request.user, group=group, note=form.cleaned_data["note"])
                messages.success(request, f"Group {group.match_id} is a known answer now.")
                return redirect("admin-known-answers", domain.name)
            except quality.QualityRefused as exc:
                form.add_error("group", str(exc))
    return render(request, "matches/admin/known_answers.html", _known_context(domain, form=form), status=400)


@require_POST
@require_perm(roles.ADMINISTER)
def known_answer_retire(request: Request, pk: int) -> HttpResponse:
    known = get_object_or_404(KnownAnswer.objects.select_related("domain"), pk=pk)
    try:
        quality.known_answer_retire(actor=request.user, known_answer=known)
        messages.success(request, "Known answer retired: no longer served.")
    except quality.QualityRefused as exc:
        messages.error(request, str(exc))
    return redirect("admin-known-answers", known.domain.name)


@require_POST
@require_perm(roles.ADMINISTER)
def quality_rates(request: Request, name: str) -> HttpResponse:
    domain = get_domain_or_404(request, name)
    form = QualityRatesForm(request.POST)
    if form.is_valid():
        try:
            quality.quality_rates_set(actor=request.user, domain=domain, **form.cleaned_data)
            messages.success(request, "Reviewer-quality rates saved.")
            return redirect("admin-known-answers", domain.name)
        except quality.QualityRefused as exc:
            form.add_error(None, str(exc))
    return render(request, "matches/admin/known_answers.html", _known_context(domain, rates=form), status=400)
