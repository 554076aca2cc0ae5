import re
from decimal import Decimal

import pytest
from django.urls import reverse

from matches.models import MatchGroup, MatchRun, ThresholdPolicy
from matches.selectors import queue_counts
from matches.services.groups import bins_add
from tests.factories import MatchGroupFactory, MatchRunFactory, UserFactory, hex_id

Status = MatchGroup.Status
ROW = re.compile(r'<tr data-row id="group-(\d+)"')


def queue_url(queue, **params):
    from urllib.parse import urlencode

    url = reverse("queue", args=["demo", queue])
    return f"{url}?{urlencode(params)}" if params else url


def row_ids(response) -> list[int]:
    return [int(pk) for pk in ROW.findall(response.content.decode())]


def make_groups(run, scores, **kwargs):
    groups = [MatchGroupFactory(run=run, confidence_score=s, **kwargs) for s in scores]
    bins_add(run=run, scores=scores)
    return groups


@pytest.fixture
def run(domain):
    return MatchRunFactory(domain=domain)


@pytest.fixture
def mixed(run):
    """Two groups in each queue under the default policy (merge >= 0.95, reject < 0.6)."""
    return make_groups(run, [0.99, 0.95, 0.9, 0.6, 0.59, 0.1])


def next_link(response) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


# Access by role -----------------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, domain):
    response = client.get(queue_url("review"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_outsider_is_refused(login, outsider, domain):
    assert login(outsider).get(queue_url("review")).status_code == 403


@pytest.mark.parametrize("persona", ["steward", "admin", "auditor"])
def test_each_role_reads_every_queue(request, login, persona, mixed):
    client = login(request.getfixturevalue(persona))
    for queue in ("merge", "review", "reject", "carried"):
        assert client.get(queue_url(queue)).status_code == 200


def test_unknown_queue_is_404(login, steward, domain):
    assert login(steward).get(queue_url("everything")).status_code == 404


def test_auditor_cannot_claim_the_next_group(login, auditor, mixed):
    response = login(auditor).post(reverse("queue-next", args=["demo", "review"]))
    assert response.status_code == 403
    assert not MatchGroup.objects.filter(claimed_by__isnull=False).exists()


def test_steward_claims_the_next_group_of_the_queue(login, steward, mixed):
    response = login(steward).post(reverse("queue-next", args=["demo", "review"]))
    top = mixed[2]  # 0.9: the highest score of the review queue
    assert response.status_code == 302 and response.url == f"/groups/{top.pk}/?queue=review"
    top.refresh_from_db()
    assert top.claimed_by == steward


# Buckets, counts, order -------------------------------------------------------------------------------------------


def test_groups_sit_in_the_queue_of_their_score_and_counts_agree(login, steward, mixed, run):
    client = login(steward)
    merge, review, reject = (row_ids(client.get(queue_url(q))) for q in ("merge", "review", "reject"))
    assert merge == [mixed[0].pk, mixed[1].pk]
    assert review == [mixed[2].pk, mixed[3].pk]
    # The reject queue starts with the lowest score.
    assert reject == [mixed[5].pk, mixed[4].pk]
    policy = run.domain.policy()
    counts = queue_counts(run=run, policy=policy)
    for queue, n in (("merge", counts.merge), ("review", counts.review), ("reject", counts.reject)):
        direct = MatchGroup.objects.filter(policy.score_q(queue), run=run, status=Status.OPEN).count()
        assert n == direct == 2
    page = client.get(queue_url("review")).content.decode()
    assert '<span class="count" id="count-merge">2</span>' in page
    assert '<span class="count" id="count-review">2</span>' in page


def test_a_threshold_change_moves_groups_at_once(login, steward, mixed, domain):
    client = login(steward)
    assert mixed[2].pk not in row_ids(client.get(queue_url("merge")))
    ThresholdPolicy.objects.create(domain=domain, merge_min=Decimal("0.900"), reject_below=Decimal("0.050"))
    assert mixed[2].pk in row_ids(client.get(queue_url("merge")))
    assert mixed[2].pk not in row_ids(client.get(queue_url("review")))
    assert row_ids(client.get(queue_url("review"))) == [mixed[3].pk, mixed[4].pk, mixed[5].pk]
    page = client.get(queue_url("review")).content.decode()
    assert '<span class="count" id="count-merge">3</span>' in page
    assert '<span class="count" id="count-review">3</span>' in page


def test_decided_groups_leave_the_queue(login, steward, mixed):
    from matches.services.decisions import group_reject

    group_reject(group=mixed[2], actor=steward)
    assert mixed[2].pk not in row_ids(login(steward).get(queue_url("review")))


def test_only_the_latest_completed_run_is_shown(login, steward, domain, mixed):
    older = MatchRunFactory(domain=domain, status="superseded")
    (old,) = make_groups(older, [0.8])
    assert old.pk not in row_ids(login(steward).get(queue_url("review")))


# Keyset pagination --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_pages_cover_every_group_once_in_order(login, steward, run, order):
    # Ties on the score make the id part of the cursor matter.
    scores = [round(0.61 + (i % 37) * 0.009, 3) for i in range(123)]
    groups = make_groups(run, scores)
    client = login(steward)
    seen, url, pages = [], queue_url("review", order=order), 0
    while url:
        response = client.get(url)
        ids = row_ids(response)
        assert len(ids) <= 50
        seen += ids
        pages += 1
        nxt = next_link(response)
        url = reverse("queue", args=["demo", "review"]) + nxt if nxt else None
    assert pages == 3
    by_pk = {g.pk: g for g in groups}
    key = [(by_pk[pk].confidence_score, pk) for pk in seen]
    assert len(seen) == len(set(seen)) == 123
    assert key == sorted(key, reverse=(order == "desc"))


def test_no_offset_in_the_page_query(login, steward, run, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_groups(run, [0.7] * 60)
    client = login(steward)
    first = client.get(queue_url("review"))
    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("queue", args=["demo", "review"]) + next_link(first))
    sql = " ".join(q["sql"] for q in ctx.captured_queries if "matches_matchgroup" in q["sql"])
    assert "OFFSET" not in sql.upper()
    assert '("matches_matchgroup"."confidence_score", "matches_matchgroup"."id") <' in sql


# Filters and search -------------------------------------------------------------------------------------------------


def test_score_range_filter(login, steward, run):
    groups = make_groups(run, [0.62, 0.7, 0.8, 0.9])
    ids = row_ids(login(steward).get(queue_url("review", min="0.7", max="0.8")))
    assert ids == [groups[2].pk, groups[1].pk]


def test_bad_score_filter_is_explained_not_crashing(login, steward, mixed):
    response = login(steward).get(queue_url("review", min="lots"))
    assert response.status_code == 200
    assert b"The minimum score must be a number between 0 and 1." in response.content
    assert len(row_ids(response)) == 2


@pytest.mark.parametrize(
    "query,expected",
    [("lovelace", 0), ("ADA.L@EXAMPLE", 0), ("grace", 1), (hex_id(900), 1), (hex_id(900)[:12], 1), ("nobody", None)],
)
def test_search_by_name_email_or_profile_id(login, steward, run, query, expected):
    ada = MatchGroupFactory(
        run=run,
        confidence_score=0.7,
        display_names="Ada Lovelace · A. Lovelace",
        search_text="ada lovelace ada.l@example.com " + " ".join([hex_id(800), hex_id(801)]),
        profile_ids=sorted([hex_id(800), hex_id(801)]),
    )
    # The id is only in profile_ids, not in search_text: an exact id must still find it.
    grace = MatchGroupFactory(
        run=run,
        confidence_score=0.8,
        display_names="Grace Hopper",
        search_text=f"grace hopper grace@navy.mil {hex_id(900)[:12]}",
        profile_ids=sorted([hex_id(900), hex_id(901)]),
    )
    MatchGroupFactory(run=run, confidence_score=0.75, display_names="Alan Turing", search_text="alan turing")
    bins_add(run=run, scores=[0.7, 0.8, 0.75])
    ids = row_ids(login(steward).get(queue_url("review", q=query)))
    assert ids == ([] if expected is None else [[ada, grace][expected].pk])


@pytest.mark.parametrize("n", [3, 40])
@pytest.mark.parametrize("kind", ["name", "profile id"])
def test_search_queries_do_not_grow_with_matches(login, steward, run, n, kind, django_assert_max_num_queries):
    ids = [hex_id(5000 + i) for i in range(n)]
    for i, pid in enumerate(ids):
        MatchGroupFactory(
            run=run,
            confidence_score=0.7,
            display_names=f"Ann Lee{i}",
            search_text=f"ann lee{i} ann{i}@example.com {pid}",
            profile_ids=sorted([pid, hex_id(9000 + i)]),
        )
    bins_add(run=run, scores=[0.7] * n)
    client = login(steward)
    q = "lee" if kind == "name" else ids[-1]
    client.get(queue_url("review", q=q))  # warm the session and the policy line's cache
    # 8: the session, the user and their permissions (4), the domain's context, the counts, the page, the roles for
    # the layout; both kinds ask one more: the groups holding the profile id (GIN on profile_ids) or the words
    # (the words index), before the page; and the page of a search runs with parallel plans off (serial_plans:
    # SET LOCAL in a savepoint here, 3 statements; in production a transaction, 1).
    with django_assert_max_num_queries(12):
        response = client.get(queue_url("review", q=q))
    assert len(row_ids(response)) == (n if kind == "name" else 1)


@pytest.fixture
def named(run):
    """Groups whose names share `lee` at a word's start, inside a word, and in an email's parts."""
    texts = {
        "lee": f"ann lee ann.lee@example.com {hex_id(1)}",
        "leeds": f"bob leeds {hex_id(2)}",
        "ashlee": f"ashlee smith ashlee@example.com {hex_id(3)}",
        "grace": f"grace hopper grace@navy.mil {hex_id(4)}",
        "hyphen": f"mary-jane watson mj_w+news@daily.bugle.com {hex_id(5)}",
    }
    groups = {
        key: MatchGroupFactory(run=run, confidence_score=0.7 + i / 100, search_text=text)
        for i, (key, text) in enumerate(texts.items())
    }
    bins_add(run=run, scores=[g.confidence_score for g in groups.values()])
    return groups


@pytest.mark.parametrize(
    "query,found",
    [
        ("lee", {"lee", "leeds"}),  # at a word's start, never inside one ("Ashlee")
        ("LEE", {"lee", "leeds"}),
        ("leeds", {"leeds"}),
        ("shlee", set()),
        ("ann lee", {"lee"}),  # every word, in any order
        ("lee ann", {"lee"}),
        ("lee bob", {"leeds"}),  # "bob leeds"
        ("lee hopper", set()),
        ("navy", {"grace"}),  # the parts of an email
        ("mil", {"grace"}),
        ("grace@navy.mil", {"grace"}),
        ("ann.lee@exa", {"lee"}),
        ("jane", {"hyphen"}),  # hyphenated, underscored, plussed and dotted parts
        ("mary-jane", {"hyphen"}),
        ("news", {"hyphen"}),
        ("bugle", {"hyphen"}),
        ("w", {"hyphen"}),  # one letter: "watson" and the "w" of mj_w
        (hex_id(2)[:10], {"leeds"}),  # the start of a profile id
    ],
)
def test_search_finds_words_by_their_start(login, steward, named, query, found):
    ids = row_ids(login(steward).get(queue_url("review", q=query)))
    assert set(ids) == {named[key].pk for key in found}


@pytest.mark.parametrize(
    "query,found",
    [
        ("a & b | !c:*", set()),  # tsquery operators are not operators here: words a, b, c, which no group has
        ("lee:*", {"lee", "leeds"}),
        ("lee | ashlee", set()),  # both words, not either
        ("!lee", {"lee", "leeds"}),
        ("(lee)", {"lee", "leeds"}),
        ("'lee'", {"lee", "leeds"}),
        ('"lee', {"lee", "leeds"}),
        ("lee\\", {"lee", "leeds"}),
        ("\\'", set()),  # only punctuation: no word, so nothing (not every group)
        ("&|!:*()", set()),
        ("%", set()),
        ("_", set()),
    ],
)
def test_search_syntax_in_the_term_is_only_text(login, steward, named, query, found):
    response = login(steward).get(queue_url("review", q=query))
    assert response.status_code == 200
    assert set(row_ids(response)) == {named[key].pk for key in found}


def test_a_word_in_more_groups_than_the_cap_is_searched_as_a_substring(login, steward, named, monkeypatch):
    from matches.selectors import queue_search

    client = login(steward)
    assert set(row_ids(client.get(queue_url("review", q="lee")))) == {named["lee"].pk, named["leeds"].pk}
    monkeypatch.setattr(queue_search, "WORDS_CAP", 1)
    # Above the cap, the trigram plan: a substring, so "Ashlee" is found too; the queue's order still holds.
    ids = row_ids(client.get(queue_url("review", q="lee")))
    assert ids == [named["ashlee"].pk, named["leeds"].pk, named["lee"].pk]
    # A word below the cap still takes the words index.
    assert row_ids(client.get(queue_url("review", q="navy"))) == [named["grace"].pk]


def test_a_word_the_statistics_call_common_skips_the_words_index(login, steward, run, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from matches.selectors import queue_search

    smiths = make_groups(run, [0.7] * 30, search_text="jo smith jo@example.com")
    gold = MatchGroupFactory(run=run, confidence_score=0.8, search_text="ann goldsmith")
    rare = MatchGroupFactory(run=run, confidence_score=0.81, search_text="zed smith")
    rare_gold = MatchGroupFactory(run=run, confidence_score=0.82, search_text="zed goldsmith")
    bins_add(run=run, scores=[0.8, 0.81, 0.82])
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {MatchGroup._meta.db_table}")  # "smith" becomes one of the index's most common words
    monkeypatch.setattr(queue_search, "WORDS_CAP", 10)
    queue_search.forget_stats()
    monkeypatch.setattr(queue_search, "_stats", None)  # forgotten again when the test ends
    assert queue_search.is_common("smith", 10) and not queue_search.is_common("zed", 10)
    client = login(steward)
    with CaptureQueriesContext(connection) as ctx:
        ids = row_ids(client.get(queue_url("review", q="smith")))
    # Common: the substring plan (goldsmith too), and no lookup in the words index first.
    assert set(ids) == {g.pk for g in smiths} | {gold.pk, rare.pk, rare_gold.pk}
    assert not any("to_tsquery" in q["sql"] for q in ctx.captured_queries)
    # Beside a rare word, the common one is checked at a word's start on the groups the rare one finds.
    assert row_ids(client.get(queue_url("review", q="smith zed"))) == [rare.pk]


def test_the_words_lookup_reads_the_words_index(run, named):
    """The query's expression is the index's (matches/words.py): with scans other than a bitmap priced out, Postgres
    answers it from group_search_words (the only index on it), and finds the words."""
    from django.contrib.postgres.search import SearchQuery
    from django.db import connection, transaction

    from matches.words import SEARCH_WORDS, prefix_tsquery

    words = SearchQuery(prefix_tsquery(["lee"]), config="simple", search_type="raw")
    alone = MatchGroup.objects.alias(words=SEARCH_WORDS).filter(words=words).values_list("pk", flat=True)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("SET LOCAL enable_indexscan = off")
        plan = alone.explain()
    assert "Bitmap Index Scan on group_search_words" in plan
    assert set(alone) == {named["lee"].pk, named["leeds"].pk}
    # The search itself looks up through migration 0023's function (parallel plans off): the same expression as the
    # index, word for word, and the same groups.
    from matches.selectors.queue_search import _lookup

    with connection.cursor() as cur:
        cur.execute("SELECT prosrc FROM pg_proc WHERE proname = 'matches_group_words'")
        (body,) = cur.fetchone()
        cur.execute("SELECT pg_get_indexdef('group_search_words'::regclass)")
        (index,) = cur.fetchone()
    expression = index[index.index("(to_tsvector") + 1 : index.rindex(")")]
    assert expression in body.replace("g.search_text", "search_text")
    assert {pk for pk, _ in _lookup(run_id=run.pk, words=["lee"], limit=10)} == set(alone)


def test_manual_groups_are_listed_only_when_the_run_has_one(login, steward, run, django_assert_max_num_queries):
    make_groups(run, [0.7] * 3)
    client = login(steward)
    client.get(queue_url("review"))
    with django_assert_max_num_queries(8):
        assert 'id="manual-groups"' not in client.get(queue_url("review")).content.decode()
    manual = MatchGroupFactory(
        run=run, confidence_score=None, source=MatchGroup.Source.MANUAL, display_names="Ann Manual", size=2
    )
    with django_assert_max_num_queries(9):
        page = client.get(queue_url("review")).content.decode()
    assert 'id="manual-groups"' in page and "Ann Manual" in page and f"/groups/{manual.pk}/" in page
    manual.status = MatchGroup.Status.REJECTED
    manual.save(update_fields=["status"])
    assert 'id="manual-groups"' not in client.get(queue_url("review")).content.decode()


def test_customer_names_in_the_queue_are_escaped(login, steward, run):
    make_groups(run, [0.7], display_names="<img src=x onerror=alert(1)> Lee")
    page = login(steward).get(queue_url("review")).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; Lee" in page


def test_every_value_of_a_queue_row_is_escaped(login, steward, run):
    """The score-ordered rows are built in Python (views/queue_rows.py): each customer- or user-supplied value is
    escaped there as a template would, and the tags still render as markup."""
    from matches.services.decisions import group_claim

    evil = UserFactory(username='<b id="u">eve</b>')
    evil.groups.add(*steward.groups.all())
    (group,) = make_groups(
        run, [0.7], display_names="<script>alert(1)</script> & Lee", match_id='m"><img src=x>', both_engines=True
    )
    group_claim(group=group, actor=evil)
    page = login(steward).get(queue_url("review")).content.decode()
    row = page.split(f'<tr data-row id="group-{group.pk}">')[1].split("</tr>")[0]
    assert "<script>" not in row and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Lee" in row
    assert '<b id="u">' not in row and "&lt;b id=&quot;u&quot;&gt;eve&lt;/b&gt;" in row
    assert "<img src=x>" not in page and 'title="MatchId m&quot;&gt;&lt;img src=x&gt;"' in row
    assert '<span class="tag both-engines"' in row and "0.700" in row
    assert f'<a data-open href="/groups/{group.pk}/?queue=review">' in row


def test_blind_review_hides_scores(login, steward, mixed, domain):
    client = login(steward)
    assert "0.900" in client.get(queue_url("review")).content.decode()
    response = client.post(reverse("blind-review-toggle"), {"next": queue_url("review")})
    assert response.status_code == 302 and response.url == queue_url("review")
    assert "0.900" not in client.get(queue_url("review")).content.decode()
    client.post(reverse("blind-review-toggle"), {"next": queue_url("review")})
    domain.blind_review_enforced = True
    domain.save()
    page = client.get(queue_url("review")).content.decode()
    assert "0.900" not in page and "blind review (enforced)" in page


def test_blind_toggle_refuses_an_outside_return_address(login, steward, domain):
    assert login(steward).post(reverse("blind-review-toggle"), {"next": "https://evil.example/"}).status_code == 403


# Claims and carried-over groups -----------------------------------------------------------------------------------


def test_rows_show_who_holds_the_claim(login, steward, steward2, mixed):
    from matches.services.decisions import group_claim

    group_claim(group=mixed[2], actor=steward2)
    page = login(steward).get(queue_url("review")).content.decode()
    row = page.split(f'id="group-{mixed[2].pk}"')[1].split("</tr>")[0]
    assert "steward2" in row and "until" in row


def test_next_skips_groups_someone_else_holds(login, steward, steward2, mixed):
    from matches.services.decisions import group_claim

    group_claim(group=mixed[2], actor=steward2)
    response = login(steward).post(reverse("queue-next", args=["demo", "review"]))
    assert response.url == f"/groups/{mixed[3].pk}/?queue=review"


def test_carried_over_groups_are_listed_apart_with_the_decision_behind_them(login, steward, admin, run, domain):
    from matches.models import Decision
    from matches.services.decisions import group_reject

    earlier_run = MatchRunFactory(domain=domain)
    (earlier,) = make_groups(earlier_run, [0.7])
    decision = group_reject(group=earlier, actor=admin, reason="different birth dates")
    # Decided while its run was current; then a newer pull replaced it (a superseded run takes no decisions).
    MatchRun.objects.filter(pk=earlier_run.pk).update(status="superseded")
    carried = MatchGroupFactory(
        run=run,
        confidence_score=0.7,
        status=Status.CARRIED_OVER,
        linked_decision=decision,
        profile_ids=earlier.profile_ids,
    )
    bins_add(run=run, scores=[0.7], open_=False)
    client = login(steward)
    assert carried.pk not in row_ids(client.get(queue_url("review")))
    page = client.get(queue_url("carried")).content.decode()
    assert carried.pk in row_ids(client.get(queue_url("carried")))
    assert "by admin" in page and "different birth dates" in page
    response = client.post(reverse("group-reopen", args=[carried.pk]))
    assert response.status_code == 302
    carried.refresh_from_db()
    assert carried.status == Status.OPEN
    reopen = Decision.objects.get(group=carried)
    assert reopen.action == "reopen" and reopen.reverts == decision and reopen.actor == steward
    assert carried.pk in row_ids(client.get(queue_url("review")))


def test_auditor_cannot_reopen(login, auditor, run):
    (group,) = make_groups(run, [0.7], status=Status.REJECTED)
    assert login(auditor).post(reverse("group-reopen", args=[group.pk])).status_code == 403


# Queries ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 50])
def test_queue_page_queries_do_not_grow_with_rows(login, steward, steward2, run, n, django_assert_max_num_queries):
    from matches.services.decisions import group_claim

    groups = make_groups(run, [0.7] * n)
    other = UserFactory(username="other", roles=["Steward"])
    for g in groups[::2]:
        group_claim(group=g, actor=other if g.pk % 2 else steward2)
    client = login(steward)
    client.get(queue_url("review"))  # warm the session
    # 8 = 7 + the session, read from Postgres since sessions left the Redis cache (issue 14: pages work without Redis).
    # The review queue's list of manual groups (issue 15) is asked only when the run has one: the domain's context
    # says so (test_manual_groups_are_listed_only_when_the_run_has_one).
    with django_assert_max_num_queries(8):
        response = client.get(queue_url("review"))
    assert len(row_ids(response)) == n


def test_htmx_filter_answers_with_the_table_only(login, steward, mixed):
    response = login(steward).get(queue_url("review", q=""), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-table")
    html = response.content.decode().strip()
    assert html.startswith('<div id="queue-table">') and "<html" not in html
    assert row_ids(response) == [mixed[2].pk, mixed[3].pk]


def test_home_counts_link_to_the_queues(login, steward, mixed):
    page = login(steward).get(reverse("home")).content.decode()
    assert f'href="{queue_url("review")}">2</a>' in page


def prev_link(response) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="prev"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def test_paging_back_and_the_position_from_the_histogram(login, steward, run, django_assert_max_num_queries):
    groups = make_groups(run, [0.6 + i / 1000 for i in range(123)])
    client, base = login(steward), reverse("queue", args=["demo", "review"])
    first = client.get(queue_url("review"))
    assert "1–50 of 123" in first.content.decode() and prev_link(first) is None
    second = client.get(base + next_link(first))
    third = client.get(base + next_link(second))
    assert "51–100 of 123" in second.content.decode()
    assert "101–123 of 123" in third.content.decode() and next_link(third) is None
    client.get(base + prev_link(third))  # warm
    with django_assert_max_num_queries(8):
        back = client.get(base + prev_link(third))
    assert row_ids(back) == row_ids(second)
    assert "51–100 of 123" in back.content.decode()
    again = client.get(base + prev_link(back))
    assert row_ids(again) == row_ids(first) and prev_link(again) is None
    assert "1–50 of 123" in again.content.decode()
    assert len(groups) == 123


def test_a_filtered_queue_shows_its_position_without_a_total(login, steward, run):
    make_groups(run, [0.7] * 60)
    client = login(steward)
    first = client.get(queue_url("review", min="0.65"))
    assert "1–50<" in first.content.decode() and " of " not in first.content.decode().split("position")[1][:40]


SHARED = "684d1a4264a800000000"


@pytest.mark.parametrize(
    "query,expected",
    [
        (SHARED + "3d4e5f6071", 0),  # the whole id
        ("3d4e5f6071", 0),  # the distinctive part the pages show
        ("3d4e5f", 0),  # a prefix of it
        ("684d1a…3d4e5f6071", 0),  # the short form, pasted
        ("684d1a...9a8b7c6d5e", 1),
        ("9a8b", 1),
        ("684d1a…0000000000", None),
    ],
)
def test_search_by_match_id(login, steward, run, query, expected):
    groups = [
        MatchGroupFactory(run=run, confidence_score=0.7, match_id=SHARED + "3d4e5f6071", search_text="ann lee"),
        MatchGroupFactory(run=run, confidence_score=0.8, match_id=SHARED + "9a8b7c6d5e", search_text="bob lee"),
        MatchGroupFactory(run=run, confidence_score=0.75, match_id=SHARED + "1234512345", search_text="cy lee"),
    ]
    bins_add(run=run, scores=[0.7, 0.8, 0.75])
    ids = row_ids(login(steward).get(queue_url("review", q=query)))
    assert ids == ([] if expected is None else [groups[expected].pk])


def test_the_queue_shows_the_distinctive_part_of_match_ids(login, steward, run):
    MatchGroupFactory(run=run, confidence_score=0.7, match_id=SHARED + "3d4e5f6071")
    bins_add(run=run, scores=[0.7])
    page = login(steward).get(queue_url("review")).content.decode()
    assert f'title="MatchId {SHARED}3d4e5f6071">684d1a…3d4e5f6071</td>' in page


@pytest.mark.parametrize(
    "query,expected",
    [
        ("lee1037", [0]),  # names hold it: a name, not a piece of B's match id
        ("rule2-ab", [1]),  # no name holds it: a piece of a match id
        ("c0ffee1", [0, 1]),  # hex with a digit: both a name's word and a piece of a match id
        ("zzz9zz", []),
    ],
)
def test_a_term_names_hold_is_not_also_searched_in_match_ids(login, steward, run, query, expected):
    groups = [
        MatchGroupFactory(
            run=run, confidence_score=0.7, match_id=SHARED + "0000000001", search_text="ann lee1037 c0ffee1"
        ),
        MatchGroupFactory(run=run, confidence_score=0.8, match_id="rule2-ab-lee1037-c0ffee1", search_text="bob lee"),
    ]
    bins_add(run=run, scores=[0.7, 0.8])
    ids = row_ids(login(steward).get(queue_url("review", q=query)))
    assert sorted(ids) == sorted(groups[i].pk for i in expected)
