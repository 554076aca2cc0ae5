"""Rule-based matching over boto3: GetDomain's RuleBasedMatching, ListRuleBasedMatches (shapes per botocore's
model, pagination, errors) and GetSimilarProfiles with RULE_BASED_MATCHING by match id."""

from __future__ import annotations

import pytest

from emulator.model import shapes

A, B, C, D, E = "a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32
PEOPLE = [
    {"ProfileId": A, "FirstName": "Ada", "EmailAddress": "ada@example.com", "PhoneNumber": "+1 206 555 0100"},
    {"ProfileId": B, "FirstName": "Ada", "PersonalEmailAddress": "ADA@example.com"},
    {"ProfileId": C, "FirstName": "Bob", "PhoneNumber": "+1 206 555 0177"},
    {"ProfileId": D, "FirstName": "Bobby", "MobilePhoneNumber": "(206) 555-0177"},
    {"ProfileId": E, "FirstName": "Eve", "EmailAddress": "eve@example.com"},
]
RULES = {
    "Enabled": True,
    "MaxAllowedRuleLevelForMerging": 1,
    "ConflictResolution": {"ConflictResolvingModel": "RECENCY"},
}


@pytest.fixture
def ruled(ctl):
    ctl.create_domain("r", profiles=PEOPLE, run_job=False, rule_based=RULES)
    return "r"


def similar(client, domain, key, value):
    return client.get_similar_profiles(
        DomainName=domain, MatchType="RULE_BASED_MATCHING", SearchKey=key, SearchValue=value
    )


def test_list_and_resolve_rule_matches(client, ruled):
    resp = client.list_rule_based_matches(DomainName=ruled)
    assert set(resp) - {"ResponseMetadata"} == {"MatchIds"}  # one page: no NextToken
    assert set(resp) - {"ResponseMetadata"} <= set(shapes()["ListRuleBasedMatchesResponse"]["members"])
    first, second = resp["MatchIds"]
    one = similar(client, ruled, "_matchId", first)
    assert one["ProfileIds"] == [A, B] and one["RuleLevel"] == 1 and one["MatchId"] == first
    assert one["MatchType"] == "RULE_BASED_MATCHING" and "ConfidenceScore" not in one
    two = similar(client, ruled, "_matchId", second)
    assert two["ProfileIds"] == [C, D] and two["RuleLevel"] == 2
    assert similar(client, ruled, "_profileId", D)["MatchId"] == second
    # Ids are stable between calls while the profiles stay as they are.
    assert client.list_rule_based_matches(DomainName=ruled)["MatchIds"] == [first, second]


def test_pagination_and_token_errors(client, ruled):
    page = client.list_rule_based_matches(DomainName=ruled, MaxResults=1)
    assert len(page["MatchIds"]) == 1 and page["NextToken"]
    rest = client.list_rule_based_matches(DomainName=ruled, MaxResults=1, NextToken=page["NextToken"])
    assert len(rest["MatchIds"]) == 1 and "NextToken" not in rest
    assert page["MatchIds"] != rest["MatchIds"]
    with pytest.raises(client.exceptions.BadRequestException, match="NextToken provided is invalid"):
        client.list_rule_based_matches(DomainName=ruled, NextToken="garbage")
    with pytest.raises(client.exceptions.BadRequestException, match="validation error"):
        client.list_rule_based_matches(DomainName=ruled, MaxResults=101)


def test_errors_for_unknown_domain_match_and_disabled(client, ctl, ruled):
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_rule_based_matches(DomainName="nope")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        similar(client, ruled, "_matchId", "rule1-missing")
    ctl.create_domain("plain", profiles=PEOPLE, run_job=False)
    with pytest.raises(client.exceptions.BadRequestException, match="Rule-based matching is not enabled"):
        client.list_rule_based_matches(DomainName="plain")


def test_faults_apply_to_the_rule_operations(client, ctl, ruled):
    ctl.set_faults(fail_next=[{"operation": "ListRuleBasedMatches", "status": 429, "count": 1}])
    with pytest.raises(client.exceptions.ThrottlingException):
        client.list_rule_based_matches(DomainName=ruled)
    assert len(client.list_rule_based_matches(DomainName=ruled)["MatchIds"]) == 2


def test_get_domain_shows_and_update_domain_sets_the_settings(client, ctl, ruled):
    got = client.get_domain(DomainName=ruled)["RuleBasedMatching"]
    assert set(got) <= set(shapes()["RuleBasedMatchingResponse"]["members"])
    assert got["Enabled"] is True and got["Status"] == "ACTIVE" and got["MaxAllowedRuleLevelForMerging"] == 1
    assert got["MatchingRules"] == [{"Rule": ["EmailAddress"]}, {"Rule": ["PhoneNumber"]}]
    ctl.create_domain("plain", profiles=PEOPLE, run_job=False)
    assert "RuleBasedMatching" not in client.get_domain(DomainName="plain")
    # Only the first rule, by name: level 2 disappears, and C and D are no match any more.
    client.update_domain(
        DomainName=ruled,
        RuleBasedMatching={
            "Enabled": True,
            "MatchingRules": [{"Rule": ["FirstName"]}, {"Rule": ["PhoneNumber"]}],
            "MaxAllowedRuleLevelForMatching": 1,
        },
    )
    now = client.get_domain(DomainName=ruled)["RuleBasedMatching"]
    assert now["MaxAllowedRuleLevelForMatching"] == 1 and now["MatchingRules"][0] == {"Rule": ["FirstName"]}
    ids = client.list_rule_based_matches(DomainName=ruled)["MatchIds"]
    assert [similar(client, ruled, "_matchId", m)["ProfileIds"] for m in ids] == [[A, B]]
