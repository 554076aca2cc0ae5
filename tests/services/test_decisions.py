import threading

import pytest
from django.db import connection
from django.utils import timezone

from matches import roles
from matches.models import AuditEvent, Decision, MatchGroup, MergeJob, RunScoreBin
from matches.selectors import queue_counts
from matches.services.decisions import (
    AlreadyDecided,
    AlreadyDecidedByYou,
    DecisionRefused,
    HeldByOther,
    InvalidDecision,
    RoleRefused,
    TooLateToUndo,
    comment_add,
    decision_undo,
    default_main_profile,
    group_claim,
    group_merge_approve,
    group_reject,
    group_release,
    group_reopen,
    group_split,
)
from matches.services.groups import bins_add
from tests.factories import MatchGroupFactory, MatchRunFactory, ProfileFactory, UserFactory, hex_id

Status = MatchGroup.Status


@pytest.fixture
def group(domain):
    run = MatchRunFactory(domain=domain)
    ids = sorted(hex_id(i) for i in range(3))
    g = MatchGroupFactory(run=run, profile_ids=ids, confidence_score=0.8)
    bins_add(run=run, scores=[g.confidence_score])
    for pid in ids:
        ProfileFactory(domain=domain, profile_id=pid, attributes={"ProfileId": pid, "FirstName": f"Ann-{pid[:4]}"})
    return g


def test_merge_approval_writes_decision_snapshot_job_and_audit(group, steward):
    main = group.profile_ids[1]
    decision = group_merge_approve(
        group=group, actor=steward, main_profile_id=main, field_sources={"FirstName": group.profile_ids[2]}
    )
    group.refresh_from_db()
    assert group.status == Status.APPROVED
    assert decision.main_profile_id == main
    assert decision.merged_profile_ids == [group.profile_ids[0], group.profile_ids[2]]
    assert decision.bucket == "review" and decision.threshold_policy == group.run.domain.policy()
    assert set(decision.snapshot.profiles) == set(group.profile_ids)
    job = MergeJob.objects.get(decision=decision)
    assert job.status == "scheduled"
    assert (job.not_before - timezone.now()).total_seconds() == pytest.approx(120, abs=5)
    event = AuditEvent.objects.get(action="decision.merge")
    assert event.details["snapshot_hash"] == decision.snapshot.content_hash
    assert event.details["field_sources"] == {"FirstName": group.profile_ids[2]}


def test_second_decision_is_refused_with_who_and_when(group, steward, steward2):
    group_reject(group=group, actor=steward, reason="different birth dates")
    with pytest.raises(DecisionRefused, match="Already decided by steward at") as other:
        group_merge_approve(group=group, actor=steward2, main_profile_id=group.profile_ids[0])
    assert type(other.value) is AlreadyDecided and other.value.decision.actor == steward
    with pytest.raises(DecisionRefused, match="Already decided by you") as mine:
        group_reject(group=group, actor=steward)
    assert isinstance(mine.value, AlreadyDecidedByYou) and isinstance(mine.value, AlreadyDecided)
    assert Decision.objects.filter(group=group).count() == 1


def test_decisions_keep_the_open_count_current(group, steward):
    policy = group.run.domain.policy()
    assert queue_counts(run=group.run, policy=policy).review == 1
    group_reject(group=group, actor=steward)
    assert queue_counts(run=group.run, policy=policy).review == 0
    group_reopen(group=group, actor=steward, reason="second look")
    assert queue_counts(run=group.run, policy=policy).review == 1
    assert RunScoreBin.objects.get(run=group.run).total == 1


@pytest.mark.django_db(transaction=True)
def test_two_stewards_deciding_at_once_give_one_decision():
    from tests.factories import DomainFactory

    domain = DomainFactory(name="race")
    run = MatchRunFactory(domain=domain)
    group = MatchGroupFactory(run=run)
    bins_add(run=run, scores=[group.confidence_score])
    a = UserFactory(username="a", roles=[roles.STEWARD])
    b = UserFactory(username="b", roles=[roles.STEWARD])
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(user):
        try:
            barrier.wait()
            group_reject(group=MatchGroup.objects.get(pk=group.pk), actor=user)
            outcomes.append("decided")
        except DecisionRefused as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(u,)) for u in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o == "decided" for o in outcomes) == [False, True]
    assert Decision.objects.filter(group=group).count() == 1
    assert RunScoreBin.objects.get(run=run).open == 0


def test_claimed_group_cannot_be_decided_by_another_steward(group, steward, steward2):
    assert group_claim(group=group, actor=steward)
    assert not group_claim(group=group, actor=steward2)
    group.refresh_from_db()
    with pytest.raises(DecisionRefused, match="steward is working on this group") as held:
        group_reject(group=group, actor=steward2)
    assert isinstance(held.value, HeldByOther) and held.value.holder == "steward"


