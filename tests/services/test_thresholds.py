from decimal import Decimal

import pytest

from matches.models import AuditEvent, MatchGroup, ThresholdPolicy
from matches.selectors.admin import score_chart, threshold_preview
from matches.services.decisions import group_reject
from matches.services.thresholds import ThresholdInvalid, threshold_parse, threshold_set
from tests.admin_helpers import run_with_scores


@pytest.mark.parametrize(
    ("merge", "reject", "message"),
    [
        ("0.9", "0.95", "cannot be higher than merge from"),
        ("1.2", "0.5", "between 0 and 1"),
        ("0.9", "-0.1", "between 0 and 1"),
        ("0.9555", "0.5", "at most three decimals"),
        ("abc", "0.5", "must be a number"),
        ("NaN", "0.5", "must be a number"),
        ("", "0.5", "must be a number"),
    ],
)
def test_invalid_thresholds_are_refused_with_a_clear_message(merge, reject, message):
    with pytest.raises(ThresholdInvalid, match=message):
        threshold_parse(merge_min=merge, reject_below=reject)


def test_edges_are_valid_and_trailing_zeros_are_not_extra_decimals():
    assert threshold_parse(merge_min="1", reject_below="0") == (Decimal("1.000"), Decimal("0.000"))
    assert threshold_parse(merge_min="0.5", reject_below="0.5") == (Decimal("0.500"), Decimal("0.500"))
    assert threshold_parse(merge_min="0.95000", reject_below=" 0.6 ") == (Decimal("0.950"), Decimal("0.600"))


def test_a_change_appends_a_policy_and_an_audit_event(domain, admin):
    first = domain.policy()
    policy = threshold_set(actor=admin, domain=domain, merge_min="0.97", reject_below="0.55", note="QA looked good")
    assert domain.policy() == policy
    assert ThresholdPolicy.objects.filter(domain=domain).count() == 2
    assert ThresholdPolicy.objects.filter(pk=first.pk).exists()  # append-only: the old row stays
    event = AuditEvent.objects.get(action="threshold.changed")
    assert event.actor == admin and event.domain == "demo"
    assert event.details["merge_min"] == "0.970" and event.details["reject_below"] == "0.550"
    assert event.details["before"] == {"merge_min": "0.950", "reject_below": "0.600"}
    assert event.details["note"] == "QA looked good"


def test_an_invalid_change_writes_nothing(domain, admin):
    with pytest.raises(ThresholdInvalid):
        threshold_set(actor=admin, domain=domain, merge_min="0.5", reject_below="0.7")
    assert ThresholdPolicy.objects.filter(domain=domain).count() == 1
    assert not AuditEvent.objects.exists()


def _direct_counts(run, merge_min: Decimal, reject_below: Decimal) -> dict:
    open_ = MatchGroup.objects.filter(run=run, status=MatchGroup.Status.OPEN)
    return {
        "merge": open_.filter(confidence_score__gte=float(merge_min)).count(),
        "review": open_.filter(
            confidence_score__gte=float(reject_below), confidence_score__lt=float(merge_min)
        ).count(),
        "reject": open_.filter(confidence_score__lt=float(reject_below)).count(),
    }


@pytest.mark.parametrize(
    ("merge", "reject"),
    [("0.95", "0.6"), ("0.9", "0.15"), ("0.955", "0.3"), ("1", "0"), ("0.5", "0.5"), ("0.801", "0.799")],
)
def test_preview_counts_equal_a_direct_count_of_the_open_groups(domain, steward, merge, reject):
    scores = [0.0, 0.1, 0.15, 0.29, 0.3, 0.5, 0.6, 0.799, 0.8, 0.801, 0.9, 0.95, 0.955, 0.9549, 0.99, 1.0, 1.0]
    run, groups = run_with_scores(domain, scores)
    run_with_scores(domain, [0.97, 0.2], status="superseded")  # another run: must not be counted
    group_reject(group=groups[-1], actor=steward)  # decided: no longer open
    group_reject(group=groups[1], actor=steward)
    merge_min, reject_below = threshold_parse(merge_min=merge, reject_below=reject)
    preview = threshold_preview(domain=domain, merge_min=merge_min, reject_below=reject_below)
    after = preview.after
    assert {"merge": after.merge, "review": after.review, "reject": after.reject} == _direct_counts(
        run, merge_min, reject_below
    )
    before = preview.before
    assert {"merge": before.merge, "review": before.review, "reject": before.reject} == _direct_counts(
        run, Decimal("0.95"), Decimal("0.6")
    )
    assert after.total == len(scores) - 2


def test_the_chart_colours_each_bar_by_queue_and_draws_both_lines(domain):
    run, _ = run_with_scores(domain, [0.12, 0.12, 0.655, 0.659, 0.97])
    chart = score_chart(run=run, merge_min=Decimal("0.9"), reject_below=Decimal("0.657"))
    stacks = {b["title"].split(":")[0]: {s["queue"]: s["n"] for s in b["segments"]} for b in chart["bars"]}
    assert stacks == {
        "0.120–0.130": {"reject": 2},
        "0.650–0.660": {"reject": 1, "review": 1},  # the line at 0.657 splits this bar
        "0.970–0.980": {"merge": 1},
    }
    assert [line["queue"] for line in chart["lines"]] == ["reject", "merge"]
    merge_line = chart["lines"][1]
    assert merge_line["x"] == pytest.approx(chart["plot"]["x"] + chart["plot"]["w"] * 0.9)


def test_a_note_over_2000_characters_is_refused_not_cut(admin, domain):
    import pytest

    from matches.models import ThresholdPolicy
    from matches.services.thresholds import ThresholdInvalid, threshold_set

    before = ThresholdPolicy.objects.count()
    with pytest.raises(ThresholdInvalid, match="at most 2,000 characters; this one has 2,001"):
        threshold_set(actor=admin, domain=domain, merge_min="0.9", reject_below="0.5", note="n" * 2001)
    assert ThresholdPolicy.objects.count() == before
    assert threshold_set(actor=admin, domain=domain, merge_min="0.9", reject_below="0.5", note="n" * 2000).note
