"""Rule-based groups on the pages: "rule level N" instead of a score (escaped, in the score's place), the both-engines
mark, the queue a level lands in, the thresholds page's own band, and the domain page's RuleBasedMatching settings."""

from __future__ import annotations

import pytest
from django.urls import reverse

from matches.models import Decision, Domain, MatchGroup, ThresholdPolicy
from matches.selectors.rule_evidence import rule_evidence
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory

RULE = MatchGroup.Source.RULE_BASED


@pytest.fixture
def run(domain):
    return MatchRunFactory(domain=domain)


@pytest.fixture
def rule_group(run):
    return MatchGroupFactory(
        run=run, source=RULE, confidence_score=None, rule_level=2, display_names="<b>Ann</b> · Ann L"
    )


@pytest.fixture
def both(run):
    return MatchGroupFactory(run=run, confidence_score=0.97, both_engines=True, rule_level=1)


def test_the_group_page_shows_the_rule_level_instead_of_a_score(login, steward, rule_group):
    html = login(steward).get(reverse("group", args=[rule_group.pk])).content.decode()
    assert '<span class="score-big" id="rule-level"' in html and "rule level</span> 2" in html
    assert "review queue" in html and 'title="ConfidenceScore"' not in html and "manual-tag" not in html


def test_the_group_page_marks_a_group_both_engines_propose(login, steward, both, rule_group):
    client = login(steward)
    html = client.get(reverse("group", args=[both.pk])).content.decode()
    assert 'id="both-engines"' in html and "ML + rules · rule level 1" in html and "0.970" in html
    assert 'id="both-engines"' not in client.get(reverse("group", args=[rule_group.pk])).content.decode()
    # Blind review hides the rule level and the mark as it hides the score.
    client.post(reverse("blind-review-toggle"), {"next": "/"})
    blind = client.get(reverse("group", args=[both.pk])).content.decode()
    assert 'id="both-engines"' not in blind and "rule level" not in blind


def test_rule_groups_wait_in_review_until_the_admin_sends_their_level_to_merge(login, steward, domain, rule_group):
    client = login(steward)
    review = client.get(reverse("queue", args=[domain.name, "review"])).content.decode()
    assert 'id="rule-groups"' in review and reverse("group", args=[rule_group.pk]) in review
    assert "rule level 2" in review and "&lt;b&gt;Ann&lt;/b&gt;" in review and "<b>Ann</b>" not in review
    assert 'id="rule-groups"' not in client.get(reverse("queue", args=[domain.name, "merge"])).content.decode()
    Domain.objects.filter(pk=domain.pk).update(rule_merge_max_level=2)
    merge = client.get(reverse("queue", args=[domain.name, "merge"])).content.decode()
    assert 'id="rule-groups"' in merge and reverse("group", args=[rule_group.pk]) in merge
    assert 'id="rule-groups"' not in client.get(reverse("queue", args=[domain.name, "review"])).content.decode()


def test_the_merge_queue_row_of_a_both_engines_group_carries_the_mark(login, steward, domain, both):
    from matches.services.groups import bins_add

    bins_add(run=both.run, scores=[0.97])
    html = login(steward).get(reverse("queue", args=[domain.name, "merge"])).content.decode()
    assert f'id="group-{both.pk}"' in html and "ML + rules" in html


def test_rule_decisions_are_their_own_band_per_level_and_both_engines(login, admin, steward, domain, run, both):
    groups = [MatchGroupFactory(run=run, source=RULE, confidence_score=None, rule_level=2) for _ in range(3)]
    for group, action in zip(groups, ["merge", "reject", "merge"], strict=True):
        Decision.objects.create(group=group, action=action, actor=steward, bucket="review")
    Decision.objects.create(group=both, action="merge", actor=steward, bucket="merge", confidence_score=0.97)
    bands = rule_evidence(domain=domain)
    assert [(b.label, b.decided, b.merged) for b in bands] == [("rule level 2", 3, 2), ("ML + rules", 1, 1)]
    assert bands[0].text == "2 of 3 merged (67%; 95% 21%–94%)"
    html = login(admin).get(reverse("admin-thresholds", args=[domain.name])).content.decode()
    assert 'id="rule-evidence"' in html and "2 of 3 merged" in html


