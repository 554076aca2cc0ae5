"""MergeProfiles: field sources honoured (an empty value too), the rest combined, merged profiles gone."""

from __future__ import annotations

import pytest

MAIN, B, C = "a" * 32, "b" * 32, "c" * 32


@pytest.fixture
def trio(ctl):
    ctl.create_domain(
        "m",
        run_job=False,
        profiles=[
            {
                "ProfileId": MAIN,
                "FirstName": "John",
                "LastName": "Doe",
                "EmailAddress": "john@old.example.com",
                "Address": {"Address1": "1 Old Road", "City": "Springfield", "Country": "US"},
                "Attributes": {"tier": "gold", "source": "web"},
            },
            {
                "ProfileId": B,
                "FirstName": "Jhn",
                "LastName": "Doe",
                "EmailAddress": "JOHN@NEW.EXAMPLE.COM",
                "PhoneNumber": "+1-555-010-0000",
                "BirthDate": "1980-01-02",
                "Address": {"Address1": "2 New Street", "City": "Shelbyville", "Country": "US"},
                "Attributes": {"source": "store", "newsletter": "yes"},
            },
            {"ProfileId": C, "FirstName": "Johnny", "MobilePhoneNumber": "555-010-0000", "BusinessName": "Acme"},
        ],
    )


def test_field_sources_win_and_other_fields_combine(client, ctl, trio):
    client.merge_profiles(
        DomainName="m",
        MainProfileId=MAIN,
        ProfileIdsToBeMerged=[B, C],
        FieldSourceProfileIds={"EmailAddress": B, "Address": B, "FirstName": MAIN, "Attributes": {"source": B}},
    )
    merged = ctl.get_profile("m", MAIN)
    assert merged["EmailAddress"] == "JOHN@NEW.EXAMPLE.COM"
    assert merged["Address"]["Address1"] == "2 New Street"
    assert merged["FirstName"] == "John"
    # No conflict: values only the merged profiles had are kept.
    assert merged["PhoneNumber"] == "+1-555-010-0000"
    assert merged["MobilePhoneNumber"] == "555-010-0000"
    assert merged["BirthDate"] == "1980-01-02"
    assert merged["BusinessName"] == "Acme"
    assert merged["Attributes"] == {"tier": "gold", "source": "store", "newsletter": "yes"}


def test_conflicts_without_a_source_keep_the_main_profile(ctl, client, trio):
    client.merge_profiles(DomainName="m", MainProfileId=MAIN, ProfileIdsToBeMerged=[B])
    merged = ctl.get_profile("m", MAIN)
    assert merged["FirstName"] == "John"
    assert merged["EmailAddress"] == "john@old.example.com"
    assert merged["Attributes"]["source"] == "web"


def test_empty_value_from_the_chosen_source_wins(client, ctl, trio):
    # C has no EmailAddress and no LastName: choosing it removes them from the result.
    client.merge_profiles(
        DomainName="m",
        MainProfileId=MAIN,
        ProfileIdsToBeMerged=[C],
        FieldSourceProfileIds={"EmailAddress": C, "LastName": C, "Attributes": {"tier": C}},
    )
    merged = ctl.get_profile("m", MAIN)
    assert "EmailAddress" not in merged
    assert "LastName" not in merged
    assert "tier" not in merged.get("Attributes", {})
    assert merged["FirstName"] == "John"


def test_merged_profiles_are_deleted_and_a_second_merge_fails(client, ctl, trio):
    resp = client.merge_profiles(DomainName="m", MainProfileId=MAIN, ProfileIdsToBeMerged=[B, C])
    assert resp["Message"]
    assert ctl.get_profile("m", B) is None and ctl.get_profile("m", C) is None
    got = client.batch_get_profile(DomainName="m", ProfileIds=[MAIN, B, C])
    assert [p["ProfileId"] for p in got["Profiles"]] == [MAIN]
    assert sorted(e["ProfileId"] for e in got["Errors"]) == [B, C]
    with pytest.raises(client.exceptions.BadRequestException, match=B):
        client.merge_profiles(DomainName="m", MainProfileId=MAIN, ProfileIdsToBeMerged=[B])
    assert ctl.get_profile("m", MAIN)["FirstName"] == "John"


