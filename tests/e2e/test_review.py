"""A steward works the review queue in real Chromium, with the keyboard alone."""

import random

import pytest
from django.db import transaction
from django.utils import timezone

from matches.models import Comment, Decision, MatchGroup, Profile
from matches.services.groups import bins_add
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, hex_id

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_celery_handoff(monkeypatch):
    """Approvals hand their MergeJob to Celery on commit; the executor has its own tests: record the hand-off."""
    queued = []
    monkeypatch.setattr(
        "matches.services.enqueue.merge_job",
        lambda *, job_id, eta=None: transaction.on_commit(lambda: queued.append(job_id)),
    )
    return queued


def make_group(run, profiles, score, base, names=""):
    ids = [hex_id(base + i) for i in range(len(profiles))]
    for pid, attrs in zip(ids, profiles):
        ProfileFactory(
            domain=run.domain, profile_id=pid, attributes={"ProfileId": pid, **attrs}, fetched_at=timezone.now()
        )
    group = MatchGroupFactory(run=run, profile_ids=sorted(ids), confidence_score=score, display_names=names)
    bins_add(run=run, scores=[score])
    return group


def column_of(group, first_name) -> str:
    """The digit of the column showing the profile with this FirstName (columns follow the sorted ids)."""
    pid = Profile.objects.get(profile_id__in=group.profile_ids, attributes__FirstName=first_name).profile_id
    return str(group.profile_ids.index(pid) + 1), pid


def wait_for_group(page, group):
    page.wait_for_selector(f'#group-panel[data-group="{group.pk}"]')


def test_steward_merges_rejects_and_splits_with_the_keyboard(page, live_server, browser_login, steward):
    domain = DomainFactory(name="demo")
    run = MatchRunFactory(domain=domain)
    merge_me = make_group(
        run,
        [
            {"FirstName": "Jon", "LastName": "Smith", "EmailAddress": "jon@example.com", "BirthDate": "1970-03-04"},
            {"FirstName": "John", "LastName": "Smith"},
        ],
        0.9,
        1000,
        "Jon Smith · John Smith",
    )
    reject_me = make_group(
        run, [{"FirstName": "Ann", "LastName": "Lee"}, {"FirstName": "Bob", "LastName": "Stone"}], 0.8, 2000
    )
    split_me = make_group(
        run,
        [
            {"FirstName": "Cy", "LastName": "Young", "PhoneNumber": "555-010-0000"},
            {"FirstName": "Cyrus", "LastName": "Young", "PhoneNumber": "+1 555 010 0000"},
            {"FirstName": "Dee", "LastName": "Park"},
        ],
        0.7,
        3000,
    )
    browser_login(page, steward)
    page.goto(f"{live_server.url}/d/demo/queue/review/")
    assert page.locator("#count-review").inner_text() == "3"

    page.keyboard.press("n")
    page.wait_for_url(f"**/groups/{merge_me.pk}/?queue=review")
    wait_for_group(page, merge_me)
    page.keyboard.press("?")
    assert page.locator("#help").get_by_text("approve the merge").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    # j: the first conflicting row (First Name); the digit picks John's column as its source; m merges.
    john_col, john = column_of(merge_me, "John")
    _, jon = column_of(merge_me, "Jon")
    page.keyboard.press("j")
    assert "First Name" in page.locator("tr.row-focus").inner_text()
    page.keyboard.press(john_col)
    assert page.locator(f'input[name="src:FirstName"][value="{john}"]').is_checked()
    page.keyboard.press("m")
    wait_for_group(page, reject_me)
    assert page.url.endswith(f"/groups/{reject_me.pk}/?queue=review")
    assert "Merge approved" in page.locator("#group-panel").inner_text()
    assert page.title().startswith(f"Group {reject_me.match_id}")
    assert page.locator("#count-review").inner_text() == "2"

    # r focuses the reason, Enter rejects.
    page.keyboard.press("r")
    page.keyboard.type("different people")
    page.keyboard.press("Enter")
    wait_for_group(page, split_me)
    assert page.locator("#count-review").inner_text() == "1"

    # c: comment; Enter sends it and the same group comes back with the comment.
    page.keyboard.press("c")
    page.keyboard.type("two Youngs, one Park")
    page.keyboard.press("Enter")
    page.locator(".comments").get_by_text("two Youngs, one Park").wait_for()
    wait_for_group(page, split_me)

    # x: split mode; digits choose the two Youngs; Enter splits.
    cy_col, cy = column_of(split_me, "Cy")
    cyrus_col, cyrus = column_of(split_me, "Cyrus")
    _, dee = column_of(split_me, "Dee")
    page.keyboard.press("x")
    assert page.locator("tr.keep-row").is_visible()
    page.keyboard.press(cy_col)
    page.keyboard.press(cyrus_col)
    page.keyboard.press("Enter")
    page.wait_for_selector("#group-panel.empty-queue")
    assert page.locator("#count-review").inner_text() == "0"

    merge = Decision.objects.get(group=merge_me)
    assert (merge.action, merge.actor, merge.main_profile_id) == ("merge", steward, jon)
    assert merge.field_sources == {"FirstName": john}
    reject = Decision.objects.get(group=reject_me)
    assert (reject.action, reject.reason) == ("reject", "different people")
    split = Decision.objects.get(group=split_me)
    assert split.action == "split"
    assert sorted([split.main_profile_id, *split.merged_profile_ids]) == sorted([cy, cyrus])
    assert split.excluded_profile_ids == [dee]
    assert Decision.objects.count() == 3
    assert Comment.objects.get().group == split_me
    assert set(MatchGroup.objects.values_list("status", flat=True)) == {"approved", "rejected", "split"}


