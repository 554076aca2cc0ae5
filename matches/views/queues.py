"""The steward's queues: a queue page, "next group" and the blind-review switch (docs/architecture.md, "Review").

Claiming lives here too because both the queue's "next" and a decision's "and now the next group" claim the first
group of a queue nobody else holds."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from matches import roles
from matches.access import Request, get_domain_or_404, require_domain, require_perm, return_address
from matches.models import Domain, MatchGroup, MatchRun, ThresholdPolicy
from matches.selectors import estimates as estimate_reads
from matches.selectors import review as review_reads
from matches.selectors.assignments import overdue_cutoff
from matches.services import work
from matches.templatetags.match_tags import match_short
from matches.views.htmx import render_page
from matches.views.queue_rows import queue_rows

QUEUE_TEMPLATE = "matches/review/queue.html"
PAGE_SIZE = review_reads.PAGE_SIZE


def blind(request: Request, domain: Domain) -> bool:
    return bool(domain.blind_review_enforced or request.session.get("blind_review"))


def queue_param(value: str | None) -> str | None:
    """A tab name from a form or query string, or None."""
    return value if value in review_reads.TABS else None


def group_url(group: MatchGroup, queue: str | None) -> str:
    url = reverse("group", args=[group.pk])
    return f"{url}?{urlencode({'queue': queue})}" if queue else url


def queue_url(domain: Domain, queue: str) -> str:
    return reverse("queue", args=[domain.name, queue])


@require_GET
@require_perm(roles.VIEW_QUEUES)
def queue(request: Request, name: str, queue: str) -> HttpResponse:
    if queue not in review_reads.TABS:
        raise Http404("No such queue.")
    qc = review_reads.queue_context_by_name(name)
    domain = qc.domain
    require_domain(request.user, domain.pk)
    filters = review_reads.parse_filters(request.GET, queue)
    page = (
        review_reads.queue_page(run=qc.run, policy=qc.policy, queue=queue, filters=filters)
        if qc.policy
        else review_reads.QueuePage([], None, filters)
    )
    # Per-row values computed here rather than with template tags and filters: the page renders 50 rows a visit.
    suffix = "" if queue == review_reads.CARRIED else f"?queue={queue}"
    now = timezone.now()
    deadline = overdue_cutoff(domain, now)
    sample = reverse("group", args=[0])
    prefix = sample[: sample.rindex("0/")]
    for g in page.rows:
        g.pk_s = str(g.pk)
        g.url = f"{prefix}{g.pk}/{suffix}"
        # QA-sampled groups are decided blind: marked in the list, their score hidden here as on their page.
        g.score_text = "—" if g.qa_sampled else g.score_label
        g.size_s = str(g.size)
        g.match_s = match_short(g.match_id)
        g.names = g.display_names or "(profiles not fetched yet)"
        g.status_label = g.get_status_display()
        held = g.is_held(now)
        g.claim_mine = held and not g.held_by_other(request.user, now)
        holder = g.claimed_by.get_username() if held and g.claimed_by else ""
        g.claim_who = "you" if g.claim_mine else holder
        g.claim_until = timezone.localtime(g.claimed_until).strftime("%H:%M") if held else ""
        # Age from the first run the profile set appeared in; past the domain's review deadline it is overdue.
        g.age_s = f"{(now - g.first_seen_at).days} d"
        g.overdue = deadline is not None and g.status == MatchGroup.Status.OPEN and g.first_seen_at < deadline
    base = urlencode(filters.querydict())
    start, shown = filters.start, len(page.rows)
    # The position: how many rows precede the page travels in its links; the total comes from the score histogram,
    # known only for a whole queue (a search or score range would need a count over the rows).
    unfiltered = not (filters.q or filters.min_score is not None or filters.max_score is not None)
    total = getattr(qc.counts, queue) if unfiltered and queue != review_reads.CARRIED else None
    position = f"{start + 1:,}–{start + shown:,}" if shown else ""
    if position and total is not None:
        position += f" of {max(total, start + shown):,}"
    first_page = unfiltered and not (filters.cursor or filters.before) and queue != review_reads.CARRIED
    # Most runs hold no group without a score: the context row says so, and the list is not asked for then.
    unscored = review_reads.unscored_open_groups(run=qc.run, queue=queue) if first_page and qc.has_unscored else []
    is_blind = blind(request, domain)
    context = {
        "domain": domain,
        "qc": qc,
        "queue": queue,
        "page": page,
        "filters": filters,
        "blind": is_blind,
        # Score-ordered rows built in Python (views/queue_rows.py); the carried-over queue's in the template.
        "rows_html": "" if queue == review_reads.CARRIED else queue_rows(page.rows, blind=is_blind),
        "next_url": f"?{base}&{urlencode({'after': page.next_cursor, 'start': start + shown})}"
        if page.next_cursor
        else "",
        "prev_url": f"?{base}&{urlencode({'before': page.prev_cursor, 'start': max(0, start - PAGE_SIZE)})}"
        if page.prev_cursor
        else "",
        "position": position,
        "first_url": f"?{base}",
        "carried": queue == review_reads.CARRIED,
        # Manual and rule-based groups have no score, so no place in the score order: their queue lists them above
        # it, first page only (MatchGroup.queue_of says which queue).
        "manual_groups": [g for g in unscored if g.source == MatchGroup.Source.MANUAL],
        "rule_groups": [g for g in unscored if g.source == MatchGroup.Source.RULE_BASED],
        # The policy's estimates, one line (not in blind review: a steward decides on the evidence alone).
        "policy_line": None
        if is_blind or not qc.run
        else estimate_reads.policy_line(domain=domain, run=qc.run, policy=qc.policy),
    }
    return render_page(request, QUEUE_TEMPLATE, context, partial="queue-table", target="queue-table")


@require_POST
@require_perm(roles.DECIDE)
def queue_next(request: Request, name: str, queue: str) -> HttpResponse:
    """Claim the first group of the queue nobody else holds and open it."""
    if queue not in review_reads.QUEUES:
        raise Http404("No such queue.")
    domain = get_domain_or_404(request, name)
    qc = review_reads.queue_context(domain)
    served = serve_next(request, run=qc.run, policy=qc.policy, queue=queue, exclude=[])
    if served.group is None:
        messages.info(request, f"Nothing left to claim in the {queue} queue.")
        return redirect(queue_url(domain, queue))
    return redirect(served_url(served, queue))


@require_POST
@require_perm(roles.VIEW_QUEUES)
def blind_review_toggle(request: Request) -> HttpResponse:
    """A steward's own blind-review switch (kept in the session); a domain may enforce it for everyone."""
    request.session["blind_review"] = not request.session.get("blind_review", False)
    target = request.POST.get("next") or reverse("home")
    if return_address(request, target) is None:
        raise PermissionDenied("Bad return address: the page to go back to must be one of Matchdesk's.")
    return HttpResponseRedirect(target)


# Claims -------------------------------------------------------------------------------------------------------------


def skipped(request: Request) -> list[int]:
    """Groups this steward skipped in this session: "next" passes over them."""
    return list(request.session.get("skipped_groups", []))


def serve_next(
    request: Request, *, run: MatchRun | None, policy: ThresholdPolicy | None, queue: str, exclude: list[int]
) -> work.Served:
    """What "next" serves (services/work.py decides the order): a claimed group, or a judgement to answer."""
    return work.next_work_claim(
        actor=request.user, run=run, policy=policy, queue=queue, exclude=[*exclude, *skipped(request)]
    )


def served_url(served: work.Served, queue: str | None) -> str:
    """Where what "next" served is opened: a judgement on its own (blind) page, a group on the group page."""
    if served.judgement is not None:
        url = reverse("judgement", args=[served.judgement.pk])
        return f"{url}?{urlencode({'queue': queue})}" if queue else url
    assert served.group is not None
    return group_url(served.group, queue)
