"""Merge execution: chunk plan, in-flight chunk and claim token on MergeJob; the 10-second sweep of due merges as a
django-celery-beat PeriodicTask (in the database, so admins see it and beat needs no code change)."""

from django.db import migrations, models

SWEEP_NAME = "matchdesk: run due merges"
SWEEP_TASK = "matches.tasks.run_due_merges_task"


def add_sweep(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=SWEEP_NAME,
        defaults={
            "task": SWEEP_TASK,
            "interval": every,
            "enabled": True,
            "description": "Execute merge jobs whose undo window has ended (and resume jobs of dead workers).",
        },
    )


def remove_sweep(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("matches", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="mergejob",
            name="inflight_chunk",
            field=models.SmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="mergejob",
            name="plan",
            field=models.JSONField(blank=True, default=list, help_text="Chunks of profile ids to merge, in call order"),
        ),
        migrations.AddField(
            model_name="mergejob",
            name="worker",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.RunPython(add_sweep, remove_sweep),
    ]
