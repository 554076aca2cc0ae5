"""Contract: move the groups of runs past retention into the archive (MATCHDESK_RUN_RETENTION_DAYS); never a group
with a decision, comment or sample. docs/scaling.md, "Partitioning by run"."""

from django.core.management.base import BaseCommand, CommandError

from matches.services.retention import ARCHIVE_BATCH, retention_apply, retention_days


class Command(BaseCommand):
    help = "Archive the undecided groups of runs superseded longer ago than the retention setting (or --days)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Override MATCHDESK_RUN_RETENTION_DAYS.")
        parser.add_argument("--batch", type=int, default=ARCHIVE_BATCH, help="Groups moved per transaction.")

    def handle(self, *args, days=None, batch=ARCHIVE_BATCH, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1 (0 would mean: keep everything, so nothing to do)")
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        if days is None and retention_days() <= 0:
            self.stdout.write("retention is off (MATCHDESK_RUN_RETENTION_DAYS is 0): nothing archived")
            return
        self.stdout.write(retention_apply(days=days, batch=batch).line())
