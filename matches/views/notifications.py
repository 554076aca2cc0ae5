"""Notification pages (docs/architecture.md, "Notifications"): each person chooses what they get by email on
/account/notifications/; admins keep the webhook endpoints and read the delivery log on /admin/webhooks/. A webhook's
secret is shown once, on the answer to its creation or rotation, and never rendered again."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from matches import roles
from matches.access import Request, require_perm
from matches.forms.notifications import PreferencesForm, WebhookForm
from matches.models import NotificationDelivery, WebhookEndpoint
from matches.selectors import notifications as reads
from matches.services import notifications
from matches.services.notifications import config

admin_only = require_perm(roles.ADMINISTER)
WEBHOOKS = "matches/admin/webhooks.html"
WEBHOOK = "matches/admin/webhook.html"


@require_http_methods(["GET", "POST"])
def preferences(request: Request) -> HttpResponse:
    if not request.user.is_active:
        return redirect("login")
    kinds = notifications.kinds_for(request.user)
    current = reads.preferences_of(request.user)
    wanted = [kind for kind in kinds if current.get(kind, True)]
    form = PreferencesForm(request.POST if request.method == "POST" else None, kinds=kinds, initial={"email": wanted})
    if request.method == "POST":
        if form.is_valid():
            changed = config.preferences_set(actor=request.user, email=form.choices())
            messages.success(request, "Saved." if changed else "Nothing changed.")
            return redirect("account-notifications")
    context = {"form": form, "kinds": kinds, "email_on": settings.NOTIFY["EMAIL"]}
    return render(request, "matches/account/notifications.html", context, status=400 if form.errors else 200)


def _webhooks_page(request: Request, form: WebhookForm, **extra: object) -> dict[str, object]:
    status = request.GET.get("status", "")
    if status not in NotificationDelivery.Status.values:
        status = ""
    return {
        "form": form,
        "endpoints": reads.endpoints(),
        "deliveries": reads.deliveries(status=status),
        "status": status,
        "statuses": NotificationDelivery.Status.values,
        "email_on": settings.NOTIFY["EMAIL"],
        **extra,
    }


@require_http_methods(["GET", "POST"])
@admin_only
@never_cache  # the answer to a creation holds the secret
def webhooks(request: Request) -> HttpResponse:
    form = WebhookForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            endpoint, secret = config.webhook_create(
                actor=request.user, name=data["name"], url=data["url"], domain=data["domain"], kinds=data["kinds"]
            )
        except config.NotificationRefused as exc:
            form.add_error(None, str(exc))
        else:
            return render(request, WEBHOOK, _webhook_page(endpoint, secret=secret, created=True))
    status = 400 if form.errors else 200
    return render(request, WEBHOOKS, _webhooks_page(request, form), status=status)


def _webhook_page(endpoint: WebhookEndpoint, form: WebhookForm | None = None, **extra: object) -> dict[str, object]:
    if form is None:
        form = WebhookForm(
            initial={
                "name": endpoint.name,
                "url": endpoint.url,
                "domain": endpoint.domain.name if endpoint.domain else None,
                "kinds": endpoint.kinds,
                "enabled": endpoint.enabled,
            }
        )
    return {"endpoint": endpoint, "form": form, "deliveries": reads.deliveries(endpoint=endpoint), **extra}


def _endpoint(pk: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint.objects.select_related("domain"), pk=pk)


@require_http_methods(["GET", "POST"])
@admin_only
def webhook(request: Request, pk: int) -> HttpResponse:
    endpoint = _endpoint(pk)
    form = WebhookForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        data = form.cleaned_data
        try:
            config.webhook_update(actor=request.user, endpoint=endpoint, **data)
        except config.NotificationRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved {data['name']}.")
            return redirect("admin-webhook", pk=endpoint.pk)
    status = 400 if form is not None and form.errors else 200
    return render(request, WEBHOOK, _webhook_page(endpoint, form), status=status)


@require_POST
@admin_only
@never_cache  # the answer holds the new secret
def webhook_rotate(request: Request, pk: int) -> HttpResponse:
    endpoint = _endpoint(pk)
    secret = config.webhook_rotate_secret(actor=request.user, endpoint=endpoint)
    endpoint.refresh_from_db()
    return render(request, WEBHOOK, _webhook_page(endpoint, secret=secret))


@require_POST
@admin_only
def webhook_test(request: Request, pk: int) -> HttpResponse:
    endpoint = _endpoint(pk)
    try:
        delivery = config.webhook_send_test(actor=request.user, endpoint=endpoint)
    except config.NotificationRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Test delivery {delivery.delivery_id} queued; it shows below once sent.")
    return redirect("admin-webhook", pk=endpoint.pk)
