"""Matchdesk's data model: docs/architecture.md, "Data model (contract: model and field names)". Field and model names
are a contract other checks rely on. A rule about one object is a method here (its model's one place):
docs/architecture.md, "Rules on the models"."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from matches.words import SEARCH_WORDS

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

DOMAIN_NAME_RE = r"^[a-zA-Z0-9_-]{1,64}$"
PROFILE_ID_RE = r"^[a-f0-9]{32}$"

append_only = pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)


def profile_set_key(profile_ids: list[str] | tuple[str, ...]) -> str:
    """Identity of a group across weekly runs: a hash of its sorted, distinct profile ids."""
    return hashlib.sha256(",".join(sorted(set(profile_ids))).encode()).hexdigest()


class Queue(models.TextChoices):
    """The three queues a score falls into under a ThresholdPolicy."""

    MERGE = "merge", "Merge"
    REVIEW = "review", "Review"
    REJECT = "reject", "Reject"


# The Decision field is named `bucket` (a contract); its values are the queues.
Bucket = Queue


class ResultsSource(models.TextChoices):
    """Where a pull reads a job's results: GetMatches pages, or the job's S3 export (services/pulls/s3.py)."""

    GET_MATCHES = "get_matches", "GetMatches"
    S3 = "s3", "S3 export"


class Domain(models.Model):
    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(DOMAIN_NAME_RE, "Letters, digits, '_' and '-' only, at most 64.")],
    )
    region = models.CharField(max_length=32, default="us-east-1")
    endpoint_url = models.URLField(blank=True, help_text="Blank: standard boto3 resolution.")
    role_arn = models.CharField(max_length=2048, blank=True)
    enabled = models.BooleanField(default=True)
    merges_paused = models.BooleanField(default=False)
    undo_window_seconds = models.PositiveIntegerField(default=120)
    merge_rate_per_second = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    blind_review_enforced = models.BooleanField(default=False)
    # Four-eyes rules: which merges wait for a second person before their undo window starts (Domain.approval_rule).
    approval_size_above = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Groups of more than this many profiles need a second person; blank: none"
    )
    approval_score_below = models.DecimalField(
        max_digits=4, decimal_places=3, null=True, blank=True, help_text="Scores below this need a second person"
    )
    approval_splits = models.BooleanField(default=False, help_text="Every split needs a second person")
    approval_bulk = models.BooleanField(default=False, help_text="Every bulk job needs a second admin")
    approval_all = models.BooleanField(default=False, help_text="Every merge, split and bulk job")
    # Assignment and reviewer quality (docs/architecture.md, "Assignment and age", "Reviewer quality").
    review_deadline_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Overdue after; blank: none"
    )
    known_answer_rate = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0"))
    second_review_rate = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0"))
    # "Pull now" was asked and no pull has started since: the hand-off sweep queues it again if its message was lost.
    pull_requested_at = models.DateTimeField(null=True, blank=True)
    results_source = models.CharField(max_length=16, choices=ResultsSource.choices, default=ResultsSource.GET_MATCHES)
    # Rule-based matches (docs/architecture.md, "Rule-based matches"): pulled after GetMatches; levels up to
    # rule_merge_max_level wait in the merge queue, the others (all, when blank) in review.
    rule_based_pull = models.BooleanField(default=False, db_default=False)
    rule_merge_max_level = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(15)])
    # Calls per second per operation shared by all workers, over matches/ratelimit.py's defaults.
    aws_rates = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_queues", "Can see queues, groups and history"),
            ("decide_groups", "Can claim and decide groups"),
            ("administer", "Can administer domains, thresholds, pulls and users"),
            ("view_audit", "Can read and export the audit history"),
        ]

    def __str__(self) -> str:
        return self.name

    def policy(self) -> ThresholdPolicy:
        """The threshold policy in force: the newest row (domain_save writes the first one with the domain)."""
        return self.threshold_policies.order_by("-created_at", "-id").first()  # type: ignore[return-value]

    def latest_completed_run(self) -> MatchRun | None:
        return self.runs.filter(status=MatchRun.Status.COMPLETED).order_by("-finished_at", "-id").first()

    def approval_rule(self, *, size: int, score: float | None, split: bool) -> str:
        """The four-eyes rule a merge or split falls under, in words ("" when one person is enough).
        `score` is None for a group without one."""
        if self.approval_all:
            return "every merge needs a second person"
        if split and self.approval_splits:
            return "every split needs a second person"
        if self.approval_size_above is not None and size > self.approval_size_above:
            return f"groups of more than {self.approval_size_above} profiles"
        if self.approval_score_below is not None and score is not None and score < float(self.approval_score_below):
            return f"scores below {self.approval_score_below}"
        return ""

    def bulk_approval_rule(self) -> str:
        """The rule a bulk job falls under ("" when it may run at once): approved as a whole by a second admin."""
        if self.approval_all or self.approval_bulk:
            return "every bulk job needs a second admin"
        return ""


class ThresholdPolicy(models.Model):
    """Append-only; the newest row per domain is in force."""

    DEFAULT_MERGE_MIN = Decimal("0.950")
    DEFAULT_REJECT_BELOW = Decimal("0.600")

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="threshold_policies")
    merge_min = models.DecimalField(max_digits=4, decimal_places=3)
    reject_below = models.DecimalField(max_digits=4, decimal_places=3)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["domain", "-created_at", "-id"], name="policy_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(reject_below__gte=0) & Q(reject_below__lte=models.F("merge_min")) & Q(merge_min__lte=1),
                name="policy_order",
            )
        ]
        triggers = [append_only]

    def queue_of(self, score: float) -> Queue:
        """The queue a score falls into: merge from merge_min up, reject below reject_below, review between."""
        if score >= float(self.merge_min):
            return Queue.MERGE
        if score < float(self.reject_below):
            return Queue.REJECT
        return Queue.REVIEW

    bucket = queue_of

    def bounds(self, queue: Queue | str) -> tuple[Decimal | None, Decimal | None]:
        """A queue's score range as (lowest included, first excluded); None is open-ended."""
        queue = Queue(queue)
        if queue == Queue.MERGE:
            return self.merge_min, None
        if queue == Queue.REJECT:
            return None, self.reject_below
        return self.reject_below, self.merge_min

    def score_range(self, queue: Queue | str) -> tuple[float, float]:
        """A queue's scores as [lowest, first excluded) floats, as a BulkJob stores them: the merge queue includes
        1.0, so its top is 2.0."""
        low, high = self.bounds(queue)
        return (float(low) if low is not None else 0.0, float(high) if high is not None else 2.0)

    def score_q(self, queue: Queue | str, field: str = "confidence_score") -> Q:
        """The ORM filter for a queue's score range on `field`."""
        low, high = self.bounds(queue)
        q = Q()
        if low is not None:
            q &= Q(**{f"{field}__gte": float(low)})
        if high is not None:
            q &= Q(**{f"{field}__lt": float(high)})
        return q


class MatchRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        # Stored, and the previous run superseded; earlier decisions are carried over in batches. The queues show
        # the run once carry-over has finished (then it is `completed`): docs/architecture.md, "Completion".
        CARRYING_OVER = "carrying_over"
        COMPLETED = "completed"
        FAILED = "failed"
        SUPERSEDED = "superseded"

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="runs")
    generated_at = models.DateTimeField(null=True, blank=True, help_text="MatchGenerationDate")
    job_id = models.CharField(max_length=255, blank=True, help_text="Identity resolution job that produced it")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    potential_matches = models.PositiveIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    groups_seen = models.PositiveIntegerField(default=0)
    groups_stored = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    restarts = models.PositiveSmallIntegerField(default=0)
    next_token = models.TextField(blank=True, help_text="Checkpoint: the token of the next page")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    # Completion (services/pulls/carry_over.py): the carry-over checkpoint, the keyset position (score_id) of the
    # last open group it looked at, with its running totals; and, once a newer run replaced this one, when it stepped
    # down and when the background rewrite of its open groups to `superseded` finished.
    carry_over_cursor = models.CharField(max_length=64, blank=True)
    completion = models.JSONField(default=dict, blank=True, help_text="Completion totals so far")
    superseded_at = models.DateTimeField(null=True, blank=True)
    groups_superseded_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=ResultsSource.choices, default=ResultsSource.GET_MATCHES)
    export_location = models.CharField(max_length=1100, blank=True, help_text="s3://bucket/prefix read")
    reconciliation = models.JSONField(default=dict, blank=True, help_text="Records read against AWS's counts")
    rule_next_token = models.TextField(blank=True, help_text="Checkpoint of the ListRuleBasedMatches pages")
    rule_pages = models.PositiveIntegerField(default=0, db_default=0)
    rule_groups_stored = models.PositiveIntegerField(default=0, db_default=0)
    # Retention (services/retention.py): when the run's undecided groups moved to ArchivedGroup.
    groups_archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["domain", "status", "-finished_at"], name="run_domain_status")]
        constraints = [
            # One pull per domain at a time, enforced by the database.
            models.UniqueConstraint(fields=["domain"], condition=Q(status="running"), name="one_running_pull"),
        ]

    def __str__(self) -> str:
        return f"{self.domain} run {self.pk} ({self.status})"

    def takes_decisions(self) -> bool:
        """Only the groups of a completed run are decided: a superseded run's are replaced, a run still carrying
        over is not shown yet."""
        return self.status == MatchRun.Status.COMPLETED


