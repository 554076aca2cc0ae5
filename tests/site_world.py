"""A small site with something on every page: two domains (one with a region saved before regions were checked),
a run with groups in every queue (2 to 4 profiles each, and one of 6 with long values), a scheduled merge, a rejection,
a comment, a threshold change with a long note, a QA sample, a bulk job, a long quarantined item, a failed run, an
assignment, a known answer and two judgements (one waiting, one disagreeing).
The property suite and the accessibility tests run against it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from matches.models import BulkJob, MatchGroup, MatchRun, MergeJob, NotificationDelivery, QuarantinedMatch
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, hex_id


def site_data(*, steward, admin) -> dict:
    """Create the world; return what names it: domain names, object ids, profile ids, the demo policy's id."""
    from matches.services.assignments import assignment_create, review_deadline_set
    from matches.services.decisions import comment_add, group_merge_approve, group_reject
    from matches.services.groups import bins_add
    from matches.services.notifications.config import webhook_create
    from matches.services.qa import qa_sample_draw
    from matches.services.quality import judgement_answer, known_answer_mark
    from matches.services.thresholds import threshold_set

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
    # Six profiles with long values: the group page must keep every profile and the attribute column reachable.
    big_ids = sorted(hex_id(7000 + k) for k in range(6))
    big = MatchGroupFactory(run=run, confidence_score=0.85, profile_ids=big_ids, size=6)
    for k, pid in enumerate(big_ids):
        attributes = {
            "FirstName": ["Ann", "Anne", "Anna", "Ann-Marie", "Annie", "A."][k],
            "LastName": "Lee-Montgomery-Fitzwilliam",
            "EmailAddress": f"ann.lee.montgomery.fitzwilliam.{k}@a-rather-long-company-name.example.com",
            "PhoneNumber": f"+1 206 555 01{k:02d}",
            "Address": {"Address1": f"{k + 1}00 Long Avenue North, Apartment 12", "City": "Seattle", "Country": "US"},
        }
        ProfileFactory(domain=domain, profile_id=pid, attributes=attributes)
    scores.append(0.85)
    bins_add(run=run, scores=scores)
    policy = domain.policy()
    threshold_set(
        actor=admin, domain=domain, merge_min=policy.merge_min, reject_below=policy.reject_below, note="n" * 1500
    )
    approved = group_merge_approve(group=groups[0], actor=steward, main_profile_id=groups[0].profile_ids[0])
    MergeJob.objects.filter(decision=approved).update(not_before=timezone.now() + timedelta(hours=1))
    rejected = group_reject(group=groups[-1], actor=steward, reason="different people")
    comment_add(group=groups[3], actor=steward, body="looks alike")
    qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=0.5, seed=7)
    # A job as bulk_job_create leaves one (pending), made directly: this small world has not the evidence bulk needs.
    reject_range = domain.policy().score_range("reject")
    bulk = BulkJob.objects.create(
        domain=domain, run=run, queue="reject", action=BulkJob.Action.REJECT, threshold_policy=domain.policy(),
        score_min=reject_range[0], score_below=reject_range[1], group_ids=[groups[-2].pk], total=1, created_by=admin,
    )  # fmt: skip
    raw = {"MatchId": "<b>x</b>", "ProfileIds": ["not-an-id-" + "x" * 200, hex_id(1)], "ConfidenceScore": "high"}
    item = QuarantinedMatch.objects.create(run=run, raw=raw, raw_hash="0" * 64, reason="fewer than two valid ids")
    failed = MatchRunFactory(
        domain=domain, status=MatchRun.Status.FAILED, error="GetMatches on domain 'demo' failed: AccessDeniedException"
    )
    # A webhook endpoint whose first delivery failed with a long error (the admin's webhook pages and delivery log).
    endpoint, _ = webhook_create(
        actor=admin, name="<b>ops</b>", url="https://hooks.example.com/md", domain=domain, kinds=["pull_failed"]
    )
    NotificationDelivery.objects.create(
        kind="pull_failed",
        channel="webhook",
        domain=domain,
        endpoint=endpoint,
        address=endpoint.url,
        subject="[Matchdesk] Pull of demo failed",
        payload={"summary": "Pull of demo failed"},
        status=NotificationDelivery.Status.FAILED,
        attempts=8,
        last_error="OSError: HTTP 503 from the receiver <b>" + "x" * 300 + " (gave up after 8)",
        next_attempt_at=timezone.now(),
    )
    # Assignment and reviewer quality: an assignment, a deadline, a known answer, a judgement waiting for its answer
    # and an answered one that disagrees (its admin's list).
    assignment = assignment_create(actor=admin, domain=domain, assignee=steward, queue="review", count=3)
    review_deadline_set(actor=admin, domain=domain, days=7)
    known_answer_mark(actor=admin, group=rejected.group, note="<i>clear</i>")
    waiting = judgement_serve_for_world(admin, rejected)
    disagreeing = judgement_serve_for_world(admin, approved)
    judgement_answer(judgement=disagreeing, actor=admin, answer="reject", reason="<b>not the same</b>")
    # In order of interest: the page walk opens the first id that answers (the big group, the run with the item).
    ids = {
        big.pk: None,
        run.pk: None,
        **{g.pk: None for g in groups},
        failed.pk: None,
        approved.pk: None,
        rejected.pk: None,
        approved.merge_job.pk: None,
        bulk.pk: None,
        item.pk: None,
        steward.pk: None,
        admin.pk: None,
        domain.policy().pk: None,
        endpoint.pk: None,
        assignment.pk: None,
        waiting.pk: None,
        disagreeing.pk: None,
    }
    return {
        "names": [domain.name, legacy.name],
        "ids": [str(i) for i in ids],
        "profile_ids": big_ids + sorted({p for g in groups for p in g.profile_ids}),
        "policy_id": str(domain.policy().pk),
    }


def judgement_serve_for_world(actor, decision):
    """A second review of `decision` served to `actor` (what "next" does at its known-answer slot)."""
    from matches.models import Judgement
    from matches.services.quality import _serve

    return _serve(actor, Judgement.Kind.SECOND_REVIEW, decision, None)


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
