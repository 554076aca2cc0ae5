import re
import threading

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from matches.models import AuditEvent, Comment, Decision, MatchGroup, MergeJob
from matches.services.decisions import group_claim, group_merge_approve
from matches.services.groups import bins_add
from tests.factories import MatchGroupFactory, MatchRunFactory, ProfileFactory, UserFactory, hex_id

Status = MatchGroup.Status
_serial = iter(range(10_000, 10**9, 100))


@pytest.fixture(autouse=True)
def no_celery_handoff(monkeypatch):
    """Approvals hand their MergeJob to Celery on commit; the executor has its own tests: record the hand-off."""
    queued = []
    monkeypatch.setattr(
        "matches.services.enqueue.merge_job",
        lambda *, job_id, eta=None: transaction.on_commit(lambda: queued.append(job_id)),
    )
    return queued


def make_group(run, profiles: list[dict], score: float = 0.8, fetched=True) -> MatchGroup:
    base = next(_serial)
    ids = [hex_id(base + i) for i in range(len(profiles))]
    for pid, attrs in zip(ids, profiles):
        ProfileFactory(
            domain=run.domain,
            profile_id=pid,
            attributes={"ProfileId": pid, **attrs},
            fetched_at=timezone.now() if fetched else None,
        )
    # Columns follow profile_ids (sorted); keep the caller's order by sorting the attributes with the ids.
    group = MatchGroupFactory(run=run, profile_ids=sorted(ids), confidence_score=score)
    bins_add(run=run, scores=[score])
    return group


def pid_of(group, first_name):
    from matches.models import Profile

    return Profile.objects.get(profile_id__in=group.profile_ids, attributes__FirstName=first_name).profile_id


@pytest.fixture
def run(domain):
    return MatchRunFactory(domain=domain)


@pytest.fixture
def trio(run):
    return make_group(
        run,
        [
            {"FirstName": "Ann", "LastName": "Lee", "PhoneNumber": "555-010-0000", "EmailAddress": "ann@example.com"},
            {"FirstName": "Anne", "LastName": "Lee", "PhoneNumber": "+1-555-010-0000", "BirthDate": "1980-01-02"},
            {"FirstName": "Bob", "LastName": "Stone", "EmailAddress": "ANN@example.com"},
        ],
        score=0.85,
    )


@pytest.fixture
def second(run):
    return make_group(run, [{"FirstName": "Cy"}, {"FirstName": "Cyrus"}], score=0.7)


def group_url(group, queue="review"):
    return f"{reverse('group', args=[group.pk])}?queue={queue}" if queue else reverse("group", args=[group.pk])


def decide_url(group):
    return reverse("group-decide", args=[group.pk])


# Access by role ---------------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, trio):
    response = client.get(group_url(trio))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    response = client.post(decide_url(trio), {"action": "reject"})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_outsider_is_refused(login, outsider, trio):
    client = login(outsider)
    assert client.get(group_url(trio)).status_code == 403
    assert client.post(decide_url(trio), {"action": "reject"}).status_code == 403


def test_auditor_reads_but_never_claims_or_decides(login, auditor, trio):
    client = login(auditor)
    response = client.get(group_url(trio))
    assert response.status_code == 200
    assert b'id="decide-form"' in response.content and b'value="merge"' not in response.content
    trio.refresh_from_db()
    assert trio.claimed_by is None
    for name, data in [
        ("group-decide", {"action": "reject"}),
        ("group-decide", {"action": "merge", "main": trio.profile_ids[0]}),
        ("group-claim", {}),
        ("group-release", {}),
        ("group-comment", {"body": "hello"}),
        ("group-reopen", {}),
    ]:
        assert client.post(reverse(name, args=[trio.pk]), data).status_code == 403, name
    assert not Decision.objects.exists() and not Comment.objects.exists()


@pytest.mark.parametrize("persona", ["steward", "admin"])
def test_opening_from_a_queue_does_not_claim_the_group(request, login, persona, trio):
    # Issue 13: a claim by browsing kept colleagues' "next" away from it; work is claimed by next or the Claim button.
    user = request.getfixturevalue(persona)
    response = login(user).get(group_url(trio))
    assert response.status_code == 200
    trio.refresh_from_db()
    assert trio.claimed_by is None
    assert b"claimed by you until" not in response.content
    assert b"data-release-url" not in response.content


