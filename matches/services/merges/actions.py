"""Admin actions on merges: retry a failed job, pause or resume every domain's merges. Each is one durable
transaction with its audit event; a retry hands the job to Celery on commit (the sweep is the backstop)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from matches import roles
from matches.models import Decision, MatchGroup, MergeJob, OpsSwitch
from matches.services import enqueue
from matches.services.audit import audit_log
from matches.services.groups import group_set_status, linked_groups_follow
from matches.services.merges.errors import MergeRoleRefused, NotRetryable

JobStatus = MergeJob.Status
GroupStatus = MatchGroup.Status


def merge_job_retry(*, job: MergeJob, actor: User) -> MergeJob:
    """A new attempt of a failed job (admin): it re-checks every profile before any call."""
    if not actor.has_perm(roles.ADMINISTER):
        raise MergeRoleRefused("Only an admin can retry a failed merge.")
    with transaction.atomic(durable=True):
        job = MergeJob.objects.select_for_update().select_related("decision__group__run__domain").get(pk=job.pk)
        if not job.can_retry(actor):
            raise NotRetryable(f"Only a failed merge can be retried; this one is {job.status}.")
        group = MatchGroup.objects.select_for_update().get(pk=job.decision.group_id)
        if group.status != GroupStatus.FAILED:
            raise NotRetryable(f"The group is {group.status} now; it is no longer waiting for this merge.")
        previous = job.last_error
        job.status = JobStatus.SCHEDULED
        job.not_before = timezone.now()
        job.finished_at = None
        job.worker = ""
        job.last_error = ""
        job.save(update_fields=["status", "not_before", "finished_at", "worker", "last_error"])
        new_status = GroupStatus.SPLIT if job.decision.action == Decision.Action.SPLIT else GroupStatus.APPROVED
        group_set_status(group=group, status=new_status, reason=f"Retrying the merge after: {previous}")
        linked = linked_groups_follow(
            decision_id=job.decision_id,
            status=GroupStatus.APPROVED,
            reason=f"A merge decided in an earlier run is pending (retrying after: {previous})",
            from_status=GroupStatus.FAILED,
        )
        audit_log(
            actor=actor,
            action="merge.retried",
            object_type="merge_job",
            object_id=job.pk,
            domain=group.run.domain,
            details={
                "decision_id": job.decision_id,
                "group_id": group.pk,
                "previous_error": previous,
                "linked_groups": linked,
            },
        )
        enqueue.merge_job(job_id=job.pk)
    return job


def merges_set_paused_all(*, actor: User, paused: bool) -> None:
    """Pause or resume merge execution for every domain (the PAUSE_ALL_MERGES switch)."""
    if not actor.has_perm(roles.ADMINISTER):
        raise MergeRoleRefused("Only an admin can pause or resume merges.")
    with transaction.atomic(durable=True):
        switch, _ = OpsSwitch.objects.select_for_update().get_or_create(name=OpsSwitch.PAUSE_ALL_MERGES)
        if switch.on == paused:
            return
        switch.on = paused
        switch.changed_by = actor
        switch.save()
        audit_log(
            actor=actor,
            action="merges.paused" if paused else "merges.resumed",
            object_type="ops_switch",
            object_id=OpsSwitch.PAUSE_ALL_MERGES,
            details={"scope": "all"},
        )
