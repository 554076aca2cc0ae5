from django.core.management.base import BaseCommand, CommandError

from matches.services.audit import verify_chain


class Command(BaseCommand):
    help = "Walk the audit hash chain; exit 0 only when it is intact, otherwise name the first bad event."

    def handle(self, *args, **options) -> None:
        checked, problem = verify_chain()
        if problem:
            raise CommandError(
                f"audit chain broken at event #{problem.seq}: {problem.reason} ({checked} verified before it)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} events verified"))
