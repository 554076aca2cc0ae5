from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from matches.forms.notifications import WebhookForm
from matches.models import WebhookEndpoint
from matches.services.notifications import WEBHOOK_KINDS, config


class Command(BaseCommand):
    help = (
        "Add a webhook endpoint as an admin does on Admin -> Webhooks, or point the endpoint of that name at the URL "
        "again with a new secret. Prints the secret alone on stdout: it is shown once."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--url", required=True, help="the receiver's http(s) address")
        parser.add_argument("--actor", required=True, help="the admin the audit log names (a username)")
        parser.add_argument("--domain", default="", help="only this domain's events (default: every domain)")
        parser.add_argument(
            "--kind", action="append", dest="kinds", choices=WEBHOOK_KINDS, help="an event it hears (default: all)"
        )
        parser.add_argument("--send-test", action="store_true", help="then queue a test delivery to it")

    def handle(
        self, *args, name: str, url: str, actor: str, domain: str, kinds: list[str] | None, send_test: bool, **options
    ) -> None:
        admin = get_user_model().objects.filter(username=actor, is_active=True).first()
        if admin is None:
            raise CommandError(f"No active user named {actor!r}.")
        form = WebhookForm(
            data={"name": name, "url": url, "domain": domain, "kinds": kinds or list(WEBHOOK_KINDS), "enabled": "on"}
        )
        if not form.is_valid():
            raise CommandError("; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items()))
        values = {key: form.cleaned_data[key] for key in ("name", "url", "domain", "kinds")}
        existing = WebhookEndpoint.objects.filter(name=values["name"]).order_by("pk").first()
        try:
            if existing is None:
                endpoint, secret = config.webhook_create(actor=admin, **values)
            else:
                endpoint = config.webhook_update(actor=admin, endpoint=existing, enabled=True, **values)
                secret = config.webhook_rotate_secret(actor=admin, endpoint=endpoint)
            if send_test:
                config.webhook_send_test(actor=admin, endpoint=endpoint)
        except config.NotificationRefused as exc:
            raise CommandError(str(exc)) from exc
        scope = f"domain {endpoint.domain.name}" if endpoint.domain else "every domain"
        test = "; a test delivery queued" if send_test else ""
        self.stderr.write(
            f"{'updated' if existing else 'created'} webhook {endpoint.name} -> {endpoint.url} ({scope}; "
            f"{', '.join(endpoint.kinds)}){test}. Its secret, on stdout, is shown once."
        )
        self.stdout.write(secret)
