"""Rule-based matching: the domain's RuleBasedMatching settings, ListRuleBasedMatches and the rule side of
GetSimilarProfiles (botocore's model for the shapes; the emulator's choices are in emulator/README.md).

Rules are applied in level order over the stored profiles (bulk domains' lazily made profiles are not matched): at
each level, profiles not yet matched at a stricter level are joined when they share every attribute of the rule
(connected components); a component of two or more is a match at that level. So a profile is in one rule-based
match at most, at the strictest level that holds it. Match ids are stable while the profiles do not change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from itertools import product
from typing import Any

from emulator.store import ApiError, Domain

DEFAULT_RULES = [{"Rule": ["EmailAddress"]}, {"Rule": ["PhoneNumber"]}]
LIST_DEFAULT_PAGE = 100
# Rule attributes the emulator can compare; any other attribute never matches.
_SIMPLE = ("AccountNumber", "BirthDate", "BusinessName", "FirstName", "LastName", "MiddleName", "Gender")


def rule_settings(dom: Domain) -> dict[str, Any] | None:
    """GetDomain's RuleBasedMatching, or None when the domain never had it configured."""
    if dom.rule_based is None:
        return None
    settings = dict(dom.rule_based)
    if settings.get("Enabled"):
        settings.setdefault("MatchingRules", DEFAULT_RULES)
        settings.setdefault("Status", "ACTIVE")
    return settings


def rule_settings_update(dom: Domain, request: dict[str, Any]) -> None:
    """UpdateDomain's RuleBasedMatching (a RuleBasedMatchingRequest): replaces the settings; Status follows."""
    settings = {k: v for k, v in request.items() if k != "ExportingConfig"}
    if settings.get("Enabled"):
        settings["Status"] = "ACTIVE"  # the emulator skips PENDING and IN_PROGRESS
    dom.rule_based = settings


def _enabled(dom: Domain) -> dict[str, Any]:
    settings = rule_settings(dom)
    if not settings or not settings.get("Enabled"):
        raise ApiError("BadRequestException", f"Rule-based matching is not enabled for domain {dom.name}.")
    return settings


def _values(attribute: str, prof: dict[str, Any]) -> set[str]:
    from emulator.search import _values_of

    if attribute == "EmailAddress":
        return _values_of("_email", prof)
    if attribute == "PhoneNumber":
        return _values_of("_phone", prof)
    if attribute in _SIMPLE or attribute.startswith("Attributes."):
        source = prof.get("Attributes") or {} if attribute.startswith("Attributes.") else prof
        value = source.get(attribute.removeprefix("Attributes."))
        text = " ".join(str(value or "").split()).lower()
        return {text} if text else set()
    return set()


def _finder(parent: dict[str, str]) -> Callable[[str], str]:
    """Union-find's find over `parent` (path halving); an unseen id becomes its own root."""

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    return find


def rule_groups(dom: Domain) -> list[dict[str, Any]]:
    """Every rule-based match of the domain: MatchId, ProfileIds (domain order), RuleLevel; level order. Kept while
    the settings and the profile objects stay the same (a merge or an upload replaces a profile's object)."""
    settings = _enabled(dom)
    key = (repr(settings), hash(tuple((pid, id(p)) for pid, p in dom.profiles.items())))
    cached = getattr(dom, "_rule_cache", None)
    if cached is None or cached[0] != key:
        cached = (key, _match(dom, settings))
        dom._rule_cache = cached  # type: ignore[attr-defined]
    return cached[1]


def _match(dom: Domain, settings: dict[str, Any]) -> list[dict[str, Any]]:
    rules = settings.get("MatchingRules") or DEFAULT_RULES
    top = int(settings.get("MaxAllowedRuleLevelForMatching") or len(rules))
    matched: set[str] = set()
    out: list[dict[str, Any]] = []
    order = {pid: i for i, pid in enumerate(dom.profiles)}
    for level, rule in enumerate(rules[:top], start=1):
        parent: dict[str, str] = {}
        find = _finder(parent)
        first_with: dict[tuple[str, ...], str] = {}
        for pid, prof in dom.profiles.items():
            if pid in matched:
                continue
            for key in product(*(sorted(_values(a, prof)) for a in rule["Rule"])):
                if key in first_with:
                    parent[find(pid)] = find(first_with[key])
                else:
                    first_with[key] = pid
                    find(pid)
        members: dict[str, list[str]] = {}
        for pid in parent:
            members.setdefault(find(pid), []).append(pid)
        for ids in members.values():
            if len(ids) < 2:
                continue
            ids.sort(key=order.__getitem__)
            digest = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:24]
            out.append({"MatchId": f"rule{level}-{digest}", "ProfileIds": ids, "RuleLevel": level})
            matched.update(ids)
    return out


def rule_group(dom: Domain, key: str, value: str) -> dict[str, Any] | None:
    """The rule-based match holding a profile (`_profileId`) or with that MatchId (`_matchId`)."""
    for group in rule_groups(dom):
        if (key == "_matchId" and group["MatchId"] == value) or (key == "_profileId" and value in group["ProfileIds"]):
            return group
    return None


def list_rule_based_matches(emu: Any, params: dict[str, Any]) -> dict[str, Any]:
    from emulator.operations import _domain, _page_bounds, encode_token

    dom = _domain(emu, params)
    ids = [g["MatchId"] for g in rule_groups(dom)]
    start, stop = _page_bounds(emu, params, "rules", LIST_DEFAULT_PAGE)
    out: dict[str, Any] = {"MatchIds": ids[start:stop]}
    if stop < len(ids):
        out["NextToken"] = encode_token("rules", stop)
    return out