def test_the_domain_page_shows_the_rule_based_matching_settings(login, admin):
    from emulator.testing import EmulatorControl, EmulatorThread

    rules = {
        "Enabled": True,
        "MatchingRules": [{"Rule": ["EmailAddress"]}, {"Rule": ["PhoneNumber", "Attributes.<b>tier"]}],
        "MaxAllowedRuleLevelForMerging": 1,
        "MaxAllowedRuleLevelForMatching": 2,
        "ConflictResolution": {"ConflictResolvingModel": "SOURCE", "SourceName": "crm"},
        "AttributeTypesSelector": {"AttributeMatchingModel": "ONE_TO_ONE"},
    }
    with EmulatorThread() as emu:
        EmulatorControl(emu.url).create_domain("rules", customers=5, rule_based=rules)
        EmulatorControl(emu.url).create_domain("plain", customers=5)
        Domain.objects.create(name="rules", endpoint_url=emu.url)
        Domain.objects.create(name="plain", endpoint_url=emu.url)
        client = login(admin)
        html = client.post(reverse("admin-domain-test", args=["rules"]), HTTP_HX_REQUEST="true").content.decode()
        plain = client.post(reverse("admin-domain-test", args=["plain"]), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="rule-based"' in html and "status ACTIVE" in html
    assert "level 1: EmailAddress" in html and "level 2: PhoneNumber, Attributes.&lt;b&gt;tier" in html
    assert "<b>tier" not in html
    assert "<dt>Max rule level for matching</dt><dd>2</dd>" in html
    assert "<dt>Max rule level for merging (AWS)</dt><dd>1</dd>" in html
    assert "SOURCE crm" in html and "ONE_TO_ONE" in html
    assert 'tick "Pull rule-based matches"' in html
    assert "Not configured for this domain." in plain


def test_a_rule_group_is_decided_like_any_other_and_bucketed_by_its_level(domain, steward, run):
    from matches.services.decisions import group_merge_approve, group_reject
    from tests.factories import ProfileFactory

    groups = [MatchGroupFactory(run=run, source=RULE, confidence_score=None, rule_level=1) for _ in range(2)]
    for g in groups:
        for pid in g.profile_ids:
            ProfileFactory(domain=domain, profile_id=pid)
    Domain.objects.filter(pk=domain.pk).update(rule_merge_max_level=1)
    merged = group_merge_approve(group=groups[0], actor=steward, main_profile_id=groups[0].profile_ids[0])
    rejected = group_reject(group=groups[1], actor=steward, reason="different people")
    assert (merged.confidence_score, merged.bucket) == (None, "merge")  # level 1 waits in merge here
    assert rejected.bucket == "merge" and MatchGroup.objects.get(pk=groups[1].pk).status == "rejected"
    assert [(b.label, b.decided, b.merged) for b in rule_evidence(domain=domain)] == [("rule level 1", 2, 1)]


def test_next_serves_a_queue_s_rule_groups_before_its_scores(domain, steward, run, rule_group):
    from matches.selectors.review import queue_next_candidates

    scored = MatchGroupFactory(run=run, confidence_score=0.8)
    policy = domain.policy()
    found = queue_next_candidates(run=run, policy=policy, queue="review", actor=steward, exclude=[])
    assert [g.pk for g in found] == [rule_group.pk, scored.pk]
    assert queue_next_candidates(run=run, policy=policy, queue="merge", actor=steward, exclude=[]) == []
    Domain.objects.filter(pk=domain.pk).update(rule_merge_max_level=3)
    run.domain.refresh_from_db()
    found = queue_next_candidates(run=run, policy=policy, queue="merge", actor=steward, exclude=[])
    assert [g.pk for g in found] == [rule_group.pk]


def test_the_run_page_counts_the_rule_based_pages(login, admin, domain):
    running = MatchRunFactory(
        domain=domain, status="running", rule_pages=3, rule_groups_stored=250, rule_next_token="t"
    )
    html = login(admin).get(reverse("admin-run", args=[running.pk])).content.decode()
    assert "250 stored from 3 ListRuleBasedMatches pages · more to read" in html
    assert "250 rule-based in 3 pages" in html


def test_the_queue_counts_hold_rule_groups_where_their_level_puts_them(db):
    from matches.selectors.counts import queue_counts

    domain = DomainFactory(rule_merge_max_level=1)
    run = MatchRunFactory(domain=domain)
    policy = ThresholdPolicy.objects.create(domain=domain, merge_min="0.950", reject_below="0.600")
    for level in (1, 1, 2, 3):
        MatchGroupFactory(run=run, source=MatchGroup.Source.RULE_BASED, rule_level=level, confidence_score=None)
    decided = MatchGroupFactory(run=run, source=MatchGroup.Source.RULE_BASED, rule_level=1, confidence_score=None)
    MatchGroup.objects.filter(pk=decided.pk).update(status=MatchGroup.Status.REJECTED)
    counts = queue_counts(run=run, policy=policy)
    assert (counts.merge, counts.review, counts.reject) == (2, 2, 0)
    assert queue_counts(run=run, policy=policy, field="total").merge == 3
