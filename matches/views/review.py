"""The steward's pages: queues, the group page and decisions (DESIGN.md flow 3).

Plain forms post and redirect; with htmx a decision answers with the next group's panel of the same queue
(`#group-panel`, HX-Push-Url) and the queue tabs swapped out of band so their counts stay current."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from matches import compare, roles
from matches import selectors_review as sel
from matches.access import get_domain_or_404, get_group_or_404, require_perm
from matches.models import Decision, MatchGroup
from matches.selectors_admin import is_in_qa_sample
from matches.services.decisions import (
    DecisionRefused,
    comment_add,
    decision_undo,
    default_main_profile,
    group_claim,
    group_merge_approve,
    group_reject,
    group_release,
    group_reopen,
    group_split,
)

Status = MatchGroup.Status
SKIPPED_KEEP = 200
GROUP_TEMPLATE = "matches/review/group.html"


def _blind(request: HttpRequest, domain) -> bool:
    return bool(domain.blind_review_enforced or request.session.get("blind_review"))


def _queue_param(value: str | None) -> str | None:
    return value if value in sel.TABS else None


def _group_url(group: MatchGroup, queue: str | None) -> str:
    url = reverse("group", args=[group.pk])
    return f"{url}?{urlencode({'queue': queue})}" if queue else url


def _queue_url(domain, queue: str) -> str:
    return reverse("queue", args=[domain.name, queue])


# Queues ------------------------------------------------------------------------------------------------------------


@require_GET
@require_perm(roles.VIEW_QUEUES)
def queue(request: HttpRequest, name: str, queue: str) -> HttpResponse:
    if queue not in sel.TABS:
        raise Http404("No such queue.")
    qc = sel.queue_context_by_name(name)
    domain = qc.domain
    filters = sel.parse_filters(request.GET, queue)
    page = (
        sel.queue_page(run=qc.run, policy=qc.policy, queue=queue, filters=filters)
        if qc.policy
        else sel.QueuePage([], None, filters)
    )
    # Per-row values computed here rather than with template tags and filters: the page renders 50 rows a visit.
    suffix = "" if queue == sel.CARRIED else f"?queue={queue}"
    now = timezone.now()
    sample = reverse("group", args=[0])
    prefix = sample[: sample.rindex("0/")]
    for g in page.rows:
        g.pk_s = str(g.pk)
        g.url = f"{prefix}{g.pk}/{suffix}"
        g.score_text = f"{g.confidence_score:.3f}"
        g.size_s = str(g.size)
        g.names = g.display_names or "(profiles not fetched yet)"
        g.status_label = g.get_status_display()
        held = g.claimed_by_id and g.claimed_until and g.claimed_until > now
        g.claim_mine = bool(held and g.claimed_by_id == request.user.pk)
        g.claim_who = "" if not held else ("you" if g.claim_mine else g.claimed_by.get_username())
        g.claim_until = timezone.localtime(g.claimed_until).strftime("%H:%M") if held else ""
    base = urlencode(filters.querydict())
    context = {
        "domain": domain,
        "qc": qc,
        "queue": queue,
        "page": page,
        "filters": filters,
        "blind": _blind(request, domain),
        "next_url": f"?{base}&{urlencode({'after': page.next_cursor})}" if page.next_cursor else "",
        "first_url": f"?{base}",
        "carried": queue == sel.CARRIED,
    }
    template = "matches/review/queue.html"
    if request.htmx and request.htmx.target == "queue-table":
        template += "#queue-table"
    return render(request, template, context)


@require_POST
@require_perm(roles.DECIDE)
def queue_next(request: HttpRequest, name: str, queue: str) -> HttpResponse:
    """Claim the first group of the queue nobody else holds and open it."""
    if queue not in sel.QUEUES:
        raise Http404("No such queue.")
    domain = get_domain_or_404(request, name)
    qc = sel.queue_context(domain)
    nxt = _claim_next(request, run=qc.run, policy=qc.policy, queue=queue, exclude=[])
    if nxt is None:
        messages.info(request, f"Nothing left to claim in the {queue} queue.")
        return redirect(_queue_url(domain, queue))
    return redirect(_group_url(nxt, queue))


def _claim(group: MatchGroup, user) -> bool:
    """Take or renew the lease. A lease is not a decision: its transaction (and the audit row written with it)
    commits without waiting for the WAL flush, so opening a group costs no fsync. A crash can lose the last few
    milliseconds of claims and their audit rows together, never one without the other."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return group_claim(group=group, actor=user)


