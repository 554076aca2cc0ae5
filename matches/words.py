"""The words of a group's search text, as the queue search indexes them (docs/scaling.md, "Search by name").

search_text holds each member's lowercased name, emails and profile id. Postgres's text-search parser keeps an email,
a host name or a dotted or hyphenated run whole (`grace@navy.mil` is one token), so these characters become spaces
first: every part of an email or a dotted name is a word of its own. The expression is IMMUTABLE (translate,
coalesce, to_tsvector with a named configuration). The index (MatchGroup's `group_search_words`) compiles this
object; the search's lookup, the SQL function of migration 0023, spells it out word for word (a test compares the
two texts, so the planner keeps matching them).
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchVectorField
from django.db.models import F, Func, Value
from django.db.models.functions import Coalesce

# Split into words like a space; `'` and the other punctuation the parser already splits on.
PUNCTUATION = "@._-+/"

SEARCH_WORDS = Func(
    Value("simple"),
    Func(
        Coalesce(F("search_text"), Value("")),
        Value(PUNCTUATION),
        Value(" " * len(PUNCTUATION)),
        function="translate",
    ),
    function="to_tsvector",
    output_field=SearchVectorField(),
)

# Letters and digits (any script): what the parser keeps of a typed term. `_` is punctuation here, as in the index.
_WORD = re.compile(r"[^\W_]+")


def words_of(text: str) -> list[str]:
    """A typed term's distinct words, lowercased: letters and digits only (`Ann O'Neil-Lee`: ann, o, neil, lee)."""
    return list(dict.fromkeys(_WORD.findall(text.lower())))


def prefix_tsquery(words: list[str]) -> str:
    """A tsquery finding every word at a word's start: [ann, lee] -> `'ann':* & 'lee':*`. The words (words_of) hold
    only letters and digits, so no tsquery syntax (quotes, `&`, `|`, `!`, `:`, parentheses, backslashes) can reach
    Postgres from what was typed."""
    return " & ".join(f"'{w}':*" for w in words)
