"""The group page and what a steward does on it: decide, claim, release, comment, reopen, undo
(docs/architecture.md, "Review").

Plain forms post and redirect; with htmx a decision answers with the next group's panel of the same queue
(`#group-panel`, HX-Push-Url) and the queue tabs swapped out of band so their counts stay current."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url

from matches import compare, roles
from matches.access import Request, get_group_or_404, require_perm
from matches.forms.search import SearchForm
from matches.models import Decision, Domain, MatchGroup, OpsSwitch, Queue
from matches.selectors import approvals as approval_reads
from matches.selectors import estimates as estimate_reads
from matches.selectors import review as review_reads
from matches.services import decisions, profiles
from matches.templatetags.match_tags import match_short
from matches.views import queues
from matches.views.htmx import render_fragment, render_page

Status = MatchGroup.Status
SKIPPED_KEEP = 200
GROUP_TEMPLATE = "matches/review/group.html"
TABS_TEMPLATE = "matches/review/tabs.html"

LEGEND = [
    (compare.EXACT, "same", "identical everywhere"),
    (compare.EQUIVALENT, "equivalent", "same after normalising (case, accents, phone format)"),
    (compare.SIMILAR, "similar", "close spelling (≥ 85% alike)"),
    (compare.DIFFERENT, "different", "a real conflict"),
    (compare.SINGLE, "one value", "only one profile has it: merged as is"),
]


def _group_context(request: Request, group: MatchGroup, *, queue: str | None, error: str = "") -> dict:
    """Everything the group page shows; the members' profiles come from the refresh service (it may call AWS)."""
    members, refresh_error = profiles.group_profiles_refresh(group=group)
    domain = group.run.domain
    now = timezone.now()
    user = request.user
    can_decide = user.has_perm(roles.DECIDE)
    qc = review_reads.queue_context(domain)
    bucket = group.queue_of(qc.policy)
    if queue is None and group.status == Status.OPEN:
        queue = bucket or None
    main = decisions.default_main_profile(group, members)
    columns = [review_reads.Column(i + 1, pid, members.get(pid)) for i, pid in enumerate(group.profile_ids)]
    show_empty = request.GET.get("empty") == "1"
    rows = compare.compare_profiles(
        [(c.profile_id, None if c.missing or c.profile is None else c.profile.attributes) for c in columns],
        main_profile_id=main,
        include_empty=show_empty,
    )
    history = review_reads.group_decisions(group)
    latest = history[0] if history else None
    held = group.is_held(now)
    held_by_other = group.held_by_other(user, now)
    # The steward's own latest approval, while it can still be undone (offered on the next group's page).
    last = review_reads.last_own_decision(user=user, domain=domain, exclude_group=group) if can_decide else None
    # QA and calibration samples measure the queues: whoever decides a sampled group does so without score or queue.
    qa_sampled, calibration_sampled = estimate_reads.sampled_as(group) if can_decide else (False, False)
    calibration_sampled = calibration_sampled and not qa_sampled
    return {
        "domain": domain,
        "qc": qc,
        "group": group,
        "queue": queue,
        "bucket": bucket,
        "blind": qa_sampled or calibration_sampled or queues.blind(request, domain),
        "qa_sampled": qa_sampled,
        "calibration_sampled": calibration_sampled,
        "columns": columns,
        "rows": rows,
        "conflicts": sum(1 for r in rows if r.conflict),
        "main": main,
        "decisions": history,
        "latest": latest,
        "latest_undoable": latest is not None and latest.can_undo(user),
        "last": last,
        "last_undoable": last is not None and last.can_undo(user),
        "comments": review_reads.group_comments(group),
        "held": held,
        "held_by_other": held_by_other,
        "held_by_me": held and not held_by_other,
        "can_decide_here": can_decide and group.status == Status.OPEN and not held_by_other,
        "can_reopen": can_decide and group.status in (Status.REJECTED, Status.CARRIED_OVER),
        "can_release": held and (not held_by_other or user.has_perm(roles.ADMINISTER)),
        "refresh_error": refresh_error,
        "error": error,
        "show_empty": show_empty,
        "in_panel": bool(request.htmx),
        "legend": LEGEND,
        # The steward workflow (templates/matches/review/_workflow.html).
        "approval": approval_reads.decision_approval(latest),
        "overlaps": approval_reads.group_overlaps(group),
        "split": approval_reads.split_outcome(group, latest),
        # The profile the engine missed (templates/matches/review/search.html).
        "search_form": SearchForm(),
        "replacement": group.replaced_by.first() if group.status == Status.REPLACED else None,
        # Age from the first run the profile set appeared in (docs/architecture.md, "Assignment and age").
        "age_days": group.age_days(now),
        "overdue": group.is_overdue(now),
    }