@pytest.mark.parametrize("persona", ["steward", "admin"])
def test_the_claim_button_claims_and_the_page_names_its_release(request, login, persona, trio):
    user = request.getfixturevalue(persona)
    client = login(user)
    client.post(reverse("group-claim", args=[trio.pk]), {"queue": "review"})
    trio.refresh_from_db()
    assert trio.claimed_by == user
    assert 590 <= (trio.claimed_until - timezone.now()).total_seconds() <= 600
    page = client.get(group_url(trio)).content.decode()
    assert "claimed by you until" in page
    assert f'data-release-url="{reverse("group-release", args=[trio.pk])}"' in page


def test_the_leaving_beacon_releases_only_the_own_claim_and_says_nothing(login, steward, steward2, admin, trio):
    group_claim(group=trio, actor=steward2)
    assert login(admin).post(reverse("group-release", args=[trio.pk]), {"beacon": "1"}).status_code == 204
    trio.refresh_from_db()
    assert trio.claimed_by == steward2  # an admin's page leaving never releases someone else's claim
    client = login(steward2)
    assert client.post(reverse("group-release", args=[trio.pk]), {"beacon": "1"}).status_code == 204
    trio.refresh_from_db()
    assert trio.claimed_by is None
    assert "Claim released" not in client.get(group_url(trio)).content.decode()


def test_opening_without_a_queue_only_reads(login, steward, trio):
    login(steward).get(group_url(trio, queue=None))
    trio.refresh_from_db()
    assert trio.claimed_by is None


def test_others_see_the_claim_and_cannot_decide(login, steward, steward2, trio):
    group_claim(group=trio, actor=steward2)
    client = login(steward)
    page = client.get(group_url(trio)).content.decode()
    assert "steward2 is working on it until" in page
    assert 'value="merge"' not in page
    response = client.post(decide_url(trio), {"action": "reject"}, follow=True)
    assert "steward2 is working on this group until" in response.content.decode()
    assert not Decision.objects.exists()


def test_admin_can_release_someone_elses_claim(login, admin, steward, trio):
    group_claim(group=trio, actor=steward)
    client = login(admin)
    page = client.get(group_url(trio, queue=None)).content.decode()
    assert "Release claim" in page
    client.post(reverse("group-release", args=[trio.pk]))
    trio.refresh_from_db()
    assert trio.claimed_by is None
    assert AuditEvent.objects.filter(action="group.claim_released", actor=admin).exists()


def test_a_steward_cannot_release_someone_elses_claim(login, steward, steward2, trio):
    group_claim(group=trio, actor=steward2)
    response = login(steward).post(reverse("group-release", args=[trio.pk]), follow=True)
    assert b"Only the steward holding this group, or an admin, can release it." in response.content
    trio.refresh_from_db()
    assert trio.claimed_by == steward2


# What the page shows ----------------------------------------------------------------------------------------------


def row_html(page: str, label: str) -> str:
    match = re.search(r'<span class="label">' + re.escape(label) + r"</span>.*?</tr>", page, re.S)
    assert match, label
    return match.group(0)


def test_profiles_side_by_side_with_the_comparison_of_each_row(login, steward, trio):
    page = login(steward).get(group_url(trio)).content.decode()
    assert 'class="badge b-equivalent">equivalent</span>' in row_html(page, "Phone Number")
    assert 'class="badge b-equivalent">equivalent</span>' in row_html(page, "Email Address")
    assert 'class="badge b-different">different</span>' in row_html(page, "First Name")
    assert 'class="badge b-different">different</span>' in row_html(page, "Last Name")
    assert 'class="badge b-single">one value</span>' in row_html(page, "Birth Date")
    # Rows empty in every profile are hidden; a legend explains the badges.
    assert '<span class="label">Gender</span>' not in page
    assert 'aria-label="Legend"' in page
    # One source radio per non-empty cell of each conflicting row.
    assert page.count('name="src:FirstName"') == 3
    assert 'name="src:BirthDate"' not in page


