"""MergeProfiles semantics on plain profile dicts."""

from __future__ import annotations

import copy
from typing import Any

from emulator.model import profile_fields

# String twins of deprecated enum fields travel with them.
_COMPANIONS = {"Gender": "GenderString", "PartyType": "PartyTypeString"}


def _present(value: Any) -> bool:
    return value not in (None, "", {}, [])


def merge_profiles(
    main: dict[str, Any], others: list[dict[str, Any]], field_sources: dict[str, Any] | None
) -> dict[str, Any]:
    """The main profile after the merge.

    A field named in `field_sources` takes that profile's value, even when it is empty (the field is
    then removed). Any other field keeps the main profile's value, or, when the main profile has none,
    the first value found among the merged profiles (fields without a conflict are combined).
    """
    by_id = {p["ProfileId"]: p for p in [main, *others]}
    sources = field_sources or {}
    result: dict[str, Any] = {"ProfileId": main["ProfileId"]}
    for fld in profile_fields():
        names = [fld] + ([_COMPANIONS[fld]] if fld in _COMPANIONS else [])
        source_id = sources.get(fld)
        for name in names:
            if source_id is not None:
                value = by_id[source_id].get(name)
            else:
                value = next((p.get(name) for p in [main, *others] if _present(p.get(name))), None)
            if _present(value):
                result[name] = copy.deepcopy(value)
    attr_sources = sources.get("Attributes") or {}
    attributes: dict[str, Any] = {}
    keys: list[str] = []
    for p in [main, *others]:
        for key in p.get("Attributes") or {}:
            if key not in keys:
                keys.append(key)
    keys += [k for k in attr_sources if k not in keys]
    for key in keys:
        if key in attr_sources:
            value = (by_id[attr_sources[key]].get("Attributes") or {}).get(key)
        else:
            value = next(
                (
                    (p.get("Attributes") or {}).get(key)
                    for p in [main, *others]
                    if _present((p.get("Attributes") or {}).get(key))
                ),
                None,
            )
        if _present(value):
            attributes[key] = value
    if attributes:
        result["Attributes"] = attributes
    # Keep anything else the main profile carries that the model does not let a merge choose.
    for key, value in main.items():
        if (
            key not in result
            and key not in profile_fields()
            and key not in _COMPANIONS.values()
            and key != "Attributes"
        ):
            result[key] = copy.deepcopy(value)
    return result


def field_source_ids(field_sources: dict[str, Any] | None) -> set[str]:
    ids: set[str] = set()
    for key, value in (field_sources or {}).items():
        if key == "Attributes" and isinstance(value, dict):
            ids.update(v for v in value.values() if isinstance(v, str))
        elif isinstance(value, str):
            ids.add(value)
    return ids
