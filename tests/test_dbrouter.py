"""Reports and exports on a read replica (reviewapp/dbrouter.py, docs/scaling.md): with a second database alias
(here pointing at the same test database, as a replica would at a copy of it) the report and export selectors read
there, a lagging replica never shortens an export, and nothing is written or migrated there."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext

from matches.models import AuditEvent, Decision
from matches.selectors.audit import AuditFilters, decisions_for_export, events_for_export
from matches.selectors.reports import ReportFilters, agreement_by_steward, approval_report, decisions_per_week
from matches.services import decisions
from reviewapp.dbrouter import REPLICA, ReplicaRouter, read_alias, read_alias_holding
from tests.factories import MatchGroupFactory


@pytest.fixture
def replica(settings, monkeypatch):
    """A second alias on the test database, as DATABASE_REPLICA_URL would add one, connected at once (the test case's
    guard refuses to open connections to aliases it was not told about; this one is opened here)."""
    conf = dict(connections[DEFAULT_DB_ALIAS].settings_dict)
    monkeypatch.setitem(settings.DATABASES, REPLICA, conf)
    wrapper = type(connections[DEFAULT_DB_ALIAS])(conf, alias=REPLICA)
    connections[REPLICA] = wrapper
    wrapper.connect()
    yield wrapper
    wrapper.close()
    del connections[REPLICA]


@pytest.fixture
def decided(steward):
    """Two committed rejects (a transactional test: the replica's connection sees only what is committed)."""
    for score in (0.3, 0.5):
        decisions.group_reject(group=MatchGroupFactory(confidence_score=score), actor=steward)


def test_without_a_replica_everything_reads_the_primary(db):
    assert read_alias() == DEFAULT_DB_ALIAS
    assert read_alias_holding(AuditEvent, seq=10**9) == DEFAULT_DB_ALIAS


@pytest.mark.django_db(transaction=True)
def test_reports_and_exports_read_the_replica(replica, decided):
    primary = connections[DEFAULT_DB_ALIAS]
    last_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    last_decision = Decision.objects.order_by("-pk").values_list("pk", flat=True).first()
    with CaptureQueriesContext(replica) as on_replica, CaptureQueriesContext(primary) as on_primary:
        weeks = decisions_per_week(ReportFilters(), by="bucket")
        agreement = agreement_by_steward(ReportFilters())
        approvals = approval_report(ReportFilters())
        events = [row for batch in events_for_export(AuditFilters(), upto_seq=last_seq) for row in batch]
        exported = [row for batch in decisions_for_export(AuditFilters(), upto_id=last_decision) for row in batch]
    assert sum(row["n"] for row in weeks) == 2
    assert agreement[0]["decided"] == 2
    assert approvals["latest"] == []
    assert [row[0] for row in events] == list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert len(exported) == 2
    assert len(on_replica.captured_queries) >= 5
    assert on_primary.captured_queries == []


@pytest.mark.django_db(transaction=True)
def test_a_lagging_replica_sends_the_export_to_the_primary(replica, decided):
    last_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    assert read_alias() == REPLICA
    assert read_alias_holding(AuditEvent, seq=last_seq) == REPLICA
    # An event the replica has not replayed yet (here: one beyond the last): the export reads the primary.
    assert read_alias_holding(AuditEvent, seq=last_seq + 1) == DEFAULT_DB_ALIAS


def test_the_router_writes_to_the_primary_and_never_migrates_the_replica():
    router = ReplicaRouter()
    assert router.db_for_write(Decision) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Decision) is None
    assert router.allow_migrate(REPLICA, "matches") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "matches") is True
