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


def ensure_role_groups(using: str = "default") -> None:
    """Create the role groups with exactly their permissions (after every migrate, and after a flush, which drops
    the groups the data migration made)."""
    from django.contrib.auth.models import Group, Permission

    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set(
            Permission.objects.using(using).filter(content_type__app_label="matches", codename__in=codenames)
        )
