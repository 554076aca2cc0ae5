"""Domains are saved by one service: it refuses a region boto3 does not know for Customer Profiles."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from matches.models import Domain
from matches.services.domains import domain_save


@pytest.mark.parametrize("region", ["<b>us-east-1</b>", "mars-north-1", "eu-west-1", "us-east-1\x00", "x" * 300])
def test_a_region_boto3_does_not_know_is_refused_on_the_region_field(admin, region):
    with pytest.raises(ValidationError) as caught:
        domain_save(actor=admin, name="acme", region=region)
    assert "not a region where boto3 knows Customer Profiles" in " ".join(caught.value.message_dict["region"])
    assert not Domain.objects.exists()


def test_a_known_region_is_saved(admin):
    domain, created = domain_save(actor=admin, name="acme", region="ap-southeast-2")
    assert created and domain.region == "ap-southeast-2"


def test_changing_an_existing_domain_to_an_unknown_region_is_refused(admin, domain):
    with pytest.raises(ValidationError):
        domain_save(actor=admin, name=domain.name, region="nowhere-1")
    domain.refresh_from_db()
    assert domain.region == "us-east-1"


def test_add_domain_command_names_the_region_problem(db):
    with pytest.raises(CommandError, match="region: 'atlantis-1' is not a region where boto3 knows"):
        call_command("add_domain", "acme", "--region", "atlantis-1")


def test_the_domain_form_shows_the_region_problem_beside_the_field(login, admin):
    data = {"name": "acme", "region": "<i>x</i>", "undo_window_seconds": "0", "merge_rate_per_second": "2"}
    response = login(admin).post("/admin/domains/add/", data)
    assert response.status_code == 400
    assert "is not a region where boto3 knows Customer Profiles" in response.content.decode()
    assert "<i>x</i>" not in response.content.decode()
    assert not Domain.objects.exists()
