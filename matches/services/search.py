"""The profile the engine missed (issue 15, item 2; docs/architecture.md, "Search and manual groups").

A steward searches the domain at AWS (SearchProfiles by email, phone, name, account number or profile id;
GetSimilarProfiles for a group's main profile), then either adds a candidate to the group they are deciding or puts
two or more profiles no group holds into a new manual group. Either way the result is a new group, `source=manual`
with no score (kept out of the histograms and the threshold evidence), decided like any other: the same decision,
merge and audit path. Adding to a group leaves that group's own set as AWS gave it: the group becomes `replaced`,
linked from the new one (`MatchGroup.replaces`), so the two can never both be decided.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from matches import aws
from matches.models import PROFILE_ID_RE, Domain, MatchGroup, MatchRun, Profile, profile_set_key
from matches.selectors import search as search_reads
from matches.services.audit import audit_log
from matches.services.backoff import call_with_backoff
from matches.services.decisions.decide import locked, refuse_unless_open, require_decider
from matches.services.decisions.errors import DecisionRefused, InvalidDecision, NotDecidable
from matches.services.groups import group_set_status
from matches.services.profiles import SEPARATOR, profile_label, profiles_refresh, profiles_store

Status = MatchGroup.Status
SEARCH_PAGE = 20  # SearchProfiles' default page
MANUAL_MAX = aws.MAX_IDS_PER_CALL  # BatchGetProfile checks them in one call; MergeProfiles merges 20 a call
SIMILAR_PAGES = 5  # GetSimilarProfiles pages of 100 read for one main profile
KEY_LABELS = {
    "_email": "Email",
    "_phone": "Phone",
    "_fullName": "Full name",
    "_account": "Account number",
    "_profileId": "Profile id",
}


class SearchFailed(Exception):
    """AWS could not answer the search; the message says what to do."""


class ProfileHeld(InvalidDecision):
    """A manual group was asked for profiles another open group or a pending merge holds."""


@dataclass
class SearchOutcome:
    profiles: list[Profile] = field(default_factory=list)
    more: bool = False  # AWS has more results than one page: narrow the search
    note: str = ""  # what was searched, in words (GetSimilarProfiles: its match id and score)


def _aws(call: Any, what: str) -> Any:
    try:
        # One quick try: a person is waiting (the search is theirs to repeat).
        return call_with_backoff(call, what=what, max_attempts=1)
    except aws.MatchdeskAwsError as exc:
        raise SearchFailed(f"The search at AWS failed: {exc}") from exc


def profiles_search(*, domain: Domain, actor: User, key: str, value: str) -> SearchOutcome:
    """One SearchProfiles page for one key and value; the profiles found are cached like hydrated ones."""
    require_decider(actor)
    value = value.strip()
    if key not in aws.SEARCH_KEYS:
        raise InvalidDecision(f"Search by one of: {', '.join(KEY_LABELS.values())}.")
    if not value or len(value) > aws.VALUE_MAX:
        raise InvalidDecision(f"A search value holds 1 to {aws.VALUE_MAX} characters.")
    if key == "_profileId":
        value = value.lower()
    items, token = _aws(
        functools.partial(aws.search_profiles, domain, keys=[(key, [value])], max_results=SEARCH_PAGE),
        f"SearchProfiles {domain.name}",
    )
    found = {}
    for item in items:
        pid = str(item.get("ProfileId") or "")
        if re.match(PROFILE_ID_RE, pid):
            found[pid] = {k: v for k, v in item.items() if k != "FoundByItems"}
    cached = profiles_store(domain=domain, found=found)
    return SearchOutcome(
        profiles=[cached[pid] for pid in found if pid in cached],
        more=bool(token),
        note=f"{KEY_LABELS[key]} “{value}”",
    )


def similar_profiles(*, group: MatchGroup, actor: User, main_profile_id: str) -> SearchOutcome:
    """GetSimilarProfiles (ML) for the group's main profile: the profiles AWS's matching puts with it."""
    require_decider(actor)
    domain = group.run.domain
    ids: list[str] = []
    token: str | None = None
    page: dict[str, Any] = {}
    for _ in range(SIMILAR_PAGES):
        page = _aws(
            functools.partial(aws.get_similar_profiles, domain, profile_id=main_profile_id, next_token=token),
            f"GetSimilarProfiles {domain.name}",
        )
        ids += [pid for pid in page.get("ProfileIds", []) if re.match(PROFILE_ID_RE, str(pid)) and pid not in ids]
        token = page.get("NextToken")
        if not token:
            break
    try:
        found = profiles_refresh(domain=domain, profile_ids=ids, max_attempts=1)
    except aws.MatchdeskAwsError as exc:
        raise SearchFailed(f"The similar profiles could not be fetched from AWS: {exc}") from exc
    score = page.get("ConfidenceScore")
    note = f"Similar to {main_profile_id[:8]}… (AWS match {page.get('MatchId') or 'none'}"
    note += f", score {float(score):.3f})" if score is not None else ")"
    return SearchOutcome(profiles=[found[pid] for pid in ids if pid in found], more=bool(token), note=note)


# Manual groups -------------------------------------------------------------------------------------------------------


def _checked_ids(profile_ids: list[str]) -> list[str]:
    ids = sorted({str(p).strip().lower() for p in profile_ids})
    bad = [p for p in ids if not re.match(PROFILE_ID_RE, p)]
    if bad:
        raise InvalidDecision("A profile id is 32 lowercase hex characters.")
    if len(ids) < 2:
        raise InvalidDecision("A manual group needs at least two different profiles.")
    if len(ids) > MANUAL_MAX:
        raise InvalidDecision(
            f"A manual group holds at most {MANUAL_MAX} profiles ({len(ids)} chosen): AWS checks and merges "
            f"{MANUAL_MAX} ids a call. Choose fewer."
        )
    return ids


def _fetch_existing(domain: Domain, ids: list[str]) -> dict[str, Profile]:
    """The profiles as AWS has them now (one BatchGetProfile of at most 20); refuses one gone or merged away."""
    try:
        found = profiles_refresh(domain=domain, profile_ids=ids, max_age_seconds=0, max_attempts=1)
    except aws.MatchdeskAwsError as exc:
        raise SearchFailed(f"The profiles could not be checked at AWS: {exc}") from exc
    gone = [pid for pid in ids if pid not in found or found[pid].missing or found[pid].merged_into]
    if gone:
        raise NotDecidable(f"AWS no longer has profile {gone[0]} (merged or deleted): it cannot join a group.")
    return found


def _current_run(domain: Domain) -> MatchRun:
    run = domain.latest_completed_run()
    if run is None:
        raise NotDecidable("This domain has no completed pull yet: pull first, then form groups in its run.")
    run = MatchRun.objects.select_for_update().get(pk=run.pk)
    if not run.takes_decisions():
        raise NotDecidable("A newer pull is being completed: try again when it has finished.")
    return run


def _create(
    *, run: MatchRun, actor: User, ids: list[str], profiles: dict[str, Profile], replaces: MatchGroup | None
) -> MatchGroup:
    names, terms = [], []
    for pid in ids:
        label, found = profile_label(profiles.get(pid), pid)
        if label not in names:
            names.append(label)
        terms += found
    return MatchGroup.objects.create(
        run=run,
        match_id=f"manual-{secrets.token_hex(12)}",
        profile_ids=ids,
        profile_set_key=profile_set_key(ids),
        confidence_score=None,
        source=MatchGroup.Source.MANUAL,
        replaces=replaces,
        size=len(ids),
        status=Status.OPEN,
        # The steward who formed it decides it next: theirs for one claim's lease.
        claimed_by=actor,
        claimed_until=timezone.now() + timedelta(seconds=settings.MATCHDESK["CLAIM_SECONDS"]),
        display_names=SEPARATOR.join(names),
        search_text=" ".join(dict.fromkeys(terms)),
    )


def _refuse_held(run: MatchRun, ids: list[str], *, except_group: MatchGroup | None = None) -> None:
    holders = search_reads.groups_holding(run=run, profile_ids=ids)
    for pid in ids:
        others = [g for g in holders[pid] if except_group is None or g.pk != except_group.pk]
        if others:
            raise ProfileHeld(
                f"Profile {pid} is in open group {others[0].match_id}: decide it there, or add the other profiles "
                "to that group.",
            )
    pending = search_reads.pending_merges_of(domain_id=run.domain_id, profile_ids=ids)
    if pending:
        raise ProfileHeld(
            f"Profile {sorted(pending[0].touched_profile_ids() & set(ids))[0]} is in a merge that has not run yet "
            f"(group {pending[0].group.match_id}): wait for it, or undo it first."
        )


def _audit_created(group: MatchGroup, actor: User, *, reason: str, added: list[str]) -> None:
    audit_log(
        actor=actor,
        action="group.manual_created",
        object_type="group",
        object_id=group.pk,
        domain=group.run.domain,
        details={
            "match_id": group.match_id,
            "run_id": group.run_id,
            "profile_ids": group.profile_ids,
            "source": group.source,
            "replaces": group.replaces_id,
            "replaces_match_id": group.replaces.match_id if group.replaces else None,
            "added_profile_ids": added,
            "reason": reason,
        },
    )


def manual_group_create(*, domain: Domain, actor: User, profile_ids: list[str], reason: str = "") -> MatchGroup:
    """A new manual group of 2..20 profiles that no open group or pending merge holds, in the current run."""
    require_decider(actor)
    ids = _checked_ids(profile_ids)
    profiles = _fetch_existing(domain, ids)  # AWS first, outside the transaction: no row lock waits on it
    with transaction.atomic(durable=True):
        run = _current_run(domain)
        _refuse_held(run, ids)
        group = _create(run=run, actor=actor, ids=ids, profiles=profiles, replaces=None)
        _audit_created(group, actor, reason=reason.strip(), added=ids)
    return group


def group_profile_add(*, group: MatchGroup, actor: User, profile_id: str, reason: str = "") -> MatchGroup:
    """Add a profile to an open group: a new manual group holds the group's profiles and this one; the group
    becomes `replaced` by it (its own set stays as AWS gave it). Returns the new group."""
    require_decider(actor)
    pid = profile_id.strip().lower()
    if not re.match(PROFILE_ID_RE, pid):
        raise InvalidDecision("A profile id is 32 lowercase hex characters.")
    if pid in group.profile_ids:
        raise InvalidDecision("That profile is already in this group.")
    ids = _checked_ids([*group.profile_ids, pid])
    profiles = _fetch_existing(group.run.domain, ids)
    with transaction.atomic(durable=True):
        group = locked(group)
        refuse_unless_open(group, actor)
        # `locked` holds the run's row too, and refuse_unless_open saw it completed: it is the current run.
        new = _create(run=group.run, actor=actor, ids=ids, profiles=profiles, replaces=group)
        text = f"Replaced by manual group {new.match_id}: {actor.get_username()} added profile {pid}."
        group_set_status(group=group, status=Status.REPLACED, reason=text, claimed_by=None, claimed_until=None)
        _audit_created(new, actor, reason=reason.strip(), added=[pid])
        audit_log(
            actor=actor,
            action="group.replaced",
            object_type="group",
            object_id=group.pk,
            domain=group.run.domain,
            details={
                "match_id": group.match_id,
                "replaced_by": new.pk,
                "replaced_by_match_id": new.match_id,
                "added_profile_id": pid,
                "confidence_score": group.confidence_score,
            },
        )
    return new


__all__ = [
    "DecisionRefused",
    "ProfileHeld",
    "SearchFailed",
    "SearchOutcome",
    "group_profile_add",
    "manual_group_create",
    "profiles_search",
    "similar_profiles",
]
