"""How a MatchId reads where it must be short: AWS's ids in one run share a long prefix (684d1a4264a800000…), so
the start is kept short and the distinctive end is shown; the full id goes in a title and in searches."""

from __future__ import annotations

from django import template

register = template.Library()

HEAD, TAIL = 6, 10


@register.filter
def match_short(match_id: object) -> str:
    text = str(match_id or "")
    if len(text) <= HEAD + TAIL + 1:
        return text
    return f"{text[:HEAD]}…{text[-TAIL:]}"
