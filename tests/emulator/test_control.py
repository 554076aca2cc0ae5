"""The /_emulator/ control API contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emulator.testing import EmulatorError


def test_health(ctl):
    assert ctl.health() == {"ok": True}


def test_create_domain_reports_counts_and_generation(ctl, client):
    out = ctl.create_domain("g", seed=5, customers=80)
    assert out["name"] == "g" and out["profiles"] > 80 and out["groups"] > 5
    assert datetime.fromisoformat(out["generation"]).tzinfo is not None
    assert client.get_domain(DomainName="g")["Stats"]["ProfileCount"] == out["profiles"]


def test_same_seed_same_data(ctl, client):
    a = ctl.create_domain("g", seed=9, customers=60)
    first = client.get_matches(DomainName="g", MaxResults=100)["Matches"]
    b = ctl.create_domain("g", seed=9, customers=60)
    second = client.get_matches(DomainName="g", MaxResults=100)["Matches"]
    assert a["profiles"] == b["profiles"]
    strip = lambda ms: [(m["ProfileIds"], m["ConfidenceScore"]) for m in ms]  # noqa: E731 - MatchIds are per run
    assert strip(first) == strip(second)
    ctl.create_domain("g", seed=10, customers=60)
    assert strip(client.get_matches(DomainName="g", MaxResults=100)["Matches"]) != strip(first)


def test_invalid_domain_name_refused(ctl):
    with pytest.raises(EmulatorError) as info:
        ctl.create_domain("bad name!")
    assert info.value.status == 400


def test_run_job_false_serves_nothing_yet(ctl, client):
    out = ctl.create_domain("g", seed=1, customers=40, run_job=False)
    assert out["generation"] is None and out["groups"] == 0
    resp = client.get_matches(DomainName="g")
    assert resp["Matches"] == [] and resp["PotentialMatches"] == 0 and "MatchGenerationDate" not in resp
    assert client.list_identity_resolution_jobs(DomainName="g")["IdentityResolutionJobsList"] == []


def test_set_matches_serves_items_verbatim(ctl, client, raw):
    ctl.create_domain("g", run_job=False, profiles=[])
    weird = [
        {"MatchId": "m1", "ProfileIds": ["a" * 32, "b" * 32], "ConfidenceScore": 0.7},
        {"MatchId": "m1", "ProfileIds": ["a" * 32, "c" * 32], "ConfidenceScore": 0.9},
        {"MatchId": "m3", "ProfileIds": ["NOT-HEX"], "ConfidenceScore": 1.5},
        {"MatchId": "m4", "ProfileIds": ["a" * 32, "a" * 32]},
        {"MatchId": "m5", "ProfileIds": ["d" * 32, "e" * 32], "ConfidenceScore": -0.2, "Extra": "x"},
    ]
    out = ctl.set_matches("g", weird, generation="2030-01-02T03:04:05Z", job_status="PARTIAL_SUCCESS")
    assert out["groups"] == 5
    status, _, body = raw("GET", "/domains/g/matches?max-results=100")
    assert status == 200 and body["Matches"] == weird
    assert body["MatchGenerationDate"] == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    jobs = client.list_identity_resolution_jobs(DomainName="g")["IdentityResolutionJobsList"]
    assert jobs[0]["Status"] == "PARTIAL_SUCCESS"


def test_set_matches_pages_and_generation_by_epoch(ctl, client):
    ctl.create_domain("g", run_job=False, profiles=[])
    items = [
        {"MatchId": f"m{i}", "ProfileIds": [f"{i:032x}", f"{i + 1000:032x}"], "ConfidenceScore": 0.5}
        for i in range(250)
    ]
    ctl.set_matches("g", items, generation=1_900_000_000)
    seen, token = [], None
    while True:
        resp = client.get_matches(DomainName="g", MaxResults=100, **({"NextToken": token} if token else {}))
        seen += resp["Matches"]
        token = resp.get("NextToken")
        if not token:
            break
    assert [m["MatchId"] for m in seen] == [f"m{i}" for i in range(250)]
    assert resp["MatchGenerationDate"].timestamp() == 1_900_000_000


def test_every_new_result_gets_a_new_generation(ctl, client):
    ctl.create_domain("g", seed=2, customers=40)
    gens = {client.get_matches(DomainName="g", MaxResults=1)["MatchGenerationDate"]}
    for _ in range(3):
        ctl.run_job("g")
        gens.add(client.get_matches(DomainName="g", MaxResults=1)["MatchGenerationDate"])
    ctl.set_matches("g", [])
    gens.add(client.get_matches(DomainName="g", MaxResults=1)["MatchGenerationDate"])
    assert len(gens) == 5
    assert len(client.list_identity_resolution_jobs(DomainName="g")["IdentityResolutionJobsList"]) == 5


def test_add_get_delete_profile(ctl, client):
    ctl.create_domain("g", run_job=False, profiles=[])
    given, generated = ctl.add_profiles("g", [{"ProfileId": "a" * 32, "FirstName": "Ann"}, {"FirstName": "Bob"}])
    assert given == "a" * 32 and len(generated) == 32 and int(generated, 16) >= 0
    assert ctl.get_profile("g", generated)["FirstName"] == "Bob"
    ctl.delete_profile("g", given)
    assert ctl.get_profile("g", given) is None
    assert client.batch_get_profile(DomainName="g", ProfileIds=[given])["Errors"][0]["ProfileId"] == given
    with pytest.raises(EmulatorError) as info:
        ctl.delete_profile("g", given)
    assert info.value.status == 404


def test_calls_are_recorded_in_order_with_subsecond_times(ctl, client):
    ctl.create_domain("g", run_job=False, profiles=[])
    ctl.clear_calls()
    client.get_domain(DomainName="g")
    client.get_matches(DomainName="g", MaxResults=10)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_domain(DomainName="missing")
    calls = ctl.calls()
    assert [(c["operation"], c["status"]) for c in calls] == [
        ("GetDomain", 200),
        ("GetMatches", 200),
        ("GetDomain", 404),
    ]
    assert calls[1]["params"] == {"DomainName": "g", "MaxResults": 10}
    assert calls[0]["at"] <= calls[1]["at"] <= calls[2]["at"]
    assert any(c["at"] != int(c["at"]) for c in calls)
    assert [c["operation"] for c in ctl.calls(operation="GetMatches")] == ["GetMatches"]
    ctl.clear_calls()
    assert ctl.calls() == []


def test_reset_drops_domains_faults_and_calls(ctl, client):
    ctl.create_domain("g", run_job=False, profiles=[])
    ctl.set_faults(throttle_rate=1.0, operations=["GetDomain"])
    with pytest.raises(client.exceptions.ThrottlingException):
        client.get_domain(DomainName="g")
    ctl.reset()
    assert ctl.calls() == []
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_domain(DomainName="g")


def test_save_without_state_file_says_so(ctl):
    with pytest.raises(EmulatorError) as info:
        ctl.save()
    assert info.value.status == 409


def test_unknown_control_route_is_404(raw):
    status, _, body = raw("GET", "/_emulator/nothing")
    assert status == 404 and "nothing" in body["error"]


def test_auto_merging_domain_merges_confident_groups_itself(ctl, client):
    auto = {"Enabled": True, "MinAllowedConfidenceScoreForMerging": 0.9}
    plain = ctl.create_domain("plain", seed=4, customers=120)
    ctl.create_domain("auto", seed=4, customers=120, auto_merging=auto)
    jobs = client.list_identity_resolution_jobs(DomainName="auto")["IdentityResolutionJobsList"]
    merges = jobs[0]["JobStats"]["NumberOfMergesDone"]
    assert merges > 0
    served = client.get_matches(DomainName="auto", MaxResults=100)["Matches"]
    assert all(m["ConfidenceScore"] < 0.9 for m in served)
    assert len(served) == plain["groups"] - merges
    assert client.get_domain(DomainName="auto")["Stats"]["ProfileCount"] < plain["profiles"]
