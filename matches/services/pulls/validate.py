"""Validation of GetMatches items: what is stored, and every reason an item is quarantined instead."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

PROFILE_ID = re.compile(r"[a-f0-9]{32}")
MAX_GROUP_SIZE = 32767  # MatchGroup.size is a smallint


@dataclass(frozen=True, slots=True)
class CleanMatch:
    match_id: str
    profile_ids: tuple[str, ...]  # sorted, distinct
    score: float


def match_validate(item: Any) -> tuple[CleanMatch | None, str]:
    """A GetMatches item as stored, or None and every reason it must be quarantined."""
    if not isinstance(item, dict):
        return None, f"not an object: {type(item).__name__}"
    problems = []
    match_id = item.get("MatchId")
    if not isinstance(match_id, str) or not match_id.strip():
        problems.append("missing MatchId")
    elif len(match_id) > 255:
        problems.append("MatchId longer than 255 characters")
    ids = item.get("ProfileIds")
    distinct: list[str] = []
    if ids is None:
        problems.append("missing ProfileIds")
    elif not isinstance(ids, list):
        problems.append("ProfileIds is not a list")
    else:
        bad = [p for p in ids if not (isinstance(p, str) and PROFILE_ID.fullmatch(p))]
        if bad:
            problems.append(f"malformed profile id {bad[0]!r} (expected 32 lowercase hex characters)")
        distinct = sorted({p for p in ids if isinstance(p, str) and PROFILE_ID.fullmatch(p)})
        if not bad and len(distinct) < 2:
            problems.append("fewer than two distinct profile ids")
        elif len(distinct) > MAX_GROUP_SIZE:
            problems.append(f"more than {MAX_GROUP_SIZE} profile ids")
    score = item.get("ConfidenceScore")
    if score is None:
        problems.append("missing ConfidenceScore")
    elif isinstance(score, bool) or not isinstance(score, (int, float, Decimal)):
        problems.append(f"ConfidenceScore is not a number: {score!r}")
    elif not math.isfinite(float(score)) or not 0.0 <= float(score) <= 1.0:
        problems.append(f"ConfidenceScore {score!r} is outside [0, 1]")
    if problems:
        return None, "; ".join(problems)
    # Checked above: a non-empty MatchId string and a finite number.
    return CleanMatch(cast(str, match_id), tuple(distinct), float(cast(float, score))), ""


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def raw_plain(item: Any) -> tuple[str, str]:
    """The item as JSON text (datetimes and other non-JSON values serialised) and its hash."""
    text = json.dumps(item, default=_json_default, sort_keys=True, separators=(",", ":"), allow_nan=True)
    # jsonb refuses NaN/Infinity: keep them as strings in the stored copy.
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(json.loads(text, parse_constant=str), sort_keys=True, separators=(",", ":"))
    return text, hashlib.sha256(text.encode()).hexdigest()


def conflict_reason(first: CleanMatch | None) -> str:
    """Why a second, different copy of a MatchId is quarantined."""
    if first is None:
        return "duplicate MatchId that conflicts with the copy already stored (first copy kept)"
    return (
        f"duplicate MatchId {first.match_id!r} that conflicts with the first copy "
        f"({len(first.profile_ids)} ids, score {first.score}); first copy kept"
    )