def test_an_expired_claim_can_be_taken_over(group, steward, steward2):
    group_claim(group=group, actor=steward)
    MatchGroup.objects.filter(pk=group.pk).update(claimed_until=timezone.now() - timezone.timedelta(seconds=1))
    assert group_claim(group=group, actor=steward2)


def test_auditors_never_claim_or_decide(group, auditor):
    with pytest.raises(RoleRefused, match="role"):
        group_claim(group=group, actor=auditor)
    with pytest.raises(RoleRefused, match="role"):
        group_reject(group=group, actor=auditor)


def test_skip_releases_the_claim_and_is_audited(group, steward, steward2, admin):
    group_claim(group=group, actor=steward)
    with pytest.raises(RoleRefused):
        group_release(group=group, actor=steward2)
    group_release(group=group, actor=admin)
    group.refresh_from_db()
    assert group.claimed_by is None
    assert AuditEvent.objects.filter(action="group.claim_released").get().details["holder"] == "steward"


def test_split_merges_the_subset_and_records_the_rest(group, steward):
    keep = group.profile_ids[:2]
    decision = group_split(group=group, actor=steward, keep_profile_ids=keep, main_profile_id=keep[0])
    assert decision.action == "split"
    assert decision.merged_profile_ids == [keep[1]]
    assert decision.excluded_profile_ids == [group.profile_ids[2]]
    group.refresh_from_db()
    assert group.status == Status.SPLIT


@pytest.mark.parametrize(
    "keep_idx, main_idx, message",
    [([0, 1, 2], 0, "leave at least one"), ([0], 0, "at least two"), ([0, 1], 2, "main profile")],
)
def test_invalid_splits_are_refused(group, steward, keep_idx, main_idx, message):
    ids = group.profile_ids
    with pytest.raises(DecisionRefused, match=message):
        group_split(
            group=group, actor=steward, keep_profile_ids=[ids[i] for i in keep_idx], main_profile_id=ids[main_idx]
        )


def test_field_source_outside_the_merge_is_refused(group, steward):
    with pytest.raises(DecisionRefused, match="not one of the profiles"):
        group_merge_approve(
            group=group, actor=steward, main_profile_id=group.profile_ids[0], field_sources={"LastName": hex_id(999)}
        )
    with pytest.raises(DecisionRefused, match="not a field"):
        group_merge_approve(
            group=group,
            actor=steward,
            main_profile_id=group.profile_ids[0],
            field_sources={"Password": group.profile_ids[0]},
        )


def test_undo_inside_the_window_cancels_the_job_and_reopens(group, steward, steward2):
    decision = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0])
    with pytest.raises(RoleRefused, match="Only the steward who approved"):
        decision_undo(decision=decision, actor=steward2)
    undo = decision_undo(decision=decision, actor=steward)
    assert undo.reverts == decision
    group.refresh_from_db()
    assert group.status == Status.OPEN
    assert MergeJob.objects.get(decision=decision).status == "cancelled"


def test_undo_is_refused_once_the_merge_started(group, steward):
    decision = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0])
    MergeJob.objects.filter(decision=decision).update(status="running")
    with pytest.raises(TooLateToUndo, match="Too late"):
        decision_undo(decision=decision, actor=steward)


def test_default_main_profile_is_the_most_complete_then_lowest_id(group):
    ids = group.profile_ids
    assert default_main_profile(group) == ids[0]  # all equally complete: lowest id
    from matches.models import Profile

    Profile.objects.filter(profile_id=ids[2]).update(
        attributes={"FirstName": "A", "LastName": "B", "EmailAddress": "c@d.e"}
    )
    assert default_main_profile(group) == ids[2]


def test_comments_are_audited_and_must_not_be_empty(group, steward, auditor):
    with pytest.raises(InvalidDecision):
        comment_add(group=group, actor=steward, body="   ")
    with pytest.raises(RoleRefused):
        comment_add(group=group, actor=auditor, body="hi")
    comment_add(group=group, actor=steward, body="Same loyalty card number")
    assert AuditEvent.objects.filter(action="comment.added").count() == 1


