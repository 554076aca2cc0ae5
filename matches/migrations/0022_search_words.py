# The queue search by words (docs/scaling.md, "Search by name"): a GIN index on the words of search_text, emails and
# dotted or hyphenated parts split (matches/words.py, the one expression the index and the query both compile).

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.functions.comparison
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matches", "0021_perf_linked_groups_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="matchgroup",
            index=django.contrib.postgres.indexes.GinIndex(
                models.Func(
                    models.Value("simple"),
                    models.Func(
                        django.db.models.functions.comparison.Coalesce(models.F("search_text"), models.Value("")),
                        models.Value("@._-+/"),
                        models.Value("      "),
                        function="translate",
                    ),
                    function="to_tsvector",
                    output_field=django.contrib.postgres.search.SearchVectorField(),
                ),
                name="group_search_words",
            ),
        ),
    ]
