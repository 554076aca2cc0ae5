"""The rule-based pull against the emulator over HTTP: ListRuleBasedMatches after GetMatches, each MatchId read with
GetSimilarProfiles; exactly once under throttling, 5xx and an interrupted pull; both-engines groups; queue placement."""

from __future__ import annotations

import importlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from matches.models import AuditEvent, MatchGroup, MatchRun, Queue, profile_set_key
from matches.services.pulls import pull_domain, rules
from tests.emulator_fixtures import generation, match, pid
from tests.factories import DomainFactory

pytestmark = pytest.mark.usefixtures("fast_retries")
PAIRS, PHONE_PAIRS = 90, 40
FAST = {"GetSimilarProfiles": 1000, "ListRuleBasedMatches": 1000, "GetMatches": 1000}


class Interrupt(BaseException):
    """Stands in for the process dying: not an Exception, so the pull does not mark its run failed."""


def people() -> list[dict]:
    out = []
    for i in range(PAIRS):  # level 1: the same email
        out += [{"ProfileId": pid(f"e{i}{s}"), "EmailAddress": f"p{i}@example.com"} for s in "ab"]
    for i in range(PHONE_PAIRS):  # level 2: the same phone, no email
        out += [{"ProfileId": pid(f"t{i}{s}"), "PhoneNumber": f"+1 206 555 {1000 + i}"} for s in "ab"]
    return out


def expected() -> set[tuple]:
    email = {(1, tuple(sorted((pid(f"e{i}a"), pid(f"e{i}b"))))) for i in range(1, PAIRS)}
    return email | {(2, tuple(sorted((pid(f"t{i}a"), pid(f"t{i}b"))))) for i in range(PHONE_PAIRS)}


@pytest.fixture
def ruled(emulator, emu, db):
    """A domain with 130 rule-based matches; its ML results hold pair 0 (both engines) and one group of its own."""
    name = f"r-{uuid.uuid4().hex[:10]}"
    emu.create_domain(name, profiles=people(), run_job=False, rule_based={"Enabled": True})
    both = {"MatchId": "ml-both", "ProfileIds": [pid("e0a"), pid("e0b")], "ConfidenceScore": 0.91}
    emu.set_matches(name, [both, match(1, base=9000)], generation=generation(1))
    emu.clear_calls()
    return DomainFactory(name=name, endpoint_url=emulator.url, rule_based_pull=True, aws_rates=FAST)


def rule_rows(run_id: int) -> set[tuple]:
    rows = MatchGroup.objects.filter(run_id=run_id, source=MatchGroup.Source.RULE_BASED)
    assert not rows.filter(confidence_score__isnull=False).exists()
    return {(level, tuple(sorted(ids))) for level, ids in rows.values_list("rule_level", "profile_ids")}


def assert_complete(run_id: int) -> None:
    assert rule_rows(run_id) == expected()  # each rule match once, none lost
    assert MatchGroup.objects.filter(run_id=run_id, source=MatchGroup.Source.RULE_BASED).count() == len(expected())
    both = MatchGroup.objects.get(run_id=run_id, match_id="ml-both")
    assert (both.source, both.both_engines, both.rule_level, both.confidence_score) == ("aws_ml", True, 1, 0.91)
    assert not MatchGroup.objects.get(run_id=run_id, match_id="m000001").both_engines
    run = MatchRun.objects.get(pk=run_id)
    assert (run.status, run.rule_groups_stored, run.rule_next_token) == ("completed", len(expected()) + 1, "")


def test_rule_matches_are_stored_exactly_once_under_throttling_and_500s(emu, ruled, monkeypatch):
    monkeypatch.setattr(rules, "MAX_RESULTS", 20)
    emu.set_faults(
        seed=5, throttle_rate=0.2, error_rate=0.05, operations=["ListRuleBasedMatches", "GetSimilarProfiles"]
    )

    result = pull_domain(domain=ruled)

    assert_complete(result.run_id)
    assert result.rule_pages == 7 and result.rule_groups_stored == len(expected()) + 1
    assert "130 rule-based in 7 pages" in result.message
    statuses = [c["status"] for c in emu.calls("ListRuleBasedMatches") + emu.calls("GetSimilarProfiles")]
    assert statuses.count(429) > 5 and statuses.count(500) > 0
    assert [c["status"] for c in emu.calls("ListRuleBasedMatches")].count(200) == 7
    similar = [c["params"] for c in emu.calls("GetSimilarProfiles") if c["status"] == 200]
    assert {(p["SearchKey"], p["MatchType"]) for p in similar} == {("_matchId", "RULE_BASED_MATCHING")}


