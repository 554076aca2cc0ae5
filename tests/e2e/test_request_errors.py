"""Issue 14, item 4, in Chromium: an htmx request that fails shows "Not saved ... try again" in a fixed place that does
not move the page (static/js/errors.js), and trying again once the server answers saves the decision."""

import pytest
from django.utils import timezone

from matches.services.groups import bins_add
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, hex_id

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_group(live_server):
    domain = DomainFactory(name="demo")
    run = MatchRunFactory(domain=domain)
    ids = sorted(hex_id(5000 + i) for i in range(2))
    for i, pid in enumerate(ids):
        attrs = {"ProfileId": pid, "FirstName": f"Ann{i}", "LastName": "Lee"}
        ProfileFactory(domain=domain, profile_id=pid, attributes=attrs, fetched_at=timezone.now())
    group = MatchGroupFactory(run=run, profile_ids=ids, confidence_score=0.8)
    bins_add(run=run, scores=[0.8])
    return group


@pytest.mark.parametrize(
    "fault, expected",
    [("500", "Not saved: something went wrong on our side (500)"), ("network", "Not saved: Matchdesk could not be")],
)
def test_a_failed_decision_says_not_saved_without_moving_the_page(
    page,
    live_server,
    browser_login,
    steward,
    fault,
    expected,
):
    group = open_group(live_server)
    browser_login(page, steward)
    page.goto(f"{live_server.url}/groups/{group.pk}/")
    page.wait_for_selector("#btn-reject")

    def fail(route):
        if fault == "500":
            route.fulfill(status=500, content_type="text/html", body="<h1>Server Error (500)</h1>")
        else:
            route.abort("connectionrefused")

    page.route(f"**/groups/{group.pk}/decide/", fail)
    panel_before = page.locator("#group-panel").bounding_box()
    page.click("#btn-reject")
    alert = page.locator("#request-error")
    alert.wait_for(state="visible")
    assert expected in alert.inner_text()
    assert alert.get_attribute("role") == "alert"
    assert alert.evaluate("el => getComputedStyle(el).position") == "fixed"
    assert page.locator("#group-panel").bounding_box() == panel_before  # the layout did not move
    assert page.locator("#btn-reject").is_visible()  # the panel is still there to try again
    group.refresh_from_db()
    assert group.status == "open"

    # Trying again once the server answers: the decision is saved and the message goes away.
    page.unroute(f"**/groups/{group.pk}/decide/")
    page.click("#btn-reject")
    alert.wait_for(state="hidden")
    group.refresh_from_db()
    assert group.status == "rejected"
