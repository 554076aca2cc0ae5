"""Merge execution (docs/architecture.md, "Flows", 4): approved merges run after their undo window, in chunks of at
most 20 ids, exactly once even when AWS times out, answers 5xx after merging, or a worker dies mid-job.

How "exactly once" holds, since MergeProfiles has no idempotency token:
- a job is claimed with a row lock and a claim token; every later write checks the token, so a worker that lost its
  claim stops before another call (claims.py);
- the chunk plan is a pure function of the Decision, so every attempt computes the same chunks (plan.py);
- before a call, the chunk is marked in flight (own transaction); after it, the chunk is marked done (own transaction)
  (execute.py);
- every attempt, and every call whose outcome is unknown, starts with BatchGetProfile: ids that are gone are not sent
  again, and a chunk whose ids are all gone counts as done. MergeProfiles is never retried blindly;
- only AWS's refusals fail a job; throttling, unclear answers and infrastructure errors defer it (outcomes.py).

Admin actions (retry, pause all) are in actions.py. Callers import from this package.
"""

from matches.services.merges.actions import merge_job_retry, merges_set_paused_all
from matches.services.merges.claims import (
    default_worker_id,
    merge_job_claim,
    merge_jobs_due,
    merges_paused_all,
)
from matches.services.merges.errors import (
    ClaimLost,
    MergePlanError,
    MergeRefused,
    MergeRoleRefused,
    NotRetryable,
)
from matches.services.merges.execute import (
    JobExecution,
    RunSummary,
    merge_job_execute,
    merge_job_run,
    merge_jobs_run_due,
)
from matches.services.merges.outcomes import INFRA_ERRORS, Outcome
from matches.services.merges.plan import MAX_IDS, Chunk, chunk_field_sources, merge_plan

__all__ = [
    "INFRA_ERRORS",
    "MAX_IDS",
    "Chunk",
    "ClaimLost",
    "JobExecution",
    "MergePlanError",
    "MergeRefused",
    "MergeRoleRefused",
    "NotRetryable",
    "Outcome",
    "RunSummary",
    "chunk_field_sources",
    "default_worker_id",
    "merge_job_claim",
    "merge_job_execute",
    "merge_job_retry",
    "merge_job_run",
    "merge_jobs_due",
    "merge_jobs_run_due",
    "merge_plan",
    "merges_paused_all",
    "merges_set_paused_all",
]
