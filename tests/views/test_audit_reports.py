"""Reports on a small hand-made history whose numbers are worked out by hand below."""

from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from matches.selectors.reports import ReportFilters, agreement_by_steward, decisions_per_week, reversal_rates
from matches.services.decisions import decision_undo, group_merge_approve, group_reject, group_reopen
from tests.audit_scenarios import IDS, cache_profiles, run_with_groups
from tests.factories import at_time, hex_id

WEEK1 = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday
WEEK2 = datetime(2026, 3, 10, 10, tzinfo=UTC)


@pytest.fixture
def history(domain, steward, steward2, admin):
    ids = [hex_id(500 + i) for i in range(12)]
    # Policy: merge >= 0.95, reject < 0.6.
    _, (g_merge, g_merge2, g_reject, g_review, g_bulk) = run_with_groups(
        domain, [(ids[0:2], 0.97), (ids[2:4], 0.96), (ids[4:6], 0.5), (ids[6:8], 0.8), (ids[8:10], 0.99)]
    )
    cache_profiles(domain, ids + IDS)
    with at_time(WEEK1):
        merge = group_merge_approve(group=g_merge, actor=steward, main_profile_id=g_merge.profile_ids[0])
        group_reject(group=g_merge2, actor=steward)  # against the merge queue's suggestion
        reject = group_reject(group=g_reject, actor=steward2)  # follows the reject queue
    with at_time(WEEK2):
        decision_undo(decision=merge, actor=steward)
        group_reject(group=g_review, actor=steward2)  # review: no suggestion
        group_merge_approve(group=g_bulk, actor=admin, main_profile_id=g_bulk.profile_ids[0], bulk=True)
        group_reopen(group=g_reject, actor=admin)
    assert reject.bucket == "reject"


def _table(rows, key):
    return {r[key]: {k: v for k, v in r.items() if k != key} for r in rows}


def test_decisions_per_week_by_queue_and_person(history):
    f = ReportFilters()
    by_bucket = {(r["week"].date(), r["bucket"]): r["n"] for r in decisions_per_week(f, by="bucket")}
    assert by_bucket == {
        (date(2026, 3, 2), "merge"): 2,
        (date(2026, 3, 2), "reject"): 1,
        (date(2026, 3, 9), "merge"): 2,  # the undo (0.97) and the bulk merge (0.99)
        (date(2026, 3, 9), "review"): 1,
        (date(2026, 3, 9), "reject"): 1,  # the reopen (0.5)
    }
    by_person = {(r["week"].date(), r["actor__username"]): r["n"] for r in decisions_per_week(f, by="actor__username")}
    assert by_person == {
        (date(2026, 3, 2), "steward"): 2,
        (date(2026, 3, 2), "steward2"): 1,
        (date(2026, 3, 9), "admin"): 2,
        (date(2026, 3, 9), "steward"): 1,
        (date(2026, 3, 9), "steward2"): 1,
    }


def test_agreement_with_the_queue_leaves_out_bulk_and_review(history):
    rows = _table(agreement_by_steward(ReportFilters()), "actor__username")
    assert rows == {
        "steward": {
            "decided": 2,
            "merge_queue": 2,
            "merge_agreed": 1,
            "reject_queue": 0,
            "reject_agreed": 0,
            "review_queue": 0,
        },
        "steward2": {
            "decided": 2,
            "merge_queue": 0,
            "merge_agreed": 0,
            "reject_queue": 1,
            "reject_agreed": 1,
            "review_queue": 1,
        },
    }


def test_undo_and_reopen_rates(history):
    rows = _table(reversal_rates(ReportFilters()), "actor__username")
    assert rows == {
        "admin": {"merges": 1, "undone": 0, "rejects": 0, "reopened": 0},
        "steward": {"merges": 1, "undone": 1, "rejects": 1, "reopened": 0},
        "steward2": {"merges": 0, "undone": 0, "rejects": 2, "reopened": 1},
    }


def test_report_filters_by_date_and_domain(history):
    week2 = ReportFilters(date_from=date(2026, 3, 9))
    assert {r["actor__username"] for r in agreement_by_steward(week2)} == {"steward2"}
    assert decisions_per_week(ReportFilters(domain="elsewhere"), by="bucket") == []


def test_reports_page_shows_the_rates_and_a_chart(login, auditor, history, django_assert_max_num_queries):
    client = login(auditor)
    # 13: the session (read from Postgres since issue 14) and the approvals section (issue 15: two constant queries);
    # 15: reviewer quality and the overdue counts (issue 15, items 5 and 6: one constant query each).
    with django_assert_max_num_queries(15):
        body = client.get(reverse("audit-reports")).content.decode()
    assert '<th class="num" id="merge-agreement">1 (50%)</th>' in body
    assert '<th class="num" id="reject-agreement">1 (100%)</th>' in body
    assert '<th class="num" id="undo-rate">1 (50%)</th>' in body
    assert '<th class="num" id="reopen-rate">1 (33%)</th>' in body
    assert "<svg" in body and body.count("<rect") == 5  # week 1: merge+reject, week 2: merge+review+reject
    from matches.selectors.reports import qa_sample_model

    expected = (
        "QA samples are not part of this build yet." if qa_sample_model() is None else "No QA sample in this period."
    )
    assert expected in body


def test_weekly_matrix_keeps_the_latest_weeks():
    from matches.audit_display import weekly_matrix

    rows = [
        {"week": datetime(2026, 1, 5, tzinfo=UTC).replace(day=5 + 7 * i), "bucket": "merge", "n": i} for i in range(4)
    ]
    matrix = weekly_matrix(rows, by="bucket", max_weeks=2)
    assert [w.day for w in matrix["weeks"]] == [19, 26]
    assert matrix["rows"] == [{"key": "merge", "counts": [2, 3], "total": 5}]
    assert matrix["hidden_weeks"] == 2


def test_qa_sample_results_against_the_sampled_queue(login, auditor, domain, steward, admin):
    from matches.selectors.reports import qa_sample_model, qa_sample_results

    sample_model = qa_sample_model()
    if sample_model is None:
        pytest.skip("QA samples are not part of this build")
    from django.apps import apps

    ids = [hex_id(700 + i) for i in range(6)]
    run, groups = run_with_groups(domain, [(ids[0:2], 0.97), (ids[2:4], 0.98), (ids[4:6], 0.99)])
    sample = sample_model.objects.create(
        domain=domain, run=run, queue="merge", rate="0.0300", seed=42, size=3, population=3, created_by=admin
    )
    for g in groups:
        apps.get_model("matches", "QASampleItem").objects.create(sample=sample, group=g)
    group_merge_approve(group=groups[0], actor=steward, main_profile_id=groups[0].profile_ids[0])
    group_reject(group=groups[1], actor=steward)
    (row,) = qa_sample_results(ReportFilters())
    assert {k: row[k] for k in ("items", "decided", "merged", "split", "rejected", "agreed", "pending")} == {
        "items": 3,
        "decided": 2,
        "merged": 1,
        "split": 0,
        "rejected": 1,
        "agreed": 1,
        "pending": 1,
    }
    body = login(auditor).get(reverse("audit-reports")).content.decode()
    assert f'id="qa-{sample.pk}"' in body and '<strong>1</strong> <span class="muted">(50%)</span>' in body