def test_custom_attributes_and_addresses_are_rows(login, steward, run):
    group = make_group(
        run,
        [
            {
                "Address": {"Address1": "1 Main St", "City": "Springfield", "Country": "US"},
                "Attributes": {"tier": "gold"},
            },
            {
                "Address": {"Address1": "1 MAIN ST", "City": "springfield", "Country": "USA"},
                "Attributes": {"tier": "silver"},
            },
        ],
    )
    page = login(steward).get(group_url(group)).content.decode()
    assert "1 Main St, Springfield, US" in page
    assert 'class="badge b-equivalent">equivalent</span>' in row_html(page, "Address")
    assert 'name="src:Attributes.tier"' in page
    assert 'class="badge b-different">different</span>' in row_html(page, "tier")


def test_customer_data_is_escaped(login, steward, run):
    group = make_group(run, [{"FirstName": "<img src=x onerror=alert(1)>"}, {"FirstName": "Ann</td><script>"}])
    page = login(steward).get(group_url(group)).content.decode()
    assert "<img src=x" not in page and "<script>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_missing_and_unfetched_profiles_are_marked(login, steward, run):
    group = make_group(run, [{"FirstName": "Ann"}, {"FirstName": "Ann"}])
    from matches.models import Profile

    Profile.objects.filter(profile_id=group.profile_ids[0]).update(missing=True)
    Profile.objects.filter(profile_id=group.profile_ids[1]).delete()
    page = login(steward).get(group_url(group)).content.decode()
    assert "missing in AWS" in page and "not fetched" in page


def test_the_default_main_profile_is_the_most_complete(login, steward, trio):
    page = login(steward).get(group_url(trio)).content.decode()
    # Ann and Anne have four fields each, Bob three: the tie goes to the lower id (which one depends on the ids the
    # test run hands out, so the test names the rule rather than a person).
    expected = min(pid_of(trio, "Ann"), pid_of(trio, "Anne"))
    assert re.search(r'name="main" value="' + expected + r'" data-choice="\d" checked', page)


def test_blind_review_hides_score_and_queue(login, steward, trio, domain):
    client = login(steward)
    assert "0.850" in client.get(group_url(trio)).content.decode()
    client.post(reverse("blind-review-toggle"), {"next": "/"})
    page = client.get(group_url(trio)).content.decode()
    assert "0.850" not in page and "review queue</span>" not in page


def test_decisions_and_comments_are_shown(login, steward, trio):
    client = login(steward)
    client.post(reverse("group-comment", args=[trio.pk]), {"body": "Same person? <b>check</b>", "queue": "review"})
    client.post(decide_url(trio), {"action": "reject", "reason": "different people", "queue": "review"})
    page = client.get(group_url(trio, queue=None)).content.decode()
    assert "Same person? &lt;b&gt;check&lt;/b&gt;" in page
    assert '<span class="tag act-reject">reject</span> steward' in page and "different people" in page
    assert Comment.objects.get().author == steward


def test_an_empty_comment_is_refused_with_a_message(login, steward, trio):
    response = login(steward).post(reverse("group-comment", args=[trio.pk]), {"body": "  "}, follow=True)
    assert b"A comment cannot be empty." in response.content
    assert not Comment.objects.exists()


# Decisions --------------------------------------------------------------------------------------------------------


def test_merge_with_a_field_source_then_the_next_group(login, steward, trio, second, no_celery_handoff):
    client = login(steward)
    client.get(group_url(trio))
    ann, anne = pid_of(trio, "Ann"), pid_of(trio, "Anne")
    response = client.post(
        decide_url(trio),
        {"action": "merge", "main": ann, "src:FirstName": anne, "src:LastName": ann, "queue": "review"},
    )
    assert response.status_code == 302 and response.url == group_url(second)
    decision = Decision.objects.get(group=trio)
    assert decision.action == "merge" and decision.actor == steward
    assert decision.main_profile_id == ann
    assert decision.field_sources == {"FirstName": anne, "LastName": ann}
    assert sorted(decision.merged_profile_ids) == sorted(set(trio.profile_ids) - {ann})
    trio.refresh_from_db()
    second.refresh_from_db()
    assert trio.status == Status.APPROVED and trio.claimed_by is None
    assert second.claimed_by == steward
    assert len(no_celery_handoff) == 0  # on_commit does not run inside the test transaction
    page = client.get(response.url).content.decode()
    # The next group's page tells of the approval and links to it; its one Undo (u) would be its own (issue 13).
    assert "Merge approved: group" in page and 'data-key="u"' not in page
    assert f'href="{reverse("group", args=[trio.pk])}" class="small-link">Open it to undo' in page


