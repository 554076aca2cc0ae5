"""How audit events read on a page: a one-line summary and the links to what they concern."""

from __future__ import annotations

import json
import re

from django.urls import reverse

from matches.models import PROFILE_ID_RE, AuditEvent, Queue

_PROFILE_ID = re.compile(PROFILE_ID_RE)


def group_url(pk: int | str) -> str:
    """The group page."""
    return reverse("group", args=[pk])


def group_history_url(pk: int | str) -> str:
    return reverse("group-history", args=[pk])


def profile_url(domain: str, profile_id: str) -> str:
    return reverse("profile-timeline", args=[domain, profile_id])


def _short(pid: str) -> str:
    return pid[:8] + "…" if len(pid) > 9 else pid


def event_summary(event: AuditEvent) -> str:
    """Plain text (escaped by the template): what happened, in a line."""
    d = event.details if isinstance(event.details, dict) else {}
    action = event.action
    if action.startswith("decision."):
        parts = [f"match {d.get('match_id', '?')}"]
        if d.get("confidence_score") is not None:
            parts.append(f"score {float(d['confidence_score']):.3f}")
        if d.get("bucket"):
            parts.append(f"{d['bucket']} queue")
        if d.get("main_profile_id"):
            parts.append(f"main {_short(d['main_profile_id'])}")
        if d.get("merged_profile_ids"):
            parts.append(f"{len(d['merged_profile_ids'])} merged in")
        if d.get("excluded_profile_ids") and action != "decision.reject":
            parts.append(f"{len(d['excluded_profile_ids'])} excluded")
        if d.get("bulk"):
            parts.append("bulk")
        if d.get("reverts"):
            parts.append(f"takes back decision {d['reverts']}")
        if d.get("reason"):
            parts.append(f"“{d['reason']}”")
        return " · ".join(parts)
    if action.startswith("approval."):
        what = f"match {d['match_id']}" if d.get("match_id") else f"bulk job {d.get('bulk_job_id', '?')}"
        parts = [
            what,
            f"rule: {d.get('rule', '?')}",
            f"asked by {d.get('requested_by', '?')} at {d.get('requested_at', '?')}",
        ]
        if d.get("decided_by"):
            parts.append(f"answered by {d['decided_by']} at {d.get('decided_at', '?')}")
        if d.get("reason"):
            parts.append(f"“{d['reason']}”")
        return " · ".join(parts)
    if action == "profile.erased":
        return (
            f"erased profile {_short(d.get('profile_id', ''))} from {d.get('snapshots_erased', 0)} snapshot(s)"
            f" ({d.get('snapshots_emptied', 0)} emptied entirely); cached attributes cleared"
            + (f" · “{d['reason']}”" if d.get("reason") else "")
        )
    if action == "audit.verified":
        if d.get("ok"):
            return f"chain intact: {d.get('checked', 0)} events verified"
        return f"chain BROKEN at #{d.get('first_bad_seq')}: {d.get('reason', '')}"
    if action.startswith("export."):
        filters = d.get("filters") or {}
        return "export with " + (", ".join(f"{k}={v}" for k, v in filters.items()) if filters else "no filters")
    if not d:
        return ""
    return ", ".join(f"{k}={_compact(v)}" for k, v in list(d.items())[:6])


def _compact(value) -> str:
    if isinstance(value, str):
        return _short(value) if _PROFILE_ID.match(value) else value[:60]
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"


