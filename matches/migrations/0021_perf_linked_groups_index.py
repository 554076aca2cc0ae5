# The threshold estimates read a run's carried-over groups with their linked decisions (estimates.run_labels): without
# this partial index that read walked every group of the run (227 ms at 1,000,000 groups); with it, only the few
# groups that carry a decision.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matches", "0020_loop_overdue_notices"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="matchgroup",
            index=models.Index(
                condition=models.Q(("linked_decision__isnull", False)), fields=["run"], name="group_linked"
            ),
        ),
    ]
