"""Notifications are sent where the events happen: a run pulled, a pull failed, a merge failed, an approval awaiting a
second person. Each goes through the real services against the emulator and arrives at a real SMTP listener."""

from __future__ import annotations

import pytest

from matches import roles
from matches.models import NotificationDelivery
from matches.services.decisions import group_merge_approve
from matches.services.merges import merge_jobs_run_due
from matches.services.notifications.deliver import delivery_attempt
from matches.services.pulls import PullFailed, pull_domain
from tests.emulator_fixtures import match
from tests.factories import UserFactory
from tests.merging import approve, make_group


def mailed(kind: str, smtp_inbox) -> dict[str, str]:
    """Deliver every pending delivery of `kind`; the subject each address received."""
    rows = list(NotificationDelivery.objects.filter(kind=kind, channel="email").order_by("pk"))
    for row in rows:
        assert delivery_attempt(delivery_pk=row.pk) == "delivered"
    received = smtp_inbox.wait_for(len(rows))
    return {rcpt: m.message["Subject"] for m in received for rcpt in m.rcpt_tos}


@pytest.fixture
def team(db):
    return {
        "steward": UserFactory(username="st", email="st@example.com", roles=[roles.STEWARD]),
        "steward2": UserFactory(username="st2", email="st2@example.com", roles=[roles.STEWARD]),
        "admin": UserFactory(username="ad", email="ad@example.com", roles=[roles.ADMIN]),
    }


@pytest.mark.usefixtures("fast_retries")
def test_a_completed_pull_tells_everyone_with_a_role(emulated_domain, team, smtp_inbox):
    domain = emulated_domain(items=[match(i) for i in range(3)])
    result = pull_domain(domain=domain)
    got = mailed("run_completed", smtp_inbox)
    assert set(got) == {"st@example.com", "st2@example.com", "ad@example.com"}
    assert got["st@example.com"] == f"[Matchdesk] New run of {domain.name}: 3 groups pulled (run {result.run_id})"


@pytest.mark.usefixtures("fast_retries")
def test_a_failed_pull_tells_the_admins(emu, emulated_domain, team, smtp_inbox):
    domain = emulated_domain(items=[match(0)])
    emu.set_faults(fail_next=[{"operation": "GetMatches", "status": 403}])
    with pytest.raises(PullFailed):
        pull_domain(domain=domain)
    got = mailed("pull_failed", smtp_inbox)
    assert list(got) == ["ad@example.com"] and f"Pull of {domain.name} failed" in got["ad@example.com"]
    row = NotificationDelivery.objects.get(kind="pull_failed")
    assert "not authorized" in row.payload["data"]["error"]


def test_a_failed_merge_tells_the_admins_and_the_steward_who_decided(merge_ctl, merge_domain, team, smtp_inbox):
    group = make_group(merge_ctl, merge_domain, 3)
    job = approve(group, team["steward"], main=group.profile_ids[1])
    merge_ctl.delete_profile(merge_domain.name, group.profile_ids[1])
    assert merge_jobs_run_due().failed == [job.pk]
    got = mailed("merge_failed", smtp_inbox)
    assert set(got) == {"ad@example.com", "st@example.com"}
    assert got["st@example.com"] == f"[Matchdesk] A merge in {merge_domain.name} failed (group {group.match_id})"


def test_an_approval_awaits_everyone_who_may_give_it_but_not_who_asked(merge_ctl, merge_domain, team, smtp_inbox):
    merge_domain.approval_all = True
    merge_domain.save()
    group = make_group(merge_ctl, merge_domain, 2)
    group_merge_approve(group=group, actor=team["steward"], main_profile_id=group.profile_ids[0])
    got = mailed("approval_awaiting", smtp_inbox)
    assert set(got) == {"st2@example.com", "ad@example.com"}
    assert got["ad@example.com"] == f"[Matchdesk] A merge in {merge_domain.name} awaits your approval"
