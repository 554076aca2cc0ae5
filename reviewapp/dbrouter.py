"""Reads that may go to a read replica (docs/scaling.md, "What does not scale out"): the reports page and the CSV
exports, by an explicit `.using(read_alias())` in their selectors, never by guessing per model (a steward's own pages
read their own writes from the primary). Without `DATABASE_REPLICA_URL` every alias here is the primary."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

REPLICA = "replica"


def read_alias() -> str:
    """The alias for report and export reads: the replica when one is configured, else the primary."""
    return REPLICA if REPLICA in settings.DATABASES else DEFAULT_DB_ALIAS


def read_alias_holding(model: type[Model], **row: Any) -> str:
    """read_alias(), unless the replica has not replayed the row of `model` matching `row` yet (an export bounded by
    the primary's latest row must not end early on a lagging replica): then the primary. One index lookup; a bound
    of 0 (nothing to export) needs no check."""
    alias = read_alias()
    if alias == DEFAULT_DB_ALIAS or not all(row.values()):
        return alias
    return alias if model._default_manager.using(alias).filter(**row).exists() else DEFAULT_DB_ALIAS


class ReplicaRouter:
    """Writes always go to the primary, even for an instance read from the replica; the replica is never migrated
    (it replicates the primary's schema). Reads follow Django's default (the primary) unless a selector says
    `.using(read_alias())`."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db != REPLICA
