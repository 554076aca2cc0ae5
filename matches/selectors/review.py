"""Reads behind the steward's pages: queues (sorted by the policy in force at query time, keyset-paginated)
and the group page (members side by side, decisions, comments). docs/architecture.md, "Review".

Reads only: the members' profiles of an opened group come from services/profiles.group_profiles_refresh, which may
call AWS and write the Profile cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from matches.models import (
    CalibrationItem,
    Comment,
    Decision,
    Domain,
    MatchGroup,
    MatchRun,
    MergeJob,
    Profile,
    QASampleItem,
    Queue,
    ThresholdPolicy,
)
from matches.selectors import queue_search
from matches.selectors.counts import QueueCounts, queue_counts

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import QueryDict

MERGE, REVIEW, REJECT = Queue.MERGE, Queue.REVIEW, Queue.REJECT
CARRIED = "carried"  # a tab of the queue page, not a queue: groups carried over from the previous run
QUEUES = tuple(Queue)
TABS = (*QUEUES, CARRIED)
PAGE_SIZE = 50
_TABLE = MatchGroup._meta.db_table

Status = MatchGroup.Status


@dataclass
class QueueContext:
    domain: Domain
    run: MatchRun | None
    policy: ThresholdPolicy | None
    counts: QueueCounts
    # The run has an open group without a score, manual or rule-based (the queues' lists of them are asked only then).
    has_unscored: bool = True


def _context_of(domain: Domain) -> QueueContext:
    run = MatchRun(pk=domain._run_id, domain=domain) if domain._run_id else None
    policy = None
    if domain._policy_id:
        policy = ThresholdPolicy(
            pk=domain._policy_id, domain=domain, merge_min=domain._merge_min, reject_below=domain._reject_below
        )
    counts = queue_counts(run=run, policy=policy)
    return QueueContext(domain=domain, run=run, policy=policy, counts=counts, has_unscored=bool(domain._has_unscored))


# The domain with its latest completed run and the policy in force (the same choice as Domain.latest_completed_run()
# and Domain.policy()), one statement written once (two lateral joins): every queue page and group page
# asks it, and compiling the annotated ORM query cost more CPU than the query itself (issue 18). Whether the run has
# an open group without a score comes with it (the partial index group_unscored): most runs have none, and the
# lists of manual and rule-based groups are skipped.
_CONTEXT_SQL = f"""
    SELECT d.*, r.id AS _run_id, p.id AS _policy_id, p.merge_min AS _merge_min, p.reject_below AS _reject_below,
           EXISTS (SELECT 1 FROM "{_TABLE}" g WHERE g.run_id = r.id AND g.status = %s AND g.confidence_score IS NULL)
           AS _has_unscored
    FROM "{Domain._meta.db_table}" d
    LEFT JOIN LATERAL (
        SELECT id FROM "{MatchRun._meta.db_table}" WHERE domain_id = d.id AND status = %s
        ORDER BY finished_at DESC, id DESC LIMIT 1
    ) r ON true
    LEFT JOIN LATERAL (
        SELECT id, merge_min, reject_below FROM "{ThresholdPolicy._meta.db_table}" WHERE domain_id = d.id
        ORDER BY created_at DESC, id DESC LIMIT 1
    ) p ON true
    WHERE d.{{column}} = %s
