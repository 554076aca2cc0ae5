"""Hydration against the emulator: BatchGetProfile in chunks of 20, missing profiles, cache age, queue order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from matches.models import MatchGroup, Profile
from matches.services.profiles import groups_hydrate, profiles_refresh
from matches.services.pulls import pull_domain
from tests.emulator_fixtures import pid

pytestmark = pytest.mark.usefixtures("fast_retries")


def person(n: int, first: str, last: str, email: str = "") -> dict:
    profile = {"ProfileId": pid(n), "FirstName": first, "LastName": last}
    if email:
        profile["EmailAddress"] = email
    return profile


def batch_sizes(emu) -> list[int]:
    return [len(c["params"]["ProfileIds"]) for c in emu.calls("BatchGetProfile")]


def test_refresh_asks_at_most_twenty_ids_a_call_and_marks_missing_profiles(emu, emulated_domain):
    domain = emulated_domain()
    emu.add_profiles(domain.name, [person(i, f"First{i}", f"Last{i}") for i in range(40)])
    emu.clear_calls()
    wanted = [pid(i) for i in range(45)]  # 5 unknown to AWS

    profiles = profiles_refresh(domain=domain, profile_ids=wanted + wanted[:3])

    assert sorted(batch_sizes(emu)) == [5, 20, 20]
    assert set(profiles) == set(wanted)
    assert profiles[pid(7)].attributes["FirstName"] == "First7" and not profiles[pid(7)].missing
    assert {p for p, prof in profiles.items() if prof.missing} == {pid(i) for i in range(40, 45)}
    assert all(prof.fetched_at is not None for prof in profiles.values())


def test_refresh_respects_the_cache_age(emu, emulated_domain):
    domain = emulated_domain()
    emu.add_profiles(domain.name, [person(i, "Ann", "Lee") for i in range(30)])
    ids = [pid(i) for i in range(30)]
    profiles_refresh(domain=domain, profile_ids=ids)
    emu.clear_calls()

    profiles_refresh(domain=domain, profile_ids=ids, max_age_seconds=300)
    assert batch_sizes(emu) == []

    Profile.objects.filter(domain=domain, profile_id__in=ids[:4]).update(fetched_at=timezone.now() - timedelta(hours=1))
    profiles_refresh(domain=domain, profile_ids=ids, max_age_seconds=300)
    assert sorted(c["params"]["ProfileIds"] for c in emu.calls("BatchGetProfile")) == [sorted(ids[:4])]

    emu.clear_calls()
    profiles_refresh(domain=domain, profile_ids=ids, max_age_seconds=0)
    assert sorted(batch_sizes(emu)) == [10, 20]


def test_a_profile_gone_since_keeps_its_last_attributes_and_is_marked_missing(emu, emulated_domain):
    domain = emulated_domain()
    emu.add_profiles(domain.name, [person(1, "Ann", "Lee")])
    profiles_refresh(domain=domain, profile_ids=[pid(1)])
    emu.delete_profile(domain.name, pid(1))

    profile = profiles_refresh(domain=domain, profile_ids=[pid(1)], max_age_seconds=0)[pid(1)]

    assert profile.missing and profile.attributes["FirstName"] == "Ann"


def test_refresh_retries_throttled_calls(emu, emulated_domain):
    domain = emulated_domain()
    emu.add_profiles(domain.name, [person(1, "Ann", "Lee")])
    emu.set_faults(fail_next=[{"operation": "BatchGetProfile", "status": 429, "count": 2}])

    assert profiles_refresh(domain=domain, profile_ids=[pid(1)])[pid(1)].attributes["LastName"] == "Lee"


def test_hydration_goes_busiest_queue_first_and_fills_names_and_search(emu, emulated_domain):
    # Default policy: merge >= 0.95, reject < 0.6, review between.
    items = [
        {"MatchId": "merge", "ProfileIds": [pid(1), pid(2)], "ConfidenceScore": 0.97},
        {"MatchId": "review", "ProfileIds": [pid(3), pid(4), pid(5)], "ConfidenceScore": 0.8},
        {"MatchId": "reject", "ProfileIds": [pid(6), pid(7)], "ConfidenceScore": 0.3},
    ]
    domain = emulated_domain(items=items)
    emu.add_profiles(
        domain.name,
        [
            person(1, "Bob", "Ray"),
            person(2, "Bob", "Ray"),
            person(3, "Ann", "Lee", "Ann.Lee@Example.com"),
            person(4, "Anne", "Lee"),
            {"ProfileId": pid(6), "EmailAddress": "x@example.com"},
            {"ProfileId": pid(7)},
        ],
    )  # pid(5) does not exist
    run = pull_domain(domain=domain)
    emu.clear_calls()

    first = groups_hydrate(run=domain.runs.get(pk=run.run_id), limit=1)

    assert (first.groups, first.remaining) == (1, True)
    assert sorted(emu.calls("BatchGetProfile")[0]["params"]["ProfileIds"]) == sorted([pid(3), pid(4), pid(5)])
    review = MatchGroup.objects.get(run_id=run.run_id, match_id="review")
    assert review.display_names == f"Ann Lee · Anne Lee · {pid(5)[:8]} (gone)"
    assert "ann lee" in review.search_text and "ann.lee@example.com" in review.search_text
    assert pid(5) in review.search_text and review.search_text == review.search_text.lower()
    assert MatchGroup.objects.get(run_id=run.run_id, match_id="merge").display_names == ""

    rest = groups_hydrate(run=domain.runs.get(pk=run.run_id))

    assert (rest.groups, rest.remaining) == (2, False)
    names = dict(MatchGroup.objects.filter(run_id=run.run_id).values_list("match_id", "display_names"))
    assert names["merge"] == "Bob Ray"
    # A member without a name shows its email, else the start of its id (members in profile id order).
    assert set(names["reject"].split(" · ")) == {"x@example.com", f"{pid(7)[:8]}…"}
    # Two calls after the first: merge queue, then reject queue.
    assert [sorted(c["params"]["ProfileIds"]) for c in emu.calls("BatchGetProfile")[1:]] == [
        sorted([pid(1), pid(2)]),
        sorted([pid(6), pid(7)]),
    ]
    assert Profile.objects.get(domain=domain, profile_id=pid(5)).missing