class RunScoreBin(models.Model):
    """Per-run score histogram in 0.001 bins, kept current inside the transactions that change group status,
    so queue counts and threshold previews never scan the run."""

    run = models.ForeignKey(MatchRun, on_delete=models.CASCADE, related_name="score_bins")
    bin = models.PositiveSmallIntegerField(help_text="floor(score * 1000), 0..1000")
    total = models.PositiveIntegerField(default=0)
    open = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "bin"], name="run_bin_unique")]


class MatchGroup(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        APPROVED = "approved"
        MERGED = "merged"
        REJECTED = "rejected"
        SPLIT = "split"
        CARRIED_OVER = "carried_over"
        STALE = "stale"
        SUPERSEDED = "superseded"
        FAILED = "failed"
        REPLACED = "replaced"  # a steward added a profile: the manual group `replaced_by` holds the set now

    class Source(models.TextChoices):
        """Who formed the group: AWS's ML job (GetMatches), a rule-based helper, or a steward (no score)."""

        AWS_ML = "aws_ml", "AWS ML"
        RULE_BASED = "rule_based", "rule-based"
        MANUAL = "manual"

    run = models.ForeignKey(MatchRun, on_delete=models.PROTECT, related_name="groups")
    match_id = models.CharField(max_length=255)
    profile_ids = ArrayField(models.CharField(max_length=32))
    profile_set_key = models.CharField(max_length=64)
    # None for a manual or rule-based group: no score, out of histograms and the score evidence; queue_of places it.
    confidence_score = models.FloatField(null=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.AWS_ML, db_default=Source.AWS_ML)
    rule_level = models.PositiveSmallIntegerField(null=True, blank=True, help_text="RuleLevel (1 is the strictest)")
    both_engines = models.BooleanField(
        default=False, db_default=False, help_text="An ML group rule-based matching also proposes"
    )
    replaces = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by")
    size = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    status_reason = models.TextField(blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="claims"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Denormalised for the queue row and its search; filled when the members are hydrated.
    display_names = models.TextField(blank=True)
    search_text = models.TextField(blank=True)
    linked_decision = models.ForeignKey(
        "Decision", on_delete=models.PROTECT, null=True, blank=True, related_name="carried_groups"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Age: when the profile set was first stored by the domain (pull: now(); carry-over: its earliest group's).
    first_seen_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "match_id"], name="group_run_match_unique"),
            models.CheckConstraint(
                condition=Q(confidence_score__gte=0) & Q(confidence_score__lte=1), name="group_score_range"
            ),
            models.CheckConstraint(
                condition=Q(source="manual", confidence_score__isnull=True, rule_level__isnull=True)
                | Q(source="rule_based", confidence_score__isnull=True, rule_level__gte=1, rule_level__lte=15)
                | Q(source="aws_ml", confidence_score__isnull=False),
                name="group_score_by_source",
            ),
        ]
        indexes = [
            # Queues: one run, one status, a score range, keyset on (score, id) in either direction.
            models.Index(fields=["run", "status", "confidence_score", "id"], name="group_queue"),
            models.Index(fields=["profile_set_key"], name="group_set_key"),
            GinIndex(fields=["profile_ids"], name="group_profile_ids"),
            GinIndex(fields=["search_text"], name="group_search_trgm", opclasses=["gin_trgm_ops"]),
            # The queue search finds a match id by any part of it (what the pages show is its distinctive end).
            GinIndex(fields=["match_id"], name="group_match_id_trgm", opclasses=["gin_trgm_ops"]),
            # Overdue counts: a run's open groups first seen before the deadline.
            models.Index(fields=["run", "status", "first_seen_at"], name="group_age"),
            # Groups without a score (manual, rule-based: outside group_queue's score ranges): their queues list them
            # above the scores and "next" serves them first. Partial: only those rare rows are in it.
            models.Index(
                fields=["run", "status", "id"], name="group_unscored", condition=Q(confidence_score__isnull=True)
            ),
            models.Index(fields=["run"], name="group_linked", condition=Q(linked_decision__isnull=False)),
            GinIndex(SEARCH_WORDS, name="group_search_words"),  # the queue search's words (matches/words.py)
        ]

    def __str__(self) -> str:
        return f"group {self.match_id} ({self.score_label})"

    @property
    def score_label(self) -> str:
        if self.confidence_score is None:
            return f"rule level {self.rule_level}" if self.rule_level else "manual"
        return f"{self.confidence_score:.3f}"

    def queue_of(self, policy: ThresholdPolicy | None) -> Queue | str:
        """The group's queue under `policy`: a rule-based group by its level (Domain.rule_merge_max_level), a manual
        group always in review, any other by its score."""
        if self.confidence_score is None:
            top = policy.domain.rule_merge_max_level if policy and self.rule_level else None
            return Queue.MERGE if top and self.rule_level and self.rule_level <= top else Queue.REVIEW
        return policy.queue_of(self.confidence_score) if policy else ""

    def read_status(self) -> str:
        """The status every reader shows: an open group of a superseded run is superseded, whether or not the
        background rewrite has reached its row yet (docs/architecture.md, "Completion")."""
        if self.status == MatchGroup.Status.OPEN and self.run.status == MatchRun.Status.SUPERSEDED:
            return MatchGroup.Status.SUPERSEDED
        return self.status

    def as_read(self) -> MatchGroup:
        """This group with `status` as read_status() gives it (for pages; never saved)."""
        status = self.read_status()
        if status != self.status:
            self.status, self.status_reason = status, f"A newer pull replaced run {self.run_id}."
        return self

    def is_held(self, now: datetime) -> bool:
        """A live claim (lease) on this group, by anyone."""
        return bool(self.claimed_by_id and self.claimed_until and self.claimed_until > now)

    def held_by_other(self, user: User | AnonymousUser, now: datetime) -> bool:
        """Someone other than `user` holds a live claim on this group."""
        return self.is_held(now) and self.claimed_by_id != user.pk

    def held_by(self, user: User | AnonymousUser, now: datetime) -> bool:
        """`user` holds a live claim on this group."""
        return self.is_held(now) and self.claimed_by_id == user.pk

    def age_days(self, now: datetime) -> int:
        """Whole days since the profile set first appeared (in the first run of the domain that held it)."""
        return max(0, (now - self.first_seen_at).days)

    def is_overdue(self, now: datetime) -> bool:
        """Open past its domain's review deadline (none: never overdue)."""
        days = self.run.domain.review_deadline_days
        return self.status == MatchGroup.Status.OPEN and days is not None and self.age_days(now) >= days


class QuarantinedMatch(models.Model):
    run = models.ForeignKey(MatchRun, on_delete=models.PROTECT, related_name="quarantined_items")
    raw = models.JSONField(help_text="The item as received")
    raw_hash = models.CharField(max_length=64)
    reason = models.TextField()
    page = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "raw_hash"], name="quarantine_run_raw_unique")]