def test_reject_with_a_reason(login, steward, trio):
    client = login(steward)
    client.post(decide_url(trio), {"action": "reject", "reason": "  different birth dates ", "queue": "review"})
    decision = Decision.objects.get(group=trio)
    assert decision.action == "reject" and decision.reason == "different birth dates"
    assert decision.excluded_profile_ids == trio.profile_ids


def test_split_merges_the_kept_profiles_only(login, steward, trio):
    ann, anne, bob = pid_of(trio, "Ann"), pid_of(trio, "Anne"), pid_of(trio, "Bob")
    login(steward).post(
        decide_url(trio),
        # Bob's email as a source is not in the kept set: it falls back to the main profile.
        {"action": "split", "keep": [ann, anne], "main": anne, "src:EmailAddress": bob, "queue": "review"},
    )
    decision = Decision.objects.get(group=trio)
    assert decision.action == "split"
    assert decision.main_profile_id == anne and decision.merged_profile_ids == [ann]
    assert decision.excluded_profile_ids == [bob]
    assert decision.field_sources == {"EmailAddress": anne}
    trio.refresh_from_db()
    assert trio.status == Status.SPLIT


def test_split_without_a_main_in_the_kept_set_picks_the_most_complete_kept(login, steward, trio):
    ann, anne, bob = pid_of(trio, "Ann"), pid_of(trio, "Anne"), pid_of(trio, "Bob")
    login(steward).post(decide_url(trio), {"action": "split", "keep": [anne, bob], "main": ann})
    assert Decision.objects.get(group=trio).main_profile_id == anne


def test_split_needs_two_kept_profiles(login, steward, trio):
    response = login(steward).post(decide_url(trio), {"action": "split", "keep": [trio.profile_ids[0]]}, follow=True)
    assert b"Choose at least two profiles that are the same customer to split." in response.content
    assert not Decision.objects.exists()


def test_a_bad_field_source_is_refused_clearly(login, steward, trio):
    response = login(steward).post(
        decide_url(trio),
        {"action": "merge", "main": trio.profile_ids[0], "src:Nickname": trio.profile_ids[1]},
        follow=True,
    )
    assert b"&#x27;Nickname&#x27; is not a field MergeProfiles can take a source for." in response.content
    assert not Decision.objects.exists()


def test_skip_releases_and_moves_on_and_next_does_not_return_it(login, steward, trio, second):
    client = login(steward)
    client.post(reverse("group-claim", args=[trio.pk]))
    response = client.post(decide_url(trio), {"action": "skip", "queue": "review"})
    assert response.url == group_url(second)
    trio.refresh_from_db()
    assert trio.claimed_by is None and trio.status == Status.OPEN
    assert AuditEvent.objects.filter(action="group.skipped", object_id=str(trio.pk)).exists()
    assert not Decision.objects.exists()
    # Skipping the second too leaves nothing this steward has not skipped: back to the queue.
    response = client.post(decide_url(second), {"action": "skip", "queue": "review"})
    assert response.url == reverse("queue", args=["demo", "review"])


def test_double_submit_decides_once_and_says_so_calmly(login, steward, trio):
    client = login(steward)
    data = {"action": "merge", "main": trio.profile_ids[0], "queue": "review"}
    client.post(decide_url(trio), data)
    response = client.post(decide_url(trio), data, follow=True)
    assert Decision.objects.filter(group=trio).count() == 1
    page = response.content.decode()
    assert "Already decided by you at" in page
    assert 'class="msg msg-info"' in page and "msg-error" not in page


