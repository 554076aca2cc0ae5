import sys

from django.core.management.base import BaseCommand, CommandError

from matches.models import Domain
from matches.services.pulls import PullError, PullProgress, pull_domain


class Command(BaseCommand):
    help = "Pull a domain's latest GetMatches results in the foreground (resumes an interrupted pull)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="Customer Profiles domain name, as added with add_domain")

    def handle(self, *args, name: str, **options) -> None:
        domain = Domain.objects.filter(name=name).first()
        if domain is None:
            raise CommandError(f"No domain named {name!r}: add it with `manage.py add_domain {name}` first.")
        try:
            result = pull_domain(domain=domain, progress=self._progress)
        except PullError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write("")
        self.stdout.write(result.message)

    def _progress(self, p: PullProgress) -> None:
        total = f"/{p.potential_matches}" if p.potential_matches is not None else ""
        line = (
            f"run {p.run_id}: {p.pages} pages, {p.groups_seen}{total} groups received, {p.groups_stored} stored, "
            f"{p.quarantined} quarantined" + (f", {p.restarts} restarts" if p.restarts else "")
        )
        if sys.stderr.isatty():
            self.stderr.write(f"\r{line}", ending="")
        else:
            self.stderr.write(line)
        self.stderr.flush()
