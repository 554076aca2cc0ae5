"""Pulls (docs/architecture.md, "Pulls"): GetMatches into Postgres exactly once, resumable, with carry-over at
completion. The package is split at the pull's seams: `validate` (what an item must be), `store` (pages into
Postgres, the checkpoint), `run` (the pull and its lock), `carry_over` (completion), `schedule` (when to pull).

How a pull stays exactly-once:
- One pull per domain at a time: the pulling connection holds a session advisory lock on the domain, and the database
  allows one `running` MatchRun per domain. The lock says whether the worker of a running run is alive: Postgres drops
  it the moment the worker's connection goes (SIGKILL, crash, lost host), so a new pull resumes a run whose lock is free
  at once, whatever its `heartbeat_at` says, and refuses one whose lock is held. (Behind a transaction-pooling
  pgbouncer session locks do not work: connect pulls directly.) The job poll queues a pull for a running run whose
  heartbeat is older than STALE_HEARTBEAT_SECONDS, so an orphaned run is resumed without waiting for the next job.
  As a second guard, every transaction that stores pages re-reads the run under FOR UPDATE and checks the checkpoint
  is the one this pull left: two writers can never both advance a run.
- A transaction stores one or more pages (at most PAGES_PER_TRANSACTION, or SECONDS_PER_TRANSACTION's worth) and the
  checkpoint of its last page: `next_token` (the token of the next page to fetch) and the counters. A killed pull
  resumes from the checkpoint: what was committed is complete up to it, nothing after it was.
- Stored rows are moved with INSERT ... ON CONFLICT (run, match_id) DO NOTHING RETURNING (see `store`).

Restarts: a page whose MatchGenerationDate differs from the run's (AWS serves only the latest results, so the rest
of the pull would mix two generations), or a BadRequest about the NextToken (expired, or from before a crash), deletes
the run's groups, quarantine and histogram and starts again from the first page, at most MAX_RESTARTS times.

Completion in constant time, then carry-over in resumable batches and the old run's rows rewritten in the
background: see `carry_over` (docs/architecture.md, "Completion").

A requested pull ("Pull now") is durable: `Domain.pull_requested_at`, set by services.ops.pull_request and cleared when
a pull of the domain starts; the hand-off sweep queues it again if its message was lost (`schedule`).
"""

from matches.services.pulls.carry_over import (
    CARRY_OVER_BATCH,
    SUPERSEDE_CHUNK,
    carry_over,
    carry_over_step,
    run_carry_over,
    run_groups_supersede,
    run_supersede,
)
from matches.services.pulls.results import (
    ProgressCallback,
    PullAlreadyRunning,
    PullError,
    PullFailed,
    PullLost,
    PullProgress,
    PullResult,
)
from matches.services.pulls.run import (
    MAX_RESTARTS,
    MAX_RESULTS,
    PULL_LOCK_CLASS,
    completion_finish,
    pull_domain,
    pull_running_message,
)
from matches.services.pulls.schedule import (
    STALE_HEARTBEAT_SECONDS,
    completions_start_unfinished,
    pull_needed,
    pull_queued_clear,
    pulls_poll,
    pulls_start_requested,
)

# PAGES_PER_TRANSACTION and SECONDS_PER_TRANSACTION are read in `store`: tune (or patch) them there.
from matches.services.pulls.store import BatchOutcome, pages_ingest, pages_store
from matches.services.pulls.validate import CleanMatch, match_validate, raw_plain

__all__ = [
    "CARRY_OVER_BATCH",
    "MAX_RESTARTS",
    "MAX_RESULTS",
    "PULL_LOCK_CLASS",
    "STALE_HEARTBEAT_SECONDS",
    "SUPERSEDE_CHUNK",
    "BatchOutcome",
    "CleanMatch",
    "ProgressCallback",
    "PullAlreadyRunning",
    "PullError",
    "PullFailed",
    "PullLost",
    "PullProgress",
    "PullResult",
    "carry_over",
    "carry_over_step",
    "completion_finish",
    "completions_start_unfinished",
    "match_validate",
    "pages_ingest",
    "pages_store",
    "pull_domain",
    "pull_needed",
    "pull_queued_clear",
    "pull_running_message",
    "pulls_poll",
    "pulls_start_requested",
    "raw_plain",
    "run_carry_over",
    "run_groups_supersede",
    "run_supersede",
]
