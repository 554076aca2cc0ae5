"""Contract: execute due merge jobs in the foreground; exit non-zero if any job failed."""

from django.core.management.base import BaseCommand, CommandError

from matches.services.merges import default_worker_id, merge_jobs_run_due


class Command(BaseCommand):
    help = "Execute due merge jobs in the foreground (the same service the Celery sweep runs)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="Stop after this many jobs.")
        parser.add_argument("--worker-id", default="", help="Name of this worker in the jobs' records.")

    def handle(self, *args, limit=None, worker_id="", **options):
        summary = merge_jobs_run_due(limit=limit, worker_id=worker_id or f"cli:{default_worker_id()}")
        self.stderr.write(f"merge jobs: {summary.line()}")
        if summary.failed:
            raise CommandError(f"{len(summary.failed)} merge job(s) failed: {', '.join(map(str, summary.failed))}")
