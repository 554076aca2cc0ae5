"""The profile the engine missed (matches/services/search.py): search at AWS (the emulator over HTTP), add a profile
to a group (a new manual group replaces it), form a manual group; decided and merged like any other, exactly once."""

from __future__ import annotations

import pytest

from matches.models import AuditEvent, Decision, MatchGroup, MergeJob, Profile, RunScoreBin
from matches.selectors import review as review_reads
from matches.selectors.admin import evidence_pairs
from matches.services import decisions, search
from matches.services.decisions import NotDecidable, RoleRefused
from matches.services.groups import bins_add
from matches.services.merges import merge_jobs_run_due
from tests.factories import MatchGroupFactory, MatchRunFactory
from tests.merging import approve, merge_calls, new_ids, person

Status = MatchGroup.Status


@pytest.fixture
def world(merge_ctl, merge_domain):
    """One current run with an AWS group (a, b) at 0.9; c and d exist at AWS and belong to no group."""
    a, b, c, d, e = ids = new_ids(5)
    merge_ctl.add_profiles(merge_domain.name, [person(pid, i) for i, pid in enumerate(ids)])
    run = MatchRunFactory(domain=merge_domain)
    group = MatchGroupFactory(run=run, profile_ids=[a, b], confidence_score=0.9)
    bins_add(run=run, scores=[0.9])
    merge_ctl.set_matches(merge_domain.name, [{"MatchId": "aws-1", "ProfileIds": [a, b], "ConfidenceScore": 0.9}])
    return {"domain": merge_domain, "run": run, "group": group, "ids": ids}


def open_in_bins(run) -> int:
    return sum(RunScoreBin.objects.filter(run=run).values_list("open", flat=True))


def test_search_by_email_finds_and_caches_the_profile(world, steward):
    c = world["ids"][2]
    found = search.profiles_search(domain=world["domain"], actor=steward, key="_email", value=" p2@EXAMPLE.com ")
    assert [p.profile_id for p in found.profiles] == [c] and not found.more
    assert Profile.objects.get(domain=world["domain"], profile_id=c).attributes["FirstName"] == "First2"
    with pytest.raises(decisions.InvalidDecision, match="Search by one of"):
        search.profiles_search(domain=world["domain"], actor=steward, key="_nickname", value="x")
    with pytest.raises(decisions.InvalidDecision, match="1 to 255"):
        search.profiles_search(domain=world["domain"], actor=steward, key="_email", value="x" * 256)


def test_similar_profiles_of_the_main_profile_come_from_get_similar_profiles(world, steward, merge_ctl):
    a, b = world["ids"][:2]
    found = search.similar_profiles(group=world["group"], actor=steward, main_profile_id=a)
    assert [p.profile_id for p in found.profiles] == [a, b]
    assert "aws-1" in found.note and "0.900" in found.note
    assert merge_ctl.calls(operation="GetSimilarProfiles")[-1]["params"]["SearchValue"] == a


def test_a_search_failure_at_aws_is_a_message_to_act_on(world, steward, merge_ctl):
    merge_ctl.set_faults(access_denied=True)
    with pytest.raises(search.SearchFailed, match="AccessDeniedException.*credentials or the domain's role"):
        search.profiles_search(domain=world["domain"], actor=steward, key="_email", value="p2@example.com")


