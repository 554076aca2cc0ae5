"""Permission decorator and access helpers that views use: roles are enforced on the server."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme

from matches import roles
from matches.models import Domain, MatchGroup

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from django_htmx.middleware import HtmxDetails

    class Request(HttpRequest):
        """What a view behind require_perm receives: a logged-in user, and django-htmx's details."""

        user: User
        htmx: HtmxDetails
else:
    Request = HttpRequest


def require_perm(perm: str) -> Callable:
    """Anonymous users go to login (LoginRequiredMiddleware); logged-in users without `perm` get 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not request.user.is_active or not request.user.has_perm(perm):
                raise PermissionDenied(f"Your role does not allow this ({perm.split('.')[-1]}).")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def get_domain_or_404(request: HttpRequest, name: str) -> Domain:
    """The domain, when the user may see it: a domain outside their access is a 404, as if it did not exist."""
    domain = get_object_or_404(Domain, name=name)
    if not request.user.has_perm(roles.VIEW_QUEUES):
        raise PermissionDenied
    require_domain(request.user, domain.pk)
    return domain


def get_group_or_404(
    request: HttpRequest, pk: int, *, for_decision: bool = False, queryset: QuerySet[MatchGroup] | None = None
) -> MatchGroup:
    # as_read: an open group of a superseded run shows as superseded before its row is rewritten.
    qs = MatchGroup.objects.select_related("run__domain", "claimed_by") if queryset is None else queryset
    group = get_object_or_404(qs, pk=pk).as_read()
    if for_decision and not request.user.has_perm(roles.DECIDE):
        raise PermissionDenied("Your role cannot claim or decide groups.")
    if not request.user.has_perm(roles.VIEW_QUEUES):
        raise PermissionDenied
    require_domain(request.user, group.run.domain_id)
    return group


def return_address(request: HttpRequest, value: str | None) -> str | None:
    """`value` when it is a path of this site ("/..."), else None. A redirect must never be handed a bare word:
    Django's redirect() would take "0" or "home" for a URL name (NoReverseMatch, a server error)."""
    if not value or not value.startswith("/"):
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}, require_https=False):
        return None
    return value


def limited_domain_ids(user: User | AnonymousUser) -> frozenset[int] | None:
    """The ids of the domains `user` is limited to, or None when they see every domain (admins; users without a
    limit). Anonymous users see none. Cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    if hasattr(user, "_matchdesk_domains"):
        cached: frozenset[int] | None = user._matchdesk_domains
        return cached
    from django.core.exceptions import ObjectDoesNotExist

    ids: frozenset[int] | None = None
    if not user.has_perm(roles.ADMINISTER):
        try:
            # Loaded with the user by the session's backend (matches/sso.py, select_related): no query when unlimited.
            access = user.matchdesk_access
        except ObjectDoesNotExist:
            access = None
        if access is not None and not access.all_domains:
            ids = frozenset(access.domains.values_list("pk", flat=True))
    setattr(user, "_matchdesk_domains", ids)  # noqa: B010 (an attribute of the request's user object, not the model)
    return ids


def visible_domains(user: User | AnonymousUser) -> QuerySet[Domain]:
    """The one hook for per-domain access (issue 17, item 2): the domains `user` may see. Every page, count, search,
    export, report, audit filter and API answer goes through this (or limited_domain_ids / require_domain)."""
    ids = limited_domain_ids(user)
    return Domain.objects.all() if ids is None else Domain.objects.filter(pk__in=ids)


def visible_domain_names(user: User | AnonymousUser) -> tuple[str, ...] | None:
    """The names of the domains `user` is limited to (sorted), or None for every domain: the audit filters' form."""
    ids = limited_domain_ids(user)
    if ids is None:
        return None
    return tuple(Domain.objects.filter(pk__in=ids).order_by("name").values_list("name", flat=True))


def can_see_domain(user: User | AnonymousUser, domain_id: int) -> bool:
    ids = limited_domain_ids(user)
    return ids is None or domain_id in ids


def require_domain(user: User | AnonymousUser, domain_id: int) -> None:
    """A 404 for anything of a domain outside the user's access (not a 403: its existence is not told)."""
    if not can_see_domain(user, domain_id):
        raise Http404("No such page.")
