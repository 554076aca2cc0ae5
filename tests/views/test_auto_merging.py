"""The auto-merge advisor (issue 16, item 4): AWS's own auto-merging, read from the emulator over boto3, beside the
stewards' evidence for the same score range."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from matches.models import Domain
from matches.selectors import advisor
from tests.admin_helpers import decide_directly, run_with_scores

pytestmark = pytest.mark.django_db

AUTO = {
    "Enabled": True,
    "Consolidation": {"MatchingAttributesList": [["EmailAddress"]]},
    "ConflictResolution": {"ConflictResolvingModel": "RECENCY"},
}


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def aws_domain():
    """A domain at the emulator with auto-merging on from `minimum`, and Matchdesk's own record of it."""
    from emulator.testing import EmulatorControl, EmulatorThread

    with EmulatorThread() as emu:
        control = EmulatorControl(emu.url)

        def make(minimum: float | None, *, enabled: bool = True, run_job: bool = False) -> Domain:
            auto = {**AUTO, "Enabled": enabled}
            if minimum is not None:
                auto["MinAllowedConfidenceScoreForMerging"] = minimum
            control.create_domain("am", seed=2, customers=80, auto_merging=auto, run_job=run_job)
            return Domain.objects.create(name="am", endpoint_url=emu.url)

        yield make, emu.url


def _evidence(domain, actor):
    """A run whose decisions are clean from 0.70 up and mixed below: the evidence supports a line well above 0.5."""
    scores = [round(0.3 + 0.7 * i / 599, 4) for i in range(600)]
    run, groups = run_with_scores(domain, scores)
    decide_directly(groups[::2], actor, merged_share=lambda s: 1.0 if s >= 0.7 else 0.5)
    return run


def test_aws_auto_merging_below_the_supported_score_is_warned_about(login, admin, aws_domain):
    make, _ = aws_domain
    domain = make(0.5)
    _evidence(domain, admin)
    html = (
        login(admin)
        .get(reverse("admin-domain-auto-merging", args=["am"]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="auto-merging")
        .content.decode()
    )
    assert 'id="auto-merging"' in html and "<html" not in html
    supported = advisor.auto_merge_evidence(domain=domain, score=0.5).supported
    assert supported is not None and supported > 0.6
    assert f"AWS auto-merges from 0.500, below the {supported:.3f} the evidence supports" in html
    at_half = advisor.auto_merge_evidence(domain=domain, score=0.5)
    assert not at_half.within_target
    assert f"of the {at_half.wrong.groups} groups scoring 0.500 or more are wrong merges" in html


def test_aws_auto_merging_at_or_above_the_supported_score_is_not_warned_about(login, admin, aws_domain):
    make, _ = aws_domain
    domain = make(0.999)
    _evidence(domain, admin)
    html = login(admin).get(reverse("admin-domain-auto-merging", args=["am"])).content.decode()
    assert "from 0.999" in html
    assert "AWS auto-merges" not in html  # no warning
    assert 'role="alert"' not in html


def test_no_evidence_means_auto_merging_is_warned_about_at_any_score(login, admin, aws_domain):
    make, _ = aws_domain
    domain = make(0.99)
    run_with_scores(domain, [0.9, 0.95, 0.99])
    html = login(admin).get(reverse("admin-domain-auto-merging", args=["am"])).content.decode()
    assert "support no auto-merge line at 1% wrong merges yet" in html


def test_auto_merging_off_shows_off_and_no_warning(login, admin, aws_domain):
    make, _ = aws_domain
    make(None, enabled=False)
    html = login(admin).get(reverse("admin-domain-auto-merging", args=["am"])).content.decode()
    assert "every merge waits for a person" in html and 'role="alert"' not in html


def test_a_preview_shows_aws_counts_beside_the_evidence_at_that_score(login, admin, aws_domain):
    import boto3

    make, url = aws_domain
    domain = make(None, enabled=False, run_job=True)
    _evidence(domain, admin)
    client = boto3.client(
        "customer-profiles", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    expected = client.get_auto_merging_preview(
        DomainName="am", MinAllowedConfidenceScoreForMerging=0.8, **{k: v for k, v in AUTO.items() if k != "Enabled"}
    )
    assert expected["NumberOfProfilesWillBeMerged"] > 0
    html = login(admin).get(reverse("admin-domain-auto-merging", args=["am"]), {"score": "0.8"}).content.decode()
    assert (
        f"AWS would merge <strong>{expected['NumberOfProfilesWillBeMerged']}</strong> of the "
        f"{expected['NumberOfProfilesInSample']} profiles in its sample of {expected['NumberOfMatchesInSample']} "
        "match groups" in html
    )
    ev = advisor.auto_merge_evidence(domain=domain, score=0.8)
    assert f"95% ≤ {ev.wrong.upper * 100:.1f}%" in html
    assert f"of the {ev.wrong.groups} groups scoring 0.800 or more are wrong merges" in html
    assert f"from {ev.decisions} decisions of run {ev.run.pk}" in html


@pytest.mark.parametrize("bad", ["abc", "1.5", "-0.1", "0.12345", "\x00", "9" * 40])
def test_a_bad_candidate_score_is_answered_with_a_message(login, admin, aws_domain, bad):
    make, _ = aws_domain
    make(None, enabled=False)
    response = login(admin).get(reverse("admin-domain-auto-merging", args=["am"]), {"score": bad})
    assert response.status_code == 400
    if "\x00" not in bad:  # a NUL byte is refused before any view (RefuseNul middleware)
        assert 'class="error"' in response.content.decode()


def test_an_aws_error_is_shown_not_raised(login, admin):
    Domain.objects.create(name="gone", endpoint_url="http://127.0.0.1:9")
    response = login(admin).get(reverse("admin-domain-auto-merging", args=["gone"]))
    assert response.status_code == 200
    assert "no answer from AWS" in response.content.decode()


def test_only_admins_see_the_advisor(login, steward, auditor, aws_domain):
    make, _ = aws_domain
    make(None, enabled=False)
    for user in (steward, auditor):
        assert login(user).get(reverse("admin-domain-auto-merging", args=["am"])).status_code == 403