def test_a_pull_interrupted_after_a_rule_page_resumes_from_its_checkpoint(emu, ruled, monkeypatch):
    monkeypatch.setattr(rules, "MAX_RESULTS", 20)

    def die_after_two(p):
        if p.rule_pages >= 2:
            raise Interrupt()

    with pytest.raises(Interrupt):
        pull_domain(domain=ruled, progress=die_after_two)
    run = MatchRun.objects.get(domain=ruled)
    assert (run.status, run.rule_pages) == ("running", 2) and run.rule_next_token
    saved = run.rule_next_token
    emu.clear_calls()

    result = pull_domain(domain=ruled)

    assert result.run_id == run.pk and result.resumed
    assert_complete(run.pk)
    listed = emu.calls("ListRuleBasedMatches")
    assert listed[0]["params"]["NextToken"] == saved and len(listed) == 5  # pages 3-7 only
    assert emu.calls("GetMatches") == []  # the GetMatches pages were all stored before


def test_a_pull_killed_before_a_rule_page_commits_fetches_that_page_again(emu, ruled, monkeypatch):
    monkeypatch.setattr(rules, "MAX_RESULTS", 20)
    real = rules.rule_page_store

    def die_on_third(*, run, items, next_token):
        if run.rule_pages == 2:
            raise Interrupt()  # fetched and resolved, not stored
        return real(run=run, items=items, next_token=next_token)

    monkeypatch.setattr(rules, "rule_page_store", die_on_third)
    with pytest.raises(Interrupt):
        pull_domain(domain=ruled)
    monkeypatch.setattr(rules, "rule_page_store", real)
    run = MatchRun.objects.get(domain=ruled)
    assert run.rule_pages == 2 and MatchGroup.objects.filter(run=run, source="rule_based").count() == 39

    result = pull_domain(domain=ruled)

    assert result.run_id == run.pk
    assert_complete(run.pk)


def test_a_refused_rule_token_restarts_the_rule_pages_only(emu, ruled, monkeypatch):
    monkeypatch.setattr(rules, "MAX_RESULTS", 20)

    def die_after_three(p):
        if p.rule_pages >= 3:
            raise Interrupt()

    with pytest.raises(Interrupt):
        pull_domain(domain=ruled, progress=die_after_three)
    message = "The NextToken provided is invalid or has expired. Start again without a NextToken."
    emu.set_faults(fail_next=[{"operation": "ListRuleBasedMatches", "status": 400, "message": message}])
    emu.clear_calls()

    result = pull_domain(domain=ruled)

    assert_complete(result.run_id)
    assert result.restarts == 1 and emu.calls("GetMatches") == []
    assert MatchRun.objects.get(pk=result.run_id).groups_stored == 2  # the ML groups were kept
    assert AuditEvent.objects.filter(action="pull.resumed", object_id=str(result.run_id)).exists()
    restarted = AuditEvent.objects.get(action="pull.restarted", object_id=str(result.run_id))
    assert restarted.details["part"] == "rule_based" and "NextToken" in restarted.details["reason"]


def test_without_the_option_no_rule_based_call_is_made(emu, ruled):
    ruled.rule_based_pull = False
    ruled.save()
    result = pull_domain(domain=ruled)
    assert emu.calls("ListRuleBasedMatches") == [] and result.rule_pages == 0
    assert not MatchGroup.objects.filter(run_id=result.run_id, source="rule_based").exists()


