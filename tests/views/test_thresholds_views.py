"""The thresholds page on the estimates, the calibration sample form, and the policy line on the domain and queue
pages (views/thresholds.py, views/queues.py, views/home.py)."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from matches.models import CalibrationSample
from matches.services.decisions import group_merge_approve, group_reject
from tests.admin_helpers import run_with_scores

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def decided_run(domain, steward):
    """120 groups; every one of the 80 from 0.60 up merged, every one of the 20 below 0.30 rejected."""
    scores = [0.6 + i * 0.4 / 80 for i in range(80)] + [i * 0.3 / 20 for i in range(20)] + [0.45] * 20
    run, groups = run_with_scores(domain, [round(s, 4) for s in scores])
    for g in groups[:80]:
        group_merge_approve(group=g, actor=steward, main_profile_id=g.profile_ids[0])
    for g in groups[80:100]:
        group_reject(group=g, actor=steward)
    return run, groups


def test_the_page_shows_both_pairs_estimates_the_chart_and_the_suggestions(login, admin, domain, decided_run):
    run, _ = decided_run
    html = login(admin).get(reverse("admin-thresholds", args=["demo"]), {"merge_min": "0.7"}).content.decode()
    assert 'id="estimates"' in html and 'id="tradeoff"' in html
    assert "100 decisions count:" in html and f"100 from run {run.pk}" in html
    # Every group from 0.60 up is decided and right: the suggestion is the lowest decided line, with no wrong merge.
    assert re.search(r'id="suggest-merge">0\.600<', html)
    in_force = re.search(r'data-e="in-force-merge">(.*?)</td>', html, re.S).group(1)
    assert "est. <strong>0.0%</strong>, 95% ≤ 0.0%" in in_force
    # Rejects below 0.30 all right, the 0.45 groups unknown: the reject suggestion stays below them.
    assert re.search(r'id="suggest-reject">0\.(2\d\d|300)<', html)
    assert 'data-e="proposed-review">' in html and 'id="calibration"' in html


def test_with_no_decision_the_page_says_so_instead_of_an_estimate(login, admin, domain):
    run_with_scores(domain, [0.3, 0.5, 0.7, 0.9, 0.97])
    html = login(admin).get(reverse("admin-thresholds", args=["demo"])).content.decode()
    for cell in ("in-force-merge", "proposed-merge", "in-force-reject", "proposed-reject"):
        shown = re.search(rf'data-e="{cell}">(.*?)</td>', html, re.S).group(1)
        assert "no decisions yet" in shown and "est." not in shown, cell
    assert "No decisions count yet" in html
    assert 'data-e="in-force-review">2 ' in html  # the workload is exact all the same: 0.70 and 0.90
    # The chart draws no expected share at the prior's 50%, and its caption says why.
    assert re.search(r'class="curve curve-merge" points=""', html)
    assert "could be anything from 0% to 100%" in html


def test_the_htmx_preview_carries_the_estimates(login, admin, domain, decided_run):
    response = login(admin).get(
        reverse("admin-thresholds-preview", args=["demo"]),
        {"merge_min": "0.8", "reject_below": "0.2", "merge_target": "0.02"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "<html" not in html and 'id="estimates"' in html and 'id="tradeoff"' in html
    assert "2% wrong merges" in html  # the chosen target is drawn


def test_without_a_run_the_page_says_there_is_nothing_to_estimate(login, admin, domain):
    html = login(admin).get(reverse("admin-thresholds", args=["demo"])).content.decode()
    assert "No completed pull yet: nothing to estimate." in html


def test_asking_for_a_calibration_sample(login, admin, domain, decided_run):
    client = login(admin)
    response = client.post(reverse("admin-calibration-draw", args=["demo"]), {"budget": "20", "seed": "4"})
    assert response.status_code == 302 and response.url.endswith("#calibration")
    sample = CalibrationSample.objects.get()
    assert (sample.budget, sample.seed, sample.drawn) == (20, 4, 10)
    page = client.get(reverse("admin-thresholds", args=["demo"])).content.decode()
    assert 'id="calibration-samples"' in page and ">open<" in page
    bad = client.post(reverse("admin-calibration-draw", args=["demo"]), {"budget": "0"}, follow=True)
    assert "No calibration sample drawn" in bad.content.decode() and CalibrationSample.objects.count() == 1
    client.post(reverse("admin-calibration-close", args=["demo", sample.pk]))
    sample.refresh_from_db()
    assert sample.closed_at is not None


def test_stewards_cannot_ask_for_a_sample(login, steward, domain, decided_run):
    response = login(steward).post(reverse("admin-calibration-draw", args=["demo"]), {"budget": "20"})
    assert response.status_code == 403 and not CalibrationSample.objects.exists()


def test_queue_and_home_pages_state_the_policy_in_one_line(login, steward, domain, decided_run):
    client = login(steward)
    merge = client.get(reverse("queue", args=["demo", "merge"])).content.decode()
    line = re.search(r'id="policy-estimate">(.*?)</p>', merge, re.S).group(1)
    assert line.startswith("merge queue: est. 0.0% wrong, 95% ≤ 0.0%") and line.endswith("from 100 decisions")
    reject = client.get(reverse("queue", args=["demo", "reject"])).content.decode()
    assert "reject queue: est." in re.search(r'id="policy-estimate">(.*?)</p>', reject, re.S).group(1)
    home = client.get(reverse("home")).content.decode()
    assert "merge queue: est. 0.0% wrong" in home and "from 100 decisions" in home


def test_blind_review_hides_the_policy_line(login, steward, domain, decided_run):
    domain.blind_review_enforced = True
    domain.save()
    html = login(steward).get(reverse("queue", args=["demo", "review"])).content.decode()
    assert 'id="policy-estimate"' not in html
