"""The queue's search box: a profile id, a match id, or words of a name or email (docs/scaling.md, "Search by name").

Words are found at a word's start: `lee` finds "Lee" and "Leeds" but not "Ashlee", `navy` finds grace@navy.mil,
`ann lee` needs both words (in any order, in any member). The ids of the run's groups holding every word come first,
from the words index `group_search_words` (a query of their own, capped at WORDS_CAP), and the queue filters then
apply to those ids: inside the queue query Postgres would estimate any prefix search at 2% of the table and pick a
plan that reads the whole queue.

A common word is not looked up in the words index: its posting lists are as long as the table, and the index gathers
all of them before the first id comes back (190 ms for `ann` at 1,000,000 groups). A word is common when the index's
statistics (ANALYZE's most common words) put it in more groups than the cap, or when the lookup finds more than the
cap. Then the common words are searched as substrings (the trigram index, whose plan walks the queue fast for such a
word, the search as it was before the words index: "lee" also finds "Ashlee" there); rare words beside them still
go through the words index, the common ones checked at a word's start on the few groups it finds."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Q, QuerySet

from matches.models import MatchGroup
from matches.words import prefix_tsquery, words_of

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
# A match id shown short (its start, an ellipsis, its distinctive end), and what could be part of a match id.
_MATCH_SHORT = re.compile(r"^([0-9A-Za-z-]+)(?:…|\.\.\.)([0-9A-Za-z-]+)$")
_MATCH_PART = re.compile(r"^[0-9A-Za-z-]{4,}$")
# Hex digits with a digit among them: more likely a piece of a match id than a name, so it is tried as both.
_HEX_PART = re.compile(r"^(?=.*[0-9])[0-9a-f-]{4,}$")
_TABLE = MatchGroup._meta.db_table
# More groups than this holding the words: the substring search serves the term (its plan is fast for common words).
WORDS_CAP = 2000
STATS_SECONDS = 300
_INDEX = "group_search_words"
# The index's most common words and their share of the rows (ANALYZE keeps them for an expression index too).
_STATS_SQL = """
    SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples
    FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename
    WHERE s.schemaname = current_schema() AND s.tablename = %s
"""
_stats: tuple[float, dict[str, float]] | None = None


@contextmanager
def serial_plans() -> Iterator[None]:
    """The statements inside run in a transaction of their own with parallel plans off. A search's page query holds
    at most WORDS_CAP ids (or a profile's groups), but Postgres prices the id list's bitmap scan as if it were large
    and starts a worker for it: at 10,000,000 groups, 10-15 ms of the page's 20."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def common_words() -> dict[str, float]:
    """About how many groups hold each of the index's most common words, read at most every STATS_SECONDS (per
    process: the statistics change only at ANALYZE). Empty before the first ANALYZE."""
    global _stats
    if _stats is None or time.monotonic() - _stats[0] > STATS_SECONDS:
        with connection.cursor() as cur:
            cur.execute(_STATS_SQL, [_INDEX])
            row = cur.fetchone()
        words, freqs, rows = row if row and row[0] else ([], [], 0)
        _stats = (time.monotonic(), {w: f * max(rows, 0) for w, f in zip(words, freqs or [], strict=False)})
    return _stats[1]


def forget_stats() -> None:
    global _stats
    _stats = None


def is_common(word: str, cap: int) -> bool:
    """The statistics put more than `cap` groups under words starting with `word`."""
    return sum(n for w, n in common_words().items() if w.startswith(word)) > cap


def _lookup(*, run_id: int, words: list[str], limit: int) -> list[tuple[int, str]]:
    """(id, search_text) of up to `limit` of the run's groups with a word starting with each of `words`, from the
    words index, through the function of migration 0023 (parallel plans off for this one lookup)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, search_text FROM matches_group_words(%s, to_tsquery('simple', %s), %s)",
            [run_id, prefix_tsquery(words), limit],
        )
        return [(int(pk), text or "") for pk, text in cur.fetchall()]


def words_holding(*, run_id: int, words: list[str], cap: int) -> list[int] | None:
    """The ids of the run's groups with a word starting with each of `words`, or None when they are common: every
    word by the statistics, or more than `cap` groups holding the rare ones."""
    rare = [w for w in words if not is_common(w, cap)]
    if not rare:
        return None
    also = [w for w in words if w not in rare]
    rows = _lookup(run_id=run_id, words=rare, limit=cap + 1)
    if len(rows) > cap:
        return None
    if not also:
        return [pk for pk, _ in rows]
    # The common words are checked here on the few groups found, split as the index splits search_text: in the
    # statement, a tsvector made per row would price its plan into a parallel one (18 ms to start its workers).
    return [pk for pk, text in rows if all(any(t.startswith(w) for t in words_of(text)) for w in also)]


def search(qs: QuerySet, text: str, *, run_id: int) -> QuerySet:
    """`qs` (a queue of run `run_id`) narrowed to what `text` finds. An exact 32-hex id is looked up in profile_ids
    (GIN, exact) and as a match id; a match id as the pages show it short (`684d1a…3d4e5f6071`) by its start and end;
    anything else by its words (above), or as part of the match id (its own trigram index) when no name holds the
    words and it could be one, or when it is hex with a digit."""
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
    words = words_of(text)
    if not words:
        # Only punctuation: no word to find (a substring of punctuation would read the whole trigram index).
        return qs.none()
    ids = words_holding(run_id=run_id, words=words, cap=WORDS_CAP)
    if ids is None:
        # Common words: the substring plan, as before the words index.
        where = f'"{_TABLE}"."search_text" ILIKE %s' + (f' OR "{_TABLE}"."match_id" LIKE %s' if part else "")
        return qs.extra(where=[f"({where})"], params=[pattern, pattern] if part else [pattern])
    match_part = f'"{_TABLE}"."match_id" LIKE %s'
    if not ids:
        # No name holds the words: a part of a match id, if it could be one.
        return qs.extra(where=[match_part], params=[pattern]) if part else qs.none()
    # `= ANY` of one array parameter: up to WORDS_CAP ids without as many placeholders to compile. A term that
    # names found is a name (`lee1037`): the match ids' trigram scan would cost the whole page for nothing, so only
    # hex with a digit (`3d4e5f`) is also tried as a part of a match id.
    if part and _HEX_PART.match(lowered):
        return qs.extra(where=[f'("{_TABLE}"."id" = ANY(%s) OR {match_part})'], params=[ids, pattern])
    return qs.extra(where=[f'"{_TABLE}"."id" = ANY(%s)'], params=[ids])