def test_rule_groups_wait_in_review_unless_the_admin_sends_low_levels_to_merge(emu, ruled):
    result = pull_domain(domain=ruled)
    policy = ruled.policy()
    one = MatchGroup.objects.filter(run_id=result.run_id, rule_level=1, source="rule_based").first()
    two = MatchGroup.objects.filter(run_id=result.run_id, rule_level=2).first()
    assert (one.queue_of(policy), two.queue_of(policy)) == (Queue.REVIEW, Queue.REVIEW)
    assert (one.score_label, two.score_label) == ("rule level 1", "rule level 2")
    ruled.rule_merge_max_level = 1
    ruled.save()
    policy = ruled.policy()
    assert (one.queue_of(policy), two.queue_of(policy)) == (Queue.MERGE, Queue.REVIEW)
    # The both-engines group keeps its score's queue (0.91 is below the default merge threshold of 0.95? its policy's).
    both = MatchGroup.objects.get(run_id=result.run_id, match_id="ml-both")
    assert both.queue_of(policy) == policy.queue_of(0.91)
    assert profile_set_key(both.profile_ids) not in set(
        MatchGroup.objects.filter(run_id=result.run_id, source="rule_based").values_list("profile_set_key", flat=True)
    )


def test_drift_leaves_rule_based_groups_out(db):
    from matches.services import drift as drift_service
    from tests.factories import MatchGroupFactory, MatchRunFactory

    domain = DomainFactory(endpoint_url="http://127.0.0.1:9")
    old = MatchRunFactory(domain=domain)
    ml = MatchGroupFactory(run=old, confidence_score=0.8)
    new = MatchRunFactory(domain=domain)
    MatchGroupFactory(run=new, profile_ids=ml.profile_ids, confidence_score=0.8)
    for _ in range(5):  # the domain turned the rule-based pull on: five sets no ML run held
        MatchGroupFactory(run=new, source="rule_based", confidence_score=None, rule_level=1)
    drift = drift_service.run_drift_compute(run=new)
    assert (drift.previous_id, drift.groups, drift.persisted, drift.appeared, drift.vanished) == (old.pk, 1, 1, 0, 0)


def test_a_decided_rule_group_carries_over_to_the_next_run(emu, ruled, steward, monkeypatch):
    from matches.services import decisions

    first = pull_domain(domain=ruled)
    phone = MatchGroup.objects.filter(run_id=first.run_id, source=MatchGroup.Source.RULE_BASED, rule_level=2)
    rejected, left_open = list(phone.order_by("id")[:2])
    decisions.group_reject(group=rejected, actor=steward)
    emu.set_matches(ruled.name, [match(1, base=9000)], generation=generation(8))
    # The rule group left open was first seen ten days ago: the next run's row is stored with that age.
    ten_days_ago = timezone.now() - timedelta(days=10)
    MatchGroup.objects.filter(pk=left_open.pk).update(first_seen_at=ten_days_ago)
    # Small batches: the run's 101-150 groups (one ML, the rest rule-based) in id order, 50 at a time: three.
    monkeypatch.setattr(importlib.import_module("matches.services.pulls.carry_over"), "CARRY_OVER_BATCH", 50)

    second = pull_domain(domain=ruled)

    again = MatchGroup.objects.get(run_id=second.run_id, profile_set_key=rejected.profile_set_key)
    assert (again.source, again.status, again.linked_decision.group_id) == ("rule_based", "carried_over", rejected.pk)
    still = MatchGroup.objects.get(run_id=second.run_id, profile_set_key=left_open.profile_set_key)
    assert still.status == "open" and abs((still.first_seen_at - ten_days_ago).total_seconds()) < 1
    fresh = MatchGroup.objects.filter(run_id=second.run_id, source="rule_based").exclude(pk=still.pk)
    assert fresh.filter(first_seen_at__lt=timezone.now() - timedelta(days=1)).count() == 0
    run = MatchRun.objects.get(pk=second.run_id)
    assert run.status == "completed" and run.completion["carried_over"] == 1
    assert run.completion["batches"] == 3


def test_a_rule_page_is_stored_in_statements_that_do_not_grow_with_it(db, django_assert_max_num_queries):
    from tests.factories import MatchRunFactory

    run = MatchRunFactory(status=MatchRun.Status.RUNNING)
    items = [{"MatchId": f"rule-{i}", "ProfileIds": [pid(f"q{i}a"), pid(f"q{i}b")], "RuleLevel": 2} for i in range(100)]
    with django_assert_max_num_queries(8):
        assert rules.rule_page_store(run=run, items=items, next_token="t2") == 100
    # The same page again (fetched again after a crash before the next checkpoint): nothing stored twice.
    run.refresh_from_db()
    assert rules.rule_page_store(run=run, items=items, next_token="t2") == 0
    assert MatchGroup.objects.filter(run=run, source=MatchGroup.Source.RULE_BASED).count() == 100
