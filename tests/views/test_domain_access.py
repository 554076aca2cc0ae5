"""Per-domain access (issue 17, item 2), by role × domain: a steward or auditor limited to domain "alpha" sees
nothing of "beta" (404 on its pages, absent from lists, counts, exports, reports, audit filters and the API), and
an admin is never limited. The limit is set on the user admin page, audited."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from matches.models import AuditEvent, Decision, RunScoreBin
from matches.services import api_tokens, decisions, users
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory

API = "/api/v1"


@pytest.fixture
def world(db, admin):
    """Two domains, each with a run, an open group and a decided one (a decision and its audit events)."""
    from tests.factories import UserFactory

    out = {}
    decider = UserFactory(username="decider", roles=["Steward"])
    for name in ("alpha", "beta"):
        domain = DomainFactory(name=name)
        run = MatchRunFactory(domain=domain)
        RunScoreBin.objects.create(run=run, bin=800, total=7 if name == "beta" else 3, open=7 if name == "beta" else 3)
        open_group = MatchGroupFactory(run=run, confidence_score=0.8)
        decided = MatchGroupFactory(run=run, confidence_score=0.7)
        for g in (open_group, decided):
            for pid in g.profile_ids:
                ProfileFactory(domain=domain, profile_id=pid)
        decisions.group_reject(group=decided, actor=decider, reason=f"not the same people in {name}")
        out[name] = {"domain": domain, "run": run, "open": open_group, "decided": decided}
    return out


def limit(admin, user, *names: str) -> None:
    users.user_set_domains(actor=admin, user=user, all_domains=False, domain_names=list(names))


def pages_of(w: dict, name: str) -> dict[str, str]:
    d = w[name]
    pid = d["open"].profile_ids[0]
    return {
        "queue": reverse("queue", args=[name, "review"]),
        "group": reverse("group", args=[d["open"].pk]),
        "group-history": reverse("group-history", args=[d["decided"].pk]),
        "profile-timeline": reverse("profile-timeline", args=[name, pid]),
    }


AUDIT_PAGES = {
    "audit": reverse("audit"),
    "audit-export-events": reverse("audit-export-events"),
    "audit-export-decisions": reverse("audit-export-decisions"),
    "audit-reports": reverse("audit-reports"),
}


# Profile timelines are the auditors' (a steward gets 403 on every domain).
@pytest.mark.parametrize(
    ("persona", "page"),
    [
        *[("steward", page) for page in ("queue", "group", "group-history")],
        *[("auditor", page) for page in ("queue", "group", "group-history", "profile-timeline")],
    ],
)
def test_a_limited_user_gets_404_on_the_other_domain_and_200_on_their_own(request, login, admin, world, persona, page):
    user = request.getfixturevalue(persona)
    limit(admin, user, "alpha")
    client = login(user)
    assert client.get(pages_of(world, "alpha")[page]).status_code == 200
    assert client.get(pages_of(world, "beta")[page]).status_code == 404


@pytest.mark.parametrize("page", ["queue", "group", "group-history", "profile-timeline"])
def test_an_admin_is_never_limited(login, admin, world, page):
    limit(admin, admin, "alpha")  # a row that says alpha only: admins see every domain whatever it says
    assert login(admin).get(pages_of(world, "beta")[page]).status_code == 200


def test_a_limited_steward_cannot_claim_decide_or_take_next_in_the_other_domain(login, admin, steward, world):
    limit(admin, steward, "alpha")
    client = login(steward)
    beta = world["beta"]["open"]
    assert client.post(reverse("group-claim", args=[beta.pk])).status_code == 404
    assert client.post(reverse("group-decide", args=[beta.pk]), {"action": "reject"}).status_code == 404
    assert client.post(reverse("queue-next", args=["beta", "review"])).status_code == 404
    undo = Decision.objects.filter(group=world["beta"]["decided"]).latest("pk")
    assert client.post(reverse("decision-undo", args=[undo.pk])).status_code == 404
    assert not Decision.objects.filter(group=beta).exists()
    assert client.post(reverse("queue-next", args=["alpha", "review"])).status_code == 302


def test_the_home_page_shows_only_the_visible_domains_and_their_counts(login, admin, steward, world):
    limit(admin, steward, "alpha")
    html = login(steward).get(reverse("home")).content.decode()
    assert "alpha" in html and "beta" not in html
    assert reverse("queue", args=["beta", "review"]) not in html


def test_a_user_limited_to_no_domain_sees_none(login, admin, steward, world):
    limit(admin, steward)
    html = login(steward).get(reverse("home")).content.decode()
    assert "alpha" not in html and "beta" not in html


@pytest.mark.parametrize("page", list(AUDIT_PAGES))
def test_an_audit_filter_on_the_other_domain_is_a_404(login, admin, auditor, world, page):
    limit(admin, auditor, "alpha")
    client = login(auditor)
    assert client.get(AUDIT_PAGES[page], {"domain": "beta"}).status_code == 404
    assert client.get(AUDIT_PAGES[page], {"domain": "alpha"}).status_code == 200


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_unfiltered_audit_pages_exports_and_reports_hold_only_the_visible_domain(login, admin, auditor, world):
    limit(admin, auditor, "alpha")
    client = login(auditor)
    events = _csv(client.get(AUDIT_PAGES["audit-export-events"]))
    assert events and {e["domain"] for e in events} == {"alpha"}
    rows = _csv(client.get(AUDIT_PAGES["audit-export-decisions"]))
    assert rows and {r["domain"] for r in rows} == {"alpha"}
    export = AuditEvent.objects.filter(action="export.events").latest("seq")
    assert export.details["domains"] == ["alpha"]
    log = client.get(AUDIT_PAGES["audit"]).content.decode()
    assert "not the same people in alpha" in log or "alpha" in log
    assert "beta" not in log
    reports = client.get(AUDIT_PAGES["audit-reports"]).content.decode()
    assert "beta" not in reports
    # The admin's export holds both.
    assert {e["domain"] for e in _csv(login(admin).get(AUDIT_PAGES["audit-export-events"]))} >= {"alpha", "beta"}


def test_the_merges_and_approvals_pages_honour_the_limit(login, admin, steward, world):
    limit(admin, steward, "alpha")
    client = login(steward)
    assert client.get(reverse("merges"), {"domain": "beta"}).status_code == 404
    assert "beta" not in client.get(reverse("merges")).content.decode()
    assert client.get(reverse("approvals")).status_code == 200


def test_the_api_answers_only_the_visible_domains(admin, steward, world):
    limit(admin, steward, "alpha")
    _, secret = api_tokens.token_create(actor=steward, name="t")
    headers = {"Authorization": f"Bearer {secret}"}
    api = Client()
    assert [d["name"] for d in api.get(f"{API}/domains", headers=headers).json()] == ["alpha"]
    assert api.get(f"{API}/domains/beta", headers=headers).status_code == 404
    assert api.get(f"{API}/domains/beta/groups", headers=headers).status_code == 404
    assert api.get(f"{API}/groups/{world['beta']['open'].pk}", headers=headers).status_code == 404
    assert api.get(f"{API}/groups/{world['alpha']['open'].pk}", headers=headers).status_code == 200
    assert api.post(f"{API}/groups/{world['beta']['open'].pk}/claim", headers=headers).status_code == 404
    listed = api.get(f"{API}/decisions", headers=headers).json()["items"]
    assert listed and {d["group_id"] for d in listed} == {world["alpha"]["decided"].pk}


def test_the_admin_sets_the_limit_on_the_user_page_audited(login, admin, steward, world):
    client = login(admin)
    response = client.post(reverse("admin-user-domains", args=[steward.pk]), {"domains": ["alpha", "nosuch"]})
    assert response.status_code == 302
    page = client.get(reverse("admin-users")).content.decode()
    assert 'name="domains" value="alpha" checked' in page
    event = AuditEvent.objects.filter(action="user.domains_changed").latest("seq")
    assert event.details == {
        "username": "steward",
        "source": "admin",
        "before": "all",
        "after": ["alpha"],
    }
    assert login(steward).get(pages_of(world, "beta")["queue"]).status_code == 404
    client = login(admin)
    client.post(reverse("admin-user-domains", args=[steward.pk]), {"all": "1"})
    assert login(steward).get(pages_of(world, "beta")["queue"]).status_code == 200


def test_only_an_admin_sets_domain_limits(login, steward, auditor, world):
    for user in (steward, auditor):
        assert login(user).post(reverse("admin-user-domains", args=[steward.pk]), {"all": "1"}).status_code == 403
