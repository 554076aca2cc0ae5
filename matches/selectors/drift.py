"""Drift between weekly runs, for the domain page (docs/architecture.md, "Drift"): the stored figures of the
domain's latest runs and a chart of them (groups that persisted and appeared above the axis, vanished below)."""

from __future__ import annotations

from typing import Any

from matches.models import Domain, RunDrift

CHART_RUNS = 12
WIDTH, HEIGHT = 640, 170
PLOT = {"x": 48, "y": 10, "w": WIDTH - 60, "h": HEIGHT - 40}


def domain_drifts(domain: Domain, limit: int = CHART_RUNS) -> list[RunDrift]:
    """The domain's latest drifts, oldest first (the chart reads left to right)."""
    rows = list(RunDrift.objects.filter(run__domain=domain).select_related("run").order_by("-run_id")[:limit])
    return rows[::-1]


def drift_chart(drifts: list[RunDrift]) -> dict[str, Any]:
    """Bars per run: persisted (dark) and appeared (light) stacked above the axis, vanished below it."""
    plot = dict(PLOT, bottom=PLOT["y"] + PLOT["h"], right=PLOT["x"] + PLOT["w"])
    top = max([d.persisted + d.appeared for d in drifts] + [1])
    low = max([d.vanished for d in drifts] + [0])
    span = top + low
    scale = plot["h"] / span
    axis = plot["y"] + top * scale
    slot = plot["w"] / max(len(drifts), 1)
    width = max(4.0, slot * 0.6)
    bars = []
    for i, d in enumerate(drifts):
        x = plot["x"] + i * slot + (slot - width) / 2
        persisted_h, appeared_h, vanished_h = d.persisted * scale, d.appeared * scale, d.vanished * scale
        bars.append(
            {
                "drift": d,
                "x": round(x, 1),
                "w": round(width, 1),
                "cx": round(x + width / 2, 1),
                "persisted": {"y": round(axis - persisted_h, 1), "h": round(persisted_h, 1)},
                "appeared": {"y": round(axis - persisted_h - appeared_h, 1), "h": round(appeared_h, 1)},
                "vanished": {"y": round(axis, 1), "h": round(vanished_h, 1)},
                "title": (
                    f"Run {d.run_id}: {d.persisted:,} persisted, {d.appeared:,} appeared, {d.vanished:,} vanished"
                    + (f"; scores moved {d.mean_delta:+.3f} on average" if d.mean_delta is not None else "")
                    + (f"; {len(d.flags)} flag{'s' if len(d.flags) != 1 else ''}" if d.flags else "")
                ),
            }
        )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": plot,
        "axis": round(axis, 1),
        "bars": bars,
        "top_label": f"{top:,}",
        "low_label": f"−{low:,}" if low else "",
        "label_y": plot["bottom"] + 14,
    }
