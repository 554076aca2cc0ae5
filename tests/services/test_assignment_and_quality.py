"""Assignment and age (services/assignments.py) and reviewer quality (services/quality.py), and the order in which
"next" serves them (services/work.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from matches import roles
from matches.models import (
    Assignment,
    AuditEvent,
    Decision,
    Judgement,
    KnownAnswer,
    MatchGroup,
    MatchRun,
    MergeJob,
    profile_set_key,
)
from matches.selectors import assignments as assignment_reads
from matches.selectors import quality as quality_reads
from matches.selectors.reports import ReportFilters
from matches.services import assignments, quality, work
from matches.services.decisions import group_claim, group_merge_approve, group_reject
from matches.services.pulls.carry_over import carry_over
from matches.services.pulls.store import first_seen_of
from matches.services.qa import qa_sample_draw
from tests.admin_helpers import run_with_scores
from tests.factories import MatchGroupFactory, MatchRunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward3(db):
    return UserFactory(username="steward3", roles=[roles.STEWARD])


def served(actor, run, queue="review", exclude=()):
    return work.next_work_claim(actor=actor, run=run, policy=run.domain.policy(), queue=queue, exclude=list(exclude))


def merge(group, actor):
    return group_merge_approve(group=group, actor=actor, main_profile_id=group.profile_ids[0])


def answer(item, actor, what="merge", kept=None):
    return quality.judgement_answer(judgement=item, actor=actor, answer=what, kept_profile_ids=kept)


def rates(admin, domain, known, second):
    quality.quality_rates_set(actor=admin, domain=domain, known_answer_rate=known, second_review_rate=second)
    domain.refresh_from_db()  # the run's domain is this object: "next" reads the rates from it


def review_run(domain, n=12):
    # Review queue (0.60–0.95) top down: 0.94, 0.93, ...
    return run_with_scores(domain, [round(0.94 - 0.01 * i, 3) for i in range(n)])


# Assignment ----------------------------------------------------------------------------------------------------------


def test_assigned_work_is_served_first_and_other_stewards_next_passes_over_it(domain, admin, steward, steward2):
    run, groups = review_run(domain)
    made = assignments.assignment_create(
        actor=admin, domain=domain, assignee=steward, queue="review", count=3, score_min=Decimal("0.70")
    )
    assigned = {i.group_id for i in made.items.all()}
    assert len(assigned) == 3 == made.count
    assert assigned == {g.pk for g in groups[:3]}  # the queue's order: highest scores first
    first = served(steward, run)
    assert first.source == "assigned" and first.group.pk in assigned
    # Not a claim: nothing is held for the assignee until their "next" claims it, but other stewards' "next" passes.
    other = served(steward2, run)
    assert other.source == "queue" and other.group.pk not in assigned
    event = AuditEvent.objects.get(action="assignment.created")
    assert event.details["assignee"] == "steward" and sorted(event.details["group_ids"]) == sorted(assigned)


def test_an_assignment_is_not_a_claim_anyone_may_still_take_the_group(domain, admin, steward, steward2):
    run, groups = review_run(domain, 3)
    made = assignments.assignment_create(actor=admin, domain=domain, assignee=steward, queue="review", count=1)
    group = made.items.get().group
    assert group.claimed_by is None
    assert group_claim(group=group, actor=steward2)  # a steward opening it by hand may claim it
    group_reject(group=group, actor=steward2)
    assert served(steward, run).source == "queue"  # the assignment's group is decided: back to the queue


def test_withdrawn_assignments_are_no_longer_served(domain, admin, steward, steward2):
    run, _ = review_run(domain, 4)
    made = assignments.assignment_create(actor=admin, domain=domain, assignee=steward, queue="review", count=2)
    assignments.assignment_close(actor=admin, assignment=made)
    assert served(steward, run).source == "queue"
    assert {served(steward2, run).group.pk} & {i.group_id for i in made.items.all()}  # everyone's again
    with pytest.raises(assignments.AssignmentRefused, match="already withdrawn"):
        assignments.assignment_close(actor=admin, assignment=made)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"count": 0}, "between 1 and"),
        ({"count": 1001}, "between 1 and"),
        ({"queue": "carried"}, "merge, review or reject"),
        ({"score_min": Decimal("0.9"), "score_max": Decimal("0.8")}, "not be above"),
        ({"score_min": Decimal("1.5")}, "from 0 to 1"),
        ({"score_min": Decimal("0.99")}, "No open group"),
    ],
)
def test_an_assignment_out_of_range_is_refused(domain, admin, steward, change, message):
    review_run(domain, 3)
    args = {"actor": admin, "domain": domain, "assignee": steward, "queue": "review", "count": 2, **change}
    with pytest.raises(assignments.AssignmentRefused, match=message):
        assignments.assignment_create(**args)
    assert not Assignment.objects.exists()


def test_only_an_admin_assigns_and_only_to_someone_who_decides(domain, admin, steward, steward2, auditor):
    review_run(domain, 3)
    with pytest.raises(assignments.AssignmentRefused, match="Only an admin"):
        assignments.assignment_create(actor=steward, domain=domain, assignee=steward2, queue="review", count=1)
    with pytest.raises(assignments.AssignmentRefused, match="cannot decide"):
        assignments.assignment_create(actor=admin, domain=domain, assignee=auditor, queue="review", count=1)


def test_age_counts_from_the_first_run_and_follows_the_profile_set_with_its_assignment(domain, admin, steward):
    first_run, (old, fresh) = run_with_scores(domain, [0.8, 0.7])
    ten_days_ago = timezone.now() - timedelta(days=10)
    MatchGroup.objects.filter(pk=old.pk).update(first_seen_at=ten_days_ago)
    made = assignments.assignment_create(actor=admin, domain=domain, assignee=steward, queue="review", count=1)
    assert made.items.get().group_id == old.pk
    # A new weekly run holds the same two profile sets (new rows, new match ids), stored now.
    MatchRun.objects.filter(pk=first_run.pk).update(status=MatchRun.Status.SUPERSEDED)
    run2 = MatchRunFactory(domain=domain, status=MatchRun.Status.COMPLETED)
    new_ids = sorted(["a" * 32, "b" * 32])
    # Stored as a pull stores them: each with its profile set's earliest time in an earlier run, if any.
    seen = first_seen_of(run=run2, keys=[old.profile_set_key, profile_set_key(new_ids)])
    assert set(seen) == {old.profile_set_key} and abs((seen[old.profile_set_key] - ten_days_ago).total_seconds()) < 1
    again = MatchGroupFactory(
        run=run2, profile_ids=old.profile_ids, confidence_score=0.8, first_seen_at=seen[old.profile_set_key]
    )
    new = MatchGroupFactory(run=run2, profile_ids=new_ids, confidence_score=0.7)
    carry_over(run=run2)
    again.refresh_from_db()
    new.refresh_from_db()
    assert abs((again.first_seen_at - ten_days_ago).total_seconds()) < 1
    assert again.age_days(timezone.now()) == 10 and new.age_days(timezone.now()) == 0
    # Overdue: none without a deadline; with 7 days, the carried-over set only.
    assert assignment_reads.overdue_count(domain=domain, run=run2) is None
    domain = assignments.review_deadline_set(actor=admin, domain=domain, days=7)
    assert assignment_reads.overdue_count(domain=domain, run=run2) == 1
    again.run.domain = domain
    assert again.is_overdue(timezone.now()) and not new.is_overdue(timezone.now())
    # The assignment follows the profile set into the new run.
    got = served(steward, run2)
    assert (got.source, got.group.pk) == ("assigned", again.pk)
    (work_list,) = assignment_reads.my_work(actor=steward)
    assert [i.group.pk for i in work_list.items] == [again.pk] and work_list.items[0].overdue
    assert AuditEvent.objects.filter(action="domain.review_deadline_set", details__after=7).exists()


# The order of "next" ------------------------------------------------------------------------------------------------


def test_next_serves_own_claim_then_assigned_then_samples_then_known_answers_then_the_queue(
    domain, admin, steward, steward2
):
    run, groups = run_with_scores(domain, [0.99, 0.98, 0.9, 0.89, 0.88, 0.87, 0.5, 0.4])
    known_group = groups[2]
    merge(known_group, steward2)
    quality.known_answer_mark(actor=admin, group=known_group)
    rates(admin, domain, "0.5", "0")
    mine = groups[5]
    assert group_claim(group=mine, actor=steward)
    assignments.assignment_create(
        actor=admin, domain=domain, assignee=steward, queue="review", count=1, score_max=Decimal("0.88")
    )
    sample = qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=Decimal("0.01"), seed=1)
    sampled = sample.items.get().group

    order = []
    for _ in range(5):
        got = served(steward, run)
        order.append(got.source)
        if got.judgement is not None:
            answer(got.judgement, steward)
        else:
            group_reject(group=got.group, actor=steward)
            if got.source == "sample":
                assert got.group.pk == sampled.pk
    # At rate 0.5 a known answer is due on every second press; the earlier sources come first when they have work.
    assert order == ["own", "assigned", "sample", "known answer", "queue"]
    assert served(steward, run).source == ""  # the known answer is judged once; the review queue is empty


# Known answers -------------------------------------------------------------------------------------------------------


def test_known_answers_are_served_at_their_rate_exactly(domain, admin, steward, steward2):
    run, groups = run_with_scores(domain, [0.9 - 0.01 * i for i in range(30)])
    for g in groups[:6]:
        merge(g, steward2)
        quality.known_answer_mark(actor=admin, group=g)
    rates(admin, domain, "0.25", "0")
    kinds = []
    for _ in range(20):
        got = served(steward, run)
        kinds.append(got.source)
        if got.judgement is not None:
            assert got.judgement.kind == Judgement.Kind.KNOWN_ANSWER
            answer(got.judgement, steward)
        else:
            group_reject(group=got.group, actor=steward)
    assert kinds.count("known answer") == 5  # ⌊20 × 0.25⌋, every fourth press
    assert [i for i, k in enumerate(kinds) if k == "known answer"] == [3, 7, 11, 15, 19]


def test_a_known_answer_is_never_served_to_who_decided_or_marked_it_nor_twice(domain, admin, steward, steward2):
    run, groups = run_with_scores(domain, [0.9, 0.8, 0.7])
    merge(groups[0], steward2)
    known = quality.known_answer_mark(actor=admin, group=groups[0])
    rates(admin, domain, "0.5", "0")
    assert quality_reads.known_answer_candidates(actor=steward2, domain=domain) == []
    assert quality_reads.known_answer_candidates(actor=admin, domain=domain) == []
    assert quality_reads.known_answer_candidates(actor=steward, domain=domain) == [known]
    item = quality._serve(steward, Judgement.Kind.KNOWN_ANSWER, known.decision, known)
    answer(item, steward, "reject")
    assert quality_reads.known_answer_candidates(actor=steward, domain=domain) == []
    assert quality._serve(steward, Judgement.Kind.KNOWN_ANSWER, known.decision, known) is None  # once per steward


def test_only_a_decision_by_a_person_can_be_a_known_answer(domain, admin, steward):
    _, (open_group, bulk_group, decided) = run_with_scores(domain, [0.9, 0.8, 0.7])
    with pytest.raises(quality.QualityRefused, match="Only a decided group"):
        quality.known_answer_mark(actor=admin, group=open_group)
    group_reject(group=bulk_group, actor=admin, bulk=True)
    with pytest.raises(quality.QualityRefused, match="bulk"):
        quality.known_answer_mark(actor=admin, group=bulk_group)
    group_reject(group=decided, actor=steward)
    with pytest.raises(quality.QualityRefused, match="Only an admin"):
        quality.known_answer_mark(actor=steward, group=decided)
    known = quality.known_answer_mark(actor=admin, group=decided, note="clear non-match")
    with pytest.raises(quality.QualityRefused, match="already"):
        quality.known_answer_mark(actor=admin, group=decided)
    quality.known_answer_retire(actor=admin, known_answer=known)
    assert not KnownAnswer.objects.filter(retired_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action__in=["known_answer.marked", "known_answer.retired"]).count() == 2


# Second reviews and disagreements ----------------------------------------------------------------------------------


def test_a_second_review_goes_to_a_different_steward_only_and_once(domain, admin, steward, steward2, steward3):
    run, (group, *_rest) = review_run(domain, 3)
    rates(admin, domain, "0", "1")
    decision = merge(group, steward)
    assert served(steward, run).judgement is None  # never one's own decision
    got = served(steward2, run)
    assert got.source == "second review" and got.judgement.reference == decision
    assert served(steward2, run).judgement == got.judgement  # still theirs until answered
    third = served(steward3, run)
    assert third.judgement is None  # each decision is reviewed a second time once


def test_the_second_review_rate_samples_that_share_of_decisions(domain, admin, steward):
    run, groups = run_with_scores(domain, [0.9 - 0.005 * i for i in range(40)])
    for g in groups:
        group_reject(group=g, actor=steward)
    domain.second_review_rate = Decimal("0.25")
    domain.save()
    ids = [d.pk for d in Decision.objects.filter(group__run=run)]
    sampled = [d.pk for d in quality_reads.second_review_candidates(actor=admin, run=run)]
    expected = sorted(pk for pk in ids if (pk * quality_reads.STRIDE) % 1000 < 250)
    assert sampled == expected[: quality_reads.LIMIT] and sampled


def test_a_disagreement_changes_nothing_and_goes_to_an_admin_who_may_undo(domain, admin, steward, steward2):
    domain.undo_window_seconds = 600
    domain.save()
    run, (group, *_rest) = review_run(domain, 3)
    rates(admin, domain, "0", "1")
    decision = merge(group, steward)
    decisions_before = Decision.objects.count()
    item = served(steward2, run).judgement
    with pytest.raises(quality.QualityRefused, match="another steward"):
        answer(item, steward, "reject")
    answered = answer(item, steward2, "reject")
    assert answered.agrees is False and answered.resolution == Judgement.Resolution.OPEN
    with pytest.raises(quality.QualityRefused, match="already answered"):
        answer(item, steward2, "merge")
    # Nothing changed: the group stays approved, its job scheduled; no Decision was written by the judgement.
    group.refresh_from_db()
    assert group.status == MatchGroup.Status.APPROVED
    assert MergeJob.objects.get(decision=decision).status == MergeJob.Status.SCHEDULED
    assert Decision.objects.count() == decisions_before
    assert list(quality_reads.disagreements()) == [answered]
    assert AuditEvent.objects.filter(action="judgement.answered", details__agrees=False).exists()
    # Only an admin settles it; taking it back undoes the merge through the ordinary undo.
    with pytest.raises(quality.QualityRefused, match="Only an admin"):
        quality.judgement_resolve(judgement=answered, actor=steward, take_back=True)
    settled = quality.judgement_resolve(judgement=answered, actor=admin, take_back=True, note="two people")
    assert settled.resolution == Judgement.Resolution.UNDONE and settled.resolved_by == admin
    group.refresh_from_db()
    assert group.status == MatchGroup.Status.OPEN
    assert MergeJob.objects.get(decision=decision).status == MergeJob.Status.CANCELLED
    assert Decision.objects.filter(reverts=decision, action=Decision.Action.UNDO, actor=admin).exists()
    assert list(quality_reads.disagreements()) == []
    with pytest.raises(quality.QualityRefused, match="already settled"):
        quality.judgement_resolve(judgement=answered, actor=admin, take_back=False)


def test_an_agreeing_judgement_needs_no_admin_and_a_split_must_keep_the_same_profiles(domain, admin, steward, steward2):
    run, (group, *_rest) = run_with_scores(domain, [0.9, 0.8], size=4)
    rates(admin, domain, "0", "1")
    from matches.services.decisions import group_split

    keep = group.profile_ids[:2]
    group_split(group=group, actor=steward, keep_profile_ids=keep, main_profile_id=keep[0])
    item = served(steward2, run).judgement
    with pytest.raises(quality.QualityRefused, match="at least two"):
        answer(item, steward2, "split", kept=group.profile_ids[:1])
    with pytest.raises(quality.QualityRefused, match="merge, reject or split"):
        answer(item, steward2, "maybe")
    agreed = answer(item, steward2, "split", kept=keep)
    assert agreed.agrees is True and agreed.resolution == "" and list(quality_reads.disagreements()) == []


# Intervals and the reports ------------------------------------------------------------------------------------------


def test_wilson_intervals_match_known_values():
    assert quality_reads.wilson(0, 0) is None
    low, high = quality_reads.wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = quality_reads.wilson(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    low, high = quality_reads.wilson(19, 20)
    assert low == pytest.approx(0.7639, abs=1e-4) and high == pytest.approx(0.9911, abs=1e-4)


def test_reports_and_error_rates_count_each_stewards_agreement(domain, admin, steward, steward2, steward3):
    run, groups = run_with_scores(domain, [0.9, 0.85, 0.8, 0.75])
    for g in groups[:2]:
        merge(g, steward2)
        quality.known_answer_mark(actor=admin, group=g)
    known = list(KnownAnswer.objects.order_by("pk"))
    answer(quality._serve(steward, Judgement.Kind.KNOWN_ANSWER, known[0].decision, known[0]), steward, "merge")
    answer(quality._serve(steward, Judgement.Kind.KNOWN_ANSWER, known[1].decision, known[1]), steward, "reject")
    second = merge(groups[2], steward3)
    answer(quality._serve(steward, Judgement.Kind.SECOND_REVIEW, second, None), steward, "merge")
    rows = {r["steward"]: r for r in quality_reads.steward_quality(ReportFilters(domain=domain.name))}
    assert (rows["steward"]["known"].n, rows["steward"]["known"].agreed) == (2, 1)
    assert (rows["steward"]["peer"].n, rows["steward"]["peer"].agreed) == (1, 1)
    assert (rows["steward3"]["reviewed"].n, rows["steward3"]["reviewed"].agreed) == (1, 1)
    assert rows["steward"]["known"].text == "1/2 = 50% (95% 9–91%)"
    rates = quality_reads.steward_error_rates(domain=domain)
    assert (rates[steward.pk].n, rates[steward.pk].errors, rates[steward.pk].rate) == (2, 1, 0.5)
    assert steward3.pk not in rates  # a second review is agreement, not an error measure


def test_next_group_claim_serves_groups_only_never_a_judgement(domain, admin, steward, steward2):
    run, (group, *_rest) = review_run(domain, 3)
    rates(admin, domain, "0", "1")
    merge(group, steward2)
    got, source = work.next_group_claim(actor=steward, run=run, policy=domain.policy(), queue="review", exclude=[])
    assert source == "queue" and got.status == MatchGroup.Status.OPEN and got.claimed_by == steward
    assert not Judgement.objects.exists()
