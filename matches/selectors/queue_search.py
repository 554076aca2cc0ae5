"""The queue's search box: a profile id, a match id, or words of a name or email (docs/scaling.md, "Search by name").

Words are found at a word's start: `lee` finds "Lee" and "Leeds" but not "Ashlee", `navy` finds grace@navy.mil,
`ann lee` needs both words (in any order, in any member). The ids of the run's groups holding every word come first,
from the words index `group_search_words` alone (a query of their own, capped at WORDS_CAP), and the queue filters
then apply to those ids: inside the queue query Postgres would estimate any prefix search at 2% of the table and pick
a plan that reads the whole queue. A word common enough to be in more of the run's groups than the cap is searched
as a substring instead, as before the words index (the trigram index walks the queue fast for such a word, and then
"lee" also finds "Ashlee")."""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery
from django.db.models import Q, QuerySet

from matches.models import MatchGroup
from matches.words import SEARCH_WORDS, prefix_tsquery

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
# A match id shown short (its start, an ellipsis, its distinctive end), and what could be part of a match id.
_MATCH_SHORT = re.compile(r"^([0-9A-Za-z-]+)(?:…|\.\.\.)([0-9A-Za-z-]+)$")
_MATCH_PART = re.compile(r"^[0-9A-Za-z-]{4,}$")
_TABLE = MatchGroup._meta.db_table
# More groups than this holding the words: the substring search serves the term (its plan is fast for common words).
WORDS_CAP = 2000


def words_query(*, run_id: int, tsquery: str) -> QuerySet:
    """The ids of the run's groups whose search text has a word starting with each word of `tsquery`."""
    words = SearchQuery(tsquery, config="simple", search_type="raw")
    return (
        MatchGroup.objects.filter(run_id=run_id)
        .alias(words=SEARCH_WORDS)
        .filter(words=words)
        .values_list("pk", flat=True)
    )


def words_holding(*, run_id: int, tsquery: str, cap: int) -> list[int] | None:
    """words_query's ids, or None when there are more than `cap`."""
    ids = list(words_query(run_id=run_id, tsquery=tsquery)[: cap + 1])
    return None if len(ids) > cap else ids


def search(qs: QuerySet, text: str, *, run_id: int) -> QuerySet:
    """`qs` (a queue of run `run_id`) narrowed to what `text` finds. An exact 32-hex id is looked up in profile_ids
    (GIN, exact) and as a match id; a match id as the pages show it short (`684d1a…3d4e5f6071`) by its start and end;
    anything else by its words (above), or as part of the match id (its own trigram index) when it could be one."""
    lowered = text.lower()
    if _HEX_ID.match(lowered):
        # The planner misjudges array containment and would walk the queue index over the whole run; the ids of the
        # few groups holding this profile come first, from the GIN index alone, then the queue filters apply.
        holding = list(MatchGroup.objects.filter(profile_ids__contains=[lowered]).values_list("pk", flat=True)[:1000])
        return qs.filter(Q(pk__in=holding) | Q(match_id=text))
    short = _MATCH_SHORT.match(text)
    if short:
        return qs.filter(match_id__startswith=short[1], match_id__endswith=short[2])
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    part = _MATCH_PART.match(text) is not None
    tsquery = prefix_tsquery(text)
    if not tsquery:
        # Only punctuation: no word to find (a substring of punctuation would read the whole trigram index).
        return qs.none()
    ids = words_holding(run_id=run_id, tsquery=tsquery, cap=WORDS_CAP)
    if ids is None:
        # Too common a word: the substring plan, as before the words index.
        where = f'"{_TABLE}"."search_text" ILIKE %s' + (f' OR "{_TABLE}"."match_id" LIKE %s' if part else "")
        return qs.extra(where=[f"({where})"], params=[pattern, pattern] if part else [pattern])
    if not ids and not part:
        return qs.none()
    # `= ANY` of one array parameter: up to WORDS_CAP ids without as many placeholders to compile.
    if part:
        return qs.extra(where=[f'("{_TABLE}"."id" = ANY(%s) OR "{_TABLE}"."match_id" LIKE %s)'], params=[ids, pattern])
    return qs.extra(where=[f'"{_TABLE}"."id" = ANY(%s)'], params=[ids])
