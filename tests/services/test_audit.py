import threading

import pgtrigger
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from matches.models import AuditEvent, Decision
from matches.services.audit import GENESIS_HASH, audit_log, audit_log_atomic, verify_chain
from tests.factories import MatchGroupFactory


def _events(n, actor=None):
    for i in range(n):
        audit_log_atomic(actor=actor, action="test.event", object_type="thing", object_id=i, details={"i": i, "s": "é"})


def test_events_form_an_unbroken_chain(db, admin):
    _events(5, actor=admin)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(events, events[1:]))
    assert events[0].actor_name == "admin"
    assert verify_chain() == (5, None)


@pytest.mark.django_db(transaction=True)
def test_audit_log_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_log(action="x", object_type="y", object_id=1)
    assert AuditEvent.objects.count() == 0


def test_raw_sql_update_and_delete_of_audit_events_fail(db):
    _events(2)
    for statement in (
        "UPDATE matches_auditevent SET action = 'forged' WHERE seq = 1",
        "DELETE FROM matches_auditevent WHERE seq = 2",
    ):
        with pytest.raises(DatabaseError, match="Cannot"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.get(seq=1).action == "test.event"
    assert AuditEvent.objects.count() == 2


def test_raw_sql_update_and_delete_of_decisions_fail(db, steward):
    group = MatchGroupFactory()
    decision = Decision.objects.create(
        group=group, action="reject", actor=steward, confidence_score=0.5, bucket="reject"
    )
    for statement in (
        f"UPDATE matches_decision SET action = 'merge' WHERE id = {decision.pk}",
        f"DELETE FROM matches_decision WHERE id = {decision.pk}",
    ):
        with pytest.raises(DatabaseError, match="Cannot"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    decision.refresh_from_db()
    assert decision.action == "reject"


def test_a_changed_byte_in_an_old_event_fails_verification_and_is_named(db):
    _events(6)
    with pgtrigger.ignore("matches.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=3).update(details={"i": 3, "s": "e"})  # é became e
    checked, problem = verify_chain()
    assert checked == 2
    assert problem.seq == 3
    with pytest.raises(CommandError, match="#3"):
        call_command("verify_audit")


def test_a_deleted_middle_event_breaks_the_chain(db):
    _events(4)
    with pgtrigger.ignore("matches.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=2).delete()
    _, problem = verify_chain()
    assert problem.seq == 3
    assert "gap" in problem.reason


def test_a_chain_rehashed_without_the_key_does_not_verify(db, settings):
    _events(3)
    settings.AUDIT_HMAC_KEY = "someone-without-the-real-key"
    _, problem = verify_chain()
    assert problem.seq == 1


def test_verify_audit_command_passes_on_an_intact_chain(db, capsys):
    _events(3)
    call_command("verify_audit")
    assert "3 events verified" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_produce_one_unbroken_chain():
    errors = []

    def writer(tag):
        try:
            for i in range(40):
                audit_log_atomic(action="test.concurrent", object_type=tag, object_id=i)
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AuditEvent.objects.count() == 160
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, 161))
    assert verify_chain() == (160, None)
