"""`{% group_timeline group %}`: the group's history (this run and the same profile set in earlier runs)."""

from django import template

from matches import audit_display
from matches.selectors.timelines import group_timeline as build_group_timeline

register = template.Library()


@register.inclusion_tag("matches/audit/_group_timeline.html", takes_context=True)
def group_timeline(context, group):
    timeline = build_group_timeline(group)
    audit_display.decorate([e.event for e in timeline.entries if e.event is not None])
    for g in timeline.groups + timeline.later_groups:
        g.page_url = audit_display.group_url(g.pk)
    return {"timeline": timeline, "group": group, "can_view_audit": context.get("can_view_audit", False)}


@register.filter
def group_link(pk):
    return audit_display.group_url(pk)


@register.simple_tag
def profile_link(domain, profile_id):
    return audit_display.profile_url(domain, profile_id)
