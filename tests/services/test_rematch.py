"""Issue 15, item 3: a carried-over rejection reopens, by the system and audited, when a member's matching
attributes changed since the rejection; an unchanged one stays carried over. Real pulls against the emulator."""

from __future__ import annotations

import pytest

from matches.models import AuditEvent, Decision, MatchGroup, MatchRun
from matches.services import decisions
from matches.services.decisions.digest import attributes_digest
from matches.services.erasure import profile_snapshots_erase
from matches.services.profiles import groups_hydrate
from matches.services.pulls import pull_domain
from matches.services.rematch import SYSTEM_USERNAME
from tests.emulator_fixtures import generation, pid

pytestmark = pytest.mark.usefixtures("fast_retries")


def person(n, first, last, email, phone="+12065550100"):
    return {"ProfileId": pid(n), "FirstName": first, "LastName": last, "EmailAddress": email, "PhoneNumber": phone}


def week(emu, domain, day, sets):
    items = [{"MatchId": f"{day}-{i}", "ProfileIds": ids, "ConfidenceScore": 0.4} for i, ids in enumerate(sets)]
    emu.set_matches(domain.name, items, generation=generation(day))
    run = MatchRun.objects.get(pk=pull_domain(domain=domain).run_id)
    groups_hydrate(run=run)
    return {tuple(g.profile_ids): g for g in MatchGroup.objects.filter(run=run)}


@pytest.fixture
def rejected(emu, emulated_domain, steward):
    """Two rejected pairs in week 1: a=(1,2) and b=(3,4)."""
    domain = emulated_domain()
    emu.add_profiles(
        domain.name,
        [
            person(1, "Ana", "Silva", "ana@example.com"),
            person(2, "Ana", "Silva", "a.silva@example.org", "+12065550111"),
            person(3, "Bo", "Chen", "bo@example.com"),
            person(4, "Bo", "Chen", "bchen@example.net", "+12065550122"),
        ],
    )
    a, b = sorted([pid(1), pid(2)]), sorted([pid(3), pid(4)])
    groups = week(emu, domain, 1, [a, b])
    for ids in (a, b):
        decisions.group_reject(group=groups[tuple(ids)], actor=steward, reason="different people")
    return domain, a, b


def test_a_changed_email_reopens_the_rejection_by_the_system_and_an_unchanged_one_stays(emu, rejected):
    domain, a, b = rejected
    # Between the weeks profile 2 takes profile 1's email (a match key) and a new last name; b's data only changes
    # how its phone is written, which is the same number.
    emu.add_profiles(domain.name, [person(2, "Ana", "Souza", "ANA@example.com", "+12065550111")])
    emu.add_profiles(domain.name, [person(4, "Bo", "Chen", "bchen@example.net", "(206) 555-0122")])

    groups = week(emu, domain, 8, [a, b])

    reopened, kept = groups[tuple(a)], groups[tuple(b)]
    assert kept.status == "carried_over"
    assert reopened.status == "open"
    reopen = Decision.objects.get(group=reopened)
    assert reopen.action == "reopen" and reopen.actor.username == SYSTEM_USERNAME
    assert reopen.reverts_id == reopened.linked_decision_id
    assert reopen.changed_fields == {pid(2): ["email addresses", "last name"]}
    event = AuditEvent.objects.get(action="decision.reopen", object_id=str(reopened.pk))
    assert event.actor_name == SYSTEM_USERNAME and event.details["by_system"] is True
    assert event.details["changed_fields"] == {pid(2): ["email addresses", "last name"]}
    # Names of fields only: the new values are nowhere in what the reopen recorded.
    assert "Souza" not in str(event.details) and "Souza" not in reopen.reason
    # A second hydration finds nothing more to reopen.
    assert groups_hydrate(run=reopened.run).reopened == 0


def test_the_digest_survives_the_snapshot_erasure(emu, rejected, admin):
    domain, a, b = rejected
    rejection = Decision.objects.get(group__profile_ids=a, action="reject")
    for n in (1, 2):
        profile_snapshots_erase(actor=admin, domain=domain, profile_id=pid(n), reason="request 7")
    rejection.snapshot.refresh_from_db()
    assert rejection.snapshot.profiles == {}  # nothing readable left
    emu.add_profiles(domain.name, [person(1, "Ana", "Silva", "ana@example.com", "+12065550999")])

    groups = week(emu, domain, 8, [a, b])

    assert groups[tuple(a)].status == "open"
    assert Decision.objects.get(group=groups[tuple(a)]).changed_fields == {pid(1): ["phone numbers"]}
    assert groups[tuple(b)].status == "carried_over"


def test_the_digest_is_keyed_and_normalised():
    one = attributes_digest({"EmailAddress": "Ana@Example.com ", "PhoneNumber": "(206) 555-0100", "FirstName": "Ána"})
    two = attributes_digest({"PersonalEmailAddress": "ana@example.com", "MobilePhoneNumber": "+1 206 555 0100",
                             "FirstName": "ana"})  # fmt: skip
    assert one == two
    assert "ana@example.com" not in str(one)
    assert attributes_digest({"LastName": "Silva"})["LastName"] != attributes_digest({"LastName": "Souza"})["LastName"]
