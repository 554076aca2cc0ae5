"""Per-domain access and the OpenID Connect link of an account; re-exported by matches/models.py.
docs/architecture.md, "Single sign-on and domain access"."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from matches.models import Domain


class UserAccess(models.Model):
    """What a user may see beyond their roles (docs/architecture.md, "Single sign-on and domain access"): the domains
    a steward or auditor is limited to, and the OpenID Connect subject the account is linked to. No row, or
    `all_domains`, means every domain; admins always see every domain."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="matchdesk_access")
    all_domains = models.BooleanField(default=True)
    domains = models.ManyToManyField(Domain, blank=True, related_name="+")
    # The `sub` claim of the identity provider (with its issuer): SSO finds the account by it, never by name or email.
    oidc_issuer = models.CharField(max_length=255, blank=True)
    oidc_subject = models.CharField(max_length=255, blank=True)
    # Where the roles and domains came from at the last change: "admin" (the user admin page) or "sso" (a login).
    source = models.CharField(max_length=8, default="admin")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["oidc_issuer", "oidc_subject"], condition=~Q(oidc_subject=""), name="useraccess_oidc_subject"
            )
        ]

    def __str__(self) -> str:
        return f"access of user {self.user_id}"
