"""The layout of an identity-resolution S3 export, as Matchdesk assumes it: the one place that reads those bytes.

AWS documents where a job writes its results (ExportingConfig / ExportingLocation) but publishes no file layout, so
this is an assumption to confirm against a real export (docs/architecture.md, "S3 ingestion"). Accepted, detected by
content (never by the key's suffix), each optionally gzip-compressed (detected by gzip's magic bytes):
- **JSON Lines**: one GetMatches item a line, `{"MatchId", "ProfileIds": [...], "ConfidenceScore"}`;
- **long CSV**: a header naming `MatchId`, `ProfileId` and `ConfidenceScore` (any order, any case, more columns
  ignored), one row per profile of a group; the rows of one MatchId are consecutive.
Anything else is an `UnknownLayout` whose reason the run's quarantine shows. Each record is handed on as a
GetMatches-shaped item, so the GetMatches validator (validate.py) decides what is stored and what is quarantined;
a record this module cannot even read (a line that is not JSON, a CSV row with the wrong number of fields, rows of
one MatchId disagreeing on the score) carries its `problem` instead.

Records are numbered from 1 in the object's order; parsing is deterministic, so a resumed worker skips the records
its checkpoint says were stored.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

JSONL = "jsonl"
CSV = "csv"
EMPTY = "empty"
GZIP_MAGIC = b"\x1f\x8b"
CSV_COLUMNS = ("matchid", "profileid", "confidencescore")
MAX_SHOWN = 200  # characters of an unreadable line kept in the quarantine


class UnknownLayout(Exception):
    """The object is none of the accepted layouts (or stops being readable); the message says why."""


@dataclass(frozen=True, slots=True)
class Record:
    number: int
    item: Any
    problem: str = ""


def records(chunks: Iterable[bytes]) -> tuple[str, Iterator[Record]]:
    """Detect the layout from the first bytes; (layout, its records). Raises UnknownLayout for anything else; the
    iterator raises it too when the bytes stop being readable (a truncated gzip stream, invalid UTF-8)."""
    stream = _lines(_gunzip_if_needed(iter(chunks)))
    first = next(stream, None)
    while first is not None and not first.strip():
        first = next(stream, None)
    if first is None:
        return EMPTY, iter(())
    text = _text(first, 1)
    if text.lstrip().startswith("{"):
        return JSONL, _jsonl(text, stream)
    header = next(csv.reader([text]), [])
    names = [h.strip().lower() for h in header]
    if all(column in names for column in CSV_COLUMNS):
        return CSV, _long_csv(names, stream)
    raise UnknownLayout(
        "neither JSON Lines (a GetMatches item a line) nor a long CSV with a MatchId, ProfileId, ConfidenceScore "
        f"header: the first line reads {text[:80]!r}"
    )


def _gunzip_if_needed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= 2:
            break
    if not head.startswith(GZIP_MAGIC):
        if head:
            yield head
        yield from chunks
        return
    pending = head
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    inside = False  # a member has begun and not reached its end marker
    while True:
        try:
            while pending:
                inside = True
                yield inflate.decompress(pending)
                pending = b""
                if inflate.eof:  # a concatenated member may follow (gzip allows several)
                    pending, inside = inflate.unused_data, False
                    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        except zlib.error as exc:
            raise UnknownLayout(f"the gzip stream is corrupt ({exc})") from None
        following = next(chunks, None)
        if following is None:
            if inside:
                raise UnknownLayout("the gzip stream ends before its end marker (a truncated object)")
            return
        pending = following


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        rest += chunk
        *whole, rest = rest.split(b"\n")
        yield from whole
    if rest:
        yield rest


def _text(line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise UnknownLayout(f"line {number} is not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _jsonl(first: str, lines: Iterator[bytes]) -> Iterator[Record]:
    number = 0
    line_no = 1
    text: str | None = first
    while text is not None:
        if text.strip():
            number += 1
            try:
                yield Record(number, json.loads(text))
            except ValueError as exc:
                yield Record(number, {"line": line_no, "text": text[:MAX_SHOWN]}, f"line {line_no} is not JSON: {exc}")
        raw = next(lines, None)
        line_no += 1
        text = None if raw is None else _text(raw, line_no)


def _long_csv(names: list[str], lines: Iterator[bytes]) -> Iterator[Record]:
    at = {column: names.index(column) for column in CSV_COLUMNS}
    width = len(names)
    number = 0
    group: list[list[str]] = []
    line_no = 1

    def texts() -> Iterator[str]:
        nonlocal line_no
        for raw in lines:
            line_no += 1
            yield _text(raw, line_no)

    def item_of(rows: list[list[str]]) -> Record:
        nonlocal number
        number += 1
        match_id = rows[0][at["matchid"]]
        scores = list(dict.fromkeys(r[at["confidencescore"]].strip() for r in rows))
        item = {"MatchId": match_id, "ProfileIds": [r[at["profileid"]].strip() for r in rows]}
        if len(scores) > 1:
            return Record(
                number,
                {**item, "ConfidenceScore": scores},
                f"rows of MatchId {match_id!r} disagree on ConfidenceScore ({', '.join(scores[:3])})",
            )
        return Record(number, {**item, "ConfidenceScore": _number(scores[0])})

    for row in csv.reader(t for t in texts() if t.strip()):
        if len(row) != width:
            if group:
                yield item_of(group)
                group = []
            number += 1
            yield Record(number, {"row": row[:50]}, f"CSV line {line_no} has {len(row)} fields, the header {width}")
            continue
        if group and row[at["matchid"]] != group[0][at["matchid"]]:
            yield item_of(group)
            group = []
        group.append(row)
    if group:
        yield item_of(group)


def _number(text: str) -> Any:
    """A CSV score as a number when it reads as one; otherwise the text, which the validator quarantines."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text
