"""Migration 0011 (the archive table, docs/scaling.md "Partitioning by run") on a populated database: built at the
migration before it with the historical models, migrated forward, every row and foreign key intact, and retention
then works on what was there before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from matches.services.audit import audit_log, verify_chain

BEFORE = [("matches", "0014_s3_export_history_rates")]
AFTER = [("matches", "0015_partition_archive")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_0011_converts_a_populated_database():
    old = migrate(BEFORE)
    try:
        User = old.get_model("auth", "User")
        Domain = old.get_model("matches", "Domain")
        MatchRun = old.get_model("matches", "MatchRun")
        MatchGroup = old.get_model("matches", "MatchGroup")
        Decision = old.get_model("matches", "Decision")
        Comment = old.get_model("matches", "Comment")
        now = timezone.now()
        with transaction.atomic():
            user = User.objects.create(username="migrating-steward")
            domain = Domain.objects.create(name="migrating")
            gone = MatchRun.objects.create(
                domain=domain,
                status="superseded",
                finished_at=now - timedelta(days=60),
                superseded_at=now - timedelta(days=50),
                groups_superseded_at=now - timedelta(days=50),
            )
            current = MatchRun.objects.create(domain=domain, status="completed", finished_at=now)
            groups = [
                MatchGroup.objects.create(
                    run=run,
                    match_id=f"{run.pk}-{i}",
                    profile_ids=[f"{i:032x}", f"{i + 1:032x}"],
                    profile_set_key=f"key{i}",
                    confidence_score=0.5 + i / 100,
                    size=2,
                    status="superseded" if run is gone else "open",
                    display_names=f"Ann Lee{i}",
                    search_text=f"ann lee{i}",
                )
                for run in (gone, current)
                for i in range(6)
            ]
            decision = Decision.objects.create(
                group=groups[0], action="reject", actor=user, confidence_score=0.5, bucket="review"
            )
            Comment.objects.create(group=groups[1], author=user, body="kept for its comment")
            MatchGroup.objects.filter(pk=groups[6].pk).update(linked_decision=decision, status="carried_over")
            audit_log(action="decision.reject", object_type="group", object_id=groups[0].pk, details={})
        counts = {"groups": MatchGroup.objects.count(), "decisions": Decision.objects.count()}

        new = migrate(AFTER)

        MatchGroup = new.get_model("matches", "MatchGroup")
        Decision = new.get_model("matches", "Decision")
        MatchRun = new.get_model("matches", "MatchRun")
        assert MatchGroup.objects.count() == counts["groups"] == 12
        assert Decision.objects.count() == counts["decisions"] == 1
        assert Decision.objects.get().group_id == groups[0].pk
        assert MatchGroup.objects.get(pk=groups[6].pk).linked_decision_id == decision.pk
        assert MatchRun.objects.get(pk=gone.pk).groups_archived_at is None
        assert new.get_model("matches", "ArchivedGroup").objects.count() == 0
        connection.check_constraints()  # every foreign key still points at a row
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # The current models on the migrated data: retention moves the old run's four untouched groups, keeps the
    # rejected, the commented and the current run's, and the audit chain still verifies.
    from matches.models import ArchivedGroup
    from matches.models import MatchGroup as Group
    from matches.services.retention import retention_apply

    result = retention_apply(days=30)
    assert (result.runs, result.archived, result.kept) == ([gone.pk], 4, 2)
    assert set(Group.objects.filter(run_id=gone.pk).values_list("pk", flat=True)) == {groups[0].pk, groups[1].pk}
    assert Group.objects.filter(run_id=current.pk).count() == 6
    assert ArchivedGroup.objects.filter(run_id=gone.pk).count() == 4
    assert verify_chain()[1] is None
