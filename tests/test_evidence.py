"""The threshold evidence against numbers worked out by hand (z = 1.96, z² = 3.8416)."""

from decimal import Decimal

import pytest

from matches import evidence as ev


def test_wilson_interval_matches_the_hand_computed_values():
    # 45 of 50: p = 0.9, denominator 1 + 3.8416/50 = 1.076832, centre 0.938416/1.076832 = 0.871460,
    # half-width 1.96 * sqrt(0.0018 + 0.000384160) / 1.076832 = 0.085066.
    lower, upper = ev.wilson(45, 50)
    assert lower == pytest.approx(0.786394, abs=1e-5)
    assert upper == pytest.approx(0.956526, abs=1e-5)
    # All merged: the lower bound is n / (n + z²).
    assert ev.wilson(100, 100)[0] == pytest.approx(100 / 103.8416, abs=1e-9)
    assert ev.wilson(100, 100)[1] == 1.0
    # None merged: the upper bound is z² / (n + z²).
    assert ev.wilson(0, 100) == (0.0, pytest.approx(3.8416 / 103.8416, abs=1e-9))
    assert ev.wilson(0, 0) == (0.0, 1.0)


def test_scores_fall_into_0_05_bands_with_1_in_the_top_band():
    assert ev.band_index(0.0) == 0
    assert ev.band_index(0.0499) == 0
    assert ev.band_index(0.05) == 1
    assert ev.band_index(0.15) == 3  # 0.15 * 1000 is 150.00000000000003 in binary floating point, 149.99 elsewhere
    assert ev.band_index(0.95) == 19
    assert ev.band_index(1.0) == 19


def _pairs(lo: float, n: int, merged: int) -> list[tuple[float, bool]]:
    return [(lo + 0.01, i < merged) for i in range(n)]


def test_suggestions_need_enough_decisions_in_every_band_on_their_side():
    pairs = (
        _pairs(0.95, 100, 100)  # lower 0.96299 >= 0.95
        + _pairs(0.90, 100, 100)  # same
        + _pairs(0.85, 29, 29)  # too few decisions: the merge suggestion stops above this band
        + _pairs(0.80, 200, 200)  # would qualify, but the band above it does not
        + _pairs(0.50, 40, 20)
        + _pairs(0.05, 100, 1)  # p = 0.01: upper 0.028127 + 0.026360 = 0.054487 > 0.05
        + _pairs(0.00, 100, 0)  # upper 3.8416 / 103.8416 = 0.036995 <= 0.05
    )
    result = ev.evidence(pairs, target=0.95)
    assert result.decided == 669
    by_lo = {b.lo: b for b in result.bands}
    assert (by_lo[Decimal("0.9")].n, by_lo[Decimal("0.9")].merged) == (100, 100)
    assert by_lo[Decimal("0.05")].upper == pytest.approx(0.054487, abs=1e-5)
    # 20 of 40: centre 0.5, half-width 1.96 * sqrt(0.00625 + 0.00060025) / 1.09604 = 0.148008.
    assert by_lo[Decimal("0.5")].lower == pytest.approx(0.351992, abs=1e-5)
    assert result.merge_min == Decimal("0.9")
    assert result.reject_below == Decimal("0.05")


def test_the_default_target_of_99_percent_needs_about_380_unanimous_decisions_per_band():
    # 380 of 380 merged: lower bound 380 / 383.8416 = 0.98999 < 0.99; 381 of 381: 381 / 384.8416 = 0.990018.
    assert ev.evidence(_pairs(0.95, 380, 380)).merge_min is None
    assert ev.evidence(_pairs(0.95, 381, 381)).merge_min == Decimal("0.95")
    assert ev.evidence(_pairs(0.00, 381, 0)).reject_below == Decimal("0.05")
    assert ev.evidence([]).merge_min is None and ev.evidence([]).reject_below is None
