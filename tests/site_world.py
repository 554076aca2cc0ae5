"""A small site with something on every page: two domains (one with a region saved before regions were checked),
a run with groups in every queue (2 to 4 profiles each), a scheduled merge, a rejection, a comment, a QA sample, a bulk
job and a quarantined item. The property suite and the accessibility tests run against it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from matches.models import MatchGroup, MergeJob, QuarantinedMatch
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, hex_id


def site_data(*, steward, admin) -> dict:
    """Create the world; return what names it: domain names, object ids, profile ids, the demo policy's id."""
    from matches.services.bulk import bulk_job_create
    from matches.services.decisions import comment_add, group_merge_approve, group_reject
    from matches.services.groups import bins_add
    from matches.services.qa import qa_sample_draw

    domain = DomainFactory(name="demo")
    # A domain saved before regions were checked: Test connection and pulls must still answer with a reason.
    legacy = DomainFactory(name="legacy-region", region="<b>eu</b>")
    run = MatchRunFactory(domain=domain)
    scores = [0.99, 0.97, 0.96, 0.8, 0.7, 0.3, 0.2, 0.1]
    groups = []
    for i, score in enumerate(scores):
        ids = sorted(hex_id(5000 + 10 * i + k) for k in range(2 + i % 3))
        groups.append(MatchGroupFactory(run=run, confidence_score=score, profile_ids=ids, size=len(ids)))
        for pid in ids:
            ProfileFactory(domain=domain, profile_id=pid, attributes={"FirstName": "Ann", "EmailAddress": "a@b.c"})
    bins_add(run=run, scores=scores)
    approved = group_merge_approve(group=groups[0], actor=steward, main_profile_id=groups[0].profile_ids[0])
    MergeJob.objects.filter(decision=approved).update(not_before=timezone.now() + timedelta(hours=1))
    rejected = group_reject(group=groups[-1], actor=steward, reason="different people")
    comment_add(group=groups[3], actor=steward, body="looks alike")
    qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=0.5, seed=7)
    bulk = bulk_job_create(
        actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk, group_ids=[groups[-2].pk]
    )
    item = QuarantinedMatch.objects.create(run=run, raw={"MatchId": "<b>x</b>"}, raw_hash="0" * 64, reason="bad")
    ids = {
        *(g.pk for g in groups),
        approved.pk,
        rejected.pk,
        approved.merge_job.pk,
        bulk.pk,
        item.pk,
        run.pk,
        steward.pk,
        admin.pk,
        domain.policy().pk,
    }
    return {
        "names": [domain.name, legacy.name],
        "ids": sorted(str(i) for i in ids),
        "profile_ids": sorted({p for g in groups for p in g.profile_ids}),
        "policy_id": str(domain.policy().pk),
    }


# Words the views expect somewhere (queues, actions, statuses, roles, flags): they reach past the first check.
WORDS = [
    "{policy}",
    *MatchGroup.Status.values,
    *MergeJob.Status.values,
    "merge",
    "review",
    "reject",
    "split",
    "skip",
    "carried",
    "selected",
    "all",
    "run",
    "confirm",
    "on",
    "1",
    "0",
    "2",
    "0.9",
    "0.5",
    "asc",
    "desc",
    "Steward",
    "Admin",
    "Auditor",
    "us-east-1",
    "https://example.com",
    "decision.",
    "2026-01-01",
]
