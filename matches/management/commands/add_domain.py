from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from matches.services.domains import domain_save


class Command(BaseCommand):
    help = "Create or update a Customer Profiles domain."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--region")
        parser.add_argument("--endpoint-url")
        parser.add_argument("--role-arn")
        parser.add_argument("--undo-window", type=int, dest="undo_window_seconds")
        parser.add_argument("--merge-rate", type=int, dest="merge_rate_per_second")
        parser.add_argument("--results-source", choices=["get_matches", "s3"], help="where pulls read results")

    def handle(self, *args, name: str, **options) -> None:
        values = {
            key: options[key]
            for key in (
                "region",
                "endpoint_url",
                "role_arn",
                "undo_window_seconds",
                "merge_rate_per_second",
                "results_source",
            )
            if options.get(key) is not None
        }
        try:
            domain, created = domain_save(actor=None, name=name, **values)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(f"{'created' if created else 'updated'} domain {domain.name} ({domain.region})")