def test_hostile_profile_data_renders_as_text(page, live_server, browser_login, steward):
    domain = DomainFactory(name="demo")
    run = MatchRunFactory(domain=domain)
    evil = "<img src=x onerror=alert(1)>"
    group = make_group(run, [{"FirstName": evil}, {"FirstName": "Ann"}], 0.8, 5000, names=f"{evil} · Ann")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser_login(page, steward)
    page.goto(f"{live_server.url}/d/demo/queue/review/")
    assert page.get_by_text(f"{evil} · Ann").is_visible()
    page.goto(f"{live_server.url}/groups/{group.pk}/?queue=review")
    assert page.locator("table.compare").get_by_text(evil, exact=True).is_visible()
    assert page.locator("img[src=x]").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


FIRST = ["Maria", "James", "Wei", "Olivia", "Ahmed", "Sofia", "Liam", "Chen", "Ava", "Noah", "Zoë", "Mateo", "Priya"]
LAST = ["Garcia", "Smith", "Zhang", "Johnson", "Khan", "Rossi", "Brown", "Li", "Müller", "Okafor", "Nguyen", "Silva"]


def test_screenshots_of_a_queue_and_a_group(page, live_server, browser_login, screenshot, steward, steward2):
    from matches.services.decisions import group_claim

    rng = random.Random(7)
    domain = DomainFactory(name="acme-retail")
    run = MatchRunFactory(domain=domain)
    groups = []
    for i in range(40):
        size = rng.choice([2, 2, 2, 3, 3, 4, 6])
        first, last = rng.choice(FIRST), rng.choice(LAST)
        names = " · ".join(
            f"{first if rng.random() > 0.3 else first[:1] + '.'} {last if rng.random() > 0.2 else last.upper()}"
            for _ in range(size)
        )
        g = MatchGroupFactory(
            run=run,
            confidence_score=round(rng.uniform(0.6, 0.949), 3),
            profile_ids=sorted(hex_id(20000 + i * 10 + k) for k in range(size)),
            display_names=names,
            match_id=f"{rng.getrandbits(64):016x}",
        )
        groups.append(g)
    bins_add(run=run, scores=[g.confidence_score for g in groups])
    bins_add(run=run, scores=[0.97] * 112 + [0.3] * 57)
    for g in groups[3:6]:
        group_claim(group=g, actor=steward2)

    people = [
        {
            "FirstName": "María",
            "LastName": "García",
            "EmailAddress": "maria.garcia@example.com",
            "PhoneNumber": "(555) 010-2233",
            "MobilePhoneNumber": "555-010-7788",
            "BirthDate": "1984-06-12",
            "Gender": "FEMALE",
            "AccountNumber": "AC-100482",
            "Address": {
                "Address1": "1200 Market Street",
                "City": "San Francisco",
                "State": "CA",
                "PostalCode": "94102",
                "Country": "US",
            },
            "Attributes": {"loyaltyTier": "gold"},
        },
        {
            "FirstName": "Maria",
            "LastName": "Garcia",
            "EmailAddress": "Maria.Garcia@Example.com",
            "PhoneNumber": "+1 555 010 2233",
            "BirthDate": "1984-06-12",
            "Address": {
                "Address1": "1200 MARKET ST",
                "City": "San Francisco",
                "State": "CA",
                "PostalCode": "94102",
                "Country": "USA",
            },
            "Attributes": {"loyaltyTier": "silver"},
        },
        {
            "FirstName": "Maria",
            "MiddleName": "Elena",
            "LastName": "Garcia-Lopez",
            "PersonalEmailAddress": "mgl84@mail.example",
            "PhoneNumber": "555-010-2233",
            "BirthDate": "1984-12-06",
            "AccountNumber": "ac100482",
            "Address": {"Address1": "1200 Market St", "City": "San Francisco", "State": "CA", "PostalCode": "94102"},
        },
        {
            "FirstName": "Mario",
            "LastName": "Garcia",
            "EmailAddress": "mario.g@example.org",
            "PhoneNumber": "555-019-4410",
            "BirthDate": "1979-02-01",
            "Gender": "MALE",
            "Address": {"Address1": "88 Pine Road", "City": "Oakland", "State": "CA", "PostalCode": "94607"},
        },
    ]
    shown = make_group(
        run, people, 0.912, 40000, names="María García · Maria Garcia · Maria Garcia-Lopez · Mario Garcia"
    )
    bins_add(run=run, scores=[])
    browser_login(page, steward)
    page.goto(f"{live_server.url}/d/acme-retail/queue/review/")
    page.keyboard.press("j")
    page.keyboard.press("j")
    screenshot(page, "queue")
    page.goto(f"{live_server.url}/groups/{shown.pk}/?queue=review")
    page.keyboard.press("j")
    screenshot(page, "group")
    assert page.locator("table.compare th.col").count() == 4