def _holds_fresh_claim(group: MatchGroup, user) -> bool:
    """Already ours for more than half the lease: a reload does not need to write."""
    if group.claimed_by_id != user.pk or group.claimed_until is None:
        return False
    left = (group.claimed_until - timezone.now()).total_seconds()
    return left > settings.MATCHDESK["CLAIM_SECONDS"] / 2


def _skipped(request: HttpRequest) -> list[int]:
    return list(request.session.get("skipped_groups", []))


def _claim_next(request: HttpRequest, *, run, policy, queue: str, exclude: list[int]) -> MatchGroup | None:
    """Claim the next group of `queue` (another steward may take a candidate between our read and our claim)."""
    if run is None or policy is None:
        return None
    exclude = [*exclude, *_skipped(request)]
    for _ in range(3):
        candidates = sel.queue_next_candidates(run=run, policy=policy, queue=queue, actor=request.user, exclude=exclude)
        if not candidates:
            return None
        for candidate in candidates:
            if _claim(candidate, request.user):
                candidate.claimed_by = request.user
                candidate.claimed_until = timezone.now() + timedelta(seconds=settings.MATCHDESK["CLAIM_SECONDS"])
                return candidate
            exclude.append(candidate.pk)
    return None


# The group page ----------------------------------------------------------------------------------------------------


def _group_context(request: HttpRequest, group: MatchGroup, *, queue: str | None, error: str = "") -> dict:
    domain = group.run.domain
    now = timezone.now()
    can_decide = request.user.has_perm(roles.DECIDE)
    qc = sel.queue_context(domain)
    bucket = qc.policy.bucket(group.confidence_score) if qc.policy else ""
    if queue is None and group.status == Status.OPEN:
        queue = bucket or None
    profiles, refresh_error = sel.group_profiles(group)
    main = default_main_profile(group, profiles)
    columns = [sel.Column(i + 1, pid, profiles.get(pid)) for i, pid in enumerate(group.profile_ids)]
    show_empty = request.GET.get("empty") == "1"
    rows = compare.compare_profiles(
        [(c.profile_id, None if c.missing else c.profile.attributes) for c in columns],
        main_profile_id=main,
        include_empty=show_empty,
    )
    decisions = sel.group_decisions(group)
    latest = decisions[0] if decisions else None
    held = bool(group.claimed_by_id and group.claimed_until and group.claimed_until > now)
    held_by_other = held and group.claimed_by_id != request.user.pk
    # The steward's own latest approval, while it can still be undone (offered on the next group's page).
    last = None
    if can_decide:
        last = (
            Decision.objects.filter(
                actor=request.user, created_at__gte=now - timedelta(seconds=domain.undo_window_seconds)
            )
            .select_related("group", "merge_job", "actor")
            .order_by("-created_at", "-id")
            .first()
        )
        if last is not None and last.group_id == group.pk:
            last = None
    # QA samples measure the queues' precision: whoever decides a sampled group does so without score or queue.
    qa_sampled = can_decide and is_in_qa_sample(group)
    return {
        "domain": domain,
        "qc": qc,
        "group": group,
        "queue": queue,
        "bucket": bucket,
        "blind": qa_sampled or _blind(request, domain),
        "qa_sampled": qa_sampled,
        "columns": columns,
        "rows": rows,
        "conflicts": sum(1 for r in rows if r.conflict),
        "main": main,
        "decisions": decisions,
        "latest": latest,
        "latest_undoable": sel.undoable(latest, request.user),
        "last": last,
        "last_undoable": sel.undoable(last, request.user),
        "comments": sel.group_comments(group),
        "held": held,
        "held_by_other": held_by_other,
        "held_by_me": held and not held_by_other,
        "can_decide_here": can_decide and group.status == Status.OPEN and not held_by_other,
        "can_reopen": can_decide and group.status in (Status.REJECTED, Status.CARRIED_OVER),
        "can_release": held and (group.claimed_by_id == request.user.pk or request.user.has_perm(roles.ADMINISTER)),
        "refresh_error": refresh_error,
        "error": error,
        "show_empty": show_empty,
        "in_panel": bool(request.htmx),
        "legend": LEGEND,
    }


