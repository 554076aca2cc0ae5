"""The generated data and the identity-resolution job: realistic variations, a model that is usefully wrong."""

from __future__ import annotations

from collections import defaultdict

import pytest

from emulator.generator import generate
from emulator.matching import normalise_phone, resolve
from emulator.store import build_domain


@pytest.fixture(scope="module")
def demo():
    return build_domain("demo", seed=7, customers=600)


def test_demo_set_has_a_review_queue_worth_reviewing(demo):
    report = demo.truth_report()
    assert 200 <= report["groups"] <= 500
    middle = [b for b in report["bands"] if b["lo"] >= 0.6 and b["hi"] <= 0.9]
    assert sum(b["true"] for b in middle) >= 20
    assert sum(b["false"] for b in middle) >= 5
    top = [b for b in report["bands"] if b["lo"] >= 0.9]
    assert sum(b["true"] for b in top) > 5 * sum(b["false"] for b in top)


def test_precision_rises_and_recall_falls_with_the_cutoff(demo):
    cut = {c["score"]: c for c in demo.truth_report()["cutoffs"]}
    assert cut[0.5]["precision"] < 0.97, "the model must sometimes be wrong"
    assert cut[0.95]["precision"] >= 0.95
    assert cut[0.5]["precision"] <= cut[0.9]["precision"]
    recalls = [cut[s]["recall"] for s in (0.5, 0.7, 0.8, 0.9, 0.95)]
    assert recalls == sorted(recalls, reverse=True) and recalls[0] > 0.85 and recalls[-1] < 0.6
    for c in cut.values():
        assert c["true_groups"] <= c["groups"]
        assert c["precision"] == round(c["true_groups"] / c["groups"], 4)


def test_truth_report_over_http_matches_control(ctl):
    ctl.create_domain("t", seed=7, customers=100)
    report = ctl.truth("t")
    assert [c["score"] for c in report["cutoffs"]] == [0.5, 0.7, 0.8, 0.9, 0.95]
    assert (
        sum(b["true"] + b["false"] for b in report["bands"])
        == report["groups"]
        == ctl.create_domain("u", seed=7, customers=100)["groups"]
    )


def test_truth_report_follows_injected_matches(ctl):
    ctl.create_domain("t", run_job=False, profiles=[])
    dom_profiles = ctl.add_profiles("t", [{"FirstName": "A"}, {"FirstName": "B"}])
    ctl.set_matches("t", [{"MatchId": "x", "ProfileIds": dom_profiles, "ConfidenceScore": 0.75}, "garbage"])
    report = ctl.truth("t")
    # Added profiles are separate customers unless a test says otherwise: this group is false.
    assert report["groups"] == 1
    band = next(b for b in report["bands"] if b["lo"] == 0.7)
    assert band == {"lo": 0.7, "hi": 0.8, "true": 0, "false": 1}


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=11, customers=400)


def by_customer(dataset):
    out = defaultdict(list)
    for pid, cust in dataset.truth.items():
        out[cust].append(dataset.profiles[pid])
    return out


def test_duplicates_vary_like_real_data(dataset):
    groups = [ps for ps in by_customer(dataset).values() if len(ps) > 1]
    assert 100 <= len(groups) <= 220
    emails_differ_only_in_case = phone_formats_differ = names_differ = missing_email = 0
    for ps in groups:
        emails = {p["EmailAddress"] for p in ps if "EmailAddress" in p}
        if len(emails) > 1 and len({e.lower() for e in emails}) < len(emails):
            emails_differ_only_in_case += 1
        phones = [p.get("PhoneNumber") or p.get("MobilePhoneNumber") for p in ps]
        raw = {x for x in phones if x}
        country = ps[0]["Address"]["Country"] if "Address" in ps[0] else None
        if len(raw) > 1 and len({normalise_phone(x, country) for x in raw}) < len(raw):
            phone_formats_differ += 1
        if len({p["FirstName"] for p in ps}) > 1:
            names_differ += 1
        if any("EmailAddress" not in p for p in ps):
            missing_email += 1
    assert emails_differ_only_in_case >= 5
    assert phone_formats_differ >= 20
    assert names_differ >= 20
    assert missing_email >= 5