class Profile(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="profiles")
    profile_id = models.CharField(max_length=32, validators=[RegexValidator(PROFILE_ID_RE)])
    attributes = models.JSONField(default=dict, help_text="As BatchGetProfile returned it")
    fetched_at = models.DateTimeField(null=True, blank=True)
    missing = models.BooleanField(default=False)
    merged_into = models.CharField(max_length=32, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["domain", "profile_id"], name="profile_domain_id_unique")]

    def __str__(self) -> str:
        return self.profile_id


class ProfileSnapshot(models.Model):
    """The profiles as a steward saw them when deciding. Kept apart from the Decision so that a data subject's
    request can erase the contents while the Decision, and the audit hash of the contents, remain."""

    created_at = models.DateTimeField(auto_now_add=True)
    profile_ids = ArrayField(models.CharField(max_length=32), default=list)
    profiles = models.JSONField(default=dict, help_text="profile_id -> attributes")
    content_hash = models.CharField(max_length=64)
    erased_at = models.DateTimeField(null=True, blank=True)
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)

    class Meta:
        indexes = [GinIndex(fields=["profile_ids"], name="snapshot_profile_ids")]


class Decision(models.Model):
    """Append-only. The latest decision on a group counts."""

    class Action(models.TextChoices):
        MERGE = "merge"
        REJECT = "reject"
        SPLIT = "split"
        UNDO = "undo"
        REOPEN = "reopen"

    group = models.ForeignKey(MatchGroup, on_delete=models.PROTECT, related_name="decisions")
    action = models.CharField(max_length=8, choices=Action.choices)
    reverts = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="reverted_by")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions")
    created_at = models.DateTimeField(auto_now_add=True)
    confidence_score = models.FloatField(null=True)  # None: a manual group's decision (never threshold evidence)
    bucket = models.CharField(max_length=8, choices=Bucket.choices)
    threshold_policy = models.ForeignKey(ThresholdPolicy, on_delete=models.PROTECT, null=True, blank=True)
    main_profile_id = models.CharField(max_length=32, blank=True)
    merged_profile_ids = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    excluded_profile_ids = ArrayField(
        models.CharField(max_length=32), default=list, blank=True, help_text="Split: recorded as not this customer"
    )
    field_sources = models.JSONField(default=dict, blank=True, help_text="field -> profile id whose value wins")
    reason = models.TextField(blank=True)
    bulk = models.BooleanField(default=False)
    snapshot = models.ForeignKey(ProfileSnapshot, on_delete=models.PROTECT, null=True, blank=True)
    # Reject: keyed digests of the members' matching attributes (services/rematch.py), kept when a snapshot is
    # erased. Reopen by the system: the fields that changed since, by profile (names only, never values).
    matching_digest = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))
    changed_fields = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))

    class Meta:
        indexes = [
            models.Index(fields=["group", "-created_at", "-id"], name="decision_group_latest"),
            models.Index(fields=["actor", "-created_at"], name="decision_actor"),
            models.Index(fields=["-created_at", "-id"], name="decision_recent"),
        ]
        triggers = [append_only]

    class UndoBlock(models.TextChoices):
        """Why a decision cannot be undone (Decision.undo_blocker)."""

        NOT_A_MERGE = "not_a_merge", "Only a merge or split can be undone."
        STARTED = "started", "Too late to undo: the merge has started."
        ROLE = "role", "Only the steward who approved this merge, or an admin, can undo it."

    def undo_blocker(self, user: User | AnonymousUser) -> UndoBlock | None:
        """What stops `user` undoing this decision now, or None when they may.

        A merge or split whose job has not started, taken back by its steward or an admin. Whether it is still the
        group's latest decision is the caller's to know (the service checks it under lock)."""
        from matches import roles

        if self.action not in (Decision.Action.MERGE, Decision.Action.SPLIT):
            return Decision.UndoBlock.NOT_A_MERGE
        if not user.is_active or not user.has_perm(roles.DECIDE):
            return Decision.UndoBlock.ROLE
        if self.actor_id != user.pk and not user.has_perm(roles.ADMINISTER):
            return Decision.UndoBlock.ROLE
        job = getattr(self, "merge_job", None)
        if job is None or job.status not in MergeJob.NOT_STARTED:
            return Decision.UndoBlock.STARTED
        return None

    def touched_profile_ids(self) -> set[str]:
        """The profiles its MergeProfiles calls name: the main profile and those merged into it."""
        return {self.main_profile_id, *self.merged_profile_ids} - {""}

    def can_undo(self, user: User | AnonymousUser) -> bool:
        """A merge or split whose job has not started, taken back by its steward or an admin."""
        return self.undo_blocker(user) is None


