"""The emulator's S3 export (ExportingConfig -> objects in moto's S3, ExportingLocation on the job), UpdateDomain's
ExportingConfig, and profile history records (ListProfileHistoryRecords, GetProfileHistoryRecord), through boto3."""

from __future__ import annotations

import gzip
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.testing import EmulatorControl


def s3(url: str):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )


def test_a_domain_with_exporting_config_writes_its_job_to_s3_and_reports_the_location(ctl, client, moto_s3):
    exporting = {"S3Exporting": {"S3BucketName": "emu-exports", "S3KeyName": "ir"}}
    ctl.create_domain(
        "exp", seed=3, customers=150, exporting=exporting, export={"endpoint_url": moto_s3.url, "parts": 3}
    )

    [job] = client.list_identity_resolution_jobs(DomainName="exp")["IdentityResolutionJobsList"]
    full = client.get_identity_resolution_job(DomainName="exp", JobId=job["JobId"])
    where = full["ExportingLocation"]["S3Exporting"]
    assert job["ExportingLocation"] == full["ExportingLocation"]
    assert where == {"S3BucketName": "emu-exports", "S3KeyName": f"ir/{job['JobId']}/"}
    objects = s3(moto_s3.url).list_objects_v2(Bucket="emu-exports", Prefix=where["S3KeyName"])["Contents"]
    assert len(objects) == 3
    lines = []
    for o in objects:
        body = s3(moto_s3.url).get_object(Bucket="emu-exports", Key=o["Key"])["Body"].read()
        lines += [json.loads(line) for line in gzip.decompress(body).splitlines()]
    served = client.get_matches(DomainName="exp", MaxResults=100)
    assert len(lines) == full["JobStats"]["NumberOfMatchesFound"] == served["PotentialMatches"]
    assert {m["MatchId"] for m in served["Matches"]} <= {line["MatchId"] for line in lines}
    assert client.get_domain(DomainName="exp")["Matching"]["ExportingConfig"] == exporting


def test_update_domain_sets_and_clears_the_exporting_config(ctl, client):
    ctl.create_domain("upd", customers=0)
    config = {"S3Exporting": {"S3BucketName": "b-1", "S3KeyName": "k"}}
    out = client.update_domain(DomainName="upd", Matching={"Enabled": True, "ExportingConfig": config})
    assert out["Matching"]["ExportingConfig"] == config
    client.update_domain(DomainName="upd", Matching={"Enabled": True, "ExportingConfig": {}})
    assert "ExportingConfig" not in client.get_domain(DomainName="upd")["Matching"]


def test_a_merge_leaves_merged_and_deleted_by_merge_records(ctl: EmulatorControl, client):
    ctl.create_domain("h", customers=0)
    main, other = ctl.add_profiles("h", [{"FirstName": "A"}, {"FirstName": "B"}])
    client.merge_profiles(DomainName="h", MainProfileId=main, ProfileIdsToBeMerged=[other])

    [merged] = client.list_profile_history_records(DomainName="h", ProfileId=main)["ProfileHistoryRecords"]
    [gone] = client.list_profile_history_records(DomainName="h", ProfileId=other)["ProfileHistoryRecords"]
    assert merged["ActionType"] == "MERGED" and gone["ActionType"] == "DELETED_BY_MERGE"
    record = client.get_profile_history_record(DomainName="h", ProfileId=other, Id=gone["Id"])
    assert json.loads(record["Content"]) == {"MainProfileId": main}
    only = client.list_profile_history_records(DomainName="h", ProfileId=main, ActionType="DELETED_BY_MERGE")
    assert only["ProfileHistoryRecords"] == []


def test_a_profile_deleted_outside_matchdesk_says_why(ctl: EmulatorControl, client):
    ctl.create_domain("d", customers=0)
    [pid] = ctl.add_profiles("d", [{"FirstName": "C"}])
    ctl.delete_profile("d", pid)
    [record] = client.list_profile_history_records(DomainName="d", ProfileId=pid)["ProfileHistoryRecords"]
    assert record["ActionType"] == "DELETED_BY_CUSTOMER"
    with pytest.raises(ClientError) as exc:
        client.list_profile_history_records(DomainName="d", ProfileId="f" * 32)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
