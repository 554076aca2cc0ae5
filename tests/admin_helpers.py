"""Helpers for the admin tests: runs with groups at chosen scores, their histogram kept as the services keep it."""

from __future__ import annotations

from matches.models import MatchGroup, MatchRun
from matches.services.groups import bins_add
from tests.factories import MatchGroupFactory, MatchRunFactory, hex_id

_counter = iter(range(10_000_000, 99_999_999))


def run_with_scores(
    domain, scores, *, status=MatchRun.Status.COMPLETED, size: int = 2
) -> tuple[MatchRun, list[MatchGroup]]:
    run = MatchRunFactory(domain=domain, status=status)
    groups = []
    for score in scores:
        n = next(_counter)
        ids = sorted(hex_id(size * n + i) for i in range(size))
        groups.append(MatchGroupFactory(run=run, confidence_score=score, profile_ids=ids))
    bins_add(run=run, scores=scores)
    return run, groups


def realistic_scores(n: int, seed: int = 1) -> list[float]:
    """A bimodal spread like an identity-resolution run: many weak candidates, a cluster of strong ones."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = rng.gauss(0.45, 0.14) if rng.random() < 0.6 else rng.gauss(0.9, 0.06)
        out.append(round(min(1.0, max(0.0, s)), 4))
    return out


def bulk_run(domain, scores, *, status=MatchRun.Status.COMPLETED) -> MatchRun:
    """A run with many groups, inserted in one statement per batch (for browser tests and benchmarks)."""
    from matches.models import profile_set_key

    run = MatchRunFactory(domain=domain, status=status, groups_seen=len(scores), groups_stored=len(scores))
    base = next(_counter) * 10
    groups = []
    for i, score in enumerate(scores):
        ids = sorted([hex_id(base + 2 * i), hex_id(base + 2 * i + 1)])
        groups.append(
            MatchGroup(
                run=run, match_id=f"m{run.pk}-{i}", profile_ids=ids, profile_set_key=profile_set_key(ids),
                confidence_score=score, size=2, display_names=f"Customer {i}",
            )
        )  # fmt: skip
    MatchGroup.objects.bulk_create(groups, batch_size=5000)
    bins_add(run=run, scores=scores)
    return run


def decide_directly(groups, actor, *, merged_share, seed: int = 1, bulk: bool = False) -> None:
    """Past decisions for evidence, inserted as rows (the decision services are tested elsewhere)."""
    import random

    from matches.models import Decision
    from matches.services.groups import groups_set_status

    rng = random.Random(seed)
    merged, rejected, rows = [], [], []
    for g in groups:
        merge = rng.random() < merged_share(g.confidence_score)
        (merged if merge else rejected).append(g.pk)
        rows.append(
            Decision(
                group=g, action="merge" if merge else "reject", actor=actor, confidence_score=g.confidence_score,
                bucket="review", bulk=bulk,
            )
        )  # fmt: skip
    Decision.objects.bulk_create(rows, batch_size=2000)
    groups_set_status(queryset=MatchGroup.objects.filter(pk__in=merged), status=MatchGroup.Status.APPROVED)
    groups_set_status(queryset=MatchGroup.objects.filter(pk__in=rejected), status=MatchGroup.Status.REJECTED)


def bulk_evidence(
    run, actor, *, queues=("merge", "reject"), n: int = 200, merged: bool | None = None
) -> list[MatchGroup]:
    """People's decisions that let bulk be offered on the run's merge and/or reject queue (docs/thresholds.md, "Bulk
    decisions"): `n` groups spread over each queue's scores under the policy in force, merged in the merge queue and
    rejected in the reject queue (`merged` says otherwise), decided (so never in a bulk job's way). Enough for a few
    hundred open groups."""
    from matches.models import profile_set_key

    policy = run.domain.policy()
    merge_min, reject_below = float(policy.merge_min), float(policy.reject_below)
    base = 10**12 + next(_counter) * 10_000  # profile ids of their own (n <= 2,500 per queue)
    made: list[MatchGroup] = []
    for queue in queues:
        if queue == "merge":
            scores = [round(merge_min + (1 - merge_min) * i / (n - 1), 4) for i in range(n)]
        else:
            scores = [round(reject_below * i / n, 4) for i in range(n)]
        groups = []
        for i, score in enumerate(scores):
            ids = sorted([hex_id(base + 2 * i), hex_id(base + 2 * i + 1)])
            groups.append(
                MatchGroup(
                    run=run, match_id=f"ev{base + 2 * i}", profile_ids=ids, profile_set_key=profile_set_key(ids),
                    confidence_score=score, size=2, display_names=f"Evidence {i}",
                )
            )  # fmt: skip
        base += 2 * n
        groups = MatchGroup.objects.bulk_create(groups)
        bins_add(run=run, scores=scores)
        merge = (queue == "merge") if merged is None else merged
        decide_directly(groups, actor, merged_share=lambda s, merge=merge: 1.0 if merge else 0.0)
        made.extend(groups)
    return made