def _render_panel(request: Request, group: MatchGroup, *, queue: str | None, error: str = "") -> HttpResponse:
    """The group panel plus the queue tabs out of band (their counts change with every decision)."""
    context = _group_context(request, group, queue=queue, error=error)
    context["in_panel"] = True
    title = f"Group {match_short(group.match_id)} · {group.run.domain} · Matchdesk"
    tabs = (TABS_TEMPLATE, {**context, "oob": True})
    return render_fragment(request, GROUP_TEMPLATE, "group-panel", context, oob=[tabs], title=title)


def _render_empty_panel(request: Request, domain: Domain, queue: str) -> HttpResponse:
    qc = review_reads.queue_context(domain)
    context = {"domain": domain, "qc": qc, "queue": queue, "in_panel": True, "blind": queues.blind(request, domain)}
    return render_fragment(
        request, GROUP_TEMPLATE, "empty-panel", context, oob=[(TABS_TEMPLATE, {**context, "oob": True})]
    )


@require_GET
@require_perm(roles.VIEW_QUEUES)
def page(request: Request, pk: int) -> HttpResponse:
    """Opening a group only reads it: work is claimed by "next" or the Claim button (issue 13: a claim taken by
    browsing kept colleagues' "next" away from a group nobody was working on)."""
    group = get_group_or_404(request, pk, queryset=review_reads.group_page_queryset())
    queue = queues.queue_param(request.GET.get("queue"))
    return render_page(request, GROUP_TEMPLATE, _group_context(request, group, queue=queue))


def _field_sources(post, members: list[str], main: str) -> dict[str, str]:
    """`src:<key>` radios; a source outside `members` (a split) falls back to the main profile."""
    sources = {}
    for name, value in post.items():
        if not name.startswith("src:"):
            continue
        key = name[4:]
        sources[key] = value if value in members else main
    return sources


def _reason(request: Request) -> str:
    # Never cut here: the decision service refuses a reason over its limit with a message (refuse, don't truncate).
    return request.POST.get("reason", "").strip()


def _decide(request: Request, group: MatchGroup, action: str) -> Decision | None:
    post = request.POST
    if action == Decision.Action.MERGE:
        main = post.get("main") or decisions.default_main_profile(group)
        return decisions.group_merge_approve(
            group=group,
            actor=request.user,
            main_profile_id=main,
            field_sources=_field_sources(post, list(group.profile_ids), main),
            reason=_reason(request),
        )
    if action == Decision.Action.SPLIT:
        keep = [pid for pid in post.getlist("keep") if pid in group.profile_ids]
        if len(keep) < 2:
            raise decisions.DecisionRefused("Choose at least two profiles that are the same customer to split.")
        split_main = post.get("main") or ""
        if split_main not in keep:
            split_main = decisions.default_main_profile(MatchGroup(run=group.run, profile_ids=sorted(keep)))
        return decisions.group_split(
            group=group,
            actor=request.user,
            keep_profile_ids=keep,
            main_profile_id=split_main,
            field_sources=_field_sources(post, keep, split_main),
            reason=_reason(request),
        )
    if action == Decision.Action.REJECT:
        return decisions.group_reject(group=group, actor=request.user, reason=_reason(request))
    if action == "skip":
        decisions.group_release(group=group, actor=request.user, skipped=True)
        kept = [pk for pk in queues.skipped(request) if pk != group.pk][-SKIPPED_KEEP:]
        request.session["skipped_groups"] = [*kept, group.pk]
        return None
    raise decisions.DecisionRefused("Choose merge, reject, split or skip.")


DONE_WORDS: dict[str, str] = {
    Decision.Action.MERGE: "Merge approved",
    Decision.Action.SPLIT: "Split approved",
    Decision.Action.REJECT: "Rejected",
}


