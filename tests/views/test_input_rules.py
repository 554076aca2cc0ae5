"""Every bad input gets an answer a person can act on (issue 13): the inputs that used to answer 500."""

import pytest

from matches.models import BulkJob, QASample
from matches.services.groups import bins_add
from tests.factories import MatchGroupFactory, MatchRunFactory

BULK = "/admin/domains/demo/bulk/merge/"
QA = "/admin/domains/demo/qa/"


@pytest.fixture
def merge_queue(domain):
    run = MatchRunFactory(domain=domain)
    groups = [MatchGroupFactory(run=run, confidence_score=0.99) for _ in range(3)]
    bins_add(run=run, scores=[0.99] * 3)
    return groups


def _after(client, path, data) -> str:
    response = client.post(path, data, follow=True)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    "data, says",
    [
        ({"step": "run", "scope": "all", "policy_id": "abc"}, "names no valid policy"),
        ({"step": "run", "scope": "all", "policy_id": ""}, "names no policy"),
        ({"step": "confirm", "scope": "selected", "group": "²"}, "Group ids are whole numbers; &#x27;²&#x27; is"),
        ({"step": "run", "group": "9" * 25, "policy_id": "1"}, "Group ids are whole numbers"),
        ({"step": "run", "group": "١٢٣", "policy_id": "1"}, "Group ids are whole numbers"),
    ],
)
def test_a_bad_bulk_request_is_refused_with_a_message(login, admin, merge_queue, data, says):
    assert says in _after(login(admin), BULK, data)
    assert not BulkJob.objects.exists()


@pytest.mark.parametrize(
    "data, says",
    [
        ({"queue": "merge", "percent": "abc"}, "The sample size is a percentage"),
        ({"queue": "merge", "percent": "2", "seed": "9" * 20}, "A seed is at most 9,223,372,036,854,775,807"),
        ({"queue": "merge", "percent": "2", "seed": "x"}, "A seed is a whole number"),
    ],
)
def test_a_bad_qa_draw_is_refused_with_a_message_and_no_class_name(login, admin, merge_queue, data, says):
    html = _after(login(admin), QA, data)
    assert "No sample drawn: " + says in html
    assert "class &#x27;" not in html and "decimal." not in html
    assert not QASample.objects.exists()


def test_a_qa_draw_with_a_good_seed_still_draws(login, admin, merge_queue):
    html = _after(login(admin), QA, {"queue": "merge", "percent": "50", "seed": "7"})
    assert "Drew 2 of 3 groups from the merge queue (seed 7)" in html


def test_a_username_over_the_limit_is_a_form_error_at_login(client, db):
    response = client.post("/login/", {"username": "x" * 300, "password": "pw"})
    assert response.status_code == 200
    assert "Ensure this value has at most 150 characters (it has 300)." in response.content.decode()


# Refuse, don't truncate ---------------------------------------------------------------------------------------------


def test_a_reason_over_2000_characters_is_refused_on_the_group_page(login, steward, merge_queue):
    from matches.models import Decision

    group = merge_queue[0]
    html = _after(login(steward), f"/groups/{group.pk}/decide/", {"action": "reject", "reason": "r" * 2001})
    assert "A reason holds at most 2,000 characters; this one has 2,001." in html
    assert not Decision.objects.exists()


def test_a_comment_over_4000_characters_is_refused_on_the_group_page(login, steward, merge_queue):
    group = merge_queue[0]
    html = _after(login(steward), f"/groups/{group.pk}/comment/", {"body": "c" * 4001})
    assert "A comment holds at most 4,000 characters; this one has 4,001." in html
    assert not group.comments.exists()


def test_a_note_over_2000_characters_is_refused_and_kept_in_the_form(login, admin, domain):
    from matches.models import ThresholdPolicy

    before = ThresholdPolicy.objects.count()
    response = login(admin).post(
        "/admin/domains/demo/thresholds/save/", {"merge_min": "0.9", "reject_below": "0.5", "note": "n" * 2001}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "A note holds at most 2,000 characters; this one has 2,001." in html
    assert 'value="' + "n" * 2001 + '"' in html  # the admin's text is still there to shorten
    assert ThresholdPolicy.objects.count() == before


def test_a_minimum_score_above_the_maximum_explains_itself(login, steward, merge_queue):
    response = login(steward).get("/d/demo/queue/merge/?min=0.99&max=0.5")
    assert response.status_code == 200
    assert "The minimum score (0.99) is above the maximum (0.5), so no group can match" in response.content.decode()


def test_qa_sampled_groups_are_marked_in_the_queue_with_their_score_hidden(login, steward, admin, merge_queue):
    from matches.services.qa import qa_sample_draw

    sample = qa_sample_draw(actor=admin, domain=merge_queue[0].run.domain, queue="merge", rate="0.34", seed=1)
    drawn = set(sample.items.values_list("group_id", flat=True))
    html = login(steward).get("/d/demo/queue/merge/").content.decode()
    assert html.count(">QA sample</span>") == len(drawn) == 2
    assert html.count('<td class="num score">—</td>') == 2 and html.count('<td class="num score">0.990</td>') == 1
