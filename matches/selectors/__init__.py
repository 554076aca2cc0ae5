"""Reads that views share, one module per area of pages (docs/architecture.md, "Layers"). Selectors only read:
no AWS, no writes. Views import the area module (`from matches.selectors import review`); the names other layers
use are re-exported here so that `from matches.selectors import queue_groups` keeps working."""

from matches.selectors.admin import (
    bulk_job_get,
    bulk_jobs_recent,
    evidence_pairs,
    heartbeats,
    is_in_qa_sample,
    latest_decisions,
    latest_qa_result,
    policy_history,
    qa_result,
    qa_results,
    qa_sampled_group_ids,
    queue_bounds,
    queue_groups,
    run_quarantine,
    runs_recent,
    score_chart,
    threshold_preview,
)
from matches.selectors.audit import (
    AuditFilters,
    AuditPage,
    audit_events,
    audit_page,
    decisions_for_export,
    events_for_export,
    keyset_batches,
)
from matches.selectors.counts import QueueCounts, queue_counts, queue_counts_for
from matches.selectors.home import domains_overview
from matches.selectors.merges import merge_job_counts, merge_jobs_list
from matches.selectors.reports import (
    ReportFilters,
    agreement_by_steward,
    decisions_per_week,
    qa_sample_results,
    reversal_rates,
)
from matches.selectors.review import (
    QueueContext,
    group_comments,
    group_decisions,
    queue_context,
    queue_next_candidates,
    queue_page,
)
from matches.selectors.timelines import group_timeline, profile_timeline, snapshots_of_profile

__all__ = [
    "AuditFilters",
    "AuditPage",
    "QueueContext",
    "QueueCounts",
    "ReportFilters",
    "agreement_by_steward",
    "audit_events",
    "audit_page",
    "bulk_job_get",
    "bulk_jobs_recent",
    "decisions_for_export",
    "decisions_per_week",
    "domains_overview",
    "events_for_export",
    "evidence_pairs",
    "group_comments",
    "group_decisions",
    "group_timeline",
    "heartbeats",
    "is_in_qa_sample",
    "keyset_batches",
    "latest_decisions",
    "latest_qa_result",
    "merge_job_counts",
    "merge_jobs_list",
    "policy_history",
    "profile_timeline",
    "qa_result",
    "qa_results",
    "qa_sample_results",
    "qa_sampled_group_ids",
    "queue_bounds",
    "queue_context",
    "queue_counts",
    "queue_counts_for",
    "queue_groups",
    "queue_next_candidates",
    "queue_page",
    "reversal_rates",
    "run_quarantine",
    "runs_recent",
    "score_chart",
    "snapshots_of_profile",
    "threshold_preview",
]
