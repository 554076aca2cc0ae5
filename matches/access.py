"""Permission decorator and access helpers that views use: roles are enforced on the server."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
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
    domain = get_object_or_404(Domain, name=name)
    if not request.user.has_perm(roles.VIEW_QUEUES):
        raise PermissionDenied
    return domain


def get_group_or_404(request: HttpRequest, pk: int, *, for_decision: bool = False) -> MatchGroup:
    # as_read: an open group of a superseded run shows as superseded before its row is rewritten.
    group = get_object_or_404(MatchGroup.objects.select_related("run__domain", "claimed_by"), pk=pk).as_read()
    if for_decision and not request.user.has_perm(roles.DECIDE):
        raise PermissionDenied("Your role cannot claim or decide groups.")
    if not request.user.has_perm(roles.VIEW_QUEUES):
        raise PermissionDenied
    return group


def return_address(request: HttpRequest, value: str | None) -> str | None:
    """`value` when it is a path of this site ("/..."), else None. A redirect must never be handed a bare word:
    Django's redirect() would take "0" or "home" for a URL name (NoReverseMatch, a server error)."""
    if not value or not value.startswith("/"):
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}, require_https=False):
        return None
    return value


def visible_domains(user: User | AnonymousUser) -> QuerySet[Domain]:
    """The one hook for per-domain access (issue 17, item 2): the domains `user` may see. Every domain for now;
    the API filters everything it answers through this, so narrowing it here narrows the API."""
    return Domain.objects.all()
