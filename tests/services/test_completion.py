"""Completion in constant time (services/pulls/carry_over.py): the completion transaction steps the old run down,
carry-over runs in batches behind a checkpoint, the old run's rows are rewritten in the background, and every reader
sees `superseded` meanwhile."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from matches import access
from matches.models import AuditEvent, BulkJob, Decision, MatchGroup, MatchRun, RunScoreBin
from matches.services import bulk, decisions, ops
from matches.services.decisions import NotDecidable
from matches.services.groups import group_set_status
from matches.services.pulls import completion_finish, pull_domain, pull_running_message, run_groups_supersede
from matches.services.pulls.schedule import completion_queued_key
from tests.emulator_fixtures import generation, pid

# The module, not the function `pulls.carry_over` that the package re-exports under the same name.
carry_over_module = importlib.import_module("matches.services.pulls.carry_over")

pytestmark = pytest.mark.usefixtures("fast_retries")

Status = MatchGroup.Status


class Interrupt(BaseException):
    """Stands in for the worker dying: not an Exception, so nothing marks the run failed."""


def open_in_bins(run_id: int) -> int:
    return RunScoreBin.objects.filter(run_id=run_id).aggregate(n=Sum("open"))["n"] or 0


def items(prefix: str, sets: dict[str, list[str]], score: float = 0.8) -> list[dict]:
    return [{"MatchId": f"{prefix}-{n}", "ProfileIds": ids, "ConfidenceScore": score} for n, ids in sets.items()]


@pytest.fixture
def two_generations(emu, emulated_domain, steward):
    """A first run with six rejected sets and four open ones; the second generation holds the same ten sets."""
    sets = {f"s{i}": [pid(f"s{i}-a"), pid(f"s{i}-b")] for i in range(10)}
    domain = emulated_domain(items=items("a", sets), when=generation(1))
    first = pull_domain(domain=domain)
    for i in range(6):
        group = MatchGroup.objects.get(run_id=first.run_id, match_id=f"a-s{i}")
        decisions.group_reject(group=group, actor=steward)
    emu.set_matches(domain.name, items("b", sets), generation=generation(8))
    return domain, first


def kill_after_batches(monkeypatch, batches: int) -> dict:
    """Carry-over two groups a batch; the worker dies as the batch after `batches` committed ones starts (until
    the returned switch's "alive" is set: a new worker)."""
    real = carry_over_module.carry_over_step
    switch = {"calls": 0, "alive": False}

    def step(**kwargs):
        switch["calls"] += 1
        if switch["calls"] > batches and not switch["alive"]:
            raise Interrupt()
        return real(**kwargs, batch=2)

    monkeypatch.setattr(carry_over_module, "carry_over_step", step)
    return switch


def test_a_completion_killed_mid_carry_over_resumes_exactly_once(two_generations, monkeypatch):
    domain, first = two_generations
    worker = kill_after_batches(monkeypatch, 2)

    with pytest.raises(Interrupt):
        pull_domain(domain=domain)

    run = MatchRun.objects.exclude(pk=first.run_id).get(domain=domain)
    assert run.status == MatchRun.Status.CARRYING_OVER and run.completion["batches"] == 2
    assert MatchRun.objects.get(pk=first.run_id).status == MatchRun.Status.SUPERSEDED
    # Half carried over: some groups are, the rest wait; the queues show no run at all until it finishes.
    assert 0 < MatchGroup.objects.filter(run=run, status=Status.CARRIED_OVER).count() < 6
    assert domain.latest_completed_run() is None
    assert not AuditEvent.objects.filter(action="pull.completed", object_id=str(run.pk)).exists()

    worker["alive"] = True
    assert completion_finish(domain=domain) is True

    run.refresh_from_db()
    assert run.status == MatchRun.Status.COMPLETED and domain.latest_completed_run() == run
    statuses = dict(MatchGroup.objects.filter(run=run).values_list("match_id", "status"))
    assert statuses == {f"b-s{i}": Status.CARRIED_OVER if i < 6 else Status.OPEN for i in range(10)}
    assert open_in_bins(run.pk) == 4
    (completed,) = AuditEvent.objects.filter(action="pull.completed", object_id=str(run.pk))
    assert completed.details["carried_over"] == 6 and completed.details["superseded_groups"] == 4
    assert completed.details["carry_over_batches"] > 2  # resumed after the two committed batches, none again
    old = MatchGroup.objects.filter(run_id=first.run_id)
    assert set(old.exclude(status=Status.REJECTED).values_list("status", flat=True)) == {Status.SUPERSEDED}
    assert open_in_bins(first.run_id) == 0
    assert MatchRun.objects.get(pk=first.run_id).groups_superseded_at is not None


def test_carry_over_walks_the_run_in_id_order_and_resumes_from_an_earlier_versions_checkpoint(
    two_generations, monkeypatch, emu
):
    domain, first = two_generations
    # Scores falling as the pull stores them: the rejected sets (s0-s5) come first by id and last by score.
    second = [
        {"MatchId": f"b-s{i}", "ProfileIds": [pid(f"s{i}-a"), pid(f"s{i}-b")], "ConfidenceScore": 0.9 - i * 0.05}
        for i in range(10)
    ]
    emu.set_matches(domain.name, second, generation=generation(8))
    worker = kill_after_batches(monkeypatch, 2)
    with pytest.raises(Interrupt):
        pull_domain(domain=domain)

    run = MatchRun.objects.exclude(pk=first.run_id).get(domain=domain)
    ids = sorted(MatchGroup.objects.filter(run=run).values_list("pk", flat=True))
    # Two batches of two: the checkpoint is the fourth group by id, and only the first four were looked at.
    assert run.carry_over_cursor == f"id_{ids[3]}"
    looked_at = MatchGroup.objects.filter(run=run).exclude(status=Status.OPEN).values_list("pk", flat=True)
    assert set(looked_at) <= set(ids[:4]) and looked_at

    # A checkpoint in the (score, id) form an earlier version wrote starts the walk again from the run's first
    # group: what was carried stays carried, once.
    MatchRun.objects.filter(pk=run.pk).update(carry_over_cursor=f"0.8_{ids[1]}")
    worker["alive"] = True
    assert completion_finish(domain=domain) is True

    run.refresh_from_db()
    assert run.status == MatchRun.Status.COMPLETED
    statuses = dict(MatchGroup.objects.filter(run=run).values_list("match_id", "status"))
    assert statuses == {f"b-s{i}": Status.CARRIED_OVER if i < 6 else Status.OPEN for i in range(10)}
    (completed,) = AuditEvent.objects.filter(action="pull.completed", object_id=str(run.pk))
    assert completed.details["carried_over"] == 6


def test_a_pulled_group_is_stored_with_its_profile_sets_first_seen_time(two_generations, monkeypatch):
    """The age is written as the row is stored, not by carry-over (which would rewrite every row of the run)."""
    domain, first = two_generations
    ten_days_ago = timezone.now() - timedelta(days=10)
    MatchGroup.objects.filter(run_id=first.run_id, match_id__in=["a-s7", "a-s8"]).update(first_seen_at=ten_days_ago)
    kill_after_batches(monkeypatch, 0)  # stored, then the worker dies before any carry-over batch
    with pytest.raises(Interrupt):
        pull_domain(domain=domain)

    run = MatchRun.objects.exclude(pk=first.run_id).get(domain=domain)
    assert run.status == MatchRun.Status.CARRYING_OVER and "batches" not in run.completion
    ages = dict(MatchGroup.objects.filter(run=run).values_list("match_id", "first_seen_at"))
    old_sets = {m for m, seen in ages.items() if abs((seen - ten_days_ago).total_seconds()) < 1}
    assert old_sets == {"b-s7", "b-s8"}
    first_ages = MatchGroup.objects.filter(run_id=first.run_id).values_list("match_id", "first_seen_at")
    assert all(ages[f"b{m[1:]}"] == seen for m, seen in first_ages if m not in {"a-s7", "a-s8"})


def test_a_run_carried_over_in_one_go_or_in_batches_ends_the_same(two_generations, monkeypatch):
    domain, first = two_generations
    monkeypatch.setattr(carry_over_module, "CARRY_OVER_BATCH", 3)

    result = pull_domain(domain=domain)

    assert (result.carried_over, result.superseded_groups) == (6, 4)
    run = MatchRun.objects.get(pk=result.run_id)
    assert run.completion["batches"] == 4  # ten open groups, three a batch


def test_decisions_on_an_old_run_group_are_refused_while_its_rows_wait(two_generations, monkeypatch, steward, rf):
    domain, first = two_generations
    kill_after_batches(monkeypatch, 1)
    with pytest.raises(Interrupt):
        pull_domain(domain=domain)
    old = MatchGroup.objects.get(run_id=first.run_id, match_id="a-s8")
    rejected = MatchGroup.objects.get(run_id=first.run_id, match_id="a-s0")
    new = MatchGroup.objects.get(run__status=MatchRun.Status.CARRYING_OVER, match_id="b-s9")
    assert old.status == Status.OPEN  # the row itself is not rewritten yet...
    assert old.read_status() == Status.SUPERSEDED  # ...and nobody reads it as open

    with pytest.raises(NotDecidable, match="older run"):
        decisions.group_reject(group=old, actor=steward)
    with pytest.raises(NotDecidable, match="older run"):
        decisions.group_merge_approve(group=old, actor=steward, main_profile_id=old.profile_ids[0])
    with pytest.raises(NotDecidable, match="older run"):
        decisions.group_reopen(group=rejected, actor=steward)
    with pytest.raises(NotDecidable, match="carried over"):
        decisions.group_reject(group=new, actor=steward)
    assert "being carried over" in pull_running_message(domain)  # what a second pull meeting the lock says
    assert decisions.group_claim(group=old, actor=steward) is False
    assert decisions.group_claim(group=new, actor=steward) is False
    assert not Decision.objects.filter(group__in=[old, new]).exists()

    request = rf.get("/")
    request.user = steward
    shown = access.get_group_or_404(request, old.pk)
    assert shown.status == Status.SUPERSEDED and "newer pull" in shown.status_reason


def test_a_bulk_job_over_the_old_run_skips_its_groups_as_superseded(two_generations, monkeypatch, admin):
    domain, first = two_generations
    policy = domain.policy()
    job = BulkJob.objects.create(
        domain=domain,
        run_id=first.run_id,
        queue="merge",
        action=BulkJob.Action.REJECT,
        threshold_policy=policy,
        score_min=0.0,
        score_below=2.0,
        total=4,
        created_by=admin,
    )
    kill_after_batches(monkeypatch, 1)
    with pytest.raises(Interrupt):
        pull_domain(domain=domain)

    bulk.bulk_job_execute(job_id=job.pk)

    job.refresh_from_db()
    assert job.done == 0 and job.skip_reasons == {"superseded by a newer pull": 4}


def test_a_group_sent_back_to_review_in_a_superseded_run_is_superseded(two_generations, monkeypatch, steward):
    domain, first = two_generations
    kill_after_batches(monkeypatch, 1)
    with pytest.raises(Interrupt):
        pull_domain(domain=domain)
    old = MatchGroup.objects.select_related("run").get(run_id=first.run_id, match_id="a-s7")
    with transaction.atomic():
        group_set_status(group=old, status=Status.OPEN, reason="The merge was undone.")
    old.refresh_from_db()
    assert old.status == Status.SUPERSEDED and "newer pull" in old.status_reason


def test_the_sweep_queues_a_completion_its_worker_left(two_generations, monkeypatch):
    domain, first = two_generations
    worker = kill_after_batches(monkeypatch, 1)
    with pytest.raises(Interrupt):
        pull_domain(domain=domain)
    cache.delete(completion_queued_key(domain.pk))  # ids repeat across test databases; the cache outlives them
    queued = []
    monkeypatch.setattr("matches.services.enqueue.completion", lambda *, domain_id: queued.append(domain_id))

    assert ops.handoffs_sweep().completion_domain_ids == []  # its worker may still be at it
    later = timezone.now() + timedelta(minutes=5)
    assert ops.handoffs_sweep(now=later).completion_domain_ids == [domain.pk]
    assert queued == [domain.pk]
    assert ops.handoffs_sweep(now=later).completion_domain_ids == []  # queued once per grace period

    worker["alive"] = True
    assert completion_finish(domain=domain) is True
    assert ops.handoffs_sweep(now=later + timedelta(minutes=5)).completion_domain_ids == []


def test_the_background_rewrite_is_chunked_and_idempotent(two_generations):
    domain, first = two_generations
    run = MatchRun.objects.get(pk=first.run_id)
    MatchRun.objects.filter(pk=run.pk).update(status=MatchRun.Status.SUPERSEDED, superseded_at=timezone.now())

    assert run_groups_supersede(run=run, chunk=3) == 4
    assert run_groups_supersede(run=run, chunk=3) == 0
    assert open_in_bins(run.pk) == 0


def test_the_background_rewrite_finds_a_row_that_went_back_to_open_behind_it(two_generations, monkeypatch):
    domain, first = two_generations
    run = MatchRun.objects.get(pk=first.run_id)
    MatchRun.objects.filter(pk=run.pk).update(status=MatchRun.Status.SUPERSEDED, superseded_at=timezone.now())
    real = carry_over_module.groups_set_status
    behind: list[int] = []

    def chunk_then_reopen(*, queryset, **kwargs):
        ids = sorted(queryset.values_list("pk", flat=True))
        done = real(queryset=queryset, **kwargs)
        if not behind:  # after the first chunk, its first row is open again (as a merge job sent back would leave it)
            behind.append(ids[0])
            MatchGroup.objects.filter(pk=ids[0]).update(status=Status.OPEN)
        return done

    monkeypatch.setattr(carry_over_module, "groups_set_status", chunk_then_reopen)
    assert run_groups_supersede(run=run, chunk=3) == 5  # the four open rows, and the one reopened once more

    assert not MatchGroup.objects.filter(run=run, status=Status.OPEN).exists()
    assert MatchGroup.objects.get(pk=behind[0]).status == Status.SUPERSEDED
    assert MatchRun.objects.get(pk=run.pk).groups_superseded_at is not None


@pytest.mark.django_db(transaction=True)  # the decision's thread must see the groups
def test_a_decision_in_flight_holds_its_run_so_a_completion_waits_for_it(two_generations):
    """A decision locks its group with its run (decisions.locked): the completion's step-down of that run waits for
    the decision to commit, then every later decision reads the run superseded. Nothing decides a stepped-down run."""
    import threading

    from django.db import DatabaseError, connection

    from matches.services.decisions.decide import locked

    domain, first = two_generations
    group = MatchGroup.objects.get(run_id=first.run_id, match_id="a-s9")
    holding, release, seen = threading.Event(), threading.Event(), []

    def decision_in_flight() -> None:
        try:
            with transaction.atomic():
                locked(group)
                holding.set()
                release.wait(10)
        finally:
            holding.set()
            connection.close()

    thread = threading.Thread(target=decision_in_flight)
    thread.start()
    try:
        assert holding.wait(10)
        try:
            with transaction.atomic():
                MatchRun.objects.select_for_update(nowait=True).get(pk=first.run_id)
        except DatabaseError:
            seen.append("run row held by the decision")
    finally:
        release.set()
        thread.join()
    assert seen == ["run row held by the decision"]
