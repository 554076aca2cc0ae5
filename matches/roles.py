"""Roles are Django groups; what each may do is a permission on Domain (created by a data migration)."""

STEWARD = "Steward"
ADMIN = "Admin"
AUDITOR = "Auditor"
ROLES = (STEWARD, ADMIN, AUDITOR)

VIEW_QUEUES = "matches.view_queues"
DECIDE = "matches.decide_groups"
ADMINISTER = "matches.administer"
VIEW_AUDIT = "matches.view_audit"

ROLE_PERMISSIONS = {
    STEWARD: ["view_queues", "decide_groups"],
    ADMIN: ["view_queues", "decide_groups", "administer", "view_audit"],
    AUDITOR: ["view_queues", "view_audit"],
}


def role_names(user) -> list[str]:
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_matchdesk_roles", None)
    if cached is None:
        cached = sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._matchdesk_roles = cached
    return cached
