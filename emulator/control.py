"""The /_emulator/ control API: a contract other test suites rely on, so keep its shapes stable."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from emulator.bulk import SCENARIOS
from emulator.export import export_options
from emulator.faults import FaultConfig
from emulator.rules import rule_settings_update
from emulator.state import Emulator
from emulator.store import JOB_STATUSES, Domain, build_domain

DOMAIN_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def parse_when(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ControlError(400, f"generation is not ISO 8601 or epoch seconds: {value!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    raise ControlError(400, "generation is not ISO 8601 or epoch seconds")


def _domain(emu: Emulator, name: str) -> Domain:
    dom = emu.domains.get(name)
    if dom is None:
        raise ControlError(404, f"no domain {name}")
    return dom


def health(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    return {"ok": True}


def create_domain(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not DOMAIN_NAME.match(body["name"]):
        raise ControlError(400, "name must match ^[a-zA-Z0-9_-]{1,64}$")
    profiles = body.get("profiles") or []
    if not isinstance(profiles, list) or not all(isinstance(p, dict) for p in profiles):
        raise ControlError(400, "profiles must be a list of profile objects")
    if body.get("customers") is not None and body.get("bulk_groups") is not None:
        raise ControlError(400, "give customers or bulk_groups, not both")
    customers = body.get("customers")
    if customers is None and body.get("bulk_groups") is None and not profiles:
        customers = 0
    if body.get("scenario", "default") not in SCENARIOS:
        raise ControlError(400, f"scenario must be one of {', '.join(SCENARIOS)}")
    share = body.get("nonmatch_share")
    if share is not None and (not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share <= 1):
        raise ControlError(400, "nonmatch_share must be a number between 0 and 1")
    exporting, export = body.get("exporting"), None
    if exporting is not None:
        bucket = exporting.get("S3Exporting", {}).get("S3BucketName") if isinstance(exporting, dict) else None
        if not isinstance(bucket, str) or not re.fullmatch(r"[a-z0-9.-]{3,63}", bucket):
            raise ControlError(400, "exporting must be an ExportingConfig: {'S3Exporting': {'S3BucketName', ...}}")
        try:
            export = export_options(body.get("export"))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
    dom = build_domain(
        body["name"],
        seed=int(body.get("seed", 0)),
        customers=int(customers) if customers is not None else None,
        bulk_groups=int(body["bulk_groups"]) if body.get("bulk_groups") is not None else None,
        scenario=body.get("scenario", "default"),
        nonmatch_share=share,
        profiles=profiles,
        matching_enabled=bool(body.get("matching_enabled", True)),
        auto_merging=body.get("auto_merging"),
        job_schedule=body.get("job_schedule"),
        run_job=bool(body.get("run_job", True)),
        generator=emu.generator,
        exporting=exporting,
        export=export,
    )
    if isinstance(body.get("rule_based"), dict):  # a RuleBasedMatchingRequest, as UpdateDomain takes it
        rule_settings_update(dom, body["rule_based"])
    emu.domains[dom.name] = dom
    return {
        "name": dom.name,
        "profiles": dom.profile_count(),
        "groups": len(dom.matches),
        "generation": iso(dom.generation),
    }


def add_profiles(emu: Emulator, body: Any, name: str, **_: str) -> dict[str, Any]:
    dom = _domain(emu, name)
    profiles = body.get("profiles") if isinstance(body, dict) else None
    if not isinstance(profiles, list) or not all(isinstance(p, dict) for p in profiles):
        raise ControlError(400, "profiles must be a list of profile objects")
    ids = []
    for prof in profiles:
        pid = dom.put_profile(dict(prof))
        dom.truth.setdefault(pid, f"added-{pid}")
        ids.append(pid)
    return {"profile_ids": ids}


def delete_profile(emu: Emulator, body: Any, name: str, profile_id: str) -> dict[str, Any]:
    """A profile deleted outside Matchdesk: by default as a customer's request (DELETED_BY_CUSTOMER); `?action=`
    EXPIRED or DELETED_BY_MERGE (with `main`, whose MERGED record it adds: AWS finishing a merge late) instead."""
    dom = _domain(emu, name)
    if not dom.delete_profile(profile_id):
        raise ControlError(404, f"no profile {profile_id}")
    action = (body or {}).get("action", "DELETED_BY_CUSTOMER") if isinstance(body, dict) else "DELETED_BY_CUSTOMER"
    if action not in ("DELETED_BY_CUSTOMER", "EXPIRED", "DELETED_BY_MERGE"):
        raise ControlError(400, "action must be DELETED_BY_CUSTOMER, EXPIRED or DELETED_BY_MERGE")
    by = "arn:aws:iam::000000000000:user/someone-else"
    dom.record_history(profile_id, action, performed_by=by)
    main = body.get("main") if isinstance(body, dict) else None
    if action == "DELETED_BY_MERGE" and isinstance(main, str):
        dom.record_history(main, "MERGED", performed_by=by, content={"ProfileIdsMerged": [profile_id]})
    return {"deleted": profile_id, "action": action}


def get_profile(emu: Emulator, body: Any, name: str, profile_id: str) -> dict[str, Any]:
    prof = _domain(emu, name).get_profile(profile_id, emu.generator)
    if prof is None:
        raise ControlError(404, f"no profile {profile_id}")
    return prof


def set_matches(emu: Emulator, body: Any, name: str, **_: str) -> dict[str, Any]:
    dom = _domain(emu, name)
    if not isinstance(body, dict) or not isinstance(body.get("matches"), list):
        raise ControlError(400, "matches must be a list (items are served verbatim)")
    status = body.get("job_status", "COMPLETED")
    if status not in JOB_STATUSES:
        raise ControlError(400, f"job_status must be one of {JOB_STATUSES}")
    generation = parse_when(body["generation"]) if body.get("generation") is not None else None
    job = dom.set_matches(body["matches"], generation, status)
    return {"generation": iso(dom.generation), "groups": len(dom.matches), "job_id": job.job_id}


def run_job(emu: Emulator, body: Any, name: str, **_: str) -> dict[str, Any]:
    dom = _domain(emu, name)
    status = (body or {}).get("status", "COMPLETED") if isinstance(body, dict) else "COMPLETED"
    if status not in JOB_STATUSES:
        raise ControlError(400, f"status must be one of {JOB_STATUSES}")
    job = dom.run_job(status)
    return {"generation": iso(dom.generation), "groups": len(dom.matches), "job_id": job.job_id, "status": job.status}


def truth(emu: Emulator, body: Any, name: str, **_: str) -> dict[str, Any]:
    return _domain(emu, name).truth_report()


def set_faults(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    try:
        config = FaultConfig.from_json(body if isinstance(body, dict) else {})
    except (TypeError, ValueError) as exc:
        raise ControlError(400, str(exc)) from None
    emu.faults.configure(config)
    return {"ok": True}


def clear_faults(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    emu.faults.configure(FaultConfig())
    return {"ok": True}


def get_faults(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    cfg = emu.faults.config
    return {**cfg.__dict__, "operations": list(cfg.operations)}


def calls(emu: Emulator, body: Any, query: dict[str, list[str]] | None = None, **_: str) -> dict[str, Any]:
    wanted = (query or {}).get("operation", [None])[0]
    return {"calls": [c for c in emu.calls if wanted is None or c["operation"] == wanted]}


def clear_calls(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    emu.calls.clear()
    return {"ok": True}


def reset(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    emu.reset()
    return {"ok": True}


def save(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    path = emu.save()
    if path is None:
        raise ControlError(409, "the emulator was started without --state-file")
    return {"ok": True, "path": str(path)}


def list_domains(emu: Emulator, body: Any, **_: str) -> dict[str, Any]:
    return {
        "domains": [
            {"name": d.name, "profiles": d.profile_count(), "groups": len(d.matches), "generation": iso(d.generation)}
            for d in emu.domains.values()
        ]
    }


Handler = Callable[..., dict[str, Any]]
_SEG = r"(?P<{}>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (m, re.compile("^/_emulator" + p.format(name=_SEG.format("name"), pid=_SEG.format("profile_id")) + "$"), h)
    for m, p, h in [
        ("GET", "/health", health),
        ("GET", "/domains", list_domains),
        ("POST", "/domains", create_domain),
        ("POST", "/domains/{name}/profiles", add_profiles),
        ("GET", "/domains/{name}/profiles/{pid}", get_profile),
        ("DELETE", "/domains/{name}/profiles/{pid}", delete_profile),
        ("POST", "/domains/{name}/matches", set_matches),
        ("POST", "/domains/{name}/run-job", run_job),
        ("GET", "/domains/{name}/truth", truth),
        ("GET", "/faults", get_faults),
        ("POST", "/faults", set_faults),
        ("DELETE", "/faults", clear_faults),
        ("GET", "/calls", calls),
        ("DELETE", "/calls", clear_calls),
        ("POST", "/reset", reset),
        ("POST", "/save", save),
    ]
]
