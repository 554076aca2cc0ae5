"""Security headers: the Content-Security-Policy on every answer, no-store on every answer to a logged-in user."""

import pytest

from tests.factories import MatchGroupFactory, MatchRunFactory


def _directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    parts = [p.strip().split() for p in header.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


def test_every_page_carries_a_policy_without_inline_script_or_eval(client, db):
    policy = _directives(client.get("/login/"))
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert "'unsafe-hashes'" not in policy["script-src"]
    assert "style-src-attr" not in policy and "script-src-attr" not in policy
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


@pytest.mark.parametrize("persona", ["steward", "admin", "auditor"])
def test_authenticated_pages_are_not_stored(request, login, persona, domain):
    client = login(request.getfixturevalue(persona))
    group = MatchGroupFactory(run=MatchRunFactory(domain=domain))
    for path in ("/", "/merges/", f"/groups/{group.pk}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers["Cache-Control"], path
        assert "private" in response.headers["Cache-Control"], path


def test_refusals_and_redirects_to_a_logged_in_user_are_not_stored_either(login, outsider):
    response = login(outsider).get("/")
    assert response.status_code == 403
    assert "no-store" in response.headers["Cache-Control"]


def test_logging_out_answers_with_no_store(login, steward):
    client = login(steward)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/d/%00/queue/review/", "/admin/domains/%00/", "/d/demo/queue/review/?q=%00"])
def test_a_nul_in_the_path_or_query_is_a_bad_request_with_a_message(login, admin, domain, path):
    response = login(admin).get(path)
    assert response.status_code == 400
    assert "contained a NUL character" in response.content.decode()


def test_a_nul_in_a_form_field_is_refused_before_the_view(login, admin, domain):
    from matches.models import ThresholdPolicy

    before = ThresholdPolicy.objects.count()
    response = login(admin).post(
        "/admin/domains/demo/thresholds/save/", {"merge_min": "0.9", "reject_below": "0.5", "note": "a\x00b"}
    )
    assert response.status_code == 400
    assert "contained a NUL character" in response.content.decode()
    assert ThresholdPolicy.objects.count() == before


# When the session has ended ----------------------------------------------------------------------------------------


def _group(domain):
    return MatchGroupFactory(run=MatchRunFactory(domain=domain))


def test_an_htmx_decision_after_the_session_ended_redirects_the_whole_page_to_login_back_to_the_group(client, domain):
    from matches.models import Decision

    group = _group(domain)
    page = f"http://testserver/groups/{group.pk}/?queue=review"
    response = client.post(
        f"/groups/{group.pk}/decide/",
        {"action": "reject", "reason": "not the same"},
        headers={"HX-Request": "true", "HX-Current-URL": page},
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/login/?next=%2Fgroups%2F{group.pk}%2F%3Fqueue%3Dreview"
    assert not Decision.objects.exists()
    login_page = client.get(response.headers["HX-Redirect"]).content.decode()
    assert "Your session ended, so nothing was decided or saved." in login_page


def test_a_plain_post_after_the_session_ended_goes_back_to_the_page_it_came_from(client, domain):
    group = _group(domain)
    response = client.post(
        f"/groups/{group.pk}/decide/", {"action": "skip"}, headers={"Referer": f"http://testserver/groups/{group.pk}/"}
    )
    assert response.status_code == 302
    assert response.url == f"/login/?next=%2Fgroups%2F{group.pk}%2F"


def test_a_foreign_referer_is_not_a_place_to_go_back_to(client, domain):
    group = _group(domain)
    response = client.post(f"/groups/{group.pk}/decide/", headers={"Referer": "https://evil.example/groups/1/"})
    assert response.url == "/login/?next=%2F"


def test_an_htmx_poll_after_the_session_ended_sends_the_page_to_login(client, domain):
    response = client.get("/merges/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/merges/"})
    assert response.headers["HX-Redirect"] == "/login/?next=%2Fmerges%2F"


def test_a_plain_page_visit_keeps_djangos_own_next(client, db):
    response = client.get("/merges/?status=failed")
    assert response.status_code == 302
    assert response.url == "/login/?next=/merges/%3Fstatus%3Dfailed"


def test_no_template_has_an_inline_handler_style_attribute_or_script():
    """What the policy refuses must not be in a template: keys.js's data attributes stand in for them."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "templates"
    refused = re.compile(r"""\son[a-z]+\s*=|\sstyle\s*=|<script(?![^>]*\ssrc=)|<style|javascript:""", re.IGNORECASE)
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()[:80]}"
        for path in sorted(root.rglob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if refused.search(line)
    ]
    assert found == []
