"""CSV exports of the audit history, produced as a stream: one keyset batch in memory at a time."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from matches.selectors import audit as audit_reads
from matches.selectors.audit import AuditFilters

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One cell as text; text a spreadsheet would run as a formula is prefixed with a single quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    elif isinstance(value, list | tuple):
        text = " ".join(str(v) for v in value)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_stream(header: Iterable[str], batches: Iterable[list[tuple]]) -> Iterator[str]:
    """Yield the header, then one chunk of CSV text per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for batch in batches:
        buffer.seek(0)
        buffer.truncate(0)
        writer.writerows([csv_cell(v) for v in row] for row in batch)
        yield buffer.getvalue()


def events_csv(filters: AuditFilters, *, upto_seq: int) -> Iterator[str]:
    return csv_stream(audit_reads.EVENT_EXPORT_COLUMNS, audit_reads.events_for_export(filters, upto_seq=upto_seq))


def decisions_csv(filters: AuditFilters, *, upto_id: int) -> Iterator[str]:
    return csv_stream(audit_reads.DECISION_EXPORT_COLUMNS, audit_reads.decisions_for_export(filters, upto_id=upto_id))
