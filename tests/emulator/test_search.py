"""SearchProfiles (keys, AdditionalSearchKeys, LogicalOperator, paging) and GetSimilarProfiles over boto3."""

from __future__ import annotations

import pytest

A, B, C, D = "a" * 32, "b" * 32, "c" * 32, "d" * 32
PEOPLE = [
    {"ProfileId": A, "FirstName": "Ada", "LastName": "Lovelace", "EmailAddress": "ada@example.com",
     "PhoneNumber": "+1 206 555 0100", "AccountNumber": "ACC-1"},
    {"ProfileId": B, "FirstName": "Ada", "MiddleName": "K", "LastName": "Lovelace",
     "PersonalEmailAddress": "ADA@example.com", "PhoneNumber": "(206) 555-0199"},
    {"ProfileId": C, "FirstName": "Charles", "LastName": "Babbage", "MobilePhoneNumber": "206-555-0100"},
    {"ProfileId": D, "FirstName": "Mary", "LastName": "Somerville", "EmailAddress": "mary@example.com"},
]  # fmt: skip


@pytest.fixture
def people(ctl):
    ctl.create_domain("p", profiles=PEOPLE, run_job=False, rule_based={"Enabled": True})
    ctl.set_matches("p", [{"MatchId": "m1", "ProfileIds": [A, B], "ConfidenceScore": 0.82}])
    return "p"


def ids(resp):
    return [p["ProfileId"] for p in resp["Items"]]


def test_search_by_each_standard_key(client, people):
    assert ids(client.search_profiles(DomainName=people, KeyName="_email", Values=["ada@EXAMPLE.com"])) == [A, B]
    assert ids(client.search_profiles(DomainName=people, KeyName="_phone", Values=["2065550100"])) == [A, C]
    assert ids(client.search_profiles(DomainName=people, KeyName="_fullName", Values=["ada  lovelace"])) == [A, B]
    assert ids(client.search_profiles(DomainName=people, KeyName="_fullName", Values=["Ada K Lovelace"])) == [B]
    assert ids(client.search_profiles(DomainName=people, KeyName="_account", Values=["ACC-1"])) == [A]
    assert ids(client.search_profiles(DomainName=people, KeyName="_profileId", Values=[D, "e" * 32])) == [D]
    # A documented key the domain holds no data for finds nothing; an undocumented one is refused.
    assert ids(client.search_profiles(DomainName=people, KeyName="_orderId", Values=["1"])) == []
    with pytest.raises(client.exceptions.BadRequestException, match="not a searchable key"):
        client.search_profiles(DomainName=people, KeyName="_nickname", Values=["x"])


def test_additional_keys_with_and_or(client, people):
    both = {"KeyName": "_email", "Values": ["ada@example.com"]}
    phone = [{"KeyName": "_phone", "Values": ["+12065550100"]}]
    anded = client.search_profiles(DomainName=people, LogicalOperator="AND", AdditionalSearchKeys=phone, **both)
    assert ids(anded) == [A]
    assert anded["Items"][0]["FoundByItems"] == [
        {"KeyName": "_email", "Values": ["ada@example.com"]},
        {"KeyName": "_phone", "Values": ["+12065550100"]},
    ]
    ored = client.search_profiles(DomainName=people, AdditionalSearchKeys=phone, **both)  # OR is the default
    assert ids(ored) == [A, B, C]
    assert [f["KeyName"] for f in ored["Items"][2]["FoundByItems"]] == ["_phone"]
    plain = client.search_profiles(DomainName=people, **both)
    assert "FoundByItems" not in plain["Items"][0]


