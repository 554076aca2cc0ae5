"""Assignment and reviewer quality (docs/architecture.md, "Assignment and age", "Reviewer quality"): models of the
`matches` app kept apart from matches/models.py, which imports them (so `from matches.models import Judgement`
works as for any other model)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from matches.models import Decision, Domain, MatchGroup, MatchRun

# Assignment and reviewer quality -------------------------------------------------------------------------------------


class Assignment(models.Model):
    """Work an admin gives a steward: `count` open groups of one queue and score range of the domain's run, drawn
    when assigned (docs/architecture.md, "Assignment and age"). Not a claim: nobody is kept out; the steward's "next"
    serves these first, and a profile set carried over into a later run stays assigned."""

    class Queue(models.TextChoices):
        MERGE = "merge", "Merge"
        REVIEW = "review", "Review"
        REJECT = "reject", "Reject"

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="assignments")
    run = models.ForeignKey(MatchRun, on_delete=models.PROTECT, related_name="assignments")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    queue = models.CharField(max_length=8, choices=Queue.choices)
    score_min = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    score_max = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    count = models.PositiveIntegerField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Withdrawn: its groups are no longer assigned")
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["assignee", "closed_at"], name="assignment_open")]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.count} of {self.queue} to {self.assignee_id})"


class AssignmentItem(models.Model):
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="items")
    group = models.ForeignKey(MatchGroup, on_delete=models.PROTECT, related_name="assignment_items")
    profile_set_key = models.CharField(max_length=64, help_text="Follows the profile set into later runs")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "group"], name="assignitem_unique")]
        indexes = [models.Index(fields=["profile_set_key"], name="assignitem_set_key")]


class KnownAnswer(models.Model):
    """A decided group an admin marks as a known answer: served blind to other stewards at the domain's rate, their
    judgements measured against `decision` (docs/architecture.md, "Reviewer quality")."""

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="known_answers")
    group = models.ForeignKey(MatchGroup, on_delete=models.PROTECT, related_name="known_answers")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="known_answers")
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["decision"], condition=Q(retired_at__isnull=True), name="known_answer_one_active"
            )
        ]


class Judgement(models.Model):
    """A steward's blind answer on a group already decided: a known answer, or a second review of an ordinary
    decision. A record of its own, never a Decision: it never changes a group and never reaches MergeProfiles. One
    that disagrees goes to an admin, who keeps the decision or undoes it while its merge has not run."""

    class Kind(models.TextChoices):
        KNOWN_ANSWER = "known_answer", "known answer"
        SECOND_REVIEW = "second_review", "second review"

    class Answer(models.TextChoices):
        MERGE = "merge"
        REJECT = "reject"
        SPLIT = "split"

    class Resolution(models.TextChoices):
        NONE = "", "—"
        OPEN = "open", "waiting for an admin"
        KEPT = "kept", "decision kept"
        UNDONE = "undone", "decision undone"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="judgements")
    group = models.ForeignKey(MatchGroup, on_delete=models.PROTECT, related_name="judgements")
    reference = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="judgements")
    known_answer = models.ForeignKey(
        KnownAnswer, on_delete=models.PROTECT, null=True, blank=True, related_name="judgements"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgements")
    served_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=8, choices=Answer.choices, blank=True)
    kept_profile_ids = ArrayField(
        models.CharField(max_length=32), default=list, blank=True, help_text="Split: the profiles said to be one"
    )
    reason = models.TextField(blank=True)
    agrees = models.BooleanField(null=True, blank=True)
    resolution = models.CharField(max_length=8, choices=Resolution.choices, blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        constraints = [
            # A decision is reviewed a second time once; a steward judges a known answer once.
            models.UniqueConstraint(
                fields=["reference"], condition=Q(kind="second_review"), name="judgement_one_second_review"
            ),
            models.UniqueConstraint(
                fields=["known_answer", "actor"], condition=Q(kind="known_answer"), name="judgement_known_once"
            ),
            models.CheckConstraint(
                condition=Q(kind="second_review") | Q(known_answer__isnull=False), name="judgement_known_has_answer"
            ),
        ]
        indexes = [
            models.Index(fields=["actor", "answered_at"], name="judgement_actor"),
            models.Index(fields=["domain", "resolution"], name="judgement_resolution"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} of group {self.group_id}"


class OverdueNotice(models.Model):
    """A profile set the overdue sweep told of: its open group passed the domain's review deadline and the assignees
    and admins were notified (docs/architecture.md, "Notifications"). One row per set and domain, written in the
    sweep's transaction with the notifications, so a second sweep tells nobody of it again (a set carried over into
    a later run keeps its row: it is the same overdue work)."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="overdue_notices")
    profile_set_key = models.CharField(max_length=64)
    group_id_told = models.BigIntegerField(help_text="The group told of (no foreign key: retention may archive it)")
    run_id_told = models.BigIntegerField()
    first_seen_at = models.DateTimeField()
    notified_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["domain", "profile_set_key"], name="overdue_notice_once"),
        ]

    def __str__(self) -> str:
        return f"overdue notice {self.profile_set_key} ({self.domain_id})"
