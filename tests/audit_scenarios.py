"""Small hand-made histories for the audit tests: runs, groups and decisions made through the real services."""

from django.utils import timezone

from matches.models import MatchGroup, MatchRun, Profile
from matches.services.groups import bins_add
from tests.factories import MatchGroupFactory, MatchRunFactory, hex_id


def run_with_groups(domain, specs, *, status=MatchRun.Status.COMPLETED, run=None):
    """specs: list of (profile_ids, score[, status]); a new run unless `run` is given; returns (run, [groups])."""
    run = run or MatchRunFactory(domain=domain, status=status, finished_at=timezone.now())
    groups = []
    for spec in specs:
        ids, score, *rest = spec
        groups.append(
            MatchGroupFactory(
                run=run, profile_ids=sorted(ids), confidence_score=score, status=rest[0] if rest else "open"
            )
        )
    bins_add(run=run, scores=[g.confidence_score for g in groups if g.status == "open"])
    return run, groups


def cache_profiles(domain, ids, **attrs):
    for i, pid in enumerate(ids):
        Profile.objects.update_or_create(
            domain=domain,
            profile_id=pid,
            defaults={
                "attributes": {"ProfileId": pid, "FirstName": attrs.get("first", f"Ann{i}"), "LastName": "Lee"},
            },
        )


def carry_over(group, decision):
    """What the ingestion helper does on a new run: the rejected profile set comes back carried over."""
    return carry_over_many([decision])[0]


def carry_over_many(decisions):
    """One new run in which each decision's profile set comes back carried over."""
    domain = decisions[0].group.run.domain
    run, groups = run_with_groups(domain, [(d.group.profile_ids, d.group.confidence_score) for d in decisions])
    for group, decision in zip(groups, decisions):
        MatchGroup.objects.filter(pk=group.pk).update(status="carried_over", linked_decision=decision)
        group.refresh_from_db()
    return groups


IDS = [hex_id(10 + i) for i in range(8)]
