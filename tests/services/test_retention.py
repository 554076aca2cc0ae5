"""Run retention (services/retention.py; docs/scaling.md, "Partitioning by run"): the groups of runs past retention
leave the hot table for the archive, a group anything refers to never does, and the audit chain keeps verifying."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from matches.models import ArchivedGroup, AuditEvent, Comment, Decision, MatchGroup, MatchRun, QASample, QASampleItem
from matches.services import decisions
from matches.services.audit import verify_chain
from matches.services.retention import retention_apply, runs_due_for_archive
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory

Status = MatchGroup.Status


def supersede(run: MatchRun, *, days_ago: float) -> None:
    """The run stepped down `days_ago` and its background rewrite has finished."""
    when = timezone.now() - timedelta(days=days_ago)
    MatchGroup.objects.filter(run=run, status=Status.OPEN).update(status=Status.SUPERSEDED)
    MatchRun.objects.filter(pk=run.pk).update(
        status=MatchRun.Status.SUPERSEDED, superseded_at=when, groups_superseded_at=when
    )


@pytest.fixture
def old_run(steward):
    """A run of eight groups: one rejected, one merged-then-kept by a comment, one in a QA sample, one carrying an
    earlier decision's link; four nobody touched. Then a newer run replaced it 40 days ago."""
    domain = DomainFactory(name="retained")
    run = MatchRunFactory(domain=domain)
    groups = [MatchGroupFactory(run=run, confidence_score=0.7 + i / 100) for i in range(8)]
    rejected = decisions.group_reject(group=groups[0], actor=steward, reason="different people")
    decisions.comment_add(group=groups[1], actor=steward, body="looked at the address")
    sample = QASample.objects.create(
        domain=domain, run=run, queue="merge", rate=0.1, seed=7, size=1, created_by=steward
    )
    QASampleItem.objects.create(sample=sample, group=groups[2])
    MatchGroup.objects.filter(pk=groups[3].pk).update(linked_decision=rejected, status=Status.CARRIED_OVER)
    current = MatchRunFactory(domain=domain)
    MatchGroupFactory(run=current)
    supersede(run, days_ago=40)
    return run, groups, current


def test_retention_archives_only_unreferenced_groups_and_the_audit_chain_verifies(old_run, steward):
    run, groups, current = old_run
    row_before = MatchGroup.objects.filter(pk=groups[5].pk).values("match_id", "confidence_score", "status").get()

    result = retention_apply(days=30, batch=3)  # 4 groups to move: two batches, each its own transaction

    assert result.runs == [run.pk] and result.archived == 4 and result.kept == 4
    kept = set(MatchGroup.objects.filter(run=run).values_list("pk", flat=True))
    assert kept == {g.pk for g in groups[:4]}
    archived = {a.pk: a for a in ArchivedGroup.objects.filter(run=run)}
    assert set(archived) == {g.pk for g in groups[4:]}
    # The row as it was, under the same id.
    row = archived[groups[5].pk].row
    assert (row["match_id"], row["confidence_score"], row["status"]) == (
        row_before["match_id"],
        row_before["confidence_score"],
        row_before["status"],
    )
    # What referred to the kept groups still does; the current run is untouched.
    assert Decision.objects.get(group=groups[0]).group.run_id == run.pk
    assert Comment.objects.filter(group=groups[1]).exists()
    assert MatchGroup.objects.filter(run=current).count() == 1
    assert MatchRun.objects.get(pk=run.pk).groups_archived_at is not None
    # Every batch is audited, and the chain verifies after the move (the command too).
    assert AuditEvent.objects.filter(action="run.groups_archived", object_id=str(run.pk)).count() == 2
    assert AuditEvent.objects.get(action="run.archived", object_id=str(run.pk)).details == {
        "archived": 4,
        "kept": 4,
        "retention_days": 30,
    }
    checked, problem = verify_chain()
    assert problem is None and checked == AuditEvent.objects.count()
    call_command("verify_audit")


def test_retention_is_idempotent_and_leaves_recent_runs(old_run, steward):
    run, groups, current = old_run
    recent = MatchRunFactory(domain=run.domain)
    MatchGroupFactory(run=recent)
    supersede(recent, days_ago=5)

    assert retention_apply(days=30).archived == 4
    events = AuditEvent.objects.count()
    again = retention_apply(days=30)
    assert (again.runs, again.archived) == ([], 0)
    assert AuditEvent.objects.count() == events
    assert MatchGroup.objects.filter(run=recent).count() == 1
    assert [r.pk for r in runs_due_for_archive(before=timezone.now())] == [recent.pk]


def test_a_run_whose_rewrite_has_not_finished_waits(old_run):
    run, _, _ = old_run
    MatchRun.objects.filter(pk=run.pk).update(groups_superseded_at=None)
    assert retention_apply(days=30).archived == 0
    assert MatchGroup.objects.filter(run=run).count() == 8


def test_retention_off_by_default_and_the_command_uses_the_setting(old_run, capsys):
    run, _, _ = old_run
    assert retention_apply().archived == 0  # MATCHDESK_RUN_RETENTION_DAYS defaults to 0: keep everything
    call_command("apply_run_retention")
    assert "retention is off" in capsys.readouterr().out
    assert MatchGroup.objects.filter(run=run).count() == 8
    with override_settings(MATCHDESK={"RUN_RETENTION_DAYS": 30}):
        call_command("apply_run_retention")
    assert "archived 4 groups of 1 runs" in capsys.readouterr().out
    assert MatchGroup.objects.filter(run=run).count() == 4
    with pytest.raises(CommandError):
        call_command("apply_run_retention", "--days", "0")


def test_pruning_an_old_run_leaves_the_hot_table_with_its_referenced_groups_only(old_run):
    """After the move, the old run holds only what something refers to (so its share of the queue and search
    indexes is those rows), and the run's groups can still be told apart: hot, or archived under their id."""
    run, groups, _ = old_run
    retention_apply(days=30)
    hot = MatchGroup.objects.filter(run=run)
    assert sorted(hot.values_list("status", flat=True)) == sorted(
        [Status.REJECTED, Status.SUPERSEDED, Status.SUPERSEDED, Status.CARRIED_OVER]
    )
    assert not MatchGroup.objects.filter(match_id__in=[g.match_id for g in groups[4:]]).exists()
    assert sorted(ArchivedGroup.objects.filter(run=run).values_list("match_id", flat=True)) == sorted(
        g.match_id for g in groups[4:]
    )
