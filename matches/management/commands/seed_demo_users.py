import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from matches import roles
from matches.services.audit import audit_log

DEMO_USERS = [
    ("steward", roles.STEWARD),
    ("steward2", roles.STEWARD),
    ("admin", roles.ADMIN),
    ("auditor", roles.AUDITOR),
]


class Command(BaseCommand):
    help = "Create (or reset) the demo users, one per role, with fresh random passwords, and print the logins."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        lines = []
        with transaction.atomic():
            for username, role in DEMO_USERS:
                password = secrets.token_urlsafe(9)
                user, created = User.objects.get_or_create(username=username)
                user.set_password(password)
                user.is_active = True
                user.email = user.email or f"{username}@matchdesk.local"  # the demo's mailbox receives their mail
                user.save()
                user.groups.set(Group.objects.filter(name=role))
                audit_log(
                    action="user.demo_seeded",
                    object_type="user",
                    object_id=user.pk,
                    details={"username": username, "roles": [role], "created": created},
                )
                lines.append(f"  {username:<10} {password:<16} {role}")
        self.stdout.write("Demo logins (username, password, role):\n" + "\n".join(lines))