def test_lookalikes_are_different_people_sharing_details(dataset):
    customers = by_customer(dataset)
    shared_address_other_person = 0
    by_address = defaultdict(set)
    for cust, ps in customers.items():
        for p in ps:
            if "Address" in p:
                by_address[(p["Address"]["Address1"], p["Address"]["PostalCode"])].add(cust)
    shared_address_other_person = sum(1 for custs in by_address.values() if len(custs) > 1)
    assert shared_address_other_person >= 10
    names = defaultdict(set)
    for cust, ps in customers.items():
        names[(ps[0]["FirstName"], ps[0]["LastName"])].add(cust)
    assert any(len(c) > 1 for c in names.values()), "namesakes exist"


def test_profiles_never_carry_the_truth(dataset):
    for pid, prof in dataset.profiles.items():
        text = repr(prof)
        assert dataset.truth[pid] not in text
        assert prof["ProfileId"] == pid and len(pid) == 32


def test_same_profiles_same_scores(dataset):
    assert resolve(dataset.profiles, seed=1) == resolve(dict(reversed(list(dataset.profiles.items()))), seed=1)


def test_classic_duplicates_are_matched():
    profiles = {
        "a" * 32: {
            "FirstName": "John",
            "LastName": "Doe",
            "EmailAddress": "JOHN_DOE@ANYCOMPANY.COM",
            "PhoneNumber": "555-010-0000",
        },
        "b" * 32: {
            "FirstName": "Jhn",
            "LastName": "Doe",
            "EmailAddress": "john_doe@anycompany.com",
            "PhoneNumber": "+1-555-010-0000",
        },
        "c" * 32: {
            "FirstName": "Maria",
            "LastName": "Rossi",
            "EmailAddress": "maria@example.com",
            "PhoneNumber": "+1 312 555 0199",
        },
    }
    (group,) = resolve(profiles)
    assert group.profile_ids == ("a" * 32, "b" * 32)
    assert group.score > 0.9


def test_linkage_scenario_overlaps_like_a_record_linkage_benchmark():
    dom = build_domain("link", seed=3, customers=5000, scenario="linkage")
    truth = dom.group_truth()
    assert len(truth) == 1875
    matches = [s for s, one, _ in truth if one]
    non = [s for s, one, _ in truth if not one]
    assert 0.3 <= min(matches) and max(matches) <= 1.0
    assert 0.0 <= min(non) and max(non) <= 0.65
    assert 0.25 <= len(non) / len(truth) <= 0.45
    overlap = [s for s in matches if s < 0.65]
    assert len(overlap) >= 50 and sum(1 for s in non if s >= 0.3) >= 100
    # The default policy leaves about half the groups in review and real duplicates in the reject queue.
    review = sum(1 for s, _, _ in truth if 0.6 <= s < 0.95) / len(truth)
    reject = [one for s, one, _ in truth if s < 0.6]
    assert 0.4 <= review <= 0.6 and 0.08 <= sum(reject) / len(reject) <= 0.25
    report = dom.truth_report()
    assert report["groups"] == len(truth) and sum(b["true"] for b in report["bands"]) == len(matches)


def test_default_data_is_unchanged_by_the_scenario_option():
    assert (
        build_domain("a", seed=7, customers=200).group_truth()
        == build_domain("b", seed=7, customers=200, scenario="default").group_truth()
    )
    bulk = build_domain("c", seed=5, bulk_groups=500).bulk
    # The figures of the bulk generator before the option existed.
    assert bulk.scenario == "default" and sum(bulk.true) == 432 and round(sum(bulk.scores), 4) == 418.5595


def test_linkage_scenario_survives_a_state_round_trip():
    from emulator.store import Domain

    dom = build_domain("link", seed=4, customers=400, scenario="linkage", nonmatch_share=0.5)
    again = Domain.from_state(dom.to_state())
    assert again.bulk.scenario == "linkage" and again.bulk.nonmatch_share == 0.5
    assert again.group_truth() == dom.group_truth()


def test_create_domain_takes_a_scenario(ctl):
    ctl.create_domain("lk", seed=2, customers=400, scenario="linkage")
    report = ctl.truth("lk")
    assert report["groups"] == 150
    assert all(b["false"] == 0 for b in report["bands"] if b["lo"] >= 0.7)