class MergeJob(models.Model):
    class Status(models.TextChoices):
        # Four-eyes: waits for a second person; never due (docs/architecture.md, "Four-eyes approval").
        AWAITING_APPROVAL = "awaiting_approval", "awaiting approval"
        SCHEDULED = "scheduled"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    decision = models.OneToOneField(Decision, on_delete=models.PROTECT, related_name="merge_job")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.SCHEDULED)
    not_before = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    aws_messages = models.JSONField(default=list, blank=True)
    gone_profile_ids = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Execution bookkeeping (matches/services/merges/): the chunk plan computed from the Decision, the chunk whose
    # MergeProfiles call was sent but whose outcome is not known yet, and the claim token of the worker running it.
    plan = models.JSONField(default=list, blank=True, help_text="Chunks of profile ids to merge, in call order")
    inflight_chunk = models.SmallIntegerField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    # Not started: an undo still takes it back. Active: it will touch, or is touching, its profiles at AWS.
    NOT_STARTED = (Status.AWAITING_APPROVAL, Status.SCHEDULED)
    ACTIVE = (Status.AWAITING_APPROVAL, Status.SCHEDULED, Status.RUNNING)

    class Meta:
        indexes = [models.Index(fields=["status", "not_before"], name="mergejob_due")]

    def can_retry(self, user: User | AnonymousUser) -> bool:
        """A failed job may be tried again, by an admin (the retry re-checks every profile before any call)."""
        from matches import roles

        return self.status == MergeJob.Status.FAILED and user.is_active and user.has_perm(roles.ADMINISTER)


