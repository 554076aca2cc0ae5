"""The REST API: bearer tokens only, roles as in the browser, the domain hook, keyset pages, decisions through the
same services (same refusals, same audit events)."""

from __future__ import annotations

import pytest
from django.test import Client

from matches.models import AuditEvent, Decision, Domain, MatchGroup, MatchRun, MergeJob, RunScoreBin
from matches.services import api_tokens, decisions
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, UserFactory

API = "/api/v1"


def bearer(user) -> dict[str, str]:
    _, secret = api_tokens.token_create(actor=user, name="test")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def open_group(domain):
    run = MatchRunFactory(domain=domain)
    group = MatchGroupFactory(run=run, confidence_score=0.8)
    for pid in group.profile_ids:
        ProfileFactory(domain=domain, profile_id=pid)
    return group


def test_the_openapi_document_describes_every_endpoint(client, db):
    doc = client.get(f"{API}/openapi.json").json()
    assert doc["info"]["title"] == "Matchdesk API"
    assert {"/api/v1/domains", "/api/v1/groups/{pk}/decisions", "/api/v1/audit/events"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def test_no_token_a_wrong_one_or_a_session_cookie_gets_401(client, steward, domain):
    assert client.get(f"{API}/domains").status_code == 401
    assert client.get(f"{API}/domains", headers={"Authorization": "Bearer mdk_00000000_nope"}).status_code == 401
    client.force_login(steward)  # a browser session is not an API login
    assert client.get(f"{API}/domains").status_code == 401


def test_a_token_write_needs_no_csrf_token_and_a_cookie_cannot_write(steward, open_group):
    strict = Client(enforce_csrf_checks=True)
    url = f"{API}/groups/{open_group.pk}/claim"
    assert strict.post(url, headers=bearer(steward)).status_code == 200
    strict.force_login(steward)
    assert strict.post(url).status_code == 401


def test_domains_answer_with_queue_counts_from_the_histogram(steward, domain):
    run = MatchRunFactory(domain=domain)
    RunScoreBin.objects.create(run=run, bin=980, total=2, open=2)
    RunScoreBin.objects.create(run=run, bin=800, total=5, open=3)
    body = Client().get(f"{API}/domains", headers=bearer(steward)).json()
    assert body == [
        {
            "name": "demo",
            "region": domain.region,
            "enabled": True,
            "merges_paused": False,
            "undo_window_seconds": domain.undo_window_seconds,
            "policy": {"merge_min": 0.95, "reject_below": 0.6},
            "queues": {"run_id": run.pk, "merge": 2, "review": 3, "reject": 0},
        }
    ]


@pytest.mark.parametrize(
    ("persona", "path", "status"),
    [
        ("outsider", "/domains", 403),
        ("auditor", "/domains", 200),
        ("steward", "/audit/events", 403),
        ("auditor", "/audit/events", 200),
        ("admin", "/audit/events", 200),
    ],
)
def test_reads_follow_the_roles(request, persona, path, status, domain):
    user = request.getfixturevalue(persona)
    assert Client().get(f"{API}{path}", headers=bearer(user)).status_code == status


def test_an_auditor_cannot_claim_or_decide(auditor, open_group):
    headers = bearer(auditor)
    assert Client().post(f"{API}/groups/{open_group.pk}/claim", headers=headers).status_code == 403
    answer = Client().post(
        f"{API}/groups/{open_group.pk}/decisions",
        {"action": "reject"},
        content_type="application/json",
        headers=headers,
    )
    assert answer.status_code == 403 and not Decision.objects.exists()


def test_a_merge_decided_through_the_api_is_the_browsers_decision(steward, open_group):
    main = open_group.profile_ids[1]
    answer = Client().post(
        f"{API}/groups/{open_group.pk}/decisions",
        {"action": "merge", "main_profile_id": main, "reason": "same person"},
        content_type="application/json",
        headers=bearer(steward),
    )

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    decision = Decision.objects.get(pk=body["id"])
    assert decision.actor == steward and decision.main_profile_id == main and decision.reason == "same person"
    assert body["merge_job_status"] == MergeJob.Status.SCHEDULED and body["actor"] == "steward"
    assert AuditEvent.objects.filter(action="decision.merge", details__decision_id=decision.pk).count() == 1
    open_group.refresh_from_db()
    assert open_group.status == "approved"


def test_a_second_decision_is_refused_with_who_decided(steward, steward2, open_group):
    decisions.group_reject(group=open_group, actor=steward2, reason="")
    answer = Client().post(
        f"{API}/groups/{open_group.pk}/decisions",
        {"action": "reject"},
        content_type="application/json",
        headers=bearer(steward),
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "AlreadyDecided" and "steward2" in answer.json()["detail"]


def test_a_group_claimed_by_someone_else_is_refused_and_an_invalid_merge_is_400(steward, steward2, open_group):
    assert decisions.group_claim(group=open_group, actor=steward2)
    headers = bearer(steward)
    claim = Client().post(f"{API}/groups/{open_group.pk}/claim", headers=headers).json()
    assert claim == {"claimed": False, "claimed_by": "steward2", "claimed_until": claim["claimed_until"]}
    held = Client().post(
        f"{API}/groups/{open_group.pk}/decisions",
        {"action": "reject"},
        content_type="application/json",
        headers=headers,
    )
    assert held.status_code == 409 and held.json()["code"] == "HeldByOther"

    decisions.group_release(group=open_group, actor=steward2)
    bad = Client().post(
        f"{API}/groups/{open_group.pk}/decisions",
        {"action": "merge", "main_profile_id": "f" * 32},
        content_type="application/json",
        headers=headers,
    )
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidDecision"


def test_a_merge_can_be_undone_through_the_api(steward, open_group):
    headers = bearer(steward)
    decision = decisions.group_merge_approve(group=open_group, actor=steward, main_profile_id=open_group.profile_ids[0])
    answer = Client().post(
        f"{API}/decisions/{decision.pk}/undo", {"reason": "oops"}, content_type="application/json", headers=headers
    )
    assert answer.status_code == 201 and answer.json()["action"] == "undo"
    assert answer.json()["reverts_id"] == decision.pk


def test_a_group_answers_with_its_profiles_and_decisions(steward, open_group):
    body = Client().get(f"{API}/groups/{open_group.pk}", headers=bearer(steward)).json()
    assert [p["profile_id"] for p in body["profiles"]] == list(open_group.profile_ids)
    assert body["profiles"][0]["attributes"]["FirstName"] == "Ann"
    assert body["queue"] == "review" and body["decisions"] == []
    assert (body["source"], body["rule_level"], body["both_engines"]) == ("aws_ml", None, False)


def test_a_rule_based_group_answers_its_rule_level_and_queue(steward, domain):
    run = MatchRunFactory(domain=domain)
    Domain.objects.filter(pk=domain.pk).update(rule_merge_max_level=1)
    group = MatchGroupFactory(run=run, source=MatchGroup.Source.RULE_BASED, rule_level=1, confidence_score=None)
    body = Client().get(f"{API}/groups/{group.pk}", headers=bearer(steward)).json()
    assert (body["source"], body["rule_level"], body["confidence_score"]) == ("rule_based", 1, None)
    assert body["queue"] == "merge"


def test_runs_come_in_keyset_pages_with_progress(steward, domain):
    runs = [MatchRunFactory(domain=domain) for _ in range(4)]
    running = MatchRunFactory(domain=domain, status=MatchRun.Status.RUNNING, groups_seen=50, potential_matches=200)
    headers = bearer(steward)
    seen, after = [], None
    for _ in range(5):
        params = {"limit": 2, **({"after": after} if after else {})}
        body = Client().get(f"{API}/domains/demo/runs", params, headers=headers).json()
        seen += [item["id"] for item in body["items"]]
        if body["next"] is None:
            break
        after = body["next"]
    assert seen == [running.pk, *reversed([r.pk for r in runs])]
    first = Client().get(f"{API}/domains/demo/runs", {"limit": 1}, headers=headers).json()["items"][0]
    assert first["progress"] == 0.25 and first["status"] == "running"


def test_groups_page_by_score_and_a_malformed_cursor_is_refused(steward, domain):
    run = MatchRunFactory(domain=domain)
    scores = [0.99, 0.8, 0.8, 0.7, 0.3]
    groups = [MatchGroupFactory(run=run, confidence_score=s) for s in scores]
    headers = bearer(steward)
    ids, after = [], None
    while True:
        params = {"limit": 2, "queue": "review", **({"after": after} if after else {})}
        body = Client().get(f"{API}/domains/demo/groups", params, headers=headers).json()
        ids += [g["id"] for g in body["items"]]
        if not body["next"]:
            break
        after = body["next"]
    assert ids == [groups[2].pk, groups[1].pk, groups[3].pk]
    bad = Client().get(f"{API}/domains/demo/groups", {"after": "2:"}, headers=headers)
    assert bad.status_code == 422
    unknown = Client().get(f"{API}/domains/demo/groups", {"sort": "id"}, headers=headers)
    assert unknown.status_code == 400 and unknown.json()["code"] == "UnknownParameter"


def test_groups_of_a_superseded_or_carrying_over_run_are_not_open_through_the_api(steward, domain):
    """docs/architecture.md, "Completion": an open group of a superseded run reads as superseded before its row is
    rewritten, a run still carrying over is not listed, and neither takes a decision."""
    old = MatchRunFactory(domain=domain, status=MatchRun.Status.SUPERSEDED)
    carrying = MatchRunFactory(domain=domain, status=MatchRun.Status.CARRYING_OVER)
    waiting = MatchGroupFactory(run=old, confidence_score=0.8)
    hidden = MatchGroupFactory(run=carrying, confidence_score=0.8)
    headers = bearer(steward)

    shown = Client().get(f"{API}/groups/{waiting.pk}", headers=headers).json()
    assert shown["status"] == "superseded" and "newer pull" in shown["status_reason"]
    listed = Client().get(f"{API}/domains/demo/groups", {"queue": "review"}, headers=headers).json()
    assert listed["items"] == []
    for group, why in ((waiting, "older run"), (hidden, "carried over")):
        answer = Client().post(
            f"{API}/groups/{group.pk}/decisions",
            {"action": "reject"},
            content_type="application/json",
            headers=headers,
        )
        assert answer.status_code == 409 and why in answer.json()["detail"]
    assert not Decision.objects.filter(group__in=[waiting, hidden]).exists()


def test_audit_events_come_newest_first_in_keyset_pages(auditor, steward):
    for n in range(3):
        api_tokens.token_create(actor=steward, name=f"t{n}")
    headers = bearer(auditor)
    first = Client().get(f"{API}/audit/events", {"limit": 2}, headers=headers).json()
    second = Client().get(f"{API}/audit/events", {"limit": 2, "after": first["next"]}, headers=headers).json()
    seqs = [e["seq"] for e in first["items"] + second["items"]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 4


def test_the_domain_hook_scopes_every_answer(steward, domain, monkeypatch):
    from matches import access
    from matches.models import Domain

    other = DomainFactory(name="hidden")
    group = MatchGroupFactory(run=MatchRunFactory(domain=other))
    monkeypatch.setattr(access, "visible_domains", lambda user: Domain.objects.filter(name="demo"))
    headers = bearer(steward)
    assert [d["name"] for d in Client().get(f"{API}/domains", headers=headers).json()] == ["demo"]
    assert Client().get(f"{API}/domains/hidden/runs", headers=headers).status_code == 404
    assert Client().get(f"{API}/groups/{group.pk}", headers=headers).status_code == 404
    assert Client().post(f"{API}/groups/{group.pk}/claim", headers=headers).status_code == 404


def test_a_deactivated_users_token_stops_working(steward, admin, domain):
    from matches.services import users

    headers = bearer(steward)
    assert Client().get(f"{API}/domains", headers=headers).status_code == 200
    users.user_set_active(actor=admin, user=steward, active=False)
    assert Client().get(f"{API}/domains", headers=headers).status_code == 401


def test_a_user_without_role_holds_a_token_but_reads_nothing(db):
    nobody = UserFactory(username="nobody")
    assert Client().get(f"{API}/decisions", headers=bearer(nobody)).status_code == 403
