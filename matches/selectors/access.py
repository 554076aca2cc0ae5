"""Reads behind per-domain access and single sign-on (docs/architecture.md, "Single sign-on and domain access")."""

from __future__ import annotations

from matches.models import UserAccess


def with_domain_access(rows: list[dict]) -> list[dict]:
    """The user admin page's rows (selectors.admin.users_with_roles), each with `domains` (None for every domain,
    else the names the user is limited to) and `sso` (the account is linked to the identity provider). One query."""
    access = {a.user_id: a for a in UserAccess.objects.prefetch_related("domains")}
    for row in rows:
        a = access.get(row["user"].pk)
        row["domains"] = sorted(d.name for d in a.domains.all()) if a is not None and not a.all_domains else None
        row["sso"] = bool(a is not None and a.oidc_subject)
    return rows
