"""The objects of a job's S3 export (docs/architecture.md, "S3 ingestion"); re-exported by matches/models.py."""

from __future__ import annotations

from django.db import models

from matches.models import MatchRun


class ExportObject(models.Model):
    """One object of a job's S3 export: one worker at a time reads it (claim), from its checkpoint on."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CLAIMED = "claimed"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(MatchRun, on_delete=models.CASCADE, related_name="export_objects")
    key = models.CharField(max_length=1024)
    size = models.BigIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    claim_token = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    records_done = models.PositiveIntegerField(default=0, help_text="Checkpoint: records stored so far")
    stored = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    layout = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="export_object_run_key")]
