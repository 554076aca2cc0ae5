"""Erasing a data subject's profile from decision snapshots: the data goes, decisions and the chain remain."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from matches.models import AuditEvent, Decision, MatchGroup, Profile, ProfileSnapshot
from matches.services.decisions import group_merge_approve, group_reject
from matches.services.erasure import ErasureRefused, profile_snapshots_erase
from tests.audit_scenarios import IDS, cache_profiles, run_with_groups
from tests.factories import DomainFactory

P1, P2, P3 = sorted(IDS[:3])


@pytest.fixture
def history(domain, steward):
    run, (a, b) = run_with_groups(domain, [([P1, P2], 0.97), ([P1, P3], 0.5)])
    cache_profiles(domain, [P1, P2, P3])
    Profile.objects.filter(domain=domain, profile_id=P1).update(attributes={"ProfileId": P1, "FirstName": "Zelda"})
    MatchGroup.objects.filter(pk=a.pk).update(display_names="Zelda Lee, Ann1 Lee", search_text="zelda lee ann1 lee")
    merge = group_merge_approve(group=a, actor=steward, main_profile_id=P1)
    reject = group_reject(group=b, actor=steward, reason="different people")
    # A snapshot in another domain holding the same id is not this data subject's.
    other = DomainFactory(name="other")
    _, (c,) = run_with_groups(other, [([P1, P2], 0.9)])
    cache_profiles(other, [P1, P2], first="Other")
    other_reject = group_reject(group=c, actor=steward)
    return {"merge": merge, "reject": reject, "other": other_reject, "group_a": a}


def test_erasure_removes_the_profile_from_every_snapshot_and_the_cache(domain, admin, history):
    result = profile_snapshots_erase(actor=admin, domain=domain, profile_id=P1, reason="DSR-2031")
    merge_snap = ProfileSnapshot.objects.get(pk=history["merge"].snapshot_id)
    reject_snap = ProfileSnapshot.objects.get(pk=history["reject"].snapshot_id)
    for snap in (merge_snap, reject_snap):
        assert snap.profiles[P1] == {"erased": True}
        assert snap.erased_by == admin and snap.erased_at is not None
        assert "Zelda" not in json.dumps(snap.profiles)
    assert merge_snap.profiles[P2]["attributes"]["FirstName"] == "Ann1"
    assert reject_snap.profiles[P3]["attributes"]["FirstName"] == "Ann2"
    assert sorted(result.snapshot_ids) == sorted([merge_snap.pk, reject_snap.pk])
    assert (result.snapshots_erased, result.snapshots_emptied, result.groups_scrubbed) == (2, 0, 1)
    assert Profile.objects.get(domain=domain, profile_id=P1).attributes == {}
    assert Profile.objects.get(domain=domain, profile_id=P2).attributes["FirstName"] == "Ann1"
    assert MatchGroup.objects.get(pk=history["group_a"].pk).search_text == ""
    other_snap = ProfileSnapshot.objects.get(pk=history["other"].snapshot_id)
    assert other_snap.erased_at is None and other_snap.profiles[P1]["attributes"]["FirstName"] == "Other"


def test_decisions_and_the_audit_chain_remain_and_verify(domain, admin, history, capsys):
    before = list(Decision.objects.order_by("id").values_list("id", "action", "snapshot_id", "main_profile_id"))
    profile_snapshots_erase(actor=admin, domain=domain, profile_id=P1, reason="DSR-2031")
    after = list(Decision.objects.order_by("id").values_list("id", "action", "snapshot_id", "main_profile_id"))
    assert after == before
    call_command("verify_audit")
    assert "audit chain intact" in capsys.readouterr().out
    # The decision event still carries the hash of the snapshot as it was taken.
    event = AuditEvent.objects.get(action="decision.merge")
    assert event.details["snapshot_hash"] == ProfileSnapshot.objects.get(pk=event.details["snapshot_id"]).content_hash


def test_the_erasure_is_audited_without_personal_data(domain, admin, history):
    result = profile_snapshots_erase(actor=admin, domain=domain, profile_id=P1, reason="DSR-2031")
    event = AuditEvent.objects.get(action="profile.erased")
    assert (event.actor, event.object_type, event.object_id, event.domain) == (admin, "profile", P1, "demo")
    assert event.details["snapshot_ids"] == result.snapshot_ids
    assert event.details["reason"] == "DSR-2031"
    assert event.details["snapshots_erased"] == 2
    assert "Zelda" not in json.dumps(event.details) and "Lee" not in json.dumps(event.details)


def test_a_snapshot_with_nothing_personal_left_is_emptied(domain, admin, history):
    profile_snapshots_erase(actor=admin, domain=domain, profile_id=P2, reason="DSR-1")
    snap = ProfileSnapshot.objects.get(pk=history["merge"].snapshot_id)
    assert snap.profiles[P2] == {"erased": True} and P1 in snap.profiles
    result = profile_snapshots_erase(actor=admin, domain=domain, profile_id=P1, reason="DSR-2")
    snap.refresh_from_db()
    assert snap.profiles == {}
    assert result.snapshots_emptied == 1


def test_a_snapshot_of_only_that_profile_is_emptied(domain, admin, history):
    lone = ProfileSnapshot.objects.create(profile_ids=[P1], profiles={P1: {"attributes": {"FirstName": "Zelda"}}})
    profile_snapshots_erase(actor=admin, domain=domain, profile_id=P1, reason="DSR-3")
    lone.refresh_from_db()
    assert lone.profiles == {} and lone.erased_by == admin


@pytest.mark.parametrize("who", ["steward", "auditor"])
def test_only_admins_erase(request, domain, history, who):
    user = request.getfixturevalue(who)
    with pytest.raises(ErasureRefused, match="Only an admin"):
        profile_snapshots_erase(actor=user, domain=domain, profile_id=P1, reason="x")
    assert not ProfileSnapshot.objects.filter(erased_at__isnull=False).exists()


def test_a_reason_is_required(domain, admin, history):
    with pytest.raises(ErasureRefused, match="Say why"):
        profile_snapshots_erase(actor=admin, domain=domain, profile_id=P1, reason="  ")


def test_admin_erases_from_the_profile_page_and_both_pages_say_so(login, admin, auditor, steward, domain, history):
    url = reverse("profile-erase", args=["demo", P1])
    assert login(steward).post(url, {"reason": "x", "confirm": "on"}).status_code == 403
    assert login(auditor).post(url, {"reason": "x", "confirm": "on"}).status_code == 403
    client = login(admin)
    refused = client.post(url, {"reason": "DSR-9"}, follow=True)  # not confirmed
    assert "confirm the erasure" in refused.content.decode()
    assert not AuditEvent.objects.filter(action="profile.erased").exists()
    done = client.post(url, {"reason": "DSR-9", "confirm": "on"}, follow=True)
    page = done.content.decode()
    assert "Erased profile" in page
    assert "Personal data erased" in page and "by <strong>admin</strong>" in page and "DSR-9" in page
    assert "Zelda" not in page
    log = login(auditor).get(reverse("audit"), {"action": "profile."}).content.decode()
    assert "profile.erased" in log and "from 2 snapshot(s)" in log and "DSR-9" in log
