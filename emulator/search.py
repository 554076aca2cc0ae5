"""SearchProfiles and GetSimilarProfiles: finding profiles the identity-resolution job did not group (botocore's
model for the shapes; the emulator's choices where AWS documents nothing precise are in emulator/README.md)."""

from __future__ import annotations

from typing import Any

from emulator.matching import EMAIL_FIELDS, PHONE_FIELDS, normalise_email, normalise_phone
from emulator.rules import rule_group
from emulator.state import Emulator
from emulator.store import ApiError, BulkMatches, Domain, ListMatches

SEARCH_DEFAULT_PAGE = 20
SIMILAR_DEFAULT_PAGE = 20

# The predefined keys SearchProfiles' KeyName documents. The emulator indexes the first five; the others are
# accepted (AWS knows them) and find nothing, as in a domain without those integrations.
PREDEFINED_KEYS = (
    "_account", "_profileId", "_fullName", "_phone", "_email",
    "_assetId", "_caseId", "_orderId", "_ctrContactId", "_marketoLeadId", "_salesforceAccountId",
    "_salesforceContactId", "_salesforceAssetId", "_zendeskUserId", "_zendeskExternalId", "_zendeskTicketId",
    "_serviceNowSystemId", "_serviceNowIncidentId", "_segmentUserId", "_shopifyCustomerId", "_shopifyOrderId",
)  # fmt: skip
_FIELDS: dict[str, tuple[str, ...]] = {
    "_email": EMAIL_FIELDS,
    "_phone": PHONE_FIELDS,
    "_account": ("AccountNumber",),
}
SIMILAR_KEYS = ("_profileId", "_matchId")


def _norm(key: str, value: str) -> str:
    if key == "_email":
        return normalise_email(value)
    if key == "_phone":
        return normalise_phone(value, None)
    return " ".join(value.split()).lower()


def _values_of(key: str, prof: dict[str, Any]) -> set[str]:
    if key == "_fullName":
        parts = (str(prof.get(f) or "").strip() for f in ("FirstName", "MiddleName", "LastName"))
        full = " ".join(p for p in parts if p)
        short = " ".join(p for p in (str(prof.get("FirstName") or ""), str(prof.get("LastName") or "")) if p.strip())
        return {_norm(key, full), _norm(key, short)} - {""}
    return {_norm(key, str(prof[f])) for f in _FIELDS.get(key, ()) if prof.get(f)}


def _found(dom: Domain, emu: Emulator, key: str, values: list[str]) -> dict[str, list[str]]:
    """Profile id -> the values of `key` that found it, in the domain's order."""
    if key not in PREDEFINED_KEYS:
        raise ApiError("BadRequestException", f"KeyName {key} is not a searchable key in domain {dom.name}.")
    out: dict[str, list[str]] = {}
    if key == "_profileId":
        for pid in dict.fromkeys(values):
            if dom.get_profile(pid, emu.generator) is not None:
                out[pid] = [pid]
        return out
    if key not in _FIELDS and key != "_fullName":
        return out
    wanted = {_norm(key, v): v for v in values}
    # Searches scan stored profiles only: bulk domains' lazily made profiles have no index.
    for pid, prof in dom.profiles.items():
        hits = [wanted[n] for n in _values_of(key, prof) if n in wanted]
        if hits:
            out[pid] = sorted(set(hits))
    return out


def search_profiles(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    from emulator.operations import _domain, _page_bounds

    dom = _domain(emu, params)
    keys = [(params["KeyName"], list(params["Values"]))]
    extra = params.get("AdditionalSearchKeys")
    keys += [(k["KeyName"], list(k["Values"])) for k in extra or []]
    names = [k for k, _ in keys]
    if len(set(names)) != len(names):
        raise ApiError("BadRequestException", "Each search key may appear only once in a SearchProfiles request.")
    results = [(key, _found(dom, emu, key, values)) for key, values in keys]
    ids = list(results[0][1])
    for _, found in results[1:]:
        ids += [pid for pid in found if pid not in ids]
    if params.get("LogicalOperator", "OR") == "AND":
        ids = [pid for pid in ids if all(pid in found for _, found in results)]
    start, stop = _page_bounds(emu, params, "search", SEARCH_DEFAULT_PAGE)
    items = []
    for pid in ids[start:stop]:
        prof = dict(dom.get_profile(pid, emu.generator) or {})
        if extra:
            prof["FoundByItems"] = [{"KeyName": k, "Values": found[pid]} for k, found in results if pid in found]
        items.append(prof)
    out: dict[str, Any] = {"Items": items}
    if stop < len(ids):
        out["NextToken"] = _token(stop)
    return out


def _token(offset: int) -> str:
    from emulator.operations import encode_token

    return encode_token("search", offset)


def _ml_group(dom: Domain, emu: Emulator, key: str, value: str) -> dict[str, Any] | None:
    matches = dom.matches
    if isinstance(matches, BulkMatches):
        if key == "_profileId":
            where = matches.groups.locate(value)
            order = list(matches.order)
            if where is None or where[0] not in order:
                return None
            at = order.index(where[0])
            return matches.page(at, at + 1)[0]
        return next((m for m in matches.page(0, len(matches)) if m["MatchId"] == value), None)
    assert isinstance(matches, ListMatches)
    for item in matches.items:
        if not isinstance(item, dict):
            continue
        if (key == "_matchId" and item.get("MatchId") == value) or (
            key == "_profileId" and value in (item.get("ProfileIds") or [])
        ):
            return item
    return None


def get_similar_profiles(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    from emulator.operations import _domain, _page_bounds, encode_token

    dom = _domain(emu, params)
    key, value, kind = params["SearchKey"], params["SearchValue"], params["MatchType"]
    if key not in SIMILAR_KEYS:
        raise ApiError("BadRequestException", f"SearchKey must be one of {', '.join(SIMILAR_KEYS)}; got {key}.")
    if key == "_profileId" and dom.get_profile(value, emu.generator) is None:
        raise ApiError("ResourceNotFoundException", f"Profile {value} not found in domain {dom.name}.")
    if kind == "ML_BASED_MATCHING":
        if not dom.matching_enabled:
            raise ApiError("BadRequestException", f"Matching is not enabled for domain {dom.name}.")
        group = _ml_group(dom, emu, key, value)
    else:
        group = rule_group(dom, key, value)
    if group is None:
        if key == "_matchId":
            raise ApiError("ResourceNotFoundException", f"Match {value} not found in domain {dom.name}.")
        return {"ProfileIds": [], "MatchType": kind}
    start, stop = _page_bounds(emu, params, "similar", SIMILAR_DEFAULT_PAGE)
    ids = list(group["ProfileIds"])
    out: dict[str, Any] = {"ProfileIds": ids[start:stop], "MatchId": group["MatchId"], "MatchType": kind}
    if kind == "ML_BASED_MATCHING":
        out["ConfidenceScore"] = group.get("ConfidenceScore")
    else:
        out["RuleLevel"] = group["RuleLevel"]
    if stop < len(ids):
        out["NextToken"] = encode_token("similar", stop)
    return out
