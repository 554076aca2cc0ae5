"""Profile hydration (docs/architecture.md, "Hydration"): BatchGetProfile, at most 20 ids a call, into the Profile
cache; then the groups' denormalised `display_names` and `search_text` for the queues. Opening a group refreshes its
members first (group_profiles_refresh, a service the view calls: selectors only read).

The cache is not a decision or a setting, so refreshing it writes no audit event (it would be one per group opened).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from matches import aws
from matches.models import Domain, MatchGroup, MatchRun, Profile, Queue, ThresholdPolicy
from matches.services import rematch
from matches.services.backoff import aws_read

log = logging.getLogger(__name__)

BATCH = aws.MAX_IDS_PER_CALL  # BatchGetProfile takes 1..20 ids
HYDRATE_CHUNK = 250  # groups per round: about 30 BatchGetProfile calls
NAME_FIELDS = ("FirstName", "MiddleName", "LastName")
EMAIL_FIELDS = ("EmailAddress", "PersonalEmailAddress", "BusinessEmailAddress")
SEPARATOR = " · "

_UPSERT = f"""
    INSERT INTO {Profile._meta.db_table} (domain_id, profile_id, attributes, fetched_at, missing, merged_into)
    SELECT %s, pid, attrs, %s, gone, ''
    FROM unnest(%s::text[], %s::jsonb[], %s::bool[]) AS t(pid, attrs, gone)
    ON CONFLICT (domain_id, profile_id) DO UPDATE
    SET fetched_at = EXCLUDED.fetched_at,
        missing = EXCLUDED.missing,
        -- A profile AWS no longer has keeps the attributes we last saw, for the history.
        attributes = CASE WHEN EXCLUDED.missing THEN {Profile._meta.db_table}.attributes ELSE EXCLUDED.attributes END
"""


def profiles_refresh(
    *, domain: Domain, profile_ids: Iterable[str], max_age_seconds: int | None = None, max_attempts: int | None = None
) -> dict[str, Profile]:
    """Fetch the profiles whose cached copy is older than max_age (or never fetched); return all asked for by id.
    `max_attempts` caps the retries: a person waiting for a page gets one quick try, a background task the default."""
    wanted = sorted(set(profile_ids))
    if not wanted:
        return {}
    max_age = settings.MATCHDESK["PROFILE_CACHE_SECONDS"] if max_age_seconds is None else max_age_seconds
    fresh_after = timezone.now() - timedelta(seconds=max_age)
    cached = {p.profile_id: p for p in Profile.objects.filter(domain=domain, profile_id__in=wanted)}
    due = [pid for pid in wanted if pid not in cached or _stale(cached[pid], fresh_after)]
    if not due:  # the common case when a group is opened: one query
        return cached
    for start in range(0, len(due), BATCH):
        chunk = due[start : start + BATCH]
        call = functools.partial(aws.batch_get_profiles, domain, chunk)
        found, errors = aws_read(domain, "BatchGetProfile", call, max_attempts=max_attempts)
        _store(domain, chunk, found, errors)
    return {p.profile_id: p for p in Profile.objects.filter(domain=domain, profile_id__in=wanted)}


def _stale(profile: Profile, fresh_after: datetime) -> bool:
    return profile.fetched_at is None or profile.fetched_at < fresh_after


def group_profiles_refresh(*, group: MatchGroup) -> tuple[dict[str, Profile], str]:
    """Bring a group's members up to date for the person opening it: those older than PROFILE_CACHE_SECONDS are
    fetched with one quick try. Returns the profiles by id (the one read it needs to know what is stale) and "" or
    the error to show beside the copies fetched earlier."""
    domain = group.run.domain
    try:
        # max_attempts=1: someone is waiting; show the cached copies rather than retry for a minute.
        return profiles_refresh(domain=domain, profile_ids=list(group.profile_ids), max_attempts=1), ""
    except aws.MatchdeskAwsError as exc:
        log.warning("profile refresh failed for group %s: %s", group.pk, exc)
        error = f"Could not refresh the profiles from AWS ({exc}); showing the copies fetched earlier."
    cached = Profile.objects.filter(domain=domain, profile_id__in=group.profile_ids)
    return {p.profile_id: p for p in cached}, error


def profiles_store(*, domain: Domain, found: dict[str, dict]) -> dict[str, Profile]:
    """Cache profiles AWS just returned by another call (SearchProfiles): fresh, as BatchGetProfile would store them."""
    ids = sorted(found)
    if ids:
        _store(domain, ids, found, {})
    return {p.profile_id: p for p in Profile.objects.filter(domain=domain, profile_id__in=ids)}


def _store(domain: Domain, chunk: list[str], found: dict[str, dict], errors: dict[str, dict]) -> None:
    # Errors name the ids AWS could not return; an id it neither returned nor named is just as absent.
    attrs = [json.dumps(found.get(pid) or {}) for pid in chunk]
    gone = [pid not in found for pid in chunk]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_UPSERT, [domain.pk, timezone.now(), chunk, attrs, gone])


# Groups -------------------------------------------------------------------------------------------------------------


@dataclass
class HydrateResult:
    groups: int = 0
    profiles_fetched_for: int = 0
    remaining: bool = False
    reopened: int = 0  # carried-over rejections reopened because their matching data changed


HYDRATE_ORDER = (Queue.REVIEW, Queue.MERGE, Queue.REJECT)  # busiest first: people decide review one by one


def _queue_ranges(policy: ThresholdPolicy | None) -> list[tuple[Queue, Q]]:
    """Each queue's score filter, in HYDRATE_ORDER (the default thresholds when the domain has no policy yet)."""
    policy = policy or ThresholdPolicy(
        merge_min=ThresholdPolicy.DEFAULT_MERGE_MIN, reject_below=ThresholdPolicy.DEFAULT_REJECT_BELOW
    )
    return [(queue, policy.score_q(queue)) for queue in HYDRATE_ORDER]