def test_search_limits_use_aws_wording(client, raw, people):
    five = [{"KeyName": k, "Values": ["x"]} for k in ("_phone", "_fullName", "_account", "_profileId", "_orderId")]
    with pytest.raises(client.exceptions.BadRequestException, match="validation error"):
        client.search_profiles(DomainName=people, KeyName="_email", Values=["x"], AdditionalSearchKeys=five)
    status, _, body = raw(
        "POST", f"/domains/{people}/profiles/search?max-results=101", {"KeyName": "_email", "Values": ["x"]}
    )
    assert status == 400 and "Member must have value less than or equal to 100" in body["Message"]
    status, _, body = raw(
        "POST", f"/domains/{people}/profiles/search", {"KeyName": "_email", "Values": ["x"], "LogicalOperator": "XOR"}
    )
    assert status == 400 and "enum value set" in body["Message"]
    with pytest.raises(client.exceptions.BadRequestException, match="only once"):
        client.search_profiles(
            DomainName=people,
            KeyName="_email",
            Values=["x"],
            AdditionalSearchKeys=[{"KeyName": "_email", "Values": ["y"]}],
        )


def test_search_pages_with_next_token(client, people):
    first = client.search_profiles(DomainName=people, KeyName="_profileId", Values=[A, B, C, D], MaxResults=3)
    assert ids(first) == [A, B, C] and first["NextToken"]
    rest = client.search_profiles(
        DomainName=people, KeyName="_profileId", Values=[A, B, C, D], MaxResults=3, NextToken=first["NextToken"]
    )
    assert ids(rest) == [D] and "NextToken" not in rest


def test_similar_profiles_ml_by_profile_and_match_id(client, people):
    resp = client.get_similar_profiles(
        DomainName=people, MatchType="ML_BASED_MATCHING", SearchKey="_profileId", SearchValue=B
    )
    assert resp["ProfileIds"] == [A, B] and resp["MatchId"] == "m1" and resp["ConfidenceScore"] == 0.82
    assert resp["MatchType"] == "ML_BASED_MATCHING" and "RuleLevel" not in resp
    by_match = client.get_similar_profiles(
        DomainName=people, MatchType="ML_BASED_MATCHING", SearchKey="_matchId", SearchValue="m1"
    )
    assert by_match["ProfileIds"] == [A, B]
    page = client.get_similar_profiles(
        DomainName=people, MatchType="ML_BASED_MATCHING", SearchKey="_matchId", SearchValue="m1", MaxResults=1
    )
    assert page["ProfileIds"] == [A] and page["NextToken"]
    # A profile in no group: nothing similar; an unknown profile or match: not found.
    lone = client.get_similar_profiles(
        DomainName=people, MatchType="ML_BASED_MATCHING", SearchKey="_profileId", SearchValue=D
    )
    assert lone["ProfileIds"] == [] and "MatchId" not in lone
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_similar_profiles(
            DomainName=people, MatchType="ML_BASED_MATCHING", SearchKey="_profileId", SearchValue="e" * 32
        )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_similar_profiles(
            DomainName=people, MatchType="ML_BASED_MATCHING", SearchKey="_matchId", SearchValue="nope"
        )


def test_similar_profiles_rule_based_levels(client, people):
    resp = client.get_similar_profiles(
        DomainName=people, MatchType="RULE_BASED_MATCHING", SearchKey="_profileId", SearchValue=A
    )
    assert resp["ProfileIds"] == [A, B] and resp["RuleLevel"] == 1 and "ConfidenceScore" not in resp
    # C shares A's phone, but A is already matched at the stricter level 1: a profile is in one rule match at most
    # (emulator/rules.py), so C is in none; a profile sharing only a phone with C forms a level-2 match.
    alone = client.get_similar_profiles(
        DomainName=people, MatchType="RULE_BASED_MATCHING", SearchKey="_profileId", SearchValue=C
    )
    assert alone["ProfileIds"] == [] and "MatchId" not in alone


def test_similar_profiles_validation(client, raw, people):
    with pytest.raises(client.exceptions.BadRequestException, match="SearchKey must be one of"):
        client.get_similar_profiles(
            DomainName=people, MatchType="ML_BASED_MATCHING", SearchKey="_email", SearchValue="x"
        )
    status, _, body = raw(
        "POST", f"/domains/{people}/matches", {"MatchType": "FUZZY", "SearchKey": "_profileId", "SearchValue": A}
    )
    assert status == 400 and "validation error" in body["Message"]
    status, _, body = raw(
        "POST", f"/domains/{people}/matches", {"MatchType": "ML_BASED_MATCHING", "SearchKey": "_profileId"}
    )
    assert status == 400 and "Member must not be null" in body["Message"]
