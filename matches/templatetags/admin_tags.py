import json

from django import template

register = template.Library()


@register.filter
def pretty_json(value) -> str:
    """JSON as received, indented; a plain string, so the template escapes it like any customer data."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def duration(start, end=None) -> str:
    """'3 s', '4 m 12 s', '2 h 05 m' from start to end (or now)."""
    from django.utils import timezone

    if start is None:
        return "—"
    seconds = max(0, int(((end or timezone.now()) - start).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} m {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} m"


@register.filter
def per_second(count, start) -> str:
    """Throughput since `start`, e.g. '152/s'."""
    from django.utils import timezone

    if not count or start is None:
        return ""
    elapsed = (timezone.now() - start).total_seconds()
    return f"{count / elapsed:,.0f}/s" if elapsed >= 1 else ""


@register.simple_tag
def histogram_bars(chart: dict):
    """The chart's bars as SVG (numbers only, built with format_html: hundreds of bars render fast)."""
    from django.utils.html import format_html_join

    def bar(bar: dict) -> tuple:
        rects = format_html_join(
            "",
            '<rect class="bar-{}" x="{}" y="{}" width="{}" height="{}"/>',
            ((s["queue"], bar["x"], s["y"], bar["w"], s["h"]) for s in bar["segments"]),
        )
        return bar["title"], rects

    return format_html_join("", '<g class="bar"><title>{}</title>{}</g>', (bar(b) for b in chart["bars"]))


@register.filter
def pct(value) -> str:
    """A share as a percentage with one decimal (0.004 -> 0.4%)."""
    try:
        return f"{float(value) * 100:.1f}%"
    except (TypeError, ValueError):
        return ""


@register.filter
def pctg(value) -> str:
    """A target as a short percentage (0.005 -> 0.5%, 0.05 -> 5%)."""
    try:
        return f"{float(value) * 100:g}%"
    except (TypeError, ValueError):
        return ""


@register.filter
def milli(value) -> str:
    """A line in thousandths as a score (620 -> 0.620)."""
    try:
        return f"{int(value) / 1000:.3f}"
    except (TypeError, ValueError):
        return ""
