"""A requested pull is durable (Domain.pull_requested_at), and the 30-second hand-off sweep as a django-celery-beat
PeriodicTask: it queues again the pending bulk jobs and requested pulls whose message no worker received."""

from django.db import migrations, models

SWEEP_NAME = "matchdesk: start lost hand-offs"
SWEEP_TASK = "matches.tasks.sweep_handoffs_task"


def add_sweep(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=SWEEP_NAME,
        defaults={
            "task": SWEEP_TASK,
            "interval": every,
            "enabled": True,
            "description": "Queue again pending bulk jobs and requested pulls that no worker started.",
        },
    )


def remove_sweep(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("matches", "0004_admin_qa_bulk_heartbeat"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="domain",
            name="pull_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(add_sweep, remove_sweep),
    ]