def event_links(event: AuditEvent) -> dict:
    """The group and profiles an event concerns, as URLs."""
    d = event.details if isinstance(event.details, dict) else {}
    links: dict = {"group": None, "group_id": None, "group_history": None, "profiles": []}
    # The group is the event's object, or named in its details (a merge job's events): never another object's id.
    group_id = None
    if event.object_type == "group" and event.object_id.isdigit():
        group_id = int(event.object_id)
    elif isinstance(d.get("group_id"), int):
        group_id = d["group_id"]
    if group_id is not None:
        links.update(group=group_url(group_id), group_id=group_id, group_history=group_history_url(group_id))
    ids = list(d.get("profile_ids") or [])
    if event.object_type == "profile":
        ids.append(event.object_id)
    elif isinstance(d.get("profile_id"), str):
        ids.append(d["profile_id"])
    if event.domain:
        links["profiles"] = [
            (pid, profile_url(event.domain, pid))
            for pid in dict.fromkeys(ids)
            if isinstance(pid, str) and _PROFILE_ID.match(pid)
        ]
    return links


def decorate(events: list[AuditEvent]) -> list[AuditEvent]:
    """Attach `summary`, `links` and pretty `details_json` for templates."""
    for e in events:
        e.summary = event_summary(e)
        e.links = event_links(e)
        e.details_json = json.dumps(e.details, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return events


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def weekly_matrix(rows: list[dict], *, by: str, max_weeks: int = 26) -> dict:
    """Pivot (week, key, n) rows into weeks × keys, with totals; a handful of weeks and keys, not raw decisions.
    Only the latest `max_weeks` are kept (`hidden_weeks` says how many earlier ones were left out)."""
    all_weeks = sorted({r["week"] for r in rows})
    weeks = all_weeks[-max_weeks:]
    rows = [r for r in rows if r["week"] in set(weeks)]
    keys = sorted({r[by] or "" for r in rows})
    cell = {(r["week"], r[by] or ""): r["n"] for r in rows}
    table = [
        {"key": k, "counts": [cell.get((w, k), 0) for w in weeks], "total": sum(cell.get((w, k), 0) for w in weeks)}
        for k in keys
    ]
    week_totals = [sum(cell.get((w, k), 0) for k in keys) for w in weeks]
    return {
        "weeks": weeks,
        "keys": keys,
        "rows": table,
        "week_totals": week_totals,
        "total": sum(week_totals),
        "hidden_weeks": len(all_weeks) - len(weeks),
    }


BUCKET_COLOURS = {Queue.MERGE: "#1f7a4d", Queue.REVIEW: "#b08a2e", Queue.REJECT: "#9b3b3b", "": "#9aa3ae"}


def stacked_bars(matrix: dict, *, width: int = 720, height: int = 180, colours: dict | None = None) -> dict:
    """Geometry of a stacked weekly bar chart for an inline SVG (drawn by the template, numbers only)."""
    colours = colours or BUCKET_COLOURS
    weeks, peak = matrix["weeks"], max(matrix["week_totals"] or [0])
    left, bottom, top = 36, 22, 16
    plot_h = height - bottom - top
    slot = (width - left) / max(len(weeks), 1)
    bar_w = max(min(slot * 0.7, 48), 4)
    bars = []
    for i, week in enumerate(weeks):
        x = left + i * slot + (slot - bar_w) / 2
        y = height - bottom
        segments = []
        for row in matrix["rows"]:
            n = row["counts"][i]
            if not n:
                continue
            h = plot_h * n / peak if peak else 0
            y -= h
            segments.append(
                {
                    "y": round(y, 1),
                    "h": round(h, 1),
                    "n": n,
                    "key": row["key"],
                    "colour": colours.get(row["key"], "#5b7fa6"),
                }
            )
        bars.append(
            {
                "x": round(x, 1),
                "w": round(bar_w, 1),
                "label": week.strftime("%d %b"),
                "lx": round(x + bar_w / 2, 1),
                "total": matrix["week_totals"][i],
                "ty": round(y - 3, 1),
                "segments": segments,
            }
        )
    ticks = (
        [] if not peak else [{"y": round(height - bottom - plot_h * f, 1), "v": round(peak * f)} for f in (0, 0.5, 1)]
    )
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "ticks": ticks,
        "axis_y": height - bottom,
        "left": left,
        "legend": [(k, colours.get(k, "#5b7fa6")) for k in matrix["keys"]],
    }
