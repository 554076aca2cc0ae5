"""The pull against the emulator over HTTP: exactly once under faults, validation, restarts, generations, carry-over."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from matches.models import (
    AuditEvent,
    Decision,
    MatchGroup,
    MatchRun,
    MergeJob,
    Profile,
    QuarantinedMatch,
    RunScoreBin,
    profile_set_key,
)
from matches.services import pulls
from matches.services.pulls import PullAlreadyRunning, PullFailed, PullLost, pull_domain
from tests.emulator_fixtures import generation, match, pid
from tests.factories import DomainFactory

pytestmark = pytest.mark.usefixtures("fast_retries")


def stored(run_id: int) -> set[tuple]:
    return {
        (m, tuple(p), s)
        for m, p, s in MatchGroup.objects.filter(run_id=run_id).values_list(
            "match_id", "profile_ids", "confidence_score"
        )
    }


def expected(items: list[dict]) -> set[tuple]:
    return {(i["MatchId"], tuple(sorted(set(i["ProfileIds"]))), float(i["ConfidenceScore"])) for i in items}


def bins_total(run_id: int, field: str = "total") -> int:
    return RunScoreBin.objects.filter(run_id=run_id).aggregate(n=Sum(field))["n"] or 0


class Interrupt(BaseException):
    """Stands in for the process dying: not an Exception, so the pull does not mark its run failed."""


def interrupt_after(pages: int):
    def progress(p):
        if p.pages >= pages:
            raise Interrupt()

    return progress


@pytest.mark.slow
def test_ten_thousand_groups_under_throttling_and_500s_are_stored_exactly_once(emulator, emu, emulated_domain):
    domain = emulated_domain(bulk_groups=10_000)
    served = emulator.emulator.domains[domain.name].matches.page(0, 10_000)
    emu.set_faults(seed=3, throttle_rate=0.2, error_rate=0.05, operations=["GetMatches"])
    emu.clear_calls()

    result = pull_domain(domain=domain)

    assert stored(result.run_id) == expected(served)
    run = MatchRun.objects.get(pk=result.run_id)
    assert (run.status, run.groups_seen, run.groups_stored, run.pages, run.quarantined) == (
        "completed",
        10_000,
        10_000,
        100,
        0,
    )
    assert bins_total(run.pk) == bins_total(run.pk, "open") == 10_000
    statuses = [c["status"] for c in emu.calls("GetMatches")]
    assert statuses.count(429) > 10 and statuses.count(500) > 0
    assert statuses.count(200) == 100


def test_bad_items_are_quarantined_whole_with_their_reason(emulated_domain):
    good = [match(i) for i in range(5)]
    a, b = pid("a"), pid("b")
    bad = [
        {"ProfileIds": [a, b], "ConfidenceScore": 0.9},
        {"MatchId": "one", "ProfileIds": [a], "ConfidenceScore": 0.9},
        {"MatchId": "same-twice", "ProfileIds": [a, a], "ConfidenceScore": 0.9},
        {"MatchId": "upper", "ProfileIds": [a, b.upper()], "ConfidenceScore": 0.9},
        {"MatchId": "short", "ProfileIds": [a, "abc123"], "ConfidenceScore": 0.9},
        {"MatchId": "no-score", "ProfileIds": [a, b]},
        {"MatchId": "word", "ProfileIds": [a, b], "ConfidenceScore": "high"},
        {"MatchId": "text-number", "ProfileIds": [a, b], "ConfidenceScore": "0.5"},
        {"MatchId": "bool", "ProfileIds": [a, b], "ConfidenceScore": True},
        {"MatchId": "above", "ProfileIds": [a, b], "ConfidenceScore": 1.5},
        {"MatchId": "below", "ProfileIds": [a, b], "ConfidenceScore": -0.1},
    ]
    domain = emulated_domain(items=good + bad)

    result = pull_domain(domain=domain)

    assert stored(result.run_id) == expected(good)
    reasons = {q.raw.get("MatchId", "<none>"): q.reason for q in QuarantinedMatch.objects.filter(run_id=result.run_id)}
    assert reasons == {
        "<none>": "missing MatchId",
        "one": "fewer than two distinct profile ids",
        "same-twice": "fewer than two distinct profile ids",
        "upper": f"malformed profile id {b.upper()!r} (expected 32 lowercase hex characters)",
        "short": "malformed profile id 'abc123' (expected 32 lowercase hex characters)",
        "no-score": "missing ConfidenceScore",
        "word": "ConfidenceScore is not a number: 'high'",
        "text-number": "ConfidenceScore is not a number: '0.5'",
        "bool": "ConfidenceScore is not a number: True",
        "above": "ConfidenceScore 1.5 is outside [0, 1]",
        "below": "ConfidenceScore -0.1 is outside [0, 1]",
    }
    # Kept as received, not as boto3 would have coerced it.
    assert QuarantinedMatch.objects.get(run_id=result.run_id, raw__MatchId="bool").raw["ConfidenceScore"] is True
    run = MatchRun.objects.get(pk=result.run_id)
    assert (run.quarantined, run.groups_seen, run.groups_stored) == (len(bad), len(good) + len(bad), len(good))


def test_repeated_ids_are_deduplicated_and_duplicate_match_ids_keep_the_first(emulated_domain):
    a, b, c = pid(1), pid(2), pid(3)
    items = [
        {"MatchId": "rep", "ProfileIds": [b, a, b, a], "ConfidenceScore": 0.7},
        {"MatchId": "dup", "ProfileIds": [a, c], "ConfidenceScore": 0.9},
        *[match(i) for i in range(10, 250)],
        {"MatchId": "dup", "ProfileIds": [c, a, a], "ConfidenceScore": 0.9},  # identical once de-duplicated: ignored
        {"MatchId": "dup", "ProfileIds": [a, b], "ConfidenceScore": 0.9},  # conflicting, two pages later
        {"MatchId": "rep", "ProfileIds": [a, b], "ConfidenceScore": 0.71},  # conflicting score
    ]
    domain = emulated_domain(items=items)

    result = pull_domain(domain=domain)

    rep = MatchGroup.objects.get(run_id=result.run_id, match_id="rep")
    assert (rep.profile_ids, rep.size, rep.confidence_score) == (sorted([a, b]), 2, 0.7)
    assert rep.profile_set_key == profile_set_key([a, b])
    assert MatchGroup.objects.get(run_id=result.run_id, match_id="dup").profile_ids == sorted([a, c])
    quarantined = QuarantinedMatch.objects.filter(run_id=result.run_id).order_by("page")
    assert [(q.raw["MatchId"], q.raw["ProfileIds"], q.page) for q in quarantined] == [
        ("dup", [a, b], 3),
        ("rep", [a, b], 3),
    ]
    assert all("first copy kept" in q.reason for q in quarantined)
    run = MatchRun.objects.get(pk=result.run_id)
    assert (run.groups_stored, run.quarantined, run.groups_seen) == (242, 2, 245)


@pytest.mark.parametrize(
    ("status", "aws_message"),
    [
        (403, "User is not authorized to perform this action on this resource."),
        (404, "The requested resource was not found."),
    ],
)
def test_access_denied_and_not_found_fail_the_run_with_the_aws_message(emu, emulated_domain, status, aws_message):
    domain = emulated_domain(items=[match(i) for i in range(3)])
    emu.set_faults(fail_next=[{"operation": "GetMatches", "status": status}])

    with pytest.raises(PullFailed) as caught:
        pull_domain(domain=domain)

    run = MatchRun.objects.get(domain=domain)
    assert run.status == "failed" and aws_message in run.error and aws_message in str(caught.value)
    assert run.finished_at is not None
    assert AuditEvent.objects.filter(action="pull.failed", object_id=str(run.pk)).exists()
    assert not MatchGroup.objects.filter(run=run).exists()


def test_a_failure_mid_pull_keeps_the_run_failed_and_a_new_pull_starts_over(emu, emulated_domain, monkeypatch):
    monkeypatch.setattr(pulls.store, "PAGES_PER_TRANSACTION", 1)
    items = [match(i) for i in range(500)]
    domain = emulated_domain(items=items)

    def deny_after_two(p):
        if p.pages == 2:
            emu.set_faults(access_denied=True, operations=["GetMatches"])

    with pytest.raises(PullFailed, match="AccessDeniedException"):
        pull_domain(domain=domain, progress=deny_after_two)
    failed = MatchRun.objects.get(domain=domain)
    assert (failed.status, failed.pages, failed.groups_stored) == ("failed", 2, 200)

    emu.clear_faults()
    result = pull_domain(domain=domain)
    assert result.run_id != failed.pk and stored(result.run_id) == expected(items)


def test_retries_give_up_after_the_configured_attempts(emu, emulated_domain, settings):
    settings.MATCHDESK = {**settings.MATCHDESK, "RETRY_MAX_ATTEMPTS": 3}
    domain = emulated_domain(items=[match(1)])
    emu.set_faults(throttle_rate=1.0, operations=["GetMatches"])
    emu.clear_calls()

    with pytest.raises(PullFailed, match="Gave up after 3 attempts"):
        pull_domain(domain=domain)

    assert len(emu.calls("GetMatches")) == 3
    assert "Rate exceeded" in MatchRun.objects.get(domain=domain).error


def test_an_expired_token_on_resume_restarts_the_run_cleanly(emu, emulated_domain, monkeypatch):
    monkeypatch.setattr(pulls.store, "PAGES_PER_TRANSACTION", 1)
    items = [match(i) for i in range(450)]
    domain = emulated_domain(items=items)
    with pytest.raises(Interrupt):
        pull_domain(domain=domain, progress=interrupt_after(3))
    run = MatchRun.objects.get(domain=domain)
    assert (run.status, run.pages, run.groups_stored) == ("running", 3, 300) and run.next_token
    message = "The NextToken provided is invalid or has expired. Start again without a NextToken."
    emu.set_faults(fail_next=[{"operation": "GetMatches", "status": 400, "message": message}])

    result = pull_domain(domain=domain)

    assert result.run_id == run.pk and result.resumed and result.restarts == 1
    assert stored(run.pk) == expected(items)
    run.refresh_from_db()
    assert (run.status, run.pages, run.groups_stored, run.restarts) == ("completed", 5, 450, 1)
    assert bins_total(run.pk) == 450
    restarted = AuditEvent.objects.get(action="pull.restarted", object_id=str(run.pk))
    assert "NextToken" in restarted.details["reason"]


def test_a_garbled_checkpoint_token_restarts_instead_of_failing(emulated_domain, monkeypatch):
    monkeypatch.setattr(pulls.store, "PAGES_PER_TRANSACTION", 1)
    items = [match(i) for i in range(300)]
    domain = emulated_domain(items=items)
    with pytest.raises(Interrupt):
        pull_domain(domain=domain, progress=interrupt_after(1))
    MatchRun.objects.filter(domain=domain).update(next_token="not-a-token")

    result = pull_domain(domain=domain)

    assert result.restarts == 1 and stored(result.run_id) == expected(items)


def test_a_generation_change_mid_pull_restarts_on_the_new_results(emu, emulated_domain, monkeypatch):
    monkeypatch.setattr(pulls.store, "PAGES_PER_TRANSACTION", 1)
    old = [match(i) for i in range(400)]
    new = [match(i, score=0.5, base=9000 + i * 10) for i in range(320)]
    domain = emulated_domain(items=old, when=generation(1))
    changed = []

    def change_once(p):
        if p.pages == 2 and not changed:
            changed.append(True)
            emu.set_matches(domain.name, new, generation=generation(8))

    result = pull_domain(domain=domain, progress=change_once)

    assert result.restarts == 1 and stored(result.run_id) == expected(new)
    run = MatchRun.objects.get(pk=result.run_id)
    assert run.generated_at.isoformat() == generation(8)
    assert (run.pages, run.groups_seen, run.groups_stored) == (4, 320, 320)
    assert bins_total(run.pk) == 320


def test_restarts_are_capped_then_the_run_fails(emu, emulated_domain, monkeypatch):
    monkeypatch.setattr(pulls.store, "PAGES_PER_TRANSACTION", 1)
    domain = emulated_domain(items=[match(i) for i in range(300)])
    day = iter(range(2, 28))

    def always_change(p):
        emu.set_matches(domain.name, [match(i) for i in range(300)], generation=generation(next(day)))

    with pytest.raises(PullFailed, match="Gave up after 3 restarts"):
        pull_domain(domain=domain, progress=always_change)
    run = MatchRun.objects.get(domain=domain)
    assert (run.status, run.restarts) == ("failed", 3)


def test_unchanged_generation_creates_no_run_and_is_audited(emulated_domain):
    domain = emulated_domain(items=[match(i) for i in range(5)])
    first = pull_domain(domain=domain)
    groups_before = stored(first.run_id)

    again = pull_domain(domain=domain)

    assert again.status == "unchanged" and "no new results" in again.message
    assert list(MatchRun.objects.filter(domain=domain).values_list("pk", "status")) == [(first.run_id, "completed")]
    assert stored(first.run_id) == groups_before
    assert AuditEvent.objects.filter(action="pull.unchanged", domain=domain.name).count() == 1


def test_a_domain_without_any_results_yet_creates_no_run(emu, emulator, db):
    name = f"no-job-yet-{uuid.uuid4().hex[:8]}"
    emu.create_domain(name, run_job=False)  # no identity-resolution job: GetMatches has no MatchGenerationDate
    domain = DomainFactory(name=name, endpoint_url=emulator.url)

    result = pull_domain(domain=domain)

    assert result.status == "unchanged" and "no identity-resolution job" in result.message
    assert not MatchRun.objects.filter(domain=domain).exists()
    assert AuditEvent.objects.filter(action="pull.unchanged", domain=domain.name).count() == 1


def test_a_new_generation_supersedes_the_previous_runs_open_groups(emu, emulated_domain, steward):
    domain = emulated_domain(items=[match(i) for i in range(6)], when=generation(1))
    first = pull_domain(domain=domain)
    decided = MatchGroup.objects.get(run_id=first.run_id, match_id="m000000")
    MatchGroup.objects.filter(pk=decided.pk).update(status="rejected")
    RunScoreBin.objects.filter(run_id=first.run_id).update(open=5)  # as group_reject would have left it
    emu.set_matches(domain.name, [match(i, base=500 + i * 10) for i in range(4)], generation=generation(8))

    second = pull_domain(domain=domain)

    assert second.superseded_run_ids == [first.run_id] and second.superseded_groups == 5
    assert MatchRun.objects.get(pk=first.run_id).status == "superseded"
    statuses = dict(MatchGroup.objects.filter(run_id=first.run_id).values_list("match_id", "status"))
    assert statuses.pop("m000000") == "rejected" and set(statuses.values()) == {"superseded"}
    assert bins_total(first.run_id, "open") == 0
    assert MatchRun.objects.get(pk=second.run_id).status == "completed"
    assert domain.latest_completed_run().pk == second.run_id


def test_earlier_decisions_carry_over_by_profile_set(emu, emulated_domain, steward):
    sets = {
        name: [pid(f"{name}-{i}") for i in range(3)] for name in "rejected merging merged reopened undone fresh".split()
    }
    gone_id = pid("gone")
    superset = sets["rejected"] + [pid("newcomer")]
    first_items = [{"MatchId": f"a-{n}", "ProfileIds": ids, "ConfidenceScore": 0.8} for n, ids in sets.items()]
    domain = emulated_domain(items=first_items, when=generation(1))
    first = pull_domain(domain=domain)
    g = {n: MatchGroup.objects.get(run_id=first.run_id, match_id=f"a-{n}") for n in sets}

    def decide(group, action, **kwargs):
        return Decision.objects.create(
            group=group, action=action, actor=steward, confidence_score=0.8, bucket="review", **kwargs
        )

    rejected = decide(g["rejected"], "reject")
    merging = decide(g["merging"], "merge")
    MergeJob.objects.create(decision=merging, status="scheduled", not_before=timezone.now())
    merged = decide(g["merged"], "merge")
    MergeJob.objects.create(decision=merged, status="succeeded", not_before=timezone.now())
    decide(g["reopened"], "reopen", reverts=decide(g["reopened"], "reject"))
    undone = decide(g["undone"], "merge")
    MergeJob.objects.create(decision=undone, status="cancelled", not_before=timezone.now())
    decide(g["undone"], "undo", reverts=undone)
    Profile.objects.create(domain=domain, profile_id=gone_id, merged_into=pid("main"), merged_at=timezone.now())

    second_items = [
        {"MatchId": f"b-{n}", "ProfileIds": list(reversed(ids)), "ConfidenceScore": 0.8} for n, ids in sets.items()
    ]
    second_items += [
        {"MatchId": "b-superset", "ProfileIds": superset, "ConfidenceScore": 0.8},
        {"MatchId": "b-gone", "ProfileIds": [gone_id, pid("other")], "ConfidenceScore": 0.8},
    ]
    emu.set_matches(domain.name, second_items, generation=generation(8))

    second = pull_domain(domain=domain)

    after = {
        m: (s, d)
        for m, s, d in MatchGroup.objects.filter(run_id=second.run_id).values_list(
            "match_id", "status", "linked_decision"
        )
    }
    assert after == {
        "b-rejected": ("carried_over", rejected.pk),
        "b-merging": ("approved", merging.pk),
        "b-merged": ("merged", merged.pk),
        "b-reopened": ("open", None),
        "b-undone": ("open", None),
        "b-fresh": ("open", None),
        "b-superset": ("open", None),
        "b-gone": ("stale", None),
    }
    assert (second.carried_over, second.approved, second.merged, second.stale) == (1, 1, 1, 1)
    assert bins_total(second.run_id, "open") == 4
    completed = AuditEvent.objects.get(action="pull.completed", object_id=str(second.run_id))
    assert completed.details["carried_over"] == 1 and completed.details["stale"] == 1


def test_a_carried_over_rejection_that_was_reopened_does_not_carry_again(emu, emulated_domain, steward):
    ids = [pid("x1"), pid("x2")]
    domain = emulated_domain(items=[{"MatchId": "x", "ProfileIds": ids, "ConfidenceScore": 0.4}], when=generation(1))
    run1 = pull_domain(domain=domain)
    group1 = MatchGroup.objects.get(run_id=run1.run_id)
    reject = Decision.objects.create(
        group=group1, action="reject", actor=steward, confidence_score=0.4, bucket="reject"
    )
    emu.set_matches(
        domain.name, [{"MatchId": "y", "ProfileIds": ids, "ConfidenceScore": 0.4}], generation=generation(8)
    )
    run2 = pull_domain(domain=domain)
    group2 = MatchGroup.objects.get(run_id=run2.run_id)
    assert (group2.status, group2.linked_decision_id) == ("carried_over", reject.pk)
    # Reopened in week 2 (as group_reopen records it): week 3 asks again.
    Decision.objects.create(
        group=group2, action="reopen", reverts=reject, actor=steward, confidence_score=0.4, bucket="reject"
    )
    emu.set_matches(
        domain.name, [{"MatchId": "z", "ProfileIds": ids, "ConfidenceScore": 0.4}], generation=generation(15)
    )

    run3 = pull_domain(domain=domain)

    assert MatchGroup.objects.get(run_id=run3.run_id).status == "open"


def test_a_pull_is_refused_while_another_holds_the_domain(emulated_domain):
    domain = emulated_domain(items=[match(1)])
    run = MatchRun.objects.create(domain=domain, status="running", heartbeat_at=timezone.now())
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}, autocommit=True
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [pulls.PULL_LOCK_CLASS, domain.pk])
        with pytest.raises(PullAlreadyRunning, match=rf"already running for {domain.name} \(run {run.pk}, started "):
            pull_domain(domain=domain)
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [pulls.PULL_LOCK_CLASS, domain.pk])
    finally:
        other.close()
    # Its holder gone, the same running run is resumed, even with a fresh heartbeat.
    result = pull_domain(domain=domain)
    assert result.run_id == run.pk and result.resumed


def test_a_stale_in_memory_checkpoint_cannot_write(emulated_domain):
    domain = emulated_domain(items=[match(1)])
    run = MatchRun.objects.create(domain=domain, status="running")
    behind = MatchRun.objects.get(pk=run.pk)
    MatchRun.objects.filter(pk=run.pk).update(pages=3)

    with pytest.raises(PullLost):
        pulls.pages_store(run=behind, pages=[{"Matches": [match(1)]}], next_token="")
    assert not MatchGroup.objects.filter(run=run).exists()


def test_progress_reports_pages_groups_and_potential_matches(emulated_domain, monkeypatch):
    monkeypatch.setattr(pulls.store, "PAGES_PER_TRANSACTION", 2)
    monkeypatch.setattr(pulls.store, "SECONDS_PER_TRANSACTION", 600)
    domain = emulated_domain(items=[match(i) for i in range(450)])
    seen = []

    pull_domain(domain=domain, progress=lambda p: seen.append((p.pages, p.groups_seen, p.potential_matches)))

    assert seen == [(2, 200, 450), (4, 400, 450), (5, 450, 450)]


def test_heartbeat_and_started_by_are_recorded(emulated_domain, admin):
    domain = emulated_domain(items=[match(1)])
    before = timezone.now() - timedelta(seconds=1)
    result = pull_domain(domain=domain, actor=admin)
    run = MatchRun.objects.get(pk=result.run_id)
    assert run.started_by == admin and run.heartbeat_at > before
    assert AuditEvent.objects.get(action="pull.started", object_id=str(run.pk)).actor == admin


def test_any_pull_that_starts_serves_a_pending_pull_now(emulated_domain):
    from matches.models import Domain

    domain = emulated_domain(items=[match(1)])
    Domain.objects.filter(pk=domain.pk).update(pull_requested_at=timezone.now())

    pull_domain(domain=domain)  # the command's pull, say: the hand-off sweep has nothing left to queue

    assert Domain.objects.get(pk=domain.pk).pull_requested_at is None
