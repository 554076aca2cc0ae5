import pytest

from matches import compare
from matches.compare import DIFFERENT, EMPTY, EQUIVALENT, EXACT, SIMILAR, SINGLE

A, B, C = "a" * 32, "b" * 32, "c" * 32


@pytest.mark.parametrize(
    "kind,left,right,expected",
    [
        ("email", "ann.lee@example.com", "ann.lee@example.com", EXACT),
        ("email", "Ann.Lee@Example.COM ", "ann.lee@example.com", EQUIVALENT),
        ("email", "ann.lee@example.com", "ann.le@example.com", SIMILAR),
        ("email", "ann.lee@example.com", "bob.stone@corp.net", DIFFERENT),
        ("phone", "555-010-0000", "+1-555-010-0000", EQUIVALENT),
        ("phone", "(555) 010-0000", "5550100000", EQUIVALENT),
        ("phone", "+1 555 010 0000", "+1 555 010 0000", EXACT),
        ("phone", "555-010-0000", "555-010-0001", SIMILAR),
        ("phone", "555-010-0000", "+44 20 7946 0958", DIFFERENT),
        ("name", "José", "jose", EQUIVALENT),
        ("name", "  Mary   Ann ", "MARY ANN", EQUIVALENT),
        ("name", "Zoë", "Zoe", EQUIVALENT),
        ("name", "Jonathan", "Jonathon", SIMILAR),
        ("name", "Ann", "Robert", DIFFERENT),
        ("code", "AB-123", "ab123", EQUIVALENT),
        ("date", "1980-01-02", "1980-01-02", EXACT),
        ("date", "1980-01-02", "1981-07-09", DIFFERENT),
    ],
)
def test_relation_between_two_values(kind, left, right, expected):
    assert compare.relation(kind, left, right) == expected


def test_phones_use_the_region_of_the_address_country():
    # A UK number written nationally equals its E.164 form only when the region hint says GB.
    assert compare.relation("phone", "020 7946 0958", "+44 20 7946 0958", region_a="GB") == EQUIVALENT
    assert compare.relation("phone", "020 7946 0958", "+44 20 7946 0958") != EQUIVALENT
    assert compare.region_hint("United Kingdom") == "GB"
    assert compare.region_hint("de") == "DE"
    assert compare.region_hint("Atlantis") is None
    assert compare.profile_region({"Address": {"Country": "USA"}}) == "US"
    assert compare.normalise_phone("555-010-0000") == "+15550100000"


def test_addresses_compare_part_by_part_and_format_on_one_line():
    a = {"Address1": "12 Main St.", "City": "Springfield", "State": "IL", "PostalCode": "62701", "Country": "US"}
    b = {"Address1": "12 MAIN ST", "City": "springfield", "State": "il", "PostalCode": "62701", "Country": "USA"}
    c = {"Address1": "12 Main Street", "City": "Springfield", "State": "IL", "PostalCode": "62701", "Country": "US"}
    d = {"Address1": "9 Elm Road", "City": "Portland", "State": "OR", "PostalCode": "97201", "Country": "US"}
    assert compare.relation("address", a, dict(a)) == EXACT
    assert compare.relation("address", a, b) == EQUIVALENT
    assert compare.relation("address", a, c) == SIMILAR
    assert compare.relation("address", a, d) == DIFFERENT
    assert compare.format_address(a) == "12 Main St., Springfield IL 62701, US"


def test_a_row_takes_the_worst_relation_and_marks_conflicts():
    rows = compare.compare_profiles(
        [
            (A, {"FirstName": "José", "EmailAddress": "x@y.com", "PhoneNumber": "555-010-0000"}),
            (B, {"FirstName": "Jose", "EmailAddress": "x@y.com", "LastName": "Lee"}),
            (C, {"FirstName": "Robert", "EmailAddress": "X@Y.com", "Attributes": {"tier": "gold"}}),
        ],
        main_profile_id=B,
    )
    by_key = {r.key: r for r in rows}
    assert by_key["FirstName"].verdict == DIFFERENT and by_key["FirstName"].conflict
    assert [c.relation for c in by_key["FirstName"].cells] == [EQUIVALENT, EXACT, DIFFERENT]
    assert by_key["EmailAddress"].verdict == EQUIVALENT and by_key["EmailAddress"].conflict
    assert by_key["LastName"].verdict == SINGLE and not by_key["LastName"].conflict
    assert by_key["PhoneNumber"].verdict == SINGLE
    # The main profile has no phone: the source defaults to the profile that has one, never to an empty value.
    assert by_key["PhoneNumber"].default_source == A
    assert by_key["FirstName"].default_source == B
    assert by_key["Attributes.tier"].label == "tier"
    # Rows that are empty everywhere are left out unless asked for.
    assert "BirthDate" not in by_key
    everything = compare.compare_profiles([(A, {}), (B, None)], main_profile_id=A, include_empty=True)
    assert {r.verdict for r in everything} == {EMPTY}


def test_identical_values_everywhere_are_exact_and_not_a_conflict():
    row = compare.compare_row(
        key="LastName", label="Last name", values=[(A, "Lee"), (B, "Lee"), (C, "")], main_profile_id=A, regions={}
    )
    assert row.verdict == EXACT and not row.conflict
    assert row.cells[2].empty


def test_fold_strips_accents_case_and_spaces():
    assert compare.fold("  ÉLODIE   Müller ") == "elodie muller"
    assert compare.fold("Straße") == "strasse"


def test_each_cell_knows_its_tint_against_every_possible_main():
    row = compare.compare_row(
        key="FirstName",
        label="First name",
        values=[(A, "José"), (B, "Robert"), (C, "")],
        main_profile_id=A,
        regions={},
    )
    # Column order: against A's value, B's value, C's (empty: the first non-empty value stands in).
    assert row.cells[0].relations == [EXACT, DIFFERENT, EXACT]
    assert row.cells[1].relations == [DIFFERENT, EXACT, DIFFERENT]
    assert row.cells[2].relations == []
