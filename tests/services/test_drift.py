"""Drift between weekly runs (issue 16, item 5): what persisted, moved, appeared and vanished; the job's own figures
from the emulator over boto3; what is flagged; the sweep; the domain page's card."""

from __future__ import annotations

import pytest
from django.urls import reverse

from matches.models import Domain, MatchRun, RunDrift
from matches.services import drift as drift_service
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, hex_id

pytestmark = pytest.mark.django_db


def sets(start: int, count: int) -> list[list[str]]:
    return [sorted([hex_id(2 * i), hex_id(2 * i + 1)]) for i in range(start, start + count)]


def run_of(domain, groups: list[tuple[list[str], float]], **fields) -> MatchRun:
    run = MatchRunFactory(domain=domain, **fields)
    for ids, score in groups:
        MatchGroupFactory(run=run, profile_ids=ids, confidence_score=score)
    return run


def test_persisted_sets_their_score_moves_and_turnover_are_counted():
    domain = DomainFactory(endpoint_url="http://127.0.0.1:9")
    old = run_of(domain, [(s, 0.80) for s in sets(0, 10)])
    # 8 persist (2 moved up by 0.12, 1 down by 0.17, 5 the same), 2 vanish, 3 appear.
    kept = sets(0, 8)
    scores = [0.92, 0.92, 0.63] + [0.80] * 5
    new = run_of(domain, [*zip(kept, scores, strict=True), *((s, 0.7) for s in sets(100, 3))])
    drift = drift_service.run_drift_compute(run=new)
    assert (drift.previous_id, drift.groups, drift.previous_groups) == (old.pk, 11, 10)
    assert (drift.persisted, drift.appeared, drift.vanished) == (8, 3, 2)
    assert (drift.moved_up, drift.moved_down) == (2, 1)
    assert drift.mean_delta == pytest.approx((0.12 + 0.12 - 0.17) / 8)
    assert sum(drift.delta_bins) == 8 and len(drift.delta_bins) == drift_service.DELTA_BINS
    # The bins say where: two in +0.10..+0.15, one in -0.20..-0.15, five in 0..+0.05.
    assert drift.delta_bins[22] == 2 and drift.delta_bins[16] == 1 and drift.delta_bins[20] == 5
    assert "no answer from AWS" in drift.job_error  # the job's figures are missing, the rest stands
    # Computing again replaces, never duplicates.
    drift_service.run_drift_compute(run=new)
    assert RunDrift.objects.filter(run=new).count() == 1


def test_the_first_run_has_nothing_to_compare_with():
    domain = DomainFactory(endpoint_url="http://127.0.0.1:9")
    first = run_of(domain, [(s, 0.8) for s in sets(0, 4)])
    drift = drift_service.run_drift_compute(run=first)
    assert (drift.previous_id, drift.groups, drift.appeared, drift.persisted) == (None, 4, 4, 0)
    assert drift.flags == []


def test_a_quiet_week_is_not_flagged_and_a_jump_is():
    domain = DomainFactory(endpoint_url="http://127.0.0.1:9")
    run_of(domain, [(s, 0.8) for s in sets(0, 100)])
    quiet = run_of(domain, [(s, 0.8) for s in sets(5, 100)])  # 5% turnover
    assert drift_service.run_drift_compute(run=quiet).flags == []
    jump = run_of(domain, [(s, 0.6) for s in sets(5, 40)] + [(s, 0.9) for s in sets(500, 80)])
    flags = drift_service.run_drift_compute(run=jump).flags
    text = " ".join(flags)
    assert "80 profile sets appeared and 60 vanished" in text
    assert "Scores of persisting sets moved by -0.200 on average" in text
    assert "The run holds 120 groups against 100 before (+20%)" not in text  # 20% is within the floor


def test_the_domains_own_history_raises_the_bar():
    domain = DomainFactory(endpoint_url="http://127.0.0.1:9")
    # A domain whose runs always turn over 40%: 40% is its normal, not a jump.
    previous = None
    for week in range(5):
        run = run_of(domain, [(s, 0.8) for s in sets(week * 40, 100)])
        if previous is not None:
            drift = drift_service.run_drift_compute(run=run)
        previous = run
    assert drift.appeared == 40 and drift.flags == []


def test_the_jobs_figures_come_from_aws_and_partial_success_mismatch_and_quota_are_flagged():
    from emulator.testing import EmulatorControl, EmulatorThread

    with EmulatorThread() as emu:
        control = EmulatorControl(emu.url)
        control.create_domain("drifty", seed=1, customers=40)
        control.run_job("drifty")
        job = control.run_job("drifty", status="PARTIAL_SUCCESS")
        domain = Domain.objects.create(name="drifty", endpoint_url=emu.url)
        run_of(domain, [(s, 0.8) for s in sets(0, 5)])
        run = run_of(domain, [(s, 0.8) for s in sets(0, 5)], job_id=job["job_id"], potential_matches=3)
        drift = drift_service.run_drift_compute(run=run)
    assert drift.job_status == "PARTIAL_SUCCESS"
    assert drift.job_matches_found is not None and drift.job_matches_found != 3
    assert drift.jobs_in_week == 3  # the job made with the domain, and the two here
    text = " ".join(drift.flags)
    assert f"GetMatches reported 3 potential matches; the job says it found {drift.job_matches_found:,}" in text
    assert "PARTIAL_SUCCESS" in text
    assert "3 identity-resolution jobs in the week up to this one" in text


def test_the_sweep_computes_each_domains_newest_run_once():
    one, two = DomainFactory(endpoint_url="http://127.0.0.1:9"), DomainFactory(endpoint_url="http://127.0.0.1:9")
    run_of(one, [(s, 0.8) for s in sets(0, 3)])
    newest = run_of(one, [(s, 0.8) for s in sets(0, 3)])
    other = run_of(two, [(s, 0.8) for s in sets(50, 3)])
    run_of(two, [(s, 0.8) for s in sets(60, 3)], status=MatchRun.Status.RUNNING)  # not complete: not yet
    assert sorted(drift_service.drifts_compute_missing()) == sorted([newest.pk, other.pk])
    assert drift_service.drifts_compute_missing() == []


def test_the_domain_page_card_shows_the_chart_table_and_flags(login, admin, steward):
    domain = DomainFactory(name="shop", endpoint_url="http://127.0.0.1:9")
    run_of(domain, [(s, 0.8) for s in sets(0, 100)])
    jump = run_of(domain, [(s, 0.8) for s in sets(70, 100)])
    drift_service.run_drift_compute(run=jump)
    url = reverse("admin-domain-drift", args=["shop"])
    html = login(admin).get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="drift").content.decode()
    assert 'id="drift"' in html and "<html" not in html
    assert "<svg" in html and html.count('class="run-bar flagged"') == 1
    assert f"Run {jump.pk}: 70 profile sets appeared and 70 vanished" in html
    assert login(steward).get(url).status_code == 403


def test_the_card_says_when_nothing_was_compared_yet(login, admin):
    DomainFactory(name="fresh")
    html = login(admin).get(reverse("admin-domain-drift", args=["fresh"])).content.decode()
    assert "No run compared yet" in html