class Comment(models.Model):
    group = models.ForeignKey(MatchGroup, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class OpsSwitch(models.Model):
    """Global operational switches (e.g. pause merges for all domains), changed only through an audited service."""

    PAUSE_ALL_MERGES = "pause_all_merges"

    name = models.CharField(max_length=64, unique=True)
    on = models.BooleanField(default=False)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    changed_at = models.DateTimeField(auto_now=True)

    @classmethod
    def is_on(cls, name: str) -> bool:
        return cls.objects.filter(name=name, on=True).exists()


class AuditEvent(models.Model):
    """Append-only, one global HMAC hash chain (see matches/services/audit.py)."""

    seq = models.BigIntegerField(unique=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=255)
    domain = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        indexes = [
            models.Index(fields=["action", "-seq"], name="audit_action"),
            models.Index(fields=["actor", "-seq"], name="audit_actor"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["domain", "-seq"], name="audit_domain"),
            models.Index(fields=["created_at"], name="audit_created"),
            GinIndex(fields=["details"], name="audit_details", opclasses=["jsonb_path_ops"]),
        ]
        triggers = [append_only]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"


# Admin: QA samples, bulk jobs, heartbeats -----------------------------------------------------------------------------


class QASample(models.Model):
    """A seeded random sample of the merge or reject queue, sent to stewards in blind review before bulk decisions."""

    class Queue(models.TextChoices):
        MERGE = "merge", "Merge"
        REJECT = "reject", "Reject"

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="qa_samples")
    run = models.ForeignKey(MatchRun, on_delete=models.PROTECT, related_name="qa_samples")
    queue = models.CharField(max_length=8, choices=Queue.choices)
    threshold_policy = models.ForeignKey(ThresholdPolicy, on_delete=models.PROTECT, null=True, blank=True)
    rate = models.DecimalField(max_digits=5, decimal_places=4, help_text="Share of the queue drawn, 0..1")
    seed = models.BigIntegerField()
    size = models.PositiveIntegerField()
    population = models.PositiveIntegerField(default=0, help_text="Open groups in the queue when drawn")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["domain", "queue", "-created_at"], name="qasample_latest")]


class QASampleItem(models.Model):
    sample = models.ForeignKey(QASample, on_delete=models.CASCADE, related_name="items")
    group = models.ForeignKey(MatchGroup, on_delete=models.PROTECT, related_name="qa_items")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sample", "group"], name="qaitem_sample_group_unique")]


