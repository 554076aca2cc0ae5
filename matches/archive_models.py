"""Groups moved out of the hot table by retention (docs/scaling.md, "Partitioning by run"); re-exported by
matches/models.py."""

from __future__ import annotations

from django.db import models

from matches.models import MatchRun


class ArchivedGroup(models.Model):
    """A group of a run past the retention window, out of the hot table and its indexes (docs/scaling.md,
    "Partitioning by run"): its row as it was, as JSON, under the same id. Only groups nothing refers to move here
    (no decision, comment, QA or calibration item, carried-over link); pages never read this table."""

    id = models.BigIntegerField(primary_key=True, help_text="The group's id in MatchGroup")
    run = models.ForeignKey(MatchRun, on_delete=models.PROTECT, related_name="archived_groups")
    match_id = models.CharField(max_length=255)
    row = models.JSONField(help_text="The MatchGroup row as it was archived")
    archived_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"archived group {self.pk} of run {self.run_id}"
