"""CSV exports: streamed in keyset batches, filtered, formula-escaped, audited before the first byte."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from matches.exports import csv_cell
from matches.models import AuditEvent, Decision
from matches.selectors import audit as selectors_audit
from matches.services.audit import audit_log_atomic
from matches.services.decisions import decision_undo, group_merge_approve, group_reject
from tests.audit_scenarios import IDS, cache_profiles, run_with_groups
from tests.factories import DomainFactory, at_time


def _read(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (0.5, "0.5"),
        (None, ""),
        (True, "true"),
        (["a", "b"], "a b"),
        ({"b": 1, "a": "=x"}, '{"a": "=x", "b": 1}'),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_quoted(value, cell):
    assert csv_cell(value) == cell


def test_events_export_streams_the_filtered_events_and_is_audited_first(login, auditor, domain):
    for i in range(5):
        audit_log_atomic(action="test.a", object_type="thing", object_id=i, domain="demo", details={"i": i})
    audit_log_atomic(action="test.b", object_type="thing", object_id="=cmd|' /C calc'!A0", domain="demo")
    audit_log_atomic(action="test.a", object_type="thing", object_id=99, domain="elsewhere")
    client = login(auditor)
    response = client.get(reverse("audit-export-events"), {"action": "test.", "domain": "demo"})
    # Written when the export starts, before a byte of the file is produced.
    started = AuditEvent.objects.get(action="export.events")
    assert started.actor_name == "auditor"
    assert started.details == {"filters": {"action": "test.", "domain": "demo"}}
    assert started.domain == "demo"
    rows = _read(response)
    assert [r["action"] for r in rows] == ["test.a"] * 5 + ["test.b"]
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), key=int)
    assert rows[-1]["object_id"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["details"] == '{"i": 0}'
    assert 'attachment; filename="matchdesk-audit-events-' in response["Content-Disposition"]


def test_events_export_comes_in_bounded_batches(login, auditor, monkeypatch, db, django_assert_num_queries):
    for i in range(7):
        audit_log_atomic(action="test.a", object_type="thing", object_id=i)
    monkeypatch.setattr(selectors_audit, "EXPORT_BATCH", 3)
    response = login(auditor).get(reverse("audit-export-events"), {"action": "test."})
    chunks = iter(response.streaming_content)
    header = next(chunks)
    assert header.startswith(b"seq,created_at,actor,action")
    # One query per batch of 3: 7 rows → 3 batches and one empty query that ends the walk.
    with django_assert_num_queries(4):
        batches = list(chunks)
    assert [chunk.count(b"\n") for chunk in batches] == [3, 3, 1]


def test_events_export_covers_up_to_its_own_audit_event(login, auditor, db):
    audit_log_atomic(action="test.a", object_type="thing", object_id=1)
    response = login(auditor).get(reverse("audit-export-events"))
    audit_log_atomic(action="test.late", object_type="thing", object_id=2)  # after the export started
    actions = [r["action"] for r in _read(response)]
    assert actions[-1] == "export.events"
    assert "test.late" not in actions


@pytest.fixture
def decided(domain, steward, steward2, admin):
    run, groups = run_with_groups(domain, [(IDS[0:2], 0.97), (IDS[2:5], 0.55), (IDS[5:7], 0.8)])
    cache_profiles(domain, IDS)
    with at_time(datetime(2026, 3, 2, 9, tzinfo=UTC)):
        merge = group_merge_approve(
            group=groups[0],
            actor=steward,
            main_profile_id=IDS[1],
            field_sources={"FirstName": IDS[0]},
            reason="=same person",
        )
    with at_time(datetime(2026, 3, 3, 9, tzinfo=UTC)):
        undo = decision_undo(decision=merge, actor=steward, reason="wrong main")
    with at_time(datetime(2026, 3, 10, 9, tzinfo=UTC)):
        reject = group_reject(group=groups[1], actor=steward2, reason="different people")
    other = DomainFactory(name="other")
    _, (g_other,) = run_with_groups(other, [(IDS[0:2], 0.9)])
    with at_time(datetime(2026, 3, 11, 9, tzinfo=UTC)):
        other_reject = group_reject(group=g_other, actor=admin)
    return {"merge": merge, "undo": undo, "reject": reject, "other": other_reject, "groups": groups}


def test_decisions_export_has_every_column_with_thresholds_at_decision_time(login, auditor, decided):
    rows = _read(login(auditor).get(reverse("audit-export-decisions"), {"domain": "demo"}))
    assert list(rows[0]) == list(selectors_audit.DECISION_EXPORT_COLUMNS)
    merge, undo, reject = rows
    group = decided["groups"][0]
    assert merge["created_at"].startswith("2026-03-02T09:00:00")
    assert (merge["domain"], merge["run"], merge["match_id"], merge["group_id"]) == (
        "demo",
        str(group.run_id),
        group.match_id,
        str(group.pk),
    )
    assert (merge["action"], merge["actor"], merge["score"], merge["bucket"]) == ("merge", "steward", "0.97", "merge")
    assert (merge["merge_min"], merge["reject_below"]) == ("0.950", "0.600")
    assert merge["main_profile"] == IDS[1]
    assert merge["merged_ids"] == IDS[0]
    assert merge["field_sources"] == f'{{"FirstName": "{IDS[0]}"}}'
    assert merge["reason"] == "'=same person"
    assert merge["bulk"] == "false"
    assert (undo["action"], undo["reverts"]) == ("undo", str(decided["merge"].pk))
    assert (reject["action"], reject["actor"], reject["bucket"]) == ("reject", "steward2", "reject")
    assert reject["excluded_ids"] == " ".join(sorted(IDS[2:5]))
    event = AuditEvent.objects.get(action="export.decisions")
    assert event.details["filters"] == {"domain": "demo"}
    assert event.details["upto_decision_id"] == Decision.objects.order_by("-id").first().pk


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, ["merge", "undo", "reject", "other"]),
        ({"domain": "other"}, ["other"]),
        ({"actor": "steward"}, ["merge", "undo"]),
        ({"action": "decision.reject"}, ["reject", "other"]),
        ({"action": "undo"}, ["undo"]),
        ({"date_from": "2026-03-03", "date_to": "2026-03-10"}, ["undo", "reject"]),
    ],
)
def test_decisions_export_filters(login, auditor, decided, params, expected):
    rows = _read(login(auditor).get(reverse("audit-export-decisions"), params))
    by_key = {
        (str(d.group_id), d.action, d.created_at.isoformat()): name for name, d in decided.items() if name != "groups"
    }
    assert [by_key[(r["group_id"], r["action"], r["created_at"])] for r in rows] == expected


def test_invalid_export_filters_are_refused_without_an_export_event(login, auditor, db):
    response = login(auditor).get(reverse("audit-export-events"), {"date_from": "2026-03-10", "date_to": "2026-03-01"})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()
