"""Matchdesk's own Prometheus metrics, computed at scrape time (so every web process answers the same): queue sizes
per domain, pull progress of running runs, merge jobs waiting and merge outcomes, AWS errors by code. A source that
cannot be read is reported as `matchdesk_metrics_source_up{source=...} 0` instead of failing the whole scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import redis
from django.db import DatabaseError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from matches.models import MergeJob
from matches.observability import counters
from matches.selectors import metrics as reads

log = logging.getLogger(__name__)


class MatchdeskCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "matchdesk_metrics_source_up", "Whether a source of Matchdesk's metrics could be read", labels=["source"]
        )
        for source, produce in (("database", self._database), ("redis", self._redis)):
            try:
                families = list(produce())
            except (DatabaseError, redis.RedisError) as exc:
                log.warning("metrics source %s unreadable: %s", source, exc)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _database(self) -> Iterator[Metric]:
        queues = GaugeMetricFamily(
            "matchdesk_queue_open_groups",
            "Open groups per queue of each domain's latest completed run",
            labels=["domain", "queue"],
        )
        for row in reads.queue_sizes():
            for queue in ("merge", "review", "reject"):
                queues.add_metric([row.domain, queue], getattr(row.counts, queue))
        yield queues

        pulls = reads.running_pulls()
        progress: dict[str, Callable[..., int | None]] = {
            "pages": lambda run: run.pages,
            "groups_seen": lambda run: run.groups_seen,
            "groups_stored": lambda run: run.groups_stored,
            "quarantined": lambda run: run.quarantined,
            "potential_matches": lambda run: run.potential_matches,
        }
        for name, value_of in progress.items():
            family = GaugeMetricFamily(
                f"matchdesk_pull_{name}",
                f"{name.replace('_', ' ').capitalize()} so far of a running pull",
                labels=["domain", "run"],
            )
            for run in pulls:
                value = value_of(run)
                if value is not None:
                    family.add_metric([run.domain.name, str(run.pk)], value)
            yield family
        started = GaugeMetricFamily(
            "matchdesk_pull_started_timestamp_seconds", "When a running pull started", labels=["domain", "run"]
        )
        for run in pulls:
            started.add_metric([run.domain.name, str(run.pk)], run.started_at.timestamp())
        yield started

        waiting = GaugeMetricFamily(
            "matchdesk_merge_jobs", "Merge jobs scheduled or running, per domain", labels=["domain", "status"]
        )
        found = reads.merge_jobs_waiting()
        for domain in sorted({domain for domain, _ in found}):
            for status in (MergeJob.Status.SCHEDULED, MergeJob.Status.RUNNING):
                waiting.add_metric([domain, status.value], found.get((domain, status.value), 0))
        yield waiting

    def _redis(self) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "matchdesk_merge_outcomes",
            "Merge job attempts by how they ended (succeeded, failed, deferred, sent_back), across all workers",
            labels=["domain", "outcome"],
        )
        for (domain, outcome), value in sorted(_pairs(counters.read(counters.MERGE_OUTCOMES))):
            outcomes.add_metric([domain, outcome], value)
        yield outcomes
        errors = CounterMetricFamily(
            "matchdesk_aws_errors",
            "AWS errors by operation and AWS error code, across all processes",
            labels=["operation", "code"],
        )
        for (operation, code), value in sorted(_pairs(counters.read(counters.AWS_ERRORS))):
            errors.add_metric([operation, code], value)
        yield errors


def _pairs(values: dict[tuple[str, ...], int]) -> Iterator[tuple[tuple[str, str], int]]:
    for labels, value in values.items():
        if len(labels) == 2:
            yield (labels[0], labels[1]), value
