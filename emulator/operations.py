"""Customer Profiles operations. Each takes the emulator and the parsed, model-validated input."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from emulator.merge import field_source_ids, merge_profiles
from emulator.rules import list_rule_based_matches, rule_settings, rule_settings_update
from emulator.search import get_similar_profiles, search_profiles
from emulator.state import Emulator
from emulator.store import ApiError, BulkMatches, Domain

DEFAULT_PAGE = 100
# Who the emulator says performed a MergeProfiles call (PerformedBy): AWS puts the caller's ARN there.
CALLER = "arn:aws:iam::000000000000:user/matchdesk"
EXPIRED_TOKEN = "The NextToken provided is invalid or has expired. Start again without a NextToken."

Operation = Callable[[Emulator, dict[str, Any]], dict[str, Any]]


def _domain(emu: Emulator, params: dict[str, Any]) -> Domain:
    name = params.get("DomainName")
    dom = emu.domains.get(name) if isinstance(name, str) else None
    if dom is None:
        raise ApiError("ResourceNotFoundException", f"Domain {name} does not exist.")
    return dom


# -- NextToken: opaque to clients, but carries what the server needs to resume and to expire it --------------
def encode_token(kind: str, offset: int, generation: float | None = None) -> str:
    raw = json.dumps({"k": kind, "o": offset, "g": generation, "t": time.time(), "n": secrets.token_hex(4)})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(emu: Emulator, token: str, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("o"), int) or data["o"] < 0:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError("BadRequestException", EXPIRED_TOKEN) from None
    ttl = emu.faults.config.token_ttl_seconds
    if ttl is not None and time.time() - float(data.get("t", 0)) > float(ttl):
        raise ApiError("BadRequestException", EXPIRED_TOKEN)
    return data


def _page_bounds(emu: Emulator, params: dict[str, Any], kind: str, default: int) -> tuple[int, int]:
    start = decode_token(emu, params["NextToken"], kind)["o"] if params.get("NextToken") else 0
    return start, start + int(params.get("MaxResults") or default)


# -- operations -----------------------------------------------------------------------------------------------
def list_domains(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    names = sorted(emu.domains)
    start, stop = _page_bounds(emu, params, "domains", DEFAULT_PAGE)
    items = [
        {
            "DomainName": n,
            "CreatedAt": emu.domains[n].created_at,
            "LastUpdatedAt": emu.domains[n].updated_at,
            "Tags": {},
        }
        for n in names[start:stop]
    ]
    out: dict[str, Any] = {"Items": items}
    if stop < len(names):
        out["NextToken"] = encode_token("domains", stop)
    return out


def get_domain(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    dom = _domain(emu, params)
    count = dom.profile_count()
    return {
        "DomainName": dom.name,
        "DefaultExpirationDays": 366,
        "Stats": {
            "ProfileCount": count,
            "MeteringProfileCount": count,
            "ObjectCount": count,
            "TotalSize": count * 1200,
        },
        "Matching": {
            "Enabled": dom.matching_enabled,
            "JobSchedule": dom.job_schedule,
            "AutoMerging": dom.auto_merging,
            **({"ExportingConfig": dom.exporting} if dom.exporting else {}),
        },
        **({"RuleBasedMatching": rules} if (rules := rule_settings(dom)) is not None else {}),
        "CreatedAt": dom.created_at,
        "LastUpdatedAt": dom.updated_at,
        "Tags": {},
    }


def get_matches(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    dom = _domain(emu, params)
    if not dom.matching_enabled:
        raise ApiError("BadRequestException", f"Matching is not enabled for domain {dom.name}.")
    start, stop = _page_bounds(emu, params, "matches", DEFAULT_PAGE)
    # A token from an older generation resumes at its offset in the newest one, as AWS serves only the
    # latest run; the changed MatchGenerationDate is how a client notices.
    total = len(dom.matches)
    out: dict[str, Any] = {"PotentialMatches": total, "Matches": dom.matches.page(start, stop)}
    if dom.generation is not None:
        out["MatchGenerationDate"] = dom.generation
    if stop < total:
        out["NextToken"] = encode_token("matches", stop, dom.generation)
    return out


def batch_get_profile(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    dom = _domain(emu, params)
    profiles, errors = [], []
    for pid in dict.fromkeys(params["ProfileIds"]):
        prof = dom.get_profile(pid, emu.generator)
        if prof is None:
            errors.append({"Code": "404", "Message": "Profile not found", "ProfileId": pid})
        else:
            profiles.append(prof)
    return {"Errors": errors, "Profiles": profiles}


def merge_profiles_op(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    dom = _domain(emu, params)
    main_id, merge_ids = params["MainProfileId"], list(params["ProfileIdsToBeMerged"])
    if main_id in merge_ids:
        raise ApiError("BadRequestException", "MainProfileId must not be one of ProfileIdsToBeMerged.")
    if len(set(merge_ids)) != len(merge_ids):
        raise ApiError("BadRequestException", "ProfileIdsToBeMerged contains duplicate profile ids.")
    involved = {main_id, *merge_ids}
    stray = field_source_ids(params.get("FieldSourceProfileIds")) - involved
    if stray:
        raise ApiError(
            "BadRequestException",
            f"FieldSourceProfileIds must name the main profile or a profile to be merged: {', '.join(sorted(stray))}.",
        )
    main = dom.get_profile(main_id, emu.generator)
    missing = [pid for pid in [main_id, *merge_ids] if pid != main_id and dom.get_profile(pid, emu.generator) is None]
    if main is None:
        missing.insert(0, main_id)
    if missing:
        raise ApiError("BadRequestException", f"Profiles not found in domain {dom.name}: {', '.join(missing)}.")
    delay = float(emu.faults.config.merge_apply_delay_seconds or 0)
    if delay > 0:
        # MergeProfiles is documented as running a Lambda job: the answer can come before the merge is visible.
        timer = threading.Timer(
            delay, _merge_later, args=(emu, dom, main_id, merge_ids, params.get("FieldSourceProfileIds"))
        )
        timer.daemon = True
        timer.start()
    else:
        _apply_merge(emu, dom, main_id, merge_ids, params.get("FieldSourceProfileIds"))
    return {"Message": f"Merged {len(merge_ids)} profiles into {main_id}."}


def _apply_merge(emu: Emulator, dom: Domain, main_id: str, merge_ids: list[str], sources: Any) -> None:
    main = dom.get_profile(main_id, emu.generator)
    others = [p for p in (dom.get_profile(pid, emu.generator) for pid in merge_ids) if p is not None]
    if main is None:
        return
    dom.profiles[main_id] = merge_profiles(main, others, sources)
    for prof in others:
        dom.delete_profile(prof["ProfileId"])
        dom.record_history(
            prof["ProfileId"], "DELETED_BY_MERGE", performed_by=CALLER, content={"MainProfileId": main_id}
        )
    if others:
        merged = [p["ProfileId"] for p in others]
        dom.record_history(main_id, "MERGED", performed_by=CALLER, content={"ProfileIdsMerged": merged})
    dom.updated_at = float(int(time.time()))


def _merge_later(emu: Emulator, dom: Domain, main_id: str, merge_ids: list[str], sources: Any) -> None:
    with emu.lock:
        if emu.domains.get(dom.name) is dom:  # the domain may have been reset or replaced meanwhile
            _apply_merge(emu, dom, main_id, merge_ids, sources)


def list_identity_resolution_jobs(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    dom = _domain(emu, params)
    jobs = list(reversed(dom.jobs))  # newest first
    start, stop = _page_bounds(emu, params, "jobs", DEFAULT_PAGE)
    out: dict[str, Any] = {"IdentityResolutionJobsList": [j.to_api(dom) for j in jobs[start:stop]]}
    if stop < len(jobs):
        out["NextToken"] = encode_token("jobs", stop)
    return out


def get_identity_resolution_job(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    dom = _domain(emu, params)
    for job in dom.jobs:
        if job.job_id == params["JobId"]:
            return job.to_api(dom, full=True)
    raise ApiError("ResourceNotFoundException", f"Identity resolution job {params['JobId']} not found.")


def get_auto_merging_preview(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    """What auto-merging at a minimum score would do, dry: over the latest job's match groups (the emulator's
    "sample" is all of them). NumberOfProfilesWillBeMerged counts every member of a group at or above the score (AWS
    does not say whether the surviving profile counts; the emulator counts it)."""
    dom = _domain(emu, params)
    minimum = params.get("MinAllowedConfidenceScoreForMerging")
    matches = dom.matches
    if isinstance(matches, BulkMatches):
        order = list(matches.order)
        scores = [float(matches.groups.scores[g]) for g in order]
        lost = dom.bulk_losses(matches.gone)
        sizes = [matches.groups.sizes[g] - lost.get(g, 0) for g in order]
    else:
        items = matches.page(0, len(matches))
        scores = [float(item.get("ConfidenceScore", 0.0)) for item in items]
        sizes = [len(item.get("ProfileIds", [])) for item in items]
    merged = 0
    if minimum is not None:
        merged = sum(size for score, size in zip(scores, sizes, strict=True) if score >= float(minimum))
    return {
        "DomainName": dom.name,
        "NumberOfMatchesInSample": len(scores),
        "NumberOfProfilesInSample": sum(sizes),
        "NumberOfProfilesWillBeMerged": merged,
    }


def update_domain(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    """Only the Matching part (Enabled, JobSchedule, AutoMerging, ExportingConfig) and RuleBasedMatching change
    anything here."""
    dom = _domain(emu, params)
    matching = params.get("Matching")
    if isinstance(matching, dict):
        dom.matching_enabled = bool(matching.get("Enabled", dom.matching_enabled))
        dom.job_schedule = matching.get("JobSchedule") or dom.job_schedule
        dom.auto_merging = matching.get("AutoMerging") or dom.auto_merging
        if "ExportingConfig" in matching:
            dom.exporting = matching.get("ExportingConfig") or None
    if isinstance(params.get("RuleBasedMatching"), dict):
        rule_settings_update(dom, params["RuleBasedMatching"])
    dom.updated_at = float(int(time.time()))
    return get_domain(emu, {"DomainName": dom.name})


def list_profile_history_records(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    dom = _domain(emu, params)
    pid = params["ProfileId"]
    found = [
        {k: v for k, v in r.items() if k != "Content"}
        for r in reversed(dom.history.get(pid, []))  # newest first
        if params.get("ActionType") in (None, r["ActionType"])
        and params.get("PerformedBy") in (None, r["PerformedBy"])
        and params.get("ObjectTypeName") in (None, r["ObjectTypeName"])
    ]
    if not found and pid not in dom.history and dom.get_profile(pid, emu.generator) is None:
        raise ApiError("ResourceNotFoundException", f"Profile {pid} not found in domain {dom.name}.")
    start, stop = _page_bounds(emu, params, "history", DEFAULT_PAGE)
    out: dict[str, Any] = {"ProfileHistoryRecords": found[start:stop]}
    if stop < len(found):
        out["NextToken"] = encode_token("history", stop)
    return out


def get_profile_history_record(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    dom = _domain(emu, params)
    for record in dom.history.get(params["ProfileId"], []):
        if record["Id"] == params["Id"]:
            return dict(record)
    raise ApiError("ResourceNotFoundException", f"History record {params['Id']} not found.")


OPERATIONS: dict[str, Operation] = {
    "ListDomains": list_domains,
    "GetDomain": get_domain,
    "GetMatches": get_matches,
    "BatchGetProfile": batch_get_profile,
    "SearchProfiles": search_profiles,
    "GetSimilarProfiles": get_similar_profiles,
    "ListRuleBasedMatches": list_rule_based_matches,
    "MergeProfiles": merge_profiles_op,
    "ListIdentityResolutionJobs": list_identity_resolution_jobs,
    "GetIdentityResolutionJob": get_identity_resolution_job,
    "GetAutoMergingPreview": get_auto_merging_preview,
    "UpdateDomain": update_domain,
    "ListProfileHistoryRecords": list_profile_history_records,
    "GetProfileHistoryRecord": get_profile_history_record,
}