def test_adding_a_profile_replaces_the_group_with_a_manual_one(world, steward, steward2):
    group, run = world["group"], world["run"]
    a, b, c = world["ids"][:3]
    assert open_in_bins(run) == 1

    new = search.group_profile_add(group=group, actor=steward, profile_id=c.upper(), reason="same email domain")

    group.refresh_from_db()
    assert (group.status, group.profile_ids) == (Status.REPLACED, [a, b])  # the AWS group keeps its own set
    assert new.profile_ids == sorted([a, b, c]) and new.replaces_id == group.pk and new.run_id == run.pk
    assert (new.source, new.confidence_score, new.status, new.claimed_by) == ("manual", None, Status.OPEN, steward)
    assert "First2 Last2" in new.display_names
    assert open_in_bins(run) == 0  # the AWS group left the histogram's open count; the manual one never enters it
    created = AuditEvent.objects.get(action="group.manual_created")
    assert created.details["replaces"] == group.pk and created.details["added_profile_ids"] == [c]
    replaced = AuditEvent.objects.get(action="group.replaced")
    assert replaced.details["replaced_by"] == new.pk and replaced.details["added_profile_id"] == c
    # The replaced group cannot be decided; a second add to it is refused.
    with pytest.raises(NotDecidable):
        decisions.group_reject(group=group, actor=steward2)
    with pytest.raises(NotDecidable):
        search.group_profile_add(group=group, actor=steward, profile_id=world["ids"][3])
    # The manual group is served by "next" in review while its claim is the steward's; others get it once released.
    decisions.group_release(group=new, actor=steward)
    policy = world["domain"].policy()
    nxt = review_reads.queue_next_candidates(run=run, policy=policy, queue="review", actor=steward2, exclude=[])
    assert nxt[0].pk == new.pk


def test_a_manual_group_merges_through_the_same_job_exactly_once(world, steward, merge_ctl):
    a, b, c = world["ids"][:3]
    domain = world["domain"]
    new = search.group_profile_add(group=world["group"], actor=steward, profile_id=c)
    job = approve(new, steward, main=a, field_sources={"FirstName": c})
    decision = job.decision
    assert (decision.confidence_score, decision.bucket, decision.group.source) == (None, "review", "manual")
    merge_ctl.set_faults(merge_500_after_merge=1)  # merged at AWS, answered 500: re-checked, never sent twice

    assert merge_jobs_run_due().succeeded == [job.pk]
    assert merge_jobs_run_due().succeeded == []

    calls = merge_calls(merge_ctl, domain)
    assert len(calls) == 1 and sorted(calls[0]["params"]["ProfileIdsToBeMerged"]) == sorted([b, c])
    assert MergeJob.objects.get(pk=job.pk).status == MergeJob.Status.SUCCEEDED
    assert MatchGroup.objects.get(pk=new.pk).status == Status.MERGED
    assert merge_ctl.get_profile(domain.name, a)["FirstName"] == "First2"
    # Manual decisions are no threshold evidence (no score).
    assert evidence_pairs(domain=domain) == []


def test_manual_group_of_free_profiles_and_its_refusals(world, steward, auditor, merge_ctl):
    a, b, c, d, e = world["ids"]
    domain = world["domain"]
    merge_ctl.clear_calls()
    with pytest.raises(search.ProfileHeld, match=f"Profile {a} is in open group"):
        search.manual_group_create(domain=domain, actor=steward, profile_ids=[a, c])
    with pytest.raises(decisions.InvalidDecision, match="at most 20 profiles"):
        search.manual_group_create(domain=domain, actor=steward, profile_ids=new_ids(21))
    with pytest.raises(decisions.InvalidDecision, match="at least two"):
        search.manual_group_create(domain=domain, actor=steward, profile_ids=[c, c])
    with pytest.raises(NotDecidable, match="no longer has profile"):
        search.manual_group_create(domain=domain, actor=steward, profile_ids=[c, new_ids(1)[0]])
    with pytest.raises(RoleRefused):
        search.manual_group_create(domain=domain, actor=auditor, profile_ids=[c, d])
    # The 21-id refusal never reached AWS; each check that did asked for at most 20 ids.
    assert all(len(call["params"]["ProfileIds"]) <= 20 for call in merge_ctl.calls(operation="BatchGetProfile"))

    group = search.manual_group_create(domain=domain, actor=steward, profile_ids=[d, c, e], reason="one household")

    assert (group.source, group.confidence_score, group.profile_ids) == ("manual", None, sorted([c, d, e]))
    assert AuditEvent.objects.get(action="group.manual_created").details["reason"] == "one household"
    with pytest.raises(search.ProfileHeld):  # c is now held by that open manual group
        search.manual_group_create(domain=domain, actor=steward, profile_ids=[c, d])
    rejected = decisions.group_reject(group=group, actor=steward, reason="not one person")
    assert Decision.objects.get(pk=rejected.pk).bucket == "review"
    assert set(rejected.matching_digest) == {c, d, e}