LEGEND = [
    (compare.EXACT, "same", "identical everywhere"),
    (compare.EQUIVALENT, "equivalent", "same after normalising (case, accents, phone format)"),
    (compare.SIMILAR, "similar", "close spelling (≥ 85% alike)"),
    (compare.DIFFERENT, "different", "a real conflict"),
    (compare.SINGLE, "one value", "only one profile has it: merged as is"),
]


def _render_panel(request: HttpRequest, group: MatchGroup, *, queue: str | None, error: str = "") -> HttpResponse:
    """The group panel plus the queue tabs out of band (their counts change with every decision)."""
    context = _group_context(request, group, queue=queue, error=error)
    context["in_panel"] = True
    html = render_to_string(f"{GROUP_TEMPLATE}#group-panel", context, request=request)
    tabs = render_to_string("matches/review/tabs.html", {**context, "oob": True}, request=request)
    # htmx takes the page title from a top-level <title> in the response.
    title = format_html(
        "<title>Group {} · {} · Matchdesk</title>", Truncator(group.match_id).chars(20), group.run.domain
    )
    return HttpResponse(title + html + tabs)


def _render_empty_panel(request: HttpRequest, domain, queue: str) -> HttpResponse:
    qc = sel.queue_context(domain)
    context = {"domain": domain, "qc": qc, "queue": queue, "in_panel": True, "blind": _blind(request, domain)}
    html = render_to_string(f"{GROUP_TEMPLATE}#empty-panel", context, request=request)
    tabs = render_to_string("matches/review/tabs.html", {**context, "oob": True}, request=request)
    return HttpResponse(html + tabs)


