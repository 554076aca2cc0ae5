"""Helpers for the admin tests: runs with groups at chosen scores, their histogram kept as the services keep it."""

from __future__ import annotations

from matches.models import MatchGroup, MatchRun
from matches.services.groups import bins_add
from tests.factories import MatchGroupFactory, MatchRunFactory, hex_id

_counter = iter(range(10_000_000, 99_999_999))


def run_with_scores(domain, scores, *, status=MatchRun.Status.COMPLETED) -> tuple[MatchRun, list[MatchGroup]]:
    run = MatchRunFactory(domain=domain, status=status)
    groups = []
    for score in scores:
        n = next(_counter)
        groups.append(
            MatchGroupFactory(run=run, confidence_score=score, profile_ids=sorted([hex_id(2 * n), hex_id(2 * n + 1)]))
        )
    bins_add(run=run, scores=scores)
    return run, groups
