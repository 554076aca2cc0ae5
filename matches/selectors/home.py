"""Reads behind the home page."""

from __future__ import annotations

from django.db.models import QuerySet

from matches.models import Domain
from matches.selectors.assignments import overdue_count
from matches.selectors.counts import queue_counts
from matches.selectors.estimates import policy_line


def domains_overview(*, domains: QuerySet[Domain] | None = None) -> list[dict]:
    """Each domain (of `domains`: those the user may see) with its latest completed run, policy in force, queue
    counts and the policy's estimates."""
    overview = []
    for domain in (Domain.objects.all() if domains is None else domains).order_by("name"):
        run = domain.latest_completed_run()
        policy = domain.policy()
        overview.append(
            {
                "domain": domain,
                "run": run,
                "policy": policy,
                "counts": queue_counts(run=run, policy=policy),
                "estimate": policy_line(domain=domain, run=run, policy=policy) if run else None,
                # Open groups past the domain's review deadline (None: no deadline).
                "overdue": overdue_count(domain=domain, run=run),
            }
        )
    return overview