@require_GET
@require_perm(roles.VIEW_QUEUES)
def group_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Opened from a queue (?queue=...), the page claims the group for a steward; auditors only read."""
    group = get_group_or_404(request, pk)
    queue = _queue_param(request.GET.get("queue"))
    if (
        queue
        and group.status == Status.OPEN
        and request.user.has_perm(roles.DECIDE)
        and not _holds_fresh_claim(group, request.user)
    ):
        if _claim(group, request.user):
            group = get_group_or_404(request, pk)
    context = _group_context(request, group, queue=queue)
    return render(request, GROUP_TEMPLATE, context)


def _field_sources(post, group: MatchGroup, members: list[str], main: str) -> dict[str, str]:
    """`src:<key>` radios; a source outside `members` (a split) falls back to the main profile."""
    sources = {}
    for name, value in post.items():
        if not name.startswith("src:"):
            continue
        key = name[4:]
        sources[key] = value if value in members else main
    return sources


def _decide(request: HttpRequest, group: MatchGroup, action: str) -> Decision | None:
    post = request.POST
    reason = post.get("reason", "").strip()[:2000]
    if action == "merge":
        main = post.get("main") or default_main_profile(group)
        return group_merge_approve(
            group=group,
            actor=request.user,
            main_profile_id=main,
            field_sources=_field_sources(post, group, list(group.profile_ids), main),
            reason=reason,
        )
    if action == "split":
        keep = [pid for pid in post.getlist("keep") if pid in group.profile_ids]
        if len(keep) < 2:
            raise DecisionRefused("Choose at least two profiles that are the same customer to split.")
        main = post.get("main")
        if main not in keep:
            sub = MatchGroup(run=group.run, profile_ids=sorted(keep))
            main = default_main_profile(sub)
        return group_split(
            group=group,
            actor=request.user,
            keep_profile_ids=keep,
            main_profile_id=main,
            field_sources=_field_sources(post, group, keep, main),
            reason=reason,
        )
    if action == "reject":
        return group_reject(group=group, actor=request.user, reason=reason)
    if action == "skip":
        group_release(group=group, actor=request.user, skipped=True)
        skipped = [pk for pk in _skipped(request) if pk != group.pk][-SKIPPED_KEEP:]
        request.session["skipped_groups"] = [*skipped, group.pk]
        return None
    raise DecisionRefused("Choose merge, reject, split or skip.")


DONE_WORDS = {
    "merge": "Merge approved",
    "split": "Split approved",
    "reject": "Rejected",
}


@require_POST
@require_perm(roles.DECIDE)
def group_decide(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    queue = _queue_param(request.POST.get("queue"))
    action = request.POST.get("action", "")
    try:
        decision = _decide(request, group, action)
    except DecisionRefused as exc:
        text = str(exc)
        # A double submit: the first one decided; say so calmly rather than as an error.
        calm = text.startswith("Already decided by you")
        if request.htmx:
            if calm:
                messages.info(request, text)
            return _render_panel(request, get_group_or_404(request, pk), queue=queue, error="" if calm else text)
        (messages.info if calm else messages.error)(request, text)
        return redirect(_group_url(group, queue))
    if decision is not None:
        when = timezone.localtime(decision.merge_job.not_before).strftime("%H:%M:%S") if action != "reject" else ""
        tail = f" · runs at {when} unless undone" if when else ""
        messages.success(request, f"{DONE_WORDS[action]}: group {group.match_id}{tail}.")
    else:
        messages.info(request, f"Skipped group {group.match_id}; it stays in the queue for others.")
    domain = group.run.domain
    # The decided group was open, so its run is the domain's current one; only the policy in force is needed here.
    policy = domain.policy()
    bucket_queue = queue if queue in sel.QUEUES else (policy.bucket(group.confidence_score) if policy else None)
    nxt = None
    if bucket_queue:
        nxt = _claim_next(request, run=group.run, policy=policy, queue=bucket_queue, exclude=[group.pk])
    if request.htmx:
        if nxt is None:
            response = _render_empty_panel(request, domain, bucket_queue or sel.REVIEW)
            return push_url(response, _queue_url(domain, bucket_queue or sel.REVIEW))
        return push_url(_render_panel(request, nxt, queue=bucket_queue), _group_url(nxt, bucket_queue))
    if nxt is None:
        return redirect(_queue_url(domain, bucket_queue or sel.REVIEW))
    return redirect(_group_url(nxt, bucket_queue))


def _back(request: HttpRequest, group: MatchGroup, queue: str | None) -> HttpResponse:
    if request.htmx:
        group = get_group_or_404(request, group.pk)
        return _render_panel(request, group, queue=queue)
    return redirect(_group_url(group, queue))


@require_POST
@require_perm(roles.DECIDE)
def group_claim_view(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    queue = _queue_param(request.POST.get("queue"))
    try:
        if not _claim(group, request.user):
            messages.warning(request, "Someone else is working on this group, or it is no longer open.")
    except DecisionRefused as exc:
        messages.error(request, str(exc))
    return _back(request, group, queue)


@require_POST
@require_perm(roles.DECIDE)
def group_release_view(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    try:
        group_release(group=group, actor=request.user)
        messages.info(request, "Claim released.")
    except DecisionRefused as exc:
        messages.error(request, str(exc))
    return _back(request, group, None)


@require_POST
@require_perm(roles.DECIDE)
def group_comment(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    queue = _queue_param(request.POST.get("queue"))
    try:
        comment_add(group=group, actor=request.user, body=request.POST.get("body", ""))
        messages.success(request, "Comment added.")
    except DecisionRefused as exc:
        messages.error(request, str(exc))
    return _back(request, group, queue)


@require_POST
@require_perm(roles.DECIDE)
def group_reopen_view(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    try:
        group_reopen(group=group, actor=request.user, reason=request.POST.get("reason", "").strip()[:2000])
        messages.success(request, f"Group {group.match_id} is open again.")
    except DecisionRefused as exc:
        messages.error(request, str(exc))
    queue = _queue_param(request.POST.get("queue"))
    if queue == "carried":  # reopened from the carried-over list: back to that list
        return redirect("queue", group.run.domain.name, "carried")
    return _back(request, group, queue)


@require_POST
@require_perm(roles.DECIDE)
def decision_undo_view(request: HttpRequest, pk: int) -> HttpResponse:
    decision = get_object_or_404(Decision.objects.select_related("group"), pk=pk)
    group = get_group_or_404(request, decision.group_id, for_decision=True)
    queue = _queue_param(request.POST.get("queue"))
    try:
        decision_undo(decision=decision, actor=request.user, reason=request.POST.get("reason", "").strip()[:2000])
        _claim(group, request.user)
        messages.success(request, f"Undone: group {group.match_id} is open again and yours to decide.")
    except DecisionRefused as exc:
        messages.error(request, str(exc))
    response = _back(request, group, queue)
    if request.htmx:
        push_url(response, _group_url(group, queue))
    return response


@require_POST
@require_perm(roles.VIEW_QUEUES)
def blind_review_toggle(request: HttpRequest) -> HttpResponse:
    """A steward's own blind-review switch (kept in the session); a domain may enforce it for everyone."""
    request.session["blind_review"] = not request.session.get("blind_review", False)
    target = request.POST.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        raise PermissionDenied("Bad return address.")
    return redirect(target)