def groups_hydrate(*, run: MatchRun, limit: int | None = None) -> HydrateResult:
    """Fetch the members of the run's groups not hydrated yet, busiest queue first, and fill their
    display_names and search_text. `limit` caps the groups handled; `remaining` says whether more are left."""
    result = HydrateResult()
    domain = run.domain
    pending = MatchGroup.objects.filter(run=run, display_names="").exclude(
        status__in=[MatchGroup.Status.SUPERSEDED, MatchGroup.Status.MERGED]
    )
    for _, in_queue in _queue_ranges(domain.policy()):
        last: tuple[float, int] | None = None
        while limit is None or result.groups < limit:
            size = HYDRATE_CHUNK if limit is None else min(HYDRATE_CHUNK, limit - result.groups)
            page = pending.filter(in_queue)
            if last is not None:
                # Keyset: highest score first inside a queue.
                page = page.filter(Q(confidence_score__lt=last[0]) | Q(confidence_score=last[0], pk__lt=last[1]))
            page = page.order_by("-confidence_score", "-pk").only(
                "pk", "profile_ids", "confidence_score", "status", "linked_decision_id"
            )
            groups = list(page[:size])
            if not groups:
                break
            last = (cast(float, groups[-1].confidence_score), groups[-1].pk)  # in a score range: scored
            # A carried-over rejection's members are fetched afresh whatever the cache's age: their data after the
            # pull is what decides whether the rejection still holds (services/rematch.py).
            carried = [g for g in groups if g.status == MatchGroup.Status.CARRIED_OVER and g.linked_decision_id]
            fresh = profiles_refresh(
                domain=domain, profile_ids=[p for g in carried for p in g.profile_ids], max_age_seconds=0
            )
            profiles = {
                **profiles_refresh(
                    domain=domain,
                    profile_ids=[p for g in groups if g.pk not in {c.pk for c in carried} for p in g.profile_ids],
                ),
                **fresh,
            }
            result.profiles_fetched_for += len(profiles)
            _fill_display(groups, profiles)
            result.reopened += rematch.carried_rejections_check(groups=carried, profiles=fresh)
            result.groups += len(groups)
        if limit is not None and result.groups >= limit:
            result.remaining = pending.exists()
            return result
    # Groups without a score (rule-based; manual ones are formed hydrated) lie in no score range: a pass of their own.
    unscored = pending.filter(confidence_score__isnull=True).only("pk", "profile_ids", "confidence_score", "status")
    while limit is None or result.groups < limit:
        size = HYDRATE_CHUNK if limit is None else min(HYDRATE_CHUNK, limit - result.groups)
        groups = list(unscored.order_by("pk")[:size])
        if not groups:
            break
        profiles = profiles_refresh(domain=domain, profile_ids=[p for g in groups for p in g.profile_ids])
        result.profiles_fetched_for += len(profiles)
        _fill_display(groups, profiles)
        result.groups += len(groups)
    if limit is not None and result.groups >= limit:
        result.remaining = pending.exists()
    return result


def _fill_display(groups: list[MatchGroup], profiles: dict[str, Profile]) -> None:
    for group in groups:
        names, search = [], []
        for pid in group.profile_ids:
            profile = profiles.get(pid)
            label, terms = profile_label(profile, pid)
            if label not in names:
                names.append(label)
            search += terms
        group.display_names = SEPARATOR.join(names)
        group.search_text = " ".join(dict.fromkeys(search))
    # Display fields only: no status change, so no histogram or audit to keep.
    MatchGroup.objects.bulk_update(groups, ["display_names", "search_text"], batch_size=500)


def profile_label(profile: Profile | None, profile_id: str) -> tuple[str, list[str]]:
    """A person-readable label for one member and the lowercased terms the queue search matches."""
    attrs = profile.attributes if profile is not None else {}
    name = " ".join(str(attrs[f]).strip() for f in NAME_FIELDS if str(attrs.get(f) or "").strip())
    name = name or str(attrs.get("BusinessName") or "").strip()
    emails = [str(attrs[f]).strip() for f in EMAIL_FIELDS if str(attrs.get(f) or "").strip()]
    if profile is not None and profile.missing:
        label = f"{name or profile_id[:8]} (gone)"
    else:
        label = name or (emails[0] if emails else profile_id[:8] + "…")
    terms = [t.lower() for t in ([name] if name else []) + emails + [profile_id]]
    return label, terms