def test_undo_reopens_the_group(login, steward, trio):
    client = login(steward)
    client.post(decide_url(trio), {"action": "merge", "main": trio.profile_ids[0], "queue": "review"})
    merge = Decision.objects.get(group=trio)
    response = client.post(reverse("decision-undo", args=[merge.pk]), {"queue": "review"})
    assert response.url == group_url(trio)
    trio.refresh_from_db()
    assert trio.status == Status.OPEN and trio.claimed_by == steward
    assert MergeJob.objects.get(decision=merge).status == "cancelled"
    assert Decision.objects.filter(group=trio, action="undo", reverts=merge).exists()


def test_another_steward_cannot_undo(login, steward, steward2, trio):
    merge = group_merge_approve(group=trio, actor=steward, main_profile_id=trio.profile_ids[0])
    response = login(steward2).post(reverse("decision-undo", args=[merge.pk]), follow=True)
    assert b"Only the steward who approved this merge, or an admin, can undo it." in response.content
    assert MergeJob.objects.get(decision=merge).status == "scheduled"


# htmx ---------------------------------------------------------------------------------------------------------------


def test_htmx_decision_swaps_in_the_next_group_and_the_counts(login, steward, trio, second):
    client = login(steward)
    response = client.post(
        decide_url(trio), {"action": "reject", "queue": "review"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="group-panel"
    )
    assert response.status_code == 200
    assert response["HX-Push-Url"] == group_url(second)
    html = response.content.decode()
    title, panel = html.split("</title>", 1)
    assert title == f"<title>Group {second.match_id} · demo · Matchdesk"
    assert panel.strip().startswith(f'<section id="group-panel" class="group-panel" data-group="{second.pk}"')
    assert "<html" not in html
    assert 'id="queue-tabs"' in html and 'hx-swap-oob="true"' in html
    assert '<span class="count" id="count-review">1</span>' in html
    assert "Rejected: group" in html


def test_htmx_refusal_is_shown_inline(login, steward, steward2, trio):
    group_claim(group=trio, actor=steward2)
    response = login(steward).post(decide_url(trio), {"action": "reject", "queue": "review"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'role="alert">steward2 is working on this group until' in html
    assert "HX-Push-Url" not in response


def test_htmx_last_group_shows_an_empty_queue(login, steward, trio):
    response = login(steward).post(decide_url(trio), {"action": "reject", "queue": "review"}, HTTP_HX_REQUEST="true")
    assert response["HX-Push-Url"] == reverse("queue", args=["demo", "review"])
    assert "Nothing left in the review queue" in response.content.decode()


def test_forms_carry_csrf_and_the_page_never_marks_data_safe(login, steward, trio):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(steward)
    assert strict.post(decide_url(trio), {"action": "reject"}).status_code == 403
    page = strict.get(group_url(trio)).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 3
    assert 'hx-headers=\'{"X-CSRFToken"' in page


# Concurrency through the views ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_submits_at_once_give_one_decision(no_celery_handoff):
    from tests.factories import DomainFactory

    domain = DomainFactory(name="demo")
    run = MatchRunFactory(domain=domain)
    group = make_group(run, [{"FirstName": "Ann"}, {"FirstName": "Anne"}])
    user = UserFactory(username="racer", roles=["Steward"])
    barrier = threading.Barrier(2)
    codes = []

    def submit():
        client = Client()
        client.force_login(user)
        try:
            barrier.wait()
            response = client.post(decide_url(group), {"action": "merge", "main": group.profile_ids[0]})
            codes.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [302, 302]
    assert Decision.objects.filter(group=group).count() == 1
    assert MergeJob.objects.count() == 1
    assert len(no_celery_handoff) == 1


# Queries ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 20])
def test_group_page_queries_do_not_grow_with_profiles(login, steward, run, n, django_assert_max_num_queries):
    group = make_group(
        run,
        [
            {"FirstName": f"Name{i}", "PhoneNumber": f"555-010-{i:04d}", "Attributes": {"tier": str(i % 3)}}
            for i in range(n)
        ],
    )
    client = login(steward)
    client.get(group_url(group))
    client.post(reverse("group-comment", args=[group.pk]), {"body": "first look"})
    # 11: the session, the user and their permissions (4), the group, its profiles, the domain's context and counts,
    # the steward's last decision, this comment, the roles for the layout. Whether the group has decisions, a sample
    # or pending merges on its profiles comes with the group's own statement (review.group_page_queryset): a group
    # without them asks nothing more. Constant in the number of profiles.
    with django_assert_max_num_queries(11):
        response = client.get(group_url(group))
    assert response.content.decode().count('name="main"') == n


def test_the_group_page_still_reads_what_the_group_has(
    login, steward, steward2, admin, run, django_assert_max_num_queries
):
    """The page skips the reads its group's statement says are empty; when they are not, each is read and shown."""
    from matches.models import CalibrationItem, CalibrationSample

    group = make_group(run, [{"FirstName": "Ann"}, {"FirstName": "Anne"}], score=0.912)
    client = login(steward)
    client.get(group_url(group))
    with django_assert_max_num_queries(10):
        fresh = client.get(group_url(group)).content.decode()
    assert "No decision yet." in fresh and "No comment yet." in fresh
    assert "0.912" in fresh and "group-overlaps" not in fresh and "Calibration sample · blind" not in fresh
    # Another group's pending merge on one of its profiles, a decision (merged, then undone), a comment, a sample.
    other = MatchGroupFactory(run=run, profile_ids=sorted([group.profile_ids[0], hex_id(next(_serial))]))
    group_merge_approve(group=other, actor=steward2, main_profile_id=group.profile_ids[0])
    mine = group_merge_approve(group=group, actor=steward, main_profile_id=group.profile_ids[0])
    from matches.services.decisions import decision_undo

    decision_undo(decision=mine, actor=steward, reason="look again")
    Comment.objects.create(group=group, author=steward, body="a second look")
    sample = CalibrationSample.objects.create(domain=run.domain, run=run, budget=10, seed=1, created_by=admin)
    CalibrationItem.objects.create(sample=sample, group=group)
    # 13: the fresh page's 10, and the decisions, the comments and the pending merges this group overlaps.
    with django_assert_max_num_queries(13):
        full = client.get(group_url(group)).content.decode()
    assert "No decision yet." not in full and "look again" in full
    assert "a second look" in full and "No comment yet." not in full
    assert 'id="group-overlaps"' in full and f"group {other.match_id}" in full
    assert "Calibration sample · blind" in full and "0.912" not in full


def test_a_group_drawn_into_a_qa_sample_is_decided_blind(login, steward, auditor, run, admin):
    from matches.models import QASample, QASampleItem

    group = make_group(run, [{"FirstName": "Ann"}, {"FirstName": "Anne"}], score=0.912)
    assert "0.912" in login(steward).get(group_url(group)).content.decode()
    sample = QASample.objects.create(
        domain=run.domain, run=run, queue="merge", rate=0.02, seed=1, size=1, created_by=admin
    )
    QASampleItem.objects.create(sample=sample, group=group)
    steward_page = login(steward).get(group_url(group)).content.decode()
    assert "QA sample · blind" in steward_page
    assert "0.912" not in steward_page
    # Auditors do not decide: they read the score whatever the sample.
    assert "0.912" in login(auditor).get(group_url(group)).content.decode()


@pytest.mark.parametrize("pause", ["domain", "all", None])
def test_approving_while_merges_are_paused_says_so(login, steward, trio, domain, pause):
    from matches.models import OpsSwitch

    if pause == "domain":
        domain.merges_paused = True
        domain.save(update_fields=["merges_paused"])
    elif pause == "all":
        OpsSwitch.objects.update_or_create(name=OpsSwitch.PAUSE_ALL_MERGES, defaults={"on": True})
    data = {"action": "merge", "main": trio.profile_ids[0], "queue": "review"}
    page = login(steward).post(decide_url(trio), data, follow=True).content.decode()
    assert ("merges are paused, so it waits for the resume" in page) == (pause is not None)
    assert "unless undone" in page
