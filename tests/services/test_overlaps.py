"""Overlapping groups (matches/services/decisions/overlaps.py, merges/claims.py): two groups sharing a profile are
never both approved into different main profiles, and two jobs touching the same profile are never in flight at once."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from matches.models import MatchGroup, MergeJob
from matches.services import decisions
from matches.services.decisions import OverlapsPendingMerge, decision_undo, group_merge_approve, group_split
from matches.services.merges import merge_jobs_run_due
from tests.factories import MatchGroupFactory, MatchRunFactory
from tests.merging import approve, make_group, merge_calls, new_ids, person

JobStatus = MergeJob.Status


def _overlapping(domain, shared: str, *others: list[str]) -> list[MatchGroup]:
    run = MatchRunFactory(domain=domain)
    return [MatchGroupFactory(run=run, profile_ids=sorted([shared, *ids]), confidence_score=0.9) for ids in others]


def test_a_second_group_sharing_a_profile_into_another_main_is_refused_with_the_first(domain, steward, steward2):
    x, y, z = new_ids(3)
    first, second = _overlapping(domain, y, [x], [z])
    group_merge_approve(group=first, actor=steward, main_profile_id=x)
    with pytest.raises(OverlapsPendingMerge) as refused:
        group_merge_approve(group=second, actor=steward2, main_profile_id=z)
    assert refused.value.other.pk == first.pk and refused.value.shared == [y]
    assert first.match_id in str(refused.value) and "steward" in str(refused.value)
    assert MatchGroup.objects.get(pk=second.pk).status == MatchGroup.Status.OPEN
    # A split that leaves the shared profile out touches nothing of the first: allowed.
    third = _overlapping(domain, y, [z, new_ids(1)[0]])[0]
    keep = sorted(set(third.profile_ids) - {y})
    group_split(group=third, actor=steward2, keep_profile_ids=keep, main_profile_id=keep[0])


def test_the_same_main_profile_is_allowed_and_undoing_the_first_frees_the_profile(domain, steward, steward2):
    m, y, z = new_ids(3)
    first, second, third = _overlapping(domain, m, [y], [z], [y, z])
    decision = group_merge_approve(group=first, actor=steward, main_profile_id=m)
    group_merge_approve(group=second, actor=steward2, main_profile_id=m)  # the same customer: the executor queues them
    with pytest.raises(OverlapsPendingMerge):
        group_merge_approve(group=third, actor=steward2, main_profile_id=y)
    decision_undo(decision=decision, actor=steward)
    with pytest.raises(OverlapsPendingMerge):  # the second still takes m and z into m
        group_merge_approve(group=third, actor=steward2, main_profile_id=y)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("merge_role_groups")
def test_two_approvals_at_once_of_overlapping_groups_one_is_refused(steward, steward2, monkeypatch):
    from matches.services.decisions import decide
    from tests.factories import DomainFactory

    domain = DomainFactory(name="overlap-race")
    x, y, z = new_ids(3)
    # Two runs (an approval still pending when the next pull came): the group locks share no run row.
    (first,), (second,) = _overlapping(domain, y, [x]), _overlapping(domain, y, [z])
    slow_snapshot = decide.snapshot_take

    def snapshot_after_a_pause(**kwargs):
        time.sleep(1.5)  # both approvals are past the overlap check before either commits, unless it serialises
        return slow_snapshot(**kwargs)

    monkeypatch.setattr(decide, "snapshot_take", snapshot_after_a_pause)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide_one(name: str, group: MatchGroup, actor, main: str) -> None:
        try:
            barrier.wait()
            group_merge_approve(group=group, actor=actor, main_profile_id=main)
            outcomes[name] = "approved"
        except OverlapsPendingMerge:
            outcomes[name] = "refused"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide_one, args=("first", first, steward, x)),
        threading.Thread(target=decide_one, args=("second", second, steward2, z)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["approved", "refused"]
    assert MergeJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("merge_role_groups")
def test_two_overlapping_jobs_due_at_once_are_never_both_in_flight(merge_ctl, merge_domain, steward, steward2):
    main, y, z = new_ids(3)
    merge_ctl.add_profiles(merge_domain.name, [person(pid, i) for i, pid in enumerate([main, y, z])])
    first, second = _overlapping(merge_domain, main, [y], [z])
    jobs = [approve(first, steward, main=main), approve(second, steward2, main=main)]
    other = make_group(merge_ctl, merge_domain, 2)  # touches nothing of the two: may run beside them
    jobs.append(approve(other, steward, main=other.profile_ids[0]))
    merge_ctl.set_faults(merge_response_delay_ms=700)  # each call stays in flight 0.7 s
    barrier = threading.Barrier(2)
    ran: list[list[int]] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            ran.append(merge_jobs_run_due(worker_id=f"w{n}").succeeded)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    leftover = merge_jobs_run_due().succeeded  # what a worker left because its profile was in flight
    merge_ctl.clear_faults()

    assert sorted([*ran[0], *ran[1], *leftover]) == sorted(j.pk for j in jobs)
    assert set(MergeJob.objects.values_list("status", flat=True)) == {JobStatus.SUCCEEDED}
    calls = merge_calls(merge_ctl, merge_domain)
    assert all(c["status"] == 200 for c in calls)
    on_main = sorted(c["at"] for c in calls if c["params"]["MainProfileId"] == main)
    assert len(on_main) == 2
    assert on_main[1] - on_main[0] >= 0.7  # the second was sent only after the first was answered


def test_the_group_page_refusal_names_the_other_group(domain, steward, steward2):
    x, y, z = new_ids(3)
    first, second = _overlapping(domain, y, [x], [z])
    group_merge_approve(group=first, actor=steward, main_profile_id=x)
    with pytest.raises(decisions.DecisionRefused):
        group_merge_approve(group=second, actor=steward2, main_profile_id=z)


@pytest.mark.django_db(transaction=True)
def test_a_profile_lock_holds_a_second_approval_until_the_first_commits():
    """The decisions of one domain are also serialised by the domain row their group lock takes; the profile locks
    do not rely on that (an approval of a group from another domain's run, a lock taken `of` self only)."""
    from django.db import transaction

    from matches.services.decisions.overlaps import profiles_lock

    x, y, z = new_ids(3)
    held, waited = threading.Event(), []

    def second() -> None:
        try:
            held.wait()
            start = time.monotonic()
            with transaction.atomic():
                profiles_lock({z, y})
            waited.append(time.monotonic() - start)
        finally:
            connection.close()

    thread = threading.Thread(target=second)
    thread.start()
    with transaction.atomic():
        profiles_lock({x, y})
        held.set()
        time.sleep(0.5)
    thread.join()
    assert waited and waited[0] >= 0.4


def test_a_bulk_job_skips_a_group_sharing_a_profile_with_a_pending_merge_and_says_why(domain, admin, steward):
    from matches.services import bulk
    from tests.admin_helpers import bulk_evidence

    x, y, z = new_ids(3)
    first, second = _overlapping(domain, y, [x], [z])
    MatchGroup.objects.filter(pk=second.pk).update(confidence_score=0.99)
    bulk_evidence(second.run, steward, queues=["merge"])
    group_merge_approve(group=first, actor=steward, main_profile_id=x)  # x is not in the second group
    job = bulk.bulk_job_create(
        actor=admin, domain=domain, queue="merge", policy_id=domain.policy().pk, group_ids=[second.pk]
    )
    done = bulk.bulk_job_execute(job_id=job.pk)
    assert (done.done, done.skip_reasons) == (0, {"shares a profile with a pending merge": 1})
    assert MatchGroup.objects.get(pk=second.pk).status == MatchGroup.Status.OPEN
