"""Completion of a run: the previous run steps down, and earlier decisions carry over to the new groups.

For each new group, by `profile_set_key` over the domain's earlier runs, the latest counting decision (merge, reject
or split, latest by created_at, that no undo or reopen reverts):
- reject → the group is `carried_over`, `linked_decision` = that reject (a reopen takes it back);
- merge or split whose MergeJob is awaiting approval, scheduled or running → `approved`, linked; succeeded →
  `merged`, linked (never reopened for review); failed or cancelled → stays open. A linked `approved` group then
  follows its job (merged, failed, or back to open when the job is cancelled, undone or sent back);
- otherwise, a group holding a profile merged away since (Profile.merged_into set) or known to be gone
  (Profile.missing) → `stale`.
Only the exact same profile set carries over: a superset or subset of a rejected set is a different question (a new
profile joined, or one left) and stays open for review, with no link. The same holds for merges: a group that is a
strict subset of a merged set normally holds merged-away profiles and becomes `stale` by the last rule.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import QuerySet

from matches.models import Decision, MatchGroup, MatchRun, MergeJob, Profile
from matches.services.groups import groups_set_status

SUPERSEDE_CHUNK = 20_000

Status = MatchGroup.Status
RunStatus = MatchRun.Status
_GROUP_TABLE = MatchGroup._meta.db_table


def run_supersede(previous: MatchRun) -> int:
    """The previous run steps down; its still-open groups with it (in chunks, so memory stays flat)."""
    previous.status = RunStatus.SUPERSEDED
    previous.save(update_fields=["status"])
    total = 0
    while True:
        ids = list(
            MatchGroup.objects.filter(run=previous, status=Status.OPEN)
            .order_by("pk")
            .values_list("pk", flat=True)[:SUPERSEDE_CHUNK]
        )
        if not ids:
            return total
        total += groups_set_status(
            queryset=MatchGroup.objects.filter(pk__in=ids),
            status=Status.SUPERSEDED,
            reason=f"A newer pull replaced run {previous.pk}.",
        )


_LINK_EARLIER_DECISIONS = f"""
    WITH latest AS (
        SELECT DISTINCT ON (g.profile_set_key) g.profile_set_key, d.id AS decision_id, d.action, j.status AS job_status
        FROM {Decision._meta.db_table} d
        JOIN {_GROUP_TABLE} g ON g.id = d.group_id
        JOIN {MatchRun._meta.db_table} r ON r.id = g.run_id
        LEFT JOIN {MergeJob._meta.db_table} j ON j.decision_id = d.id
        WHERE r.domain_id = %(domain)s AND r.id <> %(run)s
          AND d.action IN ('merge', 'reject', 'split')
          AND NOT EXISTS (SELECT 1 FROM {Decision._meta.db_table} u WHERE u.reverts_id = d.id)
          AND g.profile_set_key IN (SELECT profile_set_key FROM {_GROUP_TABLE} WHERE run_id = %(run)s)
        ORDER BY g.profile_set_key, d.created_at DESC, d.id DESC
    )
    UPDATE {_GROUP_TABLE} n SET linked_decision_id = latest.decision_id
    FROM latest
    WHERE n.run_id = %(run)s AND n.status = 'open' AND n.profile_set_key = latest.profile_set_key
      AND (latest.action = 'reject'
           OR (latest.action IN ('merge', 'split')
               AND latest.job_status IN ('awaiting_approval', 'scheduled', 'running', 'succeeded')))
"""

# The pending merge jobs an earlier decision on one of the run's profile sets may be waiting on, locked before any
# group is linked: a job that finishes meanwhile either commits before the statuses are read below, or waits for the
# carry-over to commit and then finds the linked `approved` groups (services.groups.linked_groups_follow). Jobs first,
# then groups: the same order as the merge executor, so the two cannot deadlock.
_LOCK_PENDING_JOBS = f"""
    SELECT j.id
    FROM {MergeJob._meta.db_table} j
    JOIN {Decision._meta.db_table} d ON d.id = j.decision_id
    JOIN {_GROUP_TABLE} g ON g.id = d.group_id
    JOIN {MatchRun._meta.db_table} r ON r.id = g.run_id
    WHERE r.domain_id = %(domain)s AND r.id <> %(run)s AND j.status IN ('awaiting_approval', 'scheduled', 'running')
      AND g.profile_set_key IN (SELECT profile_set_key FROM {_GROUP_TABLE} WHERE run_id = %(run)s)
    ORDER BY j.id
    FOR UPDATE OF j
"""

_GONE_MEMBERS = f"""
    SELECT DISTINCT g.id
    FROM {_GROUP_TABLE} g
    CROSS JOIN LATERAL unnest(g.profile_ids) AS member(profile_id)
    JOIN {Profile._meta.db_table} p ON p.domain_id = %s AND p.profile_id = member.profile_id
    WHERE g.run_id = %s AND g.status = 'open' AND (p.missing OR p.merged_into <> '')
"""


def carry_over(*, run: MatchRun) -> dict[str, int]:
    """Apply earlier decisions on the same profile sets to the run's open groups (see the module docstring)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_PENDING_JOBS, {"domain": run.domain_id, "run": run.pk})
            cursor.execute(_LINK_EARLIER_DECISIONS, {"domain": run.domain_id, "run": run.pk})
        linked = MatchGroup.objects.filter(run=run, status=Status.OPEN, linked_decision__isnull=False)
        merge_actions = [Decision.Action.MERGE, Decision.Action.SPLIT]
        counts: dict[str, int] = {
            Status.CARRIED_OVER: groups_set_status(
                queryset=_by_pk(linked.filter(linked_decision__action=Decision.Action.REJECT)),
                status=Status.CARRIED_OVER,
                reason="Rejected in an earlier run; reopen to decide again.",
            ),
            Status.MERGED: groups_set_status(
                queryset=_by_pk(
                    linked.filter(
                        linked_decision__action__in=merge_actions,
                        linked_decision__merge_job__status=MergeJob.Status.SUCCEEDED,
                    )
                ),
                status=Status.MERGED,
                reason="Merged after a decision in an earlier run.",
            ),
            Status.APPROVED: groups_set_status(
                queryset=_by_pk(
                    linked.filter(
                        linked_decision__action__in=merge_actions,
                        linked_decision__merge_job__status__in=MergeJob.ACTIVE,
                    )
                ),
                status=Status.APPROVED,
                reason="A merge decided in an earlier run is pending.",
            ),
        }
        with connection.cursor() as cursor:
            cursor.execute(_GONE_MEMBERS, [run.domain_id, run.pk])
            stale_ids = [row[0] for row in cursor.fetchall()]
        counts[Status.STALE] = groups_set_status(
            queryset=MatchGroup.objects.filter(pk__in=stale_ids),
            status=Status.STALE,
            reason="A member profile was merged away or no longer exists.",
        )
    return counts


def _by_pk(queryset: QuerySet[MatchGroup]) -> QuerySet[MatchGroup]:
    """The same groups by id, so that groups_set_status's FOR UPDATE locks only group rows (not decisions or jobs)."""
    return MatchGroup.objects.filter(pk__in=list(queryset.values_list("pk", flat=True)))
