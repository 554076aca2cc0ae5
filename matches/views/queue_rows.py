"""A queue page's rows as HTML, built in Python: 50 rows a visit through the template engine cost about a quarter of
the page's time (docs/scaling.md, "Review"). Every value goes through format_html, so customer data is escaped as in
a template; the markup is the template's (templates/matches/review/queue.html keeps the carried-over queue's rows,
which add a decision and a form)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from matches.models import MatchGroup

# The fixed bits of a row, made the same way as the rest (format_html of constant text: no markup is trusted).
_BOTH_ENGINES = format_html(
    ' <span class="tag both-engines" title="{}">{}</span>',
    "Rule-based matching proposes this profile set too",
    "ML + rules",
)
_QA_SAMPLE = format_html(
    ' <span class="tag warn" title="{}">{}</span>', "Drawn into a QA sample: decided blind", "QA sample"
)
_OVERDUE = format_html(' <span class="tag warn">{}</span>', "overdue")
_NOBODY = format_html('<td class="claim"><span class="muted">{}</span></td>', "—")
_MINE = format_html('<span class="tag mine">{}</span>', "you")
_EMPTY = SafeString()

_ROW = (
    '<tr data-row id="group-{}">{}<td class="num">{}</td>'
    '<td class="names"><a data-open href="{}">{}</a>{}{}</td>'
    '<td><span class="tag st-{}">{}</span></td>{}'
    '<td class="mono muted matchid" title="MatchId {}">{}</td><td class="num age">{}{}</td></tr>\n'
)


def queue_rows(rows: Iterable[MatchGroup], *, blind: bool) -> SafeString:
    """The rows of a score-ordered queue (the views set each row's display values first, see views/queues.py)."""
    out = []
    for g in rows:
        score = _EMPTY if blind else format_html('<td class="num score">{}</td>', g.score_text)
        if g.claim_who:
            who = _MINE if g.claim_mine else g.claim_who
            claim = format_html('<td class="claim">{} <span class="muted">until {}</span></td>', who, g.claim_until)
        else:
            claim = _NOBODY
        out.append(
            format_html(
                _ROW,
                g.pk,
                score,
                g.size_s,
                g.url,
                g.names,
                _BOTH_ENGINES if g.both_engines and not blind else _EMPTY,
                _QA_SAMPLE if g.qa_sampled else _EMPTY,
                g.status,
                g.status_label,
                claim,
                g.match_id,
                g.match_s,
                g.age_s,
                _OVERDUE if g.overdue else _EMPTY,
            )
        )
    return format_html_join("", "{}", ((row,) for row in out))  # each row is escaped already: kept as it is