def test_cell_tints_follow_the_main_the_steward_picks(page, live_server, browser_login, steward):
    domain = DomainFactory(name="demo")
    run = MatchRunFactory(domain=domain)
    group = make_group(
        run,
        [{"FirstName": "Ann", "LastName": "Lee"}, {"FirstName": "Ann", "LastName": "Lee"}, {"FirstName": "Zed"}],
        0.8,
        7000,
        "Ann Lee · Ann Lee · Zed",
    )
    zed, _ = column_of(group, "Zed")
    ann = next(str(i) for i in ("1", "2", "3") if i != zed)
    page.set_viewport_size({"width": 1024, "height": 800})
    browser_login(page, steward)
    page.goto(f"{live_server.url}/groups/{group.pk}/?queue=review")
    first_name = page.locator("table.compare tbody tr", has_text="First Name")
    ann_cell = first_name.locator(f'td[data-col="{ann}"]')
    zed_cell = first_name.locator(f'td[data-col="{zed}"]')
    main = page.locator("input[name=main]:checked").get_attribute("data-choice")
    assert main != zed  # the suggested main is an Ann
    assert "r-different" in zed_cell.get_attribute("class")
    page.keyboard.press(zed)
    assert page.locator("input[name=main]:checked").get_attribute("data-choice") == zed
    assert "r-different" in ann_cell.get_attribute("class")
    assert "r-different" not in zed_cell.get_attribute("class")
    assert "r-exact" in zed_cell.get_attribute("class")


LINE_BREAKS_JS = """(el) => {
  // The characters after which the text wraps to a new line.
  const out = []; let top = null; let seen = "";
  const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let text = walk.nextNode(); text; text = walk.nextNode()) {
    for (let i = 0; i < text.length; i++) {
      const r = document.createRange(); r.setStart(text, i); r.setEnd(text, i + 1);
      const t = r.getClientRects()[0];
      if (t && top !== null && t.top > top + 2) out.push(seen);
      if (t) top = t.top;
      seen += text.data[i];
    }
  }
  return out;
}"""


def test_a_group_of_six_at_1024_px_keeps_the_attribute_column_and_whole_email_words(
    page, live_server, browser_login, screenshot, steward
):
    domain = DomainFactory(name="demo")
    run = MatchRunFactory(domain=domain)
    people = [
        {
            "FirstName": f"Maria{i}",
            "LastName": "Garcia-Fernandez",
            "EmailAddress": f"maria.garciafernandez{i}@customermailservice.example.com",
        }
        for i in range(6)
    ]
    group = make_group(run, people, 0.8, 9000, " · ".join(p["FirstName"] for p in people))
    page.set_viewport_size({"width": 1024, "height": 800})
    browser_login(page, steward)
    page.goto(f"{live_server.url}/groups/{group.pk}/?queue=review")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # the table scrolls inside its frame, not the page
    wrap = page.locator(".compare-wrap")
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    attr = page.locator("table.compare tbody th.attr").first.bounding_box()
    frame = wrap.bounding_box()
    assert attr["x"] >= frame["x"] - 1  # the attribute column stays
    for col in range(1, 7):
        cell = page.locator(f'table.compare th.col[data-col="{col}"]')
        cell.scroll_into_view_if_needed()
        box, attr = cell.bounding_box(), page.locator("table.compare thead th.attr").first.bounding_box()
        assert box["x"] >= attr["x"] + attr["width"] - 1 and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    screenshot(page, "group-six-1024")
    emails = page.locator("table.compare tbody tr", has_text="Email Address").locator("span.val")
    for i in range(emails.count()):
        for before in emails.nth(i).evaluate(LINE_BREAKS_JS):
            assert before[-1] in "@.", f"an email broke mid-word after {before!r}"
        assert emails.nth(i).inner_text().startswith("maria.")
