"""Fault injection: rates hold, a seed repeats its sequence, targeted failures hit what they name."""

from __future__ import annotations

import time

import pytest


def outcomes(client, n: int) -> list[str]:
    seen = []
    for _ in range(n):
        try:
            client.get_domain(DomainName="f")
            seen.append("ok")
        except client.exceptions.ThrottlingException:
            seen.append("429")
        except client.exceptions.InternalServerException:
            seen.append("500")
    return seen


@pytest.fixture
def dom(ctl):
    ctl.create_domain("f", profiles=[{"ProfileId": "a" * 32, "FirstName": "Ann"}], run_job=False)


def raw_statuses(url: str, n: int) -> list[int]:
    """Statuses of n GetDomain calls over one keep-alive connection (boto3's overhead adds nothing here)."""
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
    seen = []
    for _ in range(n):
        conn.request("GET", "/domains/f")
        resp = conn.getresponse()
        resp.read()
        seen.append(resp.status)
    conn.close()
    return seen


def test_throttle_rate_holds_and_seed_repeats(server, client, ctl, dom):
    ctl.set_faults(seed=42, throttle_rate=0.2)
    first = raw_statuses(server.url, 1000)
    assert 150 <= first.count(429) <= 250
    assert set(first) == {200, 429}
    ctl.set_faults(seed=42, throttle_rate=0.2)
    assert raw_statuses(server.url, 1000) == first
    ctl.set_faults(seed=43, throttle_rate=0.2)
    assert raw_statuses(server.url, 1000) != first
    # And boto3 sees the same sequence as the real exception class.
    ctl.set_faults(seed=42, throttle_rate=0.2)
    assert outcomes(client, 50) == ["ok" if s == 200 else "429" for s in first[:50]]


def test_error_rate_gives_internal_server_errors(client, ctl, dom):
    ctl.set_faults(seed=1, error_rate=0.3, throttle_rate=0.1)
    seen = outcomes(client, 400)
    assert 80 <= seen.count("500") <= 160
    assert 20 <= seen.count("429") <= 60


def test_faults_only_hit_selected_operations(client, ctl, dom):
    ctl.set_faults(throttle_rate=1.0, operations=["GetMatches"])
    assert client.get_domain(DomainName="f")["DomainName"] == "f"
    with pytest.raises(client.exceptions.ThrottlingException):
        client.get_matches(DomainName="f")
    ctl.clear_faults()
    client.get_matches(DomainName="f")


def test_fail_next_counts_down(client, ctl, dom):
    ctl.set_faults(fail_next=[{"operation": "BatchGetProfile", "status": 403, "count": 2}])
    for _ in range(2):
        with pytest.raises(client.exceptions.AccessDeniedException):
            client.batch_get_profile(DomainName="f", ProfileIds=["a" * 32])
    assert client.batch_get_profile(DomainName="f", ProfileIds=["a" * 32])["Profiles"]


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (404, "ResourceNotFoundException"),
        (500, "InternalServerException"),
        (429, "ThrottlingException"),
        (400, "BadRequestException"),
    ],
)
def test_fail_next_raises_the_real_exception_class(client, ctl, dom, status, name):
    ctl.set_faults(fail_next=[{"operation": "GetMatches", "status": status}])
    with pytest.raises(getattr(client.exceptions, name)) as info:
        client.get_matches(DomainName="f")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert info.value.response["Error"]["Message"]


def test_access_denied_everywhere(client, ctl, dom):
    ctl.set_faults(access_denied=True)
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.list_domains()
    ctl.clear_faults()
    assert client.list_domains()["Items"]


def test_latency_is_added(client, ctl, dom):
    ctl.set_faults(latency_ms=200, operations=["GetDomain"])
    started = time.perf_counter()
    client.get_domain(DomainName="f")
    assert time.perf_counter() - started >= 0.2


def test_merge_500_after_merge_merges_and_then_fails(client, ctl):
    main, other = "a" * 32, "b" * 32
    ctl.create_domain(
        "f", run_job=False, profiles=[{"ProfileId": main, "FirstName": "A"}, {"ProfileId": other, "LastName": "B"}]
    )
    ctl.set_faults(merge_500_after_merge=1)
    with pytest.raises(client.exceptions.InternalServerException):
        client.merge_profiles(DomainName="f", MainProfileId=main, ProfileIdsToBeMerged=[other])
    assert ctl.get_profile("f", other) is None
    assert ctl.get_profile("f", main)["LastName"] == "B"
    calls = ctl.calls(operation="MergeProfiles")
    assert [c["status"] for c in calls] == [500]
    # Only one call was armed; a re-check after the 500 sees the merge done, and the next merge behaves.
    with pytest.raises(client.exceptions.BadRequestException):
        client.merge_profiles(DomainName="f", MainProfileId=main, ProfileIdsToBeMerged=[other])


def test_bad_fault_settings_are_refused(ctl):
    from emulator.testing import EmulatorError

    with pytest.raises(EmulatorError) as info:
        ctl.set_faults(throttle_rate=2)
    assert info.value.status == 400
    with pytest.raises(EmulatorError):
        ctl.set_faults(operations=["NoSuchOperation"])
    with pytest.raises(EmulatorError):
        ctl.set_faults(throttel_rate=0.1)


def test_async_merge_answers_before_the_merge_is_visible(client, ctl):
    main, other = "a" * 32, "b" * 32
    ctl.create_domain("f", run_job=False, profiles=[{"ProfileId": main, "FirstName": "A"}, {"ProfileId": other}])
    ctl.set_faults(merge_apply_delay_seconds=0.5)
    client.merge_profiles(DomainName="f", MainProfileId=main, ProfileIdsToBeMerged=[other])
    assert ctl.get_profile("f", other) is not None
    deadline = time.monotonic() + 5
    while ctl.get_profile("f", other) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ctl.get_profile("f", other) is None


def test_slow_merge_answer_times_out_after_merging(server, ctl):
    from botocore.exceptions import ReadTimeoutError

    from emulator.testing import boto_client

    main, other = "a" * 32, "b" * 32
    ctl.create_domain("f", run_job=False, profiles=[{"ProfileId": main}, {"ProfileId": other}])
    ctl.set_faults(merge_response_delay_ms=1500)
    impatient = boto_client(server.url, read_timeout=0.3)
    with pytest.raises(ReadTimeoutError):
        impatient.merge_profiles(DomainName="f", MainProfileId=main, ProfileIdsToBeMerged=[other])
    assert ctl.get_profile("f", other) is None
