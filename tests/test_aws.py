"""matches/aws.py: a region or endpoint boto3 cannot use is a MatchdeskAwsError with a message an admin can act on,
raised inside the error translation (so a pull fails its run with the reason, audited)."""

from types import SimpleNamespace

import pytest

from matches import aws
from matches.models import AuditEvent, MatchRun
from matches.services.pulls import PullFailed, pull_domain
from tests.factories import DomainFactory


def test_known_regions_are_the_ones_boto3_lists_for_customer_profiles():
    regions = aws.known_regions()
    assert "us-east-1" in regions and "eu-west-2" in regions
    # Customer Profiles is not offered in eu-west-1 (boto3's endpoint data agrees).
    assert "eu-west-1" not in regions
    assert aws.region_problem("us-east-1") == ""


@pytest.mark.parametrize("region", ["<b>x</b>", "xx-east-9", "", "eu-west-1", "us-east-1\x00"])
def test_an_unknown_region_is_a_configuration_error_naming_the_fix(region):
    domain = SimpleNamespace(name="badregion", region=region, endpoint_url="", role_arn="")
    with pytest.raises(aws.AwsConfigError) as caught:
        aws.get_domain(domain)
    assert not caught.value.retryable
    assert "not a region where boto3 knows Customer Profiles" in str(caught.value)
    assert "us-east-1" in str(caught.value) and "admin page" in str(caught.value)


def test_an_endpoint_boto3_cannot_use_is_a_configuration_error(db):
    domain = DomainFactory(name="badendpoint", endpoint_url="not a url")
    with pytest.raises(aws.AwsConfigError, match="cannot use endpoint URL 'not a url'"):
        aws.get_domain(domain)


def test_a_pull_of_a_domain_with_a_bad_region_fails_its_run_with_the_reason_and_audits_it(db):
    domain = DomainFactory(name="badpull", region="<script>")
    with pytest.raises(PullFailed, match="not a region where boto3 knows"):
        pull_domain(domain=domain)
    run = MatchRun.objects.get(domain=domain)
    assert run.status == MatchRun.Status.FAILED
    assert "not a region where boto3 knows Customer Profiles" in run.error
    event = AuditEvent.objects.get(action="pull.failed")
    assert event.object_id == str(run.pk) or event.object_id == run.pk
