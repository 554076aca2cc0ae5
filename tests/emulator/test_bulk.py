"""Bulk domains: groups generated directly, profiles made from their ids on demand."""

from __future__ import annotations

import re

import pytest

from emulator.bulk import BulkGroups
from emulator.generator import Generator

GROUPS = 2_345


@pytest.fixture
def bulk(ctl):
    return ctl.create_domain("big", seed=5, bulk_groups=GROUPS)


def pull_all(client, domain: str) -> list[dict]:
    items, token = [], None
    while True:
        resp = client.get_matches(DomainName=domain, MaxResults=100, **({"NextToken": token} if token else {}))
        items += resp["Matches"]
        token = resp.get("NextToken")
        if not token:
            return items


def test_pages_through_every_group_exactly_once(client, bulk):
    assert bulk["groups"] == GROUPS
    items = pull_all(client, "big")
    assert len(items) == GROUPS
    assert len({m["MatchId"] for m in items}) == GROUPS
    ids = [pid for m in items for pid in m["ProfileIds"]]
    assert len(ids) == len(set(ids)) == bulk["profiles"]
    assert all(re.fullmatch(r"[a-f0-9]{32}", pid) for pid in ids)
    assert all(0 < m["ConfidenceScore"] <= 1 for m in items)


def test_profiles_are_made_on_demand_and_stable(client, bulk):
    group = client.get_matches(DomainName="big", MaxResults=1)["Matches"][0]
    first = client.batch_get_profile(DomainName="big", ProfileIds=group["ProfileIds"])
    again = client.batch_get_profile(DomainName="big", ProfileIds=group["ProfileIds"])
    assert first["Profiles"] == again["Profiles"] and not first["Errors"]
    assert all(p["FirstName"] and p["LastName"] for p in first["Profiles"])
    # A forged id with a valid shape but the wrong hash is not a profile.
    forged = "0" * 16 + group["ProfileIds"][0][16:]
    assert client.batch_get_profile(DomainName="big", ProfileIds=[forged])["Errors"][0]["ProfileId"] == forged


def test_merge_then_rerun_drops_merged_profiles(client, ctl, bulk):
    items = client.get_matches(DomainName="big", MaxResults=10)["Matches"]
    pair = next(m for m in items if len(m["ProfileIds"]) == 2)
    triple = next(m for m in items if len(m["ProfileIds"]) >= 3)
    client.merge_profiles(
        DomainName="big", MainProfileId=pair["ProfileIds"][0], ProfileIdsToBeMerged=pair["ProfileIds"][1:]
    )
    client.merge_profiles(
        DomainName="big", MainProfileId=triple["ProfileIds"][0], ProfileIdsToBeMerged=[triple["ProfileIds"][1]]
    )
    assert ctl.get_profile("big", pair["ProfileIds"][1]) is None
    merged = ctl.get_profile("big", pair["ProfileIds"][0])
    assert merged["ProfileId"] == pair["ProfileIds"][0]
    rerun = ctl.run_job("big")
    assert rerun["groups"] == GROUPS - 1  # the pair became one profile; the triple still has two
    served = {tuple(m["ProfileIds"]) for m in pull_all(client, "big")}
    assert tuple(pair["ProfileIds"]) not in served
    assert tuple(p for p in triple["ProfileIds"] if p != triple["ProfileIds"][1]) in served


def test_truth_report_for_bulk(ctl, bulk):
    report = ctl.truth("big")
    assert report["groups"] == GROUPS
    cut = {c["score"]: c for c in report["cutoffs"]}
    assert cut[0.95]["precision"] > cut[0.5]["precision"]
    middle = [b for b in report["bands"] if 0.6 <= b["lo"] and b["hi"] <= 0.9]
    assert sum(b["true"] for b in middle) > 0 and sum(b["false"] for b in middle) > 0


def test_bulk_groups_are_deterministic_and_compact():
    a, b = BulkGroups(1, 10_000), BulkGroups(1, 10_000)
    assert a.sizes == b.sizes and a.scores == b.scores and a.true == b.true
    assert a.locate(a.profile_id(9_999, 1)) == (9_999, 1)
    assert a.locate(a.profile_id(9_999, 7)) is None
    gen = Generator()
    assert a.make_profile(gen, 123, 1) == b.make_profile(gen, 123, 1)
    assert 0.75 < sum(a.true) / a.count < 0.95
