"""The rule-based pull (docs/architecture.md, "Rule-based matches"): after a run's GetMatches pages, when the domain's
`rule_based_pull` is on, page ListRuleBasedMatches and read each MatchId's profiles with GetSimilarProfiles
(RULE_BASED_MATCHING, SearchKey `_matchId`: ListRuleBasedMatches gives ids only).

Exactly once: a ListRuleBasedMatches page is fetched and resolved outside any transaction, then stored in one
transaction that re-checks the run's checkpoint (status, pages, restarts and `rule_pages`) and moves `rule_next_token`
past it; a pull killed before that commit fetches the same page again from the saved token. A rule match whose profile
set is an ML group of the run is not stored twice: that ML group is marked `both_engines` with the rule level.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from matches import aws
from matches.aws import AwsBadRequest
from matches.models import PROFILE_ID_RE, Domain, MatchGroup, MatchRun, QuarantinedMatch, profile_set_key
from matches.services.audit import audit_log
from matches.services.pulls.results import ProgressCallback, PullFailed, PullLost
from matches.services.pulls.store import first_seen_of, progress_of
from matches.services.pulls.validate import raw_plain

log = logging.getLogger(__name__)

MAX_RESULTS = 100
MAX_RULE_RESTARTS = 3
Source = MatchGroup.Source
RunStatus = MatchRun.Status


@dataclass(frozen=True)
class RuleMatch:
    match_id: str
    profile_ids: tuple[str, ...]
    rule_level: int


def _read(domain: Domain, operation: str, call: Any) -> dict[str, Any]:
    from matches.services.backoff import aws_read  # throttling and 5xx: retried with backoff under the limiter

    result: dict[str, Any] = aws_read(domain, operation, call)
    return result


def match_resolve(domain: Domain, match_id: str) -> dict[str, Any]:
    """GetSimilarProfiles for one rule-based MatchId, every ProfileIds page joined."""
    ids: list[str] = []
    token: str | None = None
    while True:
        page = _read(
            domain,
            "GetSimilarProfiles",
            lambda t=token: aws.get_similar_profiles(
                domain, match_id=match_id, match_type="RULE_BASED_MATCHING", next_token=t
            ),
        )
        ids += [pid for pid in page.get("ProfileIds") or [] if pid not in ids]
        token = page.get("NextToken")
        if not token:
            return {"MatchId": page.get("MatchId", match_id), "ProfileIds": ids, "RuleLevel": page.get("RuleLevel")}


def rule_validate(item: dict[str, Any]) -> tuple[RuleMatch | None, str]:
    ids, level = item.get("ProfileIds") or [], item.get("RuleLevel")
    if not all(isinstance(p, str) and re.fullmatch(PROFILE_ID_RE, p) for p in ids):
        return None, "a ProfileId is not 32 lower-case hex digits"
    if len(set(ids)) < 2:
        return None, "fewer than two distinct profiles"
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 15:
        return None, f"RuleLevel {level!r} is not an integer from 1 to 15"
    return RuleMatch(str(item["MatchId"]), tuple(dict.fromkeys(ids)), level), ""


def _lock(run: MatchRun) -> None:
    current = (
        MatchRun.objects.select_for_update()
        .filter(pk=run.pk)
        .values_list("status", "pages", "restarts", "rule_pages")
        .first()
    )
    if current != (RunStatus.RUNNING, run.pages, run.restarts, run.rule_pages):
        raise PullLost(f"run {run.pk} moved on without this pull (now {current}); another pull took it over")


def rule_page_store(*, run: MatchRun, items: list[dict[str, Any]], next_token: str) -> int:
    """Store one ListRuleBasedMatches page's resolved matches and move the checkpoint, in one transaction. Returns
    the rule matches stored (new rows plus ML groups marked as proposed by both engines)."""
    stored = 0
    with transaction.atomic():
        _lock(run)
        clean_matches: dict[str, RuleMatch] = {}
        for item in items:
            clean, reason = rule_validate(item)
            if clean is None:
                _, digest = raw_plain(item)
                _, made = QuarantinedMatch.objects.get_or_create(
                    run=run, raw_hash=digest, defaults={"raw": item, "reason": reason, "page": run.rule_pages + 1}
                )
                run.quarantined += made
            else:
                clean_matches.setdefault(clean.match_id, clean)
        # A page in a constant number of statements (the run's row lock keeps another pull out meanwhile): which ML
        # groups share a set, which match ids are stored already (a page fetched again after a crash), then one insert.
        keys = {m.match_id: profile_set_key(list(m.profile_ids)) for m in clean_matches.values()}
        ml = MatchGroup.objects.filter(run=run, source=Source.AWS_ML, profile_set_key__in=set(keys.values()))
        ml_keys = set(ml.values_list("profile_set_key", flat=True))
        known = MatchGroup.objects.filter(run=run, match_id__in=[m for m, key in keys.items() if key not in ml_keys])
        stored_ids = set(known.values_list("match_id", flat=True))
        new = []
        for match in clean_matches.values():
            key = keys[match.match_id]
            if key in ml_keys:  # both engines propose it: rare, one update each
                stored += ml.filter(profile_set_key=key).update(both_engines=True, rule_level=match.rule_level)
            elif match.match_id not in stored_ids:
                new.append(
                    MatchGroup(
                        run=run,
                        match_id=match.match_id,
                        profile_ids=list(match.profile_ids),
                        profile_set_key=key,
                        size=len(match.profile_ids),
                        source=Source.RULE_BASED,
                        rule_level=match.rule_level,
                    )
                )
        earliest = first_seen_of(run=run, keys=[g.profile_set_key for g in new])  # the age, as a scored group's
        for group in new:
            group.first_seen_at = earliest.get(group.profile_set_key, group.first_seen_at)
        stored += len(MatchGroup.objects.bulk_create(new))
        run.rule_pages += 1
        run.rule_groups_stored += stored
        run.rule_next_token = next_token
        run.heartbeat_at = timezone.now()
        run.save(update_fields=["rule_pages", "rule_groups_stored", "rule_next_token", "quarantined", "heartbeat_at"])
    return stored


def rule_restart(*, run: MatchRun, reason: str, actor: User | None = None) -> None:
    """ListRuleBasedMatches refused the saved token: drop what the rule pages stored and page again from the start
    (audited `pull.restarted`, with `part` rule_based)."""
    if run.restarts >= MAX_RULE_RESTARTS:
        raise PullFailed(f"Gave up on the rule-based pages after {run.restarts} restarts; the last: {reason}")
    with transaction.atomic():
        _lock(run)
        MatchGroup.objects.filter(run=run, source=Source.RULE_BASED).delete()
        MatchGroup.objects.filter(run=run, both_engines=True).update(both_engines=False, rule_level=None)
        run.restarts += 1
        run.rule_pages = run.rule_groups_stored = 0
        run.rule_next_token = ""
        run.save(update_fields=["restarts", "rule_pages", "rule_groups_stored", "rule_next_token"])
        audit_log(
            actor=actor,
            action="pull.restarted",
            object_type="run",
            object_id=run.pk,
            domain=run.domain,
            details={"reason": reason, "restarts": run.restarts, "part": "rule_based"},
        )
    log.warning("%s: restarting the rule-based pages of run %s: %s", run.domain.name, run.pk, reason)


def rule_matches_ingest(
    *, run: MatchRun, domain: Domain, progress: ProgressCallback | None = None, actor: User | None = None
) -> None:
    """Page ListRuleBasedMatches from the run's checkpoint to the end (nothing left: returns at once)."""
    while not (run.rule_pages and not run.rule_next_token):
        token = run.rule_next_token or None
        try:
            page = _read(
                domain,
                "ListRuleBasedMatches",
                lambda t=token: aws.list_rule_based_matches(domain, next_token=t, max_results=MAX_RESULTS),
            )
        except AwsBadRequest as exc:
            if token and "token" in (exc.aws_message or exc.message).lower():
                refused = exc.aws_message or exc.message
                rule_restart(run=run, reason=f"the NextToken was refused ({refused})", actor=actor)
                continue
            raise
        items = [match_resolve(domain, str(m)) for m in page.get("MatchIds") or []]
        rule_page_store(run=run, items=items, next_token=page.get("NextToken") or "")
        connection.queries_log.clear()
        if progress is not None:
            progress(progress_of(run))