@require_POST
@require_perm(roles.DECIDE)
def decide(request: Request, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    queue = queues.queue_param(request.POST.get("queue"))
    action = request.POST.get("action", "")
    try:
        decision = _decide(request, group, action)
    except decisions.DecisionRefused as exc:
        text = str(exc)
        # A double submit: the first one decided; say so calmly rather than as an error.
        calm = isinstance(exc, decisions.AlreadyDecidedByYou)
        if request.htmx:
            if calm:
                messages.info(request, text)
            return _render_panel(request, get_group_or_404(request, pk), queue=queue, error="" if calm else text)
        (messages.info if calm else messages.error)(request, text)
        return redirect(queues.group_url(group, queue))
    if decision is not None:
        tail = ""
        if action != Decision.Action.REJECT:
            job = decision.merge_job
            if job.status == job.Status.AWAITING_APPROVAL:
                tail = " · awaiting approval by a second person; the undo window starts then"
            elif group.run.domain.merges_paused or OpsSwitch.is_on(OpsSwitch.PAUSE_ALL_MERGES):
                tail = (
                    " · merges are paused, so it waits for the resume (not before "
                    f"{timezone.localtime(job.not_before).strftime('%H:%M:%S')}) unless undone"
                )
            else:
                tail = f" · runs at {timezone.localtime(job.not_before).strftime('%H:%M:%S')} unless undone"
        messages.success(request, f"{DONE_WORDS[action]}: group {group.match_id}{tail}.")
    else:
        messages.info(request, f"Skipped group {group.match_id}; it stays in the queue for others.")
    domain = group.run.domain
    # The decided group was open, so its run is the domain's current one; only the policy in force is needed here.
    policy = domain.policy()
    next_queue = queue if queue in review_reads.QUEUES else None
    if next_queue is None and policy is not None:
        next_queue = group.queue_of(policy)
    nxt = None
    if next_queue:
        served = queues.serve_next(request, run=group.run, policy=policy, queue=next_queue, exclude=[group.pk])
        if served.judgement is not None:  # a known answer or second review: its own page, not the panel
            url = queues.served_url(served, next_queue)
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        nxt = served.group
    if nxt is None:
        back_to = next_queue or Queue.REVIEW
        if request.htmx:
            return push_url(_render_empty_panel(request, domain, back_to), queues.queue_url(domain, back_to))
        return redirect(queues.queue_url(domain, back_to))
    if request.htmx:
        return push_url(_render_panel(request, nxt, queue=next_queue), queues.group_url(nxt, next_queue))
    return redirect(queues.group_url(nxt, next_queue))


def _back(request: Request, group: MatchGroup, queue: str | None) -> HttpResponse:
    if request.htmx:
        return _render_panel(request, get_group_or_404(request, group.pk), queue=queue)
    return redirect(queues.group_url(group, queue))


@require_POST
@require_perm(roles.DECIDE)
def claim(request: Request, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    queue = queues.queue_param(request.POST.get("queue"))
    try:
        if not decisions.group_claim(group=group, actor=request.user):
            messages.warning(request, "Someone else is working on this group, or it is no longer open.")
    except decisions.DecisionRefused as exc:
        messages.error(request, str(exc))
    return _back(request, group, queue)


@require_POST
@require_perm(roles.DECIDE)
def release(request: Request, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    if request.POST.get("beacon") == "1":
        # keys.js on pagehide: the steward left the page holding the group. Quiet (no message on their next page),
        # and only their own claim: an admin's page never releases someone else's by leaving.
        if group.held_by(request.user, timezone.now()):
            decisions.group_release(group=group, actor=request.user)
        return HttpResponse(status=204)
    try:
        decisions.group_release(group=group, actor=request.user)
        messages.info(request, "Claim released.")
    except decisions.DecisionRefused as exc:
        messages.error(request, str(exc))
    return _back(request, group, None)


@require_POST
@require_perm(roles.DECIDE)
def comment(request: Request, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    queue = queues.queue_param(request.POST.get("queue"))
    try:
        decisions.comment_add(group=group, actor=request.user, body=request.POST.get("body", ""))
        messages.success(request, "Comment added.")
    except decisions.DecisionRefused as exc:
        messages.error(request, str(exc))
    return _back(request, group, queue)


@require_POST
@require_perm(roles.DECIDE)
def reopen(request: Request, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    try:
        decisions.group_reopen(group=group, actor=request.user, reason=_reason(request))
        messages.success(request, f"Group {group.match_id} is open again.")
    except decisions.DecisionRefused as exc:
        messages.error(request, str(exc))
    queue = queues.queue_param(request.POST.get("queue"))
    if queue == review_reads.CARRIED:  # reopened from the carried-over list: back to that list
        return redirect("queue", group.run.domain.name, review_reads.CARRIED)
    return _back(request, group, queue)


@require_POST
@require_perm(roles.DECIDE)
def decision_undo(request: Request, pk: int) -> HttpResponse:
    decision = get_object_or_404(Decision.objects.select_related("group"), pk=pk)
    group = get_group_or_404(request, decision.group_id, for_decision=True)
    queue = queues.queue_param(request.POST.get("queue"))
    try:
        decisions.decision_undo(decision=decision, actor=request.user, reason=_reason(request))
        decisions.group_claim(group=group, actor=request.user)
        messages.success(request, f"Undone: group {group.match_id} is open again and yours to decide.")
    except decisions.DecisionRefused as exc:
        messages.error(request, str(exc))
    response = _back(request, group, queue)
    if request.htmx:
        push_url(response, queues.group_url(group, queue))
    return response
