"""Second-person approvals (docs/architecture.md, "Four-eyes approval"); re-exported by matches/models.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q

from matches.models import BulkJob, Decision, Domain

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class Approval(models.Model):
    """A second person's approval of a merge or split decision, or of a bulk job as a whole (four-eyes). A record of
    its own, not a Decision: it never changes a group and never reaches MergeProfiles; approving only lets the job's
    undo window start (docs/architecture.md, "Four-eyes approval")."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        SENT_BACK = "sent_back", "sent back"
        WITHDRAWN = "withdrawn"  # the decision was undone before a second person answered

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="approvals")
    decision = models.OneToOneField(Decision, on_delete=models.PROTECT, null=True, blank=True, related_name="approval")
    bulk_job = models.OneToOneField(BulkJob, on_delete=models.PROTECT, null=True, blank=True, related_name="approval")
    rule = models.CharField(max_length=120, help_text="The domain rule that required a second person, in words")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="Why it was sent back (or a note on approval)")

    class Meta:
        indexes = [models.Index(fields=["domain", "status", "requested_at"], name="approval_awaiting")]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision__isnull=False, bulk_job__isnull=True)
                | Q(decision__isnull=True, bulk_job__isnull=False),
                name="approval_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="approval_second_person",
            ),
        ]

    def __str__(self) -> str:
        return f"approval {self.pk} ({self.status})"

    def refusal_for(self, user: User | AnonymousUser) -> str:
        """Why `user` cannot approve or send this back ("" when they may): a second person, never the first; a
        steward for a decision, an admin for a bulk job."""
        from matches import roles

        if self.status != Approval.Status.PENDING:
            return f"This approval is already {self.get_status_display().lower()}."
        if not user.is_active or not user.has_perm(roles.DECIDE):
            return "Your role cannot approve merges."
        if self.bulk_job_id is not None and not user.has_perm(roles.ADMINISTER):
            return "A bulk job is approved by a second admin."
        if self.requested_by_id == user.pk:
            return "A second person must approve this: you asked for it."
        return ""
