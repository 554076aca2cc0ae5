"""Drift between weekly runs (docs/architecture.md, "Drift"); re-exported by matches/models.py."""

from __future__ import annotations

from django.db import models

from matches.models import MatchRun


class RunDrift(models.Model):
    """How a run differs from the domain's run before it (issue 16, drift), computed once after it completes
    (services/drift.py): profile sets that persisted and how their scores moved, sets that appeared or vanished,
    and the job's own figures from AWS. `flags` names what looks unusual (docs/architecture.md, "Drift")."""

    run = models.OneToOneField(MatchRun, on_delete=models.CASCADE, related_name="drift")
    previous = models.ForeignKey(MatchRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    groups = models.PositiveIntegerField(default=0)
    previous_groups = models.PositiveIntegerField(default=0)
    persisted = models.PositiveIntegerField(default=0)
    appeared = models.PositiveIntegerField(default=0)
    vanished = models.PositiveIntegerField(default=0)
    moved_up = models.PositiveIntegerField(default=0, help_text="Persisted sets scoring more than 0.05 higher")
    moved_down = models.PositiveIntegerField(default=0, help_text="Persisted sets scoring more than 0.05 lower")
    mean_delta = models.FloatField(null=True, blank=True)
    p95_abs_delta = models.FloatField(null=True, blank=True)
    delta_bins = models.JSONField(default=list, blank=True, help_text="Persisted sets per 0.05 of score change")
    job_status = models.CharField(max_length=32, blank=True)
    job_matches_found = models.BigIntegerField(null=True, blank=True)
    jobs_in_week = models.PositiveSmallIntegerField(null=True, blank=True)
    job_error = models.TextField(blank=True)
    flags = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"drift of run {self.run_id}"
