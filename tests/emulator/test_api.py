"""Every AWS operation through an unmodified boto3 client, and the limits AWS enforces server-side."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ParamValidationError

HEX32 = re.compile(r"^[a-f0-9]{32}$")


def all_matches(client, domain: str, page: int = 100) -> tuple[list[dict], list]:
    items, generations, token = [], [], None
    while True:
        kwargs = {"DomainName": domain, "MaxResults": page}
        if token:
            kwargs["NextToken"] = token
        resp = client.get_matches(**kwargs)
        items += resp["Matches"]
        generations.append(resp["MatchGenerationDate"])
        token = resp.get("NextToken")
        if not token:
            return items, generations


def test_list_domains_pages_with_next_token(client, ctl):
    for name in ("a-one", "b_two", "c3"):
        ctl.create_domain(name, profiles=[], run_job=False)
    first = client.list_domains(MaxResults=2)
    assert [d["DomainName"] for d in first["Items"]] == ["a-one", "b_two"]
    second = client.list_domains(MaxResults=2, NextToken=first["NextToken"])
    assert [d["DomainName"] for d in second["Items"]] == ["c3"]
    assert "NextToken" not in second
    assert isinstance(first["Items"][0]["CreatedAt"], datetime)


def test_get_domain_shows_matching_schedule_and_auto_merging(client, ctl):
    auto = {
        "Enabled": True,
        "Consolidation": {"MatchingAttributesList": [["EmailAddress"]]},
        "ConflictResolution": {"ConflictResolvingModel": "RECENCY"},
        "MinAllowedConfidenceScoreForMerging": 0.99,
    }
    ctl.create_domain(
        "d1", seed=1, customers=30, auto_merging=auto, job_schedule={"DayOfTheWeek": "MONDAY", "Time": "3:30"}
    )
    resp = client.get_domain(DomainName="d1")
    assert resp["Matching"]["Enabled"] is True
    assert resp["Matching"]["JobSchedule"] == {"DayOfTheWeek": "MONDAY", "Time": "3:30"}
    assert resp["Matching"]["AutoMerging"] == auto
    assert resp["Stats"]["ProfileCount"] > 30


def test_unknown_domain_is_resource_not_found(client, ctl):
    for call in (
        lambda: client.get_domain(DomainName="nope"),
        lambda: client.get_matches(DomainName="nope"),
        lambda: client.batch_get_profile(DomainName="nope", ProfileIds=["a" * 32]),
        lambda: client.list_identity_resolution_jobs(DomainName="nope"),
    ):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            call()


def test_get_matches_pages_through_every_group_once(client, small):
    items, generations = all_matches(client, "small", page=7)
    first = client.get_matches(DomainName="small", MaxResults=7)
    assert len(items) == first["PotentialMatches"] == small["groups"] > 20
    assert len({m["MatchId"] for m in items}) == len(items)
    assert len(set(generations)) == 1
    assert generations[0].tzinfo is not None
    for m in items:
        assert len(m["ProfileIds"]) >= 2 and all(HEX32.match(p) for p in m["ProfileIds"])
        assert 0.0 <= m["ConfidenceScore"] <= 1.0


def test_match_generation_date_matches_control_generation(client, small):
    resp = client.get_matches(DomainName="small", MaxResults=1)
    assert resp["MatchGenerationDate"] == datetime.fromisoformat(small["generation"])


def test_max_results_outside_1_to_100_is_refused_by_server(client, raw, small):
    for bad in (0, 101, -1):
        status, headers, body = raw("GET", f"/domains/small/matches?max-results={bad}")
        assert status == 400
        assert headers["x-amzn-ErrorType"].startswith("BadRequestException")
        assert "maxResults" in body["Message"]
    status, _, body = raw("GET", "/domains/small/matches?max-results=100")
    assert status == 200 and len(body["Matches"]) == min(100, small["groups"])
    # botocore checks minimums client-side but leaves maximums to the service.
    with pytest.raises(ParamValidationError):
        client.get_matches(DomainName="small", MaxResults=0)
    with pytest.raises(client.exceptions.BadRequestException, match="less than or equal to 100"):
        client.get_matches(DomainName="small", MaxResults=101)


def test_next_token_that_is_garbage_is_a_bad_request(client, small):
    with pytest.raises(client.exceptions.BadRequestException, match="NextToken"):
        client.get_matches(DomainName="small", NextToken="not-a-token")


def test_next_token_expires_after_ttl(client, ctl, small):
    ctl.set_faults(token_ttl_seconds=0.3)
    token = client.get_matches(DomainName="small", MaxResults=5)["NextToken"]
    assert client.get_matches(DomainName="small", MaxResults=5, NextToken=token)["Matches"]
    time.sleep(0.5)
    with pytest.raises(client.exceptions.BadRequestException, match="invalid or has expired"):
        client.get_matches(DomainName="small", MaxResults=5, NextToken=token)


def test_old_token_after_new_run_serves_the_new_generation(client, ctl, small):
    first = client.get_matches(DomainName="small", MaxResults=5)
    ctl.run_job("small")
    second = client.get_matches(DomainName="small", MaxResults=5, NextToken=first["NextToken"])
    assert second["MatchGenerationDate"] > first["MatchGenerationDate"]


def test_batch_get_profile_returns_found_and_per_id_errors(client, small):
    ids = client.get_matches(DomainName="small", MaxResults=1)["Matches"][0]["ProfileIds"]
    missing = "f" * 32
    resp = client.batch_get_profile(DomainName="small", ProfileIds=[*ids, missing])
    assert sorted(p["ProfileId"] for p in resp["Profiles"]) == sorted(ids)
    assert resp["Errors"] == [{"Code": "404", "Message": "Profile not found", "ProfileId": missing}]
    prof = resp["Profiles"][0]
    assert prof["FirstName"] and prof["LastName"]
    assert any(k in prof for k in ("EmailAddress", "PhoneNumber", "MobilePhoneNumber"))


def test_batch_get_profile_limits_refused_by_server(client, raw, small):
    with pytest.raises(client.exceptions.BadRequestException, match="less than or equal to 20"):
        client.batch_get_profile(DomainName="small", ProfileIds=["a" * 32] * 21)
    with pytest.raises(client.exceptions.BadRequestException, match="pattern"):
        client.batch_get_profile(DomainName="small", ProfileIds=["A" * 32])
    status, headers, body = raw("POST", "/domains/small/batch-get-profiles", {"ProfileIds": ["a" * 32] * 21})
    assert status == 400 and "less than or equal to 20" in body["Message"]
    status, _, body = raw("POST", "/domains/small/batch-get-profiles", {"ProfileIds": []})
    assert status == 400 and "greater than or equal to 1" in body["Message"]
    for bad in ("A" * 32, "a" * 31, "a" * 33, "g" * 32):
        status, headers, body = raw("POST", "/domains/small/batch-get-profiles", {"ProfileIds": [bad]})
        assert status == 400, bad
        assert headers["x-amzn-ErrorType"].startswith("BadRequestException")
        assert "pattern" in body["Message"]
    status, _, body = raw("POST", "/domains/small/batch-get-profiles", {})
    assert status == 400 and "must not be null" in body["Message"]


def test_malformed_json_body_is_a_bad_request(server, ctl, small):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(server.url + "/domains/small/batch-get-profiles", data=b"{nope", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 400


def test_search_profiles_by_profile_id(client, small):
    ids = client.get_matches(DomainName="small", MaxResults=1)["Matches"][0]["ProfileIds"]
    resp = client.search_profiles(DomainName="small", KeyName="_profileId", Values=[ids[0]])
    assert [p["ProfileId"] for p in resp["Items"]] == [ids[0]]
    assert client.search_profiles(DomainName="small", KeyName="_profileId", Values=["e" * 32])["Items"] == []


def test_search_profiles_by_email_ignores_case(client, ctl):
    ctl.create_domain("s", profiles=[{"ProfileId": "a" * 32, "EmailAddress": "John_Doe@AnyCompany.com"}], run_job=False)
    resp = client.search_profiles(DomainName="s", KeyName="_email", Values=["john_doe@anycompany.com"])
    assert [p["ProfileId"] for p in resp["Items"]] == ["a" * 32]
    with pytest.raises(client.exceptions.BadRequestException):
        client.search_profiles(DomainName="s", KeyName="_nonsense", Values=["x"])


def test_identity_resolution_jobs_listed_newest_first_and_fetchable(client, ctl, small):
    ctl.run_job("small")
    ctl.run_job("small", status="PARTIAL_SUCCESS")
    jobs = client.list_identity_resolution_jobs(DomainName="small")["IdentityResolutionJobsList"]
    assert [j["Status"] for j in jobs] == ["PARTIAL_SUCCESS", "COMPLETED", "COMPLETED"]
    assert all(HEX32.match(j["JobId"]) for j in jobs)
    job = client.get_identity_resolution_job(DomainName="small", JobId=jobs[0]["JobId"])
    assert job["JobEndTime"] >= job["JobStartTime"]
    assert job["JobStats"]["NumberOfMatchesFound"] == client.get_matches(DomainName="small")["PotentialMatches"]
    assert job["JobStats"]["NumberOfProfilesReviewed"] == small["profiles"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_identity_resolution_job(DomainName="small", JobId="0" * 32)
    page = client.list_identity_resolution_jobs(DomainName="small", MaxResults=2)
    assert len(page["IdentityResolutionJobsList"]) == 2 and page["NextToken"]


def test_running_job_keeps_previous_results(client, ctl, small):
    before = client.get_matches(DomainName="small", MaxResults=1)["MatchGenerationDate"]
    ctl.run_job("small", status="FIND_MATCHING")
    jobs = client.list_identity_resolution_jobs(DomainName="small")["IdentityResolutionJobsList"]
    assert jobs[0]["Status"] == "FIND_MATCHING" and "JobEndTime" not in jobs[0]
    assert client.get_matches(DomainName="small", MaxResults=1)["MatchGenerationDate"] == before


def test_get_matches_on_domain_without_matching_is_a_bad_request(client, ctl):
    ctl.create_domain("off", seed=1, customers=20, matching_enabled=False)
    assert client.get_domain(DomainName="off")["Matching"]["Enabled"] is False
    with pytest.raises(client.exceptions.BadRequestException, match="Matching is not enabled"):
        client.get_matches(DomainName="off")


def test_region_does_not_matter(server, ctl, small):
    from emulator.testing import boto_client

    assert boto_client(server.url, region="eu-west-2").get_matches(DomainName="small", MaxResults=1)["Matches"]


def test_unsupported_operation_is_a_clear_bad_request(client, small):
    with pytest.raises(client.exceptions.BadRequestException, match="not supported"):
        client.delete_domain(DomainName="small")


def test_generation_is_epoch_seconds_on_the_wire(raw, small):
    _, _, body = raw("GET", "/domains/small/matches?max-results=1")
    assert isinstance(body["MatchGenerationDate"], (int, float))
    assert abs(body["MatchGenerationDate"] - datetime.now(UTC).timestamp()) < 120


def test_standard_endpoint_variable_needs_no_code_change(server, small, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_CUSTOMER_PROFILES", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "dummy")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dummy")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    plain = boto3.client("customer-profiles", region_name="ap-southeast-2")
    assert plain.get_matches(DomainName="small", MaxResults=2)["PotentialMatches"] == small["groups"]


AUTO_PREVIEW = {
    "Consolidation": {"MatchingAttributesList": [["EmailAddress"]]},
    "ConflictResolution": {"ConflictResolvingModel": "RECENCY"},
}


def test_auto_merging_preview_counts_the_groups_at_or_above_the_score(client, ctl):
    ctl.create_domain("pv", seed=1, customers=120)
    items, _ = all_matches(client, "pv")
    assert len(items) > 5
    cut = sorted(m["ConfidenceScore"] for m in items)[len(items) // 2]
    resp = client.get_auto_merging_preview(DomainName="pv", MinAllowedConfidenceScoreForMerging=cut, **AUTO_PREVIEW)
    assert resp["NumberOfMatchesInSample"] == len(items)
    assert resp["NumberOfProfilesInSample"] == sum(len(m["ProfileIds"]) for m in items)
    assert resp["NumberOfProfilesWillBeMerged"] == sum(
        len(m["ProfileIds"]) for m in items if m["ConfidenceScore"] >= cut
    )
    higher = client.get_auto_merging_preview(DomainName="pv", MinAllowedConfidenceScoreForMerging=1.0, **AUTO_PREVIEW)
    assert higher["NumberOfProfilesWillBeMerged"] < resp["NumberOfProfilesWillBeMerged"]
    # A preview merges nothing.
    assert all_matches(client, "pv")[0] == items


def test_auto_merging_preview_is_validated_like_aws(client, raw, ctl):
    ctl.create_domain("pv2", seed=1, customers=20)
    status, headers, body = raw(
        "POST",
        "/domains/pv2/identity-resolution-jobs/auto-merging-preview",
        {"Consolidation": {"MatchingAttributesList": []}, "ConflictResolution": {"ConflictResolvingModel": "NEWEST"}},
    )
    assert status == 400
    assert "validation error" in body["Message"]
    assert headers["x-amzn-ErrorType"].startswith("BadRequestException")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_auto_merging_preview(DomainName="nope", **AUTO_PREVIEW)
