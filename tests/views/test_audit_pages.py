"""The audit log page: roles, every filter, keyset pages, chain verification."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from matches.models import AuditEvent
from matches.services.audit import audit_log_atomic
from tests.factories import DomainFactory, at_time, hex_id

P1, P2, P3 = hex_id(1), hex_id(2), hex_id(3)

AUDIT_URLS = [
    reverse("audit"),
    reverse("audit-reports"),
    reverse("audit-export-events"),
    reverse("audit-export-decisions"),
    f"/profiles/demo/{P1}/",
]


def _event(actor, action, *, domain="demo", when=None, object_type="group", object_id=1, **details):
    with at_time(when):
        return audit_log_atomic(
            actor=actor, action=action, object_type=object_type, object_id=object_id, domain=domain, details=details
        )


@pytest.fixture
def events(admin, steward, domain):
    DomainFactory(name="other")
    return {
        "merge": _event(
            admin, "decision.merge", when=datetime(2026, 3, 2, 10, tzinfo=UTC), match_id="m-1", profile_ids=[P1, P2]
        ),
        "reject": _event(
            steward,
            "decision.reject",
            domain="other",
            when=datetime(2026, 3, 9, 10, tzinfo=UTC),
            match_id="m-2",
            profile_ids=[P3],
            object_id=2,
        ),
        "claim": _event(steward, "group.claimed", when=datetime(2026, 3, 10, 23, 59, tzinfo=UTC), match_id="m-1"),
        "erase": _event(
            admin,
            "profile.erased",
            when=datetime(2026, 3, 20, tzinfo=UTC),
            object_type="profile",
            object_id=P1,
            profile_id=P1,
            reason="DSR-1",
        ),
    }


def _seqs(response):
    """Seqs on the page, leaving out the login events the test client's own logins wrote."""
    return [e.seq for e in response.context["page"].events if not e.action.startswith("auth.")]


def test_steward_and_outsider_are_refused_and_anonymous_goes_to_login(client, login, steward, outsider, domain):
    for url in AUDIT_URLS:
        client.logout()
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
        assert login(steward).get(url).status_code == 403, url
        assert login(outsider).get(url).status_code == 403, url


def test_auditor_and_admin_can_read(login, auditor, admin, domain):
    for url in AUDIT_URLS:
        assert login(auditor).get(url).status_code == 200, url
        assert login(admin).get(url).status_code == 200, url


FILTER_CASES = [
    ({}, ["erase", "claim", "reject", "merge"]),
    ({"actor": "steward"}, ["claim", "reject"]),
    ({"actor": "nobody"}, []),
    ({"action": "decision."}, ["reject", "merge"]),
    ({"action": "decision.merge"}, ["merge"]),
    ({"domain": "other"}, ["reject"]),
    ({"date_from": "2026-03-09", "date_to": "2026-03-10"}, ["claim", "reject"]),
    ({"date_to": "2026-03-08"}, ["merge"]),
    ({"match_id": "m-1"}, ["claim", "merge"]),
    ({"profile_id": P1}, ["erase", "merge"]),
    ({"profile_id": P1.upper()}, ["erase", "merge"]),
    ({"profile_id": P3, "action": "decision."}, ["reject"]),
    ({"group": "2"}, ["reject"]),
]


def test_each_filter_narrows_the_log(login, auditor, events):
    client = login(auditor)
    for params, expected in FILTER_CASES:
        response = client.get(reverse("audit"), params)
        assert response.status_code == 200
        assert _seqs(response) == [events[name].seq for name in expected], params


def test_an_invalid_filter_shows_the_error_and_no_events(login, auditor, events):
    response = login(auditor).get(reverse("audit"), {"profile_id": "not-an-id"})
    assert _seqs(response) == []
    assert "32 lowercase hex" in response.content.decode()


def test_profile_filter_uses_the_gin_index_on_details(events):
    from django.db import connection

    from matches.selectors.audit import AuditFilters, audit_events

    qs = audit_events(AuditFilters(profile_id=P1))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = qs.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "audit_details" in plan


def test_pages_are_keyset_on_seq_with_an_older_link(login, auditor, db):
    for i in range(120):
        _event(None, "test.event", object_id=i, i=i)
    client = login(auditor)
    first = client.get(reverse("audit"))
    # seq 121 is the auditor's own login.
    assert _seqs(first) == list(range(120, 71, -1))
    older = first.context["page"].older_than
    assert older == 72
    assert f"before={older}" in first.content.decode()
    second = client.get(reverse("audit"), {"before": older})
    assert _seqs(second) == list(range(71, 21, -1))
    third = client.get(reverse("audit"), {"before": second.context["page"].older_than})
    assert _seqs(third) == list(range(21, 0, -1))
    assert third.context["page"].older_than is None
    assert "end of the log" in third.content.decode()


def test_the_page_does_not_grow_queries_with_rows(login, auditor, events, django_assert_max_num_queries):
    client = login(auditor)
    with django_assert_max_num_queries(12):
        client.get(reverse("audit"))


def test_entries_link_to_their_group_and_profiles(login, auditor, events):
    body = login(auditor).get(reverse("audit")).content.decode()
    assert 'href="/groups/1/"' in body
    assert f'href="/profiles/demo/{P1}/"' in body
    assert f'href="/profiles/other/{P3}/"' in body


def test_customer_text_in_details_is_escaped(login, auditor, domain):
    _event(None, "comment.added", reason="<script>alert(1)</script>")
    body = login(auditor).get(reverse("audit")).content.decode()
    assert "<script>alert(1)" not in body
    assert "&lt;script&gt;" in body


def test_verify_runs_the_chain_check_and_is_audited(login, auditor, events):
    response = login(auditor).post(reverse("audit-verify"), follow=True)
    assert "Audit chain intact: 5 events verified." in response.content.decode()
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.actor_name, event.details) == ("audit.verified", "auditor", {"ok": True, "checked": 5})
    assert "chain intact" in response.content.decode()


def test_verify_names_the_first_bad_event(login, admin, events):
    import pgtrigger

    with pgtrigger.ignore("matches.AuditEvent:append_only"):
        AuditEvent.objects.filter(seq=2).update(action="decision.merge")
    response = login(admin).post(reverse("audit-verify"), follow=True)
    assert "BROKEN at event #2" in response.content.decode()
    assert AuditEvent.objects.order_by("-seq").first().details["first_bad_seq"] == 2


def test_steward_cannot_verify(login, steward, events):
    assert login(steward).post(reverse("audit-verify")).status_code == 403
    assert not AuditEvent.objects.filter(action="audit.verified").exists()


def test_htmx_filter_request_gets_only_the_events_partial(login, auditor, events):
    response = login(auditor).get(
        reverse("audit"), {"action": "decision."}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="events"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="events">')
    assert "<html" not in body and "audit-filters" not in body
    assert "action=decision." in body  # the export links carry the new filters
    rows = re.findall(r'<tr id="event-(\d+)"', body)
    assert rows == [str(events["reject"].seq), str(events["merge"].seq)]