def test_more_field_sources_than_one_call_takes_is_refused_at_decision_time(domain, steward):
    from matches.services.merges import merge_plan

    run = MatchRunFactory(domain=domain)
    ids = sorted(hex_id(500 + i) for i in range(23))
    group = MatchGroupFactory(run=run, profile_ids=ids, confidence_score=0.8)
    bins_add(run=run, scores=[0.8])
    main = ids[0]
    too_many = {f"Attributes.k{i}": pid for i, pid in enumerate(ids[1:22])}  # 21 profiles besides the main one
    with pytest.raises(DecisionRefused, match="from 21 different profiles besides the main profile.*at most 20"):
        group_merge_approve(group=group, actor=steward, main_profile_id=main, field_sources=too_many)
    with pytest.raises(DecisionRefused, match="21 different profiles"):
        group_split(group=group, actor=steward, keep_profile_ids=ids[:22], main_profile_id=main, field_sources=too_many)
    group.refresh_from_db()
    assert group.status == Status.OPEN and not Decision.objects.filter(group=group).exists()
    assert not MergeJob.objects.exists()

    # The main profile does not count: 20 others plus the main one is the most the executor can carry out.
    most = {f"Attributes.k{i}": pid for i, pid in enumerate(ids[1:21])} | {"FirstName": main}
    decision = group_merge_approve(group=group, actor=steward, main_profile_id=main, field_sources=most)
    assert merge_plan(decision)[0] == sorted(ids[1:21])  # the executor accepts exactly what the decision allowed


def test_a_broker_failure_after_commit_does_not_undo_or_fail_the_decision(
    group, steward, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis unreachable")

    monkeypatch.setattr("matches.tasks.execute_merge_job.apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        decision = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0])
    assert len(callbacks) == 1
    # The job waits for the periodic sweep instead.
    assert MergeJob.objects.get(decision=decision).status == "scheduled"


def test_decisions_own_their_transaction_and_refuse_an_outer_one(group, steward):
    from django.db import transaction

    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        group_reject(group=group, actor=steward)
    assert not Decision.objects.filter(group=group).exists()


def test_a_claim_commits_without_waiting_for_the_wal_flush(group, steward):
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert group_claim(group=group, actor=steward)
    off = statements.index("SET LOCAL synchronous_commit TO OFF")
    assert off < next(i for i, sql in enumerate(statements) if sql.startswith('UPDATE "matches_matchgroup"'))
    statements.clear()
    with connection.execute_wrapper(record):
        group_reject(group=group, actor=steward)
    assert "SET LOCAL synchronous_commit TO OFF" not in statements  # a decision waits for its flush


def test_who_may_undo_is_one_rule_on_the_decision(group, steward, steward2, admin, auditor):
    decision = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0])
    decision = Decision.objects.select_related("merge_job").get(pk=decision.pk)
    assert decision.undo_blocker(steward) is None and decision.can_undo(steward) and decision.can_undo(admin)
    assert decision.undo_blocker(steward2) == Decision.UndoBlock.ROLE
    assert decision.undo_blocker(auditor) == Decision.UndoBlock.ROLE
    MergeJob.objects.filter(decision=decision).update(status=MergeJob.Status.RUNNING)
    decision = Decision.objects.select_related("merge_job").get(pk=decision.pk)
    assert decision.undo_blocker(steward) == Decision.UndoBlock.STARTED and not decision.can_undo(admin)


def test_a_failed_job_can_be_retried_by_an_admin_only(group, steward, admin):
    decision = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0])
    job = MergeJob.objects.get(decision=decision)
    assert not job.can_retry(admin)
    job.status = MergeJob.Status.FAILED
    assert job.can_retry(admin) and not job.can_retry(steward)


# Refuse, don't truncate ---------------------------------------------------------------------------------------------


def test_a_reason_over_2000_characters_is_refused_not_cut(steward, domain):
    from matches.services.decisions import InvalidDecision, group_reject
    from tests.factories import MatchGroupFactory, MatchRunFactory

    group = MatchGroupFactory(run=MatchRunFactory(domain=domain))
    with pytest.raises(InvalidDecision, match="at most 2,000 characters; this one has 2,001"):
        group_reject(group=group, actor=steward, reason="x" * 2001)
    group.refresh_from_db()
    assert group.status == "open" and not group.decisions.exists()
    assert group_reject(group=group, actor=steward, reason="y" * 2000).reason == "y" * 2000


def test_a_comment_over_4000_characters_is_refused_not_cut(steward, domain):
    from matches.services.decisions import InvalidDecision, comment_add
    from tests.factories import MatchGroupFactory, MatchRunFactory

    group = MatchGroupFactory(run=MatchRunFactory(domain=domain))
    with pytest.raises(InvalidDecision, match="at most 4,000 characters; this one has 4,001"):
        comment_add(group=group, actor=steward, body="x" * 4001)
    assert not group.comments.exists()
    assert comment_add(group=group, actor=steward, body="z" * 4000).body == "z" * 4000