class CalibrationSample(models.Model):
    """Groups drawn across the whole score range for the threshold estimates (matches/estimates): stewards pressing
    "next" in any queue of the domain get them, blind, until `budget` decisions are drawn and decided. Drawn in rounds:
    each next round is placed with the estimates the decisions so far give."""

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="calibration_samples")
    run = models.ForeignKey(MatchRun, on_delete=models.PROTECT, related_name="calibration_samples")
    budget = models.PositiveIntegerField()
    rounds = models.PositiveSmallIntegerField(default=2)
    seed = models.BigIntegerField()
    drawn = models.PositiveIntegerField(default=0, help_text="Groups drawn so far (all rounds)")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Stopped: its pending groups leave the sample")

    class Meta:
        indexes = [models.Index(fields=["domain", "-created_at"], name="calsample_latest")]

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def next_round_size(self) -> int:
        """Groups the next round draws: an even share of what is left over the rounds left (the last takes all)."""
        done_rounds = self.items.values("round").distinct().count()
        left = self.budget - self.drawn
        return 0 if left <= 0 else left // max(self.rounds - done_rounds, 1)


class CalibrationItem(models.Model):
    sample = models.ForeignKey(CalibrationSample, on_delete=models.CASCADE, related_name="items")
    group = models.ForeignKey(MatchGroup, on_delete=models.PROTECT, related_name="calibration_items")
    round = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sample", "group"], name="calitem_sample_group_unique")]


class BulkJob(models.Model):
    """Approve or reject many groups of one queue, each with its own bulk Decision; large ones run in a worker."""

    class Status(models.TextChoices):
        AWAITING = "awaiting", "awaiting approval"  # four-eyes: a second admin approves it before it runs
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Action(models.TextChoices):
        MERGE = "merge", "Approve merges"
        REJECT = "reject", "Reject"

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="bulk_jobs")
    run = models.ForeignKey(MatchRun, on_delete=models.PROTECT, related_name="bulk_jobs")
    queue = models.CharField(max_length=8, choices=QASample.Queue.choices)
    action = models.CharField(max_length=8, choices=Action.choices)
    threshold_policy = models.ForeignKey(ThresholdPolicy, on_delete=models.PROTECT)
    score_min = models.FloatField(help_text="Inclusive lower bound of the queue's scores")
    score_below = models.FloatField(help_text="Exclusive upper bound (above 1 for the merge queue)")
    group_ids = ArrayField(models.BigIntegerField(), default=list, blank=True, help_text="Empty: all in the queue")
    cursor = models.BigIntegerField(default=0, help_text="Last group id processed (resumable)")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    skip_reasons = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def covers(self, score: float) -> bool:
        """The score lies in the queue's range as it was when the job was confirmed."""
        return self.score_min <= score < self.score_below

    @property
    def processed(self) -> int:
        return self.done + self.skipped

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.processed / self.total))


class Heartbeat(models.Model):
    """Last sign of life of a worker or of beat (shown on the operations page)."""

    class Kind(models.TextChoices):
        WORKER = "worker"
        BEAT = "beat"

    name = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    last_seen = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)


# The API: personal tokens -------------------------------------------------------------------------------------------


class ApiToken(models.Model):
    """A personal API token (docs/architecture.md, "API"). Only its SHA-256 digest is stored; `prefix` (the first
    characters, which the token itself carries) finds it and is the part ever shown again."""

    PREFIX_LENGTH = 12  # "mdk_" and 8 random hex characters

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def digest_of(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()


# Models kept in modules of their own so this file stays under its limit; Django finds them through here.
# Notifications: docs/architecture.md, "Notifications"; access: "Single sign-on and domain access"; drift: "Drift";
# export objects: "S3 ingestion".
from matches.access_models import UserAccess  # noqa: E402, F401
from matches.approval_models import Approval  # noqa: E402, F401
from matches.archive_models import ArchivedGroup  # noqa: E402, F401
from matches.drift_models import RunDrift  # noqa: E402, F401
from matches.notify_models import (  # noqa: E402, F401
    NotificationDelivery,
    NotificationKind,
    NotificationPreference,
    WebhookEndpoint,
)
from matches.s3_models import ExportObject  # noqa: E402, F401
from matches.workflow_models import Assignment, AssignmentItem, Judgement, KnownAnswer, OverdueNotice  # noqa: E402, F401
