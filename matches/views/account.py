"""Personal API tokens (docs/architecture.md, "API"): a user makes and revokes their own on /account/tokens/; an admin
sees and revokes anyone's on /admin/users/<pk>/tokens/. The secret is shown once, on the answer to its creation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from matches import roles
from matches.access import Request, require_perm
from matches.models import ApiToken
from matches.services import api_tokens

TEMPLATE = "matches/account/tokens.html"


def _tokens_of(user: User) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).select_related("revoked_by").order_by("-created_at", "-pk"))


@require_http_methods(["GET", "POST"])
@never_cache  # the answer to a creation holds the secret
def tokens(request: Request) -> HttpResponse:
    if not request.user.is_active:
        return redirect("login")
    context: dict[str, object] = {"owner": request.user, "own": True, "error": "", "name": ""}
    status = 200
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            token, secret = api_tokens.token_create(actor=request.user, name=name)
        except api_tokens.TokenRefused as exc:
            context.update(error=str(exc), name=name)
            status = 400
        else:
            context.update(created=token, secret=secret)
    context["tokens"] = _tokens_of(request.user)
    return render(request, TEMPLATE, context, status=status)


@require_POST
def token_revoke(request: Request, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    own = token.user_id == request.user.pk
    if not own and not request.user.has_perm(roles.ADMINISTER):
        return HttpResponse("Not your token.", status=404)
    try:
        api_tokens.token_revoke(actor=request.user, token=token)
    except api_tokens.TokenRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked {token.prefix}… ({token.name}).")
    return redirect("account-tokens" if own else "admin-user-tokens", *([] if own else [token.user_id]))


@require_GET
@require_perm(roles.ADMINISTER)
def user_tokens(request: Request, pk: int) -> HttpResponse:
    owner = get_object_or_404(User, pk=pk)
    return render(request, TEMPLATE, {"owner": owner, "own": owner.pk == request.user.pk, "tokens": _tokens_of(owner)})
