from django.apps import AppConfig


class MatchesConfig(AppConfig):
    name = "matches"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from matches import signals  # noqa: F401
        from matches.observability import propagation  # noqa: F401  (request ids into Celery tasks)