"""


def _context_row(column: str, value: object) -> Domain | None:
    params = [Status.OPEN.value, MatchRun.Status.COMPLETED.value, value]
    rows = list(Domain.objects.raw(_CONTEXT_SQL.format(column=column), params))
    return rows[0] if rows else None


def queue_context_by_name(name: str) -> QueueContext:
    """The domain, its latest completed run, the policy in force (one query) and the open count per queue (one
    query on the run's histogram, no scan). Http404 when there is no such domain."""
    domain = _context_row("name", name)
    if domain is None:
        raise Http404("No such domain.")
    return _context_of(domain)


def queue_context(domain: Domain) -> QueueContext:
    """As queue_context_by_name, for a domain already at hand."""
    found = _context_row("id", domain.pk)
    if found is None:
        raise Domain.DoesNotExist(domain.pk)
    return _context_of(found)


def default_order(queue: str) -> str:
    return "asc" if queue == REJECT else "desc"


def encode_cursor(score: float, pk: int) -> str:
    return f"{float(score)!r}_{pk}"


def decode_cursor(value: str) -> tuple[float, int] | None:
    try:
        score, pk = value.split("_", 1)
        return float(score), int(pk)
    except (ValueError, AttributeError):
        return None


@dataclass
class QueueFilters:
    order: str = "desc"
    min_score: float | None = None
    max_score: float | None = None
    q: str = ""
    cursor: tuple[float, int] | None = None
    # Paging backwards: the page that ends just before this (score, id), in the filters' direction.
    before: tuple[float, int] | None = None
    # How many rows come before the page (carried in the paging links, never counted by a scan).
    start: int = 0
    errors: list[str] = field(default_factory=list)

    def querydict(self) -> dict[str, str]:
        """The filters (not the cursor) as GET parameters, for links that keep them."""
        out = {"order": self.order}
        if self.min_score is not None:
            out["min"] = repr(self.min_score)
        if self.max_score is not None:
            out["max"] = repr(self.max_score)
        if self.q:
            out["q"] = self.q
        return out


def parse_filters(params: QueryDict, queue: str) -> QueueFilters:
    """The queue page's GET parameters; a bad value becomes an error the page shows, not a 400."""
    order = params.get("order") or ""
    filters = QueueFilters(order=order if order in ("asc", "desc") else default_order(queue))
    for name, attr in (("min", "min_score"), ("max", "max_score")):
        raw = (params.get(name) or "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            filters.errors.append(f"The {name}imum score must be a number between 0 and 1.")
            continue
        if not 0 <= value <= 1:
            filters.errors.append(f"The {name}imum score must be between 0 and 1.")
            continue
        setattr(filters, attr, value)
    if filters.min_score is not None and filters.max_score is not None and filters.min_score > filters.max_score:
        filters.errors.append(
            f"The minimum score ({filters.min_score:g}) is above the maximum ({filters.max_score:g}), so no group can "
            "match: swap them or clear one."
        )
    filters.q = (params.get("q") or "").strip()[:200]
    if params.get("after"):
        filters.cursor = decode_cursor(str(params["after"]))
    elif params.get("before"):
        filters.before = decode_cursor(str(params["before"]))
    raw_start = str(params.get("start") or "")
    if filters.cursor or filters.before:
        filters.start = int(raw_start) if raw_start.isascii() and raw_start.isdigit() and len(raw_start) < 10 else 0
    return filters


@dataclass
class QueuePage:
    rows: list[MatchGroup]
    next_cursor: str | None
    filters: QueueFilters
    prev_cursor: str | None = None


def queue_page(*, run: MatchRun | None, policy: ThresholdPolicy, queue: str, filters: QueueFilters) -> QueuePage:
    """One page (PAGE_SIZE rows) of a queue, keyset-paginated on (score, id) in the filters' direction."""
    if run is None:
        return QueuePage([], None, filters)
    qs = MatchGroup.objects.filter(run=run)
    if queue == CARRIED:
        # Keyset on the score: a carried-over rule-based group (no score) is found by search, not in this list.
        qs = qs.filter(status=Status.CARRIED_OVER, confidence_score__isnull=False).select_related(
            "linked_decision__actor"
        )
    else:
        qs = qs.filter(policy.score_q(queue), status=Status.OPEN)
    if filters.min_score is not None:
        qs = qs.filter(confidence_score__gte=filters.min_score)
    if filters.max_score is not None:
        qs = qs.filter(confidence_score__lte=filters.max_score)
    if filters.q:
        qs = queue_search.search(qs, filters.q, run_id=run.pk)
    desc = filters.order == "desc"
    # Paging backwards walks the other direction from the cursor, then turns the rows round.
    backwards = filters.before is not None and filters.cursor is None
    cursor = filters.cursor or filters.before
    if cursor:
        # A row comparison, which Postgres answers with a range scan on (run, status, confidence_score, id).
        op = "<" if desc != backwards else ">"
        qs = qs.extra(
            where=[f'("{_TABLE}"."confidence_score", "{_TABLE}"."id") {op} (%s, %s)'],
            params=[cursor[0], cursor[1]],
        )
    order = ("-confidence_score", "-id") if desc != backwards else ("confidence_score", "id")
    # Only what a row shows: the arrays and search text stay in the database.
    columns = ["id", "match_id", "confidence_score", "size", "status", "display_names", "claimed_until"]
    columns += ["first_seen_at", "both_engines"]  # the row's age, the both-engines mark
    columns += ["claimed_by__username", "linked_decision"] if queue == CARRIED else ["claimed_by__username"]
    # Drawn into a QA sample (marked in the list, score hidden): a subquery of the same statement, not a query.
    qs = qs.annotate(qa_sampled=Exists(QASampleItem.objects.filter(group_id=OuterRef("pk"))))
    page = qs.select_related("claimed_by").only(*columns).order_by(*order)[: PAGE_SIZE + 1]
    if filters.q:
        with queue_search.serial_plans():
            rows: list[MatchGroup] = list(page)
    else:
        rows = list(page)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if backwards:
        rows.reverse()
        has_next, has_prev = True, more
    else:
        has_next, has_prev = more, cursor is not None
    if not has_prev:
        filters.start = 0
    # Every row here has a score: the score ranges leave manual groups out, and carry-over links AWS's groups only.
    next_cursor = encode_cursor(cast(float, rows[-1].confidence_score), rows[-1].pk) if has_next and rows else None
    prev_cursor = encode_cursor(cast(float, rows[0].confidence_score), rows[0].pk) if has_prev and rows else None
    return QueuePage(rows, next_cursor, filters, prev_cursor)


def claimable_q(actor: User, now: datetime | None = None) -> Q:
    """Groups `actor` may claim: nobody's, a lapsed lease, or theirs (MatchGroup.held_by_other, as a filter)."""
    now = now or timezone.now()
    return Q(claimed_by__isnull=True) | Q(claimed_until__lt=now) | Q(claimed_by=actor)


def queue_next_candidates(
    *, run: MatchRun, policy: ThresholdPolicy, queue: str, actor: User, exclude: list[int], limit: int = 5
) -> list[MatchGroup]:
    """The first open groups of a queue in its order that nobody else holds (the caller claims one)."""
    if queue not in QUEUES:
        queue = REVIEW
    qs = (
        MatchGroup.objects.filter(policy.score_q(queue), claimable_q(actor), run=run, status=Status.OPEN)
        .exclude(pk__in=exclude)
        .select_related("run__domain")
    )
    order = ("-confidence_score", "-id") if default_order(queue) == "desc" else ("confidence_score", "id")
    # Groups without a score (outside every score range) wait ahead of the scores: manual and rule-based groups.
    unscored = unscored_q(run=run, queue=queue)
    found = []
    if unscored is not None:
        first = MatchGroup.objects.filter(unscored, claimable_q(actor), run=run, status=Status.OPEN)
        found = list(first.exclude(pk__in=exclude).select_related("run__domain").order_by("rule_level", "id")[:limit])
    return found + list(qs.order_by(*order)[: limit - len(found)]) if len(found) < limit else found


def unscored_q(*, run: MatchRun, queue: str) -> Q | None:
    """The groups without a score a queue holds (MatchGroup.queue_of as a filter): in review the manual groups and
    the rule-based ones above the domain's rule_merge_max_level, in merge the rule-based ones up to it."""
    top = run.domain.rule_merge_max_level or 0
    rule = Q(source=MatchGroup.Source.RULE_BASED)
    unscored = Q(confidence_score__isnull=True)  # true of both kinds; lets Postgres use the partial group_unscored
    if queue == REVIEW:
        return unscored & (Q(source=MatchGroup.Source.MANUAL) | (rule & Q(rule_level__gt=top)))
    if queue == MERGE and top:
        return unscored & rule & Q(rule_level__lte=top)
    return None


def unscored_open_groups(*, run: MatchRun | None, queue: str, limit: int = PAGE_SIZE) -> list[MatchGroup]:
    """A queue's open groups without a score (listed above its scored groups): strictest rule level first, then the
    manual groups, oldest first."""
    where = unscored_q(run=run, queue=queue) if run is not None else None
    if where is None:
        return []
    qs = MatchGroup.objects.filter(where, run=run, status=Status.OPEN)
    columns = ("pk", "size", "display_names", "match_id", "source", "rule_level")
    return list(qs.only(*columns).order_by(F("rule_level").asc(nulls_last=True), "id")[:limit])


# The group page ------------------------------------------------------------------------------------------------------


@dataclass
class Column:
    number: int
    profile_id: str
    profile: Profile | None

    @property
    def missing(self) -> bool:
        return self.profile is None or self.profile.missing

    @property
    def name(self) -> str:
        """The name a steward knows the column by (customer data: rendered escaped)."""
        if self.profile is None:
            return ""
        a = self.profile.attributes or {}
        full = " ".join(str(a.get(k) or "").strip() for k in ("FirstName", "LastName")).strip()
        return full or str(a.get("BusinessName") or "").strip()


def group_page_queryset() -> QuerySet[MatchGroup]:
    """The group as its page reads it (access.get_group_or_404's queryset), with four answers in the same statement
    that would otherwise be four queries: has it decisions, comments, a sample holding it, and may another group's
    pending merge share one of its profiles. A False skips that read (group_decisions, group_comments,
    estimates.sampled_as, approvals.group_overlaps); a group fetched without them is read as before."""
    pending = MergeJob.objects.filter(
        status__in=MergeJob.ACTIVE,
        decision__group__run__domain_id=OuterRef("run__domain_id"),
        decision__group__profile_ids__overlap=OuterRef("profile_ids"),
    ).exclude(decision__group_id=OuterRef("pk"))
    return MatchGroup.objects.select_related("run__domain", "claimed_by").annotate(
        page_has_decisions=Exists(Decision.objects.filter(group_id=OuterRef("pk"))),
        page_has_comments=Exists(Comment.objects.filter(group_id=OuterRef("pk"))),
        page_qa_sampled=Exists(QASampleItem.objects.filter(group_id=OuterRef("pk"))),
        page_calibration_sampled=Exists(
            CalibrationItem.objects.filter(group_id=OuterRef("pk"), sample__closed_at__isnull=True)
        ),
        page_overlap_candidates=Exists(pending),
    )


def known_none(group: MatchGroup, flag: str) -> bool:
    """group_page_queryset's `flag` is on `group` and says there is none."""
    return getattr(group, flag, None) is False


def group_decisions(group: MatchGroup) -> list[Decision]:
    if known_none(group, "page_has_decisions"):
        return []
    return list(
        Decision.objects.filter(group=group)
        .select_related("actor", "merge_job", "reverts", "approval__requested_by", "approval__decided_by")
        .order_by("-created_at", "-id")
    )


def group_comments(group: MatchGroup) -> list[Comment]:
    if known_none(group, "page_has_comments"):
        return []
    return list(Comment.objects.filter(group=group).select_related("author").order_by("created_at", "id"))


def last_own_decision(*, user: User, domain: Domain, exclude_group: MatchGroup) -> Decision | None:
    """The steward's own latest decision within the domain's undo window, unless it is on `exclude_group`
    (offered for undo on the next group's page)."""
    since = timezone.now() - timedelta(seconds=domain.undo_window_seconds)
    last = (
        Decision.objects.filter(actor=user, created_at__gte=since)
        .select_related("group", "merge_job", "actor")
        .order_by("-created_at", "-id")
        .first()
    )
    return None if last is not None and last.group_id == exclude_group.pk else last