def test_missing_main_profile_fails_and_changes_nothing(client, ctl, trio):
    ghost = "d" * 32
    with pytest.raises(client.exceptions.BadRequestException, match=ghost):
        client.merge_profiles(DomainName="m", MainProfileId=ghost, ProfileIdsToBeMerged=[B])
    assert ctl.get_profile("m", B) is not None


def test_partly_missing_list_merges_nothing(client, ctl, trio):
    with pytest.raises(client.exceptions.BadRequestException):
        client.merge_profiles(DomainName="m", MainProfileId=MAIN, ProfileIdsToBeMerged=[B, "d" * 32])
    assert ctl.get_profile("m", B) is not None


def test_field_source_outside_the_merge_is_refused(client, ctl, trio):
    with pytest.raises(client.exceptions.BadRequestException, match="FieldSourceProfileIds"):
        client.merge_profiles(
            DomainName="m", MainProfileId=MAIN, ProfileIdsToBeMerged=[B], FieldSourceProfileIds={"FirstName": C}
        )
    assert ctl.get_profile("m", B) is not None


def test_main_among_merged_is_refused(client, trio):
    with pytest.raises(client.exceptions.BadRequestException, match="MainProfileId"):
        client.merge_profiles(DomainName="m", MainProfileId=MAIN, ProfileIdsToBeMerged=[MAIN, B])


def test_more_than_20_ids_refused_by_server(client, raw, trio):
    ids = [f"{i:032x}" for i in range(1, 22)]
    with pytest.raises(client.exceptions.BadRequestException, match="less than or equal to 20"):
        client.merge_profiles(DomainName="m", MainProfileId=MAIN, ProfileIdsToBeMerged=ids)
    status, headers, body = raw(
        "POST", "/domains/m/profiles/objects/merge", {"MainProfileId": MAIN, "ProfileIdsToBeMerged": []}
    )
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("BadRequestException")


def test_merge_is_recorded_with_its_request(client, ctl, trio):
    ctl.clear_calls()
    client.merge_profiles(
        DomainName="m", MainProfileId=MAIN, ProfileIdsToBeMerged=[B], FieldSourceProfileIds={"FirstName": B}
    )
    (call,) = ctl.calls(operation="MergeProfiles")
    assert call["status"] == 200
    assert call["params"]["MainProfileId"] == MAIN
    assert call["params"]["ProfileIdsToBeMerged"] == [B]
    assert call["params"]["FieldSourceProfileIds"] == {"FirstName": B}


def test_next_job_reflects_merges(client, ctl, small):
    group = client.get_matches(DomainName="small", MaxResults=1)["Matches"][0]
    main, *rest = group["ProfileIds"]
    client.merge_profiles(DomainName="small", MainProfileId=main, ProfileIdsToBeMerged=rest)
    before = client.get_matches(DomainName="small", MaxResults=100)
    ctl.run_job("small")
    items = []
    token = None
    while True:
        resp = client.get_matches(DomainName="small", MaxResults=100, **({"NextToken": token} if token else {}))
        items += resp["Matches"]
        token = resp.get("NextToken")
        if not token:
            break
    assert resp["MatchGenerationDate"] > before["MatchGenerationDate"]
    served = {pid for m in items for pid in m["ProfileIds"]}
    assert not served & set(rest)
    jobs = client.list_identity_resolution_jobs(DomainName="small")["IdentityResolutionJobsList"]
    assert len(jobs) == 2
    assert jobs[0]["JobStats"]["NumberOfProfilesReviewed"] == small["profiles"] - len(rest)
