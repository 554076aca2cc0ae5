"""The chunk plan of a merge job: a pure function of its Decision, so every attempt computes the same chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from matches import aws, fields
from matches.models import Decision
from matches.services.merges.errors import MergePlanError

MAX_IDS = aws.MAX_IDS_PER_CALL


@dataclass(frozen=True)
class Chunk:
    index: int
    profile_ids: list[str]


def merge_plan(decision: Decision) -> list[list[str]]:
    """The chunks of ids to merge, in call order; the same for every run of the same Decision.

    The first chunk carries every profile chosen as a field source (with the chosen FieldSourceProfileIds), then the
    other ids in sorted order; later chunks name the main profile as the source of every decided field.
    """
    main = decision.main_profile_id
    others = sorted(set(decision.merged_profile_ids) - {main})
    sources = sorted({pid for pid in (decision.field_sources or {}).values() if pid != main})
    if len(sources) > MAX_IDS:
        raise MergePlanError(
            f"{len(sources)} different profiles are chosen as field sources, but MergeProfiles takes at most "
            f"{MAX_IDS} profiles in the call that applies the choices; nothing was merged."
        )
    if not others:
        raise MergePlanError("The decision names no profile to merge into the main profile; nothing was merged.")
    rest = [pid for pid in others if pid not in sources]
    room = MAX_IDS - len(sources)
    first = sorted(sources + rest[:room])
    later = rest[room:]
    return [first] + [later[i : i + MAX_IDS] for i in range(0, len(later), MAX_IDS)]


def chunk_field_sources(decision: Decision, index: int, present: set[str]) -> dict[str, Any] | None:
    """FieldSourceProfileIds for one call. After the first chunk the main profile holds every chosen value, so it
    is the source of every decided field (a later chunk cannot overwrite the steward's choices)."""
    chosen = decision.field_sources or {}
    if not chosen:
        return None
    main = decision.main_profile_id
    if index == 0:
        # A chosen source that is gone here was merged by an earlier, unanswered call of this same chunk.
        flat = {key: (pid if pid in present or pid == main else main) for key, pid in chosen.items()}
    else:
        flat = dict.fromkeys(chosen, main)
    return fields.to_aws_field_sources(flat)
